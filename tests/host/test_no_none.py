"""What people read never says ``None``: a module signed without a revision shows ``-`` in a
table and no revision in a sentence; JSON keeps ``null``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Signer
from tests.process.process_support import WasccProcess, run_wascc, wascc_env
from tests.support.servers import ServerProcess, nats_server
from wascc.keys.cli import main as keys_main
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key

NONE = re.compile(r"\bNone\b")


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh nats-server on a free 127.0.0.1 port."""
    with nats_server(tmp_path) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """``wascc`` subprocesses with a lattice account (``lattice``) that vouches for the host
    and signs ``wascc ctl`` commands."""
    keys = tmp_path / "keys"
    save_key(KeyPair.generate("account"), "lattice", directory=keys)
    return {
        **wascc_env(keys),
        "WASCC_LATTICE_ACCOUNT": "lattice",
        "WASCC_CTL_SIGNER": "lattice",
    }


def test_claims_inspect_of_an_unversioned_module(signer: Signer, tmp_path: Path) -> None:
    """``claims inspect`` writes ``(none)`` for the missing revision and version; its JSON
    has ``null``."""
    path = tmp_path / "echo_s.wasm"
    path.write_bytes(signer.sign("echo"))
    text = CliRunner().invoke(keys_main, ["claims", "inspect", str(path)])
    assert text.exit_code == 0, text.output
    assert re.search(r"Revision  \(none\)$", text.output, re.MULTILINE)
    assert not NONE.search(text.output)
    as_json = CliRunner().invoke(keys_main, ["claims", "inspect", str(path), "-o", "json"])
    assert json.loads(as_json.output)["revision"] is None


def test_unversioned_actor_in_ctl_and_update_output(
    signer: Signer, tmp_path: Path, env: dict[str, str], nats: ServerProcess
) -> None:
    """An actor signed without a revision: ``ctl get actors`` shows ``rev -``, the live
    updates (``wascc update``, ``ctl update actor``) say what they did without a revision,
    and neither their output nor the host's log says None; ``-o json`` keeps null."""
    url = f"nats://127.0.0.1:{nats.port}"
    key = signer.key("echo")
    for name in ("echo_s.wasm", "echo2_s.wasm", "echo3_s.wasm"):
        (tmp_path / name).write_bytes(signer.sign("echo"))
    (tmp_path / "m.yaml").write_text("actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n")
    args = ("up", "m.yaml", "--data-dir", "data", "--admin", "127.0.0.1:0", "--lattice", url)
    process = WasccProcess(args, env, tmp_path)
    try:
        process.wait_ready()

        def wascc(*args: str) -> str:
            done = run_wascc(*args, env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert not NONE.search(done.stdout), done.stdout
            return done.stdout

        listed = wascc("ctl", "get", "actors", "--lattice", url)
        assert re.search(rf"^{key}  echo  rev -  on N\w+$", listed, re.MULTILINE), listed
        [host] = json.loads(wascc("ctl", "get", "actors", "--lattice", url, "-o", "json"))
        assert host["actors"][0]["rev"] is None
        admin = ("--host-admin", process.admin(), "--data-dir", "data", "--force")
        assert wascc("update", "echo2_s.wasm", *admin) == f"updated echo ({key})\n"
        updated = wascc("ctl", "update", "actor", "echo3_s.wasm", "--force", "--lattice", url)
        assert re.fullmatch(r"updated echo on N\w+\n", updated), updated
    finally:
        process.kill()
    assert "actor echo (" in process.stderr
    assert not NONE.search(process.stdout + process.stderr)
