"""The HTTP server provider, contract ``wascc:http_server``: one listener per bound actor.

``BindActor`` opens a listener on the binding's ``PORT``; every request on it becomes a
``HandleRequest`` call to that actor. ``RemoveActor`` closes the listener gracefully: it stops
accepting, lets requests in flight finish, then closes the connections.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Mapping

from host.errors import ProviderError
from host.typing import ProviderContext
from providers.codec import HTTP_SERVER
from providers.http.listener import Listener
from providers.http.settings import HttpSettings

__all__ = ["HttpServerProvider"]

logger = logging.getLogger("wascc.provider.http")


class HttpServerProvider:
    """Serves HTTP for bound actors. ``debug=True`` puts error details in 500 bodies (never
    in production: they may reveal the actor's internals)."""

    contract_id = HTTP_SERVER

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug
        self._host: ProviderContext | None = None
        self._listeners: dict[str, Listener] = {}
        # Binds in progress reserve their port here so two concurrent binds cannot race.
        self._ports: dict[int, str] = {}

    async def start(self, host: ProviderContext) -> None:
        """Keep the host, to call actors back."""
        self._host = host

    async def stop(self) -> None:
        """Close every listener that is still open (the host removes bindings first)."""
        listeners = list(self._listeners.values())
        self._listeners.clear()
        self._ports.clear()
        results = await asyncio.gather(*(lst.close() for lst in listeners), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def port_of(self, actor: str) -> int:
        """The port the actor's listener is bound to (useful with ``PORT=0``)."""
        listener = self._listeners.get(actor)
        if listener is None:
            raise ProviderError(f"{HTTP_SERVER}: actor {actor} has no listener")
        return listener.port

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Open the actor's listener; ``ProviderError`` if the port is taken or the values are
        wrong."""
        if self._host is None:
            raise ProviderError(f"{HTTP_SERVER} (binding {binding!r}) was not started")
        label = f"{values.get('__wascc_name') or actor} ({actor})"
        if actor in self._listeners:
            raise ProviderError(
                f"{HTTP_SERVER} (binding {binding!r}) already serves actor {label} on port "
                f"{self._listeners[actor].port}; remove the binding first"
            )
        settings = HttpSettings.from_values(values, actor=label)
        if settings.port and settings.port in self._ports:
            raise ProviderError(
                f"{HTTP_SERVER} cannot bind actor {label} to port {settings.port}: actor "
                f"{self._ports[settings.port]} already listens there; give one of them "
                "another PORT"
            )
        listener = Listener(self._host, actor, label, settings, debug=self.debug)
        if settings.port:
            self._ports[settings.port] = label
        try:
            await listener.start()
        except OSError as exc:
            self._ports.pop(settings.port, None)
            why = (
                "the port is in use (by another program or another binding)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or str(exc)
            )
            raise ProviderError(
                f"{HTTP_SERVER} cannot bind actor {label} to {settings.address}:"
                f"{settings.port}: {why}; choose another PORT or ADDRESS"
            ) from exc
        except BaseException:
            self._ports.pop(settings.port, None)
            raise
        self._ports[listener.port] = label
        self._listeners[actor] = listener
        logger.info(
            "actor %s serves HTTP on http://%s:%d",
            label,
            settings.address,
            listener.port,
            extra={"actor_key": actor},
        )

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Close the actor's listener after its requests in flight finish."""
        listener = self._listeners.pop(actor, None)
        if listener is None:
            return
        self._ports.pop(listener.port, None)
        await listener.close()
        logger.info(
            "actor %s no longer serves HTTP on port %d",
            listener.label,
            listener.port,
            extra={"actor_key": actor},
        )

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Actors do not call the HTTP server; every call is an error reply."""
        return self.handle_sync(actor, binding, operation, payload)

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """The same refusal, on the calling thread: this makes the provider a
        ``SyncProvider``, so an actor bound only to it can run its calls inline."""
        raise ProviderError(
            f"{HTTP_SERVER} has no operation {operation!r} an actor can call; it only calls "
            "actors (HandleRequest)"
        )
