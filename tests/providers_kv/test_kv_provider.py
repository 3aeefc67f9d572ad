"""The key-value provider itself: settings, bindings, the synchronous variant, kvcounter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.providers.providers_support import SignerLike
from tests.providers_kv.kv_support import KEYVALUE
from tests.support.servers import free_port
from wascc import providers
from wascc.host import Host
from wascc.host.errors import ProviderError
from wascc.host.typing import Provider, SyncProvider
from wascc.providers import HttpServerProvider
from wascc.providers.codec import GetRequest, GetResponse, SetRequest
from wascc.providers.keyvalue import (
    KeyValueProvider,
    KeyValueSettings,
    MemoryKeyValueProvider,
    MemoryStore,
    SqliteStore,
)
from wascc.providers.keyvalue.dispatch import OPERATIONS

ACTOR = "M" + "A" * 55


def test_the_package_exports_its_public_names() -> None:
    """wascc.providers.keyvalue exports exactly its public API, and providers re-exports the two
    providers."""
    assert set(providers.keyvalue.__all__) == {
        "DEFAULT_DATA_DIR",
        "InvalidRequestError",
        "KeyValueError",
        "KeyValueProvider",
        "KeyValueSettings",
        "KeyValueStore",
        "MemoryKeyValueProvider",
        "MemoryStore",
        "NotAnIntegerError",
        "RedisStore",
        "SqliteStore",
        "StoreUnavailableError",
        "WrongKindError",
    }
    assert providers.KeyValueProvider is KeyValueProvider
    assert providers.MemoryKeyValueProvider is MemoryKeyValueProvider


def test_all_fourteen_operations_are_served() -> None:
    """The dispatcher knows exactly the fourteen operations of docs/contracts.md."""
    assert set(OPERATIONS) == {
        "Get",
        "Set",
        "Add",
        "Del",
        "Clear",
        "Range",
        "Push",
        "ListItemDelete",
        "SetAdd",
        "SetRemove",
        "SetUnion",
        "SetIntersection",
        "SetQuery",
        "KeyExists",
    }


def test_only_the_memory_provider_is_synchronous() -> None:
    """MemoryKeyValueProvider is a SyncProvider; KeyValueProvider (which may block) is not."""
    assert isinstance(MemoryKeyValueProvider(), SyncProvider)
    assert isinstance(KeyValueProvider(), Provider)
    assert not isinstance(KeyValueProvider(), SyncProvider)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"BACKEND": "mongo"}, "BACKEND='mongo' is not one of memory, sqlite, redis"),
        ({"TIMEOUT": "soon"}, "TIMEOUT='soon' is not a number of seconds"),
        ({"TIMEOUT": "-1"}, "TIMEOUT='-1'"),
        ({"SYNCHRONOUS": "off"}, "SYNCHRONOUS='off' is not full or normal"),
        ({"BACKEND": "redis", "URL": "http://x"}, "URL='http://x' is not a redis://"),
    ],
)
def test_bad_values_are_refused_with_the_fix(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    """Each malformed binding value is a ProviderError naming the value and the actor."""
    with pytest.raises(ProviderError, match="kvclient") as caught:
        KeyValueSettings.from_values(
            values, actor=ACTOR, label="kvclient", binding="default", data_dir=tmp_path
        )
    assert message in str(caught.value)
    assert "fix the binding's values" in str(caught.value)


def test_settings_defaults_and_paths(tmp_path: Path) -> None:
    """Defaults: SQLite under the data dir; relative PATHs are under it, binding names are
    made safe as file names; Redis without URL goes to the local default."""

    def parse(values: dict[str, str], binding: str = "default") -> KeyValueSettings:
        return KeyValueSettings.from_values(
            values, actor=ACTOR, label="a", binding=binding, data_dir=tmp_path
        )

    default = parse({})
    assert default.backend == "sqlite"
    assert default.path == (tmp_path / "keyvalue" / "default" / f"{ACTOR}.sqlite3").resolve()
    assert default.synchronous == "full"
    assert default.timeout == 5.0
    assert parse({"PATH": "x/kv.db"}).path == (tmp_path / "x" / "kv.db").resolve()
    odd = parse({}, binding="../../etc")
    assert odd.path is not None
    assert odd.path.is_relative_to(tmp_path.resolve())
    redis = parse({"BACKEND": "redis"})
    assert redis.url == "redis://127.0.0.1:6379/0"
    assert parse({"BACKEND": "memory"}).location != parse({"BACKEND": "memory"}, "b").location


async def test_the_memory_provider_refuses_other_back_ends(tmp_path: Path) -> None:
    """MemoryKeyValueProvider refuses a SQLite or Redis binding with the alternative."""
    provider = MemoryKeyValueProvider()
    with pytest.raises(ProviderError, match="use KeyValueProvider, or BACKEND=memory"):
        await provider.bind_actor(ACTOR, "default", {"BACKEND": "sqlite"})
    await provider.bind_actor(ACTOR, "default", {})  # no BACKEND: memory is implied here
    await provider.stop()


async def test_handle_sync_answers_on_the_calling_thread() -> None:
    """The synchronous path serves calls without an event loop, from any thread."""
    provider = MemoryKeyValueProvider()
    await provider.bind_actor(ACTOR, "default", {"BACKEND": "memory"})

    def work() -> bytes:
        provider.handle_sync(ACTOR, "default", "Set", SetRequest("k", "v").encode())
        return provider.handle_sync(ACTOR, "default", "Get", GetRequest("k").encode())

    reply = await asyncio.to_thread(work)
    assert GetResponse.decode(reply) == GetResponse("v", True)
    await provider.stop()


async def test_a_second_bind_and_an_unbound_call_are_refused(tmp_path: Path) -> None:
    """Binding the same actor twice, or calling without a binding, is a clear error."""
    provider = KeyValueProvider(data_dir=tmp_path)
    await provider.bind_actor(ACTOR, "default", {"BACKEND": "memory"})
    with pytest.raises(ProviderError, match="already serves actor"):
        await provider.bind_actor(ACTOR, "default", {"BACKEND": "memory"})
    with pytest.raises(ProviderError, match="is not bound"):
        await provider.handle("M" + "B" * 55, "default", "Get", GetRequest("k").encode())
    await provider.remove_actor(ACTOR, "default")
    await provider.remove_actor(ACTOR, "default")  # idempotent
    await provider.stop()


async def test_memory_stores_are_per_actor_and_gone_after_unbinding(tmp_path: Path) -> None:
    """Each actor has its own memory store; removing the binding discards it."""
    provider = KeyValueProvider(data_dir=tmp_path)
    other = "M" + "B" * 55
    await provider.bind_actor(ACTOR, "default", {"BACKEND": "memory"})
    await provider.bind_actor(other, "default", {"BACKEND": "memory"})
    await provider.store_of(ACTOR).set("k", "mine", 0)
    assert await provider.store_of(other).get("k") is None
    await provider.remove_actor(ACTOR, "default")
    await provider.bind_actor(ACTOR, "default", {"BACKEND": "memory"})
    assert await provider.store_of(ACTOR).get("k") is None
    await provider.stop()


async def test_memory_expiry_sweeps_keys_nobody_reads() -> None:
    """Expired keys are dropped on later writes even if nobody reads them again."""
    now = [100.0]
    store = MemoryStore(clock=lambda: now[0])
    for i in range(100):
        await store.set(f"k{i}", "v", 10)
    now[0] += 11
    await store.set("other", "v", 0)
    assert await store.exists("other")
    assert len(store.sync._data) == 1  # the hundred expired keys are gone


async def test_sqlite_expiry_is_invisible_at_once(tmp_path: Path) -> None:
    """An expired SQLite key is absent for reads before the periodic sweep deletes it."""
    store = SqliteStore(tmp_path / "kv.db", synchronous="normal")
    await store.open()
    await store.set("k", "v", 1)
    await asyncio.sleep(1.1)
    assert await store.get("k") is None
    assert not await store.exists("k")
    await store.close()


async def test_kvcounter_counts_over_http_on_every_back_end(
    host: Host,
    signer: SignerLike,
    kv_provider: KeyValueProvider,
    kv_values: dict[str, str],
) -> None:
    """The kvcounter sample actor counts hits per path over real HTTP on each back end."""
    http = HttpServerProvider()
    await host.add_provider(http)
    await host.add_provider(kv_provider)
    claims = await host.add_actor(signer.sign("kvcounter", caps=["wascc:http_server", KEYVALUE]))
    port = free_port()
    await host.set_binding(claims.subject, "wascc:http_server", values={"PORT": str(port)})
    await host.set_binding(claims.subject, KEYVALUE, values=kv_values)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        base = f"http://127.0.0.1:{port}"
        for expected in (1, 2, 3):
            async with client.get(f"{base}/a/b") as response:
                assert response.status == 200
                assert await response.json() == {"counter": expected}
        async with client.get(f"{base}/other") as response:
            assert await response.json() == {"counter": 1}
    store = kv_provider.store_of(claims.subject)
    assert await store.get(":a:b") == "3"


async def test_kvcounter_answers_500_when_the_store_refuses(
    host: Host, signer: SignerLike, tmp_path: Path
) -> None:
    """A key-value error reaches kvcounter as its host error and becomes an HTTP 500."""
    http = HttpServerProvider(debug=True)
    kv = KeyValueProvider(data_dir=tmp_path)
    await host.add_provider(http)
    await host.add_provider(kv)
    claims = await host.add_actor(signer.sign("kvcounter", caps=["wascc:http_server", KEYVALUE]))
    await host.set_binding(claims.subject, "wascc:http_server", values={"PORT": "0"})
    await host.set_binding(claims.subject, KEYVALUE, values={"BACKEND": "memory"})
    await kv.store_of(claims.subject).set(":x", "not a number", 0)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        url = f"http://127.0.0.1:{http.port_of(claims.subject)}/x"
        async with client.get(url) as response:
            assert response.status == 500
            assert "not a 64-bit integer" in await response.text()
