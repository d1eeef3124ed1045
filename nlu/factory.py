"""Which classifier the settings ask for: the embedded model, or Rasa with the embedded one as fallback."""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings
from core.ports import IntentClassifier


def build_classifier(settings: Settings, *, progress: Callable[[str], None] | None = None) -> IntentClassifier:
    from knowledge_base.articles import load_directory
    from nlu.classifier import load_or_train
    from nlu.training_data import Example

    articles, _errors = load_directory()
    # Sample questions of published articles are more villager-voice training data for their intent.
    extra = [Example(q, a.intent) for a in articles if a.status == "published" for q in a.questions]
    embedded = load_or_train(settings.nlu_model_dir, extra=extra, progress=progress)
    if settings.nlu_backend == "rasa":
        from nlu.rasa import RasaClassifier

        return RasaClassifier(settings.rasa_url, fallback=embedded, timeout=settings.rasa_timeout_seconds)
    return embedded
