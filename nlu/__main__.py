"""python -m nlu train | evaluate --data FILE.jsonl [--json]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _classifier(progress: bool):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    from core.config import get_settings
    from nlu.factory import build_classifier

    started = time.perf_counter()
    with tqdm(total=2, desc="loading", disable=not progress, file=sys.stderr) as bar:

        def step(message: str) -> None:
            bar.set_description(message)
            bar.update(1)

        model = build_classifier(get_settings(), progress=step)
    return model, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train (or load the cached) embedded intent model")
    ev = sub.add_parser("evaluate", help="score the classifier on a JSONL file of {text, label}")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    if args.command == "train":
        model, seconds = _classifier(progress=True)
        print(f"model ready in {seconds:.1f}s: {len(model.compiled.labels)} intents")
        return 0

    from nlu.evaluation import score
    from nlu.training_data import load_jsonl

    examples = load_jsonl(args.data)
    model, _ = _classifier(progress=not args.json)
    predicted = [model.parse(e.text).intent for e in examples]
    report = score([e.label for e in examples], predicted)
    print(json.dumps(report.as_json(), ensure_ascii=False) if args.json else report.as_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
