"""``Lattice``: one host's membership of a lattice of hosts linked by NATS.

``join()`` makes the lattice the host's ``remote`` router (consulted only for targets that are
not local), subscribes the host's subjects and connects, retrying with backoff in the
background when NATS is not there yet, so the host serves its local work meanwhile. Teardown
mirrors it: ``stop_serving()`` first (no new work from the lattice), then the host stops (its
bindings to remote providers are removed over the lattice), then ``leave()``.

Bindings outlive outages. A binding to a provider on another host is sent to the provider's
root subject when made, again whenever a host announces ``provider_loaded``, and again after
every reconnection to NATS (when each host also announces its providers anew), so neither a
NATS restart nor a provider host that restarted meanwhile loses it. A binding may also name
an actor that runs on another host (``bind_remote_actor``, from a manifest): the provider is
told as above, and the hosts running the actor record the binding from the
``actor_binding_created`` event (announced again when such a host starts the actor), so the
actor's calls are routed to the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wascc.host.errors import IssuerMismatch, WasccError
from wascc.host.lattice.client import LatticeClient, Message
from wascc.host.lattice.control import ControlServer
from wascc.host.lattice.directory import Directory
from wascc.host.lattice.errors import LatticeError, MalformedMessage
from wascc.host.lattice.events import EventType, cloud_event, parse_event, verify_event
from wascc.host.lattice.inventory import gather, host_inventory
from wascc.host.lattice.remote import MAX_MESSAGE, BindingKey, Remote
from wascc.host.lattice.subjects import INVENTORY_KINDS, InventoryKind, Subjects
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.trust.policy import UNANCHORED
from wascc.keys.claims import Claims
from wascc.keys.creds import UserCredentials
from wascc.keys.nkeys import KeyPair
from wascc.keys.vouch import read_voucher, vouch

if TYPE_CHECKING:
    from wascc.host.host import Host

__all__ = ["DIRECTORY_WAIT", "Lattice", "LatticeConfig"]

logger = logging.getLogger("wascc.lattice")

DIRECTORY_WAIT = 0.3
"""Seconds the first inventory of the other hosts' actors is collected for, on joining."""


@dataclass(frozen=True)
class LatticeConfig:
    """How to join: the NATS URL, the namespace, the RPC timeout, the host key (a fresh one
    per process unless ``seed`` is given), the host's voucher from the lattice's account (or
    the account's key, ``vouch_with``, to make one for the host key at start), and the NATS
    user credentials of a server that requires them. Whom the host trusts is its
    ``Host.trust`` policy."""

    url: str
    namespace: str | None = None
    rpc_timeout: float = 2.0
    seed: str | None = None
    max_message: int = MAX_MESSAGE
    credentials: UserCredentials | None = None
    voucher: str | None = field(default=None, repr=False)
    vouch_with: KeyPair | None = field(default=None, repr=False)
    # Where providers a control command loads keep their files (key-value stores).
    data_dir: Path | None = None
    # Seconds between two host_heartbeat events (reconcilers count a silent host as gone).
    heartbeat: float = 2.0

    def __repr__(self) -> str:  # never show the seed
        return f"LatticeConfig(url={self.url!r}, namespace={self.namespace!r})"


class Lattice:
    """The lattice side of one host (see the module docstring for the lifecycle)."""

    def __init__(self, host: Host, config: LatticeConfig) -> None:
        self.host = host
        self.config = config
        self.key = KeyPair.from_seed(config.seed) if config.seed else KeyPair.generate("server")
        if self.key.kind != "server":
            raise LatticeError("the lattice host key must be a server key (a seed starting SN)")
        self.host_id = self.key.public_key
        policy = host.trust
        if not policy.lattice_anchored and not policy.insecure_lattice:
            raise LatticeError(UNANCHORED.format(url=config.url))
        self.voucher = self._voucher(config)
        self.trust = LatticeTrust(policy, self.host_id, rpc_timeout=config.rpc_timeout)
        self.subjects = Subjects(config.namespace)
        self.client = LatticeClient(
            config.url, name=f"wascc-py host {self.host_id[:8]}", credentials=config.credentials
        )
        self.remote = Remote(
            host,
            self.client,
            self.subjects,
            self.key,
            self.trust,
            voucher=self.voucher,
            rpc_timeout=config.rpc_timeout,
            max_message=config.max_message,
        )
        self.control = ControlServer(
            host, self.client, self.subjects, self.host_id, self.trust, data_dir=config.data_dir
        )
        self.directory = Directory(self.host_id)
        self._started = time.monotonic()
        self._connecting: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._joined = False
        # Bindings this host made for actors of other hosts (from its manifest).
        self.remote_actor_bindings: set[BindingKey] = set()
        # Bindings of local actors that another host made: key → that host's id.
        self.adopted: dict[BindingKey, str] = {}
        self.client.on_reconnected = self._on_reconnected

    def _voucher(self, config: LatticeConfig) -> str | None:
        """This host's voucher: given, or made now with the account key given; checked to
        be for this host's key from the lattice's account, so a mistake shows at start."""
        anchor = self.host.trust.lattice_account
        token = config.voucher
        if token is None and config.vouch_with is not None:
            token = vouch(config.vouch_with, self.host_id, name=self.host.labels.get("name"))
        if token is None:
            if anchor is not None and self.host_id not in self.host.trust.hosts:
                logger.warning(
                    "host %s has no voucher from the lattice's account %s: hosts anchored in "
                    "it refuse its invocations unless they list it with --trust-host; give it "
                    "--host-token (made by `wascc keys vouch`)",
                    self.host_id,
                    anchor,
                )
            return None
        try:
            voucher = read_voucher(token)
        except WasccError as exc:
            raise LatticeError(
                f"the host's voucher (--host-token) does not verify: {exc}"
            ) from None
        if voucher.subject != self.host_id:
            raise LatticeError(
                f"the host's voucher (--host-token) is for {voucher.subject}, not for this host's "
                f"key {self.host_id}; vouch for this key, or start with the key it names "
                "(--host-key)"
            )
        if anchor is not None and voucher.account != anchor:
            raise LatticeError(
                f"the host's voucher (--host-token) is from account {voucher.account}, not from "
                f"the lattice's account {anchor}; make one with that account"
            )
        return token

    # lifecycle --------------------------------------------------------------------------------

    async def join(self, *, wait: float = 0.0) -> None:
        """Route the host's non-local calls through the lattice and serve its actors and
        providers; connect in the background (``wait`` seconds for the first connection
        before returning, ``LatticeError`` after that only if ``wait`` > 0 and it failed)."""
        if self._joined:
            return
        self._joined = True
        if self.host.trust.insecure_lattice:
            logger.warning(
                "insecure lattice: host %s accepts invocations and control commands from any "
                "process that reaches NATS at %s; give it a trust anchor (--lattice-account) "
                "outside experiments",
                self.host_id,
                self.config.url,
            )
        self.host.remote = self
        for kind in INVENTORY_KINDS:
            await self.client.subscribe(self.subjects.inventory(kind), self._on_inventory)
        await self.client.subscribe(self.subjects.events, self._on_event)
        await self.control.subscribe()
        inventory = self.host.inventory()
        for actor in inventory["actors"]:
            await self.remote.serve(self.subjects.actor(actor["key"]))
        for provider in inventory["providers"]:
            await self.remote.serve(
                self.subjects.provider_root(provider["contract_id"], provider["binding"]),
                queue=False,
            )
        self._connecting = asyncio.create_task(self._connect(), name="lattice connect")
        self._beating = asyncio.create_task(self._heartbeats(), name="lattice heartbeat")
        if wait > 0 and not await self.client.wait_connected(wait):
            raise LatticeError(
                f"could not join the lattice at {self.config.url} within {wait:g}s; still "
                "retrying in the background"
            )

    async def _connect(self) -> None:
        await self.client.connect(retry=True)
        try:
            self.directory.fill(
                await gather(self.client, self.subjects, "actors", timeout=DIRECTORY_WAIT)
            )
        except LatticeError as exc:
            logger.warning("lattice: could not ask which actors the other hosts run: %s", exc)
        self.directory.ready.set()
        await self._emit("host_started", {"labels": self.host.labels})
        inventory = self.host.inventory()
        for actor in inventory["actors"]:
            await self._emit("actor_started", _actor_data(actor))
        await self._announce()

    async def _announce(self) -> None:
        """Tell the lattice what this host offers and needs: its providers (hosts bound to
        them replay their bindings), its bindings to other hosts' providers, and its
        bindings of other hosts' actors."""
        for p in self.host.inventory()["providers"]:
            await self._emit(
                "provider_loaded", {"capability_id": p["contract_id"], "binding_name": p["binding"]}
            )
        for _, contract_id, binding in sorted({k for k in self.remote.outgoing}):
            await self.remote.replay(contract_id, binding)
        for key in sorted(self.remote_actor_bindings):
            await self._emit_binding("actor_binding_created", key)

    async def _on_reconnected(self) -> None:
        """NATS came back (subscriptions are restored): announce again, since a host that
        restarted meanwhile, or whose announcements were lost, knows nothing of ours."""
        await self._announce()

    async def stop_serving(self) -> None:
        """Take no more work from the lattice; finish what is in flight. Outgoing calls
        (``RemoveActor`` to remote providers during shutdown) still work."""
        await self.remote.stop_serving()

    async def leave(self) -> None:
        """Announce ``host_stopped`` and disconnect. Idempotent."""
        if not self._joined:
            return
        self._joined = False
        for task in (self._connecting, self._beating):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.remote.stop_serving()
        await self.unbind_remote_actors()
        self.adopted.clear()
        if self.client.is_connected:
            await self._emit("host_stopped", {"labels": self.host.labels})
        if self.host.remote is self:
            self.host.remote = None
        await self.client.close()

    async def __aenter__(self) -> Lattice:
        await self.join()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.leave()

    # the host's remote router -----------------------------------------------------------------

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes:
        """Invoke an actor that runs on another host, within the RPC timeout (``timeout``
        may shorten it, never lengthen it)."""
        return await self.remote.call_actor(
            actor, operation, payload, origin=origin, timeout=timeout
        )

    async def call_provider(
        self,
        actor: str,
        contract_id: str,
        binding: str,
        operation: str,
        payload: bytes,
        *,
        timeout: float | None = None,
    ) -> bytes:
        """An actor's call to a provider on another host (within the RPC timeout)."""
        return await self.remote.call_provider(
            actor, contract_id, binding, operation, payload, timeout=timeout
        )

    async def bind_actor(
        self, actor: str, contract_id: str, binding: str, values: Mapping[str, str]
    ) -> None:
        """Bind a local actor to a provider on another host (``BindActor``, replayed)."""
        await self.remote.bind_actor(actor, contract_id, binding, values)

    async def remove_actor(self, actor: str, contract_id: str, binding: str) -> None:
        """Remove such a binding (``RemoveActor``)."""
        await self.remote.remove_actor(actor, contract_id, binding)

    def resolve_alias(self, alias: str) -> str | None:
        """The actor another host of the lattice registered under the call alias ``alias``."""
        return self.directory.alias(alias)

    async def check_identity(self, claims: Claims) -> None:
        """Refuse (``IssuerMismatch``) to start an actor whose key another host of the
        lattice runs under another account. Without NATS the lattice cannot tell: allowed."""
        if not self.client.is_connected:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2 * DIRECTORY_WAIT):
                await self.directory.ready.wait()
        others = self.directory.others(claims.subject, claims.issuer)
        if others:
            host_id, issuer = sorted(others.items())[0]
            raise IssuerMismatch(
                f"refused to start actor {claims.name or claims.subject} ({claims.subject}) "
                f"issued by account {claims.issuer}: host {host_id} of the lattice runs it "
                f"issued by account {issuer}. An actor's identity is its account and its key; "
                "sign it with the account that runs it, or stop it there first and rotate "
                "on purpose"
            )

    # bindings of actors that run on other hosts ----------------------------------------------

    async def find_actor(self, actor: str, *, timeout: float) -> tuple[str, dict[str, Any]]:
        """The id of a host that runs ``actor`` and the actor's claims, from the lattice's
        inventory (asked again until ``timeout``: that host may still be starting);
        ``LatticeError`` naming the fix if no host runs it or the lattice is unreachable."""
        if not await self.client.wait_connected(timeout):
            raise LatticeError(
                f"cannot look up actor {actor} in the lattice: NATS at {self.config.url} cannot "
                "be reached; start nats-server, or run the actor on this host"
            )
        deadline = time.monotonic() + timeout
        while True:
            wait = min(0.5, max(0.05, deadline - time.monotonic()))
            for answer in await gather(self.client, self.subjects, "actors", timeout=wait):
                if answer["host_id"] == self.host_id:
                    continue
                for item in answer.get("actors", []):
                    claims = item.get("claims") if isinstance(item, dict) else None
                    if item.get("key") == actor and isinstance(claims, dict):
                        return str(answer["host_id"]), claims
            if time.monotonic() >= deadline:
                raise LatticeError(
                    f"no host of the lattice at {self.config.url} runs actor {actor} (asked for "
                    f"{timeout:g}s); start the host that runs it first, or add its module to "
                    "this manifest's actors"
                )
            await asyncio.sleep(0.1)

    async def bind_remote_actor(
        self, actor: str, contract_id: str, binding: str, values: Mapping[str, str]
    ) -> None:
        """Bind ``actor``, which runs on another host, to the provider of ``contract_id``
        (wherever it runs, this host included): ``BindActor`` to the provider as for a local
        actor, and ``actor_binding_created`` so the hosts running the actor route its calls.
        The caller checked the actor's claims (``find_actor``)."""
        key = (actor, contract_id, binding)
        self.remote_actor_bindings.add(key)
        await self.remote.bind_actor(actor, contract_id, binding, values)
        await self._emit_binding("actor_binding_created", key)
        logger.info("bound remote actor %s to %s (binding %s)", actor, contract_id, binding)

    async def unbind_remote_actors(self) -> None:
        """Undo every ``bind_remote_actor`` (``RemoveActor``, ``actor_binding_removed``)."""
        for key in sorted(self.remote_actor_bindings):
            self.remote_actor_bindings.discard(key)
            await self.remote.remove_actor(*key)
            await self._emit_binding("actor_binding_removed", key)

    async def _emit_binding(self, kind: EventType, key: BindingKey) -> None:
        if self.client.is_connected:
            actor, contract_id, binding = key
            data = {"actor": actor, "capability_id": contract_id, "binding_name": binding}
            await self._emit(kind, data)

    def _adopt(self, kind: str, source: str, data: Mapping[str, Any]) -> None:
        """Record (or forget) another host's binding of an actor that runs here."""
        fields = (data.get("actor"), data.get("capability_id"), data.get("binding_name"))
        if not all(isinstance(f, str) for f in fields):
            return
        key: BindingKey = fields  # type: ignore[assignment]
        if kind == "actor_binding_created":
            if self.host.record_binding(*key):
                self.adopted[key] = source
        elif self.adopted.get(key) == source and self.host.forget_binding(*key):
            del self.adopted[key]

    async def _announce_bindings_of(self, actor: str) -> None:
        """Another host started ``actor``: tell it the bindings this host made for it."""
        keys = {k for k in self.remote_actor_bindings if k[0] == actor}
        for b in self.host.inventory()["bindings"]:
            key = (b["actor"], b["contract_id"], b["binding"])
            if b["actor"] == actor and key not in self.adopted:
                keys.add(key)
        for key in sorted(keys):
            await self._emit_binding("actor_binding_created", key)

    async def changed(self, event: str, data: Mapping[str, Any]) -> None:
        """The host tells what changed: adjust subscriptions, publish the event. Never
        raises: the host's own operation already happened."""
        try:
            if event == "actor_started":
                await self.remote.serve(self.subjects.actor(data["public_key"]))
            elif event == "actor_stopped":
                for key in [k for k in self.adopted if k[0] == data["public_key"]]:
                    del self.adopted[key]  # the host dropped its bindings with the actor
                await self.remote.unserve(self.subjects.actor(data["public_key"]))
            elif event == "provider_loaded":
                root = self.subjects.provider_root(data["capability_id"], data["binding_name"])
                await self.remote.serve(root, queue=False)
            elif event == "provider_removed":
                contract_id, binding = data["capability_id"], data["binding_name"]
                await self.remote.forget_provider(contract_id, binding)
                await self.remote.unserve(self.subjects.provider_root(contract_id, binding))
        except LatticeError as exc:
            logger.warning("lattice: could not follow %s: %s", event, exc)
        if self.client.is_connected:
            await self._emit(event, data)  # type: ignore[arg-type]

    # events and inventory -----------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """``host_heartbeat`` every ``config.heartbeat`` seconds while joined and connected:
        how reconcilers tell a live host from a dead one between their inventory queries."""
        while True:
            await asyncio.sleep(self.config.heartbeat)
            if self.client.is_connected:
                data = {"labels": self.host.labels, "actors": len(self.host.inventory()["actors"])}
                await self._emit("host_heartbeat", data)

    async def _emit(self, kind: EventType, data: Mapping[str, Any]) -> None:
        try:
            event = cloud_event(kind, self.host_id, data, signer=self.key, voucher=self.voucher)
            await self.client.publish(self.subjects.events, event, what="event")
        except LatticeError as exc:
            logger.debug("event %s not published: %s", kind, exc)

    async def _on_event(self, msg: Message) -> None:
        try:
            event = parse_event(bytes(msg.data))
        except MalformedMessage as exc:
            logger.debug("ignoring an event: %s", exc)
            return
        kind, source, data = event["type"], event["source"], event["data"]
        if source == self.host_id:
            return
        try:  # hosts act on each other's events: only on signed ones of trusted hosts
            claims = verify_event(event)
            what = f"event {kind} from host {source}"
            voucher = event.get("wasccvoucher")
            voucher = voucher if isinstance(voucher, str) else None
            self.trust.admit(lambda: what, source, voucher, claims)
        except LatticeError as exc:
            logger.info("lattice: ignoring an event: %s", exc)
            return
        if kind != "host_heartbeat":  # every 2 s per host: signs of life, not news
            self.host.events.record(kind, data, host=source)
        if kind in ("actor_started", "actor_update_complete"):
            self.directory.record(
                source, data.get("public_key"), data.get("issuer"), data.get("call_alias")
            )
        elif kind == "actor_stopped":
            self.directory.forget(source, data.get("public_key"))
        elif kind == "host_stopped":
            self.directory.forget(source)
        if kind == "provider_loaded":
            contract_id, binding = data.get("capability_id"), data.get("binding_name")
            if isinstance(contract_id, str) and isinstance(binding, str):
                await self.remote.replay(contract_id, binding)
        elif kind == "actor_started" and isinstance(data.get("public_key"), str):
            await self._announce_bindings_of(data["public_key"])
        elif kind in ("actor_binding_created", "actor_binding_removed"):
            self._adopt(kind, source, data)
        elif kind == "host_stopped":
            for key in [k for k, host in self.adopted.items() if host == source]:
                self.host.forget_binding(*key)
                del self.adopted[key]

    async def _on_inventory(self, msg: Message) -> None:
        kind: InventoryKind = str(msg.subject).rsplit(".", 1)[-1]  # type: ignore[assignment]
        if not msg.reply:
            return
        try:
            answer = host_inventory(kind, self.host, self.host_id, self._started, self.stats())
            if kind == "bindings":  # with what this host bound for actors of other hosts
                answer["bindings"] += [
                    {"actor": a, "contract_id": c, "binding": b, "remote_actor": True}
                    for a, c, b in sorted(self.remote_actor_bindings)
                ]
            await self.client.publish(msg.reply, json.dumps(answer).encode(), what="inventory")
        except Exception:  # a bug: logged in full; the subscription lives on
            logger.exception("inventory of %s failed", kind)

    def stats(self) -> dict[str, Any]:
        """Connection and serving counters."""
        return {
            "connected": self.client.is_connected,
            **self.remote.stats(),
            "trust": self.trust.stats(),
        }


def _actor_data(actor: Mapping[str, Any]) -> dict[str, Any]:
    claims = actor["claims"]
    return {
        "public_key": actor["key"],
        "call_alias": actor.get("call_alias"),
        "name": claims.get("name"),
        "rev": claims.get("rev"),
        "issuer": claims.get("issuer"),
    }
