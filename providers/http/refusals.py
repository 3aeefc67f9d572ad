"""What one listener refused (malformed requests, timeouts, limits), counted and logged condensed.

A flood of bad requests must not become a flood of log lines: the first refusal of a quiet
period is logged at once, the following ones are summed up in one line per ``interval``
(e.g. ``echo (M…): 998 more refused in the last 10 s: 414 request line too long (990), 408
request head not received in time (8)``), and never with a traceback. The totals stay in
``counts`` for the host's metrics (``HttpServerProvider.refusals``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

__all__ = ["DEFAULT_INTERVAL", "Refusals", "describe"]

logger = logging.getLogger("wascc.provider.http")

DEFAULT_INTERVAL = 10.0

Kind = tuple[int, str]
"""(status answered, 0 when the connection was only closed; reason)."""


def describe(kind: Kind) -> str:
    """``414 request line too long``, or the reason alone for status 0."""
    status, reason = kind
    return f"{status} {reason}" if status else reason


class Refusals:
    """The refusals of the listener of actor ``label`` (public key ``actor``)."""

    def __init__(self, actor: str, label: str, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.actor = actor
        self.label = label
        self.interval = interval
        self.counts: Counter[Kind] = Counter()
        self._window: Counter[Kind] | None = None  # None: quiet, the next one is logged at once
        self._level = logging.INFO
        self._flush: asyncio.TimerHandle | None = None

    def note(
        self,
        status: int,
        reason: str,
        *,
        peer: str | None = None,
        detail: str = "",
        level: int = logging.INFO,
    ) -> None:
        """Count one refusal; log it now if the listener was quiet, else in the summary."""
        kind = (status, reason)
        self.counts[kind] += 1
        window = self._window
        if window is not None:
            window[kind] += 1
            self._level = max(self._level, level)
            return
        logger.log(
            level,
            "actor %s: %s%s%s; further refusals in the next %gs are summed up",
            self.label,
            describe(kind),
            f" (from {peer})" if peer else "",
            f": {detail}" if detail else "",
            self.interval,
            extra={"actor_key": self.actor},
        )
        self._open_window()

    def _open_window(self) -> None:
        self._window = Counter()
        self._level = logging.INFO
        self._flush = asyncio.get_running_loop().call_later(self.interval, self._summarize)

    def _summarize(self) -> None:
        window, self._window, self._flush = self._window, None, None
        if not window:
            return  # quiet for a whole interval: the next refusal is logged at once
        logger.log(
            self._level,
            "actor %s: %d more refused in the last %gs: %s",
            self.label,
            window.total(),
            self.interval,
            ", ".join(f"{describe(kind)} ({n})" for kind, n in window.most_common()),
            extra={"actor_key": self.actor},
        )
        self._open_window()  # a flood goes on: keep summing up

    def close(self) -> None:
        """Log what is left of the current interval and stop the timer."""
        if self._flush is not None:
            self._flush.cancel()
            self._summarize()
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None
            self._window = None
