"""Fixtures for the lattice tests: a real nats-server, hosts joined to it (always stopped)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process.process_support import WasccProcess, wascc_env
from tests.support.servers import ServerProcess, nats_server
from wascc.host import Host
from wascc.host.lattice import Lattice, LatticeConfig
from wascc.host.trust import TrustPolicy
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key

Member = tuple[Host, Lattice]
MakeMember = Callable[..., Awaitable[Member]]
Up = Callable[..., WasccProcess]


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh nats-server on a free 127.0.0.1 port."""
    with nats_server(tmp_path) as server:
        yield server


def echo_manifest(tmp_path: Path, lattice: str = "") -> Path:
    """``m.yaml`` in ``tmp_path``: the ``lattice`` section text given, then ``echo_s.wasm``
    (signed there by the test) with no capabilities and no bindings."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"{lattice}actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n")
    return manifest


def lattice_env(keys: Path) -> dict[str, str]:
    """``wascc_env(keys)`` for a lattice, as an operator sets it up: one account saved as
    ``lattice`` in ``keys``, handed to every host (``WASCC_LATTICE_ACCOUNT``: each host
    vouches for its own key with it) and signing every ``wascc ctl`` command
    (``WASCC_CTL_SIGNER``)."""
    env = wascc_env(keys)
    if not (keys / "lattice.nk").exists():
        save_key(KeyPair.generate("account"), "lattice", directory=keys)
    env["WASCC_LATTICE_ACCOUNT"] = "lattice"
    env["WASCC_CTL_SIGNER"] = "lattice"
    return env


async def until(check: object, timeout: float = 10.0) -> None:
    """Poll the sync or async ``check`` until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def nats_url(server: ServerProcess) -> str:
    """The URL of ``server``."""
    return f"nats://127.0.0.1:{server.port}"


@pytest.fixture
def lattice_account() -> KeyPair:
    """The test lattice's anchor: every ``member`` trusts the hosts it vouches for."""
    return KeyPair.generate("account")


@pytest.fixture
async def member(
    tmp_path: Path, nats: ServerProcess, lattice_account: KeyPair
) -> AsyncIterator[MakeMember]:
    """``await member(labels=..., trust=..., **config)``: a started host that joined the
    lattice on ``nats``, anchored in ``lattice_account`` and vouched for by it unless
    ``trust`` or ``config`` say otherwise; every one is taken down in order at teardown."""
    made: list[Member] = []

    async def make(
        labels: dict[str, str] | None = None, trust: TrustPolicy | None = None, **config: Any
    ) -> Member:
        if trust is None:
            trust = TrustPolicy.build(lattice_account=lattice_account.public_key)
        if "voucher" not in config:
            config.setdefault("vouch_with", lattice_account)
        host = Host(cache_dir=tmp_path / "cache", labels=labels, trust=trust)
        lattice = Lattice(host, LatticeConfig(url=nats_url(nats), **config))
        await host.start()
        made.append((host, lattice))
        await lattice.join(wait=5.0)
        return host, lattice

    yield make
    for host, lattice in reversed(made):
        await lattice.stop_serving()
        await host.stop()
        await lattice.leave()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the ``wascc`` subprocesses (``lattice_env``)."""
    return lattice_env(tmp_path / "keys")


@pytest.fixture
def up(tmp_path: Path, env: dict[str, str], nats: ServerProcess) -> Iterator[Up]:
    """``up(manifest_text, *args, ready=True)``: ``wascc up`` joined to the lattice on
    ``nats``, with an admin endpoint, started (and ready); every process is killed at
    teardown."""
    started: list[WasccProcess] = []

    def start(text: str, *args: str, ready: bool = True) -> WasccProcess:
        index = len(started)
        manifest = tmp_path / f"m{index}.yaml"
        manifest.write_text(text)
        process = WasccProcess(
            (
                "up",
                str(manifest),
                "--data-dir",
                str(tmp_path / f"data{index}"),
                "--admin",
                "127.0.0.1:0",
                "--lattice",
                f"nats://127.0.0.1:{nats.port}",
                *args,
            ),
            env,
            tmp_path,
        )
        started.append(process)
        if ready:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()
