"""A host's identity in the lattice: ``--host-key`` / ``lattice.host_key`` fix its server key,
``--trust-host`` / ``lattice.trusted_hosts`` limit whose invocations it accepts."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import nats as nats_py
import pytest

from tests.conftest import Signer
from tests.lattice.conftest import echo_manifest, lattice_env, nats_url
from tests.process.process_support import WasccProcess, run_wascc
from tests.support.servers import ServerProcess
from wascc.host.lattice import Entity, Subjects, seal
from wascc.keys.nkeys import KeyPair

pytestmark = pytest.mark.timeout(90)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["options", "manifest"])
async def test_given_host_key_and_trusted_hosts(
    nats: ServerProcess, signer: Signer, tmp_path: Path, where: str
) -> None:
    """The host answers as the given key, and serves invocations signed by a trusted host
    but refuses those of any other host, however well signed."""
    url = nats_url(nats)
    host_key, trusted, stranger = (KeyPair.generate("server") for _ in range(3))
    (tmp_path / "host.nk").write_text(host_key.seed + "\n")
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    env = lattice_env(tmp_path / "keys")
    if where == "options":
        manifest = echo_manifest(tmp_path)
        args: tuple[str, ...] = ("--lattice", url, "--host-key", str(tmp_path / "host.nk"))
        args += ("--trust-host", trusted.public_key)
    else:
        section = (
            f"lattice: {{url: '{url}', host_key: host.nk, trusted_hosts: [{trusted.public_key}]}}\n"
        )
        manifest, args = echo_manifest(tmp_path, section), ()
    host = WasccProcess(
        ("up", str(manifest), "--data-dir", str(tmp_path / "data"), *args), env, tmp_path
    )
    try:
        host.wait_ready()
        listed = run_wascc(
            "ctl", "get", "hosts", "--lattice", url, "-o", "json", env=env, cwd=tmp_path
        )
        assert listed.returncode == 0, listed.stderr
        assert [h["host_id"] for h in json.loads(listed.stdout)] == [host_key.public_key]
        subject = Subjects().actor(signer.key("echo"))
        nc = await nats_py.connect(url)
        try:
            replies = []
            for signer_key in (trusted, stranger):
                envelope = seal(
                    Entity.of("system"), Entity(actor=signer.key("echo")), "Echo", b"hi", signer_key
                )
                raw = await nc.request(subject, envelope.encode(), timeout=5)
                replies.append(msgpack.unpackb(raw.data))
        finally:
            await nc.close()
        assert (replies[0]["msg"], replies[0]["error"]) == (b"hi", None)
        assert "is not trusted here" in replies[1]["error"]
        assert stranger.public_key in replies[1]["error"]
    finally:
        host.kill()


@pytest.mark.parametrize(
    ("section", "args", "expected"),
    [
        ("host_key: echo.nk", (), "lattice.host_key: it is a module key, not a server key"),
        ("host_key: nothing-here", (), "lattice.host_key: cannot use it as the host key"),
        ("trusted_hosts: [MABC]", (), "lattice.trusted_hosts[0]: 'MABC' is not a host id"),
        ("trusted_hosts: NABC", (), "lattice.trusted_hosts: expected a list of host ids"),
        ("", ("--host-key", "echo.nk"), "it is a module key"),
        ("", ("--trust-host", "junk"), "'junk' is not a host id"),
    ],
)
def test_bad_host_key_or_trusted_hosts(
    tmp_path: Path, section: str, args: tuple[str, ...], expected: str
) -> None:
    """A host key that is no server key, or a trusted host that is no host id, stops
    ``wascc up`` before anything starts, naming the entry and the fix."""
    env = lattice_env(tmp_path / "keys")
    (tmp_path / "echo.nk").write_text(KeyPair.generate("module").seed + "\n")
    lattice = "lattice: {url: 'nats://127.0.0.1:4222'" + (f", {section}" if section else "") + "}\n"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"{lattice}actors: []\ncapabilities: []\nbindings: []\n")
    result = run_wascc("up", str(manifest), *args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
