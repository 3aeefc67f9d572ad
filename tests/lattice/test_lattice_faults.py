"""Lattice faults under HTTP load, with real processes (issue 13): three ``wascc up`` hosts on
one nats-server; echo runs on B and C, and A's HTTP server is bound to it, so each request on
A crosses the lattice with the HTTP binding's timeout (30 s) while A's RPC timeout is 1 s.

Through whatever fault (B killed, C frozen, NATS restarted, no host left), no request waits
longer than the RPC timeout plus a margin; requests succeed again soon after the fault ends;
and the hosts' logs tell of the fault in a few lines. The statuses are the HTTP server's on A
(``wascc:http_server``): 504 for a call nobody answered in time, 503 with ``Retry-After`` for
one nobody could take.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import Up
from tests.process.process_support import WasccProcess, wait_until
from tests.support.servers import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

RPC_TIMEOUT = 1.0
MARGIN = 1.5
"""Seconds a request may take beyond A's RPC timeout (two loaded cores, eight clients)."""
CLIENTS = 8


@dataclass(frozen=True)
class Answer:
    """One HTTP request of the load: when it started, how long it took, what came back."""

    started: float
    took: float
    status: int  # 0: no HTTP answer (connection error, client timeout)
    retry_after: str | None


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str | None]:
    """GET ``url``: the status (0 if none came) and the Retry-After header."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status, response.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, exc.headers.get("Retry-After")
    except OSError:
        return 0, None


@contextmanager
def load(url: str, clients: int = CLIENTS, limit: float = 40.0) -> Iterator[list[Answer]]:
    """``clients`` threads GETting ``url`` one request after another until the block ends
    (at most ``limit`` seconds); the answers, in the order they came."""
    answers: list[Answer] = []
    stop = threading.Event()
    ends = time.monotonic() + limit

    def client() -> None:
        while not stop.is_set() and time.monotonic() < ends:
            started = time.monotonic()
            status, retry_after = fetch(url)
            answers.append(Answer(started, time.monotonic() - started, status, retry_after))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert not any(t.is_alive() for t in threads), "a load thread hung"


def between(answers: list[Answer], start: float, end: float = float("inf")) -> list[Answer]:
    """The answers to requests started in [start, end)."""
    return [a for a in answers if start <= a.started < end]


def statuses(answers: list[Answer]) -> dict[int, int]:
    """Status → how many."""
    counts: dict[int, int] = {}
    for answer in answers:
        counts[answer.status] = counts.get(answer.status, 0) + 1
    return dict(sorted(counts.items()))


def slowest(answers: list[Answer]) -> float:
    """The longest answer time."""
    return max((a.took for a in answers), default=0.0)


def report(name: str, answers: list[Answer], marks: dict[str, float]) -> str:
    """A line for the test's output: per phase (from each mark to the next), how many
    requests started, their statuses and the slowest answer."""
    starts = [("before", 0.0), *sorted(marks.items(), key=lambda item: item[1])]
    ends = [at for _, at in starts[1:]] + [float("inf")]
    parts = []
    for (label, start), end in zip(starts, ends, strict=True):
        part = between(answers, start, end)
        parts.append(f"{label}: {len(part)} {statuses(part)} slowest {slowest(part):.2f}s")
    line = f"{name}: " + "; ".join(parts)
    print(line)
    return line


@dataclass
class Trio:
    """Hosts A (HTTP server bound to echo, no actors), B and C (echo)."""

    a: WasccProcess
    b: WasccProcess
    c: WasccProcess
    url: str


def echo_host() -> str:
    """The manifest of a host that runs echo."""
    return "actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n"


def http_host(echo: str, port: int) -> str:
    """The manifest of host A: an HTTP server on ``port`` for echo, which runs elsewhere."""
    return f"""actors: []
capabilities: [{{path: http_server}}]
bindings:
  - {{actor: {echo}, capability: wascc:http_server, values: {{PORT: "{port}"}}}}
"""


@pytest.fixture
def echo(tmp_path: Path, signer: Signer) -> str:
    """echo, signed (with wascc:http_server) into the test directory; its key."""
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"]))
    return signer.key("echo")


def start_http_host(up: Up, echo: str) -> tuple[WasccProcess, str]:
    """Host A, once its HTTP server answers through the lattice; A and the URL."""
    port = free_port()
    a = up(http_host(echo, port), "--rpc-timeout", f"{RPC_TIMEOUT:g}")
    url = f"http://127.0.0.1:{port}/hello"
    wait_until(lambda: fetch(url, timeout=5)[0] == 200, 15, "A's HTTP server to reach echo")
    return a, url


@pytest.fixture
def trio(up: Up, echo: str) -> Trio:
    """B and C run echo; A serves it over HTTP through the lattice."""
    b = up(echo_host())
    c = up(echo_host())
    a, url = start_http_host(up, echo)
    return Trio(a, b, c, url)


def warm_up(answers: list[Answer], seconds: float = 1.5) -> float:
    """Let the load run ``seconds``; the moment after it."""
    time.sleep(seconds)
    return time.monotonic()


def test_host_killed_under_http_load(trio: Trio) -> None:
    """B is SIGKILLed while A serves eight clients: the requests B had taken end within the
    RPC timeout (504), never the HTTP binding's 30 s; C then takes every request."""
    with load(trio.url) as answers:
        killed = warm_up(answers)
        trio.b.proc.send_signal(signal.SIGKILL)
        time.sleep(4.0)
    line = report("kill -9 B", answers, {"after kill": killed, "settled": killed + 1.5})
    assert all(a.status == 200 for a in answers if a.started + a.took < killed), line
    assert slowest(answers) < RPC_TIMEOUT + MARGIN, line
    assert set(statuses(answers)) <= {200, 503, 504}, line
    settled = between(answers, killed + RPC_TIMEOUT + 0.5)
    assert settled, line
    assert all(a.status == 200 for a in settled), line


def test_host_frozen_under_http_load(trio: Trio) -> None:
    """C is SIGSTOPped: the requests routed to it end within the RPC timeout (504) while B
    answers the others; once C goes on, every request succeeds again."""
    with load(trio.url) as answers:
        frozen = warm_up(answers)
        trio.c.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(4.0)
        finally:
            trio.c.proc.send_signal(signal.SIGCONT)
        thawed = time.monotonic()
        time.sleep(2.5)
    line = report("SIGSTOP C", answers, {"frozen": frozen, "thawed": thawed})
    assert slowest(answers) < RPC_TIMEOUT + MARGIN, line
    during = between(answers, frozen, thawed)
    assert set(statuses(during)) <= {200, 504}, line
    assert 504 in statuses(during), line  # some went to C
    assert 200 in statuses(during), line  # B answered the others
    assert all(a.status == 200 for a in between(answers, thawed + 1.0)), line


def test_nats_restart_under_http_load(trio: Trio, nats: ServerProcess) -> None:
    """NATS is down for 2 s: no request waits past the RPC timeout (504 or 503 while it is
    away), and a few seconds after it is back every request succeeds again, on all three
    hosts reconnected."""
    with load(trio.url) as answers:
        stopped = warm_up(answers)
        nats.stop()
        time.sleep(2.0)
        nats.start()
        back = time.monotonic()
        time.sleep(7.0)
    line = report("NATS restart", answers, {"NATS down": stopped, "back": back})
    failed = [a for a in between(answers, back) if a.status != 200]
    recovered = max((a.started + a.took for a in failed), default=back) - back
    print(f"NATS restart: every request succeeds from {recovered:.2f}s after NATS is back")
    assert slowest(answers) < RPC_TIMEOUT + MARGIN, line
    assert set(statuses(answers)) <= {200, 503, 504}, line
    assert all(a.retry_after is not None for a in answers if a.status == 503), line
    assert all(a.status == 200 for a in between(answers, back + 5.0)), line
    hosts = (trio.a, trio.b, trio.c)
    wait_until(
        lambda: all("reconnected to the lattice" in h.stderr for h in hosts), 5, "reconnections"
    )


def lattice_lines(process: WasccProcess, level: str = "WARNING") -> list[str]:
    """Lines of ``process``'s log from the lattice (``wascc.lattice``) at ``level``."""
    return [line for line in process.stderr.splitlines() if f"{level} wascc.lattice:" in line]


def test_no_host_serves_the_actor(up: Up, echo: str) -> None:
    """The only host running echo is killed: A answers each request with 503 and
    Retry-After within the RPC timeout, and logs one condensed WARNING for all of them."""
    b = up(echo_host())
    a, url = start_http_host(up, echo)
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(timeout=10)
    with load(url, clients=4) as answers:
        time.sleep(3.0)
    line = report("no responders", answers, {})
    assert len(answers) >= 8, line
    assert slowest(answers) < RPC_TIMEOUT + MARGIN, line
    assert statuses(answers) == {503: len(answers)}, line
    assert all(a.retry_after is not None and int(a.retry_after) >= 1 for a in answers)
    unserved = [line for line in lattice_lines(a) if "no host in the lattice serves it" in line]
    assert len(unserved) == 1, unserved
    assert echo in unserved[0]


def test_nats_outage_is_logged_in_a_few_lines(up: Up, echo: str, nats: ServerProcess) -> None:
    """While NATS is down for 3 s a host logs a handful of lines about it (lost, why it
    cannot reconnect, reconnected), not one per reconnection attempt every 0.25 s."""
    a = up(echo_host())
    before = len(a.stderr.splitlines())
    nats.stop()
    wait_until(lambda: "lost the lattice's NATS" in a.stderr, 5, "the loss to be logged")
    time.sleep(3.0)
    nats.start()
    wait_until(lambda: "reconnected to the lattice's NATS" in a.stderr, 10, "the reconnection")
    time.sleep(0.5)
    lines = a.stderr.splitlines()[before:]
    about = [line for line in lines if re.search(r"NATS|lattice", line)]
    assert 2 <= len(about) <= 5, "\n".join(lines)
    assert len(lines) <= 6, "\n".join(lines)
    print(f"NATS down 3 s: {len(lines)} log lines:\n" + "\n".join(lines))
