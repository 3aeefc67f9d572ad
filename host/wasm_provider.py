"""Capability providers written in wasm: a signed module with ``prov: true`` in its claims.

Such a provider is a waPC module like an actor, run with the same limits, trap isolation and
fresh instances (it lives in an ``Actor`` of its own that no one can call directly), and
loaded and bound like a native provider. The conversation (``docs/providers.md``, "Providers
written in wasm"):

- ``GetCapabilityDescriptor`` (empty payload) once at load: its ``id`` is the contract served.
- ``BindActor`` / ``RemoveActor`` with ``{module, values}``, as a native provider gets them.
  A provider's instances do not share memory, so every instance is brought up to date with
  the bindings in force before it serves a call: a fresh instance (the first, one more under
  load, or one replacing a trapped one) receives ``BindActor`` for each of them.
- An actor's call: the actor's operation, with the payload ``{actor, binding, msg}``: the host
  names the caller, so a provider can keep each actor's state apart.
- Its own host calls: ``wascc:logging`` (if it claims it) and calls back to the actors bound to
  it; anything else is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import msgpack

from wascc.host.dispatch import ActorHostCalls, Router, is_actor_namespace
from wascc.host.engine import Engine, Limits
from wascc.host.errors import (
    ActorCallNotAllowed,
    BindingNotFound,
    CapabilityNotClaimed,
    GuestError,
    InvocationError,
    ProviderCallError,
    ProviderError,
)
from wascc.host.typing import ProviderContext
from wascc.host.wapc import WapcInstance
from wascc.providers.codec import LOGGING, CodecError, WriteLogRequest
from wascc.providers.logging_provider import LEVELS

if TYPE_CHECKING:
    from wascc.host.actor import Actor

__all__ = [
    "DESCRIBE",
    "ProviderDescriptor",
    "ProviderHostCalls",
    "WasmProvider",
    "parse_descriptor",
    "read_descriptor",
]

DESCRIBE: Final = "GetCapabilityDescriptor"
_HEALTH: Final = msgpack.packb({"placeholder": True})


@dataclass(frozen=True)
class ProviderDescriptor:
    """A provider's ``GetCapabilityDescriptor`` answer: ``id`` is the contract it serves."""

    id: str
    name: str = ""
    version: str = ""
    revision: int = 0


def parse_descriptor(answer: bytes, where: str) -> ProviderDescriptor:
    """Decode a ``GetCapabilityDescriptor`` answer; ``ProviderError`` if it names no contract."""
    try:
        data = msgpack.unpackb(answer, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProviderError(
            f"{where} answered GetCapabilityDescriptor with something that is not msgpack "
            f"({exc}); give the contract with `contract:` in its capabilities entry"
        ) from None
    contract = data.get("id") if isinstance(data, dict) else None
    if not isinstance(contract, str) or not contract.strip():
        raise ProviderError(
            f"{where} answered GetCapabilityDescriptor without an id (the contract it "
            "serves); give the contract with `contract:` in its capabilities entry"
        )
    name, version, revision = (data.get(k) for k in ("name", "version", "revision"))
    return ProviderDescriptor(
        contract.strip(),
        name if isinstance(name, str) else "",
        version if isinstance(version, str) else "",
        revision if isinstance(revision, int) and not isinstance(revision, bool) else 0,
    )


class Describable(Protocol):
    """Where a module came from (``host.host.ActorSource``), as JSON."""

    def to_json(self) -> dict[str, str]: ...


class _Refuse:
    """The host calls of a module asked for its descriptor before it is loaded: none."""

    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        raise ProviderError("a provider makes no host calls while it describes itself")

    def console_log(self, line: str) -> None:
        pass


_DESCRIBE_FUEL: Final = 1_000_000_000
_DESCRIBE_MEMORY: Final = 64 * 2**20


def read_descriptor(module: bytes, module_hash: str, where: str) -> ProviderDescriptor | None:
    """Ask a provider module which contract it serves, without loading it: a throwaway
    instance with nothing granted, every host call refused and its work bounded by fuel.
    ``None`` if it does not answer ``GetCapabilityDescriptor``; ``WasccError`` if it cannot
    start, traps or answers something that names no contract."""
    engine = Engine()
    engine.start()
    try:
        compiled = engine.compile(module, module_hash, fuel=True, hash_verified=True)
        limits = Limits(memory_bytes=_DESCRIBE_MEMORY, deadline=5.0, fuel=_DESCRIBE_FUEL)
        instance = WapcInstance.create(engine, compiled, limits, _Refuse())
        try:
            answer = instance.invoke(DESCRIBE, b"")
        except GuestError:
            return None
        finally:
            instance.close()
    finally:
        engine.stop()
    return parse_descriptor(answer, where)


class _Bindings:
    """The bindings in force, as the ``BindActor`` payload of each bound actor. Replaced,
    never changed in place: worker threads read it while the event loop moves on."""

    __slots__ = ("payloads",)

    def __init__(self, payloads: Mapping[str, bytes]) -> None:
        self.payloads = dict(payloads)


class WasmProvider:
    """A provider module running under one binding (``host.typing.Provider``).

    Made by ``Host.add_wasm_provider``, which loads the module and asks its descriptor."""

    def __init__(
        self,
        actor: Actor,
        contract_id: str,
        descriptor: ProviderDescriptor,
        source: Describable | None = None,
    ) -> None:
        self.contract_id = contract_id
        self.source = source  # the registry reference it came from, if it did
        self.descriptor = descriptor
        self.actor = actor
        self._bound = _Bindings({})
        self._timeout = 30.0

    @property
    def key(self) -> str:
        """The module's public key (its claims' subject)."""
        return self.actor.key

    @property
    def label(self) -> str:
        """``name (key)``, as messages name it."""
        return self.actor.label

    def bound(self, actor: str) -> bool:
        """Whether ``actor`` is bound to this provider."""
        return actor in self._bound.payloads

    # the instances' side: called on the thread that runs the call -------------------------

    def sync(self, instance: WapcInstance) -> None:
        """Bring ``instance`` up to date with the bindings in force, before it serves a call.
        A refusal raises (the call fails with it); the instance then tries again next time."""
        current = self._bound
        applied = instance.synced
        if applied is current:
            return
        before = applied.payloads if isinstance(applied, _Bindings) else {}
        for actor in before.keys() - current.payloads.keys():
            instance.call("RemoveActor", msgpack.packb({"module": actor, "values": {}}))
        for actor, payload in current.payloads.items():
            if before.get(actor) != payload:
                instance.call("BindActor", payload)
        instance.synced = current

    # Provider --------------------------------------------------------------------------------

    async def start(self, host: ProviderContext) -> None:
        timeout = getattr(host, "host_call_timeout", None)
        if isinstance(timeout, int | float):
            self._timeout = float(timeout)

    async def stop(self) -> None:
        await self.actor.close()

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        before = self._bound
        payload = msgpack.packb({"module": actor, "values": dict(values)}, use_bin_type=True)
        self._bound = _Bindings({**before.payloads, actor: payload})
        try:
            # Any call brings an instance up to date first: the health check carries the
            # BindActor, so a refusal fails the binding here.
            await self._call("HealthRequest", _HEALTH)
        except BaseException:
            if self._bound.payloads.get(actor) == payload:
                remaining = dict(self._bound.payloads)
                remaining.pop(actor, None)
                self._bound = _Bindings(remaining)
            raise

    async def remove_actor(self, actor: str, binding: str) -> None:
        remaining = dict(self._bound.payloads)
        if remaining.pop(actor, None) is None:
            return
        self._bound = _Bindings(remaining)
        try:
            await self._call("HealthRequest", _HEALTH)
        except InvocationError as exc:  # the binding is gone either way
            logging.getLogger("wascc.host.wasm_provider").warning(
                "provider %s did not take RemoveActor for %s: %s", self.label, actor, exc
            )

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        if actor not in self._bound.payloads:
            raise BindingNotFound(
                f"actor {actor} is not bound to provider {self.label} ({self.contract_id}); "
                "add a binding for it in the manifest"
            )
        envelope = msgpack.packb(
            {"actor": actor, "binding": binding, "msg": payload}, use_bin_type=True
        )
        return await self._call(operation, envelope)

    async def _call(self, operation: str, payload: bytes) -> bytes:
        try:
            return await self.actor.invoke(operation, payload, timeout=self._timeout)
        except InvocationError as exc:
            guest_error = getattr(exc, "guest_error", "") or ""
            detail = guest_error if guest_error and type(exc).__name__ == "GuestError" else exc
            raise ProviderCallError(
                f"provider {self.label} ({self.contract_id}) failed {operation}: {detail}",
                actor=self.actor.key,
            ) from None

    def describe(self) -> dict[str, Any]:
        """What ``/inventory`` shows of it beyond contract and binding."""
        described: dict[str, Any] = {
            "module": self.key,
            "name": self.actor.claims.name or "",
            "instances": self.actor.pool.size,
        }
        if self.source is not None:
            described["source"] = self.source.to_json()
        if not self.actor.settings.wasi.empty:
            described["wasi"] = self.actor.settings.wasi.describe()
        return described


class ProviderHostCalls(ActorHostCalls):
    """The host calls a wasm provider may make: log lines (``wascc:logging`` when claimed),
    and calls back to the actors bound to it. Nothing else: a provider's reach is the
    actors that chose it, not the host's other capabilities."""

    def __init__(self, router: Router, actor: Actor) -> None:
        super().__init__(router, actor)
        self.provider: WasmProvider | None = None  # set once the provider is made
        self._console = logging.getLogger(f"wascc.provider.{actor.name}")

    def sync(self, instance: WapcInstance) -> None:
        """``WasmProvider.sync``, once the provider is made (its descriptor is asked before)."""
        if self.provider is not None:
            self.provider.sync(instance)

    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        module = self._actor
        if namespace == LOGGING:
            if LOGGING not in module.claims.caps:
                raise CapabilityNotClaimed(
                    f"provider {module.label} called {LOGGING} but its claims do not list it; "
                    f"re-sign with --provider --cap {LOGGING}"
                )
            return self._write_log(operation, payload)
        provider = self.provider
        if is_actor_namespace(namespace):
            if provider is None or not provider.bound(namespace):
                raise ActorCallNotAllowed(
                    f"provider {module.label} may not call actor {namespace} ({operation}): "
                    "that actor is not bound to it"
                )
            return self._wait(
                self._router.call_actor(namespace, operation, payload, origin=module.key),
                f"call {operation} to actor {namespace}",
            )
        raise CapabilityNotClaimed(
            f"provider {module.label} called {namespace} ({operation}): a wasm provider may "
            f"call only {LOGGING} and the actors bound to it"
        )

    def _write_log(self, operation: str, payload: bytes) -> bytes:
        """``WriteLog``, decoded and leveled as the logging provider does, on the provider's
        own logger (``wascc.provider.<name>``)."""
        if operation != "WriteLog":
            raise ProviderCallError(f"{LOGGING} has no operation {operation!r}; use WriteLog")
        try:
            message = WriteLogRequest.decode(payload)
        except CodecError as exc:
            raise ProviderCallError(f"WriteLog from provider {self._actor.label}: {exc}") from None
        level = LEVELS.get(message.level)
        if level is None:
            raise ProviderCallError(
                f"WriteLog from provider {self._actor.label}: unknown level {message.level}; "
                "use 1 (error), 2 (warn), 3 (info), 4 (debug) or 5 (trace)"
            )
        self._console.log(level, "%s", message.body, extra=self._console_fields)
        return b""
