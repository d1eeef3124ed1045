"""Numbers that come from outside — button payloads, typed commands — checked before use."""

from __future__ import annotations

#: The largest id an INTEGER column holds; anything bigger cannot name a row.
MAX_ID = 2**31 - 1


def parse_id(text: str) -> int | None:
    """ASCII digits that fit a database integer, else None. (``str.isdigit`` also accepts "²",
    which ``int`` refuses, and PostgreSQL refuses a number beyond 32 bits in an INTEGER column.)"""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None
