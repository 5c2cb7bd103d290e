"""Structured logs: the standard library's `logging`, one JSON object per line or text.

Why not structlog: every module already logs through `logging.getLogger(__name__)`, and so
do uvicorn, SQLAlchemy and httpx; one formatter on the root handler gives all of them the
same shape, with no second logging API to learn.

Context travels in a `ContextVar`: the HTTP middleware gives each request a `LogContext`
with its request id (the authenticating dependency adds the organisation), and the worker
gives each operation's task one with the operation id and organisation. Fields passed as
`extra=` join the line; the context fills in what they do not name.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

LogFormat = Literal["auto", "text", "json"]
CONTEXT_FIELDS = ("request_id", "op_id", "org")
# What every LogRecord has; anything else on a record came from `extra=` (uvicorn's
# `color_message`, the message with terminal colours, is left out too).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


@dataclass
class LogContext:
    """The ids a log line carries, for one request or one operation's run. Mutable, so
    that what a request learns later (its organisation) reaches the access line."""

    request_id: str | None = None
    op_id: int | None = None
    org: str | None = None


CURRENT: ContextVar[LogContext | None] = ContextVar("pixsearch_log_context", default=None)


def current_context() -> LogContext | None:
    return CURRENT.get()


def set_org(org: str) -> None:
    """Name the organisation of the current request in its log lines."""
    context = CURRENT.get()
    if context is not None:
        context.org = org


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The context and `extra=` fields of a record, context first."""
    fields: dict[str, Any] = {}
    context = CURRENT.get()
    if context is not None:
        for name in CONTEXT_FIELDS:
            value = getattr(context, name)
            if value is not None:
                fields[name] = value
    for name, value in record.__dict__.items():
        if name not in _STANDARD and not name.startswith("_"):
            fields[name] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields_of(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = fields_of(record)
        if fields:
            text += " " + " ".join(f"{name}={value}" for name, value in fields.items())
        return text


def _iso_time(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (a test runner may swap
    it and close the old one)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Our handler on the root logger, to stderr, in the chosen format (`auto`: text on a
    terminal, JSON otherwise); it replaces one set by an earlier call. uvicorn is started
    with `log_config=None`, so its loggers add no handlers and propagate here."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, StderrHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become log lines too, in the same format
