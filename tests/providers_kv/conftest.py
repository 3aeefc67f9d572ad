"""Fixtures for the key-value tests: every back end behind a real host and actor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from host import Host
from providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider
from tests.providers.providers_support import SignerLike, sign_forwarder
from tests.providers_kv.kv_support import KEYVALUE, KvClient
from tests.support.servers import ServerProcess, redis_server

BACKENDS = ("memory", "sqlite", "redis")


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
    """Each back end in turn: the same test runs on memory, SQLite and Redis."""
    return str(request.param)


@pytest.fixture
def kv_values(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The binding values that select ``backend`` (Redis: flushed, SQLite: fresh data dir)."""
    if backend == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        with redis.Redis(port=server.port, socket_timeout=5) as client:
            client.flushall()
        return {"BACKEND": "redis", "URL": redis_url(server)}
    return {"BACKEND": backend}


@pytest.fixture
def kv_provider(backend: str, tmp_path: Path) -> KeyValueProvider:
    """The provider for ``backend``: the synchronous one for memory, else the general one."""
    if backend == "memory":
        return MemoryKeyValueProvider()
    return KeyValueProvider(data_dir=tmp_path / "data")


@pytest.fixture
async def kv(
    host: Host, signer: SignerLike, kv_provider: KeyValueProvider, kv_values: dict[str, str]
) -> KvClient:
    """A forwarding actor bound to the key-value provider on ``backend``."""
    await host.add_provider(kv_provider)
    module = sign_forwarder(signer, "kvclient", KEYVALUE, caps=[KEYVALUE])
    claims = await host.add_actor(module)
    await host.set_binding(claims.subject, KEYVALUE, values=kv_values)
    return KvClient(host, claims.subject)
