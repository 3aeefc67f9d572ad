"""The host: loads actors, holds providers and bindings, and routes invocations.

``Host`` is a library object with an explicit lifecycle (``start``/``stop`` or ``async with``);
the CLI owns signals and the process. Teardown runs in reverse order of start-up and collects
errors instead of stopping at the first one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from wascc.host.actor import Actor, ActorSettings
from wascc.host.capabilities import BUILTIN_CONTRACTS, contract_hint
from wascc.host.checkup import HEALTH_REQUEST, HealthReport, judge
from wascc.host.dispatch import (
    DEFAULT_BINDING,
    ActorHostCalls,
    Binding,
    DirectCall,
    RemoteRouter,
    SyncHandler,
    is_actor_namespace,
    normalize_binding,
)
from wascc.host.engine import Engine, Limits
from wascc.host.errors import (
    ActorAlreadyRunning,
    ActorBusy,
    ActorNotFound,
    CapabilityNotClaimed,
    GuestError,
    HostError,
    ModuleLoadError,
    NotAnActor,
    NotAProvider,
    NotAuthorized,
    ProviderError,
    ProviderNotFound,
    RevisionNotNewer,
    WasccError,
)
from wascc.host.events import EventLog
from wascc.host.generations import (
    HOST_VALUE_PREFIX,
    TRANSLATED_ORIGINS,
    TWIN_OF,
    TWINS,
    TwinProvider,
    bind_values,
    is_wasmcloud,
    to_actor,
)
from wascc.host.health import PenaltyBox
from wascc.host.invocation import SYSTEM_ORIGIN, Invocation, current_invocation
from wascc.host.trust.policy import TrustPolicy, check_update
from wascc.host.typing import (
    RESERVED_VALUE_PREFIX,
    Authorizer,
    DirectCalls,
    Middleware,
    Provider,
    SyncProvider,
)
from wascc.host.wapc import WapcInstance
from wascc.host.wasm_provider import (
    DESCRIBE,
    ProviderDescriptor,
    ProviderHostCalls,
    WasmProvider,
    parse_descriptor,
)
from wascc.host.workers import WorkerThreads
from wascc.keys.claims import Claims, validate_module

__all__ = ["ActorSource", "Host"]

logger = logging.getLogger("wascc.host")

EXTRAS = "wascc:extras"


@dataclass(frozen=True)
class ActorSource:
    """Where an actor's module came from when not from a file: its registry ``reference``
    (as given) and the manifest ``digest`` it resolved to, shown by ``inventory()``."""

    reference: str
    digest: str

    def to_json(self) -> dict[str, str]:
        """``{"reference": ..., "digest": ...}``."""
        return {"reference": self.reference, "digest": self.digest}


class Host:
    """A waSCC-style host. Cheap to construct; ``start()`` does the work.

    ``fast=False`` selects wasmtime-py's public API instead of the unchecked C entry points
    (same behaviour, slower; kept as a fallback and tested).
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        default_limits: Limits | None = None,
        trusted_issuers: Iterable[str] | None = None,
        trust: TrustPolicy | None = None,
        authorizer: Authorizer | None = None,
        middleware: Iterable[Middleware] = (),
        call_timeout: float = 30.0,
        host_call_timeout: float = 30.0,
        fast: bool = True,
        labels: Mapping[str, str] | None = None,
        max_workers: int | None = None,
        inline: bool = True,
        health_interval: float = 30.0,
    ) -> None:
        self.engine = Engine(cache_dir=cache_dir)
        self.default_limits = default_limits or Limits()
        if trust is None:
            trust = TrustPolicy.build(issuers=trusted_issuers)
        elif trusted_issuers is not None:
            raise HostError("give trusted issuers in the TrustPolicy, not as trusted_issuers too")
        self.trust = trust
        self.authorizer = authorizer
        self.middleware = tuple(middleware)
        self.call_timeout = call_timeout
        self.host_call_timeout = host_call_timeout
        self.fast = fast
        self.labels = dict(labels or {})
        self._max_workers = max_workers or 256
        self._actors: dict[str, Actor] = {}
        # Call alias -> the key of the running actor that registered it (first claimant).
        self._aliases: dict[str, str] = {}
        # Actor key -> (hash of the module it came with, its source): a live update brings
        # another module, whose source the host does not know, so the hash must still match.
        self._sources: dict[str, tuple[str, ActorSource]] = {}
        self._providers: dict[tuple[str, str], Provider] = {}
        # (wasmcloud:* contract, binding) of each TwinProvider -> (its base's contract, binding).
        self._twins: dict[tuple[str, str], tuple[str, str]] = {}
        # handle_sync of each provider that has one, found once: isinstance() on a
        # runtime-checkable Protocol costs microseconds, too much for every host call.
        self._sync_handlers: dict[tuple[str, str], SyncHandler] = {}
        self._bindings: dict[tuple[str, str, str], Binding] = {}
        # Bindings whose provider answers on the calling thread (``Provider.direct``).
        self._direct: dict[tuple[str, str, str], DirectCalls] = {}
        # Bindings another host of the lattice made for a local actor (``record_binding``).
        self._recorded: set[tuple[str, str, str]] = set()
        self._workers: WorkerThreads | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._retiring: set[asyncio.Task[None]] = set()
        self.inline = inline
        # The lane misbehaving actors share (``host.health``), whichever actor they are.
        self.penalty_box = PenaltyBox()
        # Bumped whenever a binding or provider changes: actors cache their "loop-free" answer.
        self._topology = 0
        # The lattice, when the host joined one: consulted only for targets not on this host.
        self.remote: RemoteRouter | None = None
        # What changed lately (the lattice's events, traps): the dashboard follows it.
        self.events = EventLog()
        # Seconds between health checks of every actor (``host.checkup``); 0: none.
        self.health_interval = health_interval
        self._checkups: dict[str, HealthReport] = {}
        self._checking: asyncio.Task[None] | None = None

    # lifecycle -----------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the host was started on (worker threads schedule work on it)."""
        if self._loop is None:
            raise HostError("the host is not started; use `async with Host()` or `await start()`")
        return self._loop

    async def start(self) -> None:
        """Start the engine's epoch ticker and the worker threads. Idempotent."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._workers = WorkerThreads(self._loop, max_threads=self._max_workers)
        self.engine.start()
        self._started = True
        if self.health_interval > 0:
            self._checking = asyncio.create_task(self._check_periodically(), name="health checks")
        logger.info("host started")

    async def stop(self) -> None:
        """Remove bindings, stop providers, close actors, stop the engine. Idempotent; every
        step runs even if an earlier one failed, and the first error is raised at the end."""
        if not self._started:
            return
        self._started = False
        errors: list[BaseException] = []
        if self._checking is not None:
            self._checking.cancel()
            await asyncio.gather(self._checking, return_exceptions=True)
            self._checking = None
        for actor_key, contract, name in list(self._bindings):
            try:
                await self.remove_binding(actor_key, contract, name)
            except Exception as exc:  # keep tearing down; reported below
                errors.append(exc)
        for contract, name in list(self._providers):
            if (contract, name) not in self._providers:  # a twin, gone with its base
                continue
            try:
                await self.remove_provider(contract, name)
            except Exception as exc:
                errors.append(exc)
        for key in list(self._actors):
            actor = self._actors.pop(key)
            await actor.close()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        self.engine.stop()
        if self._workers is not None:
            self._workers.stop()
            self._workers = None
        logger.info("host stopped")
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # actors --------------------------------------------------------------------------------

    @property
    def trusted_issuers(self) -> frozenset[str] | None:
        """The accounts that may sign what this host runs (``None``: any)."""
        return self.trust.issuers

    def _validate(self, module: bytes, path: str | None) -> Claims:
        claims = validate_module(module, path=path, trusted_issuers=self.trust.issuers)
        if claims.provider:
            raise NotAnActor(path or _label(claims))
        if self.authorizer is not None and not self.authorizer.can_load(claims):
            raise NotAuthorized(f"the host's authorizer refused to load actor {_label(claims)}")
        return claims

    async def _build(
        self,
        module: bytes,
        claims: Claims,
        path: str | None,
        settings: ActorSettings,
        *,
        provider: bool = False,
    ) -> Actor:
        """Compile and start ``module``: an actor, or (``provider``) a wasm provider's
        module, whose host calls ``ProviderHostCalls`` serves."""
        if not self._started or self._workers is None:
            raise HostError("the host is not started; use `async with Host()` or `await start()`")
        limits = settings.limits or self.default_limits
        try:
            compiled = await asyncio.to_thread(
                self.engine.compile,
                module,
                claims.hash,
                fuel=limits.fuel is not None,
                hash_verified=True,  # validate_module just checked it against the bytes
            )
        except WasccError:
            raise
        except Exception as exc:
            where = path or claims.name or claims.subject
            raise ModuleLoadError(f"{where}: wasmtime could not compile the module: {exc}") from exc
        actor = Actor(claims=claims, module=compiled, limits=limits, settings=settings, path=path)
        calls = ProviderHostCalls(self, actor) if provider else ActorHostCalls(self, actor)
        actor.attach(
            self.engine,
            calls,
            self._workers,
            fast=self.fast,
            # A provider may call actors back, which needs the event loop: never inline.
            loop_free=(lambda: False) if provider else self._loop_free_check(actor),
            penalty_box=self.penalty_box,
            output=calls.wasi_output,
            sync=calls.sync if isinstance(calls, ProviderHostCalls) else None,
            on_trap=lambda count, error: self.events.record(
                "actor_trapped",
                {"public_key": actor.key, "name": actor.name, "count": count, "error": error},
            ),
        )
        await actor.start()
        return actor

    def _loop_free_check(self, actor: Actor) -> Callable[[], bool]:
        """A cheap check, for the inline policy, that none of the actor's possible host calls
        needs the event loop now: no actor-to-actor calls, and every binding answered on the
        calling thread by a ``SyncProvider`` or by ``DirectCalls`` that are ``loop_safe``.
        An actor that may call actors never runs inline: one that claims an actor key or a
        call alias (a claim without ``:``), or a 0.18 actor, which needs no claim for that;
        unless its settings say it calls no actors (``calls_actors``), which dispatch holds
        it to."""
        if not self.inline or (
            actor.settings.calls_actors
            and (is_wasmcloud(actor.claims) or any(":" not in cap for cap in actor.claims.caps))
        ):
            return lambda: False
        # (topology seen, the bindings' DirectCalls to ask each time, or None: never)
        cached: list[Any] = [-1, None]

        def check() -> bool:
            if cached[0] != self._topology:
                cached[0] = self._topology
                cached[1] = self._direct_gates(actor.key)
            gates: tuple[DirectCalls, ...] | None = cached[1]
            if gates is None:
                return False
            for gate in gates:  # noqa: SIM110 - usually none or one: no generator here
                if not gate.loop_safe:
                    return False
            return True

        return check

    def _direct_gates(self, actor: str) -> tuple[DirectCalls, ...] | None:
        """The ``DirectCalls`` whose ``loop_safe`` decides whether ``actor`` may run inline,
        or ``None`` if one of its bindings always needs the loop (an async provider, or a
        provider on another host)."""
        gates: list[DirectCalls] = []
        for key in self._bindings:
            if key[0] != actor:
                continue
            direct = self._direct.get(key)
            if direct is not None:
                gates.append(direct)
            elif key[1:] not in self._sync_handlers:
                return None
        return tuple(gates)

    async def add_actor(
        self,
        module: bytes | Path,
        *,
        settings: ActorSettings | None = None,
        path: str | None = None,
        source: ActorSource | None = None,
    ) -> Claims:
        """Validate, compile and start an actor; returns its claims.

        ``module`` is the signed module's bytes or a path to it; ``source``: the registry
        reference it was pulled from, for ``inventory()``. A second actor with the same
        subject is refused (``ActorAlreadyRunning``): use ``replace_actor`` to update.
        """
        data, path = _read_module(module, path)
        claims = self._validate(data, path)
        if self.remote is not None:
            await self.remote.check_identity(claims)
        if claims.subject in self._actors:
            running = self._actors[claims.subject]
            raise ActorAlreadyRunning(
                f"actor {running.label} already runs on this host; use replace_actor (live "
                "update) or remove it first"
            )
        actor = await self._build(data, claims, path, settings or ActorSettings())
        if claims.subject in self._actors:  # added concurrently while this one compiled
            await actor.close()
            raise ActorAlreadyRunning(f"actor {actor.label} already runs on this host")
        self._actors[actor.key] = actor
        self._claim_alias(actor)
        if source is None:
            self._sources.pop(actor.key, None)
        else:
            self._sources[actor.key] = (claims.hash, source)
        logger.info(
            "actor %s started (%s)", actor.label, source.reference if source else path or "bytes"
        )
        await self._bind_extras(actor.claims)
        await self._changed(
            "actor_started",
            public_key=actor.key,
            call_alias=self.alias_of(actor.key),
            name=actor.name,
            rev=claims.rev,
            issuer=claims.issuer,
        )
        return actor.claims

    async def replace_actor(
        self,
        module: bytes | Path,
        *,
        force: bool = False,
        rotate_issuer: bool = False,
        settings: ActorSettings | None = None,
        path: str | None = None,
    ) -> Claims:
        """Live update: same subject and issuer, higher ``rev`` (or ``force=True``). Calls in
        flight and calls already queued finish on the old instances; later calls go to the new
        ones. A module from another issuer is refused (``IssuerMismatch``) unless
        ``rotate_issuer`` and the policy's trusted issuers list it (``check_update``)."""
        data, path = _read_module(module, path)
        claims = self._validate(data, path)
        old = self._actors.get(claims.subject)
        if old is None:
            raise ActorNotFound(
                f"actor {_label(claims)} is not running here; use add_actor",
                actor=claims.subject,
            )
        check_update(self.trust, old.claims, claims, label=old.label, rotate_issuer=rotate_issuer)
        old_rev, new_rev = old.claims.rev or 0, claims.rev or 0
        if not force and new_rev <= old_rev:
            raise RevisionNotNewer(
                f"actor {old.label} runs {_revision(old.claims.rev)}; the new module has "
                f"{_revision(claims.rev)}. Re-sign with a higher --rev, or force the update"
            )
        new = await self._build(data, claims, path or old.path, settings or old.settings)
        self._actors[new.key] = new
        if old.claims.call_alias != claims.call_alias:
            self._release_alias(new.key)
            self._claim_alias(new)
        task = asyncio.create_task(old.drain(), name=f"retire {old.label}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        logger.info("actor %s updated%s", new.label, _revision_change(old.claims.rev, claims.rev))
        await self._bind_extras(new.claims)
        await self._changed(
            "actor_update_complete",
            public_key=new.key,
            call_alias=self.alias_of(new.key),
            rev=new_rev,
            issuer=claims.issuer,
        )
        return new.claims

    async def _bind_extras(self, claims: Claims) -> None:
        """Bind the built-in ``wascc:extras`` provider (binding ``default``, loaded on first
        use) to an actor whose claims list it, or its twin ``wasmcloud:extras``
        (docs/contracts.md). Removing the actor removes the binding like any other."""
        for contract in (EXTRAS, TWIN_OF[EXTRAS]):
            if contract not in claims.caps:
                continue
            # Imported here: the provider package depends on the host's interfaces, not the
            # reverse.
            from wascc.providers.extras import ExtrasProvider  # noqa: PLC0415

            if self.find_provider(EXTRAS, DEFAULT_BINDING) is None:
                await self.add_provider(ExtrasProvider())
            if self.find_binding(claims.subject, contract, DEFAULT_BINDING) is None:
                await self.set_binding(claims.subject, contract, DEFAULT_BINDING)

    async def remove_actor(self, actor: str) -> None:
        """Remove the actor's bindings, wait for its calls in flight, free its instances."""
        running = self._get_actor(actor)
        for key in [k for k in self._bindings if k[0] == actor]:
            await self.remove_binding(*key)
        del self._actors[actor]
        self._checkups.pop(actor, None)
        self._release_alias(actor)
        await self._changed("actor_stopped", public_key=actor)
        await running.close()
        logger.info("actor %s stopped", running.label)

    # health checks --------------------------------------------------------------------------

    async def check_health(self, actor: str | None = None) -> dict[str, HealthReport]:
        """Ask ``actor`` (else every actor) ``HealthRequest`` now; the reports by key, also
        kept for ``inventory()`` until the next check. An actor too busy to take the call
        (its queue full, or penalized) keeps its previous verdict and has no report."""
        keys = [actor] if actor is not None else list(self._actors)
        reports: dict[str, HealthReport] = {}
        for key in keys:
            running = self._actors.get(key)
            if running is None:  # removed while earlier ones were checked
                if actor is not None:
                    self._get_actor(key)  # ActorNotFound: the caller named it
                continue
            reply: bytes | None = None
            error: BaseException | None = None
            try:
                reply = await running.invoke(
                    "HealthRequest", HEALTH_REQUEST, timeout=min(self.call_timeout, 10.0)
                )
            except ActorBusy:  # saturated or penalized: no news on its health
                continue
            except Exception as exc:  # the verdict says what went wrong
                error = exc
            report = judge(running.claims, reply, error)
            if self._actors.get(key) is running:  # not removed or replaced meanwhile
                previous = self._checkups.get(key)
                self._checkups[key] = reports[key] = report
                if report.healthy is False and (previous is None or previous.healthy):
                    logger.warning("actor %s is unhealthy: %s", running.label, report.message)
                if report.healthy != (previous.healthy if previous is not None else None):
                    # Only changes: a page showing the verdicts refreshes on events.
                    self.events.record(
                        "actor_health_changed",
                        {
                            "public_key": key,
                            "healthy": report.healthy,
                            "message": report.message,
                        },
                    )
        return reports

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                await self.check_health()
            except Exception:  # a bug: logged in full; the checks go on
                logger.exception("health checks failed")

    # call aliases ---------------------------------------------------------------------------

    def _claim_alias(self, actor: Actor) -> None:
        """Register the actor's call alias, if its claims give one: the first running actor
        that claims an alias owns it. A clash, or an alias shaped like an actor key or a
        contract id (it would capture calls meant for them), is logged and refused; the
        actor runs anyway, reachable by its key."""
        alias = actor.claims.call_alias
        if not alias:
            return
        owner = self._aliases.get(alias)
        if owner is not None and owner != actor.key:
            why = f"actor {self._actors[owner].label} registered it first"
        elif is_actor_namespace(alias) or ":" in alias:
            why = "it has the form of an actor key or a contract id"
        else:
            self._aliases[alias] = actor.key
            logger.info("actor %s registered the call alias %s", actor.label, alias)
            return
        logger.warning(
            "actor %s claims the call alias %s, refused: %s; calls reach it by its key only "
            "(re-sign it with another --call-alias)",
            actor.label,
            alias,
            why,
        )
        self.events.record(
            "call_alias_refused", {"public_key": actor.key, "call_alias": alias, "why": why}
        )

    def _release_alias(self, actor: str) -> None:
        for alias in [name for name, key in self._aliases.items() if key == actor]:
            del self._aliases[alias]
            logger.info("call alias %s released by actor %s", alias, actor)

    def alias_of(self, actor: str) -> str | None:
        """The call alias ``actor`` registered on this host, if any."""
        alias = self._actors[actor].claims.call_alias if actor in self._actors else None
        return alias if alias is not None and self._aliases.get(alias) == actor else None

    def resolve_alias(self, alias: str, *, remote: bool = True) -> str | None:
        """The actor registered under the call alias ``alias``: on this host first, then
        (on a lattice, unless not ``remote``) on another host."""
        key = self._aliases.get(alias)
        if key is None and remote and self.remote is not None:
            key = self.remote.resolve_alias(alias)
        return key

    def _get_actor(self, actor: str) -> Actor:
        try:
            return self._actors[actor]
        except KeyError:
            raise ActorNotFound(
                f"no actor {actor} runs on this host; check the key with `wascc claims inspect`",
                actor=actor,
            ) from None

    @property
    def actors(self) -> tuple[Actor, ...]:
        """The actors running now (read-only use: the dashboard's counts)."""
        return tuple(self._actors.values())

    def actor(self, key: str) -> Actor:
        """The running actor with this public key (``ActorNotFound`` if none)."""
        return self._get_actor(key)

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str = SYSTEM_ORIGIN,
        timeout: float | None = None,
    ) -> bytes:
        """Invoke ``operation`` on ``actor`` and return the response bytes; an actor that
        does not run here is invoked over the lattice when the host joined one."""
        target = self._actors.get(actor)
        if target is None:
            if self.remote is not None:
                return await self.remote.call_actor(
                    actor, operation, payload, origin=origin, timeout=timeout
                )
            target = self._get_actor(actor)
        if origin in TRANSLATED_ORIGINS:  # a provider's call, maybe to a 0.18 actor
            operation = to_actor(origin, operation, target.claims)
        # The call running here, if any, is the parent (an actor calling an actor): the
        # callee's log lines keep its request id. Arguments by position: keywords would cost
        # more than the rest of the construction on this path.
        parent = current_invocation.get()
        # A quick, loop-free call runs right here without a coroutine or thread hop.
        instance = target.try_inline()
        if instance is not None:
            return self._call_inline(
                target,
                instance,
                Invocation(origin, actor, operation, payload, None, parent, target),
            )
        invocation = Invocation(origin, actor, operation, payload, None, parent, target)
        self._authorize(target, invocation)
        token = current_invocation.set(invocation)
        try:
            for mw in self.middleware:
                mw.before(invocation)
            result = await target.invoke(
                operation, payload, timeout=self.call_timeout if timeout is None else timeout
            )
        except BaseException as exc:
            self._failed(invocation, exc)
            raise
        finally:
            current_invocation.reset(token)
        for mw in self.middleware:
            mw.after(invocation, result, None)
        return result

    def call_actor_now(
        self, actor: str, operation: str, payload: bytes, *, origin: str = SYSTEM_ORIGIN
    ) -> bytes | None:
        """``call_actor`` for a local actor whose call may run on the event loop thread right
        now (see ``host.inline``), without a coroutine; ``None``, having done nothing, when
        the call must go through ``call_actor`` (not local, not quick, or no idle instance)."""
        target = self._actors.get(actor)
        if target is None:
            return None
        instance = target.try_inline()
        if instance is None:
            return None
        invocation = Invocation(
            origin, actor, operation, payload, None, current_invocation.get(), target
        )
        return self._call_inline(target, instance, invocation)

    def _call_inline(self, target: Actor, instance: WapcInstance, invocation: Invocation) -> bytes:
        if self.authorizer is not None or self.middleware:
            return self._call_inline_observed(target, instance, invocation)
        # Neither authorizer nor middleware: the shortest path (this is the echo benchmark's).
        token = current_invocation.set(invocation)
        try:
            return target.invoke_inline(instance, invocation.operation, invocation.payload)
        except WasccError as exc:
            exc.invocation_id = invocation.id
            raise
        finally:
            current_invocation.reset(token)

    def _call_inline_observed(
        self, target: Actor, instance: WapcInstance, invocation: Invocation
    ) -> bytes:
        try:
            self._authorize(target, invocation)
        except BaseException:
            target.release_inline(instance)
            raise
        token = current_invocation.set(invocation)
        try:
            try:
                for mw in self.middleware:
                    mw.before(invocation)
            except BaseException:
                target.release_inline(instance)
                raise
            result = target.invoke_inline(instance, invocation.operation, invocation.payload)
        except BaseException as exc:
            self._failed(invocation, exc)
            raise
        finally:
            current_invocation.reset(token)
        for mw in self.middleware:
            mw.after(invocation, result, None)
        return result

    def _authorize(self, target: Actor, invocation: Invocation) -> None:
        if self.authorizer is not None and not self.authorizer.can_invoke(invocation):
            raise NotAuthorized(
                f"the host's authorizer refused {invocation.operation} on actor {target.label} "
                f"from {invocation.origin}"
            )

    def _failed(self, invocation: Invocation, exc: BaseException) -> None:
        if isinstance(exc, WasccError):
            exc.invocation_id = invocation.id
        for mw in self.middleware:
            mw.after(invocation, None, exc)

    # providers and bindings ----------------------------------------------------------------

    async def add_provider(self, provider: Provider, *, binding: str = DEFAULT_BINDING) -> None:
        """Start a provider and serve its contract under ``binding``."""
        binding = normalize_binding(binding)
        key = (provider.contract_id, binding)
        if key in self._providers:
            served = self._twins.get(key)
            raise HostError(
                f"a provider for {provider.contract_id} with binding {binding!r} is already "
                "loaded"
                + (f" (the provider of {served[0]} serves it too)" if served else "")
                + "; give the new one another binding name"
            )
        try:
            await provider.start(self)
        except WasccError:
            raise
        except Exception as exc:
            raise ProviderError(
                f"provider {provider.contract_id} (binding {binding!r}) failed to start: {exc}"
            ) from exc
        self._register(key, provider)
        logger.info("provider %s loaded (binding %s)", provider.contract_id, binding)
        await self._changed(
            "provider_loaded", capability_id=provider.contract_id, binding_name=binding
        )
        twin = TWIN_OF.get(provider.contract_id)
        if twin is not None and (twin, binding) not in self._providers:
            # The second generation's actors are served by the same provider.
            self._register((twin, binding), TwinProvider(provider, twin))
            self._twins[(twin, binding)] = key
            await self._changed("provider_loaded", capability_id=twin, binding_name=binding)

    def _register(self, key: tuple[str, str], provider: Provider) -> None:
        self._providers[key] = provider
        if isinstance(provider, TwinProvider):
            if isinstance(provider.base, SyncProvider):
                self._sync_handlers[key] = provider.handle_sync
        elif isinstance(provider, SyncProvider):
            self._sync_handlers[key] = provider.handle_sync
        self._topology += 1

    async def add_wasm_provider(
        self,
        module: bytes | Path,
        *,
        binding: str = DEFAULT_BINDING,
        contract_id: str | None = None,
        settings: ActorSettings | None = None,
        path: str | None = None,
        source: ActorSource | None = None,
    ) -> WasmProvider:
        """Load a capability provider written in wasm (a signed module whose claims say
        ``prov: true``) and serve its contract under ``binding``.

        The contract is the module's ``GetCapabilityDescriptor`` answer; ``contract_id``, if
        given, must agree with it (or stands for it when the module does not answer).
        ``settings``: its limits, instances and WASI grants, as for an actor; ``source``: the
        registry reference it was pulled from, for ``inventory()``."""
        data, path = _read_module(module, path)
        claims = validate_module(data, path=path, trusted_issuers=self.trust.issuers)
        if not claims.provider:
            raise NotAProvider(path or _label(claims))
        if self.authorizer is not None and not self.authorizer.can_load(claims):
            raise NotAuthorized(f"the host's authorizer refused to load provider {_label(claims)}")
        runner = await self._build(data, claims, path, settings or ActorSettings(), provider=True)
        try:
            descriptor = await self._descriptor(runner, contract_id)
            served = contract_id or descriptor.id
            provider = WasmProvider(runner, served, descriptor, source)
            calls = runner.handler
            assert isinstance(calls, ProviderHostCalls)
            calls.provider = provider
            await self.add_provider(provider, binding=binding)
        except BaseException:
            await runner.close()
            raise
        logger.info(
            "provider %s serves %s (binding %s) from %s",
            runner.label,
            served,
            normalize_binding(binding),
            source.reference if source else path or "bytes",
        )
        return provider

    async def _descriptor(self, runner: Actor, contract_id: str | None) -> ProviderDescriptor:
        """The module's descriptor; one made of ``contract_id`` if the module has none."""
        try:
            answer = await runner.invoke(DESCRIBE, b"", timeout=self.call_timeout)
        except GuestError as exc:
            if contract_id:
                return ProviderDescriptor(contract_id)
            raise ProviderError(
                f"provider {runner.label} does not say which contract it serves "
                f"(GetCapabilityDescriptor failed: {exc.guest_error}); give it with "
                "`contract:` in its capabilities entry (contract_id=...)"
            ) from None
        try:
            descriptor = parse_descriptor(answer, f"provider {runner.label}")
        except ProviderError:
            if contract_id:  # an answer of its own kind: the entry says what it serves
                return ProviderDescriptor(contract_id)
            raise
        if contract_id and contract_id != descriptor.id:
            raise ProviderError(
                f"provider {runner.label} serves {descriptor.id}, not {contract_id}; correct "
                "the contract in its capabilities entry, or remove it"
            )
        return descriptor

    async def remove_provider(self, contract_id: str, binding: str = DEFAULT_BINDING) -> None:
        """Remove every binding to the provider, then stop it. Its ``wasmcloud:*`` face
        (``TwinProvider``) goes with it, whichever of the two ``contract_id`` names."""
        binding = normalize_binding(binding)
        contract_id, binding = self._twins.get((contract_id, binding), (contract_id, binding))
        provider = self.find_provider(contract_id, binding)
        if provider is None:
            raise ProviderNotFound(f"no provider for {contract_id} with binding {binding!r}")
        twin = TWIN_OF.get(contract_id)
        faces = [(contract_id, binding)]
        if twin is not None and self._twins.get((twin, binding)) == (contract_id, binding):
            faces.insert(0, (twin, binding))
        for face in faces:
            for key in [k for k in self._bindings if k[1:] == face]:
                await self.remove_binding(*key)
            await self._changed("provider_removed", capability_id=face[0], binding_name=binding)
            del self._providers[face]
            self._twins.pop(face, None)
            self._sync_handlers.pop(face, None)
        self._topology += 1
        await provider.stop()
        logger.info("provider %s removed (binding %s)", contract_id, binding)

    def find_provider(self, contract_id: str, binding: str) -> Provider | None:
        """The provider serving ``contract_id`` under ``binding``, if loaded."""
        return self._providers.get((contract_id, binding))

    def sync_handler(self, contract_id: str, binding: str) -> SyncHandler | None:
        """The provider's ``handle_sync``, if it has one (the lattice serves remote actors'
        calls with it)."""
        return self._sync_handlers.get((contract_id, binding))

    def direct_call(self, actor: str, contract_id: str, binding: str) -> DirectCall | None:
        """How the binding answers on the calling thread, if it does: its ``DirectCalls``,
        else the provider's ``handle_sync``."""
        direct = self._direct.get((actor, contract_id, binding))
        if direct is not None:
            return direct.call
        sync = self._sync_handlers.get((contract_id, binding))
        if sync is not None:
            return partial(sync, actor, binding)
        return None

    def find_binding(self, actor: str, contract_id: str, binding: str) -> Binding | None:
        """The binding (actor, contract, name), if set."""
        return self._bindings.get((actor, contract_id, binding))

    async def set_binding(
        self,
        actor: str,
        contract_id: str,
        binding: str = DEFAULT_BINDING,
        values: Mapping[str, str] | None = None,
    ) -> Binding:
        """Bind ``actor`` to the provider of ``contract_id``/``binding`` (sends ``BindActor``).

        Refused unless the actor's claims list the contract and the provider is loaded.
        """
        binding = normalize_binding(binding)
        running = self._get_actor(actor)
        if contract_id not in running.claims.caps:
            known = BUILTIN_CONTRACTS | {contract for contract, _ in self._providers}
            hint = "" if contract_id in known else contract_hint(contract_id, known)
            if hint or (contract_id not in known and self.remote is None):
                # Said first: re-signing the actor alone would not make this binding work.
                raise CapabilityNotClaimed(
                    f"actor {running.label} cannot be bound to {contract_id} (binding "
                    f"{binding!r}): no provider serves {contract_id}{hint}, and the actor's "
                    "claims do not list it; "
                    + (
                        "correct the contract id"
                        if hint
                        else f"add a provider for it, and re-sign with --cap {contract_id}"
                    )
                )
            raise CapabilityNotClaimed(
                f"actor {running.label} cannot be bound to {contract_id} (binding {binding!r}): "
                f"its claims do not list it; re-sign with --cap {contract_id}"
            )
        provider = self.find_provider(contract_id, binding)
        if provider is None and self.remote is None:
            raise ProviderNotFound(
                f"cannot bind actor {running.label} to {contract_id} (binding {binding!r}): no "
                "such provider is loaded; add it to the manifest's capabilities first"
            )
        key = (actor, contract_id, binding)
        if key in self._bindings:
            raise HostError(
                f"actor {running.label} is already bound to {contract_id} (binding {binding!r}); "
                "remove the binding first"
            )
        self._check_one_generation(running, contract_id, binding)
        record = Binding(actor, contract_id, binding, dict(values or {}))
        try:
            prefix = HOST_VALUE_PREFIX if contract_id in TWINS else RESERVED_VALUE_PREFIX
            values = bind_values(running.claims, record.values, prefix=prefix)
            if provider is not None:
                await provider.bind_actor(actor, binding, values)
            elif self.remote is not None:  # a provider elsewhere in the lattice
                await self.remote.bind_actor(actor, contract_id, binding, values)
        except WasccError:
            raise
        except Exception as exc:
            raise ProviderError(
                f"provider {contract_id} (binding {binding!r}) refused to bind actor "
                f"{running.label}: {exc}"
            ) from exc
        direct = getattr(provider, "direct", None)
        if direct is not None:
            try:
                answer = direct(actor, binding)
            except Exception as exc:  # keep the binding usable through handle
                logger.warning(
                    "provider %s (binding %s) could not answer actor %s directly (%s); its "
                    "calls go through the event loop",
                    contract_id,
                    binding,
                    running.label,
                    exc,
                )
            else:
                if answer is not None:
                    self._direct[key] = answer
        self._bindings[key] = record
        self._topology += 1
        logger.info("bound actor %s to %s (binding %s)", running.label, contract_id, binding)
        await self._changed(
            "actor_binding_created", actor=actor, capability_id=contract_id, binding_name=binding
        )
        return record

    def _check_one_generation(self, actor: Actor, contract_id: str, binding: str) -> None:
        """Refuse to bind ``actor`` to one provider through both its faces (``wascc:*`` and
        its ``wasmcloud:*`` twin) under one binding name: the provider could not tell them
        apart."""
        other = TWINS.get(contract_id) or TWIN_OF.get(contract_id)
        if other is None or (actor.key, other, binding) not in self._bindings:
            return
        twin = contract_id if contract_id in TWINS else other
        if (twin, binding) not in self._twins:  # a provider of its own serves the twin
            return
        raise HostError(
            f"actor {actor.label} is bound to {other} (binding {binding!r}) already, and "
            f"{contract_id} is the other generation of that contract; an actor speaks one "
            "generation: remove one of the two bindings, or give it another binding name"
        )

    async def remove_binding(
        self, actor: str, contract_id: str, binding: str = DEFAULT_BINDING
    ) -> None:
        """Remove a binding (sends ``RemoveActor`` to the provider)."""
        binding = normalize_binding(binding)
        record = self._bindings.pop((actor, contract_id, binding), None)
        self._direct.pop((actor, contract_id, binding), None)
        self._topology += 1
        if record is None:
            raise HostError(f"actor {actor} has no binding {binding!r} to {contract_id}")
        if (actor, contract_id, binding) in self._recorded:  # the other host unbinds it
            self._recorded.discard((actor, contract_id, binding))
            return
        provider = self.find_provider(contract_id, binding)
        if provider is not None:
            await provider.remove_actor(actor, binding)
        elif self.remote is not None:
            await self.remote.remove_actor(actor, contract_id, binding)
        logger.info("unbound actor %s from %s (binding %s)", actor, contract_id, binding)
        await self._changed(
            "actor_binding_removed", actor=actor, capability_id=contract_id, binding_name=binding
        )

    def record_binding(self, actor: str, contract_id: str, binding: str = DEFAULT_BINDING) -> bool:
        """Record a binding of the local ``actor`` that another host of the lattice made (and
        sent to the provider itself), so that the actor's calls to ``contract_id`` are routed.
        No provider is contacted and no event is published. False if the actor does not run
        here, does not claim the contract, or is bound already."""
        binding = normalize_binding(binding)
        running = self._actors.get(actor)
        key = (actor, contract_id, binding)
        if running is None or contract_id not in running.claims.caps or key in self._bindings:
            return False
        self._bindings[key] = Binding(actor, contract_id, binding, {})
        self._recorded.add(key)
        self._topology += 1
        logger.info(
            "actor %s is bound to %s (binding %s) by another host",
            running.label,
            contract_id,
            binding,
        )
        return True

    def forget_binding(self, actor: str, contract_id: str, binding: str = DEFAULT_BINDING) -> bool:
        """Undo ``record_binding`` (the other host removed the binding); False if not bound."""
        key = (actor, contract_id, normalize_binding(binding))
        if key not in self._recorded:
            return False
        self._recorded.discard(key)
        self._bindings.pop(key, None)
        self._topology += 1
        logger.info("actor %s is no longer bound to %s (binding %s)", *key)
        return True

    async def _changed(self, event: str, **data: Any) -> None:
        """Record what changed on this host (``events``) and tell the lattice, if joined."""
        self.events.record(event, data)
        if self.remote is not None:
            await self.remote.changed(event, data)

    # inventory -----------------------------------------------------------------------------

    def _source(self, actor: Actor) -> dict[str, str] | None:
        """The registry source of ``actor``'s running module, None for a file's or bytes."""
        known = self._sources.get(actor.key)
        if known is None or known[0] != actor.claims.hash:
            return None
        return known[1].to_json()

    def _checkup(self, actor: str) -> dict[str, Any] | None:
        report = self._checkups.get(actor)
        return None if report is None else report.to_json()

    def _describe(self, actor: Actor) -> dict[str, Any]:
        described = {
            "key": actor.key,
            "name": actor.claims.name,
            "path": actor.path,
            "source": self._source(actor),
            "claims": actor.claims.to_json(),
            "call_alias": self.alias_of(actor.key),
            "instances": actor.pool.size,
            "busy": actor.pool.busy,
            "health": {**actor.health.describe(), "check": self._checkup(actor.key)},
        }
        if not actor.settings.wasi.empty:  # only what was granted: most actors have nothing
            described["wasi"] = actor.settings.wasi.describe()
        if not actor.settings.calls_actors:  # why its calls to actors are refused
            described["calls_actors"] = False
        return described

    def inventory(self) -> dict[str, Any]:
        """Actors with their claims, providers, and bindings, as JSON-ready data.

        Binding values are included as given; redacting secrets is the caller's choice
        (the admin endpoint redacts)."""
        return {
            "labels": dict(self.labels),
            "trust": self.trust.describe(),
            "actors": [self._describe(a) for a in self._actors.values()],
            "providers": [
                {
                    "contract_id": contract,
                    "binding": name,
                    **_provider_type(p),
                }
                for (contract, name), p in self._providers.items()
            ],
            "bindings": [
                {
                    "actor": b.actor,
                    "contract_id": b.contract_id,
                    "binding": b.name,
                    "values": dict(b.values),
                    # Made by another host of the lattice, which holds the provider's side.
                    "recorded": (b.actor, b.contract_id, b.name) in self._recorded,
                }
                for b in self._bindings.values()
            ],
        }


def _read_module(module: bytes | Path, path: str | None) -> tuple[bytes, str | None]:
    if isinstance(module, bytes):
        return module, path
    try:
        return module.read_bytes(), path or str(module)
    except OSError as exc:
        raise ModuleLoadError(f"{module}: cannot read the actor module: {exc.strerror}") from exc


def _label(claims: Claims) -> str:
    """``name (key)`` as ``Actor.label`` writes it, for an actor that is not running."""
    return f"{claims.name or claims.subject} ({claims.subject})"


def _revision(rev: int | None) -> str:
    """``rev 3``, or ``no revision`` for a module signed without one."""
    return "no revision" if rev is None else f"rev {rev}"


def _revision_change(old: int | None, new: int | None) -> str:
    """What an update did to the revision, as the end of a sentence (nothing if neither
    module has one)."""
    if old is not None and new is not None:
        return f": rev {old} -> {new}"
    if new is not None:
        return f" to rev {new}"
    return "" if old is None else f" from rev {old}"


def _provider_type(provider: Provider) -> dict[str, Any]:
    """What ``inventory()`` says of a provider beside its contract and binding: its class
    (a ``TwinProvider``'s base, with ``via`` naming the contract it serves), and a wasm
    provider's module."""
    if isinstance(provider, TwinProvider):
        return {"type": type(provider.base).__qualname__, "via": provider.base.contract_id}
    described: dict[str, Any] = {"type": type(provider).__qualname__}
    if isinstance(provider, WasmProvider):
        described.update(provider.describe())
    return described
