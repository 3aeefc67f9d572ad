"""When an actor's call may run on the event loop thread instead of a worker thread.

Handing a call to a worker thread and back costs two cross-thread wake-ups, 30-80 µs on our
machines, while a small waPC call costs 5 µs. Running short calls inline removes that cost,
but a call on the loop thread blocks every other task until it returns, so inline is allowed
only when both hold:

- **Nothing the call can do needs the loop.** Every host call the actor could make is either
  refused on the spot or answered on the calling thread: the actor claims no other actor's
  key, and each of its bindings leads to a ``SyncProvider`` or to ``DirectCalls`` that say
  they are ``loop_safe`` right now (a Redis store that turned slow says no until it is quick
  again). A call that waited for the loop while running on it would deadlock. Bindings change
  only on the loop thread, which is busy with the call, so the answer cannot change during
  the call.
- **Its calls are quick.** An actor starts on worker threads; after ``PROMOTE_AFTER`` calls
  in a row that each used under ``QUICK`` seconds of CPU on their worker thread it runs
  inline. CPU time, not wall time: a worker waits for the interpreter lock while the loop
  runs, up to the switch interval at a time, so under load from the first second every
  worker call would look slow by the clock and the actor would never be promoted. An inline
  call slower than ``SLOW`` by the clock, or a trap, sends it back to worker threads, and each
  time it must then earn inline again with twice as many quick calls in a row. A one-off
  pause (a GC, a preempted process on a busy machine) costs a few worker calls; an actor
  that keeps being slow holds the loop at most once per 16, 32, 64, ... calls, each time for
  at most its deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["InlinePolicy"]

logger = logging.getLogger("wascc.host.inline")


class InlinePolicy:
    """Tracks one actor's recent call durations and decides if its next call runs inline."""

    PROMOTE_AFTER = 16
    QUICK = 0.001
    SLOW = 0.005

    MAX_REQUIRED = 1 << 24

    def __init__(self, loop_free: Callable[[], bool]) -> None:
        self.loop_free = loop_free
        self.streak = 0
        self.required = self.PROMOTE_AFTER
        self.inline_calls = 0
        self.demotions = 0

    def allowed(self) -> bool:
        """Whether the next call may run on the loop thread."""
        return self.streak >= self.required and self.loop_free()

    def record_inline(self, elapsed: float, *, failed: bool) -> None:
        """Account for an inline call that took ``elapsed`` seconds (and maybe trapped)."""
        self.inline_calls += 1
        if failed or elapsed > self.SLOW:
            self.streak = 0
            self.demotions += 1
            self.required = min(self.required * 2, self.MAX_REQUIRED)
            logger.info(
                "an inline call took %.1f ms%s; back to worker threads for %d calls",
                elapsed * 1e3,
                " and trapped" if failed else "",
                self.required,
            )

    def record_worker(self, cpu: float, *, failed: bool) -> None:
        """Account for a call that used ``cpu`` seconds of its worker thread's CPU time."""
        if failed or cpu > self.QUICK:
            self.streak = 0
        else:
            self.streak += 1
