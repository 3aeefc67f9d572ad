"""Fixtures for the messaging tests: a real nats-server, a raw nats-py client, the provider."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from host import Host
from providers.messaging import MessagingProvider
from tests.providers.providers_support import SignerLike, sign_forwarder
from tests.support.servers import ServerProcess, nats_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _messenger_built() -> None:
    """Build the messenger sample actor if this checkout has not built it yet."""
    if not (ROOT / "actors" / "build" / "messenger.wasm").exists():
        build = [sys.executable, str(ROOT / "actors" / "build.py"), "messenger"]
        subprocess.run(build, check=True, timeout=120)


@pytest.fixture
def nats_srv(tmp_path: Path) -> Iterator[ServerProcess]:
    """A nats-server of the test's own on a free loopback port."""
    with nats_server(tmp_path) as server:
        yield server


def nats_url(server: ServerProcess) -> str:
    """The client URL of ``server``."""
    return f"nats://127.0.0.1:{server.port}"


async def bind_forwarder(host: Host, signer: SignerLike, server: ServerProcess) -> str:
    """A forwarding actor whose calls go to the messaging provider unchanged."""
    claims = await host.add_actor(
        sign_forwarder(signer, "sender", "wascc:messaging", caps=["wascc:messaging"])
    )
    await host.set_binding(claims.subject, "wascc:messaging", values={"URL": nats_url(server)})
    return claims.subject


@pytest.fixture
async def messaging(host: Host, nats_srv: ServerProcess) -> AsyncIterator[MessagingProvider]:
    """The messaging provider on the test's host; removed while the server still runs."""
    provider = MessagingProvider(connect_timeout=1.0, reconnect_wait=0.2)
    await host.add_provider(provider)
    yield provider
    if host.find_provider(provider.contract_id, "default") is provider:
        await host.remove_provider(provider.contract_id)


@pytest.fixture
async def client(nats_srv: ServerProcess) -> AsyncIterator[Any]:
    """A raw nats-py client on the test's server, reconnecting forever; always closed."""
    nc = await nats.connect(
        nats_url(nats_srv), max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=1
    )
    try:
        yield nc
    finally:
        await nc.close()
