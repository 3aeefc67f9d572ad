"""What the host's two NATS users (the lattice, the messaging provider) need of nats-py
beyond its API: credentials, a true round trip, the reason a connection failed, and an
``Outage`` that backs off reconnection attempts and tells of them in a few lines.

nats-py waits ``reconnect_time_wait`` seconds between two attempts to reach a server and
calls ``error_cb`` after each failed one; left alone it retries at one pace for as long as the
server is down and the host logs every attempt. ``Outage`` is fed by the connection's
callbacks and doubles that wait after each failed attempt (up to a cap, with a little jitter
so that hosts which lost the server together do not knock at once), and logs once when the
connection is lost, once per new reason an attempt fails for, once a minute while it lasts,
and once when it is back.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any, Final

import nats.errors

from wascc.keys.creds import UserCredentials

__all__ = [
    "RECONNECT_WAIT",
    "SUMMARY_EVERY",
    "ConnectErrors",
    "LogThrottle",
    "Outage",
    "auth_options",
    "describe",
    "is_connection_error",
    "round_trip",
]

RECONNECT_WAIT: Final = (0.25, 5.0)
"""First and largest wait (seconds) between two reconnection attempts; doubled after each."""
SUMMARY_EVERY: Final = 60.0
"""Seconds between two log lines that say an outage goes on."""
JITTER: Final = 0.1
"""Each wait is made up to this fraction longer, at random."""


def describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for log lines and messages."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def auth_options(credentials: UserCredentials | None) -> dict[str, Any]:
    """``nats.connect`` keywords that present ``credentials`` (none: anonymous)."""
    if credentials is None:
        return {}
    return {"user_jwt_cb": credentials.user_jwt, "signature_cb": credentials.sign_nonce}


class ConnectErrors:
    """What nats-py reported to ``error_cb`` during a connection attempt: after its attempts
    ``connect`` raises only "no servers", the reason went there. A refusal of the credentials
    is kept apart: the socket error that follows it (the server closes the connection) must
    not hide it."""

    def __init__(self) -> None:
        self.last: BaseException | None = None
        self.refusal: BaseException | None = None

    def clear(self) -> None:
        """Forget the errors of an earlier attempt."""
        self.last = self.refusal = None

    def record(self, exc: BaseException) -> None:
        """``error_cb``'s part: note ``exc``."""
        self.last = exc
        if "authorization" in str(exc).lower():
            self.refusal = exc

    def reason(self, raised: BaseException) -> BaseException:
        """Why the attempt failed: the refusal, else the last error, else what was raised."""
        return self.refusal or self.last or raised


async def round_trip(nc: Any, timeout: float) -> None:
    """Wait until the server has processed every command ``nc`` sent before this call.

    nats-py's ``flush()`` alone does not promise it: it writes its PING straight to the socket
    while commands made just before (a SUB, an UNSUB) still wait in its send buffer for the
    next turn of its writer task, so the PONG can come back before the server saw them (seen
    as "no responders" for an actor that had just been added). By the time the first PONG is
    back that buffer has been written, so the second PING follows those commands.
    """
    await nc.flush(timeout=timeout)
    await nc.flush(timeout=timeout)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (given to ``error_cb``) is about the connection itself: the server
    went away or cannot be reached. nats-py reports such an error just before it starts to
    reconnect, and after each failed attempt."""
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | nats.errors.UnexpectedEOF
        | nats.errors.StaleConnectionError
        | nats.errors.ConnectionClosedError
        | nats.errors.NoServersError,
    )


class LogThrottle:
    """At most one log line per key every ``interval`` seconds: ``admit`` says whether the
    next line may go out and how many were held back since the last one."""

    def __init__(
        self,
        interval: float,
        *,
        keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._keys = keys
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key → (logged at, held back since)

    def admit(self, key: str) -> int | None:
        """``None``: hold this line back; else log it, saying how many were held back."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if last is None and len(self._last) >= self._keys:  # forget the quiet keys
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval}
        self._last[key] = (now, 0)
        return last[1] if last is not None else 0


class Outage:
    """The reconnection of one NATS connection to ``url`` (``what`` names it in log lines),
    driven by its callbacks: ``lost`` from ``disconnected_cb``, ``failed`` from ``error_cb``
    for a connection error (``is_connection_error``), ``restored`` from ``reconnected_cb``.
    Each takes the nats-py client, whose ``reconnect_time_wait`` it sets; nats-py reads that
    option before each attempt."""

    def __init__(
        self,
        log: logging.Logger,
        url: str,
        what: str,
        *,
        wait: tuple[float, float] = RECONNECT_WAIT,
        summary_every: float = SUMMARY_EVERY,
        jitter: float = JITTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.url = url
        self.what = what
        self.wait = wait
        self.summary_every = summary_every
        self.jitter = jitter
        self._clock = clock
        self.since: float | None = None  # when the connection was lost; None while up
        self.attempts = 0  # failed attempts in this outage
        self.cause: BaseException | None = None  # the last connection error
        self._next = wait[0]  # the wait after the next failed attempt
        self._waiting = 0.0  # the wait before the coming attempt
        self._told = 0.0  # when the last line about this outage went out
        self._reasons: set[str] = set()  # kinds of failure told in this outage

    @property
    def down(self) -> bool:
        """Whether the connection is lost and not back yet."""
        return self.since is not None

    @property
    def retry_after(self) -> float:
        """Whole seconds a caller may wait before asking again: the wait before the next
        attempt, at least one."""
        return float(max(1, math.ceil(self._waiting))) if self.down else 1.0

    def lost(self, nc: Any) -> None:
        """The connection is gone; nats-py is about to reconnect."""
        if self.down:
            return
        self.since = self._told = self._clock()
        self.attempts = 0
        self._next = self._waiting = self.wait[0]
        self._reasons.clear()
        nc.options["reconnect_time_wait"] = self.wait[0]
        cause = f" ({describe(self.cause)})" if self.cause is not None else ""
        self.log.warning(
            "lost %s at %s%s; reconnecting, waiting %gs between attempts at first, doubling "
            "up to %gs",
            self.what,
            self.url,
            cause,
            self.wait[0],
            self.wait[1],
        )

    def failed(self, exc: BaseException, nc: Any) -> None:
        """A connection error: the cause of a loss to come, or a failed attempt to reconnect
        (the wait before the next one doubles)."""
        self.cause = exc
        if not self.down:
            self.log.debug("%s at %s: %s", self.what, self.url, describe(exc))
            return
        self.attempts += 1
        self._waiting = self._next * (1.0 + self.jitter * random.random())
        nc.options["reconnect_time_wait"] = self._waiting
        self._next = min(self._next * 2, self.wait[1])
        now = self._clock()
        assert self.since is not None
        reason = type(exc).__name__
        if reason not in self._reasons:  # a new reason: say it once
            self._reasons.add(reason)
            self._told = now
            self.log.warning(
                "cannot reconnect to %s at %s yet: %s; still trying",
                self.what,
                self.url,
                describe(exc),
            )
        elif now - self._told >= self.summary_every:
            self._told = now
            self.log.warning(
                "%s at %s still unreachable for %.0f s; %d attempts, the last: %s",
                self.what,
                self.url,
                now - self.since,
                self.attempts,
                describe(exc),
            )
        else:
            self.log.debug("reconnecting to %s at %s: %s", self.what, self.url, describe(exc))

    def restored(self) -> None:
        """The connection is back (nats-py restored its subscriptions)."""
        since, self.since = self.since, None
        down = "" if since is None else f" after {self._clock() - since:.1f} s"
        self.log.info(
            "reconnected to %s at %s%s (%d failed attempts); subscriptions restored",
            self.what,
            self.url,
            down,
            self.attempts,
        )
        self.cause = None
        self.attempts = 0
        self._next, self._waiting = self.wait[0], 0.0
