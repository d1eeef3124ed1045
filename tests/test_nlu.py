"""The embedded classifier: normalisation, routing of the held-out file, retraining on KB changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
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


def test_held_out_villager_file_scores_and_every_emergency_is_caught(real_classifier):  # type: ignore[no-untyped-def]
    data = load_jsonl(ROOT / "nlu" / "eval" / "heldout.jsonl")
    report = score([e.label for e in data], [real_classifier.parse(e.text).intent for e in data])
    assert report.macro_f1 >= 0.90, report.as_text()
    bar = Settings(_env_file=None).emergency_min_confidence  # type: ignore[call-arg]
    for e in data:
        if e.label == "emergency":
            ranking = real_classifier.parse(e.text).ranking
            assert any(s.intent == "emergency" and s.confidence >= bar for s in ranking), e.text


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
