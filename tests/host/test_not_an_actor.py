"""A module signed as a capability provider (``prov: true``) never runs as an actor: not from a
manifest's ``actors:``, not through the host API (which live updates, ``ctl start`` and the
admin endpoint use), and the refusal says where such a module belongs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer, module_path
from tests.process.process_support import run_wascc, wascc_env
from wascc.host import Host
from wascc.host.errors import NotAnActor
from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair


def _provider_module(signer: Signer) -> bytes:
    """The echo module signed as provider ``kvstore`` (a service key, ``prov: true``)."""
    return sign_module(
        module_path("echo").read_bytes(),
        issuer=signer.account,
        subject=KeyPair.generate("service"),
        name="kvstore",
        provider=True,
    )


async def test_the_host_refuses_a_provider_as_an_actor(host: Host, signer: Signer) -> None:
    """``add_actor`` refuses it before compiling, naming the module, the flag and the fix."""
    with pytest.raises(NotAnActor) as refused:
        await host.add_actor(_provider_module(signer), path="kvstore.wasm")
    message = str(refused.value)
    assert message.startswith("kvstore.wasm is signed as a capability provider (prov: true)")
    assert "belongs under capabilities:" in message
    assert "sign it again without --provider" in message
    assert host.inventory()["actors"] == []


def test_validate_refuses_a_provider_under_actors(signer: Signer, tmp_path: Path) -> None:
    """`wascc validate` names the entry and the module, and exits 2 (invalid manifest)."""
    (tmp_path / "kvstore.wasm").write_bytes(_provider_module(signer))
    manifest = tmp_path / "app.yaml"
    manifest.write_text("actors:\n  - kvstore.wasm\n")
    done = run_wascc("validate", str(manifest), env=wascc_env(tmp_path / "keys"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "actors[0]" in done.stderr
    assert "is signed as a capability provider (prov: true)" in done.stderr
    assert "Traceback" not in done.stderr
