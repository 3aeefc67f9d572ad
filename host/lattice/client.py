"""The lattice's NATS connection: connect with retries, subscriptions that survive outages,
requests with a timeout, scatter-gather.

The first connection is retried with exponential backoff for as long as the host lives, so a
host started before NATS joins when NATS comes; its failures are logged when the reason is
new and once a minute, not at every attempt. After that nats-py reconnects by itself, with
the waits between its attempts doubling (``host.natsio.Outage``), and sends the
subscriptions again. No request outlives its timeout: one in flight when NATS goes away ends
with ``LatticeTimeout``; one made while NATS is away waits for it (within its timeout) rather
than sitting in nats-py's buffer, and ends with ``LatticeUnavailable`` if it does not come
back in time. nats-py's exceptions are translated into the lattice's in one place
(``_raise_translated``) so callers never see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, NoReturn

import nats
import nats.errors

from wascc.host.lattice.errors import LatticeTimeout, LatticeUnavailable
from wascc.host.natsio import (
    RECONNECT_WAIT,
    SUMMARY_EVERY,
    ConnectErrors,
    LogThrottle,
    Outage,
    auth_options,
    describe,
    is_connection_error,
    round_trip,
)
from wascc.keys.creds import UserCredentials

__all__ = [
    "BACKOFF",
    "NO_RESPONDERS_RETRY_AFTER",
    "RETRY_PAUSE",
    "LatticeClient",
    "Message",
    "describe",
]

logger = logging.getLogger("wascc.lattice")

BACKOFF: Final = (0.25, 5.0)
"""First and largest wait (seconds) between attempts to make the first connection."""
RETRY_PAUSE: Final = (0.02, 0.25)
"""First and largest pause (seconds) before a request that nobody took is sent again."""
LAST_CHANCE: Final = 0.05
"""Seconds before its deadline a request nobody took is sent the last time."""
NO_RESPONDERS_RETRY_AFTER: Final = 1.0
"""``retry_after`` (seconds) of a request that nobody took until its timeout."""
NOISE_INTERVAL: Final = 10.0
"""Seconds between two log lines about the same kind of error from nats-py."""

Message = Any
"""A nats-py ``Msg`` (nats-py ships no type information)."""
Handler = Callable[[Message], Awaitable[None]]


class LatticeClient:
    """One NATS connection. ``subscribe`` may be called before the connection exists: every
    subscription is (re)made as soon as it is connected."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        connect_timeout: float = 2.0,
        credentials: UserCredentials | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.connect_timeout = connect_timeout
        self.credentials = credentials
        self._nc: Any = None
        self._subs: dict[str, Any] = {}  # subject → nats-py subscription
        self._wanted: dict[str, tuple[str, Handler]] = {}  # subject → (queue, handler)
        self._connected = asyncio.Event()  # set while connected (cleared during an outage)
        self._closing = False
        self._errors = ConnectErrors()
        self._outage = Outage(logger, url, "the lattice's NATS")
        self._noise = LogThrottle(NOISE_INTERVAL)
        self._connect_wait = BACKOFF[0]  # the wait before the next first-connection attempt
        # Called after nats-py reconnected (subscriptions already restored): the lattice
        # announces itself again and replays its bindings (another host may have restarted).
        self.on_reconnected: Callable[[], Awaitable[None]] | None = None

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up right now."""
        return bool(self._nc is not None and self._nc.is_connected)

    async def connect_once(self) -> None:
        """One attempt; ``LatticeUnavailable`` with the reason if NATS cannot be reached."""
        self._errors.clear()
        creds = self.credentials
        try:
            nc = await nats.connect(
                servers=[self.url],
                name=self.name,
                connect_timeout=self.connect_timeout,
                reconnect_time_wait=RECONNECT_WAIT[0],  # doubled after each failure (Outage)
                # Two attempts (0 would mean forever): connect() does the backoff itself.
                max_reconnect_attempts=1,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                **auth_options(creds),
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            reason = self._errors.reason(exc)
            if reason is self._errors.refusal:
                given = "the credentials given" if creds else "no credentials"
                raise LatticeUnavailable(
                    f"the lattice's NATS at {self.url} refused the connection with {given} "
                    f"({describe(reason)}); give the host's NATS user credentials with "
                    "--lattice-creds FILE (or lattice.credentials in the manifest) and check "
                    "that the user may use the lattice's subjects"
                ) from None
            hint = "start nats-server or fix --lattice"
            if isinstance(reason, ConnectionResetError | EOFError) and creds is None:
                hint += " (a server that requires credentials also closes the connection: "
                hint += "see --lattice-creds)"
            raise LatticeUnavailable(
                f"the lattice's NATS at {self.url} cannot be reached ({describe(reason)}); {hint}"
            ) from None
        # Connected once: from now on reconnect for as long as the host lives (nats-py reads
        # the option at each disconnection, so setting it now is enough).
        nc.options["max_reconnect_attempts"] = -1
        self._nc = nc
        for subject, (queue, handler) in list(self._wanted.items()):
            await self._subscribe_now(subject, queue, handler)
        await self._settle()
        self._connected.set()
        logger.info("joined the lattice at %s", self.url)

    async def connect(self, *, retry: bool) -> None:
        """Connect; with ``retry`` keep trying with backoff until it works or the task is
        cancelled, logging the first failure, each new reason, and once a minute how long."""
        self._connect_wait = BACKOFF[0]
        started = told = time.monotonic()
        attempts, reason = 0, ""
        while True:
            try:
                await self.connect_once()
                return
            except LatticeUnavailable as exc:
                if not retry:
                    raise
                attempts += 1
                now, wait = time.monotonic(), self._connect_wait
                if str(exc) != reason:
                    reason, told = str(exc), now
                    logger.error("%s; retrying in %.2gs, backing off to %gs", exc, wait, BACKOFF[1])
                elif now - told >= SUMMARY_EVERY:
                    told = now
                    logger.warning(
                        "still cannot join the lattice at %s after %.0f s (%d attempts); retrying",
                        self.url,
                        now - started,
                        attempts,
                    )
                else:
                    logger.debug("%s; retrying in %.2gs", exc, wait)
            await asyncio.sleep(self._connect_wait)
            self._connect_wait = min(self._connect_wait * 2, BACKOFF[1])

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the connection is up, or came up (again) within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        return self._connected.is_set() and not self._closing

    async def close(self) -> None:
        """Flush what was published, then disconnect. Idempotent."""
        self._closing = True
        self._connected.set()  # wakes the requests waiting for a reconnection: they fail
        nc, self._nc = self._nc, None
        self._subs.clear()
        self._wanted.clear()
        if nc is None:
            return
        try:
            async with asyncio.timeout(2.0):
                if nc.is_connected:
                    await round_trip(nc, 1)
                await nc.close()
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            logger.debug("closing the lattice connection: %s", describe(exc))

    # subscriptions ---------------------------------------------------------------------------

    async def subscribe(self, subject: str, handler: Handler, *, queue: str = "") -> None:
        """Serve ``subject`` (in queue group ``queue`` if given); kept across reconnections."""
        if subject in self._wanted:
            return
        self._wanted[subject] = (queue, handler)
        if self._nc is not None:
            await self._subscribe_now(subject, queue, handler)
            await self._settle()

    async def _settle(self, timeout: float | None = None) -> None:
        """Return once the server has seen everything sent so far, so that it routes to new
        subscriptions (a caller that adds an actor and calls it from another host at once
        must find it) and no longer to removed ones. Errors are swallowed: a connection that
        is down gets the subscriptions again when it comes back."""
        if self._nc is not None and self._nc.is_connected:
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await round_trip(self._nc, timeout or self.connect_timeout)

    async def _subscribe_now(self, subject: str, queue: str, handler: Handler) -> None:
        try:
            self._subs[subject] = await self._nc.subscribe(subject, queue=queue, cb=handler)
        except (nats.errors.Error, OSError) as exc:
            logger.error("cannot subscribe to %s: %s", subject, describe(exc))

    async def unsubscribe(self, subject: str) -> None:
        """Stop serving ``subject`` (no-op if not subscribed)."""
        self._wanted.pop(subject, None)
        sub = self._subs.pop(subject, None)
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await sub.unsubscribe()

    async def unsubscribe_all(self, subjects: list[str]) -> None:
        """Unsubscribe each of ``subjects``, then one round trip so the server routes no more
        work to us once this returns."""
        for subject in subjects:
            await self.unsubscribe(subject)
        await self._settle(timeout=1.0)

    def jetstream(self, what: str) -> Any:
        """The connection's JetStream context (``nats.js.JetStreamContext``): the lattice's
        durable store, on the same NATS servers (which must run with ``-js``)."""
        return self._connection(what).jetstream()

    # requests ---------------------------------------------------------------------------------

    def _connection(self, what: str) -> Any:
        nc = self._nc
        if nc is None or self._closing:
            raise _unavailable(
                f"{what}: not connected to the lattice ({self.url}) yet",
                max(1.0, self._connect_wait),
            )
        return nc

    def _raise_translated(self, exc: Exception, what: str, timeout: float) -> NoReturn:
        """Raise the lattice's error for a nats-py (or socket) one; anything else as it is."""
        if isinstance(exc, nats.errors.NoRespondersError):
            raise _unavailable(
                f"{what}: no host in the lattice serves it", NO_RESPONDERS_RETRY_AFTER
            ) from None
        if isinstance(exc, nats.errors.TimeoutError | TimeoutError):
            raise LatticeTimeout(f"{what}: no answer within {timeout:g}s") from None
        if isinstance(exc, nats.errors.Error | OSError):
            raise _unavailable(
                f"{what}: NATS at {self.url}: {describe(exc)}", self._outage.retry_after
            ) from None
        raise exc

    @asynccontextmanager
    async def _translated(self, what: str, timeout: float) -> AsyncIterator[Any]:
        nc = self._connection(what)
        try:
            yield nc
        except Exception as exc:
            self._raise_translated(exc, what, timeout)

    # request and publish run per invocation: no context manager (it costs as much as the
    # rest of the call's bookkeeping).

    async def request(
        self, subject: str, data: bytes, *, timeout: float, what: str, retry: bool = False
    ) -> bytes:
        """One request/reply, within ``timeout`` seconds: ``LatticeTimeout`` if no answer
        came, ``LatticeUnavailable`` if NATS stayed away or nobody serves ``subject``.

        With ``retry``, a request that nobody took ("no responders": the hosts that serve
        the subject may be resubscribing after a NATS restart, or starting) is sent again
        after a short pause, doubling (``RETRY_PAUSE``), for as long as ``timeout`` allows.
        Only for messages that may be sent twice: nobody received the first."""
        nc = self._connection(what)
        deadline = time.monotonic() + timeout
        left = timeout
        if not nc.is_connected:  # an outage: wait for NATS rather than in nats-py's buffer
            nc = await self._reconnection(what, deadline)
            left = max(deadline - time.monotonic(), 0.001)
        try:
            reply = await nc.request(subject, data, timeout=left)
        except nats.errors.NoRespondersError as exc:
            if not retry:
                self._raise_translated(exc, what, timeout)
            reply = await self._request_again(subject, data, deadline, what, timeout)
        except Exception as exc:
            self._raise_translated(exc, what, timeout)
        return bytes(reply.data)

    async def _reconnection(self, what: str, deadline: float) -> Any:
        """The connection, once nats-py is connected again; ``LatticeUnavailable`` if it is
        not by ``deadline``."""
        nc = self._connection(what)
        while not nc.is_connected:
            left = deadline - time.monotonic()
            if left <= 0:
                since = self._outage.since
                lost = f" for {time.monotonic() - since:.1f}s" if since is not None else ""
                raise _unavailable(
                    f"{what}: the lattice's NATS at {self.url} is unreachable{lost}; reconnecting",
                    self._outage.retry_after,
                )
            if self._connected.is_set():  # nats-py has not called disconnected_cb yet
                await asyncio.sleep(min(0.01, left))
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._connected.wait()
            nc = self._connection(what)
        return nc

    async def _request_again(
        self, subject: str, data: bytes, deadline: float, what: str, timeout: float
    ) -> Any:
        pause = RETRY_PAUSE[0]
        while (left := deadline - time.monotonic()) > LAST_CHANCE:
            await asyncio.sleep(min(pause, left - LAST_CHANCE))  # the last try: at the end
            pause = min(pause * 2, RETRY_PAUSE[1])
            nc = await self._reconnection(what, deadline)
            try:
                left = max(deadline - time.monotonic(), 0.001)
                return await nc.request(subject, data, timeout=left)
            except nats.errors.NoRespondersError:
                continue
            except Exception as exc:
                self._raise_translated(exc, what, timeout)
        raise _unavailable(
            f"{what}: no host in the lattice serves it (asked for {timeout:g}s)",
            NO_RESPONDERS_RETRY_AFTER,
        )

    async def publish(self, subject: str, data: bytes, *, what: str, reply: str = "") -> None:
        """Fire and forget (buffered by nats-py while reconnecting)."""
        nc = self._connection(what)
        try:
            await nc.publish(subject, data, reply=reply)
        except Exception as exc:
            self._raise_translated(exc, what, 0)

    async def gather(self, subject: str, data: bytes, *, timeout: float, what: str) -> list[bytes]:
        """Scatter-gather: publish once, collect every reply that arrives within ``timeout``."""
        async with self._translated(what, timeout) as nc:
            inbox = nc.new_inbox()
            replies: list[bytes] = []
            sub = await nc.subscribe(inbox)
            try:
                await nc.publish(subject, data, reply=inbox)
                deadline = time.monotonic() + timeout
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        msg = await sub.next_msg(timeout=left)
                    except nats.errors.TimeoutError:
                        break
                    replies.append(bytes(msg.data))
            finally:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()
            return replies

    async def flush(self, timeout: float = 1.0) -> None:
        """One round trip: the server has seen everything sent so far."""
        async with self._translated("flush", timeout) as nc:
            await round_trip(nc, timeout)

    # callbacks --------------------------------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        self._errors.record(exc)
        nc = self._nc
        if nc is None or self._closing:  # a failed first attempt: connect() reports it
            return
        if self._outage.down or is_connection_error(exc):  # lost, or an attempt failed
            self._outage.failed(exc, nc)
            return
        held = self._noise.admit(type(exc).__name__)
        if held is not None:
            more = f" ({held} more like it since the last such line)" if held else ""
            logger.warning("lattice NATS (%s): %s%s", self.url, describe(exc), more)

    async def _on_disconnected(self) -> None:
        if self._nc is not None and not self._closing:
            self._connected.clear()
            self._outage.lost(self._nc)

    async def _on_reconnected(self) -> None:
        self._outage.restored()
        self._connected.set()
        if self.on_reconnected is not None and not self._closing:
            try:
                await self.on_reconnected()
            except Exception:  # a bug: logged in full; the connection lives on
                logger.exception("after reconnecting to %s", self.url)


def _unavailable(message: str, retry_after: float) -> LatticeUnavailable:
    error = LatticeUnavailable(message)
    error.retry_after = retry_after
    return error
