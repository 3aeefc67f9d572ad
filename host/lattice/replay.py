"""The replay guard of the lattice: each invocation token is served once, and only while fresh.

An anti-forgery token proves which host sent an invocation and that nothing in it was
altered, but not that it is new: a token captured on the wire verifies just as well the
second time. Its claims carry what it takes to tell: ``jti``, a random id the sending host
makes per token, and ``iat``, the Unix second it was issued. ``ReplayGuard.check`` refuses a
token issued outside ``[now - window, now + skew]`` and one whose ``jti`` it has seen while
that token could still be accepted; it remembers each ``jti`` only until ``iat + window``,
after which the time check refuses the token anyway. Memory is therefore bounded by the
invocation rate times the window, and by a hard cap (``max_entries``) under a flood.

The receive path calls ``check`` once per incoming invocation, after the token's signature
verified (an unsigned token must not fill the cache): a set lookup and insert, and the
expiry of what fell out of the window; under a microsecond with a million ids held, under
2 % of the signature check (``bench/replay_bench.py``).
"""

from __future__ import annotations

import datetime
import math
from collections import deque
from typing import Final

from wascc.host.lattice.errors import ReplayedInvocation

__all__ = ["MAX_JTI", "ReplayGuard"]

MAX_JTI: Final = 256
"""Longest ``jti`` accepted (characters); hosts write a 36-character UUID."""


class ReplayGuard:
    """Which invocation tokens were already served, within a window of time.

    ``check(jti, iat, now)`` raises ``ReplayedInvocation`` unless ``now - window <= iat <=
    now + skew`` (both ends included) and ``jti`` was not accepted before; otherwise it
    records ``jti`` until ``now`` passes ``iat + window``. ``now`` is the caller's clock
    (``time.time()``) so that tests and the benchmark can run simulated time.

    Expiry is O(1) amortized: ids are kept in a set, and in arrival order in a deque, with
    their ``iat`` in a parallel deque; each check drops ids from the front while their
    ``iat`` is out of the window. Arrival order is nearly ``iat`` order; an id behind one
    issued later waits for it and is kept a little longer, which is safe. (A dict id → iat
    with one deque of ids was measured a third slower with a million ids held: it reads the
    ``iat`` of the oldest id with one more hash lookup, on memory long out of the cache.)

    **Bounded memory, never an open window.** The guard never holds more than
    ``max_entries`` ids. When it is full, the id that arrived first is dropped and the guard
    raises its *floor* to that id's ``iat``: from then on every token issued at or before the
    floor is refused, as if the window had shrunk to what the cache can hold. A flood thus
    costs fresh invocations issued in the same second as those already dropped (they are
    refused, and the sender may retry), never memory, and never lets a replay through: a
    dropped id's token is refused by the floor, every other id is still remembered. The
    floor only rises, as does the lower end of the window: a clock that steps back does not
    make forgotten tokens acceptable again.

    The guard is not thread-safe; the lattice checks tokens on the event loop thread.
    """

    __slots__ = (
        "_floor",
        "_horizon",
        "_iats",
        "_jtis",
        "_max",
        "_seen",
        "_skew",
        "_window",
        "evicted",
        "refused_future",
        "refused_replayed",
        "refused_stale",
        "refused_unusable",
    )

    def __init__(self, window: float, *, skew: float, max_entries: int = 1_000_000) -> None:
        if not window > 0 or math.isinf(window):
            raise ValueError(f"the replay window must be a positive number of seconds: {window}")
        if not skew >= 0 or math.isinf(skew):
            raise ValueError(f"the clock skew must be zero or more seconds: {skew}")
        if max_entries < 1:
            raise ValueError(f"the replay cache must hold at least one id: {max_entries}")
        self._window = float(window)
        self._skew = float(skew)
        self._max = max_entries
        self._seen: set[str] = set()  # the ids of the tokens that could still be accepted
        self._jtis: deque[str] = deque()  # the same ids, in arrival order
        self._iats: deque[float] = deque()  # and the iat of each
        self._horizon = -math.inf  # tokens issued before it are refused (only rises)
        self._floor = -math.inf  # tokens issued at or before it are refused (only rises)
        self.refused_replayed = 0
        self.refused_stale = 0
        self.refused_future = 0
        self.refused_unusable = 0
        self.evicted = 0

    @property
    def window(self) -> float:
        """Seconds a token stays acceptable after its ``iat``."""
        return self._window

    @property
    def skew(self) -> float:
        """Seconds a token's ``iat`` may lie ahead of this host's clock."""
        return self._skew

    @property
    def max_entries(self) -> int:
        """Most ids held at once."""
        return self._max

    def check(self, jti: str, iat: float, now: float) -> None:
        """Accept the token ``(jti, iat)`` at time ``now`` (Unix seconds) and remember its
        ``jti``, or raise ``ReplayedInvocation``: for a token used before, one issued outside
        the window, and one whose claims cannot show it fresh (``jti`` not a non-empty string
        of at most ``MAX_JTI`` characters, ``iat`` not a finite number); ``.reason`` says
        which."""
        if type(jti) is not str or not 0 < len(jti) <= MAX_JTI:
            raise self._unusable(f"the token has no usable jti ({_show(jti)})")
        horizon = now - self._window
        if horizon > self._horizon:
            self._horizon = horizon
        else:  # the clock went back (or stood still): the window does not reopen
            horizon = self._horizon
        try:
            fresh = horizon <= iat <= now + self._skew and iat > self._floor
        except TypeError:  # a string, null, ...: NaN fails the comparison and lands below
            raise self._unusable(f"the token has no usable iat ({_show(iat)})") from None
        if not fresh:
            raise self._untimely(jti, iat, now)
        seen = self._seen
        iats = self._iats
        if iats and iats[0] < horizon:  # out of the window: refused as stale from now on
            jtis = self._jtis
            while iats and iats[0] < horizon:
                iats.popleft()
                seen.remove(jtis.popleft())
        if jti in seen:
            self.refused_replayed += 1
            raise ReplayedInvocation(
                f"refused invocation token jti {jti}: already used (a replay)",
                jti=jti,
                reason="replayed",
            )
        if len(seen) >= self._max:
            self._evict()
        seen.add(jti)
        self._jtis.append(jti)
        iats.append(iat)

    def __len__(self) -> int:
        """Ids held now."""
        return len(self._seen)

    def stats(self) -> dict[str, int | float]:
        """Counters for metrics and ``/inventory``: ``entries`` held, tokens refused as
        ``refused_replayed``, ``refused_stale`` (too old, at or before the floor, or
        older than the window before the clock went back), ``refused_future`` and
        ``refused_unusable`` (no usable jti or iat), ids ``evicted`` from a full cache, and
        the ``floor`` (the ``iat`` at or before which tokens are refused because the cache
        overflowed; 0 while it never has)."""
        return {
            "entries": len(self._seen),
            "refused_replayed": self.refused_replayed,
            "refused_stale": self.refused_stale,
            "refused_future": self.refused_future,
            "refused_unusable": self.refused_unusable,
            "evicted": self.evicted,
            "floor": self._floor if self._floor > -math.inf else 0,
        }

    def __repr__(self) -> str:
        return (
            f"ReplayGuard(window={self._window:g}, skew={self._skew:g}, "
            f"max_entries={self._max}, entries={len(self._seen)})"
        )

    def _evict(self) -> None:
        """Drop the id that arrived first and refuse, from now on, every token issued at
        or before it (the ids that stay are still refused by the set)."""
        self._seen.remove(self._jtis.popleft())
        self._floor = max(self._floor, self._iats.popleft())
        self.evicted += 1

    def _unusable(self, reason: str) -> ReplayedInvocation:
        # A token without a usable id or time cannot be shown fresh: refused like a replay.
        self.refused_unusable += 1
        return ReplayedInvocation(f"refused invocation token: {reason}", reason="unusable")

    def _untimely(self, jti: str, iat: float, now: float) -> ReplayedInvocation:
        """Why a token whose ``iat`` compares is outside the window (the slow path)."""
        if isinstance(iat, float) and not math.isfinite(iat):
            return self._unusable(f"the token has no usable iat ({_show(iat)})")
        if iat > now + self._skew:
            self.refused_future += 1
            return ReplayedInvocation(
                f"refused invocation token jti {jti}: issued {iat - now:.1f} s in the future, "
                f"more than the allowed clock skew of {self._skew:g} s; check the clocks of "
                "this host and the sender (NTP) or raise trust.clock_skew",
                jti=jti,
                reason="future",
            )
        self.refused_stale += 1
        head = f"refused invocation token jti {jti}: issued at {_utc(iat)}"
        if iat < now - self._window:
            return ReplayedInvocation(
                f"{head}, older than the replay window of {self._window:g}s: a replayed or "
                "very late invocation; check the hosts' clocks (NTP) or raise "
                "trust.replay_window",
                jti=jti,
                reason="stale",
            )
        if iat <= self._floor:
            return ReplayedInvocation(
                f"{head}, but the replay cache is full ({self._max} ids); tokens issued at "
                f"or before {_utc(self._floor)} are refused so that no replay can pass (a "
                "flood of invocations; retry)",
                jti=jti,
                reason="overflow",
            )
        return ReplayedInvocation(
            f"{head}, before {_utc(self._horizon)}: this host's clock went back "
            f"{self._horizon - (now - self._window):.1f} s since it passed that time, and "
            "tokens that old stay refused until it catches up",
            jti=jti,
            reason="clock",
        )


def _utc(when: float) -> str:
    """``2026-11-25 11:10:03 UTC`` (milliseconds shown when ``when`` has a fraction)."""
    try:
        moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    except (OverflowError, ValueError, OSError):
        return f"{when!r} (Unix seconds)"
    spec = "%Y-%m-%d %H:%M:%S" if when == int(when) else "%Y-%m-%d %H:%M:%S.%f"
    text = moment.strftime(spec)
    return (text[:-3] if "." in text else text) + " UTC"


def _show(value: object) -> str:
    """A claim value for a message: its type and a bounded repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"
