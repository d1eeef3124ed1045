"""Serve the real app in its own process for crash tests: ``python -m tests.serve_app PORT``.

Settings come from the environment like in production (DATABASE_URL, RUN_BACKGROUND_WORKERS,
TEST_PROCESSING_DELAY_SECONDS …); only the intent classifier is the tests' deterministic fake,
so the process starts in a second instead of loading the trained model.
"""

from __future__ import annotations

import sys

import uvicorn

from admin.app import create_app
from admin.container import build
from core.config import Settings
from tests.fakes import KeywordClassifier


def main() -> None:
    port = int(sys.argv[1])
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    container = build(settings, classifier=KeywordClassifier())
    app = create_app(settings, container=container)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
