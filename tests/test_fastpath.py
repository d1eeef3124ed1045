"""The fast single-text scoring path gives scikit-learn's numbers, and steps aside when it cannot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from knowledge_base.articles import load_directory
from knowledge_base.retrieval import ArticleIndex, indexed
from nlu.classifier import prepare
from nlu.fastpath import Linear, TfidfRow, softmax
from nlu.features import tokens
from nlu.training_data import load_jsonl
from tests.conftest import ROOT

HELDOUT = ROOT / "nlu" / "eval" / "heldout.jsonl"


def _texts() -> list[str]:
    texts = [e.text for e in load_jsonl(HELDOUT)][:300]
    return [*texts, "😀", "a", "我" * 300, "老板 老板 老板 欠钱", "zzz"]


def test_classifier_probabilities_equal_scikit_learns(real_classifier):  # type: ignore[no-untyped-def]
    model = getattr(real_classifier, "current", real_classifier)  # the embedded model
    assert model.linear.fast
    for text in _texts():
        clean = prepare(text)
        if not clean:
            continue
        expected = model.trained.model.predict_proba(model.trained.features([clean]))[0]
        assert np.allclose(softmax(model.linear.decision(clean)), expected, rtol=1e-9, atol=1e-12), text


def test_retrieval_paraphrase_scores_equal_scikit_learns():  # type: ignore[no-untyped-def]
    articles, _ = load_directory()
    docs = [view for a in articles[:40] for view in (a.title, *a.questions)]
    owners = [i for i, a in enumerate(articles[:40]) for _ in (a.title, *a.questions)]
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    svm = LinearSVC(C=0.5).fit(vectorizer.fit_transform(docs), owners)
    linear = Linear(svm, [TfidfRow(vectorizer)], check_texts=docs[:3])
    assert linear.fast
    for text in _texts():
        expected = svm.decision_function(vectorizer.transform([text]))[0]
        assert np.allclose(linear.decision(text), expected, rtol=1e-9, atol=1e-12), text
    index = ArticleIndex([indexed(a) for a in articles])  # the index built the same way answers as before
    hits = index.search("老板不给工钱怎么办", intent="labor")
    assert hits and hits[0].intent == "labor"


def test_a_disagreeing_model_falls_back_to_scikit_learn():  # type: ignore[no-untyped-def]
    docs = ["老板欠工钱 工钱 工钱", "离婚孩子归谁", "草场被占", "借钱不还"]
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    model = LogisticRegression().fit(vectorizer.fit_transform(docs), [0, 1, 2, 3])
    row = TfidfRow(vectorizer)
    row.sublinear = False  # a future scikit-learn computing TF-IDF differently
    linear = Linear(model, [row], check_texts=docs)
    assert not linear.fast
    expected = model.decision_function(vectorizer.transform(["老板欠工钱 工钱 工钱"]))[0]
    assert np.allclose(linear.decision("老板欠工钱 工钱 工钱"), expected)


@pytest.mark.parametrize("classes", [2])
def test_binary_models_use_scikit_learn(classes):  # type: ignore[no-untyped-def]
    vectorizer = TfidfVectorizer(analyzer=tokens)
    model = LinearSVC().fit(vectorizer.fit_transform(["老板欠工钱", "离婚"]), list(range(classes)))
    assert not Linear(model, [TfidfRow(vectorizer)], check_texts=["老板"]).fast
