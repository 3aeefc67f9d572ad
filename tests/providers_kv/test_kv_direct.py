"""Direct calls (``KeyValueProvider.direct``): where each back end runs them, when they are
``loop_safe``, the hot operations' msgpack against the codec's records, SQLite checkpoints,
and the Redis gate."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis

import wascc.providers.keyvalue.sqlite as sqlite_module
from tests.providers_kv.conftest import Unused, redis_url
from tests.support.servers import ServerProcess, free_port
from wascc.host.typing import DirectCalls
from wascc.providers.codec import (
    AddRequest,
    AddResponse,
    CodecError,
    GetRequest,
    GetResponse,
    KeyExistsRequest,
    KeyExistsResponse,
    SetRequest,
    SetResponse,
)
from wascc.providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider, StoreUnavailableError
from wascc.providers.keyvalue.dispatch import OPERATIONS
from wascc.providers.keyvalue.errors import KeyValueError
from wascc.providers.keyvalue.quickgate import REOPEN_AFTER

ACTOR = "M" + "A" * 55


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[KeyValueProvider]:
    """A started provider, stopped after the test."""
    kv = KeyValueProvider(data_dir=tmp_path)
    await kv.start(Unused())
    yield kv
    await kv.stop()


async def _direct(kv: KeyValueProvider, values: dict[str, str]) -> DirectCalls:
    await kv.bind_actor(ACTOR, "default", {**values, "__wascc_name": "kvclient"})
    calls: DirectCalls = kv.direct(ACTOR, "default")  # the host's protocol, checked by mypy
    return calls


def _add(calls: DirectCalls, key: str, value: int = 1) -> int:
    return AddResponse.decode(calls.call("Add", AddRequest(key, value).encode())).value


# the hot operations' msgpack -------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        GetRequest("k"),
        GetRequest("clé \x00 ✓"),
        KeyExistsRequest("k"),
        SetRequest("k", "v"),
        SetRequest("k", "", 2**32 - 1),
        AddRequest("n", -(2**63)),
        AddRequest("n", 2**63 - 1),
    ],
)
def test_hot_decoders_read_what_the_records_write(request_: Any) -> None:
    """The hand-written decoders of Get, Set, Add and KeyExists read a record's bytes into
    the record's fields."""
    operation = type(request_).__name__.removesuffix("Request")
    fields = tuple(getattr(request_, f.attr) for f in request_.wire_fields())
    assert OPERATIONS[operation].decode(request_.encode()) == fields


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("Get", b"\xc1"),
        ("Get", msgpack.packb([1, 2])),
        ("Get", msgpack.packb({"key": 5})),
        ("Get", msgpack.packb({})),
        ("Get", msgpack.packb("key")),
        ("KeyExists", msgpack.packb({"key": None})),
        ("Set", msgpack.packb({"key": "k"})),
        ("Set", msgpack.packb({"key": "k", "value": "v", "expires": True})),
        ("Set", msgpack.packb({"key": "k", "value": "v", "expires": 1.5})),
        ("Add", msgpack.packb({"key": "k", "value": "1"})),
        ("Add", msgpack.packb({"key": "k", "value": True})),
        ("Add", msgpack.packb({"value": 1})),
        ("Add", b"not msgpack"),
    ],
)
def test_hot_decoders_refuse_like_the_records(operation: str, payload: bytes) -> None:
    """A request the record refuses is refused with the record's own error."""
    record = {"Get": GetRequest, "KeyExists": KeyExistsRequest, "Set": SetRequest}.get(
        operation, AddRequest
    )
    with pytest.raises(CodecError) as expected:
        record.decode(payload)
    with pytest.raises(CodecError) as got:
        OPERATIONS[operation].decode(payload)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    ("operation", "payload", "fields"),
    [
        ("Get", msgpack.packb({"key": b"k"}, use_bin_type=True), ("k",)),  # a bin value
        ("Get", msgpack.packb({"key": "k", "extra": 1}), ("k",)),
        ("Get", msgpack.packb({1: "x", "key": "k"}), ("k",)),  # a non-string key elsewhere
        ("Set", msgpack.packb({"key": "k", "value": "v", "expires": None}), ("k", "v", 0)),
        ("Set", msgpack.packb({"key": "k", "value": "v"}), ("k", "v", 0)),
    ],
)
def test_hot_decoders_accept_what_the_records_accept(
    operation: str, payload: bytes, fields: tuple[Any, ...]
) -> None:
    """Shapes the plain reading skips (bin, nil, odd keys) still decode as the record does."""
    assert OPERATIONS[operation].decode(payload) == fields


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])  # msgpack carries up to u64
def test_add_refuses_numbers_outside_64_bits(value: int) -> None:
    """Add's fast reading leaves out-of-range numbers to the same refusal as before."""
    with pytest.raises(KeyValueError, match="outside the 64-bit integer range"):
        OPERATIONS["Add"].decode(msgpack.packb({"key": "k", "value": value}))


@pytest.mark.parametrize(
    ("operation", "args", "result", "record"),
    [
        ("Get", ("k",), None, GetResponse()),
        ("Get", ("k",), "v ✓", GetResponse("v ✓", True)),
        ("KeyExists", ("k",), True, KeyExistsResponse("", True)),
        ("KeyExists", ("k",), False, KeyExistsResponse("", False)),
        ("Set", ("k", "stored", 0), None, SetResponse("stored")),
        ("Add", ("n", 1), 2**63 - 1, AddResponse(2**63 - 1)),
        ("Add", ("n", 1), -(2**63), AddResponse(-(2**63))),
        ("Add", ("n", 1), 0, AddResponse(0)),
    ],
)
def test_hot_encoders_write_the_records_bytes(
    operation: str, args: tuple[Any, ...], result: Any, record: Any
) -> None:
    """The hand-written encoders answer byte for byte what the response record encodes."""
    assert OPERATIONS[operation].encode(args, result) == record.encode()


# where calls run -------------------------------------------------------------------------


@pytest.fixture
def job_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread ids that ran SQLite's Add job, in order."""
    seen: list[int] = []
    original = sqlite_module._add

    def add(key: str, delta: int, conn: sqlite3.Connection) -> int:
        seen.append(threading.get_ident())
        return original(key, delta, conn)

    monkeypatch.setattr(sqlite_module, "_add", add)
    return seen


async def test_sqlite_normal_runs_the_job_on_the_calling_thread(
    provider: KeyValueProvider, job_threads: list[int]
) -> None:
    """With SYNCHRONOUS=normal a direct call's job runs on the thread that made it (the
    event loop's or another), is loop_safe, and is committed when the call returns."""
    calls = await _direct(provider, {"BACKEND": "sqlite", "SYNCHRONOUS": "normal"})
    assert calls.loop_safe
    assert _add(calls, "n") == 1  # on the event loop's thread
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(_add(calls, "n")))
    thread.start()
    thread.join(10)
    assert result == [2]
    assert job_threads == [threading.get_ident(), thread.ident]
    path = provider.store_of(ACTOR).path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as other:  # committed: another connection sees it
        assert other.execute("SELECT value FROM kv_keys WHERE key = 'n'").fetchone() == ("2",)
    other.close()


async def test_sqlite_full_waits_for_the_database_thread_and_is_never_loop_safe(
    provider: KeyValueProvider, job_threads: list[int]
) -> None:
    """With SYNCHRONOUS=full (each commit waits for an fsync) a direct call blocks its thread
    on the database thread's group commit, and is never loop_safe."""
    calls = await _direct(provider, {"BACKEND": "sqlite"})
    assert not calls.loop_safe
    assert await asyncio.to_thread(_add, calls, "n", 5) == 5
    assert len(job_threads) == 1
    assert job_threads[0] != threading.get_ident()
    assert job_threads[0] in {t.ident for t in threading.enumerate() if "sqlite" in t.name}


async def test_memory_direct_calls_answer_on_any_thread() -> None:
    """The memory provider's direct calls and handle_sync share one store and answer on
    the loop's thread and on others; they are always loop_safe."""
    kv = MemoryKeyValueProvider()
    calls = await _direct(kv, {})
    assert calls.loop_safe
    assert _add(calls, "n") == 1
    assert await asyncio.to_thread(_add, calls, "n") == 2
    reply = kv.handle_sync(ACTOR, "default", "Get", GetRequest("n").encode())
    assert GetResponse.decode(reply) == GetResponse("2", True)
    assert kv.direct(ACTOR, "default") is calls
    await kv.stop()


async def test_direct_errors_read_like_handles(provider: KeyValueProvider) -> None:
    """A refused direct call carries the same words as the same call through handle."""
    calls = await _direct(provider, {"BACKEND": "memory"})
    calls.call("Set", SetRequest("k", "text").encode())
    payload = AddRequest("k", 1).encode()
    with pytest.raises(KeyValueError) as via_handle:
        await provider.handle(ACTOR, "default", "Add", payload)
    with pytest.raises(KeyValueError) as direct:
        calls.call("Add", payload)
    assert str(direct.value) == str(via_handle.value)
    assert "Add for actor kvclient" in str(direct.value)
    with pytest.raises(KeyValueError) as unknown:
        calls.call("Nope", b"")
    assert "Nope for actor kvclient" in str(unknown.value)
    assert "there is no operation 'Nope'" in str(unknown.value)


# SQLite checkpoints ----------------------------------------------------------------------


async def test_checkpoints_keep_the_wal_bounded(provider: KeyValueProvider) -> None:
    """Thousands of commits on the calling thread leave a WAL far smaller than they wrote,
    and the database file itself holds them (checkpointed, not only in the WAL)."""
    calls = await _direct(provider, {"BACKEND": "sqlite", "SYNCHRONOUS": "normal"})
    path: Path = provider.store_of(ACTOR).path  # type: ignore[attr-defined]
    wal = path.with_name(path.name + "-wal")
    commits = 6000

    def write() -> int:
        largest = 0
        for i in range(commits):
            _add(calls, f"k{i}")
            if i % 100 == 0:
                largest = max(largest, wal.stat().st_size)
        return largest

    largest = await asyncio.wait_for(asyncio.to_thread(write), 60)
    # Without checkpoints each commit adds at least one 4 KiB page: about 24 MiB here.
    assert largest < 12 * 1024 * 1024, largest
    copy = path.with_name("copy.sqlite3")
    deadline = time.monotonic() + 10
    while True:  # the database thread checkpoints within a second of the last commit
        shutil.copyfile(path, copy)  # the file alone, without its WAL
        conn = sqlite3.connect(copy)
        try:
            count = conn.execute("SELECT count(*) FROM kv_keys").fetchone()[0]
        except sqlite3.DatabaseError:
            # Copied while a checkpoint was writing pages: a torn copy, not a bad database.
            count = -1
        finally:
            conn.close()
        if count == commits or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert count == commits


# Redis -----------------------------------------------------------------------------------


async def _redis_calls(
    kv: KeyValueProvider, server: ServerProcess, timeout: str = "5"
) -> DirectCalls:
    values = {"BACKEND": "redis", "URL": redis_url(server), "TIMEOUT": timeout}
    return await _direct(kv, values)


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def test_a_slow_redis_closes_the_gate_and_quick_calls_reopen_it(
    provider: KeyValueProvider, own_redis: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """A direct call that waited for a busy Redis (DEBUG SLEEP from another client) closes
    loop_safe; REOPEN_AFTER quick calls in a row open it again; each change is logged once."""
    calls = await _redis_calls(provider, own_redis)
    assert _add(calls, "n") == 1
    assert calls.loop_safe

    def slow_call() -> None:
        with redis.Redis(port=own_redis.port, socket_timeout=5) as other:
            sleeper = threading.Thread(target=other.execute_command, args=("DEBUG", "SLEEP", 0.1))
            sleeper.start()
            time.sleep(0.02)  # Redis is asleep now
            _add(calls, "n")
            sleeper.join(5)

    await asyncio.to_thread(slow_call)
    assert not calls.loop_safe
    for _ in range(REOPEN_AFTER * 4):  # quick calls, on a worker thread as the host would
        if calls.loop_safe:
            break
        await asyncio.to_thread(_add, calls, "n")
    assert calls.loop_safe
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([w for w in warnings if "move off the event loop" in w]) == 1
    assert len([w for w in warnings if "calls in a row" in w]) == 1
    assert "binding 'default'" in warnings[0]


async def test_opening_connections_does_not_close_the_gate(
    provider: KeyValueProvider, own_redis: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """The first calls on each thread open pooled connections (a few ms each): the gate
    judges Redis by its answers, not by connects, so a healthy Redis keeps it open, silently,
    whichever threads call first."""
    calls = await _redis_calls(provider, own_redis)
    with redis.Redis(port=own_redis.port) as other:
        other.execute_command("CONFIG", "SET", "maxclients", "10000")
    opened: list[Any] = []

    def first_calls() -> None:
        for key in ("a", "b", "c", "d"):
            _add(calls, key)
        opened.append(True)

    threads = [threading.Thread(target=first_calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    _add(calls, "loop")  # the loop thread's own first connection
    assert len(opened) == 8
    assert calls.loop_safe
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


async def test_a_removed_redis_binding_does_not_connect_again(
    provider: KeyValueProvider, own_redis: ServerProcess
) -> None:
    """Once the binding is removed, its direct calls fail on every thread that had a
    connection, instead of quietly connecting again."""
    calls = await _redis_calls(provider, own_redis)
    assert _add(calls, "r") == 1
    assert await asyncio.to_thread(_add, calls, "r") == 2
    await provider.remove_actor(ACTOR, "default")
    with pytest.raises(KeyValueError, match="is closed"):
        _add(calls, "r")
    with pytest.raises(KeyValueError, match="is closed"):
        await asyncio.to_thread(_add, calls, "r")


async def test_a_stopped_redis_fails_a_direct_call_fast(
    provider: KeyValueProvider, own_redis: ServerProcess
) -> None:
    """With Redis stopped (connection refused) a direct call fails at once with the usual
    wording, naming the binding, and the gate closes; once Redis is back calls succeed."""
    calls = await _redis_calls(provider, own_redis)
    assert _add(calls, "n") == 1
    await asyncio.to_thread(own_redis.stop)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        _add(calls, "n")  # on the loop's thread
    assert time.monotonic() - started < 0.5
    assert "unreachable" in str(caught.value)
    assert "binding 'default'" in str(caught.value)
    assert "Add for actor kvclient" in str(caught.value)
    assert not calls.loop_safe
    await asyncio.to_thread(own_redis.start)
    assert await asyncio.to_thread(_add, calls, "n") == 1  # a fresh database


async def test_a_frozen_redis_holds_the_loop_up_at_most_briefly(
    provider: KeyValueProvider, own_redis: ServerProcess
) -> None:
    """On the event loop's thread a call to a frozen Redis (SIGSTOP) gives up after at most
    half a second, not the binding's 5 s TIMEOUT; the gate closes."""
    calls = await _redis_calls(provider, own_redis, timeout="5")
    assert _add(calls, "n") == 1
    own_redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="unreachable"):
            _add(calls, "n")
        assert time.monotonic() - started < 1.5
        assert not calls.loop_safe
    finally:
        own_redis.resume()
    assert await asyncio.to_thread(_add, calls, "n") >= 2


async def test_refused_redis_on_loopback_is_quick_on_worker_threads_too(
    provider: KeyValueProvider,
) -> None:
    """No Redis at the port at all: a worker thread's direct call fails fast too, even with a
    long TIMEOUT."""
    values = {"BACKEND": "redis", "URL": f"redis://127.0.0.1:{free_port()}/0", "TIMEOUT": "5"}
    calls = await _direct(provider, values)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        await asyncio.to_thread(_add, calls, "n")
    assert time.monotonic() - started < 1
