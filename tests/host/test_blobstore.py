"""The blob store the project ships as a provider written in wasm (actors/blobstore.c,
docs/blobstore.md), loaded by a host with a read-write grant: actors bound to it keep their
blobs apart, chunks go in and come out, names cannot climb out, and every instance of the
provider knows every binding."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.conftest import Signer
from tests.host.test_wasm_provider import relay
from wascc.host import Host
from wascc.host.actor import ActorSettings
from wascc.host.errors import GuestError
from wascc.host.wasi import DirGrant, WasiGrants
from wascc.host.wasm_provider import WasmProvider

BLOBSTORE = "wascc:blobstore"


@pytest.fixture
def blobs(tmp_path: Path) -> Path:
    """The directory the store is granted."""
    (tmp_path / "blobs").mkdir()
    return tmp_path / "blobs"


async def _store(host: Host, signer: Signer, root: Path, instances: int = 1) -> WasmProvider:
    """The blob store with ``root`` (made by the ``blobs`` fixture) granted as /blobs."""
    grants = WasiGrants(dirs=(DirGrant(root, "/blobs", "rw"),))
    return await host.add_wasm_provider(
        signer.sign_provider("blobstore", name="blobstore", caps=["wascc:logging"]),
        settings=ActorSettings(max_instances=instances, wasi=grants),
    )


async def _actor(
    host: Host, signer: Signer, name: str, values: dict[str, str] | None = None
) -> str:
    claims = await host.add_actor(signer.sign("relay", name=name, caps=[BLOBSTORE]))
    await host.set_binding(claims.subject, BLOBSTORE, values=values)
    return claims.subject


async def _call(host: Host, actor: str, operation: str, request: dict[str, Any]) -> Any:
    answer = await host.call_actor(
        actor, "Call", relay(BLOBSTORE, operation, msgpack.packb(request))
    )
    return msgpack.unpackb(answer, raw=False)


async def _upload(
    host: Host, actor: str, container: str, blob: str, data: bytes, *, chunk: int
) -> None:
    await _call(host, actor, "CreateContainer", {"id": container})
    for number, start in enumerate(range(0, max(len(data), 1), chunk)):
        await _call(
            host,
            actor,
            "UploadChunk",
            {
                "sequenceNo": number,
                "container": container,
                "id": blob,
                "totalBytes": len(data),
                "chunkSize": chunk,
                "chunkBytes": data[start : start + chunk],
            },
        )


async def _download(host: Host, actor: str, container: str, blob: str, *, chunk: int) -> bytes:
    parts, number = [], 0
    while True:
        answer = await _call(
            host,
            actor,
            "DownloadChunk",
            {"sequenceNo": number, "container": container, "id": blob, "chunkSize": chunk},
        )
        if not answer["chunkBytes"]:
            return b"".join(parts)
        parts.append(answer["chunkBytes"])
        number += 1


async def test_the_provider_describes_itself(host: Host, signer: Signer, blobs: Path) -> None:
    provider = await _store(host, signer, blobs)
    assert provider.contract_id == BLOBSTORE  # from its GetCapabilityDescriptor, not given
    assert provider.descriptor.name == "wascc blob store"


async def test_two_actors_bound_to_one_store_keep_their_blobs_apart(
    host: Host, signer: Signer, blobs: Path
) -> None:
    """Same container and blob names, different contents: each actor reads back its own,
    lists only its own, and the files lie in a directory per actor key."""
    root = blobs
    await _store(host, signer, root)
    alice, bob = await _actor(host, signer, "alice"), await _actor(host, signer, "bob")
    await _upload(host, alice, "docs", "a.txt", b"alice's words " * 1000, chunk=4096)
    await _upload(host, bob, "docs", "a.txt", b"bob", chunk=4096)
    assert await _download(host, alice, "docs", "a.txt", chunk=1000) == b"alice's words " * 1000
    assert await _download(host, bob, "docs", "a.txt", chunk=1000) == b"bob"
    listed = await _call(host, bob, "ListObjects", {"id": "docs"})
    assert listed == {"blobs": [{"id": "a.txt", "container": "docs", "byteSize": 3}]}
    assert (root / alice / "docs" / "a.txt").stat().st_size == 14000
    assert (root / bob / "docs" / "a.txt").read_bytes() == b"bob"
    await _call(host, bob, "RemoveContainer", {"id": "docs"})
    assert await _download(host, alice, "docs", "a.txt", chunk=1 << 20) == b"alice's words " * 1000


async def test_a_shared_space_is_shared_only_by_those_given_it(
    host: Host, signer: Signer, blobs: Path
) -> None:
    await _store(host, signer, blobs)
    writer = await _actor(host, signer, "writer", {"SPACE": "team"})
    reader = await _actor(host, signer, "reader", {"SPACE": "team"})
    other = await _actor(host, signer, "other")
    await _upload(host, writer, "c", "note", b"shared", chunk=16)
    assert await _download(host, reader, "c", "note", chunk=16) == b"shared"
    with pytest.raises(GuestError, match="no container c"):
        await _download(host, other, "c", "note", chunk=16)


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".", ""])
async def test_names_that_would_leave_the_space_are_refused(
    host: Host, signer: Signer, blobs: Path, name: str
) -> None:
    await _store(host, signer, blobs)
    actor = await _actor(host, signer, "climber")
    await _call(host, actor, "CreateContainer", {"id": "c"})
    with pytest.raises(GuestError, match="is not allowed"):
        await _call(host, actor, "GetObjectInfo", {"id": name, "container": "c"})
    with pytest.raises(GuestError, match="is not allowed"):
        await _call(host, actor, "CreateContainer", {"id": name})


async def test_every_instance_of_the_provider_knows_every_binding(
    host: Host, signer: Signer, blobs: Path
) -> None:
    """Calls that overlap make the host start more instances; each is told about the
    bindings made before it existed, so no call fails for want of a BindActor."""
    provider = await _store(host, signer, blobs, instances=4)
    actors = [await _actor(host, signer, f"a{n}") for n in range(4)]
    for actor in actors:
        await _call(host, actor, "CreateContainer", {"id": "c"})

    async def write(actor: str, n: int) -> None:
        await _upload(host, actor, "c", f"b{n}", bytes([n]) * 70_000, chunk=8192)

    await asyncio.gather(*(write(actors[n % 4], n) for n in range(16)))
    assert provider.actor.pool.size > 1
    for n in range(16):
        assert (
            await _download(host, actors[n % 4], "c", f"b{n}", chunk=65536) == bytes([n]) * 70_000
        )


async def test_an_unbound_actor_is_refused_and_a_removed_binding_forgotten(
    host: Host, signer: Signer, blobs: Path
) -> None:
    await _store(host, signer, blobs)
    actor = await _actor(host, signer, "leaver")
    await _call(host, actor, "CreateContainer", {"id": "c"})
    await host.remove_binding(actor, BLOBSTORE)
    with pytest.raises(GuestError, match="no binding 'default' for wascc:blobstore"):
        await _call(host, actor, "CreateContainer", {"id": "c"})
