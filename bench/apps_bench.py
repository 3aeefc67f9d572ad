"""Desired state: how long `wascc apply` takes to become running actors, and how long a dead
host's actors take to answer again elsewhere.

Real processes, as an operator runs them: a nats-server with JetStream, three `wascc up`
hosts (label role=worker), one `wascc reconciler` (a pass every 0.5 s, a host silent for
3 s counted as gone). 100 actors (the echo sample signed under 100 names, one replica each)
are applied with `wascc apply`; "answering" means an `Echo` call to every one of them, sent
over the lattice by a fourth host in this process, succeeds.

    .venv/bin/python -m bench.apps_bench
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.report import Section
from bench.served import stop, wascc_argv
from wascc.host import Host
from wascc.host.lattice import Lattice, LatticeConfig
from wascc.host.trust import TrustPolicy
from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "actors" / "build" / "echo.wasm"
ACTORS = 100
HOSTS = 3
INTERVAL = "0.5"
HOST_TIMEOUT = 3.0
LIMIT = 120.0  # seconds any one wait may take before the bench gives up


def _env(keys: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASCC_")}
    env.update(WASCC_KEYS=str(keys), WASCC_LATTICE_ACCOUNT="lattice", WASCC_CTL_SIGNER="lattice")
    return env


@contextlib.contextmanager
def _processes(
    work: Path, url: str, env: dict[str, str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    (work / "m.yaml").write_text("capabilities: [{path: logging}]\n")
    started: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(HOSTS):
            argv = [*wascc_argv(), "up", "m.yaml", "--data-dir", f"data{index}"]
            argv += ["--lattice", url, "--label", "role=worker", "--log-level", "warning"]
            log = (work / f"host{index}.log").open("wb")
            started.append(subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=log))
        argv = [*wascc_argv(), "reconciler", "--lattice", url, "--interval", INTERVAL]
        argv += ["--host-timeout", str(HOST_TIMEOUT), "--log-level", "warning"]
        log = (work / "reconciler.log").open("wb")
        started.append(subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=log))
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                stop(proc, timeout=10)


async def _answering(host: Host, keys: list[str]) -> int:
    """How many of ``keys`` answer an Echo call now."""

    async def one(key: str) -> bool:
        try:
            return await host.call_actor(key, "Echo", b"x", timeout=2) == b"x"
        except Exception:
            return False

    return sum(await asyncio.gather(*(one(key) for key in keys)))


async def _until_all(host: Host, keys: list[str]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < LIMIT:
        if await _answering(host, keys) == len(keys):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise RuntimeError(f"not all {len(keys)} actors answered within {LIMIT:g}s")


async def _run(work: Path, url: str) -> tuple[float, float, int]:
    keys_dir = work / "keys"
    account = KeyPair.generate("account")
    save_key(account, "lattice", directory=keys_dir)
    env = _env(keys_dir)
    module = ECHO.read_bytes()
    lines = ["name: bench", "actors:"]
    keys = []
    for index in range(ACTORS):
        subject = KeyPair.generate("module")
        signed = sign_module(module, issuer=account, subject=subject, name=f"echo{index}")
        (work / f"echo{index}_s.wasm").write_bytes(signed)
        lines += [f"  - module: echo{index}_s.wasm", "    constraints: {role: worker}"]
        keys.append(subject.public_key)
    (work / "app.yaml").write_text("\n".join(lines) + "\n")
    watcher = Host(trust=TrustPolicy.build(lattice_account=account.public_key))
    lattice = Lattice(watcher, LatticeConfig(url=url, vouch_with=account))
    await watcher.start()
    await lattice.join(wait=5.0)
    try:
        with _processes(work, url, env) as procs:
            await asyncio.sleep(3)  # the hosts start (not measured)
            started = time.monotonic()
            applied = await asyncio.to_thread(
                subprocess.run,
                [*wascc_argv(), "apply", "app.yaml", "--lattice", url],
                cwd=work,
                env=env,
                capture_output=True,
                check=True,
            )
            assert applied.returncode == 0
            await _until_all(watcher, keys)
            apply_seconds = time.monotonic() - started
            # One host (the reconciler spread the actors: about a third each) dies at once,
            # as a crash would.
            victim = procs[0]
            victim.send_signal(signal.SIGKILL)
            died = time.monotonic()
            await asyncio.sleep(0.2)
            lost = ACTORS - await _answering(watcher, keys)
            await _until_all(watcher, keys)
            heal_seconds = time.monotonic() - died
    finally:
        await lattice.stop_serving()
        await watcher.stop()
        await lattice.leave()
    return apply_seconds, heal_seconds, lost


METHOD = __doc__.split("\n\n")[1].strip() if __doc__ else ""


def section() -> Section:
    """Measure both figures; the table as a ``Section``."""
    from tests.support.servers import nats_server  # noqa: PLC0415 - the suite's helper

    logging.disable(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "nats").mkdir()
            with nats_server(work / "nats", "-js", "-sd", str(work / "js")) as server:
                url = f"nats://127.0.0.1:{server.port}"
                apply_s, heal_s, lost = asyncio.run(_run(work, url))
    finally:
        logging.disable(logging.NOTSET)
    rows = [
        (f"apply -> {ACTORS} actors answering over {HOSTS} hosts", f"{apply_s:.1f} s"),
        (
            f"host killed -> its {lost} actors answering elsewhere",
            f"{heal_s:.1f} s (host timeout {HOST_TIMEOUT:g} s)",
        ),
    ]
    return Section(
        "Desired state: apply and self-healing",
        METHOD,
        ("figure", "time"),
        rows,
        verdicts=[
            f"apply to {ACTORS} actors answering: {apply_s:.1f} s; a killed host's {lost} actors "
            f"answer elsewhere after {heal_s:.1f} s (of which {HOST_TIMEOUT:g} s is the "
            "host timeout)"
        ],
    )


def main() -> Section:
    result = section()
    result.print()
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
