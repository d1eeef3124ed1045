"""Knowledge-base retrieval: hit@1/hit@3 on the held-out files, p99 latency with 1,000 articles."""

from __future__ import annotations

import random
import time

from bench.stats import check, percentile


def run() -> bool:
    from knowledge_base.articles import load_directory
    from knowledge_base.evaluation import evaluate, heldout_examples
    from knowledge_base.retrieval import ArticleIndex, IndexedArticle
    from knowledge_base.retrieval import indexed as as_indexed

    articles, _ = load_directory()
    published = [a for a in articles if a.status == "published"]
    indexed = [as_indexed(a) for a in published]  # as the bot indexes them, tags included
    index = ArticleIndex(indexed)
    from core.config import Settings
    from nlu.factory import build_classifier

    # as the bot searches: with the classifier's intent probabilities as the prior
    classifier = build_classifier(Settings(env="test", _env_file=None))  # type: ignore[call-arg]
    report = evaluate(index, heldout_examples(), classifier=classifier)
    ok = check(f"hit@1 (n={report.count})", report.hit1, 0.80, unit="", higher_is_better=True)
    ok &= check("hit@3", report.hit3, 0.95, unit="", higher_is_better=True)
    print(f"  {'MRR':<38} {report.mrr:10.3f}")
    # 1,000 articles: the real ones plus variants with shuffled question sets
    rng = random.Random(7)
    big = list(indexed)
    while len(big) < 1000:
        a = rng.choice(indexed)
        qs = list(a.questions)
        rng.shuffle(qs)
        big.append(
            IndexedArticle(
                f"{a.slug}-v{len(big)}", a.title + "（补充）", a.intent, tuple(qs[:3]), a.answer[::-1], a.tags
            )
        )
    started = time.perf_counter()
    big_index = ArticleIndex(big)
    print(f"  {'index build, 1,000 articles':<38} {time.perf_counter() - started:10.3f} s")
    queries = [e.text for e in heldout_examples()]
    latencies = []
    for i in range(2000):
        started = time.perf_counter()
        big_index.search(queries[i % len(queries)] + str(i), intent=None)
        latencies.append((time.perf_counter() - started) * 1000)
    print(f"  {'search p50, 1,000 articles':<38} {percentile(latencies, 50):10.3f} ms")
    ok &= check("search p99, 1,000 articles", percentile(latencies, 99), 10, unit="ms")
    return ok
