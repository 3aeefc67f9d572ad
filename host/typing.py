"""The host's extension points: providers, middleware and the authorizer.

Everything a third party implements is a ``Protocol`` here, so a provider package depends on
this module (and the message codec) only, never on the host's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from wascc.host.invocation import Invocation
    from wascc.keys.claims import Claims

__all__ = [
    "REQUIRED",
    "RESERVED_VALUE_PREFIX",
    "Authorizer",
    "BindingValue",
    "DirectCalls",
    "Middleware",
    "Provider",
    "ProviderContext",
    "SyncProvider",
]


REQUIRED: Final = "required"
"""``BindingValue.default`` of a value every binding must give."""

RESERVED_VALUE_PREFIX: Final = "__wascc_"
"""The host's own binding values (``__wascc_issuer``, ``__wascc_capabilities``, ``__wascc_name``,
``__wascc_expires``, ``__wascc_tags``), added to every ``BindActor``: never a provider's."""


@dataclass(frozen=True, slots=True)
class BindingValue:
    """One value a provider reads from a binding's ``values``, as users need to know it.

    ``meaning``: one line. ``default``: what applies without it, as text (``REQUIRED`` if
    the binding must give it). ``allowed``: what it may be, as a phrase that completes "is
    not ..." (``"an integer from 0 to 65535"``, ``"one of memory, sqlite, redis"``); ``""``
    for any text.
    """

    name: str
    meaning: str
    default: str
    allowed: str = ""


class ProviderContext(Protocol):
    """What a provider may ask of the host: calling an actor back (e.g. ``HandleRequest``)."""

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes:
        """Invoke ``operation`` on ``actor`` and return its response bytes."""
        ...


@runtime_checkable
class Provider(Protocol):
    """A native capability provider serving one contract (``wascc:keyvalue``) under one binding.

    The host calls ``start`` once before any binding and ``stop`` once at shutdown, after
    ``remove_actor`` for every binding. ``handle`` serves an actor's ``__host_call``.

    Optional: ``direct(actor, binding) -> DirectCalls | None``, for a provider that can answer
    some bindings on the calling thread (see ``DirectCalls``). The host asks once, right after
    ``bind_actor`` succeeded, and uses the answer for every call of that binding until it
    removes the binding; ``None`` means "through ``handle``". A host call to ``handle`` from an
    actor's worker thread costs two thread switches, and keeps the actor off the event loop's
    thread for good (a call running there could never wait for ``handle``).

    Optional: a classmethod ``check_values(values, *, actor, label, binding)`` that raises
    ``ProviderError`` for binding values ``bind_actor`` would refuse, without opening
    anything; manifests (``wascc validate``, ``wascc up``) then report bad values before
    anything starts, as an entry of the manifest. Likewise a classmethod
    ``check_config(config) -> list[str]`` for the constructor keywords a manifest's
    ``capabilities[i].config`` gives, each problem as ``"key: what is wrong"``.

    Optional: a class attribute ``binding_values: Sequence[BindingValue]`` declaring every
    value ``bind_actor`` reads. Manifests then refuse any other key in a binding's values
    (keys starting with ``RESERVED_VALUE_PREFIX`` excepted) with a did-you-mean, and the
    declaration is what the documentation lists; a provider that declares nothing gets any
    values unchecked. The built-in providers read their values from their declaration.

    Optional: ``async defer_accepting()`` and ``async start_accepting()``, for a provider that
    takes work from outside (an HTTP listener). The host process (``wascc up``) calls
    ``defer_accepting`` on each provider of the manifest before it makes any binding, and
    ``start_accepting`` once the last binding is made. In between, ``bind_actor`` still opens
    what it needs (a port in use fails the start-up) but takes no work, so no request reaches
    an actor whose other bindings (its key-value store, say) are not made yet. A library
    ``Host`` calls neither: bindings take work as soon as they are made.
    """

    contract_id: str

    async def start(self, host: ProviderContext) -> None:
        """Acquire resources; ``host`` is kept to call actors back."""
        ...

    async def stop(self) -> None:
        """Release every resource; called once, after all bindings were removed."""
        ...

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Configure the provider for ``actor`` (``BindActor``); values include ``__wascc_*``."""
        ...

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Forget ``actor`` (``RemoveActor``): close what the binding opened."""
        ...

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Serve one call from ``actor``; raise an exception to give the guest an error."""
        ...


class DirectCalls(Protocol):
    """One binding's calls, answered on the calling thread (``Provider.direct``).

    The host calls ``call`` instead of ``Provider.handle`` for every host call the bound actor
    makes under the binding, on the thread that runs the actor's wasm: the event loop's thread
    when the actor runs inline (``host.inline``), else one of the host's worker threads.
    """

    @property
    def loop_safe(self) -> bool:
        """Whether ``call`` may run on the event loop's thread now, for any operation of the
        contract: it never waits for the event loop (that would deadlock) and is expected to
        be quick (no network round trip to another machine, no fsync). Read before each call
        that would run inline, so it may change: a store that turned slow says ``False``
        until it is quick again, and the actor's calls move to worker threads meanwhile."""
        ...

    def call(self, operation: str, payload: bytes) -> bytes:
        """Serve one call; same contract as ``Provider.handle`` (raise to give the guest an
        error). On a worker thread it may block that thread, within the binding's timeout;
        it must never wait for the event loop when called on the loop's own thread."""
        ...


@runtime_checkable
class SyncProvider(Protocol):
    """Optional fast path: a provider whose work is in memory answers on the calling thread.

    The host uses ``handle_sync`` instead of scheduling ``handle`` on the event loop, which
    saves two thread hops per host call. It must not block and must be thread-safe.
    """

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Serve one call synchronously; same contract as ``Provider.handle``."""
        ...


class Middleware(Protocol):
    """Observes every invocation (actor calls and provider calls), e.g. for metrics."""

    def before(self, invocation: Invocation) -> None:
        """Called before the invocation runs."""
        ...

    def after(
        self,
        invocation: Invocation,
        result: bytes | None,
        error: BaseException | None,
    ) -> None:
        """Called after it ran, with either its result or its error."""
        ...


class Authorizer(Protocol):
    """An extra policy on top of claims and bindings: it can only restrict, never widen."""

    def can_load(self, claims: Claims) -> bool:
        """Whether an actor with these claims may be loaded."""
        ...

    def can_invoke(self, invocation: Invocation) -> bool:
        """Whether this invocation may run."""
        ...
