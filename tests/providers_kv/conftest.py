"""Fixtures for the key-value tests: every back end behind a real host and actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from tests.providers.providers_support import SignerLike, sign_forwarder
from tests.providers_kv.kv_support import KEYVALUE, KvClient, ProviderClient
from tests.support.servers import ServerProcess, redis_server
from wascc.host import Host
from wascc.providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider

BACKENDS = ("memory", "sqlite", "sqlite-normal", "redis")
PATHS = ("actor", "handle", "direct")


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One redis-server for the session's conformance tests (flushed before each test)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ServerProcess]:
    """A redis-server of the test's own, free to stop and restart."""
    with redis_server(tmp_path) as server:
        yield server


def redis_url(server: ServerProcess) -> str:
    """The URL of database 0 on ``server``."""
    return f"redis://127.0.0.1:{server.port}/0"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each back end in turn: the same test runs on memory, SQLite (each SYNCHRONOUS) and
    Redis."""
    return str(request.param)


@pytest.fixture
def kv_values(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The binding values that select ``backend`` (Redis: flushed, SQLite: fresh data dir)."""
    if backend == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        with redis.Redis(port=server.port, socket_timeout=5) as client:
            client.flushall()
        return {"BACKEND": "redis", "URL": redis_url(server)}
    if backend == "sqlite-normal":
        return {"BACKEND": "sqlite", "SYNCHRONOUS": "normal"}
    return {"BACKEND": backend}


@pytest.fixture
def kv_provider(backend: str, tmp_path: Path) -> KeyValueProvider:
    """The provider for ``backend``: the synchronous one for memory, else the general one."""
    if backend == "memory":
        return MemoryKeyValueProvider()
    return KeyValueProvider(data_dir=tmp_path / "data")


@pytest.fixture(params=PATHS)
def kv_path(request: pytest.FixtureRequest) -> str:
    """How calls reach the provider: from a real actor on a real host (whatever the host
    picks), through ``handle``, or through ``direct(...).call`` on a thread of its own."""
    return str(request.param)


@pytest.fixture
def kv(request: pytest.FixtureRequest, kv_path: str, backend: str) -> KvClient:
    """A client of the key-value provider on ``backend``, by ``kv_path``; the actor is
    named kvclient either way. (``backend`` is named here so that pytest parametrizes.)"""
    client = request.getfixturevalue("kv_actor" if kv_path == "actor" else "kv_bound")
    assert isinstance(client, KvClient)
    return client


@pytest.fixture
async def kv_actor(
    host: Host, signer: SignerLike, kv_provider: KeyValueProvider, kv_values: dict[str, str]
) -> KvClient:
    """A forwarding actor bound to the key-value provider on ``backend``."""
    await host.add_provider(kv_provider)
    module = sign_forwarder(signer, "kvclient", KEYVALUE, caps=[KEYVALUE])
    claims = await host.add_actor(module)
    await host.set_binding(claims.subject, KEYVALUE, values=kv_values)
    return KvClient(host, claims.subject)


@pytest.fixture
async def kv_bound(
    kv_path: str, kv_provider: KeyValueProvider, kv_values: dict[str, str]
) -> AsyncIterator[ProviderClient]:
    """The provider itself, started and bound for an actor named kvclient (no host)."""
    actor = "M" + "K" * 55
    await kv_provider.start(Unused())
    await kv_provider.bind_actor(actor, "default", {**kv_values, "__wascc_name": "kvclient"})
    yield ProviderClient(kv_provider, actor, "handle" if kv_path == "handle" else "direct")
    await kv_provider.remove_actor(actor, "default")
    await kv_provider.stop()


class Unused:
    """A ``ProviderContext`` for a provider that never calls an actor back."""

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes:
        raise AssertionError("the key-value provider called an actor")
