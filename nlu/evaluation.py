"""Scores for a labelled test file: accuracy, macro-F1, per-label precision/recall/F1, confusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Report:
    accuracy: float
    macro_f1: float
    per_label: dict[str, dict[str, float]]
    confusion: dict[str, dict[str, int]]
    count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_label": self.per_label,
            "confusion": self.confusion,
        }

    def as_text(self) -> str:
        lines = [f"examples {self.count}  accuracy {self.accuracy:.3f}  macro-F1 {self.macro_f1:.3f}", ""]
        lines.append(f"{'label':<20}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for label, m in self.per_label.items():
            lines.append(
                f"{label:<20}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{int(m['support']):>10}"
            )
        lines.append("")
        lines.append("confusion (row = true label, columns = predicted, only non-zero):")
        for label, row in self.confusion.items():
            cells = ", ".join(f"{p}:{n}" for p, n in sorted(row.items(), key=lambda kv: -kv[1]) if n)
            lines.append(f"  {label:<18} {cells}")
        return "\n".join(lines)


def score(truth: Sequence[str], predicted: Sequence[str]) -> Report:
    """Macro-F1 averages over the labels present in ``truth``: predicting a label the file does not
    contain (e.g. ``out_of_scope`` for a real legal question) counts against recall."""
    labels = sorted(set(truth))
    pairs = Counter(zip(truth, predicted, strict=True))
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = pairs[(label, label)]
        fp = sum(n for (t, p), n in pairs.items() if p == label and t != label)
        fn = sum(n for (t, p), n in pairs.items() if t == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    confusion = {t: {p: pairs[(t, p)] for p in sorted({p for (_, p) in pairs})} for t in labels}
    accuracy = sum(n for (t, p), n in pairs.items() if t == p) / max(len(truth), 1)
    macro = sum(m["f1"] for m in per_label.values()) / max(len(per_label), 1)
    return Report(accuracy, macro, per_label, confusion, len(truth))
