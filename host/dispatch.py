"""Routing of a guest's ``__host_call``: to another actor or to a capability provider.

This code runs on the thread that executes the wasm call: the event loop's (an inline actor,
``host.inline``) or a worker's. A binding whose provider answers on the calling thread
(``DirectCalls``, or a ``SyncProvider``) is served right here; anything else is a coroutine
scheduled on the event loop and waited for from this worker thread (an actor that might make
such a call never runs inline: it would wait for its own thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wascc.host.errors import (
    ActorCallNotAllowed,
    ActorNotFound,
    BindingNotFound,
    CapabilityNotClaimed,
    InvocationTimeout,
    NotAuthorized,
    ProviderCallError,
    WasccError,
)
from wascc.host.generations import is_wasmcloud
from wascc.host.handoff import LoopWaiter
from wascc.host.invocation import Invocation, current_invocation
from wascc.host.typing import Authorizer, Middleware, Provider
from wascc.keys.claims import Claims

if TYPE_CHECKING:
    from wascc.host.actor import Actor

__all__ = [
    "DEFAULT_BINDING",
    "ActorHostCalls",
    "Binding",
    "RemoteRouter",
    "Router",
    "SyncHandler",
    "is_actor_namespace",
    "normalize_binding",
]

DEFAULT_BINDING = "default"

SyncHandler = Callable[[str, str, str, bytes], bytes]
"""A ``SyncProvider.handle_sync`` bound method."""

DirectCall = Callable[[str, bytes], bytes]
"""One binding's calls on the calling thread: ``(operation, payload) -> reply``."""


def normalize_binding(name: str) -> str:
    """An empty or whitespace binding name means ``default`` (docs/abi.md)."""
    return name.strip() or DEFAULT_BINDING


def is_actor_namespace(namespace: str) -> bool:
    """A 56-character namespace starting with ``M`` names another actor (docs/abi.md)."""
    return len(namespace) == 56 and namespace.startswith("M")


@dataclass(frozen=True)
class Binding:
    """A link from an actor to a provider: (actor, contract, binding name) with its values."""

    actor: str
    contract_id: str
    name: str
    values: Mapping[str, str]


class RemoteRouter(Protocol):
    """Where the host sends what is not local: the lattice (``host.lattice.Lattice``).

    The host consults it only when the target actor or provider is not on this host, and
    tells it what changed (``changed``) so it can serve the new actors and providers.
    """

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes: ...

    async def call_provider(
        self, actor: str, contract_id: str, binding: str, operation: str, payload: bytes
    ) -> bytes: ...

    async def bind_actor(
        self, actor: str, contract_id: str, binding: str, values: Mapping[str, str]
    ) -> None: ...

    async def remove_actor(self, actor: str, contract_id: str, binding: str) -> None: ...

    async def changed(self, event: str, data: Mapping[str, Any]) -> None: ...

    def resolve_alias(self, alias: str) -> str | None:
        """The actor another host registered under the call alias ``alias``, if any."""
        ...

    async def check_identity(self, claims: Claims) -> None:
        """Raise ``IssuerMismatch`` if another host runs ``claims.subject`` under another
        issuer (an actor's identity is its issuer and its key)."""
        ...


class Router(Protocol):
    """What the dispatcher needs from the host; implemented by ``Host``."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    host_call_timeout: float
    authorizer: Authorizer | None
    middleware: tuple[Middleware, ...]
    remote: RemoteRouter | None

    def find_binding(self, actor: str, contract_id: str, binding: str) -> Binding | None: ...

    def resolve_alias(self, alias: str) -> str | None:
        """The actor registered under the call alias ``alias`` here or in the lattice."""
        ...

    def find_provider(self, contract_id: str, binding: str) -> Provider | None: ...

    def direct_call(self, actor: str, contract_id: str, binding: str) -> DirectCall | None:
        """How the binding answers on the calling thread, if it does."""
        ...

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes: ...


class ActorHostCalls:
    """The waPC host-call handler of one actor generation (live update makes a new one)."""

    def __init__(self, router: Router, actor: Actor) -> None:
        self._router = router
        self._actor = actor
        # A 0.18 actor calls actors by key or alias without claiming them (a 0.14 actor's
        # claims list each actor it calls).
        self._calls_freely = is_wasmcloud(actor.claims)
        self._console = logging.getLogger(f"wascc.actor.{actor.name}")
        self._console_fields = {"actor_key": actor.key, "actor": actor.name}

    def console_log(self, line: str) -> None:
        """``__console_log``: same logger and fields as the logging provider's lines."""
        self._console.info("%s", line, extra=self._console_fields)

    def wasi_output(self, stream: str, data: bytes) -> None:
        """Standard output or error the actor's WASI grants send to its log: one line per
        line written, on the same logger as ``console_log`` (errors as warnings)."""
        level = logging.WARNING if stream == "stderr" else logging.INFO
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self._console.log(level, "%s", line, extra=self._console_fields)

    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        """Authorize and route one call; every refusal is an exception whose text the guest
        receives as its host error."""
        actor = self._actor
        binding = normalize_binding(binding)
        # The namespace is, in this order: an actor's key, a call alias, a linked contract.
        if is_actor_namespace(namespace):
            return self._call_actor(namespace, namespace, operation, payload)
        # No alias has a ":" (hosts refuse such aliases): a contract's calls skip the lookup.
        if ":" not in namespace:
            target = self._router.resolve_alias(namespace)
            if target is not None:
                return self._call_actor(target, namespace, operation, payload)
        contract = namespace
        if contract not in actor.claims.caps and ":" not in contract:
            raise ActorNotFound(
                f"actor {actor.label} called {contract} ({operation}): it is neither an actor "
                "key, the call alias of a running actor, nor a contract the actor is linked "
                "to; start the actor that claims this alias, or correct the name",
                actor=actor.key,
            )
        if contract not in actor.claims.caps:
            raise CapabilityNotClaimed(
                f"actor {actor.label} called {contract} ({operation}, binding {binding!r}) but its "
                f"claims do not list {contract}; re-sign with --cap {contract}"
            )
        if self._router.find_binding(actor.key, contract, binding) is None:
            raise BindingNotFound(
                f"actor {actor.label} has no binding {binding!r} for {contract} ({operation}); "
                f"add a binding for {actor.key} to {contract} with binding {binding!r} "
                "in the manifest"
            )
        provider = self._router.find_provider(contract, binding)
        remote = self._router.remote  # the lattice: a provider on another host
        if provider is None and remote is None:
            raise BindingNotFound(
                f"actor {actor.label} is bound to {contract} (binding {binding!r}) but no such "
                f"provider is loaded; add the capability to the manifest"
            )
        # A sub-call of the actor's invocation, so its log lines keep the request's id
        # (arguments by position: keywords cost more than the rest of the construction).
        invocation = Invocation(
            actor.key,
            f"{contract}/{binding}",
            operation,
            payload,
            None,
            current_invocation.get(),
            actor,
        )
        router = self._router
        if router.authorizer is not None and not router.authorizer.can_invoke(invocation):
            raise NotAuthorized(
                f"the host's authorizer refused {operation} on {contract} (binding {binding!r}) "
                f"for actor {actor.label}"
            )
        # Set before the middleware runs: what it logs names this call, as on the host's paths.
        token = current_invocation.set(invocation)
        try:
            for mw in router.middleware:
                mw.before(invocation)
        except BaseException:
            current_invocation.reset(token)
            raise
        try:
            direct = router.direct_call(actor.key, contract, binding)
            if direct is not None:
                result = direct(operation, payload)
            elif provider is None and remote is not None:
                result = self._wait(
                    remote.call_provider(actor.key, contract, binding, operation, payload),
                    f"{operation} on {contract} (binding {binding!r}) over the lattice",
                )
            else:
                assert provider is not None
                result = self._wait(
                    provider.handle(actor.key, binding, operation, payload),
                    f"{operation} on {contract} (binding {binding!r})",
                )
        except WasccError as exc:
            self._after(invocation, None, exc)
            raise
        except Exception as exc:
            error = ProviderCallError(
                f"provider {contract} (binding {binding!r}) failed {operation} for actor "
                f"{actor.label}: {exc}",
                actor=actor.key,
            )
            self._after(invocation, None, error)
            raise error from exc
        finally:
            current_invocation.reset(token)
        if router.middleware:
            self._after(invocation, result, None)
        return result

    def _call_actor(self, target: str, named: str, operation: str, payload: bytes) -> bytes:
        """An actor → actor call to ``target`` (``named`` by its key or call alias)."""
        actor = self._actor
        if not actor.settings.calls_actors:  # and it may run inline, where waiting deadlocks
            raise ActorCallNotAllowed(
                f"actor {actor.label} may not call actor {named} ({operation}): its manifest "
                "entry sets calls_actors: false; remove that setting to let it call actors"
            )
        if not self._calls_freely and named not in actor.claims.caps:
            raise ActorCallNotAllowed(
                f"actor {actor.label} may not call actor {named} ({operation}): its claims "
                f"do not list it; re-sign with --cap {named}"
            )
        return self._wait(
            self._router.call_actor(target, operation, payload, origin=actor.key),
            f"call {operation} to actor {named}",
        )

    def _after(
        self, invocation: Invocation, result: bytes | None, error: BaseException | None
    ) -> None:
        for mw in self._router.middleware:
            mw.after(invocation, result, error)

    def _wait(self, coro: Coroutine[Any, Any, bytes], what: str) -> bytes:
        """Run ``coro`` on the event loop and block this worker thread until it finishes.

        The cheapest hand-off there is: one ``call_soon_threadsafe`` that starts a task, and
        a plain lock the task's done-callback releases (``run_coroutine_threadsafe`` adds a
        second future chained to the task, costing about twice as much per round trip)."""
        waiter = LoopWaiter(coro)
        loop = self._router.loop
        loop.call_soon_threadsafe(waiter.start, loop, context=contextvars.copy_context())
        if waiter.wait(self._router.host_call_timeout):
            return waiter.result()
        loop.call_soon_threadsafe(waiter.cancel)
        raise InvocationTimeout(
            f"{what} from actor {self._actor.label} did not finish within "
            f"{self._router.host_call_timeout:g}s",
            actor=self._actor.key,
        )
