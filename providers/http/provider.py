"""The HTTP server provider, contract ``wascc:http_server``: one listener per bound actor.

``BindActor`` opens a listener on the binding's ``PORT``; every request on it becomes a
``HandleRequest`` call to that actor. ``RemoveActor`` closes the listener gracefully: it stops
accepting, lets requests in flight finish, then closes the connections.

Start-up: the host process calls ``defer_accepting()`` before it applies a manifest's
bindings and ``start_accepting()`` after the last one. In between, ``BindActor`` binds its
port (a port in use still fails start-up) but connections wait in the kernel's backlog, so no
request reaches an actor whose other bindings (its key-value store, say) are not made yet.
Without those calls (a library ``Host``) a listener accepts as soon as it is bound.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue, ProviderContext
from wascc.providers.codec import HTTP_SERVER
from wascc.providers.http.budget import DEFAULT_MAX_BYTES_IN_FLIGHT, ByteBudget
from wascc.providers.http.listener import Listener
from wascc.providers.http.settings import BINDING_VALUES, HttpSettings

__all__ = ["HttpServerProvider"]

logger = logging.getLogger("wascc.provider.http")


class HttpServerProvider:
    """Serves HTTP for bound actors. ``debug=True`` puts error details in 500 bodies (never
    in production: they may reveal the actor's internals). ``max_bytes_in_flight`` (a
    manifest's ``config``; 256 MiB) bounds the request and response bodies all its listeners
    hold at once: a request whose body does not fit gets 503 with ``Retry-After``."""

    contract_id = HTTP_SERVER
    binding_values: ClassVar[tuple[BindingValue, ...]] = BINDING_VALUES

    def __init__(
        self, *, debug: bool = False, max_bytes_in_flight: int | str = DEFAULT_MAX_BYTES_IN_FLIGHT
    ) -> None:
        self.debug = debug
        self.budget = ByteBudget(_byte_count(max_bytes_in_flight))
        self._host: ProviderContext | None = None
        self._listeners: dict[str, Listener] = {}
        # Binds in progress reserve their port here so two concurrent binds cannot race.
        self._ports: dict[int, str] = {}
        self._deferred = False
        self._past: Counter[tuple[str, str, str]] = Counter()  # of listeners since closed

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

    async def defer_accepting(self) -> None:
        """Bind listeners from now on without accepting on them, until ``start_accepting``."""
        self._deferred = True

    async def start_accepting(self) -> None:
        """Every binding is made: accept on every listener, now and from now on."""
        self._deferred = False
        for listener in self._listeners.values():
            listener.accept()

    @classmethod
    def check_config(cls, config: Mapping[str, object]) -> list[str]:
        """Problems with the provider's ``config`` (``wascc validate`` reports them)."""
        if "max_bytes_in_flight" not in config:
            return []
        try:
            _byte_count(config["max_bytes_in_flight"])
        except ValueError as exc:
            return [f"max_bytes_in_flight: {exc}"]
        return []

    def refusals(self) -> dict[tuple[str, str, str], int]:
        """(actor key, status or "" for a closed connection, reason) → how many times each
        listener refused so, since it opened: malformed requests, timeouts, limits."""
        counts = self._past.copy()
        for listener in self._listeners.values():
            counts.update(_keyed(listener))
        return dict(counts)

    def stats(self) -> dict[str, Any]:
        """Connections and requests per listener, the body budget, and refusals (JSON)."""
        return {
            "bytes_in_flight": self.budget.in_flight,
            "bytes_in_flight_peak": self.budget.peak,
            "max_bytes_in_flight": self.budget.limit,
            "listeners": {
                actor: {
                    "port": listener.port,
                    "connections": listener.connections,
                    "requests_in_flight": listener.in_flight,
                }
                for actor, listener in self._listeners.items()
            },
            "refused": [
                {"actor": actor, "status": status, "reason": reason, "count": count}
                for (actor, status, reason), count in sorted(self.refusals().items())
            ],
        }

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
        listener = Listener(
            self._host, actor, label, settings, budget=self.budget, debug=self.debug
        )
        if settings.port:
            self._ports[settings.port] = label
        try:
            await listener.open()
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
        if not self._deferred:
            listener.accept()
        logger.info(
            "actor %s serves HTTP on http://%s:%d%s",
            label,
            settings.address,
            listener.port,
            " once the host has started" if self._deferred else "",
            extra={"actor_key": actor},
        )

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Close the actor's listener after its requests in flight finish."""
        listener = self._listeners.pop(actor, None)
        if listener is None:
            return
        self._ports.pop(listener.port, None)
        await listener.close()
        self._past.update(_keyed(listener))
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


def _keyed(listener: Listener) -> Counter[tuple[str, str, str]]:
    """A listener's refusals keyed as ``HttpServerProvider.refusals`` gives them."""
    return Counter(
        {
            (listener.actor, str(status) if status else "", reason): count
            for (status, reason), count in listener.refusals.counts.items()
        }
    )


def _byte_count(value: object) -> int:
    """``max_bytes_in_flight`` as an integer; a string too, since ``--expand-env`` makes every
    manifest value one. ``ValueError`` naming the setting if it is not a count >= 1."""
    try:
        count = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"max_bytes_in_flight must be a number of bytes >= 1 (e.g. 268435456 for 256 MiB), "
            f"got {value!r}"
        )
    return count
