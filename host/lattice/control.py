"""Lattice control: launch, terminate and update actors on a host, and auctions by label.

Each host serves ``wasmbus.control.{host_id}.actor.{launch,terminate,update}`` and answers
``wasmbus.control.auction.request`` when its labels match the constraints; ``bind`` and
``unbind`` make or remove a binding of an actor it runs (the reconciler's bindings);
``provider`` loads or removes a provider: a built-in one (never a Python import path: a
control command does not make a host import code) or a signed provider module. The functions
at the bottom are the client side, used by ``wascc ctl`` and the reconciler.

Commands are signed by a controller the host trusts and checked before anything else
(``host.lattice.command``); the modules they carry are then validated like any other
(signature, trusted issuers, the running actor's issuer), so a control message cannot run an
actor the host would not load from its manifest. Launch and update carry msgpack ``{module:
bin, force?: bool, rotate_issuer?: bool}``, terminate JSON ``{actor}``, bind and unbind JSON
``{actor, contract, binding, values?}``; the auction (JSON
``{constraints: {label: value}, actor?}``) only asks, so it is not signed. Every answer is
JSON ``{ok, ...}``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from wascc.host.capabilities import BUILTIN_CONTRACTS, BUILTINS, resolve_provider
from wascc.host.errors import LatticeError, WasccError
from wascc.host.lattice.client import LatticeClient, Message
from wascc.host.lattice.command import Controller, open_command, seal_command
from wascc.host.lattice.inventory import gather
from wascc.host.lattice.subjects import Subjects
from wascc.host.lattice.trust import LatticeTrust
from wascc.keys.claims import Claims, validate_module

if TYPE_CHECKING:
    from wascc.host.host import Host

__all__ = [
    "ACTIONS",
    "ControlServer",
    "auction",
    "bind",
    "launch",
    "provider",
    "terminate",
    "unbind",
    "update",
]

logger = logging.getLogger("wascc.lattice")

_BINDING_FIELDS = ("actor", "contract", "binding")

ACTIONS = ("launch", "terminate", "update", "bind", "unbind", "provider")


def labels_match(labels: Mapping[str, str], constraints: Mapping[str, str]) -> bool:
    """Whether every constraint ``key=value`` holds in ``labels``."""
    return all(labels.get(k) == v for k, v in constraints.items())


class ControlServer:
    """Serves one host's control subjects and the auction."""

    def __init__(
        self,
        host: Host,
        client: LatticeClient,
        subjects: Subjects,
        host_id: str,
        trust: LatticeTrust,
        *,
        data_dir: Path | None = None,
    ):
        self.host = host
        self.client = client
        self.subjects = subjects
        self.host_id = host_id
        self.trust = trust
        self.data_dir = data_dir

    async def subscribe(self) -> None:
        """Subscribe the control subjects (plain subscriptions: one host, one subject)."""
        for action in ACTIONS:
            await self.client.subscribe(self.subjects.control(self.host_id, action), self._on)
        await self.client.subscribe(self.subjects.auction, self._on_auction)

    async def _on(self, msg: Message) -> None:
        action = str(msg.subject).rsplit(".", 1)[-1]
        try:
            answer = await self._act(action, bytes(msg.data))
        except (WasccError, ValueError) as exc:
            logger.warning("control %s refused: %s", action, exc)
            answer = {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug: logged in full, answered, subscription lives
            logger.exception("control %s failed", action)
            answer = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}
        if msg.reply:
            await self.client.publish(msg.reply, json.dumps(answer).encode(), what="control")

    async def _act(self, action: str, data: bytes) -> dict[str, Any]:
        data = open_command(action, data, self.trust)
        if action in ("bind", "unbind"):
            return await self._binding(action, data)
        if action == "provider":
            return await self._provider(data)
        if action == "terminate":
            body = json.loads(data)
            actor = body.get("actor") if isinstance(body, dict) else None
            if not isinstance(actor, str):
                raise ValueError("terminate needs {actor: KEY}")
            await self.host.remove_actor(actor)
            return {"ok": True, "host_id": self.host_id, "key": actor}
        body = msgpack.unpackb(data, raw=False)
        module = body.get("module") if isinstance(body, dict) else None
        if not isinstance(module, bytes):
            raise ValueError(f"{action} needs {{module: bin}}")
        if action == "launch":
            claims = await self.host.add_actor(module, path="a module sent by wascc ctl")
        else:
            claims = await self.host.replace_actor(
                module,
                force=bool(body.get("force", False)),
                rotate_issuer=bool(body.get("rotate_issuer", False)),
                path="wascc ctl update",
            )
        return {
            "ok": True,
            "host_id": self.host_id,
            "key": claims.subject,
            "name": claims.name,
            "rev": claims.rev,
        }

    async def _binding(self, action: str, data: bytes) -> dict[str, Any]:
        body = json.loads(data)
        fields = [body.get(k) if isinstance(body, dict) else None for k in _BINDING_FIELDS]
        values = body.get("values", {}) if isinstance(body, dict) else None
        if not all(isinstance(f, str) for f in fields) or not (
            isinstance(values, dict) and all(isinstance(v, str) for v in values.values())
        ):
            raise ValueError(f"{action} needs {{actor, contract, binding, values: {{str: str}}}}")
        actor, contract, binding = (str(f) for f in fields)
        if action == "bind":
            await self.host.set_binding(actor, contract, binding, values)
        else:
            await self.host.remove_binding(actor, contract, binding)
        return {"ok": True, "host_id": self.host_id, "key": actor}

    async def _provider(self, data: bytes) -> dict[str, Any]:
        body = msgpack.unpackb(data, raw=False)
        if not isinstance(body, dict) or body.get("op") not in ("load", "unload"):
            raise ValueError("provider needs {op: load|unload, ...}")
        binding = str(body.get("binding") or "default")
        if body["op"] == "unload":
            await self.host.remove_provider(str(body.get("contract")), binding)
            return {"ok": True, "host_id": self.host_id}
        module = body.get("module")
        if isinstance(module, bytes):
            provider = await self.host.add_wasm_provider(
                module, binding=binding, path="a provider module sent by the reconciler"
            )
            return {"ok": True, "host_id": self.host_id, "contract": provider.contract_id}
        name, config = body.get("name"), body.get("config") or {}
        if not isinstance(name, str) or not isinstance(config, dict):
            raise ValueError("provider load needs {name, config?} or {module}")
        if name not in BUILTINS and name not in BUILTIN_CONTRACTS:
            raise ValueError(
                f"a control command may load only a built-in provider or a provider module, "
                f"not {name!r}: list providers of your own in the host's manifest"
            )
        spec = resolve_provider(name)
        problems = spec.check_config(config)
        if problems:
            raise ValueError(f"provider {name}: {'; '.join(problems)}")
        if self.data_dir is None:
            raise ValueError("this host has no data directory for providers a command loads")
        await self.host.add_provider(spec.build(config, self.data_dir), binding=binding)
        return {"ok": True, "host_id": self.host_id, "contract": spec.contract_id}

    async def _on_auction(self, msg: Message) -> None:
        try:
            body = json.loads(bytes(msg.data))
            constraints = body.get("constraints", {})
            actor = body.get("actor")
        except (ValueError, AttributeError):
            logger.warning("ignoring an auction request that is not JSON {constraints, actor}")
            return
        if not isinstance(constraints, dict) or not msg.reply:
            return
        if not labels_match(self.host.labels, constraints):
            return
        if isinstance(actor, str) and any(
            a["key"] == actor for a in self.host.inventory()["actors"]
        ):
            return  # already runs it: let another host take it
        answer = {"host_id": self.host_id, "labels": self.host.labels}
        await self.client.publish(msg.reply, json.dumps(answer).encode(), what="auction")


# client side (wascc ctl) ---------------------------------------------------------------------


def _answer(raw: bytes, what: str) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LatticeError(f"{what}: the host answered with something that is not JSON") from None
    if not isinstance(answer, dict):
        raise LatticeError(f"{what}: the host's answer is not a JSON object")
    if not answer.get("ok"):
        raise LatticeError(f"{what}: {answer.get('error', 'refused')}")
    return answer


async def auction(
    client: LatticeClient,
    subjects: Subjects,
    constraints: Mapping[str, str],
    *,
    actor: str | None = None,
    timeout: float = 1.0,
) -> list[str]:
    """The ids of the hosts whose labels match ``constraints`` (and that do not run ``actor``)."""
    body = json.dumps({"constraints": dict(constraints), "actor": actor}).encode()
    replies = await client.gather(subjects.auction, body, timeout=timeout, what="auction")
    hosts = []
    for raw in replies:
        try:
            answer = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(answer, dict) and isinstance(answer.get("host_id"), str):
            hosts.append(answer["host_id"])
    return hosts


async def launch(
    client: LatticeClient,
    subjects: Subjects,
    module: bytes,
    *,
    host_id: str | None = None,
    constraints: Mapping[str, str] | None = None,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Start ``module`` on ``host_id``, or on a host won by auction among those matching
    ``constraints``; the host's answer (``key``, ``name``, ``host_id``)."""
    claims = validate_module(module, path="the actor module")
    if host_id is None:
        hosts = await auction(client, subjects, constraints or {}, actor=claims.subject)
        if not hosts:
            wanted = ", ".join(f"{k}={v}" for k, v in (constraints or {}).items()) or "none"
            raise LatticeError(
                f"no host can run actor {_label(claims)}: none answered the "
                f"auction (constraints: {wanted}); start a host with matching --label"
            )
        host_id = random.choice(hosts)  # spreading load, not security
    body = seal_command(
        "launch", host_id, msgpack.packb({"module": module}, use_bin_type=True), signer
    )
    what = f"launch actor {_label(claims)} on host {host_id}"
    raw = await client.request(
        subjects.control(host_id, "launch"), body, timeout=timeout, what=what
    )
    return _answer(raw, what)


async def _hosts_running(client: LatticeClient, subjects: Subjects, actor: str) -> list[str]:
    answers = await gather(client, subjects, "actors", timeout=1.0)
    return [a["host_id"] for a in answers if any(x["key"] == actor for x in a.get("actors", []))]


async def terminate(
    client: LatticeClient,
    subjects: Subjects,
    actor: str,
    *,
    host_id: str | None = None,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Stop ``actor`` on ``host_id``, or on every host that runs it."""
    hosts = [host_id] if host_id else await _hosts_running(client, subjects, actor)
    if not hosts:
        raise LatticeError(f"no host of the lattice runs actor {actor}")
    command = json.dumps({"actor": actor}).encode()
    results = []
    for host in hosts:
        what = f"stop actor {actor} on host {host}"
        body = seal_command("terminate", host, command, signer)
        raw = await client.request(
            subjects.control(host, "terminate"), body, timeout=timeout, what=what
        )
        results.append(_answer(raw, what))
    return results


async def update(
    client: LatticeClient,
    subjects: Subjects,
    module: bytes,
    *,
    force: bool = False,
    rotate_issuer: bool = False,
    host_id: str | None = None,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Live-update the actor of ``module`` on ``host_id``, or on every host that runs it."""
    claims = validate_module(module, path="the actor module")
    hosts = [host_id] if host_id else await _hosts_running(client, subjects, claims.subject)
    if not hosts:
        raise LatticeError(f"no host of the lattice runs actor {_label(claims)}")
    command = msgpack.packb(
        {"module": module, "force": force, "rotate_issuer": rotate_issuer}, use_bin_type=True
    )
    results = []
    for host in hosts:
        what = f"update actor {_label(claims)} on host {host}"
        body = seal_command("update", host, command, signer)
        raw = await client.request(
            subjects.control(host, "update"), body, timeout=timeout, what=what
        )
        results.append(_answer(raw, what))
    return results


def _label(claims: Claims) -> str:
    """``name (key)``, or the key alone for an actor signed without a name."""
    return f"{claims.name} ({claims.subject})" if claims.name else claims.subject


async def bind(
    client: LatticeClient,
    subjects: Subjects,
    binding: Mapping[str, Any],
    *,
    host_id: str,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Make ``binding`` (``{actor, contract, binding, values}``) on ``host_id``, which runs
    the actor."""
    return await _binding_command(
        client, subjects, "bind", binding, host_id=host_id, signer=signer, timeout=timeout
    )


async def unbind(
    client: LatticeClient,
    subjects: Subjects,
    binding: Mapping[str, Any],
    *,
    host_id: str,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Remove ``binding`` (``{actor, contract, binding}``) on ``host_id``."""
    return await _binding_command(
        client, subjects, "unbind", binding, host_id=host_id, signer=signer, timeout=timeout
    )


async def _binding_command(
    client: LatticeClient,
    subjects: Subjects,
    action: str,
    binding: Mapping[str, Any],
    *,
    host_id: str,
    signer: Controller | None,
    timeout: float,
) -> dict[str, Any]:
    command = {k: binding[k] for k in (*_BINDING_FIELDS, "values") if k in binding}
    what = f"{action} actor {command['actor']} to {command['contract']} on host {host_id}"
    body = seal_command(action, host_id, json.dumps(command).encode(), signer)
    raw = await client.request(subjects.control(host_id, action), body, timeout=timeout, what=what)
    return _answer(raw, what)


async def provider(
    client: LatticeClient,
    subjects: Subjects,
    command: Mapping[str, Any],
    *,
    host_id: str,
    signer: Controller | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Load (``{op: load, name, binding, config}`` or ``{op: load, module, binding}``) or
    remove (``{op: unload, contract, binding}``) a provider on ``host_id``."""
    what = f"{command['op']} provider {command.get('name') or command.get('contract', '')}".rstrip()
    what += f" on host {host_id}"
    body = seal_command(
        "provider", host_id, msgpack.packb(dict(command), use_bin_type=True), signer
    )
    raw = await client.request(
        subjects.control(host_id, "provider"), body, timeout=timeout, what=what
    )
    return _answer(raw, what)
