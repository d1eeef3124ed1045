"""The embedded classifier: normalisation, routing of the held-out file, retraining on KB changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.ports import IntentResult, IntentScore
from nlu.evaluation import score
from nlu.factory import RetrainingClassifier
from nlu.normalize import is_meaningless, normalize, strip_salutation
from nlu.training_data import Example, load_jsonl

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("離婚後孩子撫養費", "离婚后孩子抚养费"),
        ("ＡＢＣ１２３！！！", "abc123!"),
        ("老板  欠钱😀😀不给", "老板 欠钱 不给"),
    ],
)
def test_normalize(raw, expected):  # type: ignore[no-untyped-def]
    assert normalize(raw) == expected


def test_salutation_is_stripped_only_before_a_real_question():  # type: ignore[no-untyped-def]
    assert strip_salutation("律师你好,我想咨询一下,老板欠钱三个月不给") == "老板欠钱三个月不给"
    assert strip_salutation("律师您好") == "律师您好"
    assert is_meaningless("👍👍 ！！") and not is_meaningless("好")


def test_an_emergency_below_the_top_still_counts_when_it_clears_the_bar():  # type: ignore[no-untyped-def]
    ranked = IntentResult("criminal", 0.6, (IntentScore("criminal", 0.6), IntentScore("emergency", 0.3)))
    assert ranked.may_be_emergency(0.2)
    assert not ranked.may_be_emergency(0.35)
    weak_top = IntentResult("emergency", 0.15, (IntentScore("emergency", 0.15), IntentScore("tort", 0.1)))
    assert not weak_top.may_be_emergency(0.2)
    # a backend that gives no ranking (Rasa's fallback) still counts its top intent
    assert IntentResult("emergency", 0.5).may_be_emergency(0.2)


def test_held_out_villager_file_scores_and_every_emergency_is_caught(real_classifier):  # type: ignore[no-untyped-def]
    data = load_jsonl(ROOT / "nlu" / "eval" / "heldout.jsonl")
    report = score([e.label for e in data], [real_classifier.parse(e.text).intent for e in data])
    assert report.macro_f1 >= 0.90, report.as_text()
    bar = Settings(_env_file=None).emergency_min_confidence  # type: ignore[call-arg]
    for e in data:
        if e.label == "emergency":
            assert real_classifier.parse(e.text).may_be_emergency(bar), e.text


def test_retrains_in_the_background_when_the_knowledge_base_changes(tmp_path):  # type: ignore[no-untyped-def]
    state = {"stamp": 1, "extra": [Example("你好", "greet")]}
    now = [0.0]
    classifier = RetrainingClassifier(
        settings=Settings(env="test", nlu_model_dir=tmp_path, _env_file=None),  # type: ignore[call-arg]
        stamp=lambda: state["stamp"],
        examples=lambda: list(state["extra"]),
        check_seconds=5,
        clock=lambda: now[0],
    )
    word = "乌兰察布羊绒被窃案咨询"
    before = classifier.current
    state["stamp"] = 2
    state["extra"] = [Example(f"{word}{i}", "criminal") for i in range(40)]
    classifier.parse(word)  # too soon: no check yet
    assert classifier.current is before
    now[0] = 10
    classifier.parse(word)
    classifier.wait()
    assert classifier.current is not before
    assert classifier.parse(word).intent == "criminal"
    assert len(list(tmp_path.glob("intent-*.pkl"))) == 1  # the old cache is replaced, not piled up


def test_statutes_teach_at_a_small_weight_and_add_no_features():  # type: ignore[no-untyped-def]
    """Weak examples (the vendored statutes) add evidence for words the written examples know, but
    neither new features nor a new fingerprint for an unchanged model of full-weight examples."""
    from nlu.classifier import STATUTE_WEIGHT, EmbeddedClassifier, compile_model, prepare, train, training_examples
    from nlu.training_data import fingerprint, load_statutes, load_training_examples

    statutes = load_statutes(weight=STATUTE_WEIGHT)
    assert len(statutes) > 2000 and {e.weight for e in statutes} == {STATUTE_WEIGHT}
    assert {e.label for e in statutes} >= {"labor", "land", "marriage_family", "debt_contract", "tort", "criminal"}
    assert set(statutes) <= set(training_examples())  # a fresh clone trains on them

    written = load_training_examples()[::8]
    weak_text = "用人单位拖欠劳动报酬 劳动者可以向劳动争议仲裁委员会申请仲裁 xyzzy"
    weak = [Example(weak_text, "labor", STATUTE_WEIGHT)] * 20
    plain, taught = train(written), train(written + weak)
    assert plain.word_vectorizer.vocabulary_ == taught.word_vectorizer.vocabulary_
    assert plain.char_vectorizer.vocabulary_ == taught.char_vectorizer.vocabulary_
    assert not any("xyzzy" in term for term in taught.word_vectorizer.vocabulary_)

    def labor(model):  # type: ignore[no-untyped-def]
        classifier = EmbeddedClassifier(compile_model(model))
        return classifier.probabilities(prepare(weak_text))[list(classifier.labels).index("labor")]

    strong = train(written + [Example(weak_text, "labor")] * 20)
    assert labor(plain) < labor(taught) < labor(strong)
    assert fingerprint([Example(weak_text, "labor")]) != fingerprint([Example(weak_text, "labor", 0.1)])
