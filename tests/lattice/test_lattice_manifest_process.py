"""Hosts as separate ``wascc up`` processes that join the lattice from their manifests'
``lattice`` section, with bindings to another host's provider and of another host's actor."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import lattice_env
from tests.process.process_support import WasccProcess, run_wascc, wait_until
from tests.process.test_process_up import get
from tests.support.servers import ServerProcess, free_port, nats_server
from wascc.keys.nkeys import KeyPair

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

Up = Callable[..., WasccProcess]
KV = "wascc:keyvalue"


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[ServerProcess]:
    """A nats-server on a free loopback port."""
    with nats_server(tmp_path) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the ``wascc`` subprocesses."""
    return lattice_env(tmp_path / "keys")


@pytest.fixture
def kvcounter(tmp_path: Path, signer: Signer) -> str:
    """kvcounter (HTTP, key-value) signed into the test directory; its key."""
    (tmp_path / "kvcounter_s.wasm").write_bytes(
        signer.sign("kvcounter", caps=["wascc:http_server", KV])
    )
    return signer.key("kvcounter")


@pytest.fixture
def up(tmp_path: Path, env: dict[str, str]) -> Iterator[Up]:
    """``up(manifest_text, *args, ready=True)``: ``wascc up`` with an admin endpoint and its
    own data directory (no --lattice: the manifest says which lattice); always killed."""
    started: list[WasccProcess] = []

    def start(text: str, *args: str, ready: bool = True) -> WasccProcess:
        index = len(started)
        manifest = tmp_path / f"host{index}.yaml"
        manifest.write_text(text)
        argv = ("up", str(manifest), "--data-dir", str(tmp_path / f"data{index}"))
        process = WasccProcess((*argv, "--admin", "127.0.0.1:0", *args), env, tmp_path)
        started.append(process)
        if ready:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()


def section(nats: ServerProcess, extra: str = "") -> str:
    """A ``lattice`` section for ``nats``."""
    return f"lattice: {{url: 'nats://127.0.0.1:{nats.port}'{extra}}}\n"


def ctl(env: dict[str, str], cwd: Path, *args: str) -> str:
    """``wascc ctl ARGS``' output (it must succeed)."""
    done = run_wascc("ctl", *args, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def counter(url: str) -> int:
    """GET ``url`` from kvcounter: the counter it answers."""
    status, body = get(url, timeout=10)
    assert status == 200, body
    return int(json.loads(body)["counter"])


def test_actor_on_b_uses_provider_on_a(
    up: Up, kvcounter: str, nats: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    """Two hosts join one lattice from their manifests. kvcounter on B is bound by B's
    manifest to the key-value provider that only A loads: HTTP requests on B count in A's
    in-memory store, also after NATS restarts."""
    a = up(
        section(nats, ", labels: {role: store}")
        + "actors: []\ncapabilities: [{path: keyvalue}]\nbindings: []\n"
    )
    b = up(
        section(nats, ", rpc_timeout: 1")
        + f"""
actors: [kvcounter_s.wasm]
capabilities: [{{path: http_server}}]
bindings:
  - {{actor: kvcounter_s.wasm, capability: {KV}, values: {{BACKEND: memory}}}}
  - {{actor: kvcounter_s.wasm, capability: wascc:http_server, values: {{PORT: "0"}}}}
"""
    )
    for process in (a, b):
        assert f"lattice: joined nats://127.0.0.1:{nats.port}" in process.stdout
    url = b.urls()["kvcounter"] + "/visits"

    def bound() -> bool:
        status, _ = get(url, timeout=10)
        return status == 200

    wait_until(bound, 15, "the binding to reach A's provider")  # BindActor is asynchronous
    first = counter(url)
    assert counter(url) == first + 1
    lattice = f"nats://127.0.0.1:{nats.port}"
    hosts = json.loads(ctl(env, tmp_path, "get", "hosts", "--lattice", lattice, "-o", "json"))
    assert sorted(h["labels"].get("role", "-") for h in hosts) == ["-", "store"]
    caps = ctl(env, tmp_path, "get", "capabilities", "--lattice", lattice)
    assert KV in caps
    bindings = ctl(env, tmp_path, "get", "bindings", "--lattice", lattice)
    assert f"{kvcounter}  {KV}  default" in bindings

    nats.stop()
    nats.start()
    deadline = time.monotonic() + 20
    while True:  # calls fail (an error answer, never a hang) until both hosts reconnected
        status, body = get(url, timeout=10)
        if status == 200:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert json.loads(body)["counter"] == first + 2  # the same store on A
    wait_until(lambda: "reconnected to the lattice" in b.stderr, 10, "B's reconnection log")


def test_command_line_overrides_the_lattice_section(
    up: Up, nats: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    """--lattice, --namespace and --label win over the manifest's lattice section."""
    wrong = f"nats://127.0.0.1:{free_port()}"
    text = f"lattice: {{url: '{wrong}', namespace: ns1, labels: {{zone: a, team: x}}}}\n"
    right = f"nats://127.0.0.1:{nats.port}"
    up(text + "actors: []\ncapabilities: []\nbindings: []\n", "--lattice", right,
       "--namespace", "ns2", "--label", "zone=b")  # fmt: skip
    hosts = json.loads(
        ctl(env, tmp_path, "get", "hosts", "--lattice", right, "--namespace", "ns2", "-o", "json")
    )
    assert [h["labels"] for h in hosts] == [{"zone": "b", "team": "x"}]
    others = ctl(env, tmp_path, "get", "hosts", "--lattice", right, "--namespace", "ns1")
    assert "zone=" not in others


def test_manifest_binds_an_actor_of_another_host(
    up: Up, kvcounter: str, nats: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    """B's manifest binds kvcounter, which runs on A, to B's key-value provider: at start B
    checks kvcounter's claims in the lattice inventory; a call on A then counts in B's store.
    A binding to a contract the remote actor does not claim, or of an actor no host runs,
    stops `wascc up` with the actor, the contract and the fix."""
    a = up(section(nats) + "actors: [kvcounter_s.wasm]\ncapabilities: []\nbindings: []\n")
    b = up(
        section(nats)
        + f"""
actors: []
capabilities: [{{path: keyvalue}}]
bindings:
  - {{actor: {kvcounter}, capability: {KV}, values: {{BACKEND: memory}}}}
"""
    )
    assert re.search(
        rf"lattice: bound actor kvcounter \({kvcounter}\) on host N\w+ to {KV}", b.stdout
    )
    request = '{"method": "GET", "path": "/n"}'

    def call() -> tuple[int, str]:
        done = run_wascc(
            "call", kvcounter, "HandleRequest", request, "--host-admin", a.admin(),
            "--data-dir", str(a.data_dir()), env=env, cwd=tmp_path,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    wait_until(lambda: call()[0] == 0, 15, "A to route kvcounter's calls to B's provider")
    code, out = call()
    assert code == 0, out
    assert json.loads(json.loads(out)["body"])["counter"] >= 2

    not_claimed = up(
        section(nats)
        + f"""
actors: []
capabilities: [{{path: logging}}]
bindings:
  - {{actor: {kvcounter}, capability: wascc:logging}}
""",
        ready=False,
    )
    assert not_claimed.wait(timeout=30) == 1
    error = not_claimed.stderr
    assert f"actor kvcounter ({kvcounter}), running on host N" in error
    assert "does not claim wascc:logging" in error
    assert "re-sign it with --cap wascc:logging" in error

    missing = KeyPair.generate("module").public_key
    nobody = up(
        section(nats)
        + "actors: []\ncapabilities: [{path: keyvalue}]\nbindings:\n"
        + f"  - {{actor: {missing}, capability: {KV}}}\n",
        ready=False,
    )
    assert nobody.wait(timeout=30) == 1
    assert "no host of the lattice" in nobody.stderr
    assert "start the host that runs it first" in nobody.stderr
