"""The messaging provider, contract ``wascc:messaging``, over NATS with nats-py.

Each bound actor gets its own NATS connection (``Link``), configured by its binding's values
(``settings``): its ``SUBSCRIPTION`` subjects are delivered to it as ``DeliverMessage``, and
it may call ``Publish`` and ``Request``. A malformed call is an error reply to the actor; it
never disturbs the connection or other actors.

The host serves an actor's calls through ``direct`` (``DirectMessaging``: a Publish is
handed to nats-py without waiting), or through ``handle`` (a coroutine on the event loop,
which waits for nats-py); both decode and check a call the same way (``calls``).

A binding with ``PUBLISH_ONLY=true`` (see ``settings``) refuses ``Request`` on both paths.
It exists for speed: a binding that may ``Request`` keeps its actor on worker threads (a
Request needs the event loop for its round trip), while a publish-only one lets the host run
the actor on the event loop's own thread (``DirectMessaging.loop_safe``). With the messenger
actor under ``wascc up``: 0.2x a raw nats-py responder's requests per second by default, 0.56-0.7x
publish-only (``bench/messaging_bench.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import ClassVar

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue, ProviderContext
from wascc.providers.codec import MESSAGING
from wascc.providers.messaging.calls import (
    decode_publish,
    decode_request,
    describe_call,
    no_such_operation,
    publish_only_refusal,
)
from wascc.providers.messaging.direct import DirectMessaging
from wascc.providers.messaging.link import Link
from wascc.providers.messaging.settings import BINDING_VALUES, MessagingSettings

__all__ = ["MessagingProvider"]

logger = logging.getLogger("wascc.provider.messaging")

_EMPTY = b""


class MessagingProvider:
    """Serves ``wascc:messaging`` over NATS.

    ``connect_timeout`` bounds each connection attempt, ``reconnect_wait`` is the pause
    between reconnection attempts, and ``request_timeout`` (seconds) applies to a
    ``Request`` whose ``timeout`` is 0.
    """

    contract_id = MESSAGING
    binding_values: ClassVar[tuple[BindingValue, ...]] = BINDING_VALUES

    def __init__(
        self,
        *,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.5,
        request_timeout: float = 5.0,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.reconnect_wait = reconnect_wait
        self.request_timeout = request_timeout
        self._host: ProviderContext | None = None
        self._links: dict[tuple[str, str], Link] = {}

    async def start(self, host: ProviderContext) -> None:
        """Keep the host, to deliver messages to actors."""
        self._host = host

    async def stop(self) -> None:
        """Close every connection still open (the host removes the bindings first)."""
        links = list(self._links.values())
        self._links.clear()
        results = await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def link_of(self, actor: str, binding: str = "default") -> Link:
        """The actor's NATS link (for tests and tools: ``is_connected``, ``delivered``)."""
        link = self._links.get((actor, binding))
        if link is None:
            raise ProviderError(
                f"{MESSAGING}: actor {actor} is not bound (binding {binding!r}); add a binding "
                "for it to the manifest"
            )
        return link

    @classmethod
    def check_values(
        cls, values: Mapping[str, str], *, actor: str, label: str, binding: str
    ) -> None:
        """``ProviderError`` for values that ``bind_actor`` would refuse before connecting
        (``wascc validate``); a credentials file is read, nothing is contacted."""
        MessagingSettings.from_values(values, label=label, binding=binding)

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Connect the actor to NATS and subscribe it; ``ProviderError`` if that fails."""
        if self._host is None:
            raise ProviderError(f"{MESSAGING} (binding {binding!r}) was not started")
        label = f"{values.get('__wascc_name') or actor} ({actor})"
        if (actor, binding) in self._links:
            raise ProviderError(
                f"{MESSAGING} (binding {binding!r}) already serves actor {label}; remove the "
                "binding first"
            )
        settings = MessagingSettings.from_values(values, label=label, binding=binding)
        link = Link(self._host, actor, label, binding, settings)
        await link.open(connect_timeout=self.connect_timeout, reconnect_wait=self.reconnect_wait)
        if (actor, binding) in self._links:  # bound concurrently while this one connected
            await link.close()
            raise ProviderError(f"{MESSAGING} (binding {binding!r}) already serves actor {label}")
        self._links[(actor, binding)] = link
        logger.info(
            "actor %s is on NATS %s%s",
            label,
            link.where,
            f", subscribed to {', '.join(settings.subscriptions)}"
            + (f" (queue group {settings.queue_group})" if settings.queue_group else "")
            if settings.subscriptions
            else "",
            extra={"actor_key": actor},
        )

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Unsubscribe the actor and close its connection."""
        link = self._links.pop((actor, binding), None)
        if link is not None:
            await link.close()

    def direct(self, actor: str, binding: str) -> DirectMessaging:
        """The binding's calls on the calling thread (``DirectCalls``); called by the host on
        the event loop's thread, once the binding is made."""
        return DirectMessaging(self.link_of(actor, binding), request_timeout=self.request_timeout)

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """``Publish`` (empty reply) or ``Request`` (the reply's raw bytes; refused if the
        binding has ``PUBLISH_ONLY=true``)."""
        link = self.link_of(actor, binding)
        what = describe_call(link.label, binding, operation)
        if operation == "Publish":
            message = decode_publish(payload, what, link.max_payload)
            await link.publish(message.subject, message.body, message.reply_to, what)
            return _EMPTY
        if operation == "Request":
            if link.settings.publish_only:
                raise publish_only_refusal(what)
            request, timeout = decode_request(payload, what, self.request_timeout)
            return await link.request(request.subject, request.body, timeout, what)
        raise no_such_operation(what)
