"""The SQLite back end: durability across restarts and SIGKILL, files, and housekeeping."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.providers_kv.kv_support import KEYVALUE
from wascc.host import Host
from wascc.providers.codec import AddRequest, AddResponse, GetRequest, HttpRequest, HttpResponse
from wascc.providers.keyvalue import KeyValueProvider, SqliteStore, StoreUnavailableError
from wascc.providers.keyvalue.dbthread import Worker

CHILD = Path(__file__).with_name("kv_durability_child.py")
ACTOR = "M" + "A" * 55


async def _read_acks(
    stream: asyncio.StreamReader, wanted: int, acked: dict[int, int], timeout: float
) -> None:
    """Read ``<worker> <counter>`` lines until ``wanted`` acknowledgements arrived."""
    count = 0
    async with asyncio.timeout(timeout):
        while count < wanted:
            line = (await stream.readline()).decode().strip()
            if not line:
                raise AssertionError("the child exited before it acknowledged enough writes")
            if line == "ready":
                continue
            index, counter = map(int, line.split())
            acked[index] = max(acked.get(index, 0), counter)
            count += 1


@pytest.mark.parametrize(
    ("synchronous", "mode"), [("full", "host"), ("normal", "host"), ("normal", "direct")]
)
async def test_no_acknowledged_write_is_lost_when_the_host_is_killed(
    tmp_path: Path, signer: Signer, synchronous: str, mode: str
) -> None:
    """SIGKILL in the middle of acknowledged kvcounter writes loses none of them; the same
    for writes through direct calls on threads of their own (each committed on its thread)."""
    module = tmp_path / "kvcounter_s.wasm"
    module.write_bytes(signer.sign("kvcounter", caps=["wascc:http_server", KEYVALUE]))
    data = tmp_path / "data"
    workers = 4
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(data),
        str(module) if mode == "host" else signer.key("kvcounter"),
        synchronous,
        str(workers),
        mode,
        stdout=asyncio.subprocess.PIPE,
    )
    acked: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        await _read_acks(proc.stdout, 400, acked, timeout=45)
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-stream: writes are still in flight
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # What it acknowledged after the 400th and before it died is still in the pipe.
    assert proc.stdout is not None
    for line in (await proc.stdout.read()).decode().splitlines():
        parts = line.split()
        if len(parts) == 2:  # not "ready"
            index, counter = int(parts[0]), int(parts[1])
            acked[index] = max(acked.get(index, 0), counter)

    provider = KeyValueProvider(data_dir=data)
    await provider.bind_actor(
        signer.key("kvcounter"), "default", {"BACKEND": "sqlite", "SYNCHRONOUS": synchronous}
    )
    try:
        store = provider.store_of(signer.key("kvcounter"))
        for index, counter in acked.items():
            stored = int(await store.get(f":w{index}") or 0)
            # At most one write per worker was in flight (committed, not yet acknowledged).
            assert counter <= stored <= counter + 1, (index, counter, stored)
    finally:
        await provider.stop()


async def test_data_survives_a_provider_restart(tmp_path: Path) -> None:
    """Values, lists, sets and expiries written before a stop are there after a new start."""
    for round_ in range(2):
        provider = KeyValueProvider(data_dir=tmp_path)
        await provider.bind_actor(ACTOR, "default", {"BACKEND": "sqlite"})
        store = provider.store_of(ACTOR)
        if round_ == 0:
            await store.set("s", "value", 0)
            await store.set("ttl", "soon gone", 1)
            await store.list_push("l", "a")
            await store.list_push("l", "b")
            await store.set_add("t", "m")
        else:
            assert await store.get("s") == "value"
            assert await store.list_range("l", 0, -1) == ["a", "b"]
            assert await store.set_members("t") == ["m"]
            assert await store.get("ttl") is None  # expired while the host was down
        await provider.remove_actor(ACTOR, "default")
        await provider.stop()
        if round_ == 0:
            await asyncio.sleep(1.2)


async def test_the_default_file_is_under_the_data_dir_in_wal_mode(tmp_path: Path) -> None:
    """Without PATH the file is data_dir/keyvalue/<binding>/<actor>.sqlite3, in WAL mode."""
    provider = KeyValueProvider(data_dir=tmp_path)
    await provider.bind_actor(ACTOR, "cache", {})  # BACKEND defaults to sqlite
    await provider.store_of(ACTOR, "cache").set("k", "v", 0)
    path = tmp_path / "keyvalue" / "cache" / f"{ACTOR}.sqlite3"
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM kv_keys WHERE key = 'k'").fetchone() == ("v",)
    conn.close()
    await provider.stop()


async def test_bindings_with_the_same_path_share_one_store(tmp_path: Path) -> None:
    """Two actors bound with the same PATH see the same keys; the store closes with the last."""
    provider = KeyValueProvider(data_dir=tmp_path)
    other = "M" + "B" * 55
    await provider.bind_actor(ACTOR, "default", {"PATH": "shared.db"})
    await provider.bind_actor(other, "default", {"PATH": str(tmp_path / "shared.db")})
    assert provider.store_of(ACTOR) is provider.store_of(other)
    await provider.store_of(ACTOR).add("n", 3)
    assert await provider.store_of(other).add("n", 1) == 4
    await provider.remove_actor(ACTOR, "default")
    assert await provider.store_of(other).get("n") == "4"
    await provider.remove_actor(other, "default")
    await provider.stop()


async def test_an_unopenable_file_fails_the_bind_with_the_path(tmp_path: Path) -> None:
    """A PATH that cannot be a database refuses the binding with a message naming it."""
    (tmp_path / "dir.db").mkdir()
    provider = KeyValueProvider(data_dir=tmp_path)
    with pytest.raises(StoreUnavailableError, match=r"dir\.db"):
        await provider.bind_actor(ACTOR, "default", {"PATH": "dir.db"})
    await provider.stop()


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    """After close, calls fail with StoreUnavailableError instead of hanging."""
    store = SqliteStore(tmp_path / "kv.db")
    await store.open()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.get("k")


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer schema version is not touched."""
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    store = SqliteStore(path)
    with pytest.raises(StoreUnavailableError, match="schema version 99"):
        await store.open()


async def test_a_failing_job_is_rolled_back_alone(tmp_path: Path) -> None:
    """A job that fails is rolled back and reported to its caller; its batch-mates commit."""
    worker = Worker(tmp_path / "w.db", setup=lambda c: c.execute("CREATE TABLE t (v)"))
    await worker.start()

    def insert(value: int) -> Callable[[sqlite3.Connection], None]:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            if value == 2:
                raise RuntimeError("job 2 breaks")
            if value == 3:
                conn.execute("INSERT INTO missing_table VALUES (1)")

        return job

    results = await asyncio.gather(
        *(worker.run(insert(v)) for v in range(5)), return_exceptions=True
    )
    assert isinstance(results[2], RuntimeError)
    assert isinstance(results[3], StoreUnavailableError)
    assert "no such table" in str(results[3])
    rows = await worker.run(lambda c: c.execute("SELECT v FROM t ORDER BY v").fetchall())
    assert rows == [(0,), (1,), (4,)]
    await worker.close()


class _CountingProvider(KeyValueProvider):
    """Counts the calls that went through the event loop (``handle``)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir=data_dir)
        self.on_loop = 0

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        self.on_loop += 1
        return await super().handle(actor, binding, operation, payload)


@pytest.mark.parametrize(
    "values",
    [{"BACKEND": "sqlite"}, {"BACKEND": "sqlite", "SYNCHRONOUS": "normal"}, {"BACKEND": "memory"}],
)
async def test_actor_calls_reach_the_store_without_the_event_loop(
    tmp_path: Path, signer: Signer, values: dict[str, str]
) -> None:
    """kvcounter's Add goes through the binding's direct calls, never through handle on the
    event loop, and the counts are right."""
    provider = _CountingProvider(tmp_path / "data")
    async with Host(cache_dir=tmp_path / "cache") as host:
        await host.add_provider(provider)
        claims = await host.add_actor(signer.sign("kvcounter", caps=[KEYVALUE]))
        await host.set_binding(claims.subject, KEYVALUE, values=values)
        request = HttpRequest(method="GET", path="/n").encode()
        counts = []
        for _ in range(5):
            reply = HttpResponse.decode(
                await host.call_actor(claims.subject, "HandleRequest", request)
            )
            counts.append(json.loads(reply.body)["counter"])
    assert counts == [1, 2, 3, 4, 5]
    assert provider.on_loop == 0


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_direct_calls_fail_at_once_on_a_closed_store(
    tmp_path: Path, synchronous: str
) -> None:
    """A direct call to a closed SQLite store is an error naming it closed, with no wait."""
    provider = KeyValueProvider(data_dir=tmp_path)
    await provider.bind_actor(ACTOR, "default", {"SYNCHRONOUS": synchronous})
    direct = provider.direct(ACTOR, "default")
    assert AddResponse.decode(direct.call("Add", AddRequest("k", 2).encode())).value == 2
    await provider.store_of(ACTOR).close()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await asyncio.to_thread(direct.call, "Get", GetRequest("k").encode())
    assert time.monotonic() - started < 1
    assert not direct.loop_safe
    await provider.stop()


async def test_a_blocking_call_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A worker thread waits at most the timeout for a busy database thread."""
    worker = Worker(tmp_path / "kv.db")
    await worker.start()
    try:
        started = threading.Event()

        def slow(conn: sqlite3.Connection) -> None:
            started.set()
            time.sleep(0.5)

        busy = asyncio.ensure_future(worker.run(slow))
        assert await asyncio.to_thread(started.wait, 5.0)  # the database thread is busy now
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(worker.run_blocking, lambda conn: 1, 0.05)
        await busy
        assert await asyncio.to_thread(worker.run_blocking, lambda conn: 7, 5.0) == 7
    finally:
        await worker.close()
