"""One SQLite connection on one dedicated thread, with group commit.

SQLite calls block, so they never run on the event loop. Callers ``await run(job)``, or, on a
thread of their own (an actor's worker thread), ``run_blocking(job)``, which leaves the event
loop out of it. The thread takes every job that is waiting (up to ``MAX_BATCH``), runs them
in one transaction, each inside its own savepoint (a job that fails is rolled back alone),
commits once, and only then answers every caller. A reply therefore always means
"committed": with ``synchronous`` ``FULL`` that commit is on disk, with ``NORMAL`` (in WAL
mode) it survives a crash of the process (``kill -9``) but not of the machine. Under load one
``fsync`` serves a whole batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from providers.keyvalue.errors import KeyValueError, StoreUnavailableError

__all__ = ["Synchronous", "Worker"]

logger = logging.getLogger("wascc.provider.keyvalue")

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
Synchronous = Literal["full", "normal"]

MAX_BATCH = 256


# Who waits for a job: a coroutine on the loop, a blocked thread, or nobody (housekeeping).
_Waiter = asyncio.Future[Any] | concurrent.futures.Future[Any] | None


@dataclass(slots=True)
class _Pending:
    job: Job
    future: _Waiter


_Outcome = tuple[_Waiter, Any, BaseException | None]


class Worker:
    """Owns the connection to ``path``. ``setup(conn)`` creates the schema once, at start;
    ``periodic(conn)`` runs inside a batch at most every ``period`` seconds (housekeeping)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous = "full",
        setup: Job | None = None,
        periodic: Job | None = None,
        period: float = 60.0,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self._setup = setup
        self._periodic = periodic
        self._period = period
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Open the database on the worker thread; raises ``StoreUnavailableError`` if it
        cannot be opened or set up."""
        loop = self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name=f"wascc-kv-sqlite:{self.path.name}", daemon=True
        )
        self._thread.start()
        await ready

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(conn)`` on the worker thread in a transaction; return once committed."""
        if self._loop is None or self._closing:
            raise StoreUnavailableError(f"the SQLite store {self.path} is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Pending(job, future))
        return await future

    def run_blocking(self, job: Callable[[sqlite3.Connection], T], timeout: float) -> T:
        """``run`` for a caller on a thread of its own, never the event loop's: blocks that
        thread until the batch holding the job is committed (``TimeoutError`` after
        ``timeout`` seconds; the job may still run). Two thread switches instead of four."""
        if self._loop is None or self._closing:
            raise StoreUnavailableError(f"the SQLite store {self.path} is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Pending(job, future))
        return future.result(timeout)

    async def close(self) -> None:
        """Finish the jobs already queued, then close the connection and end the thread."""
        if self._closing or self._stopped is None:
            return
        self._closing = True
        self._queue.put(None)
        await asyncio.shield(self._stopped)

    # the worker thread -----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
            conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            if self._setup is not None:
                conn.execute("BEGIN IMMEDIATE")
                self._setup(conn)
                conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def _main(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._open()
        except Exception as exc:
            error = StoreUnavailableError(f"cannot open the SQLite store {self.path}: {exc}")
            self._deliver([(ready, None, error), (self._stopped, None, None)])
            return
        self._deliver([(ready, None, None)])
        last_periodic = time.monotonic()
        try:
            while True:
                first = self._queue.get()
                batch = [first]
                while first is not None and len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                    if batch[-1] is None:
                        break
                jobs = [p for p in batch if p is not None]
                if self._periodic is not None and time.monotonic() - last_periodic > self._period:
                    last_periodic = time.monotonic()
                    jobs.insert(0, _Pending(self._periodic, None))
                if jobs:
                    self._deliver(self._run_batch(conn, jobs))
                if batch[-1] is None:
                    break
        finally:
            conn.close()
            leftovers: list[_Outcome] = []
            while True:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is not None:
                    closed = StoreUnavailableError(f"the SQLite store {self.path} is closed")
                    leftovers.append((pending.future, None, closed))
            leftovers.append((self._stopped, None, None))
            self._deliver(leftovers)

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Pending]) -> list[_Outcome]:
        """``_execute``, but a failure of SQLite itself (a savepoint that cannot be taken or
        rolled back) fails the whole batch, rolled back, instead of ending the thread."""
        try:
            return self._execute(conn, jobs)
        except Exception as exc:
            logger.exception("a batch of key-value jobs failed on %s", self.path)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StoreUnavailableError(f"SQLite failed: {exc}")
            return [(p.future, None, error) for p in jobs]

    def _execute(self, conn: sqlite3.Connection, jobs: list[_Pending]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            error = StoreUnavailableError(f"SQLite could not begin a transaction: {exc}")
            return [(p.future, None, error) for p in jobs]
        for pending in jobs:
            conn.execute("SAVEPOINT job")
            try:
                value = pending.job(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                if isinstance(exc, sqlite3.Error):
                    exc = StoreUnavailableError(f"SQLite failed: {exc}")
                elif not isinstance(exc, KeyValueError):
                    logger.exception("a key-value job failed on %s", self.path)
                outcomes.append((pending.future, None, exc))
                continue
            conn.execute("RELEASE job")
            outcomes.append((pending.future, value, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.warning("rollback after a failed commit failed too on %s", self.path)
            error = StoreUnavailableError(f"SQLite could not commit: {exc}")
            return [(future, None, err or error) for future, _, err in outcomes]
        return outcomes

    def _deliver(self, outcomes: list[_Outcome]) -> None:
        on_loop: list[_Outcome] = []
        for outcome in outcomes:
            waiter = outcome[0]
            if isinstance(waiter, concurrent.futures.Future):
                _settle([outcome])  # a blocked thread: woken from here, no loop involved
            elif waiter is not None:
                on_loop.append(outcome)
        if not on_loop or self._loop is None:
            return
        # A closed loop raises RuntimeError: nobody waits for these answers any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, on_loop)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, value, error in outcomes:
        if future is None or future.done():  # the caller gave up (timeout, cancellation)
            continue
        try:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        except concurrent.futures.InvalidStateError:  # a thread's wait ended meanwhile
            continue
