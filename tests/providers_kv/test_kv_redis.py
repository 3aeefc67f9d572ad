"""The Redis back end when Redis misbehaves: down, frozen, not there yet, and back again."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.providers.providers_support import SignerLike, sign_forwarder
from tests.providers_kv.conftest import redis_url
from tests.providers_kv.kv_support import KEYVALUE, KvClient
from tests.support.servers import ServerProcess, free_port
from wascc.host import Host
from wascc.providers.keyvalue import KeyValueProvider, RedisStore, StoreUnavailableError
from wascc.providers.keyvalue.redis_store import redact_url


async def _client(host: Host, signer: SignerLike, url: str, timeout: str = "1") -> KvClient:
    await host.add_provider(KeyValueProvider())
    claims = await host.add_actor(sign_forwarder(signer, "kvclient", KEYVALUE, caps=[KEYVALUE]))
    values = {"BACKEND": "redis", "URL": url, "TIMEOUT": timeout}
    await host.set_binding(claims.subject, KEYVALUE, values=values)
    return KvClient(host, claims.subject)


async def test_calls_fail_fast_while_redis_is_down_and_work_once_it_is_back(
    host: Host, signer: SignerLike, own_redis: ServerProcess
) -> None:
    """With Redis stopped every call is a quick error reply; after a restart calls succeed."""
    kv = await _client(host, signer, redis_url(own_redis))
    assert await kv.call("Add", key="n", value=1) == {"value": 1}
    await asyncio.to_thread(own_redis.stop)
    started = time.monotonic()
    errors = await asyncio.gather(*(kv.error("Add", key="n", value=1) for _ in range(20)))
    assert time.monotonic() - started < 5
    for error in errors:
        assert "Redis at redis://127.0.0.1" in error
        assert "unreachable" in error
        assert "Add for actor kvclient" in error
    await asyncio.to_thread(own_redis.start)  # same port; no persistence, so a fresh database
    assert await kv.call("Add", key="n", value=5) == {"value": 5}
    assert await kv.call("Get", key="n") == {"value": "5", "exists": True}


async def test_a_frozen_redis_gives_an_error_within_the_timeout(
    host: Host, signer: SignerLike, own_redis: ServerProcess
) -> None:
    """A Redis that accepts connections but never answers cannot hang the actor."""
    kv = await _client(host, signer, redis_url(own_redis), timeout="1")
    await kv.call("Set", key="k", value="v", expires=0)
    own_redis.pause()
    try:
        started = time.monotonic()
        error = await kv.error("Get", key="k")
        assert time.monotonic() - started < 3
        assert "Get for actor kvclient" in error
    finally:
        own_redis.resume()
    assert await kv.call("Get", key="k") == {"value": "v", "exists": True}


async def test_binding_while_redis_is_down_works_once_it_starts(
    host: Host, signer: SignerLike, own_redis: ServerProcess
) -> None:
    """The binding stands while Redis is unreachable; calls succeed once it is up."""
    await asyncio.to_thread(own_redis.stop)
    kv = await _client(host, signer, redis_url(own_redis))
    assert "unreachable" in await kv.error("Get", key="k")
    await asyncio.to_thread(own_redis.start)
    assert await kv.call("Get", key="k") == {"value": "", "exists": False}


async def test_a_url_without_a_backend_value_means_redis(
    host: Host, signer: SignerLike, shared_redis: ServerProcess
) -> None:
    """A binding with only URL=redis://... (waSCC manifests) selects the Redis back end."""
    await host.add_provider(provider := KeyValueProvider())
    claims = await host.add_actor(sign_forwarder(signer, "kvclient", KEYVALUE, caps=[KEYVALUE]))
    await host.set_binding(claims.subject, KEYVALUE, values={"URL": redis_url(shared_redis)})
    assert isinstance(provider.store_of(claims.subject), RedisStore)


async def test_the_password_never_appears_in_errors() -> None:
    """Messages show the Redis URL without its password."""
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    assert redact_url(url) == url.replace("s3cret", "***")
    store = RedisStore(url, timeout=1)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.get("k")
    await store.close()
    assert "s3cret" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_a_frozen_redis_does_not_stall_other_actors(
    host: Host, signer: SignerLike, own_redis: ServerProcess
) -> None:
    """An actor running on the event loop's thread calls a Redis that froze: the loop is held
    up at most once, briefly (the gate closes), and an echo actor on the same host keeps
    answering while the Redis actor's calls wait on worker threads."""
    kv = await _client(host, signer, redis_url(own_redis), timeout="2")
    policy = host.actor(kv.actor).inline
    for _ in range(2000):  # bounded: until the Redis actor runs inline
        await kv.call("Add", key="n", value=1)
        if policy.inline_calls:
            break
    assert policy.inline_calls, "the Redis actor was never promoted to run inline"
    echo = await host.add_actor(signer.sign("echo"))
    own_redis.pause()
    try:
        frozen = [asyncio.create_task(kv.error("Add", key="n", value=1)) for _ in range(2)]
        gaps: list[float] = []
        last = time.monotonic()
        while not all(task.done() for task in frozen) and time.monotonic() - last < 10:
            assert await host.call_actor(echo.subject, "Echo", b"still here") == b"still here"
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            await asyncio.sleep(0.01)
        errors = await asyncio.gather(*frozen)
    finally:
        own_redis.resume()
    assert all("did not answer" in e or "unreachable" in e for e in errors), errors
    assert len(gaps) > 20  # echo answered all along the 2.5 s the Redis calls waited
    assert max(gaps) < 1.5  # the loop was held up at most about LOOP_TIMEOUT (0.5 s)
