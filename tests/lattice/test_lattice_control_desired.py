"""The control commands the reconciler sends besides launch, terminate and update: bind and
unbind an actor a host runs, and load or remove a provider. Signed like every control
command; a provider command never makes a host import code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, nats_url, until
from tests.support.servers import ServerProcess
from wascc.host.errors import LatticeError
from wascc.host.lattice import LatticeClient, Subjects
from wascc.host.lattice.client import Message
from wascc.host.lattice.command import Controller
from wascc.host.lattice.control import bind, launch, provider, unbind
from wascc.host.lattice.events import parse_event, verify_event
from wascc.keys.nkeys import KeyPair

pytestmark = pytest.mark.timeout(60)


async def test_bind_unbind_and_providers_by_command(
    member: MakeMember,
    signer: Signer,
    nats: ServerProcess,
    lattice_account: KeyPair,
    tmp_path: Path,
) -> None:
    ctl = Controller(lattice_account)
    host, lattice = await member(data_dir=tmp_path / "data")
    client = LatticeClient(nats_url(nats), name="ctl")
    await client.connect_once()
    subjects = Subjects()
    where = {"host_id": lattice.host_id, "signer": ctl}
    try:
        loaded = await provider(
            client, subjects, {"op": "load", "name": "keyvalue", "binding": "default"}, **where
        )
        assert loaded["contract"] == "wascc:keyvalue"
        assert host.find_provider("wascc:keyvalue", "default") is not None

        counter = signer.sign("kvcounter", caps=["wascc:keyvalue"])
        key = (await launch(client, subjects, counter, **where))["key"]
        binding = {"actor": key, "contract": "wascc:keyvalue", "binding": "default"}
        await bind(client, subjects, {**binding, "values": {"BACKEND": "memory"}}, **where)
        assert host.find_binding(key, "wascc:keyvalue", "default") is not None
        await unbind(client, subjects, binding, **where)
        assert host.find_binding(key, "wascc:keyvalue", "default") is None

        # Code a command names is never imported, whoever signed it.
        python = {"op": "load", "name": "wascc.providers.keyvalue:KeyValueProvider"}
        with pytest.raises(LatticeError, match="only a built-in provider or a provider module"):
            await provider(client, subjects, python, **where)
        # Unsigned: refused before anything is read.
        with pytest.raises(LatticeError, match="refused"):
            await provider(
                client,
                subjects,
                {"op": "unload", "contract": "wascc:keyvalue"},
                host_id=lattice.host_id,
            )
        assert host.find_provider("wascc:keyvalue", "default") is not None
        await provider(client, subjects, {"op": "unload", "contract": "wascc:keyvalue"}, **where)
        assert host.find_provider("wascc:keyvalue", "default") is None
    finally:
        await client.close()


async def test_hosts_send_signed_heartbeats(member: MakeMember, nats: ServerProcess) -> None:
    """Every ``heartbeat`` seconds a joined host publishes ``host_heartbeat``, signed by its
    key, with its labels: what reconcilers count as a sign of life."""
    _, lattice = await member(labels={"zone": "eu"}, heartbeat=0.2)
    client = LatticeClient(nats_url(nats), name="watcher")
    await client.connect_once()
    seen: list[dict[str, Any]] = []

    async def on_event(msg: Message) -> None:
        event = parse_event(bytes(msg.data))
        if event["type"] == "host_heartbeat":
            seen.append(event)

    try:
        await client.subscribe(Subjects().events, on_event)
        await until(lambda: len(seen) >= 2, timeout=5)
    finally:
        await client.close()
    beat = seen[0]
    assert beat["source"] == lattice.host_id
    assert beat["data"] == {"labels": {"zone": "eu"}, "actors": 0}
    assert verify_event(beat)["iss"] == lattice.host_id
