"""Knowledge base: revisions, all-or-nothing import, export round trip, retrieval, live edits."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from core.db import transaction
from core.models import KbArticle, KbRevision
from knowledge_base import service as kb
from knowledge_base.articles import CONTENT_DIR, Article, load_directory
from knowledge_base.retrieval import ArticleIndex, SparseRows, indexed, term_counts
from tests.helpers import Chat


def _article(**changes):  # type: ignore[no-untyped-def]
    base = {
        "slug": "test-article",
        "intent": "land",
        "title": "测试文章的标题",
        "questions": ["测试问题一", "测试问题二", "测试问题三"],
        "answer": "这是测试用的回答，说明法律怎么规定、可以怎么办、去哪里。",
        "citations": [{"law": "民法典", "article": 1079}],
        "reviewed_by": "测试",
        "reviewed_at": "2026-11-26",
        "status": "published",
    }
    base.update(changes)
    return Article.model_validate(base)


def test_every_save_is_a_revision_and_revert_restores(container):  # type: ignore[no-untyped-def]
    with transaction(container.session_factory) as s:
        first = kb.save(s, _article(), author="alice")
        again = kb.save(s, _article(), author="alice")
        second = kb.save(
            s, _article(answer="第二版的回答，内容改过了，写得更清楚一些，告诉村民去哪里办。"), author="bob"
        )
        assert (first.created, again.changed, second.row.version) == (True, False, 2)
        reverted = kb.revert(s, first.row.id, 1, author="carol")
        assert reverted.row.version == 3 and reverted.row.answer.startswith("这是测试用的回答")
        revs = kb.revisions(s, first.row.id)
        assert [(r.version, r.author) for r in revs] == [(3, "carol"), (2, "bob"), (1, "alice")]
        diff = kb.revision_diff(revs[2].snapshot, revs[1].snapshot)
        assert "-answer: 这是测试用的回答" in diff and "+answer: 第二版的回答" in diff


def test_import_directory_is_all_or_nothing_with_file_and_line(container, tmp_path):  # type: ignore[no-untyped-def]
    good = tmp_path / "land" / "test-article.yml"
    good.parent.mkdir()
    good.write_text(_article().to_yaml(), encoding="utf-8")
    bad = tmp_path / "land" / "broken.yml"
    bad.write_text("slug: broken\nintent: land\ntitle: [unclosed\n", encoding="utf-8")
    with transaction(container.session_factory) as s:
        report = kb.import_directory(s, tmp_path, author="t")
        assert report.created == [] and report.errors
        assert report.errors[0].path == "land/broken.yml" and report.errors[0].line is not None
        assert s.scalar(select(func.count()).select_from(KbArticle)) == 0
    bad.unlink()
    with transaction(container.session_factory) as s:
        assert kb.import_directory(s, tmp_path, author="t").created == ["test-article"]
        assert kb.import_directory(s, tmp_path, author="t").unchanged == ["test-article"]


def test_export_then_import_is_idempotent(seeded, tmp_path):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        count = kb.export_directory(s, tmp_path)
        report = kb.import_directory(s, tmp_path, author="t")
        assert count >= 100 and report.created == [] and report.updated == [] and len(report.unchanged) == count
        assert s.scalar(select(func.count()).select_from(KbRevision)) == count
    original, _ = load_directory(CONTENT_DIR)
    exported, errors = load_directory(tmp_path)
    assert errors == [] and {a.slug: a for a in original} == {a.slug: a for a in exported}


def test_answer_length_and_questions_are_enforced():  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="at most 300"):
        _article(answer="字" * 301)
    with pytest.raises(ValueError):
        _article(questions=["只有一个问题"])


def test_retrieval_finds_the_article_and_ranks_with_intent():  # type: ignore[no-untyped-def]
    articles, _ = load_directory()
    index = ArticleIndex([indexed(a) for a in articles if a.status == "published"])
    hits = index.search("老板拖欠工钱大半年不给 包工头也跑了", intent="labor")
    assert hits[0].intent == "labor" and 0 < hits[0].score <= 1
    assert index.search("今天天气怎么样 会下雨吗") == [] or index.search("今天天气怎么样 会下雨吗")[0].score < 0.12
    assert len(index.search("离婚", limit=3)) == 3


def test_coverage_sums_each_articles_weights_over_the_query_terms():  # type: ignore[no-untyped-def]
    from scipy import sparse

    articles, _ = load_directory()
    index = ArticleIndex([indexed(a) for a in articles if a.status == "published"][:40])
    w = index.weights
    weights = sparse.csr_matrix((w.data, w.indices, w.indptr), shape=w.shape)
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 30):
        ids = rng.choice(len(index.vocabulary), size=size, replace=False)
        expected = np.asarray(weights[ids].sum(axis=0)).ravel()
        assert np.allclose(index._summed_rows(ids), expected, rtol=1e-12, atol=0)


def test_the_index_keeps_the_weights_term_by_term_as_scipy_transposes_them():  # type: ignore[no-untyped-def]
    from scipy import sparse

    counts = term_counts([["a", "b", "a"], ["c"], [], ["b", "c", "d", "b"]], {})
    values = np.arange(1.0, len(counts.data) + 1)
    by_document = sparse.csr_matrix((values, counts.indices, counts.indptr), shape=counts.shape)
    expected = by_document.T.tocsr()
    got = SparseRows.transposed(counts, values)
    assert got.shape == expected.shape == (4, 4)
    assert got.indptr.tolist() == expected.indptr.tolist()
    assert got.indices.tolist() == expected.indices.tolist()
    assert got.data.tolist() == expected.data.tolist()


def test_an_edit_is_live_for_the_bot_at_once(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.choose_village("正蓝旗", "上都镇", "红星村")
    chat.say("土地流转要签书面合同吗")
    assert "书面流转合同" in chat.text
    with transaction(seeded.session_factory) as s:
        row = kb.get(s, "land-transfer-written-contract")
        edited = kb.to_article(row).model_copy(
            update={"answer": "新版回答：流转要签书面合同，并到村委会备案，这是测试修改后的内容。"}
        )
        kb.save(s, edited, author="editor")
    seeded.retriever.invalidate()
    chat.say("土地流转要签书面合同吗")
    assert "新版回答" in chat.text


def test_unpublished_articles_are_never_shown(seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        for row in s.scalars(select(KbArticle).where(KbArticle.intent == "land")):
            row.status = "draft"
            row.version += 1
    seeded.retriever.invalidate()
    chat = Chat(seeded)
    chat.choose_village("正蓝旗", "上都镇", "红星村")
    chat.say("土地流转要签书面合同吗")
    assert "书面流转合同" not in chat.text
