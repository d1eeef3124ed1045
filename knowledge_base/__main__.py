"""python -m knowledge_base evaluate --data FILE.jsonl [--json] [--no-intent]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge_base")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="hit@1, hit@3 and MRR on a JSONL file of {text, article}")
    ev.add_argument("--data", type=Path, action="append", help="file(s); default: knowledge_base/eval/*.jsonl")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--no-intent", action="store_true", help="search without the classifier's intent prior")
    ev.add_argument("--misses", type=int, default=0, help="also print this many misses")
    args = parser.parse_args(argv)

    from core.config import get_settings
    from knowledge_base.articles import load_directory
    from knowledge_base.evaluation import evaluate, heldout_examples, load_questions
    from knowledge_base.retrieval import ArticleIndex, indexed

    articles, errors = load_directory()
    if errors:
        for e in errors:
            print(f"ERROR {e}", file=sys.stderr)
        return 1
    index = ArticleIndex([indexed(a) for a in articles if a.status == "published"])
    questions = [q for path in args.data for q in load_questions(path)] if args.data else heldout_examples()
    classifier = None
    if not args.no_intent:
        from nlu.factory import build_classifier

        classifier = build_classifier(get_settings())
    report = evaluate(index, questions, classifier=classifier)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        print(f"questions {report.count}  hit@1 {report.hit1:.3f}  hit@3 {report.hit3:.3f}  MRR {report.mrr:.3f}")
        for text, expected, got in report.misses[: args.misses]:
            print(f"  MISS {expected}: {text}  → {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
