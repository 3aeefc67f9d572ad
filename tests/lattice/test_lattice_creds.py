"""A lattice on a NATS server that requires user credentials (operator mode): hosts and
``wascc ctl`` present them; without them, or with another user's, the refusal says what to
give."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import echo_manifest, lattice_env, nats_url
from tests.process.process_support import WasccProcess, run_wascc
from tests.support.nats_jwt import Chain, make_chain, secured_nats_server
from tests.support.servers import ServerProcess
from wascc.host import Host
from wascc.host.lattice import Lattice, LatticeClient, LatticeConfig
from wascc.host.lattice.errors import LatticeUnavailable
from wascc.host.trust import TrustPolicy
from wascc.keys.creds import UserCredentials
from wascc.keys.nkeys import KeyPair

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[ServerProcess, Chain]]:
    """A nats-server that admits only the chain's user."""
    with secured_nats_server(tmp_path) as server_and_chain:
        yield server_and_chain


def _creds(chain: Chain) -> UserCredentials:
    return UserCredentials(jwt=chain.user_jwt, seed=chain.user.seed)


async def test_hosts_with_credentials_call_each_other(
    secured: tuple[ServerProcess, Chain], signer: Signer, tmp_path: Path
) -> None:
    """Two hosts that present the user's credentials join, and one calls the other's actor."""
    server, chain = secured
    account = KeyPair.generate("account")
    config = LatticeConfig(url=nats_url(server), credentials=_creds(chain), vouch_with=account)
    trust = TrustPolicy.build(lattice_account=account.public_key)
    async with (
        Host(cache_dir=tmp_path, trust=trust) as a,
        Host(cache_dir=tmp_path, trust=trust) as b,
    ):
        lattice_a, lattice_b = Lattice(a, config), Lattice(b, config)
        try:
            await lattice_a.join(wait=5)
            await lattice_b.join(wait=5)
            claims = await a.add_actor(signer.sign("echo", caps=[]))
            assert await b.call_actor(claims.subject, "Echo", b"secured") == b"secured"
        finally:
            for lattice in (lattice_b, lattice_a):
                await lattice.stop_serving()
            await b.stop()
            await a.stop()
            for lattice in (lattice_b, lattice_a):
                await lattice.leave()
    assert chain.user.seed not in repr(config)
    assert chain.user_jwt not in repr(config)


@pytest.mark.parametrize("who", ["nobody", "another user"])
async def test_missing_or_foreign_credentials_are_refused_clearly(
    secured: tuple[ServerProcess, Chain], who: str
) -> None:
    """Without credentials, or with a user the server does not know, the connection fails
    with a message that says so and names --lattice-creds."""
    server, _ = secured
    credentials = None if who == "nobody" else _creds(make_chain())
    client = LatticeClient(
        nats_url(server), name="test", connect_timeout=1.0, credentials=credentials
    )
    given = "no credentials" if credentials is None else "the credentials given"
    with pytest.raises(LatticeUnavailable, match=rf"refused the connection with {given}"):
        await client.connect_once()
    await client.close()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["option", "manifest"])
def test_wascc_up_and_ctl_with_a_creds_file(
    secured: tuple[ServerProcess, Chain], signer: Signer, tmp_path: Path, where: str
) -> None:
    """``wascc up`` joins with --lattice-creds (or the manifest's lattice.credentials,
    relative to the manifest) and ``wascc ctl --lattice-creds`` sees it; ctl without
    credentials fails naming the fix."""
    server, chain = secured
    url = nats_url(server)
    (tmp_path / "user.creds").write_text(chain.creds())
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    env = lattice_env(tmp_path / "keys")
    if where == "option":
        manifest = echo_manifest(tmp_path)
        args = ("--lattice", url, "--lattice-creds", str(tmp_path / "user.creds"))
    else:
        manifest = echo_manifest(tmp_path, f"lattice: {{url: '{url}', credentials: user.creds}}\n")
        args = ()
    host = WasccProcess(
        ("up", str(manifest), "--data-dir", str(tmp_path / "data"), *args), env, tmp_path
    )
    try:
        host.wait_ready()
        assert "lattice: joined" in host.stdout
        listed = run_wascc(
            "ctl",
            "get",
            "actors",
            "--lattice",
            url,
            "--lattice-creds",
            str(tmp_path / "user.creds"),
            "-o",
            "json",
            env=env,
            cwd=tmp_path,
        )
        assert listed.returncode == 0, listed.stderr
        keys = [actor["key"] for answer in json.loads(listed.stdout) for actor in answer["actors"]]
        assert keys == [signer.key("echo")]
        refused = run_wascc("ctl", "get", "hosts", "--lattice", url, env=env, cwd=tmp_path)
        assert refused.returncode == 1
        assert "refused the connection with no credentials" in refused.stderr
        assert "--lattice-creds" in refused.stderr
    finally:
        host.kill()


def test_a_bad_creds_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing or broken credentials file is refused before anything starts, by
    ``wascc validate`` (manifest) and by ``wascc ctl`` (option), naming the file."""
    env = lattice_env(tmp_path / "keys")
    (tmp_path / "echo_s.wasm").write_bytes(b"")  # not reached: the section is checked first
    (tmp_path / "broken.creds").write_text("no blocks here\n")
    manifest = echo_manifest(
        tmp_path, "lattice: {url: 'nats://127.0.0.1:4222', credentials: missing.creds}\n"
    )
    checked = run_wascc("validate", str(manifest), env=env, cwd=tmp_path)
    assert checked.returncode == 2
    assert "lattice.credentials" in checked.stderr
    assert "missing.creds" in checked.stderr
    assert "cannot be read" in checked.stderr
    ctl = run_wascc(
        "ctl",
        "get",
        "hosts",
        "--lattice-creds",
        str(tmp_path / "broken.creds"),
        env=env,
        cwd=tmp_path,
    )
    assert ctl.returncode == 2
    assert "lacks a USER JWT or a USER NKEY SEED block" in ctl.stderr
