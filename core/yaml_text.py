"""YAML text to Python data, with libyaml when PyYAML has it.

The training data and the knowledge-base files are parsed at every start (their fingerprint keys
the model caches): the pure-Python parser took about 2 s of a 3-second start, libyaml a tenth.
Both build the same plain data; only "safe" tags are allowed either way.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python: plain data only
