"""Hosts as separate ``wascc up`` processes on one nats-server: remote calls, load sharing,
a host killed under load, a forged invocation, a late NATS, and ``wascc ctl``."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
from pathlib import Path

import msgpack
import nats as nats_py
import pytest

from tests.conftest import Signer
from tests.lattice.conftest import Up
from tests.process.process_support import WasccProcess, run_wascc, wait_until
from tests.process.test_process_admin import sample
from tests.process.test_process_up import get, post
from tests.support.servers import ServerProcess, free_port
from wascc.host.lattice import Entity, Subjects, seal
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import load_key
from wascc.keys.vouch import vouch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def signed(tmp_path: Path, signer: Signer) -> dict[str, str]:
    """ponger, pinger (may call ponger) and echo, signed into the test directory; their keys."""
    (tmp_path / "ponger_s.wasm").write_bytes(signer.sign("ponger", rev=1))
    (tmp_path / "pinger_s.wasm").write_bytes(signer.sign("pinger", caps=[signer.key("ponger")]))
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", rev=1))
    (tmp_path / "echo2_s.wasm").write_bytes(signer.sign("echo", rev=2))
    return {name: signer.key(name) for name in ("ponger", "pinger", "echo")}


def manifest(*actors: str, labels: str = "{}") -> str:
    """A manifest running ``actors`` and nothing else."""
    return f"labels: {labels}\nactors: [{', '.join(actors)}]\ncapabilities: []\nbindings: []\n"


def ping(process: WasccProcess, keys: dict[str, str], timeout: float = 15.0) -> tuple[int, bytes]:
    """pinger on ``process`` pings ponger, wherever that runs (through the admin endpoint,
    with its token; Ping takes the raw key, which no JSON value encodes to)."""
    url = f"http://{process.admin()}/actors/{keys['pinger']}/call/Ping"
    headers = {**process.auth(), "Content-Type": "application/octet-stream"}
    return post(url, keys["ponger"].encode(), timeout=timeout, headers=headers)


def pongs(process: WasccProcess) -> float:
    """How many Pong calls ``process`` served."""
    _, metrics = get(f"http://{process.admin()}/metrics", headers=process.auth())
    try:
        return sample(metrics.decode(), "wascc_invocations_total", operation="Pong")
    except AssertionError:
        return 0.0


def test_remote_actor_call_between_processes(up: Up, signed: dict[str, str]) -> None:
    """pinger in one process calls ponger in another through the lattice."""
    a = up(manifest("ponger_s.wasm"))
    b = up(manifest("pinger_s.wasm"))
    assert "lattice: joined" in a.stdout
    assert ping(b, signed) == (200, b"pong: ping")
    assert pongs(a) == 1


def test_load_sharing_between_two_hosts(up: Up, signed: dict[str, str]) -> None:
    """Two hosts running ponger share the calls (queue group)."""
    a1 = up(manifest("ponger_s.wasm"))
    a2 = up(manifest("ponger_s.wasm"))
    b = up(manifest("pinger_s.wasm"))
    for _ in range(40):
        assert ping(b, signed)[0] == 200
    first, second = pongs(a1), pongs(a2)
    assert first + second == 40
    assert first > 0
    assert second > 0


def test_host_killed_under_load(up: Up, signed: dict[str, str]) -> None:
    """After one of two serving hosts is SIGKILLed, the other takes all the work within a
    few seconds; failures are timeouts, never hangs."""
    a1 = up(manifest("ponger_s.wasm"))
    a2 = up(manifest("ponger_s.wasm"), "--rpc-timeout", "1")
    b = up(manifest("pinger_s.wasm"), "--rpc-timeout", "1")
    results: list[tuple[float, int]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            status, _ = ping(b, signed, timeout=10)
            results.append((time.monotonic(), status))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        a1.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(5.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=20)
    assert all(not w.is_alive() for w in workers)
    late = [status for at, status in results if at > killed + 3.0]
    assert late, "no calls completed after the kill"
    assert all(status == 200 for status in late), late
    assert pongs(a2) > 0


async def test_forged_invocation_is_refused(
    up: Up, signed: dict[str, str], nats: ServerProcess, tmp_path: Path
) -> None:
    """A process answers an envelope from a host the lattice's account vouched for, and
    refuses an altered one and one signed by a fresh key nobody vouched for, logging why."""
    a = up(manifest("echo_s.wasm"))
    key = KeyPair.generate("server")
    voucher = vouch(load_key("lattice", directory=tmp_path / "keys"), key.public_key)
    subject = Subjects().actor(signed["echo"])
    origin, target = Entity(capid="system"), Entity(actor=signed["echo"])
    genuine = seal(origin, target, "Echo", b"hi", key, voucher=voucher)
    altered = dataclasses.replace(genuine, msg=b"evil")
    stranger = seal(origin, target, "Echo", b"hi", KeyPair.generate("server"))
    nc = await nats_py.connect(f"nats://127.0.0.1:{nats.port}")
    try:
        good, bad, unknown = [
            msgpack.unpackb((await nc.request(subject, e.encode(), timeout=5)).data)
            for e in (genuine, altered, stranger)
        ]
    finally:
        await nc.close()
    assert (good["msg"], good["error"]) == (b"hi", None)
    assert "ForgedInvocation" in bad["error"]
    assert "altered" in bad["error"]
    assert unknown["msg"] == b""
    assert f"host {stranger.host_id} is not trusted here" in unknown["error"]
    wait_until(lambda: "altered" in a.stderr, 5, "the refusal in the host's log")


def test_nats_down_at_start_then_joins(up: Up, signed: dict[str, str], nats: ServerProcess) -> None:
    """A host started before NATS says so, retries with backoff, and serves once it joins."""
    nats.stop()
    a = up(manifest("ponger_s.wasm"))
    assert "cannot be reached" in a.stdout
    wait_until(lambda: "retrying in" in a.stderr, 10, "a retry log line")
    nats.start()
    b = up(manifest("pinger_s.wasm"))
    wait_until(lambda: "joined the lattice" in a.stderr, 15, "the first host to join")
    assert ping(b, signed) == (200, b"pong: ping")


def test_ctl_commands(
    up: Up, signed: dict[str, str], nats: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    """get, start (auction by label), update, stop and events through ``wascc ctl``."""
    url = f"nats://127.0.0.1:{nats.port}"
    up(manifest("ponger_s.wasm"), "--label", "gpu=no")
    up(manifest(), "--label", "gpu=yes")
    events = WasccProcess(("ctl", "events", "--lattice", url, "--for", "30"), env, tmp_path)
    try:
        wait_until(lambda: "following events" in events.stderr, 15, "ctl events to subscribe")

        def ctl(*args: str) -> str:
            done = run_wascc("ctl", *args, "--lattice", url, env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            return done.stdout

        hosts = json.loads(ctl("get", "hosts", "-o", "json"))
        assert sorted(h["labels"]["gpu"] for h in hosts) == ["no", "yes"]
        gpu_host = next(h["host_id"] for h in hosts if h["labels"]["gpu"] == "yes")
        assert "ponger" in ctl("get", "actors")
        started = ctl("start", "actor", "echo_s.wasm", "--constraint", "gpu=yes")
        assert gpu_host in started
        assert "rev 2" in ctl("update", "actor", "echo2_s.wasm")
        assert gpu_host in ctl("stop", "actor", signed["echo"])
        actors = json.loads(ctl("get", "actors", "-o", "json"))
        assert all(a["key"] != signed["echo"] for h in actors for a in h["actors"])
        failed = run_wascc(
            "ctl",
            "start",
            "actor",
            "echo_s.wasm",
            "--constraint",
            "gpu=maybe",
            "--lattice",
            url,
            env=env,
            cwd=tmp_path,
        )
        assert failed.returncode == 1
        assert "none answered the auction" in failed.stderr
        wait_until(lambda: "actor_update_complete" in events.stdout, 10, "the update event")
        kinds = {json.loads(line)["type"] for line in events.stdout.splitlines()}
        assert {"actor_started", "actor_stopped", "actor_update_complete"} <= kinds
    finally:
        events.kill()


def test_ctl_without_nats_fails_fast(env: dict[str, str], tmp_path: Path) -> None:
    """A control command with no NATS to talk to exits 1 with the reason."""
    done = run_wascc(
        "ctl",
        "get",
        "hosts",
        "--lattice",
        f"nats://127.0.0.1:{free_port()}",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "cannot be reached" in done.stderr
