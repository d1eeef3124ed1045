"""Logging for every process: one format, and personal data masked before any handler writes it.

Villagers type their phone numbers and 身份证号 into questions, and those words can reach a log
through an exception, a library's debug line or an access-log URL. The filter sits on the
handlers (not on a logger), so it sees every record that is written, whichever logger made it.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: 18-digit resident ID (17 digits and a check digit that may be X), not inside a longer number.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{3})\d{11}(\d{3}[\dXx])(?![0-9A-Za-z])")
#: Mainland mobile numbers, optionally with +86/86, and with the spaces or dashes people type.
MOBILE = re.compile(r"(?<![0-9])((?:\+?86[ -]?)?1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?![0-9])")
#: Landlines, as a village committee's or an old person's phone is written: an area code of 0 and
#: two or three digits (the first not 0), maybe in brackets, then seven or eight digits, with the
#: dashes and spaces people type, full-width ones too (0479-8221234, （0479）8221234, 010-6275-1234).
#: Not inside a word or a longer number (an id, an openid, a decimal).
LANDLINE = re.compile(
    r"(?<![0-9A-Za-z.\-])[(（]?(0[1-9]\d{1,2})[)）]?[ \-－]?\d{3,4}[ \-－]?(\d{4})(?![0-9A-Za-z])"
)


def mask(text: str) -> str:
    """``13812345678`` → ``138****5678``; ``110105194912310021`` → ``110***********0021``;
    ``0479-8221234`` → ``0479-****1234``."""
    text = ID_NUMBER.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)
    text = MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    return LANDLINE.sub(lambda m: m.group(1) + "-****" + m.group(2), text)


class PersonalDataFilter(logging.Filter):
    """Masks phone and ID numbers in the message, its arguments, and any traceback; drops the query
    string from access-log lines (WeChat's carries the villager's openid, the web chat's poll their
    user id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access":
            _without_query(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem to report, not ours
            return True
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def _without_query(record: logging.LogRecord) -> None:
    """uvicorn's access record: (client, method, path with query, HTTP version, status)."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
        record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])


def install_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
        handler.addFilter(PersonalDataFilter())


def configure_logging(level: str) -> None:
    """The process's logging: root handler with the format and the filter. Uvicorn's own loggers
    propagate here (``villagelaw serve`` starts uvicorn with ``log_config=None``)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=FORMAT)
    root.setLevel(level)
    for handler in root.handlers:
        install_filter(handler)
    # httpx logs every request URL at INFO, and Telegram's URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler announces every one-minute pass at INFO: noise that hides what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
