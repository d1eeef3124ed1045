"""The fast single-text scoring path gives scikit-learn's numbers, and steps aside when it cannot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from knowledge_base.articles import load_directory
from knowledge_base.retrieval import ArticleIndex, indexed
from nlu.classifier import LR_WEIGHT, OTHER_LEGAL_FACTOR, EmbeddedClassifier, compile_model, prepare, train
from nlu.fastpath import Linear, ScikitLinear, compile_linear, softmax
from nlu.features import tokens
from nlu.training_data import load_jsonl, load_training_examples
from tests.conftest import ROOT

HELDOUT = ROOT / "nlu" / "eval" / "heldout.jsonl"


def _texts() -> list[str]:
    texts = [e.text for e in load_jsonl(HELDOUT)][:300]
    return [*texts, "😀", "a", "我" * 300, "老板 老板 老板 欠钱", "zzz"]


def test_compiled_classifier_gives_scikit_learns_probabilities():  # type: ignore[no-untyped-def]
    trained = train(load_training_examples()[::4])  # a quarter of the data: the same model, faster
    classifier = EmbeddedClassifier(compile_model(trained))
    assert isinstance(classifier.linear, Linear) and isinstance(classifier.bayes, Linear)
    assert classifier.bayes.rows is classifier.linear.rows  # one feature row per message, not two
    for text in _texts():
        clean = prepare(text)
        if not clean:
            continue
        x = trained.features([clean])
        expected_lr = trained.model.predict_proba(x)[0]
        assert np.allclose(softmax(classifier.linear.decision(clean)), expected_lr, rtol=1e-9, atol=1e-12), text
        expected_nb = trained.nb.predict_proba(x)[0]
        assert np.allclose(softmax(classifier.bayes.decision(clean)), expected_nb, rtol=1e-9, atol=1e-12), text
        # the blend, through the one feature row both models share, with the catch-all scaled down
        blend = LR_WEIGHT * expected_lr + (1 - LR_WEIGHT) * expected_nb
        blend *= np.where(trained.model.classes_ == "other_legal", OTHER_LEGAL_FACTOR, 1.0)
        assert np.allclose(classifier.probabilities(clean), blend / blend.sum(), rtol=1e-9, atol=1e-12), text


def test_the_serving_process_never_imports_scikit_learn(real_classifier, tmp_path):  # type: ignore[no-untyped-def]
    """Loading the cached intent model and the cached paraphrase model must not need scikit-learn
    (it costs a serving process about 80 MB): checked in a fresh interpreter."""
    import subprocess
    import sys

    from knowledge_base.retrieval import ParaphraseCache
    from tests.conftest import NLU_CACHE

    articles = [indexed(a) for a in load_directory()[0]]
    ParaphraseCache(tmp_path).get(articles)  # fitted and cached here
    script = f"""
import sys
from pathlib import Path
from core.config import Settings
from knowledge_base.articles import load_directory
from knowledge_base.retrieval import ArticleIndex, ParaphraseCache, indexed
from nlu.factory import build_classifier
classifier = build_classifier(Settings(env="test", nlu_model_dir=Path({str(NLU_CACHE)!r}), _env_file=None))
articles = [indexed(a) for a in load_directory()[0]]
index = ArticleIndex(articles, paraphrase=ParaphraseCache(Path({str(tmp_path)!r})).get(articles))
intent = classifier.parse("老板欠我三个月工钱").intent
hit = index.search("老板不给工钱怎么办", intent=intent)[0]
from knowledge_base.gaps import GapItem, cluster  # the console's 知识库缺口 runs in the same process
asked = ["老板不给工钱", "老板不给工钱怎么办", "包工头欠工钱", "离婚孩子归谁"]
clusters = cluster([GapItem(text=q, source="ticket", intent=None) for q in asked])
print(intent, hit.intent, len(clusters) < len(asked), "sklearn" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["labor", "labor", "True", "False"], out.stderr


def test_retrieval_paraphrase_scores_equal_scikit_learns():  # type: ignore[no-untyped-def]
    articles, _ = load_directory()
    docs = [view for a in articles[:40] for view in (a.title, *a.questions)]
    owners = [i for i, a in enumerate(articles[:40]) for _ in (a.title, *a.questions)]
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    svm = LinearSVC(C=0.5).fit(vectorizer.fit_transform(docs), owners)
    linear = compile_linear(svm, [vectorizer], check_texts=docs[:3])
    assert isinstance(linear, Linear)
    for text in _texts():
        expected = svm.decision_function(vectorizer.transform([text]))[0]
        assert np.allclose(linear.decision(text), expected, rtol=1e-9, atol=1e-12), text
    index = ArticleIndex([indexed(a) for a in articles])  # the index built the same way answers as before
    hits = index.search("老板不给工钱怎么办", intent="labor")
    assert hits and hits[0].intent == "labor"


def test_a_paraphrase_model_fitted_in_a_child_process_is_cached_and_scores_the_same(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from knowledge_base import retrieval

    articles = [indexed(a) for a in load_directory()[0][:30]]
    from_child = retrieval.ParaphraseCache(tmp_path, in_child=True).get(articles)
    here = retrieval.fit_paraphrase(articles)
    for text in ["老板不给工钱怎么办", "离婚孩子归谁", "😀"]:
        assert np.allclose(from_child(text), here(text), atol=1e-6), text
    assert len(list(tmp_path.glob("paraphrase-*.pkl"))) == 1

    def no_fitting(*_args):  # type: ignore[no-untyped-def]
        raise AssertionError("fitted again although cached")

    monkeypatch.setattr(retrieval, "call_in_child", no_fitting)
    cached = retrieval.ParaphraseCache(tmp_path, in_child=True).get(articles)
    assert np.allclose(cached("草场被占了"), here("草场被占了"), atol=1e-6)
    changed = [*articles[:-1], retrieval.IndexedArticle("new", "新文章", "land", ("宅基地被占",), "答")]
    with pytest.raises(AssertionError, match="fitted again"):  # other articles: another model
        retrieval.ParaphraseCache(tmp_path, in_child=True).get(changed)


def test_a_disagreeing_model_falls_back_to_scikit_learn():  # type: ignore[no-untyped-def]
    docs = ["老板欠工钱 工钱 工钱", "离婚孩子归谁", "草场被占", "借钱不还"]
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    model = LogisticRegression().fit(vectorizer.fit_transform(docs), [0, 1, 2, 3])

    def shifted(x):  # type: ignore[no-untyped-def]  # a future scikit-learn computing differently
        return model.decision_function(x) + 0.5

    linear = compile_linear(model, [vectorizer], check_texts=docs, decide=shifted)
    assert isinstance(linear, ScikitLinear)
    expected = shifted(vectorizer.transform(["老板欠工钱 工钱 工钱"]))[0]
    assert np.allclose(linear.decision("老板欠工钱 工钱 工钱"), expected)


@pytest.mark.parametrize("classes", [2])
def test_binary_models_use_scikit_learn(classes):  # type: ignore[no-untyped-def]
    vectorizer = TfidfVectorizer(analyzer=tokens)
    model = LinearSVC().fit(vectorizer.fit_transform(["老板欠工钱", "离婚"]), list(range(classes)))
    assert isinstance(compile_linear(model, [vectorizer], check_texts=["老板"]), ScikitLinear)


def test_fitting_falls_back_to_this_process_when_no_child_can_run(monkeypatch):  # type: ignore[no-untyped-def]
    from concurrent.futures.process import BrokenProcessPool

    from nlu import offload

    class Broken:
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise BrokenProcessPool("the child re-ran a script without a __main__ guard")

    monkeypatch.setattr(offload, "ProcessPoolExecutor", Broken)
    assert offload.call_in_child(sorted, [3, 1, 2]) == [1, 2, 3]


def test_knowledge_gap_clusters_are_scikit_learns_agglomerative_clusters():  # type: ignore[no-untyped-def]
    """gaps clusters with scipy (the console runs in the serving process); the partition must be
    the one scikit-learn's average-linkage clustering over its TF-IDF gives."""
    from sklearn.cluster import AgglomerativeClustering

    from knowledge_base import gaps
    from nlu.normalize import normalize

    articles, _ = load_directory()
    by_text = {normalize(q).strip(): a.intent for a in articles for q in a.questions}
    keys = sorted(by_text)[:300]
    vectors = TfidfVectorizer(analyzer=gaps._analyzer, sublinear_tf=True).fit_transform(keys)
    distance = np.clip(1.0 - (vectors @ vectors.T).toarray(), 0.0, None)

    def partition(labels):  # type: ignore[no-untyped-def]
        groups: dict[int, set[str]] = {}
        for key, label in zip(keys, labels, strict=True):
            groups.setdefault(int(label), set()).add(key)
        return sorted(sorted(g) for g in groups.values())

    for similarity in (0.08, 0.12, 0.3):
        expected = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - similarity
        ).fit_predict(distance)
        ours = gaps._labels(keys, [None] * len(keys), similarity)
        assert partition(ours) == partition(expected), similarity
        assert 1 < len(set(ours)) < len(keys)  # a real grouping, not all-or-nothing


def test_serve_fits_the_models_in_a_child_so_workers_only_load_them(seeded, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """`villagelaw serve` with several workers: one short-lived child brings both caches up to date
    for the live knowledge base; a worker built afterwards never fits (nor spawns a fitter)."""
    from admin.app import fit_models_in_child, warm_up
    from admin.container import build
    from knowledge_base import retrieval
    from nlu import classifier

    settings = seeded.settings.model_copy(update={"nlu_model_dir": tmp_path, "fit_models_in_child": True})
    fit_models_in_child(settings)
    assert len(list(tmp_path.glob("intent-*.pkl"))) == 1 and len(list(tmp_path.glob("paraphrase-*.pkl"))) == 1

    def no_fitting(*_args):  # type: ignore[no-untyped-def]
        raise AssertionError("a worker fitted a model")

    monkeypatch.setattr(classifier, "call_in_child", no_fitting)
    monkeypatch.setattr(retrieval, "call_in_child", no_fitting)
    worker = build(settings)
    warm_up(worker)
    hits = worker.retriever.search("老板欠工钱不给怎么办", intent="labor")
    assert hits and hits[0].intent == "labor"
    assert worker.services.classifier.parse("老板欠我三个月工钱").intent == "labor"
    worker.engine.dispose()
