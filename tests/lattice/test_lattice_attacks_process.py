"""The attacks of the trust issue, against real processes: ``wascc up`` hosts on a real
nats-server, and an attacker process with keys of its own (``tests.lattice.attacker``).
Each attack is refused with its error; the legitimate paths keep working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Signer
from tests.lattice.conftest import Up
from tests.process.process_support import WasccProcess, run_wascc
from tests.process.test_process_up import post
from tests.support.servers import ServerProcess
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

EMPTY = "actors: []\ncapabilities: []\nbindings: []\n"


@pytest.fixture
def counter(tmp_path: Path, signer: Signer) -> str:
    """The counter fixture (each call adds one and answers the total), and pinger allowed to
    call it, signed into the test directory; the counter's key."""
    (tmp_path / "counter_s.wasm").write_bytes(signer.sign("fixtures/counter", name="counter"))
    key = signer.key("counter")
    (tmp_path / "pinger_s.wasm").write_bytes(signer.sign("pinger", caps=[key]))
    return key


def add(process: WasccProcess, counter: str, *, via: str | None = None) -> bytes:
    """One genuine call of the counter from ``process``: directly when it runs there, else
    from the actor ``via`` (pinger), whose call goes through the lattice; the total."""
    actor, operation, payload = (via, "Ping", counter.encode()) if via else (counter, "Add", b"")
    status, body = post(
        f"http://{process.admin()}/actors/{actor}/call/{operation}",
        payload,
        headers={**process.auth(), "Content-Type": "application/octet-stream"},
    )
    assert status == 200, body
    return body


def attacker(nats: ServerProcess, *args: str) -> subprocess.Popen[str]:
    """The attacker process (see ``tests.lattice.attacker``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lattice.attacker", f"nats://127.0.0.1:{nats.port}", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def replies(process: subprocess.Popen[str]) -> list[dict[str, str | None]]:
    """What the attacker printed, once it is done (bounded)."""
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_forged_and_replayed_invocations_between_processes(
    up: Up, counter: str, nats: ServerProcess, signer: Signer
) -> None:
    """An invocation signed by the attacker's own fresh host key changes nothing, and a
    captured genuine invocation sent again 5 times runs once; calls between the lattice's
    hosts keep working."""
    a = up("actors: [counter_s.wasm]\ncapabilities: []\nbindings: []\n")
    b = up("actors: [pinger_s.wasm]\ncapabilities: []\nbindings: []\n")
    pinger = signer.key("pinger")
    subject = f"wasmbus.actor.{counter}"
    (forged,) = replies(attacker(nats, "forge", subject, counter, "Add"))
    assert forged["msg"] == ""
    assert "is not trusted here" in str(forged["error"])

    spy = attacker(nats, "replay", subject, "5")
    assert spy.stdout is not None
    assert spy.stdout.readline().strip() == "ready"
    assert add(b, counter, via=pinger) == b"1"  # the genuine call the attacker captures
    replayed = replies(spy)
    assert len(replayed) == 5
    for reply in replayed:
        assert reply["msg"] == ""
        assert "ReplayedInvocation" in str(reply["error"])
    assert add(b, counter, via=pinger) == b"2"  # executed once, not six times
    assert add(a, counter) == b"3"
    assert "already used" in a.stderr


def test_control_needs_a_trusted_signer(
    up: Up, signer: Signer, nats: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    """`wascc ctl start/stop/update` unsigned, or signed by the attacker's own account, is
    refused and says why; a module for a running actor's key from another account is refused
    even when signed by the lattice's account, also on a host that lists trusted hosts; the
    operator's signed commands work."""
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", rev=1))
    (tmp_path / "echo2_s.wasm").write_bytes(signer.sign("echo", rev=2))
    mallory = KeyPair.generate("account")
    (tmp_path / "takeover_s.wasm").write_bytes(
        signer.impersonate(mallory, "ponger", name="echo", rev=99)
    )
    save_key(mallory, "mallory", directory=tmp_path / "keys")
    host = up(EMPTY, "--trust-host", KeyPair.generate("server").public_key)
    url = f"nats://127.0.0.1:{nats.port}"
    unsigned = {k: v for k, v in env.items() if k != "WASCC_CTL_SIGNER"}
    stranger = {**env, "WASCC_CTL_SIGNER": "mallory"}

    def ctl(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return run_wascc("ctl", *args, "--lattice", url, env=environ, cwd=tmp_path)

    for environ, why in ((unsigned, "the command is not signed"), (stranger, "not a controller")):
        refused = ctl(environ, "start", "actor", "echo_s.wasm")
        assert refused.returncode == 1
        assert why in refused.stderr
        assert "Traceback" not in refused.stderr
    started = ctl(env, "start", "actor", "echo_s.wasm")
    assert started.returncode == 0, started.stderr
    for environ in (unsigned, stranger):
        assert ctl(environ, "update", "actor", "echo2_s.wasm").returncode == 1
        assert ctl(environ, "stop", "actor", signer.key("echo")).returncode == 1
    takeover = ctl(env, "update", "actor", "takeover_s.wasm", "--force")
    assert takeover.returncode == 1
    assert f"issued by account {mallory.public_key}" in takeover.stderr
    assert "must be signed by the same account" in takeover.stderr
    updated = ctl(env, "update", "actor", "echo2_s.wasm")
    assert updated.returncode == 0, updated.stderr
    listed = json.loads(ctl(env, "get", "actors", "-o", "json").stdout)
    (actor,) = listed[0]["actors"]
    assert (actor["rev"], actor["claims"]["issuer"]) == (2, signer.account.public_key)
    assert ctl(env, "stop", "actor", signer.key("echo")).returncode == 0
    assert "refused" in host.stderr
    assert host.stderr.count("any account may sign the new actors") == 1
    shown = ctl(env, "get", "hosts").stdout
    assert "TRUST" in shown
    assert "account=A" in shown
    assert "hosts=1,issuers=any" in shown


def test_up_refuses_to_join_without_an_anchor(up: Up, env: dict[str, str], tmp_path: Path) -> None:
    """A host given no lattice account and no host list does not join; --insecure-lattice
    joins, with a warning."""
    bare = {k: v for k, v in env.items() if k != "WASCC_LATTICE_ACCOUNT"}
    (tmp_path / "m.yaml").write_text(EMPTY)
    refused = run_wascc("up", "m.yaml", "--lattice", "nats://127.0.0.1:9", env=bare, cwd=tmp_path)
    assert refused.returncode == 2
    assert "refusing to join the lattice" in refused.stderr
    insecure = up(EMPTY, "--insecure-lattice")
    assert "insecure lattice" in insecure.stderr
