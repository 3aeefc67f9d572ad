"""Log output of the host process: human text or JSON lines, one record per line, on stderr.

Every record is tagged by ``InvocationLogFilter`` with the context of the call it was made in
(``invocation_id``, ``request_id``, ``actor``, ``actor_key``, ``operation``: see
``host.invocation``), so a JSON line can be traced to the call, the request and the actor
behind it. A field with no value (a start-up line belongs to no call) is left out of the JSON
object rather than written empty, and the text format shows only what is known. Only the CLI
calls ``configure_logging``: the host as a library leaves logging to its user.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Literal

from wascc.host.invocation import LOG_FIELDS, InvocationLogFilter

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")

# Third-party loggers that are chatty at INFO and say nothing a host operator needs.
_QUIET = ("aiohttp.access", "aiohttp.server", "asyncio")


class TextFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,123 INFO  wascc.host: message [actor NAME, invocation …,
    request …]``: the bracket names what is known (nothing outside a call), the request only
    when it is not the invocation itself."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        invocation = getattr(record, "invocation_id", "")
        if not invocation or "\n" in line:
            return line
        actor = getattr(record, "actor", "") or getattr(record, "actor_key", "")
        request = getattr(record, "request_id", "")
        context = f"actor {actor}, " if actor else ""
        context += f"invocation {invocation}"
        if request and request != invocation:
            context += f", request {request}"
        return f"{line} [{context}]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the invocation context fields
    that have a value, and ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def _iso(created: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{stamp}.{int(created % 1 * 1000):03d}Z"


def configure_logging(
    level: str = "info", fmt: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in ``fmt``.

    Replaces the root logger's handlers, so calling it twice does not double the lines.
    Returns the handler (tests flush or remove it).
    """
    threshold = _level(level)  # first: an unknown level changes nothing
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(InvocationLogFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, threshold))
    return handler


def _level(name: str) -> int:
    if name.lower() == "trace":
        return logging.DEBUG - 5  # waSCC's trace, as the logging provider maps it
    value = logging.getLevelName(name.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LOG_LEVELS)}")
    return value
