"""A provider written in wasm pulled from a registry: a manifest's ``capabilities:`` entry
given as an ``oci://`` reference is pulled and verified like an actor's, is bound to an actor
with its grants, and shows its source in ``/inventory``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Signer
from tests.oci.conftest import Registry
from tests.oci.test_oci_manifest import get, push, up
from tests.process.process_support import WasccProcess, run_wascc


def test_a_provider_module_from_a_registry_serves_an_actor(
    registry: Registry,
    signer: Signer,
    tmp_path: Path,
    env: dict[str, str],
    wascc: list[WasccProcess],
) -> None:
    store = signer.sign_provider("blobstore", name="blobstore", caps=["wascc:logging"])
    pinned = push(registry, store, "blobstore:0.1.0", tmp_path)
    (tmp_path / "relay_s.wasm").write_bytes(signer.sign("relay", caps=["wascc:blobstore"]))
    (tmp_path / "blobs").mkdir()
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "registry: {insecure: true}\n"
        "actors: [relay_s.wasm]\n"
        f"capabilities:\n  - path: {pinned}\n"
        "    wasi: {dirs: [{host: blobs, guest: /blobs, mode: rw}]}\n"
        "bindings:\n  - {actor: relay_s.wasm, capability: wascc:blobstore}\n"
    )
    checked = run_wascc("validate", str(manifest), "--data-dir", "data", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr

    host = up(wascc, env, tmp_path, str(manifest), "--admin", "127.0.0.1:0")
    status, body = get(f"http://{host.admin()}/inventory", host.auth())
    assert status == 200
    (provider,) = json.loads(body)["providers"]
    assert provider["contract_id"] == "wascc:blobstore"
    assert provider["source"] == {"reference": pinned, "digest": pinned.partition("@")[2]}
    assert provider["wasi"]["dirs"] == [
        {"host": str(tmp_path / "blobs"), "guest": "/blobs", "mode": "rw"}
    ]
    # Its BindActor ran, with its grant: the actor's space exists in the granted directory.
    assert (tmp_path / "blobs" / signer.key("relay")).is_dir()
