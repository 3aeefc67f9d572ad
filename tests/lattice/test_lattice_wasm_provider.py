"""A provider written in wasm serves actors on other hosts of the lattice like a native one:
the binding reaches it over NATS, and each remote actor's calls arrive named by its key."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from tests.conftest import Signer
from tests.host.test_wasm_provider import relay
from tests.lattice.conftest import MakeMember, until
from wascc.host.actor import ActorSettings
from wascc.host.wasi import DirGrant, WasiGrants

pytestmark = pytest.mark.timeout(60)

BLOBSTORE = "wascc:blobstore"


async def test_remote_actors_use_a_wasm_provider_on_another_host(
    member: MakeMember, signer: Signer, tmp_path: Path
) -> None:
    a, lattice_a = await member()
    b, _ = await member()
    root = tmp_path / "blobs"
    root.mkdir()
    await a.add_wasm_provider(
        signer.sign_provider("blobstore", name="blobstore", caps=["wascc:logging"]),
        settings=ActorSettings(wasi=WasiGrants(dirs=(DirGrant(root, "/blobs", "rw"),))),
    )
    keys = []
    for name in ("left", "right"):
        claims = await b.add_actor(signer.sign("relay", name=name, caps=[BLOBSTORE]))
        await b.set_binding(claims.subject, BLOBSTORE)
        keys.append(claims.subject)

    async def bound() -> bool:
        return len(lattice_a.remote.incoming) == 2

    await until(bound)
    for key in keys:
        create = relay(BLOBSTORE, "CreateContainer", msgpack.packb({"id": key[:8]}))
        assert msgpack.unpackb(await b.call_actor(key, "Call", create)) == {"id": key[:8]}
    # Each remote actor's container is in its own space: the host named each caller.
    assert sorted(p.relative_to(root).as_posix() for p in root.glob("*/*")) == sorted(
        f"{key}/{key[:8]}" for key in keys
    )
