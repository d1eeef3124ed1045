"""Reading Rasa 3.x NLU YAML (the same files a Rasa server trains on) and our JSONL test files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core import yaml_text
from core.intents import INTENTS

DATA_DIR = Path(__file__).resolve().parent / "data"
#: Statute articles labelled with their topic (written by scripts/vendor_statutes.py).
STATUTES_FILE = Path(__file__).resolve().parent / "statutes.jsonl"


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    #: Below 1 for weak evidence (statute text): it counts that much in the fit.
    weight: float = 1.0


def data_files(directory: Path = DATA_DIR) -> list[Path]:
    return sorted(p for p in directory.rglob("*.yml"))


def parse_examples(block: str) -> list[str]:
    """Rasa's ``examples: |`` block: one ``- text`` per line."""
    out = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("- "):
            text = line[2:].strip()
            if text:
                out.append(text)
    return out


def load_rasa_yaml(paths: Iterable[Path]) -> list[Example]:
    examples: list[Example] = []
    for path in paths:
        doc = yaml_text.load(path.read_text(encoding="utf-8")) or {}
        for item in doc.get("nlu") or []:
            intent = item.get("intent")
            if not intent:
                continue  # synonyms, lookup tables, regexes
            if intent not in INTENTS:
                raise ValueError(f"{path}: unknown intent {intent!r}")
            examples.extend(Example(text, intent) for text in parse_examples(item.get("examples", "")))
    return examples


def load_training_examples(directory: Path = DATA_DIR) -> list[Example]:
    return load_rasa_yaml(data_files(directory))


def load_statutes(path: Path = STATUTES_FILE, *, weight: float) -> list[Example]:
    """The vendored statute articles (``{"intent", "law", "article", "text"}`` lines) as weak examples."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for row in rows:
        if row["intent"] not in INTENTS:
            raise ValueError(f"{path}: unknown intent {row['intent']!r}")
    return [Example(row["text"], row["intent"], weight) for row in rows]


def load_jsonl(path: Path, *, label_key: str = "label") -> list[Example]:
    """``{"text", "label"}`` lines; ``drop`` lines are skipped."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            label = row.get(label_key)
            if label == "drop":
                continue
            out.append(Example(str(row["text"]), str(label)))
    return out


def fingerprint(examples: Iterable[Example], *extra: str) -> str:
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode())
    for ex in examples:
        weight = "" if ex.weight == 1.0 else f"\t{ex.weight!r}"  # full-weight examples hash as before
        digest.update(f"{ex.label}\t{ex.text}{weight}\n".encode())
    return digest.hexdigest()[:16]
