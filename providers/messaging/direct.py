"""One messaging binding's calls on the calling thread (``Provider.direct``): a ``Publish``
that does not wait, and a ``Request`` handed to the event loop.

Where the actor runs: a ``Request`` needs the event loop for its round trip, so on the loop's
own thread it would deadlock; the host cannot know beforehand whether an actor will call it,
so by default the binding is not ``loop_safe`` and the actor's calls run on worker threads. A
binding with ``PUBLISH_ONLY=true`` refuses ``Request`` at once, on every thread, and is
``loop_safe`` while it is open: the host may then run the actor inline (``host.inline``),
saving two thread switches per call. With the messenger actor under ``wascc up`` that is
0.56-0.7x a raw nats-py responder's requests per second instead of 0.2x
(``bench/messaging_bench.py``).

``Publish`` is decoded and checked on the calling thread (``calls``), then written into
nats-py's send buffer without waiting for a flush or a round trip: at once on the event
loop's thread (``Link.publish_now``), or, from a worker thread, in a callback scheduled on
the loop (nats-py's client is not thread-safe), and the call returns. The loop runs those
callbacks in the order they were scheduled, so one actor's messages reach NATS in call order.
A Publish that nats-py refuses on the loop's thread is that call's error; one it refuses after
the call returned (NATS unreachable and the send buffer full, the connection closed meanwhile)
is logged and becomes the error of the binding's next call.

Worker threads are held back when the loop falls behind: past ``MAX_QUEUED`` bytes handed
over and not yet in nats-py's buffer, or while nats-py waits for its flusher (its buffer over
its limit, where nats-py's own ``publish`` waits too), a Publish waits, for at most the
provider's ``request_timeout``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Coroutine
from functools import partial
from typing import Any, Final

from wascc.host.errors import ProviderError
from wascc.host.handoff import LoopWaiter
from wascc.host.natsio import LogThrottle
from wascc.providers.codec import PublishMessage
from wascc.providers.messaging.calls import (
    decode_publish,
    decode_request,
    describe_call,
    no_such_operation,
    publish_only_refusal,
)
from wascc.providers.messaging.link import Link

__all__ = ["MAX_QUEUED", "DirectMessaging"]

logger = logging.getLogger("wascc.provider.messaging")

MAX_QUEUED: Final = 2 * 1024 * 1024
"""Bytes of Publish bodies that worker threads may have handed to the loop and not yet seen in
nats-py's send buffer (nats-py's own buffer limit, by default)."""
REQUEST_GRACE: Final = 2.0
"""Seconds a worker waits for a Request beyond its own timeout (nats-py enforces that one)."""
NOISE_INTERVAL: Final = 10.0
"""Seconds between two log lines about Publish calls that failed for the same reason."""

_EMPTY = b""


class DirectMessaging:
    """``DirectCalls`` of one messaging binding; made by ``MessagingProvider.direct`` on the
    event loop's thread, which it remembers."""

    def __init__(self, link: Link, *, request_timeout: float) -> None:
        self._link = link
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._request_timeout = request_timeout
        self._publish_only = link.settings.publish_only
        self._what = {
            op: describe_call(link.label, link.binding, op) for op in ("Publish", "Request")
        }
        self._noise = LogThrottle(NOISE_INTERVAL)
        self._state = threading.Condition(threading.Lock())  # guards the four below
        self._queued = 0  # bytes handed to the loop, not yet in nats-py's buffer
        self._behind = 0  # Publish calls for which nats-py waits for its flusher
        self._failure: str | None = None  # the first failed Publish not reported yet
        self._more_failures = 0  # failed after it, not reported either

    @property
    def loop_safe(self) -> bool:
        """By default False: the contract has ``Request``, which needs the event loop for its
        round trip, and the host cannot know before an actor runs which operation it will
        call, so the actor runs on worker threads, where a Publish does not wait (only a
        Request does). True with ``PUBLISH_ONLY=true`` while the binding is open: a Request
        is then refused at once and a Publish on the loop's thread only fills nats-py's
        buffer (``_publish_here``), so nothing waits for the loop."""
        return self._publish_only and self._link.is_open

    def call(self, operation: str, payload: bytes) -> bytes:
        """Serve one call (see the module docstring); ``ProviderError`` for a bad call, a
        Request on a publish-only binding, or for a Publish of this binding that failed after
        it had returned."""
        what = self._what.get(operation) or describe_call(
            self._link.label, self._link.binding, operation
        )
        if operation == "Request" and self._publish_only:
            # Before a kept Publish failure: that one stays for a call that may be made again.
            raise publish_only_refusal(what)
        if self._failure is not None:
            self._report(what)
        if operation == "Publish":
            message = decode_publish(payload, what, self._link.max_payload)
            if not self._link.is_open:
                raise ProviderError(f"{what}: the binding was removed")
            if threading.get_ident() == self._loop_thread:
                self._publish_here(message, what)
            else:
                self._hand_over(message, what)
            return _EMPTY
        if operation == "Request":
            if threading.get_ident() == self._loop_thread:
                raise ProviderError(
                    f"{what}: a Request cannot be answered on the event loop's thread (its "
                    "round trip needs that loop); the host must run this actor on a worker "
                    "thread, as this binding's loop_safe (False) asks"
                )
            request, timeout = decode_request(payload, what, self._request_timeout)
            coro = self._link.request(request.subject, request.body, timeout, what)
            return self._wait(coro, timeout + REQUEST_GRACE, what)
        raise no_such_operation(what)

    # Publish ---------------------------------------------------------------------------------

    def _publish_here(self, message: PublishMessage, what: str) -> None:
        """On the loop's thread: publish now (a refusal is this call's error), unless worker
        threads' Publish calls are still queued for the loop (they go first)."""
        if not self._queued:
            try:
                self._publish(message, what)
            except Exception as exc:  # nats-py refused it: say why, as handle would
                raise ProviderError(f"{what}: {self._link.reason(exc)}") from None
            return
        with self._state:
            self._queued += len(message.body)
        self._loop.call_soon(self._publish_queued, message, what)

    def _hand_over(self, message: PublishMessage, what: str) -> None:
        """On a worker thread: schedule the publish on the loop, after those scheduled before."""
        size = len(message.body)
        with self._state:
            if self._behind or (self._queued and self._queued + size > MAX_QUEUED):
                self._wait_for_loop(size, what)
            self._queued += size
        try:
            self._loop.call_soon_threadsafe(
                self._publish_queued, message, what, context=contextvars.copy_context()
            )
        except RuntimeError:  # the loop is closed
            with self._state:
                self._queued -= size
            raise ProviderError(f"{what}: the host is stopping; nothing is published") from None

    def _wait_for_loop(self, size: int, what: str) -> None:
        """Hold a worker thread (``_state`` held) until the loop caught up with this binding's
        Publish calls; ``ProviderError`` after ``request_timeout`` seconds."""

        def caught_up() -> bool:
            return not self._behind and (not self._queued or self._queued + size <= MAX_QUEUED)

        if not self._state.wait_for(caught_up, timeout=self._request_timeout):
            raise ProviderError(
                f"{what}: NATS at {self._link.where} takes messages more slowly than this "
                f"actor publishes them ({self._queued} bytes still to hand over after "
                f"{self._request_timeout:g}s); publish less, or check the network to NATS"
            )

    def _publish_queued(self, message: PublishMessage, what: str) -> None:
        """On the loop: a Publish handed over earlier; a refusal is kept for the next call."""
        try:
            self._publish(message, what)
        except Exception as exc:  # it must reach the actor, not vanish
            self._failed(message.subject, exc, what)
        finally:
            with self._state:
                self._queued -= len(message.body)
                self._state.notify_all()

    def _publish(self, message: PublishMessage, what: str) -> None:
        """On the loop: write the message into nats-py's buffer (nats-py's exception if it
        refuses it); if nats-py must wait for its flusher, hold worker threads meanwhile."""
        rest = self._link.publish_now(message.subject, message.body, message.reply_to)
        if rest is not None:
            with self._state:
                self._behind += 1
            rest.add_done_callback(partial(self._flushed, message.subject, what))

    def _flushed(self, subject: str, what: str, task: asyncio.Task[None]) -> None:
        """nats-py finished a Publish that waited for its flusher."""
        with self._state:
            self._behind -= 1
            self._state.notify_all()
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._failed(subject, exc, what)

    def _failed(self, subject: str, exc: BaseException, what: str) -> None:
        """Log a Publish that failed after it returned (a few lines per reason), and keep it
        for the binding's next call."""
        reason = self._link.reason(exc)
        with self._state:
            if self._failure is None:
                self._failure = f"an earlier Publish on subject {subject!r} was not sent: {reason}"
            else:
                self._more_failures += 1
        held = self._noise.admit(type(exc).__name__)
        if held is not None:
            logger.warning(
                "%s: a Publish on %s was not sent: %s%s",
                what,
                subject,
                reason,
                f" ({held} more like it since the last such line)" if held else "",
                extra={"actor_key": self._link.actor},
            )

    def _report(self, what: str) -> None:
        """Raise the kept failure (once) as this call's error."""
        with self._state:
            failure, more = self._failure, self._more_failures
            self._failure, self._more_failures = None, 0
        if failure is None:  # another thread reported it meanwhile
            return
        also = f" ({more} later Publish calls failed too)" if more else ""
        raise ProviderError(f"{what}: {failure}{also}; this call was not made, make it again")

    # Request ---------------------------------------------------------------------------------

    def _wait(self, coro: Coroutine[Any, Any, bytes], timeout: float, what: str) -> bytes:
        """Run ``coro`` on the loop and block this worker thread until it is done."""
        waiter = LoopWaiter(coro)
        try:
            self._loop.call_soon_threadsafe(
                waiter.start, self._loop, context=contextvars.copy_context()
            )
        except RuntimeError:  # the loop is closed
            coro.close()
            raise ProviderError(f"{what}: the host is stopping; nothing is sent") from None
        if waiter.wait(timeout):
            try:
                return waiter.result()
            except asyncio.CancelledError:  # the loop cancelled it: it is shutting down
                raise ProviderError(f"{what}: the host is stopping; no reply") from None
        self._loop.call_soon_threadsafe(waiter.cancel)
        raise ProviderError(
            f"{what}: the event loop did not finish it within {timeout:g}s; the host is "
            "overloaded, make fewer calls at once"
        )
