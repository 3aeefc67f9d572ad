"""Log output of the host process: human text or JSON lines, one record per line, on stderr.

Every record is tagged by ``InvocationLogFilter`` (``invocation_id``, ``actor``,
``operation``) and carries ``actor_key`` (set by providers for the actor they serve, empty
otherwise), so a JSON line can always be traced to the call and the actor behind it. Only
the CLI calls ``configure_logging``: the host as a library leaves logging to its user.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Literal

from host.invocation import InvocationLogFilter

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

_CONTEXT = ("invocation_id", "actor", "operation", "actor_key")
# Third-party loggers that are chatty at INFO and say nothing a host operator needs.
_QUIET = ("aiohttp.access", "aiohttp.server", "asyncio")


class _ActorKeyFilter(logging.Filter):
    """Gives every record an ``actor_key`` (empty unless a provider attached one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "actor_key"):
            record.actor_key = ""
        return True


class TextFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,123 INFO  wascc.host: message [invocation …]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        invocation = getattr(record, "invocation_id", "")
        if invocation and "\n" not in line:
            line += f" [invocation {invocation}]"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the invocation context, and
    ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            document[name] = getattr(record, name, "")
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
    handler.addFilter(_ActorKeyFilter())
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
