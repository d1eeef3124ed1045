"""Intent classifier: training time, model load time, parse latency over 10,000 calls, memory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import check, percentile, rss_mb

SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "legal_questions_dev.jsonl"
HELDOUT = Path(__file__).resolve().parents[1] / "nlu" / "eval" / "heldout.jsonl"


def run() -> bool:
    from core.config import Settings
    from nlu.evaluation import score
    from nlu.factory import build_classifier
    from nlu.training_data import load_jsonl

    ok = True
    before = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", nlu_model_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        started = time.perf_counter()
        model = build_classifier(settings)
        ok &= check("training (cold, 2 cores)", time.perf_counter() - started, 30, unit="s")
        # a fresh process: imports, jieba's dictionary and the cached model, as at a restart
        probe = (
            "import time; t = time.perf_counter();"
            "from pathlib import Path; from core.config import Settings; from nlu.factory import build_classifier;"
            f"m = build_classifier(Settings(env='test', nlu_model_dir=Path({tmp!r}), _env_file=None));"
            "m.parse('你好'); print(time.perf_counter() - t)"
        )
        seconds = float(
            subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
        )
        ok &= check("model load (new process, cached model)", seconds, 2, unit="s")
    texts = [e.text for e in load_jsonl(HELDOUT)]
    latencies = []
    for i in range(10_000):
        text = texts[i % len(texts)] + ("" if i < len(texts) else f" {i}")  # defeat normalisation cache
        started = time.perf_counter()
        model.parse(text)
        latencies.append((time.perf_counter() - started) * 1000)
    ok &= check("parse p50", percentile(latencies, 50), 1, unit="ms")
    ok &= check("parse p99", percentile(latencies, 99), 5, unit="ms")
    print(f"  {'memory (process RSS, model loaded)':<38} {rss_mb():10.1f} MB   (+{rss_mb() - before:.1f} MB for NLU)")
    # the floors: (macro-F1, accuracy); the held-out file has no accuracy target
    for name, path, f1_floor, accuracy_floor in (
        ("held-out villager file", HELDOUT, 0.90, None),
        ("shared dev benchmark", SHARED_DEV, 0.75, 0.82),
    ):
        if not path.exists():
            print(f"  {name}: not present, skipped")
            continue
        data = load_jsonl(path)
        results = [model.parse(e.text) for e in data]
        report = score([e.label for e in data], [r.intent for r in results])
        ok &= check(f"{name} macro-F1 (n={report.count})", report.macro_f1, f1_floor, unit="", higher_is_better=True)
        if accuracy_floor is None:
            print(f"  {name + ' accuracy':<38} {report.accuracy:10.3f}")
        else:
            ok &= check(f"{name} accuracy", report.accuracy, accuracy_floor, unit="", higher_is_better=True)
        emergencies = [r for e, r in zip(data, results, strict=True) if e.label == "emergency"]
        if emergencies:
            missed = sum(not r.may_be_emergency(settings.emergency_min_confidence) for r in emergencies)
            ok &= check(f"{name}: emergencies not caught (of {len(emergencies)})", missed, 0, unit="")
    return ok
