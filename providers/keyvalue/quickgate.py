"""Whether a remote store is answering quickly right now: the gate behind ``loop_safe``.

A call answered on the event loop's thread holds up everything else the loop does for as
long as the store takes. That is fine for a Redis on the same machine answering in tens of
microseconds, and not for one that is slow, stopped or gone. The gate watches every call:
one that could not connect or timed out closes it, and so does one on the loop's thread
slower than ``QUICK`` seconds; ``REOPEN_AFTER`` successes in a row made on worker threads
meanwhile, each within ``QUICK_ON_WORKER``, open it again. Each change is logged once, as a
warning.

A worker thread's call is judged more leniently because its duration by the clock includes
the waits for the interpreter lock, which the loop and the other workers hold in turns (up
to the switch interval, 5 ms, each time): several threads calling a healthy Redis at once
take tens of milliseconds a call that way, and that says nothing about Redis.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["QUICK", "QUICK_ON_WORKER", "REOPEN_AFTER", "QuickGate"]

logger = logging.getLogger("wascc.provider.keyvalue")

QUICK = 0.005
"""The longest answer, in seconds, on the event loop's thread that keeps the gate open."""
QUICK_ON_WORKER = 0.05
"""The same on a worker thread (see the module docstring)."""
REOPEN_AFTER = 32
"""Quick successful calls in a row that open a closed gate."""


class QuickGate:
    """Open while the store answers quickly; ``where`` names it in the log lines."""

    __slots__ = ("_lock", "_quick", "open", "where")

    def __init__(self, where: str) -> None:
        self.where = where
        self.open = True
        self._quick = 0
        self._lock = threading.Lock()

    def answered(self, seconds: float, *, on_loop: bool) -> None:
        """A call got its answer (a result, or Redis's refusal) after ``seconds``, on the
        event loop's thread or not."""
        if seconds > (QUICK if on_loop else QUICK_ON_WORKER):
            self._close(f"took {seconds * 1000:.1f} ms")
        elif not self.open and not on_loop:
            self._count_quick()

    def failed(self) -> None:
        """A call could not connect, or timed out."""
        self._close("did not answer")

    def _count_quick(self) -> None:
        with self._lock:
            if self.open:  # another thread's call opened it meanwhile
                return
            self._quick += 1
            if self._quick < REOPEN_AFTER:
                return
            self.open = True
        logger.warning(
            "%s answers quickly again (%d calls in a row): calls run on the event "
            "loop's thread again",
            self.where,
            REOPEN_AFTER,
        )

    def _close(self, why: str) -> None:
        with self._lock:
            self._quick = 0
            if not self.open:
                return
            self.open = False
        logger.warning(
            "%s %s: its calls move off the event loop's thread until it answers quickly again",
            self.where,
            why,
        )
