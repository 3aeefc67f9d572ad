"""Fixtures for the lattice tests: a real nats-server, hosts joined to it (always stopped)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from host import Host
from host.lattice import Lattice, LatticeConfig
from tests.support.servers import ServerProcess, nats_server

Member = tuple[Host, Lattice]
MakeMember = Callable[..., Awaitable[Member]]


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


def nats_url(server: ServerProcess) -> str:
    """The URL of ``server``."""
    return f"nats://127.0.0.1:{server.port}"


@pytest.fixture
async def member(tmp_path: Path, nats: ServerProcess) -> AsyncIterator[MakeMember]:
    """``await member(labels=..., **config)``: a started host that joined the lattice on
    ``nats``; every one is taken down in order at teardown."""
    made: list[Member] = []

    async def make(labels: dict[str, str] | None = None, **config: Any) -> Member:
        host = Host(cache_dir=tmp_path / "cache", labels=labels)
        await host.start()
        lattice = Lattice(host, LatticeConfig(url=nats_url(nats), **config))
        made.append((host, lattice))
        await lattice.join(wait=5.0)
        return host, lattice

    yield make
    for host, lattice in reversed(made):
        await lattice.stop_serving()
        await host.stop()
        await lattice.leave()
