"""The host process: start a host from a manifest, serve until told to stop, shut down in order.

``HostServer.serve(stop)`` is startup, waiting for ``stop``, then shutdown. Startup applies the
manifest in the order docs/manifest.md gives (labels, actors, capabilities, bindings) and
undoes what it did if any step fails; providers that take work from outside (HTTP listeners)
take it only once the last binding is made (``defer_accepting``/``start_accepting``).
Shutdown goes:

1. stop accepting new work: the admin endpoint refuses calls, providers that take work from
   outside (HTTP listeners, message subscriptions) stop taking it;
2. let invocations in flight finish, up to ``shutdown_timeout``;
3. ``RemoveActor`` to every provider for every binding, then stop the providers;
4. close the actors and the engine, then leave the lattice, then close the admin endpoint.

With a lattice, step 1 also unsubscribes the host's lattice subjects (other hosts take over
the work), and step 3 sends ``RemoveActor`` to providers on other hosts.

A manifest binding may name an actor that runs on another host of the lattice: at startup its
claims are looked up in the lattice's inventory (waiting up to ``lattice_wait`` for a host to
run it), the binding is refused unless they list the contract, and the binding is then made
over the lattice (``Lattice.bind_remote_actor``). A binding to a provider that no capability
of the manifest loads goes to the provider wherever (and whenever) it joins the lattice.

Signals are not handled here: the CLI turns them into ``stop`` (and a second one into a forced
exit), so ``HostServer`` stays usable as a library and in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from wascc.host.admin import AdminServer
from wascc.host.dashboard import HostInfo
from wascc.host.errors import CapabilityNotClaimed, LatticeError, ProviderError, WasccError
from wascc.host.generations import HOST_VALUE_PREFIX, TWINS, TwinProvider, generic
from wascc.host.host import ActorSource, Host
from wascc.host.lattice import Lattice, LatticeConfig
from wascc.host.manifest import BindingEntry, CapabilityEntry, Manifest
from wascc.host.manifest_check import EXTRAS, HTTP_SERVER
from wascc.host.metrics import HostMetrics
from wascc.host.trust import TrustPolicy
from wascc.host.typing import RESERVED_VALUE_PREFIX
from wascc.keys.nkeys import KeyPair

__all__ = ["AcceptsWork", "HostServer", "ServerConfig"]

logger = logging.getLogger("wascc.server")

# Providers that bring work in from outside. Without ``stop_accepting`` their bindings are
# removed first: ``RemoveActor`` makes them stop accepting and finish what is in flight.
INGRESS_CONTRACTS = frozenset({HTTP_SERVER, "wascc:messaging"})  # and their twins (generic)
_POLL = 0.02


@runtime_checkable
class AcceptsWork(Protocol):
    """A provider that can stop taking new work (close listeners, unsubscribe) while the
    work it already took finishes; the first step of an ordered shutdown."""

    async def stop_accepting(self) -> None:
        """Stop taking new work; return once what is in flight has finished."""
        ...


def _stop_accepting(provider: object) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """The provider's ``stop_accepting`` if it implements ``AcceptsWork``."""
    return provider.stop_accepting if isinstance(provider, AcceptsWork) else None


@dataclass(frozen=True)
class ServerConfig:
    """What to run and how: the checked manifest and the process options."""

    manifest: Manifest
    data_dir: Path
    admin: tuple[str, int] | None = None
    shutdown_timeout: float = 30.0
    call_timeout: float = 30.0
    health_interval: float = 30.0  # seconds between health checks of the actors; 0: none
    labels: Mapping[str, str] = field(default_factory=dict)  # added to the manifest's
    lattice: LatticeConfig | None = None
    lattice_wait: float = 3.0  # seconds startup waits for NATS before going on without it
    trust: TrustPolicy = field(default_factory=TrustPolicy)


class HostServer:
    """One host process. ``announce`` receives the lines meant for the operator's terminal
    (where each HTTP binding listens, readiness); by default they are logged."""

    def __init__(
        self, config: ServerConfig, *, announce: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.metrics = HostMetrics() if config.admin is not None else None
        self.host = Host(
            cache_dir=config.data_dir / "cache",
            labels={**config.manifest.labels, **config.labels},
            middleware=[self.metrics] if self.metrics is not None else (),
            call_timeout=config.call_timeout,
            trust=config.trust,
            health_interval=config.health_interval,
        )
        self.admin: AdminServer | None = None
        self.lattice = Lattice(self.host, config.lattice) if config.lattice else None
        # Who this host is, for its dashboard (its uptime counts from here): its id in the
        # lattice, or for a standalone host a key of its own, made now.
        self.info = HostInfo(
            self.host,
            host_id=self.lattice.host_id if self.lattice else KeyPair.generate("server").public_key,
            lattice_url=config.lattice.url if config.lattice else None,
        )
        self.accepting = False
        self._announce = announce or (lambda line: logger.info("%s", line))
        self._started = False
        self.clean = True  # False once a shutdown step failed: the CLI then exits 1

    async def serve(self, stop: asyncio.Event) -> None:
        """Start, wait for ``stop``, shut down (also when cancelled or failing)."""
        await self.startup()
        try:
            await stop.wait()
        finally:
            await self.shutdown()

    # startup ------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Start the host and apply the manifest; on failure, stop what was started."""
        manifest, config = self.config.manifest, self.config
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WasccError(
                f"data directory {config.data_dir}: cannot create it: {exc.strerror}; choose "
                "another with --data-dir"
            ) from exc
        await self.host.start()
        self._started = True
        for note in manifest.notes:
            logger.info("%s: %s", manifest.file, note)
        if config.trust.issuers is None:
            logger.info(
                "trust: any account may sign the new actors this host runs (an update must "
                "come from the running actor's account); restrict it with --trust-issuer or "
                "trust.issuers"
            )
        else:
            logger.info(
                "trust: actors must be signed by %s", ", ".join(sorted(config.trust.issuers))
            )
        try:
            if self.lattice is not None:  # before the manifest: it may bind remote providers
                await self._join_lattice()
            for actor in manifest.actors:
                if actor.module is not None and actor.reference and actor.digest:
                    # The very bytes the manifest's checks verified, pulled from a registry.
                    await self.host.add_actor(
                        actor.module,
                        settings=actor.settings,
                        path=str(actor.path),
                        source=ActorSource(actor.reference, actor.digest),
                    )
                else:
                    await self.host.add_actor(actor.path, settings=actor.settings)
            for cap in manifest.capabilities:
                await self._load_capability(cap)
            for entry in manifest.bindings:
                if generic(entry.contract_id) == EXTRAS:
                    logger.info(
                        "bindings[%d]: the host binds %s to actor %s itself",
                        entry.index,
                        entry.contract_id,
                        entry.actor_label,
                    )
                    continue
                if entry.remote_actor:
                    await self._bind_remote_actor(entry)
                    continue
                await self.host.set_binding(
                    entry.actor, entry.contract_id, entry.binding, entry.values
                )
            await self._start_accepting()
            if config.admin is not None and self.metrics is not None:
                self.metrics.watch(self.host)
                address, port = config.admin
                self.admin = AdminServer(
                    self.host,
                    self.metrics,
                    address=address,
                    port=port,
                    data_dir=config.data_dir,
                    accepting=lambda: self.accepting,
                    info=self.info,
                    lattice=self.lattice,
                )
                try:
                    await self.admin.start()
                except OSError as exc:
                    raise WasccError(
                        f"--admin {address}:{port}: cannot listen: {exc.strerror or exc}; "
                        "choose another address or port"
                    ) from exc
        except BaseException:
            await self._stop_host()
            raise
        self.accepting = True
        self._print_endpoints()

    async def _load_capability(self, cap: CapabilityEntry) -> None:
        """Load one provider of the manifest: a module, or a class built with its config
        (told to defer accepting work until the last binding is made)."""
        if cap.wasm is not None:
            await self.host.add_wasm_provider(
                cap.wasm.module,
                binding=cap.binding,
                contract_id=cap.wasm.contract_id,
                settings=cap.wasm.settings,
                path=str(cap.wasm.path),
                source=ActorSource(cap.wasm.reference, cap.wasm.digest)
                if cap.wasm.reference and cap.wasm.digest
                else None,
            )
            return
        assert cap.spec is not None
        try:
            provider = cap.spec.build(cap.config, self.config.data_dir)
        except Exception as exc:
            raise ProviderError(
                f"{self.config.manifest.file}: capabilities[{cap.index}]: cannot make provider "
                f"{cap.name}: {type(exc).__name__}: {exc}; fix its config"
            ) from exc
        await _call_optional(provider, "defer_accepting")  # until the last binding
        await self.host.add_provider(provider, binding=cap.binding)

    async def _start_accepting(self) -> None:
        """Every binding of the manifest is made: providers that bind a listener without
        accepting on it (``defer_accepting``) start serving (see ``host.typing.Provider``)."""
        for entry in self.host.inventory()["providers"]:
            provider = self.host.find_provider(entry["contract_id"], entry["binding"])
            await _call_optional(provider, "start_accepting")

    async def _join_lattice(self) -> None:
        assert self.lattice is not None
        assert self.config.lattice is not None
        await self.lattice.join()
        url = self.config.lattice.url
        if await self.lattice.client.wait_connected(self.config.lattice_wait):
            self._announce(f"lattice: joined {url} as host {self.lattice.host_id}")
        else:
            self._announce(
                f"lattice: NATS at {url} cannot be reached; host {self.lattice.host_id} keeps "
                "retrying in the background and serves local work meanwhile"
            )

    async def _bind_remote_actor(self, entry: BindingEntry) -> None:
        """A manifest binding of an actor that runs on another host: check it against the
        actor's claims from the lattice's inventory, then make it over the lattice."""
        where = f"{self.config.manifest.file}: bindings[{entry.index}]"
        if self.lattice is None:
            raise WasccError(
                f"{where}: actor {entry.actor} is not in this manifest and the host joins no "
                "lattice; add its module to actors, or join a lattice (--lattice)"
            )
        try:
            host_id, claims = await self.lattice.find_actor(
                entry.actor, timeout=self.config.lattice_wait
            )
        except LatticeError as exc:
            raise LatticeError(f"{where}: {exc}") from None
        caps = [str(c) for c in claims.get("caps") or ()]
        label = f"{claims.get('name') or entry.actor} ({entry.actor})"
        if entry.contract_id not in caps:
            raise CapabilityNotClaimed(
                f"{where}: actor {label}, running on host {host_id}, does not claim "
                f"{entry.contract_id} (its claims list: {', '.join(caps) or 'nothing'}); "
                f"re-sign it with --cap {entry.contract_id} and update it (wascc ctl update "
                "actor FILE), or remove this binding"
            )
        prefix = HOST_VALUE_PREFIX if entry.contract_id in TWINS else RESERVED_VALUE_PREFIX
        values = {**entry.values, **_host_values(claims, caps, prefix)}
        await self.lattice.bind_remote_actor(entry.actor, entry.contract_id, entry.binding, values)
        self._announce(
            f"lattice: bound actor {label} on host {host_id} to {entry.contract_id} "
            f"(binding {entry.binding!r})"
        )

    def _print_endpoints(self) -> None:
        inventory = self.host.inventory()
        for binding in inventory["bindings"]:
            if generic(binding["contract_id"]) != HTTP_SERVER:
                continue
            provider = self.host.find_provider(HTTP_SERVER, binding["binding"])
            port_of = getattr(provider, "port_of", None)
            actor = self.host.actor(binding["actor"])
            port = port_of(actor.key) if callable(port_of) else binding["values"].get("PORT")
            address = binding["values"].get("ADDRESS", "").strip() or "127.0.0.1"
            reachable = "127.0.0.1" if address in ("0.0.0.0", "::") else address
            url = f"http://{reachable}:{port}"
            self._announce(f"{actor.name} listens on {url}  (try: curl {url}/hello)")
        if self.admin is not None:
            where = f"{self.admin.address}:{self.admin.port}"
            self._announce(f"admin endpoint on {self.admin.url} (/healthz /inventory /metrics)")
            self._announce(f"  dashboard: {self.admin.url}/ui (asks for the admin token)")
            self._announce(f"  admin token in {self.admin.token_file} (Authorization: Bearer …)")
            self._announce(f"  try: wascc call ACTOR OPERATION JSON --host-admin {where}")
        counts = (len(inventory[k]) for k in ("actors", "providers", "bindings"))
        self._announce("host ready: {} actors, {} providers, {} bindings".format(*counts))

    # shutdown -----------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """The ordered shutdown of the module docstring. Idempotent."""
        if not self._started:
            return
        self.accepting = False
        deadline = time.monotonic() + self.config.shutdown_timeout
        logger.info("shutting down: no new work is accepted")
        if self.lattice is not None:
            await self.lattice.stop_serving()
        await self._stop_accepting(deadline)
        await self._drain(deadline)
        await self._stop_host()
        logger.info("shutdown complete")

    async def _stop_accepting(self, deadline: float) -> None:
        tasks: list[asyncio.Task[None]] = []
        inventory = self.host.inventory()
        for entry in inventory["providers"]:
            stop = _stop_accepting(self.host.find_provider(entry["contract_id"], entry["binding"]))
            if stop is not None:
                tasks.append(asyncio.create_task(stop()))
        for binding in inventory["bindings"]:
            contract, name = binding["contract_id"], binding["binding"]
            provider = self.host.find_provider(contract, name)
            if isinstance(provider, TwinProvider):  # its base stops accepting for both
                provider = provider.base
            if generic(contract) in INGRESS_CONTRACTS and _stop_accepting(provider) is None:
                tasks.append(
                    asyncio.create_task(self.host.remove_binding(binding["actor"], contract, name))
                )
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                logger.warning("while stopping intake: %s", task.exception())
        if pending:
            logger.warning(
                "%d listeners still had requests in flight after %.1fs; closing them",
                len(pending),
                self.config.shutdown_timeout,
            )
            self.clean = False
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _in_flight(self) -> int:
        total = 0
        for actor in self.host.inventory()["actors"]:
            total += actor["busy"] + self.host.actor(actor["key"]).pool.waiting
        return total

    async def _drain(self, deadline: float) -> None:
        """Wait until no actor runs or queues a call, or until ``deadline``."""
        in_flight = self._in_flight()
        if in_flight:
            logger.info("waiting for %d invocations in flight", in_flight)
        while in_flight and time.monotonic() < deadline:
            await asyncio.sleep(_POLL)
            in_flight = self._in_flight()
        if in_flight:
            self.clean = False
            logger.warning(
                "%d invocations still running after %.1fs; stopping anyway (each ends at its "
                "actor's deadline)",
                in_flight,
                self.config.shutdown_timeout,
            )

    async def _stop_host(self) -> None:
        """Bindings (``RemoveActor``), providers, actors, engine; then the admin endpoint.
        Errors are logged, not raised: the process is going away either way."""
        self._started = False
        try:
            await self.host.stop()
        except Exception as exc:
            self.clean = False
            logger.error("error while stopping the host: %s", exc)
        if self.lattice is not None:  # after the host: RemoveActor still reached providers
            await self.lattice.leave()
        if self.admin is not None:
            await self.admin.close()


async def _call_optional(provider: object, method: str) -> None:
    """Await ``provider.method()`` if the provider has that optional method."""
    call = getattr(provider, method, None)
    if callable(call):
        await call()


def _host_values(claims: Mapping[str, Any], caps: list[str], prefix: str) -> dict[str, str]:
    """The host's binding values (``__wascc_*``, or ``__wasmcloud_*`` for a ``wasmcloud:*``
    contract; docs/contracts.md) from a remote actor's claims (JSON), as the host sets them
    for a local actor."""
    tags = claims.get("tags") or ()
    return {
        f"{prefix}issuer": str(claims.get("issuer") or ""),
        f"{prefix}capabilities": ",".join(caps),
        f"{prefix}name": str(claims.get("name") or ""),
        f"{prefix}expires": str(claims.get("expires") or 0),
        f"{prefix}tags": ",".join(str(t) for t in tags),
    }
