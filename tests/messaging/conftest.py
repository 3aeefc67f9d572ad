"""Fixtures for the messaging tests (a real nats-server, a raw nats-py client, the provider)
and the helpers several test modules share."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.providers.providers_support import SignerLike, sign_forwarder
from tests.support.servers import ServerProcess, nats_server
from wascc.host import Host
from wascc.host.natsio import round_trip
from wascc.providers.codec import MESSAGING, PublishMessage
from wascc.providers.messaging import MessagingProvider

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


async def bind_forwarder(
    host: Host, signer: SignerLike, server: ServerProcess, name: str = "sender", **values: str
) -> str:
    """A forwarding actor (``name``) whose calls go to the messaging provider unchanged, bound
    to ``server`` with ``values`` besides the URL."""
    claims = await host.add_actor(sign_forwarder(signer, name, MESSAGING, caps=[MESSAGING]))
    await host.set_binding(claims.subject, MESSAGING, values={"URL": nats_url(server), **values})
    return claims.subject


@dataclass
class Env:
    """Everything a messaging test uses: host, signer, provider, server, raw client."""

    host: Host
    signer: SignerLike
    messaging: MessagingProvider
    server: ServerProcess
    client: Any


@pytest.fixture
def env(
    host: Host,
    signer: SignerLike,
    messaging: MessagingProvider,
    nats_srv: ServerProcess,
    client: Any,
) -> Env:
    """The test's host with the messaging provider, its nats-server and a raw client."""
    return Env(host, signer, messaging, nats_srv, client)


async def bind_messenger(
    host: Host, signer: SignerLike, server: ServerProcess, name: str = "messenger", **values: str
) -> str:
    """Start the messenger actor as ``name`` and bind it to ``server`` with ``values``."""
    claims = await host.add_actor(signer.sign("messenger", name=name, caps=[MESSAGING]))
    await host.set_binding(claims.subject, MESSAGING, values={"URL": nats_url(server), **values})
    return claims.subject


def publish(subject: str, body: bytes = b"", reply_to: str = "") -> bytes:
    """A Publish payload."""
    return PublishMessage(subject=subject, reply_to=reply_to, body=body).encode()


def while_the_loop_waits(work: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``work`` on a thread of its own while this thread (the event loop's) is blocked:
    whatever ``work`` does, the loop cannot help it. Its result, or its exception raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", work()))
        except BaseException as exc:  # handed back to the test
            outcome.append(("error", exc))

    thread = threading.Thread(target=run, name="actor worker")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the worker thread did not finish within {timeout:g}s"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


async def subscribed(client: Any, subject: str) -> Any:
    """A raw subscription the server knows of before the test publishes (one ``flush`` does
    not promise that, see ``round_trip``)."""
    sub = await client.subscribe(subject)
    await round_trip(client, 5)
    return sub


async def received(sub: Any, count: int) -> list[bytes]:
    """The bodies of the next ``count`` messages of ``sub`` (each within 5 s)."""
    return [(await sub.next_msg(timeout=5)).data for _ in range(count)]


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
