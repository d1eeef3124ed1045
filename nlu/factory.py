"""Which classifier the settings ask for: the embedded model, or Rasa with the embedded one as fallback.

The embedded model also learns from the knowledge base's sample questions; `RetrainingClassifier`
retrains it in the background when an editor changes the knowledge base, and swaps the new model
in when it is ready (the bot keeps answering with the old one meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from core.config import Settings
from core.ports import IntentClassifier, IntentResult
from nlu.classifier import EmbeddedClassifier, load_or_train
from nlu.training_data import Example

log = logging.getLogger(__name__)


def file_examples() -> list[Example]:
    """Sample questions of the published article files, labelled with their article's intent."""
    from knowledge_base.articles import load_directory

    articles, _errors = load_directory()
    return [Example(q, a.intent) for a in articles if a.status == "published" for q in a.questions]


def build_embedded(
    settings: Settings, *, extra: Sequence[Example] | None = None, progress: Callable[[str], None] | None = None
) -> EmbeddedClassifier:
    return load_or_train(
        settings.nlu_model_dir,
        extra=file_examples() if extra is None else extra,
        progress=progress,
        in_child=settings.fit_models_in_child,
    )


def build_classifier(settings: Settings, *, progress: Callable[[str], None] | None = None) -> IntentClassifier:
    return with_backend(settings, build_embedded(settings, progress=progress))


def with_backend(settings: Settings, embedded: IntentClassifier) -> IntentClassifier:
    if settings.nlu_backend == "rasa":
        from nlu.rasa import RasaClassifier

        return RasaClassifier(settings.rasa_url, fallback=embedded, timeout=settings.rasa_timeout_seconds)
    return embedded


class RetrainingClassifier:
    """The embedded classifier, retrained when the knowledge base it learns from changes."""

    def __init__(
        self,
        *,
        settings: Settings,
        stamp: Callable[[], object],
        examples: Callable[[], list[Example]],
        check_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._stamp_of = stamp
        self._examples_of = examples
        self.check_seconds = check_seconds
        self.clock = clock
        self._stamp = stamp()
        self.current = build_embedded(settings, extra=examples())
        self._checked_at = clock()
        self._training: threading.Thread | None = None

    def parse(self, text: str) -> IntentResult:
        self._maybe_retrain()
        return self.current.parse(text)

    def _maybe_retrain(self) -> None:
        if self.clock() - self._checked_at < self.check_seconds or self._training is not None:
            return
        self._checked_at = self.clock()
        try:
            stamp = self._stamp_of()
        except Exception:  # the database is briefly away: keep the current model
            return
        if stamp == self._stamp:
            return
        self._training = threading.Thread(target=self._retrain, args=(stamp,), name="nlu-retrain", daemon=True)
        self._training.start()

    def _retrain(self, stamp: object) -> None:
        try:
            self.current = build_embedded(self.settings, extra=self._examples_of())
            self._stamp = stamp
            log.info("intent model retrained after a knowledge-base change")
        except Exception:
            log.exception("retraining the intent model failed; keeping the previous one")
        finally:
            self._training = None

    def wait(self, timeout: float = 60.0) -> None:
        """Block until a running retrain finishes (for tests and the CLI)."""
        thread = self._training
        if thread is not None:
            thread.join(timeout)
