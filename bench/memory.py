"""What a serving process holds, step by step: imports, the intent model (with jieba's dictionary),
the retrieval index — measured in a fresh interpreter on a demo database whose model caches are
already written, as a worker finds them. Also whether scikit-learn or scipy got loaded (neither
may be: they cost a worker 80 and 22 MB; the console's gap report loads scipy when it is asked for)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stats import check

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
steps = [("interpreter", rss())]
from admin.app import limit_malloc_arenas
limit_malloc_arenas()
from admin.container import build
from core.config import Settings
steps.append(("imports (app, container)", rss()))
container = build(Settings(_env_file=None))
container.services.classifier.parse("你好")
steps.append(("intent model + jieba dictionary", rss()))
container.retriever.index()
steps.append(("retrieval index", rss()))
print(json.dumps({"steps": steps, "sklearn": "sklearn" in sys.modules, "scipy": "scipy" in sys.modules}))
"""


def run() -> bool:
    from admin.container import build
    from admin.seed import seed_demo
    from core.config import Settings
    from core.db import make_engine, make_session_factory, transaction
    from core.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/memory.db",
            "NLU_MODEL_DIR": f"{tmp}/nlu",
            "RUN_BACKGROUND_WORKERS": "false",
            "PYTHONPATH": str(ROOT),
        }
        settings = Settings(_env_file=None, database_url=env["DATABASE_URL"], nlu_model_dir=Path(env["NLU_MODEL_DIR"]))
        engine = make_engine(settings.database_url)
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            seed_demo(session, settings=settings)
        engine.dispose()
        container = build(settings)  # trains on the imported knowledge base and writes the caches
        container.retriever.index()
        container.engine.dispose()
        out = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    previous = 0.0
    for label, mb in probe["steps"]:
        print(f"  {label:<38} {mb:10.1f} MB   (+{mb - previous:.1f})")
        previous = mb
    ok = check("scikit-learn loaded in a serving process", int(probe["sklearn"]), 0, unit="")
    ok &= check("scipy loaded in a serving process", int(probe["scipy"]), 0, unit="")
    return ok
