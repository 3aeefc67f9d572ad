"""``wascc up`` against hostile HTTP clients, as real processes: slow and idle connections,
descriptor exhaustion, large bodies, malformed requests, a runaway actor, and requests that
arrive while the host starts."""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import (
    SignedActor,
    WasccProcess,
    free_port,
    run_wascc,
    wait_until,
)
from tests.process.test_process_admin import sample
from tests.process.test_process_up import get

Actors = dict[str, SignedActor]
Up = Callable[..., WasccProcess]
Manifest = Callable[[str], Path]


def echo_manifest(values: str = "", config: str = "", actor: str = "echo_s.wasm") -> str:
    """One actor behind HTTP on a free port, with extra binding values and provider config."""
    cap = f"{{path: http_server, config: {{{config}}}}}" if config else "{path: http_server}"
    return (
        f"actors: [{actor}]\ncapabilities: [{cap}]\nbindings:\n"
        f"  - {{actor: {actor}, capability: wascc:http_server, "
        f'values: {{PORT: "0"{", " + values if values else ""}}}}}\n'
    )


def port_of(process: WasccProcess, name: str = "echo") -> int:
    """The port the actor's HTTP binding listens on."""
    return int(process.urls()[name].rpartition(":")[2])


def raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection; everything answered until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):  # answered and closed before all was sent
            sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionError:
            pass
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of process ``pid``, in KiB, from /proc."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def log_size(process: WasccProcess) -> int:
    return len(process.stderr.encode())


# slow and idle connections ------------------------------------------------------------------


@dataclass
class Watched:
    """A client socket the test watches until the server closes it."""

    sock: socket.socket
    kind: str
    received: bytes = b""
    closed_at: float | None = None
    pending: bytes = b""


def watch(watched: list[Watched], port: int, *, seconds: float) -> int:
    """Until every watched socket is closed by the server (at most ``seconds``): send each
    slow one its next byte every 0.25 s, note what each receives and when it is closed, and
    make one real request after half a second; its status."""
    real = 0
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    for item in watched:
        item.sock.setblocking(False)
        selector.register(item.sock, selectors.EVENT_READ, item)
    next_byte = started
    while any(w.closed_at is None for w in watched) and time.monotonic() - started < seconds:
        now = time.monotonic()
        if now >= next_byte:
            next_byte = now + 0.25
            for item in watched:
                if item.pending and item.closed_at is None:
                    try:
                        item.sock.send(item.pending[:1])
                        item.pending = item.pending[1:]
                    except OSError:
                        pass
        for key, _ in selector.select(timeout=0.05):
            item = key.data
            try:
                chunk = item.sock.recv(65536)
            except OSError:
                chunk = b""
            item.received += chunk
            if not chunk:
                item.closed_at = time.monotonic() - started
                selector.unregister(item.sock)
        if not real and now - started > 0.5:  # a real client, while the others hang on
            real = get(f"http://127.0.0.1:{port}/real", timeout=5)[0]
    return real


def test_slow_and_idle_connections_are_closed(actors: Actors, manifest: Manifest, up: Up) -> None:
    """Slowloris connections (a byte every 0.25 s) get 408 and are closed at HEADER_TIMEOUT,
    silent ones are closed then too, a kept-alive one at IDLE_TIMEOUT; a real client is
    served meanwhile, and the log stays small."""
    process = up(manifest(echo_manifest('HEADER_TIMEOUT: "1", IDLE_TIMEOUT: "2"')))
    port = port_of(process)
    before = log_size(process)
    watched: list[Watched] = []
    for kind, count in (("slow", 50), ("silent", 50)):
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            trickle = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
            watched.append(Watched(sock, kind, pending=trickle if kind == "slow" else b""))
    kept = socket.create_connection(("127.0.0.1", port), timeout=5)
    kept.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
    watched.append(Watched(kept, "kept"))
    assert watch(watched, port, seconds=8) == 200
    for item in watched:
        item.sock.close()
    by_kind = {k: [w for w in watched if w.kind == k] for k in ("slow", "silent", "kept")}
    assert all(w.closed_at is not None for w in watched), "some connections stayed open"
    slowest = {k: max(w.closed_at or 0 for w in ws) for k, ws in by_kind.items()}
    assert slowest["slow"] < 2.5, slowest
    assert slowest["silent"] < 2.5, slowest
    assert 1.8 < slowest["kept"] < 3.5, slowest
    assert all(status_of(w.received) == 408 for w in by_kind["slow"])
    assert all(w.received == b"" for w in by_kind["silent"])
    assert status_of(by_kind["kept"][0].received) == 200
    grew = log_size(process) - before
    assert grew < 2_000, process.stderr[before:]
    assert "Traceback" not in process.stderr
    print(f"closed after (s): {slowest}; log grew {grew} bytes")


# descriptor exhaustion ------------------------------------------------------------------------


@pytest.fixture
def limited_up(
    tmp_path: Path, env: dict[str, str]
) -> Iterator[Callable[[Path, int], WasccProcess]]:
    """``limited_up(manifest, nofile)``: ``wascc up`` whose descriptor limit (RLIMIT_NOFILE)
    is ``nofile``, started and ready; killed at teardown."""
    started: list[WasccProcess] = []

    def start(path: Path, nofile: int) -> WasccProcess:
        process = LimitedProcess(
            ("up", str(path), "--data-dir", str(tmp_path / "data")), env, tmp_path, nofile
        )
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()


@dataclass
class LimitedProcess(WasccProcess):
    """A ``wascc`` subprocess started with a lower limit of open descriptors."""

    nofile: int = 128

    def before_exec(self) -> Callable[[], None]:
        nofile = self.nofile

        def lower_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        return lower_limit


@pytest.mark.slow
def test_running_out_of_descriptors_backs_off_quietly(
    actors: Actors, manifest: Manifest, limited_up: Callable[[Path, int], WasccProcess]
) -> None:
    """With 128 descriptors and 250 idle connections, the host pauses accepting instead of
    logging a traceback per attempt; once the header timeout has closed idle connections a
    real client is served, and the log stays small."""
    process = limited_up(manifest(echo_manifest('HEADER_TIMEOUT: "2"')), 128)
    port = port_of(process)
    before = log_size(process)
    idle = []
    for _ in range(250):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # no wait: the backlog fills up
        idle.append(sock)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        status, _ = get(f"http://127.0.0.1:{port}/real", timeout=25)
        served_after = time.monotonic() - started
        time.sleep(1)
    finally:
        for sock in idle:
            sock.close()
    assert status == 200
    assert process.proc.poll() is None
    err = process.stderr[before:]
    grew = log_size(process) - before
    assert "Traceback" not in err
    assert err.count("Too many open files") <= 3, err
    assert grew < 5_000, err
    print(f"real client served after {served_after:.1f}s; log grew {grew} bytes")


# large bodies -----------------------------------------------------------------------------------


def post_large(port: int, body: bytes) -> tuple[int, str | None]:
    """POST ``body`` as curl does (``Expect: 100-continue``): the status and Retry-After."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n" % len(body)
        )
        first = sock.recv(65536)
        if first.startswith(b"HTTP/1.1 100"):
            sock.sendall(body)
            first = first.split(b"\r\n\r\n", 1)[1]
        answer = first
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        while sock.recv(1 << 20):  # the body: read and drop
            pass
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    retry = [
        line.split(":", 1)[1].strip()
        for line in head.split("\r\n")
        if line.lower().startswith("retry-after:")
    ]
    return status_of(answer), retry[0] if retry else None


@pytest.mark.slow
def test_concurrent_large_bodies_stay_within_the_memory_budget(
    actors: Actors, manifest: Manifest, up: Up
) -> None:
    """24 concurrent 16 MiB POSTs against a 64 MiB budget: some are served, the others get
    503 with Retry-After, and the host's peak RSS stays a few hundred MiB (2.3 GB before)."""
    budget = 64 * 2**20
    process = up(manifest(echo_manifest(config=f"max_bytes_in_flight: {budget}")))
    port = port_of(process)
    baseline = memory_kib(process.proc.pid)
    body = b"x" * (16 * 2**20)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: post_large(port, body), range(24)))
    peak = memory_kib(process.proc.pid)
    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    assert 503 in statuses
    assert all(retry == "1" for status, retry in results if status == 503)
    assert peak["VmHWM"] < 640 * 1024, (baseline, peak)
    print(f"statuses {statuses}; RSS before {baseline}, after {peak} (KiB)")


# malformed requests and failures ----------------------------------------------------------


def test_malformed_requests_are_answered_and_the_log_stays_small(
    actors: Actors, manifest: Manifest, up: Up
) -> None:
    """1,000 over-long request lines get 414 and add a line or two of log (728 KB with
    tracebacks before); a bad header, a missing version and CONNECT get 400, 400, 501."""
    process = up(manifest(echo_manifest()), "--admin", "127.0.0.1:0")
    port = port_of(process)
    before = log_size(process)
    long_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: status_of(raw(port, long_line)), range(1000)))
    took = time.monotonic() - started
    assert answers == [414] * 1000
    assert status_of(raw(port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")) == 400
    no_version = raw(port, b"GET /\r\n\r\n")
    assert no_version.startswith(b"HTTP/1.0 400 ")
    connect = raw(port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert status_of(connect) == 501
    assert get(f"http://127.0.0.1:{port}/still-fine")[0] == 200
    err = process.stderr[before:]
    assert "Traceback" not in err
    assert "aiohttp.server" not in err
    grew = log_size(process) - before
    assert grew < 2_000, err
    print(f"1000 bad requests in {took:.1f}s; log grew {grew} bytes")
    metrics = get(f"http://{process.admin()}/metrics", headers=process.auth())[1].decode()
    assert sample(metrics, "wascc_http_refused_total", status="414") == 1000
    assert sample(metrics, "wascc_http_refused_total", status="501") == 1


def test_actor_past_its_deadline_gets_504(
    manifest: Manifest, up: Up, signer: Signer, tmp_path: Path
) -> None:
    """An actor interrupted at its deadline answers 504 (it was 500 "trapped: out of
    time")."""
    (tmp_path / "loop_s.wasm").write_bytes(signer.sign("fixtures/loop", caps=["wascc:http_server"]))
    text = echo_manifest(actor="loop_s.wasm").replace(
        "actors: [loop_s.wasm]", "actors: [{path: loop_s.wasm, deadline: 0.3}]"
    )
    process = up(manifest(text))
    status, body = get(process.urls()["loop"] + "/spin")
    assert status == 504
    assert b"actor timed out" in body


def test_validate_refuses_a_bad_address(
    actors: Actors, manifest: Manifest, env: dict[str, str], tmp_path: Path
) -> None:
    """``wascc validate`` refuses an ADDRESS that is not an IP address, and a zero
    HEADER_TIMEOUT, naming each and the fix."""
    file = manifest(echo_manifest('ADDRESS: "999.1.1.1", HEADER_TIMEOUT: "0"'))
    result = run_wascc("validate", str(file), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "ADDRESS='999.1.1.1' is not an IP address" in result.stderr
    assert "or localhost" in result.stderr


# start-up ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_requests_during_startup_never_get_500(
    actors: Actors,
    manifest: Manifest,
    wascc: Callable[..., WasccProcess],
    tmp_path: Path,
) -> None:
    """kvcounter's HTTP binding comes before its key-value binding, which takes 1.5 s: the
    requests fired all along wait for the host to be ready and none gets 500."""
    port = free_port()
    file = manifest(
        "actors: [kvcounter_s.wasm]\n"
        "capabilities:\n"
        "  - path: http_server\n"
        "  - {path: 'slowkv:SlowKeyValue', config: {bind_delay: 1.5}}\n"
        "bindings:\n"
        "  - {actor: kvcounter_s.wasm, capability: wascc:http_server,\n"
        f"     values: {{PORT: '{port}'}}}}\n"
        "  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue}\n"
    )
    process = wascc("up", str(file), "--data-dir", str(tmp_path / "data"))
    ready_at: list[float] = []
    results: list[tuple[float, int]] = []  # (sent at, status; 0 for no connection)
    lock = threading.Lock()
    stop = threading.Event()

    def fire() -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                status, _ = get(f"http://127.0.0.1:{port}/c", timeout=10)
            except (urllib.error.URLError, OSError):
                status = 0
                time.sleep(0.02)
            with lock:
                results.append((sent, status))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: "host ready" in process.stdout, 20, "the host to be ready")
        ready_at.append(time.monotonic())
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    statuses = [status for _, status in results]
    assert 500 not in statuses, statuses
    assert 200 in statuses
    held = [s for sent, s in results if sent < ready_at[0] and s == 200]
    assert held, "no request was sent while the host started and served afterwards"
    assert set(statuses) <= {0, 200}, statuses
    print(f"{len(results)} requests, {len(held)} held during start-up and served")
