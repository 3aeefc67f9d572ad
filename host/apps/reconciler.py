"""The reconciler: makes the lattice run what the application specs ask for.

Every ``interval`` seconds the acting reconciler reads the specs (``host.apps.store``) and
the lattice's inventory, and sends signed control commands (``host.lattice.control``) until
they match:

- an actor with fewer replicas than asked is launched on hosts whose labels fit its
  constraints and that do not run it yet, the least loaded (fewest actors) first;
- extra replicas, and replicas on hosts whose labels no longer fit, are stopped (the most
  loaded host first);
- a replica running another module than the spec's (a new version was applied) is updated
  live, one host per pass, so that the others keep serving meanwhile;
- a deleted application's actors are stopped everywhere, then it is forgotten.

Hosts send a signed ``host_heartbeat`` event every few seconds, and answer the inventory the
reconciler asks for on every pass; either counts as a sign of life. A host with neither for
``host_timeout`` seconds (a slow answer is not a death) is gone: its replicas are placed
elsewhere.

With several reconcilers, one acts at a time: the holder of the lease, an entry in a
key-value bucket whose entries live ``lease_ttl`` seconds unless renewed. The holder renews
it on every pass; when it dies, the entry expires and another takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats.js.errors

from wascc.host.apps.store import AppStore
from wascc.host.errors import WasccError
from wascc.host.lattice import control
from wascc.host.lattice.client import LatticeClient, Message
from wascc.host.lattice.command import Controller
from wascc.host.lattice.control import labels_match
from wascc.host.lattice.events import parse_event, verify_event
from wascc.host.lattice.inventory import gather
from wascc.host.lattice.subjects import Subjects

__all__ = ["HostView", "Reconciler", "Running"]

logger = logging.getLogger("wascc.reconciler")

LEASE_KEY = "reconciler"
EXTRAS = "wascc:extras"


@dataclass(frozen=True)
class Running:
    """Which module of an actor a host runs: its claims' hash and revision (a new
    revision of the same code shares the hash)."""

    hash: str
    rev: int

    @classmethod
    def of(cls, claims: Mapping[str, Any]) -> Running:
        rev = claims.get("rev")
        return cls(str(claims.get("hash") or ""), rev if isinstance(rev, int) else 0)


@dataclass
class HostView:
    """What the reconciler knows of one host: its labels, the actors it runs, and when it
    last answered."""

    host_id: str
    labels: Mapping[str, str]
    actors: dict[str, Running] = field(default_factory=dict)
    bindings: set[tuple[str, str, str]] = field(default_factory=set)  # actor, contract, name
    providers: set[tuple[str, str]] = field(default_factory=set)  # contract, binding
    last_seen: float = 0.0

    @property
    def load(self) -> int:
        return len(self.actors)


class Reconciler:
    """One reconciler process's loop (``wascc reconciler``, ``wascc up --reconcile``)."""

    def __init__(
        self,
        client: LatticeClient,
        subjects: Subjects,
        store: AppStore,
        *,
        signer: Controller | None = None,
        interval: float = 1.0,
        host_timeout: float = 10.0,
        lease_ttl: float = 5.0,
        inventory_timeout: float = 0.5,
    ) -> None:
        self.client = client
        self.subjects = subjects
        self.store = store
        self.signer = signer
        self.interval = interval
        self.host_timeout = host_timeout
        self.lease_ttl = lease_ttl
        self.inventory_timeout = inventory_timeout
        self.identity = f"reconciler-{secrets.token_hex(4)}"
        self.hosts: dict[str, HostView] = {}
        self._version_keys: dict[tuple[str, int], frozenset[str]] = {}
        self.acting = False
        self._lease: Any = None
        self._lease_revision: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set; errors of one pass are logged, the loop goes on."""
        self._lease = await self.store.lease_bucket(self.lease_ttl)
        await self.client.subscribe(self.subjects.events, self._on_event)
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    if await self._hold_lease():
                        await self.reconcile_once()
                except WasccError as exc:
                    logger.warning("reconciliation failed: %s", exc)
                except Exception:
                    logger.exception("reconciliation failed")
                wait = max(0.0, self.interval - (time.monotonic() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            await self._release_lease()

    async def _on_event(self, msg: Message) -> None:
        """A host's heartbeat (signed by that host) keeps it alive between two looks."""
        try:
            event = parse_event(bytes(msg.data))
            if event["type"] != "host_heartbeat":
                return
            verify_event(event)
        except WasccError:
            return
        view = self.hosts.get(event["source"])
        if view is not None:
            view.last_seen = time.monotonic()

    # the lease ------------------------------------------------------------------------------

    async def _hold_lease(self) -> bool:
        """Take the lease if nobody holds it, or renew ours; whether we act this pass."""
        value = json.dumps({"holder": self.identity, "at": time.time()}).encode()
        try:
            if self._lease_revision is None:
                self._lease_revision = await self._lease.create(LEASE_KEY, value)
            else:
                self._lease_revision = await self._lease.update(
                    LEASE_KEY, value, last=self._lease_revision
                )
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
            # Someone else holds it (or took it over after ours expired).
            self._lease_revision = None
        acting = self._lease_revision is not None
        if acting != self.acting:
            self.acting = acting
            logger.info(
                "%s %s", self.identity, "acts now (holds the lease)" if acting else "stands by"
            )
        return acting

    async def _release_lease(self) -> None:
        """Give the lease up at a clean stop, so another reconciler acts at once."""
        if self._lease_revision is None:
            return
        with contextlib.suppress(Exception):
            await self._lease.delete(LEASE_KEY, last=self._lease_revision)
        self._lease_revision = None

    # one pass -------------------------------------------------------------------------------

    async def reconcile_once(self) -> None:
        """Look at the lattice once and send what makes it match every spec."""
        await self._look()
        for name in await self.store.names():
            record = await self.store.record(name)
            if record is None:
                continue
            before = await self.store.status(name) or {}
            loaded: list[dict[str, str]] = list(before.get("loaded", []))
            try:
                if record.deleted:
                    await self._remove(name, record.versions, loaded)
                    continue
                version = await self.store.version(name, record.current)
                errors: list[str] = []
                await self._providers(version, loaded, errors)
                placements, actor_errors = await self._reconcile(version)
                errors += actor_errors
                await self._stop_dropped(name, record.versions, version)
            except WasccError as exc:
                placements, errors = [], [str(exc)]
            await self.store.set_status(
                name,
                {
                    "name": name,
                    "version": record.current,
                    "reconciled_at": time.time(),
                    "reconciler": self.identity,
                    "placements": placements,
                    "loaded": loaded,
                    "error": "; ".join(errors),
                },
            )

    async def _look(self) -> None:
        """Refresh the view of the hosts; forget those silent for ``host_timeout``."""
        now = time.monotonic()
        # All four at once: each waits the full timeout for every host's answer, and a pass
        # must stay well within the lease's time to live.
        hosts, actors, bindings, capabilities = await asyncio.gather(
            *(
                gather(self.client, self.subjects, kind, timeout=self.inventory_timeout)
                for kind in ("hosts", "actors", "bindings", "capabilities")
            )
        )
        for answer in hosts:
            host_id = answer.get("host_id")
            if isinstance(host_id, str):
                view = self.hosts.setdefault(host_id, HostView(host_id, {}))
                view.labels = dict(answer.get("labels") or {})
                view.last_seen = now
        for answer in actors:
            known = self.hosts.get(str(answer.get("host_id")))
            if known is None:
                continue
            known.actors = {
                a["key"]: Running.of(a.get("claims") or {})
                for a in answer.get("actors", [])
                if isinstance(a, dict) and isinstance(a.get("key"), str)
            }
        for answer in bindings:
            known = self.hosts.get(str(answer.get("host_id")))
            if known is not None:
                known.bindings = {  # the bindings it made (not those it only recorded)
                    (b["actor"], b["contract_id"], b["binding"])
                    for b in answer.get("bindings", [])
                    if isinstance(b, dict) and not b.get("recorded")
                }
        for answer in capabilities:
            known = self.hosts.get(str(answer.get("host_id")))
            if known is not None:
                known.providers = {
                    (c["contract_id"], c["binding"])
                    for c in answer.get("capabilities", [])
                    if isinstance(c, dict)
                }
        for host_id in [h for h, v in self.hosts.items() if now - v.last_seen > self.host_timeout]:
            logger.warning(
                "host %s has not answered for %.0fs: its replicas go elsewhere",
                host_id,
                now - self.hosts[host_id].last_seen,
            )
            del self.hosts[host_id]

    async def _providers(
        self, version: Mapping[str, Any], loaded: list[dict[str, str]], errors: list[str]
    ) -> None:
        """Load each provider of the spec on every host whose labels fit; remove those this
        reconciler loaded (``loaded``, kept in the status) from hosts that no longer fit or
        for providers the spec dropped. Providers a host's manifest loaded are never touched."""
        wanted = {(p["contract"], p["binding"]): p for p in version.get("providers", [])}
        for view in self.hosts.values():
            for (contract, binding), spec in wanted.items():
                if (contract, binding) in view.providers or not labels_match(
                    view.labels, spec.get("constraints") or {}
                ):
                    continue
                command: dict[str, Any] = {"op": "load", "binding": binding}
                if spec.get("module"):
                    command["module"] = await self.store.module(spec["module"])
                else:
                    command.update(name=spec["name"], config=spec.get("config") or {})
                try:
                    await control.provider(
                        self.client,
                        self.subjects,
                        command,
                        host_id=view.host_id,
                        signer=self.signer,
                    )
                except WasccError as exc:
                    errors.append(f"provider {contract}: {exc}")
                    continue
                view.providers.add((contract, binding))
                loaded.append({"contract": contract, "binding": binding, "host_id": view.host_id})
                logger.info("loaded provider %s on host %s", contract, view.host_id)
        for entry in list(loaded):
            host = self.hosts.get(entry["host_id"])
            spec = wanted.get((entry["contract"], entry["binding"]))
            if host is None:
                continue  # a dead host: nothing to unload
            if spec is not None and labels_match(host.labels, spec.get("constraints") or {}):
                continue
            await self._unload(entry, host)
            loaded.remove(entry)

    async def _unload(self, entry: Mapping[str, str], view: HostView) -> None:
        command = {"op": "unload", "contract": entry["contract"], "binding": entry["binding"]}
        await control.provider(
            self.client, self.subjects, command, host_id=view.host_id, signer=self.signer
        )
        view.providers.discard((entry["contract"], entry["binding"]))
        logger.info("removed provider %s from host %s", entry["contract"], view.host_id)

    async def _reconcile(
        self, version: Mapping[str, Any]
    ) -> tuple[list[dict[str, str]], list[str]]:
        placements: list[dict[str, str]] = []
        errors: list[str] = []
        for actor in version.get("actors", []):
            try:
                await self._actor(actor, errors)
            except WasccError as exc:
                errors.append(f"actor {_named(actor)}: {exc}")
            placements.extend(
                {"actor": actor["key"], "name": actor.get("name", ""), "host_id": view.host_id}
                for view in self.hosts.values()
                if actor["key"] in view.actors
            )
        return placements, errors

    async def _actor(self, actor: Mapping[str, Any], errors: list[str]) -> None:
        key, digest = actor["key"], actor["module"]
        wanted_module = Running(actor["hash"], int(actor.get("rev") or 0))
        wanted = int(actor.get("replicas", 1))
        constraints = dict(actor.get("constraints") or {})
        running = [v for v in self.hosts.values() if key in v.actors]
        misplaced = [v for v in running if not labels_match(v.labels, constraints)]
        fitting = [v for v in running if labels_match(v.labels, constraints)]
        extra = sorted(fitting, key=lambda v: -v.load)[: max(0, len(fitting) - wanted)]
        for view in (*misplaced, *extra):
            await self._terminate(view, key, f"actor {_named(actor)}")
        kept = [v for v in fitting if v not in extra]
        stale = [v for v in kept if v.actors.get(key) != wanted_module]
        if stale:  # a new version: one host per pass, the others serve meanwhile
            view = stale[0]
            module = await self.store.module(digest)
            # An older revision than the running one is a rollback the operator applied
            # (`wascc apply --version N`): forced, as `wascc ctl update actor --force` is.
            # The host still checks the module's signature and issuer.
            older = wanted_module.rev < view.actors[key].rev
            await control.update(
                self.client,
                self.subjects,
                module,
                force=older,
                host_id=view.host_id,
                signer=self.signer,
            )
            view.actors[key] = wanted_module
            logger.info("updated actor %s on host %s", _named(actor), view.host_id)
        missing = wanted - len(kept)
        if missing <= 0:
            await self._bind(actor, kept)
            return
        candidates = sorted(
            (
                v
                for v in self.hosts.values()
                if key not in v.actors and labels_match(v.labels, constraints)
            ),
            key=lambda v: (v.load, v.host_id),
        )
        if len(candidates) < missing:
            wanted_labels = ", ".join(f"{k}={v}" for k, v in constraints.items()) or "any"
            errors.append(
                f"actor {_named(actor)}: {wanted} replicas asked, but only "
                f"{len(kept) + len(candidates)} hosts fit (labels: {wanted_labels})"
            )
        if candidates:
            module = await self.store.module(digest)
        for view in candidates[:missing]:
            await control.launch(
                self.client, self.subjects, module, host_id=view.host_id, signer=self.signer
            )
            view.actors[key] = wanted_module
            kept.append(view)
            logger.info("started actor %s on host %s", _named(actor), view.host_id)
        await self._bind(actor, kept)

    async def _bind(self, actor: Mapping[str, Any], hosts: list[HostView]) -> None:
        """Make each of the actor's bindings once in the lattice, on one of the ``hosts``
        that run it (the least loaded): a binding is the lattice's, and every replica serves
        it. One whose host died is made again on another. Those the spec no longer has are
        removed (``wascc:extras``, which hosts bind themselves, excepted)."""
        key = actor["key"]
        wanted = {
            (key, b["contract"], b["binding"]): b.get("values") or {}
            for b in actor.get("bindings", [])
        }
        made = {b for view in self.hosts.values() for b in view.bindings}
        for missing in sorted(wanted.keys() - made):
            if not hosts:
                break
            view = min(hosts, key=lambda v: (v.load, v.host_id))
            binding = {"actor": key, "contract": missing[1], "binding": missing[2]}
            await control.bind(
                self.client,
                self.subjects,
                {**binding, "values": wanted[missing]},
                host_id=view.host_id,
                signer=self.signer,
            )
            view.bindings.add(missing)
            logger.info("bound actor %s to %s on host %s", _named(actor), missing[1], view.host_id)
        for view in self.hosts.values():
            extra = {b for b in view.bindings if b[0] == key and b[1] != EXTRAS} - wanted.keys()
            for gone in sorted(extra):
                binding = {"actor": key, "contract": gone[1], "binding": gone[2]}
                await control.unbind(
                    self.client, self.subjects, binding, host_id=view.host_id, signer=self.signer
                )
                view.bindings.discard(gone)
                logger.info(
                    "unbound actor %s from %s on host %s", _named(actor), gone[1], view.host_id
                )

    async def _terminate(self, view: HostView, key: str, what: str) -> None:
        """Stop ``key`` on ``view``'s host; its bindings there go with it."""
        await control.terminate(
            self.client, self.subjects, key, host_id=view.host_id, signer=self.signer
        )
        view.actors.pop(key, None)
        view.bindings = {b for b in view.bindings if b[0] != key}
        logger.info("stopped %s on host %s", what, view.host_id)

    async def _keys(self, name: str, numbers: Iterable[int]) -> set[str]:
        """The actors versions ``numbers`` of ``name`` list. A stored version never changes,
        so each is read once per process, not on every pass."""
        keys: set[str] = set()
        for number in numbers:
            listed = self._version_keys.get((name, number))
            if listed is None:
                try:
                    version = await self.store.version(name, number)
                except WasccError:
                    continue
                listed = frozenset(a["key"] for a in version.get("actors", []))
                self._version_keys[(name, number)] = listed
            keys |= listed
        return keys

    async def _stop_dropped(
        self, name: str, versions: tuple[int, ...], version: Mapping[str, Any]
    ) -> None:
        """Stop the actors of the application's other versions that this one no longer lists
        (a new version may replace an actor by another, under another key)."""
        current = {a["key"] for a in version.get("actors", [])}
        dropped = await self._keys(name, versions) - current
        for view in self.hosts.values():
            for key in sorted(dropped & set(view.actors)):
                await self._terminate(view, key, f"actor {key}, which {name} no longer lists")

    async def _remove(
        self, name: str, versions: tuple[int, ...], loaded: list[dict[str, str]]
    ) -> None:
        """Stop a deleted application's actors and remove the providers it loaded; then
        forget it."""
        keys = await self._keys(name, versions)
        for view in self.hosts.values():
            for key in sorted(keys & set(view.actors)):
                await self._terminate(view, key, f"actor {key} of deleted application {name}")
        for entry in loaded:
            host = self.hosts.get(entry["host_id"])
            if host is not None and (entry["contract"], entry["binding"]) in host.providers:
                await self._unload(entry, host)
        await self.store.forget(name)
        # An application applied again under this name starts again at version 1.
        for cached in [k for k in self._version_keys if k[0] == name]:
            del self._version_keys[cached]
        logger.info("application %s deleted", name)


def _named(actor: Mapping[str, Any]) -> str:
    name = actor.get("name")
    return f"{name} ({actor['key']})" if name else str(actor["key"])
