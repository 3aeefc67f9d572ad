"""What happened on a host lately: a bounded log of its events, and listeners told of new ones.

The host records here what it also tells the lattice (``actor_started``, ``actor_stopped``,
``actor_updating``, ``actor_update_complete``, ``provider_loaded``, ``provider_removed``,
``actor_binding_created``, ``actor_binding_removed``), plus three of its own: ``actor_trapped``
(at most one per actor per ``host.actor.TRAP_LOG_INTERVAL``, like the log line),
``actor_health_changed`` (a health check's verdict differs from the last one) and
``call_alias_refused``. With a lattice, the verified events of other hosts come in too, each
naming its ``host``.

Recording never waits: the log keeps the last ``capacity`` events, and a listener is a plain
callback that must return at once (the dashboard queues what it sends to each page, and drops
a page that falls behind). Only the event loop's thread records.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EventLog", "HostEvent"]

logger = logging.getLogger("wascc.host")

HostEvent = dict[str, Any]
"""``{"seq": n, "time": unix seconds, "type": kind, "host": id or None, "data": {...}}``;
``host`` is None for this host's own events."""

Listener = Callable[[HostEvent], None]


class EventLog:
    """The last ``capacity`` events of a host, and the listeners told of each new one."""

    def __init__(self, capacity: int = 200) -> None:
        self._events: deque[HostEvent] = deque(maxlen=capacity)
        self._listeners: list[Listener] = []
        self._seq = 0

    def record(self, kind: str, data: Mapping[str, Any], *, host: str | None = None) -> None:
        """Keep one event and tell every listener. A listener that raises is logged and
        kept: what happened on the host already happened."""
        self._seq += 1
        event: HostEvent = {
            "seq": self._seq,
            "time": round(time.time(), 3),
            "type": kind,
            "host": host,
            "data": dict(data),
        }
        self._events.append(event)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # a bug in a listener: never the host's problem
                logger.exception("an event listener failed on %s", kind)

    def recent(self, limit: int) -> list[HostEvent]:
        """The last ``limit`` events kept, oldest first."""
        return list(self._events)[-limit:] if limit > 0 else []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Tell ``listener`` of every event from now on; returns what stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop
