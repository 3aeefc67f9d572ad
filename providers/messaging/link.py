"""One actor's link to NATS: its connection, its subscriptions, and its deliveries in flight.

Every message on a subscribed subject becomes a ``DeliverMessage`` call to the actor, run as
its own task so a slow actor call does not hold up the next message; at most
``MAX_CONCURRENT`` run at once (beyond that the subscription waits, and NATS buffers).
nats-py reconnects by itself and sends the subscriptions again, so a NATS restart costs the
messages published while it was down and nothing else (nats-py keeps what is published while
it reconnects in its send buffer, up to that buffer's limit). The link explains nats-py's
errors in one place (``reason``), for the ``ProviderError`` an actor gets.

An actor's ``Publish`` reaches NATS through ``publish`` (awaited: ``MessagingProvider.handle``)
or ``publish_now`` (not waited for: ``DirectMessaging``, see ``eager``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors

from wascc.host.errors import ProviderError
from wascc.host.natsio import (
    ConnectErrors,
    Outage,
    auth_options,
    describe,
    is_connection_error,
    round_trip,
)
from wascc.host.typing import ProviderContext
from wascc.providers.codec import MESSAGING, DeliverMessage
from wascc.providers.messaging.eager import start_eagerly
from wascc.providers.messaging.settings import MessagingSettings

__all__ = ["Link", "redact"]

logger = logging.getLogger("wascc.provider.messaging")

INITIAL_ATTEMPTS = 2
"""Retries of the first connection before the binding fails (later, it never gives up)."""
GRACE = 5.0
"""Seconds that deliveries in flight get to finish when a binding is removed."""


def redact(url: str) -> str:
    """``url`` without its password or token, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Link:
    """The NATS connection of one (actor, binding); ``label`` names the actor in messages."""

    def __init__(
        self,
        host: ProviderContext,
        actor: str,
        label: str,
        binding: str,
        settings: MessagingSettings,
    ) -> None:
        self.actor = actor
        self.label = label
        self.binding = binding
        self.settings = settings
        self._host = host
        self._nc: Any = None
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Publishes handed over by ``publish_now`` that wait for nats-py's flusher.
        self._flushing: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self.delivered = 0
        # The largest body the server takes (its INFO says; read on each connection), so
        # that a Publish not waited for is refused before it is handed over.
        self.max_payload = 1024 * 1024
        self._errors = ConnectErrors()
        # Reconnection with doubling waits and a few log lines per outage, not one per attempt
        # (its first wait is set by ``open``).
        self._outage = Outage(logger, self.where, f"NATS of actor {label}")

    @property
    def where(self) -> str:
        """The servers, without secrets."""
        return ", ".join(redact(url) for url in self.settings.servers)

    @property
    def is_open(self) -> bool:
        """Whether the binding still has its connection (not removed, ``close`` not begun);
        a plain attribute read, safe on any thread."""
        return self._nc is not None

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up right now (not reconnecting, not closed)."""
        return bool(self._nc is not None and self._nc.is_connected)

    async def open(self, *, connect_timeout: float, reconnect_wait: float) -> None:
        """Connect and subscribe; ``ProviderError`` if NATS cannot be reached."""
        self._outage.wait = (reconnect_wait, max(reconnect_wait, 5.0))
        creds = self.settings.credentials
        try:
            self._nc = await nats.connect(
                servers=list(self.settings.servers),
                name=f"wascc-py {self.label}",
                connect_timeout=connect_timeout,
                reconnect_time_wait=reconnect_wait,
                max_reconnect_attempts=INITIAL_ATTEMPTS,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                **auth_options(creds),
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            where = f"{MESSAGING} (binding {self.binding!r}) cannot bind actor {self.label}"
            # After its retries nats-py raises "no servers"; the reason went to error_cb.
            no_servers = isinstance(exc, nats.errors.NoServersError)
            reason = self._errors.reason(exc) if no_servers else exc
            if "authorization" in str(reason).lower():
                raise ProviderError(
                    f"{where}: NATS at {self.where} refused the credentials "
                    f"({describe(reason)}); check CLIENT_JWT and CLIENT_SEED, or CREDSFILE"
                ) from None
            raise ProviderError(
                f"{where}: NATS at {self.where} cannot be reached ({describe(reason)}); start "
                "nats-server or fix the URL value"
            ) from None
        # Connected once: from now on, reconnect for as long as the binding lives.
        self._nc.options["max_reconnect_attempts"] = -1
        self.max_payload = self._nc.max_payload
        try:
            for subject in self.settings.subscriptions:
                sub = await self._nc.subscribe(
                    subject, queue=self.settings.queue_group, cb=self._on_message
                )
                self._subs.append(sub)
            await round_trip(self._nc, connect_timeout)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self._nc.close()
            raise ProviderError(
                f"{MESSAGING} (binding {self.binding!r}) cannot subscribe actor {self.label} to "
                f"{', '.join(self.settings.subscriptions)}: {describe(exc)}"
            ) from None

    async def close(self) -> None:
        """Unsubscribe, give deliveries in flight ``GRACE`` seconds, then disconnect."""
        nc, self._nc = self._nc, None
        if nc is None:
            return
        for sub in self._subs:
            # Closed or reconnecting: the connection goes away below anyway.
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        if self._subs and nc.is_connected:
            # A round trip, so that once removal returns the server routes nothing to us.
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await round_trip(nc, 1)
        self._subs.clear()
        for task in self._flushing:  # nats-py's flush ends with the connection, below
            task.cancel()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=GRACE)
            for task in late:
                logger.warning("cancelling a message delivery to actor %s", self.label)
                task.cancel()
            if late:
                await asyncio.wait(late)
        try:
            async with asyncio.timeout(GRACE):
                await nc.close()
        except TimeoutError:
            logger.warning("closing the NATS connection of actor %s timed out", self.label)
        except OSError as exc:
            # nats-py writes what it still buffers before it closes; with NATS down (the
            # socket lost) that fails, and those messages are lost with the binding anyway.
            logger.debug("NATS close for actor %s: %s", self.label, describe(exc))
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or current.cancelling():
                raise
            # nats-py lets the CancelledError of a reconnection attempt it cancels escape from
            # close() when NATS is down at that moment; the connection is closed all the same.
            logger.debug("NATS close for actor %s ended a reconnection attempt", self.label)

    # actor → NATS ----------------------------------------------------------------------------

    def reason(self, exc: BaseException) -> str:
        """What went wrong with a call, from nats-py's exception, and what to do about it."""
        if isinstance(exc, nats.errors.NoRespondersError):
            return "nobody subscribes to that subject"
        if isinstance(exc, nats.errors.TimeoutError):
            return "no reply within the timeout"
        if isinstance(exc, nats.errors.BadSubjectError):
            return "the subject is empty or not valid"
        if isinstance(exc, nats.errors.MaxPayloadError):
            return "the body is larger than the server allows"
        if isinstance(exc, nats.errors.OutboundBufferLimitError):
            return (
                f"NATS at {self.where} cannot be reached and the messages kept for it fill the "
                "send buffer; publish again once it is back (start nats-server or fix the URL "
                "value)"
            )
        if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
            return "the NATS connection is closed (the binding was removed); set the binding again"
        return f"NATS at {self.where}: {describe(exc)}"

    @asynccontextmanager
    async def _translated(self, what: str) -> AsyncIterator[None]:
        if self._nc is None:
            raise ProviderError(f"{what}: the binding was removed")
        try:
            yield
        except (nats.errors.Error, OSError) as exc:
            raise ProviderError(f"{what}: {self.reason(exc)}") from None

    async def publish(self, subject: str, body: bytes, reply_to: str, what: str) -> None:
        """Publish ``body`` on ``subject`` (with ``reply_to`` if not empty)."""
        async with self._translated(what):
            await self._nc.publish(subject, body, reply=reply_to)

    def publish_now(self, subject: str, body: bytes, reply_to: str) -> asyncio.Task[None] | None:
        """On the event loop's thread: put the message in nats-py's send buffer now, without
        waiting for it to be written (see ``eager``); nats-py's exception (``reason`` says
        it) if it refuses the message. If its buffer is over its limit nats-py wants to wait
        for its flusher: the task that does is returned (tracked by the link), else ``None``."""
        if self._nc is None:  # close() began: the connection is as good as closed
            raise nats.errors.ConnectionClosedError
        rest = start_eagerly(
            self._nc.publish(subject, body, reply=reply_to), name=f"publish of {self.label}"
        )
        if rest is not None:
            self._flushing.add(rest)
            rest.add_done_callback(self._flushing.discard)
        return rest

    async def request(self, subject: str, body: bytes, timeout: float, what: str) -> bytes:
        """Publish a request and return the first reply's bytes, waiting ``timeout`` seconds."""
        async with self._translated(what):
            message = await self._nc.request(subject, body, timeout=timeout)
            return bytes(message.data)

    # NATS → actor ----------------------------------------------------------------------------

    async def _on_message(self, message: Any) -> None:
        await self._slots.acquire()  # back-pressure: nats-py waits here, NATS buffers
        task = asyncio.create_task(
            self._deliver(message.subject, message.reply or "", bytes(message.data)),
            name=f"deliver {message.subject} to {self.label}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _deliver(self, subject: str, reply_to: str, body: bytes) -> None:
        payload = DeliverMessage(subject=subject, reply_to=reply_to, body=body).encode()
        try:
            await self._host.call_actor(self.actor, "DeliverMessage", payload, origin=MESSAGING)
        except Exception as exc:  # the actor's failure is logged; the subscription goes on
            logger.warning(
                "actor %s failed DeliverMessage on %s: %s",
                self.label,
                subject,
                exc,
                extra={"actor_key": self.actor},
            )
            return
        self.delivered += 1

    async def _on_error(self, exc: Exception) -> None:
        self._errors.record(exc)
        nc = self._nc
        if nc is None:  # a failed first attempt: open() reports it
            return
        if self._outage.down or is_connection_error(exc):  # lost, or an attempt failed
            self._outage.failed(exc, nc)
            return
        logger.warning("NATS (%s) for actor %s: %s", self.where, self.label, describe(exc))

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # not a close we asked for
            self._outage.lost(self._nc)

    async def _on_reconnected(self) -> None:
        if self._nc is not None:  # the server may be another one now
            self.max_payload = self._nc.max_payload
        self._outage.restored()
