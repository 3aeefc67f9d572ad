"""Fairness between actors: an actor whose calls keep failing expensively gets less of the
machine, so that healthy actors beside it keep most of their throughput.

A call that ends in a trap (its deadline, its fuel, its memory, any other trap) costs the
machine the time it ran; an endless loop with a 1 s deadline takes a whole core for that
second, and a few of them hold every core of a small host. Each actor keeps a *debt*: the
seconds its failed calls ran, decaying with a time constant of ``DECAY`` seconds. While the
debt exceeds ``PENALTY_AT`` (a single call that ran into a 1 s deadline is enough; it takes
thousands of cheap traps), the actor is *penalized*:

- its calls run only in the host-wide penalty lane (``PenaltyBox``): one penalized call at a
  time on the whole host, whichever actors they belong to, and after a call that ran ``t``
  seconds the lane stays shut for ``t * (1 / SHARE - 1)``: misbehaving actors together keep
  at most ``SHARE`` of one core busy, however many there are;
- after each failed call it gets a cool-down, doubling from ``BACKOFF[0]`` to ``BACKOFF[1]``
  seconds while failures go on; a successful call ends the cool-downs.

A call that cannot run (cooling down, or the lane stays taken) waits up to ``TARPIT``
seconds (never past its own timeout), then runs if the way cleared or is refused with
``ActorPenalized`` (an ``ActorBusy``: 503 with ``Retry-After``). The wait matters as much as
the refusal: clients that retry at once would otherwise turn fast refusals into a flood that
keeps the event loop as busy as the failing calls did.

The penalty lifts once the debt has decayed under half of ``PENALTY_AT``. Application errors
(a guest error such as a 404 the actor answers on purpose) cost nothing here: only traps do.
The state is visible in ``/inventory`` (``health``) and ``/metrics``
(``wascc_actor_penalized``, ``wascc_actor_penalty_refusals_total``). Everything runs on the
event loop thread (the pool's thread), so nothing here takes a lock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Any, Final

from wascc.host.errors import ActorBusy

__all__ = ["ActorHealth", "ActorPenalized", "PenaltyBox"]

logger = logging.getLogger("wascc.host.health")

DECAY: Final = 10.0
PENALTY_AT: Final = 0.5
SHARE: Final = 0.2
BACKOFF: Final = (1.0, 30.0)
# A trap costs more than its call: the instance is thrown away and a new one made (module
# instantiation, _start/wapc_init), the error formatted and logged. Counted as at least this.
MIN_COST: Final = 0.005
TARPIT: Final = 1.0


class ActorPenalized(ActorBusy):
    """The actor's calls keep failing expensively: it is refused for a while (503)."""


class PenaltyBox:
    """The host-wide lane penalized calls must take: one at a time, and shut after each call
    for as long as it keeps the calls' share of one core at ``share``."""

    def __init__(self, share: float = SHARE) -> None:
        self.share = share
        self.in_use = False
        self._open_at = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, wait: float) -> bool:
        """Take the lane, waiting up to ``wait`` seconds for it."""
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic()
            if not self.in_use and now >= self._open_at:
                self.in_use = True
                return True
            left = deadline - now
            if left <= 0:
                return False
            if not self.in_use:  # shut for a while: wait for it to open (or the deadline)
                await asyncio.sleep(min(left, self._open_at - now))
                continue
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(left):
                    await waiter
            except TimeoutError:
                return False
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def leave(self, elapsed: float) -> None:
        """Give the lane back after a call that ran ``elapsed`` seconds."""
        self.in_use = False
        if math.isfinite(elapsed) and elapsed > 0:
            self._open_at = time.monotonic() + elapsed * (1 / self.share - 1)
        while self._waiters:  # one waiter looks again; the others wait for their turn
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class ActorHealth:
    """One actor's debt of failed call time, and its penalty (see the module docstring)."""

    def __init__(self, box: PenaltyBox, label: str, key: str) -> None:
        self.box = box
        self.label = label
        self.key = key
        self._debt = 0.0
        self._at = time.monotonic()
        self.penalized = False
        self._backoff = 0.0
        self._cool_until = 0.0
        self.refused = 0
        self.penalties = 0

    def debt(self, now: float | None = None) -> float:
        """Seconds of failed calls, decayed to ``now``."""
        now = time.monotonic() if now is None else now
        return self._debt * math.exp(-(now - self._at) / DECAY)

    async def admit(self, timeout: float) -> bool:
        """Before a call on a worker thread: ``False`` if it runs normally, ``True`` if it
        runs in the penalty lane (the caller must pass that on to ``done``);
        ``ActorPenalized`` if it is refused after waiting at most ``TARPIT`` seconds."""
        if not self.penalized:
            return False
        now = time.monotonic()
        if self.debt(now) < PENALTY_AT / 2:
            self.penalized, self._backoff = False, 0.0
            logger.info("actor %s gets its full share again: its calls stopped failing", self.label)
            return False
        wait = min(TARPIT, timeout)
        if now < self._cool_until:
            left = self._cool_until - now
            await asyncio.sleep(min(left, wait))
            if left > wait:
                self._refuse(left - wait, "cooling down after its last failed call")
            wait = max(0.0, wait - left)
        if not await self.box.enter(wait):
            self._refuse(BACKOFF[0], "the host's lane for misbehaving actors stayed busy")
        return True

    def _refuse(self, retry_after: float, why: str) -> None:
        self.refused += 1
        error = ActorPenalized(
            f"actor {self.label} is refused for now ({why}): its recent calls kept failing "
            f"(traps, deadlines, fuel, memory; {self.debt():.1f}s of failed calls lately); it "
            "gets its share back once its calls succeed",
            actor=self.key,
        )
        error.retry_after = max(retry_after, 0.1)
        raise error

    def done(self, elapsed: float, *, failed: bool, in_lane: bool) -> None:
        """After a call: ``elapsed`` seconds, ``failed`` if it trapped; ``in_lane`` if
        ``admit`` returned ``True`` for it."""
        if in_lane:
            self.box.leave(elapsed)
        if not failed:
            self._backoff = 0.0
            return
        now = time.monotonic()
        cost = elapsed if math.isfinite(elapsed) else BACKOFF[0]
        self._debt = self.debt(now) + max(cost, MIN_COST)
        self._at = now
        if self.penalized:
            self._backoff = min(max(self._backoff * 2, BACKOFF[0]), BACKOFF[1])
            self._cool_until = now + self._backoff
        elif self._debt > PENALTY_AT:
            self.penalized = True
            self.penalties += 1
            self._backoff = BACKOFF[0]
            self._cool_until = now + self._backoff
            logger.warning(
                "actor %s keeps failing expensively (%.1fs of failed calls lately): its calls "
                "now share one lane with other misbehaving actors and back off after failures",
                self.label,
                self._debt,
            )

    def describe(self) -> dict[str, Any]:
        """For ``/inventory``."""
        now = time.monotonic()
        return {
            "penalized": self.penalized,
            "failed_seconds": round(self.debt(now), 3),
            "cooling_down_s": round(max(0.0, self._cool_until - now), 3) if self.penalized else 0,
            "refused": self.refused,
            "penalties": self.penalties,
        }
