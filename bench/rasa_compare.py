"""Side by side: a Rasa DIET model (nlu/rasa/config.yml) against the embedded classifier.

    python -m bench rasa_compare                      # scores the Rasa server at RASA_URL, if one answers
    python -m bench.rasa_compare --rasa VENV/bin/rasa # trains the Rasa model (timed), serves it, scores, stops it
    python -m bench.rasa_compare --rasa VENV/bin/rasa --model FILE.tar.gz   # serve an already trained model
    python -m bench.rasa_compare --url URL --record tests/data/rasa_parse_recorded.json
                                                      # record /model/parse answers for the tests

Rasa 3.6 needs Python 3.8–3.10 and TensorFlow, so it lives in its own venv, never in the app's
(README, "Using a Rasa server"). Without a reachable server and without --rasa this skips with a
message. Rasa goes through nlu.rasa.RasaClassifier — the code the bot runs — with a fallback that
refuses, so an outage during the run aborts it instead of quietly scoring the embedded model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from bench.stats import percentile
from core.ports import IntentClassifier, IntentResult

ROOT = Path(__file__).resolve().parents[1]
SHARED_DEV = ROOT.parent / "shared" / "data" / "legal_questions_dev.jsonl"
HELDOUT = ROOT / "nlu" / "eval" / "heldout.jsonl"
RASA_CONFIG = ROOT / "nlu" / "rasa" / "config.yml"
SERVER_START_SECONDS = 600
SHIPPED = "embedded (shipped: nlu/data + KB questions + statutes at 0.1)"
RASA_ROUTED = "Rasa DIET (as routed: nlu_fallback mapped)"
RASA_TOP = "Rasa DIET (top real intent)"

# What tests/test_nlu_rasa.py replays: ordinary questions, service intents, an emergency, odd
# inputs, and texts where FallbackClassifier answered nlu_fallback (DIET is rarely unsure: the last
# three, from nlu/eval/heldout.jsonl, are among the few it was unsure about; "" is another).
RECORD_TEXTS = (
    "俺家承包地被村里收回去了 给别人种了 咋办",
    "包工头欠了我们三个月工钱不给",
    "他又拿刀要砍我 快来人",
    "你好",
    "律师啥时候来我们嘎查",
    "今天天气咋样 要下雨不",
    "嗯",
    "1234",
    "？？？",
    "",
    "跟朋友合开的公司 他占股百分之七十 现在想把我踢出去",
    "我问一下那个母羊下了羔子以后不给羔子吃奶是咋回事啊有没有啥办法",
    "家裡人被公安帶走了 也不說什麼事 我們該怎麼辦",
)


class _RefuseFallback:
    def parse(self, text: str) -> IntentResult:
        raise RuntimeError("the Rasa server failed during the benchmark; figures would be the embedded model's")


def server_up(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    """Rasa's GET /status when a model is loaded, else None."""
    try:
        response = httpx.get(url.rstrip("/") + "/status", timeout=timeout, trust_env=False)
        status = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return status if isinstance(status, dict) and status.get("model_file") else None


def train_rasa(rasa: Path, out_dir: Path) -> tuple[Path, float]:
    from nlu.training_data import DATA_DIR

    started = time.perf_counter()
    command = ["train", "nlu", "--config", str(RASA_CONFIG), "--nlu", str(DATA_DIR), "--out", str(out_dir)]
    subprocess.run(
        [str(rasa), *command, "--fixed-model-name", "villagelaw-nlu"],
        cwd=out_dir,
        check=True,
    )
    return out_dir / "villagelaw-nlu.tar.gz", time.perf_counter() - started


@contextlib.contextmanager
def serve_rasa(rasa: Path, model: Path, log_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(rasa), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", str(model)],
            cwd=model.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while server_up(url) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Rasa server did not start; see {log_path}")
                time.sleep(2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _timed_parse(classifier: IntentClassifier, texts: Sequence[str]) -> tuple[list[IntentResult], list[float]]:
    results, latencies = [], []
    for text in texts:
        started = time.perf_counter()
        results.append(classifier.parse(text))
        latencies.append((time.perf_counter() - started) * 1000)
    return results, latencies


def compare(url: str, *, dev: Path = SHARED_DEV) -> dict[str, dict[str, dict[str, float]]]:
    """Scores per test file and model; prints a table as it goes."""
    from core.config import Settings
    from nlu.classifier import EmbeddedClassifier, train_compiled
    from nlu.evaluation import score
    from nlu.factory import build_classifier
    from nlu.rasa import RasaClassifier
    from nlu.training_data import load_jsonl, load_training_examples

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", nlu_model_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        shipped = build_classifier(settings)
    # The same data Rasa trains on (nlu/data only, without the knowledge base's sample questions or
    # the statutes).
    same_data = EmbeddedClassifier(train_compiled(load_training_examples()))
    rasa = RasaClassifier(url, fallback=_RefuseFallback(), timeout=30.0)

    figures: dict[str, dict[str, dict[str, float]]] = {}
    print(f"  {'test set / model':<66}{'n':>6}{'accuracy':>10}{'macro-F1':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, path in (("held-out villager file", HELDOUT), ("shared dev benchmark", dev)):
        if not path.exists():
            print(f"  {name}: not present, skipped")
            continue
        data = load_jsonl(path)
        truth = [e.label for e in data]
        texts = [e.text for e in data]
        rasa_results, rasa_ms = _timed_parse(rasa, texts)
        rows = {}
        for model_name, classifier in ((SHIPPED, shipped), ("embedded (nlu/data only, as Rasa)", same_data)):
            results, ms = _timed_parse(classifier, texts)
            rows[model_name] = (score(truth, [r.intent for r in results]), ms)
        rows[RASA_ROUTED] = (score(truth, [r.intent for r in rasa_results]), rasa_ms)
        top_real = [r.ranking[0].intent if r.ranking else r.intent for r in rasa_results]
        rows[RASA_TOP] = (score(truth, top_real), rasa_ms)
        figures[name] = {}
        for model_name, (report, ms) in rows.items():
            label = f"{name}: {model_name}"
            print(
                f"  {label:<66}{report.count:>6}{report.accuracy:>10.3f}{report.macro_f1:>10.3f}"
                f"{percentile(ms, 50):>9.2f}{percentile(ms, 99):>9.2f}"
            )
            figures[name][model_name] = {"accuracy": report.accuracy, "macro_f1": report.macro_f1}
        # nlu.rasa maps a below-threshold nlu_fallback to out_of_scope over a different top real intent.
        low = sum(1 for r, top in zip(rasa_results, top_real, strict=True) if r.intent == "out_of_scope" != top)
        print(f"  {name}: Rasa answered nlu_fallback (low confidence) for {low} of {len(data)}")
    rasa.close()
    return figures


def beats(figures: dict[str, dict[str, dict[str, float]]]) -> bool:
    """The issue's target: the shipped embedded model beats Rasa DIET on every test set."""
    ok = True
    for name, rows in figures.items():
        ours = rows[SHIPPED]["macro_f1"]
        theirs = max(rows[RASA_ROUTED]["macro_f1"], rows[RASA_TOP]["macro_f1"])
        won = ours > theirs
        print(f"  {name}: embedded macro-F1 {ours:.3f} vs Rasa {theirs:.3f}  {'OK' if won else 'MISSED'}")
        ok &= won
    return ok


def record(url: str, target: Path) -> None:
    recorded = {}
    status = server_up(url)
    for text in RECORD_TEXTS:
        response = httpx.post(url.rstrip("/") + "/model/parse", json={"text": text}, timeout=30, trust_env=False)
        response.raise_for_status()
        recorded[text] = response.json()
    meta = {"rasa_status": status, "recorded_at": time.strftime("%Y-%m-%d"), "config": "nlu/rasa/config.yml"}
    # One response a line: diffs of a re-recording stay readable.
    lines = [f"  {json.dumps(t, ensure_ascii=False)}: {json.dumps(b, ensure_ascii=False)}" for t, b in recorded.items()]
    meta_line = json.dumps(meta, ensure_ascii=False)
    target.write_text(f'{{"meta": {meta_line},\n "responses": {{\n' + ",\n".join(lines) + "\n}}\n", encoding="utf-8")
    print(f"recorded {len(recorded)} responses to {target}")


def run() -> bool:
    """`make bench`: compare against a running server; skip (not a failure) without one."""
    from core.config import get_settings

    url = get_settings().rasa_url
    status = server_up(url)
    if status is None:
        print(
            f"  skipped: no Rasa server with a model at {url} (RASA_URL). Start one (README, "
            "'Using a Rasa server') or run `python -m bench.rasa_compare --rasa <venv>/bin/rasa`."
        )
        return True
    print(f"  Rasa server {url}, model {status.get('model_file')}")
    return beats(compare(url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rasa_compare", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running Rasa server (default: RASA_URL)")
    parser.add_argument("--rasa", type=Path, help="the rasa executable of a Rasa 3.6 venv: train, serve, score")
    parser.add_argument("--model", type=Path, help="with --rasa: serve this trained model instead of training")
    parser.add_argument("--record", type=Path, help="write /model/parse answers for the tests to this file")
    parser.add_argument("--dev", type=Path, default=SHARED_DEV, help="the shared dev file (from a worktree: its path)")
    args = parser.parse_args(argv)

    if args.rasa is None:
        if args.url is None:
            return 0 if run() else 1
        if server_up(args.url) is None:
            print(f"no Rasa server with a model at {args.url}")
            return 2
        if args.record:
            record(args.url, args.record)
            return 0
        return 0 if beats(compare(args.url, dev=args.dev)) else 1

    if not args.rasa.exists():
        print(f"skipped: {args.rasa} does not exist (install Rasa 3.6 in a Python 3.10 venv, README)")
        return 0
    with tempfile.TemporaryDirectory(prefix="rasa-bench-") as tmp:
        model = args.model
        if model is None:
            model, seconds = train_rasa(args.rasa, Path(tmp))
            print(f"  Rasa training (rasa train nlu, this machine): {seconds:.0f} s")
        with serve_rasa(args.rasa, model.resolve(), Path(tmp) / "rasa-server.log") as url:
            if args.record:
                record(url, args.record)
                return 0
            return 0 if beats(compare(url, dev=args.dev)) else 1


if __name__ == "__main__":
    sys.exit(main())
