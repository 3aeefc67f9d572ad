"""Servers as processes, measured alike: ``wascc up`` and the peers of ``bench/peers.py`` are
started the same way, loaded by the same load generator, and charged the CPU time their own
process used (``/proc/PID/stat``), so a host row and its peer row differ only in the server.

``spawn`` starts any command and stops it with SIGTERM; ``wascc_up`` and ``peer`` are the two
commands measured here. ``load`` runs ``bench/loadgen.py`` in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "HEADER",
    "READY_TIMEOUT",
    "ROUNDS",
    "Figures",
    "Server",
    "alternate",
    "best",
    "cpu_seconds",
    "figures",
    "free_port",
    "load",
    "manifest_note",
    "measure_http",
    "peer",
    "rounds_text",
    "row",
    "spawn",
    "stop",
    "verdict",
    "warm_up",
    "wascc_argv",
    "wascc_up",
]

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / "bench" / "loadgen.py"
READY_TIMEOUT = 60.0
WARM_UP = 0.5
# Each row is measured this many times, each time in a fresh process, and its best kept: the
# CPUs are shared with other machines, and one burst of theirs can halve a single figure.
ROUNDS = 2
Figures = dict[str, float]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago: each socket
    stays bound until all are chosen (closed one by one, the kernel may hand out the same
    port twice, and two bindings of one manifest then ask for the same port)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _served(port: int, path: str) -> bool:
    """Whether ``GET path`` on ``port`` is answered 200 right now."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Server:
    """A running server process and when it was launched."""

    proc: subprocess.Popen[bytes]
    launched: float
    log: Path | None = None

    def check_alive(self) -> None:
        """``RuntimeError`` with the end of its log if the process has exited."""
        if self.proc.poll() is None:
            return
        tail = ""
        if self.log is not None and self.log.exists():
            tail = ":\n" + self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.proc.args!r} exited with {self.proc.returncode}{tail}")

    def wait_served(self, port: int, path: str = "/") -> float:
        """Seconds from launch to the first ``200`` to ``GET path`` on ``port``."""
        deadline = self.launched + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if _served(port, path):
                return time.perf_counter() - self.launched
            self.check_alive()
            time.sleep(0.002)
        raise RuntimeError(f"{self.proc.args!r} did not serve port {port} in {READY_TIMEOUT:g} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far, all its threads (Linux /proc)."""
        return cpu_seconds(self.proc.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> Iterator[Server]:
    """Run ``argv`` (stderr to ``log`` if given) until the block ends, then SIGTERM it."""
    launched = time.perf_counter()
    with contextlib.ExitStack() as files:
        stderr: IO[bytes] | int = subprocess.DEVNULL
        if log is not None:
            stderr = files.enter_context(log.open("ab"))
        proc = subprocess.Popen(
            list(argv),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=cwd,
        )
    try:
        yield Server(proc, launched, log)
    finally:
        if proc.poll() is None:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited after ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wascc_argv() -> list[str]:
    """How to run ``wascc``: the venv's script, else ``python -m wascc.host.cli``."""
    script = Path(sys.executable).with_name("wascc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wascc.host.cli"]


def wascc_up(
    manifest: Path,
    data_dir: Path,
    env: Mapping[str, str],
    log: Path | None = None,
    options: Sequence[str] = (),
) -> contextlib.AbstractContextManager[Server]:
    """``wascc up MANIFEST --expand-env --data-dir DATA_DIR --log-level warning [OPTIONS]``,
    run from the manifest's directory and stopped with SIGTERM."""
    argv = [*wascc_argv(), "up", str(manifest), "--expand-env", "--data-dir", str(data_dir)]
    argv += ["--log-level", "warning", *options]
    return spawn(argv, env=env, cwd=manifest.parent, log=log)


def peer(
    kind: str, where: str, *options: str, log: Path | None = None
) -> contextlib.AbstractContextManager[Server]:
    """``python -m bench.peers KIND WHERE [OPTIONS]``: one peer server in its own process."""
    argv = [sys.executable, "-m", "bench.peers", kind, where, *options]
    return spawn(argv, cwd=ROOT, log=log)


async def load(
    port: int | Sequence[int],
    seconds: float,
    connections: int,
    path: str = "/",
    server_pid: int | None = None,
) -> Figures:
    """Run the load generator against ``port`` (or several, connections spread over them) in
    its own process and return its figures; with ``server_pid`` it also reports the CPU time
    that process used over exactly the load's window."""
    ports = [port] if isinstance(port, int) else list(port)
    argv = [str(LOADGEN), ",".join(map(str, ports)), str(seconds), str(connections), path]
    if server_pid is not None:
        argv += ["--pid", str(server_pid)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(seconds + 60):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed with exit code {proc.returncode}")
    return json.loads(out)  # type: ignore[no-any-return]


async def warm_up(port: int | list[int]) -> None:
    """A short load on one connection, not counted (for the scaling figure, which compares
    processes that have all served calls already): sequential calls are quick, so the inline
    policy (``host/inline.py``) promotes the actor before the measurement starts."""
    await load(port, WARM_UP, 1)


def measure_http(
    server: Server,
    port: int,
    seconds: float,
    connections: int,
    before_load: Callable[[], None] | None = None,
) -> Figures:
    """Wait until ``server`` answers one ``GET /`` on ``port``, then at once load it (no
    warm-up pass) and return its figures: ``rps`` and ``requests`` count every answer from
    the first second of load, ``p50_ms``/``p99_ms`` leave out the first ``loadgen.WARMUP``
    seconds, ``cpu_us`` is the server process's CPU time per answer over the whole load and
    ``client_cores`` the load generator's CPU time per second of it. ``before_load`` runs
    between the first answer and the load (it sends no request to ``port``)."""
    server.wait_served(port)
    if before_load is not None:
        before_load()
    got = asyncio.run(load(port, seconds, connections, server_pid=server.proc.pid))
    server.check_alive()
    return figures(
        requests=got["total_requests"],
        seconds=got["total_seconds"],
        p50_ms=got["p50_ms"],
        p99_ms=got["p99_ms"],
        errors=got["errors"],
        server_cpu_s=got["server_cpu_s"],
        client_cpu_s=got["cpu_s"],
    )


def figures(
    *,
    requests: float,
    seconds: float,
    p50_ms: float,
    p99_ms: float,
    errors: float,
    server_cpu_s: float,
    client_cpu_s: float,
) -> Figures:
    """One row's figures from what was counted."""
    return {
        "requests": requests,
        "rps": requests / seconds,
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
        "errors": errors,
        "cpu_us": server_cpu_s / requests * 1e6 if requests else float("nan"),
        "client_cores": client_cpu_s / seconds,
    }


HEADER = (
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "CPU µs/req",
    "vs peer",
    "client CPU",
    "requests",
)


def row(name: str, result: Figures, peer_result: Figures | None = None) -> tuple[str, ...]:
    """A table row; ``vs peer`` is the throughput ratio to ``peer_result`` if given."""
    errors = f"  ({int(result['errors'])} errors)" if result["errors"] else ""
    ratio = f"{result['rps'] / peer_result['rps']:.2f}x" if peer_result else ""
    return (
        name,
        f"{result['rps']:,.0f}",
        f"{result['p50_ms']:.2f}",
        f"{result['p99_ms']:.2f}",
        f"{result['cpu_us']:,.0f}",
        ratio,
        f"{result['client_cores']:.2f}",
        f"{int(result['requests']):,}{errors}",
    )


def verdict(what: str, host: Figures, peer_result: Figures, target: float) -> str:
    """The host/peer throughput ratio against ``target``, with the CPU ratio beside it."""
    ratio = host["rps"] / peer_result["rps"]
    met = "meets" if ratio >= target else "is below"
    cpu = host["cpu_us"] / peer_result["cpu_us"]
    errors = int(host["errors"] + peer_result["errors"])
    failed = f"; {errors} failed requests" if errors else ""
    return (
        f"{what}: {ratio:.2f}x ({met} the {target:g}x target; host CPU per request "
        f"{cpu:.2f}x the peer's{failed})"
    )


def manifest_note(name: str, manifest: str, how: str) -> str:
    """A report note quoting the manifest ``wascc up`` ran, as a YAML block."""
    return f"Manifest (`{name}`; {how}):\n\n```yaml\n{manifest.rstrip()}\n```"


def alternate(*measures: Callable[[], Figures], rounds: int = ROUNDS) -> list[list[Figures]]:
    """Every round of each of ``measures`` (say a peer and the host), in the order given, then
    reversed, and so on (peer, host, host, peer, ...), so that a change in the machine's load
    over the run weighs on every side alike. One list of rounds per measure, in their order."""
    results: list[list[Figures]] = [[] for _ in measures]
    for round_ in range(rounds):
        order = list(zip(results, measures, strict=True))
        for rounds_of, measure in order[:: -1 if round_ % 2 else 1]:
            rounds_of.append(measure())
    return results


def best(results: Sequence[Figures]) -> Figures:
    """The round with the most requests per second (its latencies and CPU with it)."""
    return max(results, key=lambda result: result["rps"])


def rounds_text(results: Sequence[Figures]) -> str:
    """Every round's req/s, for the notes: how much the figures moved within the run."""
    return " / ".join(f"{result['rps']:,.0f}" for result in results)
