"""Validate every knowledge-base file and its statute citations (for authors; the test suite runs the same checks)."""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge_base.articles import CONTENT_DIR, StatuteIndex, citation_errors, load_directory

LAWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "laws" / "articles.jsonl"


def main() -> int:
    articles, errors = load_directory(CONTENT_DIR)
    for e in errors:
        print("ERROR", e)
    if LAWS.exists():
        for e in citation_errors(articles, StatuteIndex.from_jsonl(LAWS)):
            print("CITATION", e)
            errors.append(e)
    print(f"{len(articles)} articles:", dict(Counter(a.intent for a in articles)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
