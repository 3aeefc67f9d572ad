"""Helpers for the host-process tests: ``wascc`` as a real subprocess, always killed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SLOW_PROVIDER",
    "SignedActor",
    "WasccProcess",
    "free_port",
    "run_wascc",
    "wait_until",
    "wascc_env",
]

ROOT = Path(__file__).resolve().parents[2]

SLOW_PROVIDER = '''
"""A key-value stand-in whose Add answers after ``delay`` seconds and whose BindActor takes
``bind_delay`` seconds (a test provider)."""
import asyncio

import msgpack


class SlowKeyValue:
    contract_id = "wascc:keyvalue"

    def __init__(self, delay: float = 0.0, bind_delay: float = 0.0) -> None:
        self.delay = delay
        self.bind_delay = bind_delay
        self.total = 0

    async def start(self, host):
        pass

    async def stop(self):
        pass

    async def bind_actor(self, actor, binding, values):
        await asyncio.sleep(self.bind_delay)

    async def remove_actor(self, actor, binding):
        pass

    async def handle(self, actor, binding, operation, payload):
        await asyncio.sleep(self.delay)
        self.total += 1
        return msgpack.packb({"value": self.total})
'''
"""Source of a provider module the tests put on PYTHONPATH (``slowkv:SlowKeyValue``)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago: each socket
    stays bound until all are chosen (closed one by one, the kernel may hand out the same
    port twice, and a manifest with two bindings on one port is refused)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` (bounded); fail naming ``what`` if it never holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def wascc_env(keys: Path, extra_path: Path | None = None) -> dict[str, str]:
    """The environment for a ``wascc`` subprocess: its own key store, no inherited ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASCC_")}
    env["WASCC_KEYS"] = str(keys)
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_wascc(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 30.0, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``wascc ARGS`` to completion (bounded) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "wascc.host.cli", *args],
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class SignedActor:
    """A signed sample actor written to the test's directory."""

    name: str
    path: Path
    key: str


@dataclass
class WasccProcess:
    """A ``wascc`` subprocess whose output goes to files (so that it can never block on a
    full pipe) and is read back by the test."""

    args: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    # What runs with ``args``: ``wascc`` itself, or a script that ends by exec'ing it.
    command: tuple[str, ...] = field(default=(sys.executable, "-m", "wascc.host.cli"), kw_only=True)
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._out = self.cwd / f"wascc-{id(self)}.out"
        self._err = self.cwd / f"wascc-{id(self)}.err"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.proc = subprocess.Popen(
                [*self.command, *self.args],
                env=dict(self.env),
                cwd=self.cwd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                # Popen has no rlimit option; a subclass's child sets its limits, then execs.
                preexec_fn=self.before_exec(),  # noqa: PLW1509
            )

    def before_exec(self) -> Callable[[], None] | None:
        """What the child runs before it execs ``wascc`` (nothing here; see subclasses)."""
        return None

    @property
    def stdout(self) -> str:
        """Everything printed on stdout so far."""
        return self._out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        """Everything logged on stderr so far."""
        return self._err.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the host printed its ready line; fail with its output if it exited."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"wascc exited with {self.proc.returncode}\n{self.stdout}\n{self.stderr}"
                )
            return "host ready" in self.stdout

        wait_until(ready, timeout, "the host to be ready")

    def urls(self) -> dict[str, str]:
        """Actor name → the URL its HTTP binding listens on (from the startup lines)."""
        return dict(re.findall(r"^(\S+) listens on (http://\S+)", self.stdout, re.MULTILINE))

    def admin(self) -> str:
        """``HOST:PORT`` of the admin endpoint (from the startup lines)."""
        match = re.search(r"admin endpoint on http://(\S+)", self.stdout)
        assert match is not None, self.stdout
        return match.group(1)

    def data_dir(self) -> Path:
        """The ``--data-dir`` it was started with (where its admin token file is)."""
        index = self.args.index("--data-dir")
        return self.cwd / self.args[index + 1]

    def admin_token_file(self) -> Path:
        """Where its admin endpoint's token is: ``DATA_DIR/admin-PORT.token``."""
        port = self.admin().rpartition(":")[2]
        return self.data_dir() / f"admin-{port}.token"

    def auth(self) -> dict[str, str]:
        """The header that lets a request through its admin endpoint."""
        token = self.admin_token_file().read_text(encoding="ascii").strip()
        return {"Authorization": f"Bearer {token}"}

    def signal(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Send ``signum`` to the process."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        """Its exit status (bounded wait)."""
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Make sure it is gone (teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
