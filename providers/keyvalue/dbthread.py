"""One SQLite connection, served by one dedicated thread with group commit.

Callers ``await run(job)``, or, on a thread of their own (an actor's worker thread),
``run_blocking(job)``, which leaves the event loop out of it. The thread takes every job that
is waiting (up to ``MAX_BATCH``), runs them in one transaction, each inside its own savepoint
(a job that fails is rolled back alone), commits once, and only then answers every caller. A
reply therefore always means "committed": with ``synchronous`` ``FULL`` that commit is on
disk, with ``NORMAL`` (in WAL mode) it survives a crash of the process (``kill -9``) but not
of the machine. Under load one ``fsync`` serves a whole batch.

With ``NORMAL`` a commit writes to the WAL without waiting for the disk, so a job is as quick
as the caller's own thread could run it: ``run_here(job)`` runs it right there, even on the
event loop's thread, in a transaction of its own, under the lock the database thread holds
for its batches (one connection, one writer at a time). The only ``fsync`` left is a
checkpoint's (copying the WAL into the database file), and SQLite would run one inside
whichever commit crossed ``wal_autocheckpoint``. So that connection never checkpoints; the
database thread does, on a second connection of its own, ``PASSIVE`` (it waits for nobody and
nobody waits for it) every ``CHECKPOINT_PERIOD`` seconds or ``CHECKPOINT_AFTER`` commits. A
WAL only starts over when a checkpoint caught up with every commit, which steady writes may
never allow; past ``WAL_LIMIT`` frames the thread checkpoints once under the lock, so the
WAL stays bounded, and meanwhile ``stalled`` is true (callers on the event loop's thread go
elsewhere while it lasts).
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

from wascc.providers.keyvalue.errors import KeyValueError, StoreUnavailableError

__all__ = ["Synchronous", "Worker"]

logger = logging.getLogger("wascc.provider.keyvalue")

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
Synchronous = Literal["full", "normal"]

MAX_BATCH = 256
CHECKPOINT_PERIOD = 1.0
"""Seconds between checkpoints (``NORMAL`` only) while anything was written."""
CHECKPOINT_AFTER = 500
"""Commits after which a checkpoint is due at once (``NORMAL`` only)."""
WAL_LIMIT = 2000
"""WAL frames (pages, 4 KiB each by default) a checkpoint under the lock brings back to 0."""


# Who waits for a job: a coroutine on the loop, a blocked thread, or nobody (housekeeping).
_Waiter = asyncio.Future[Any] | concurrent.futures.Future[Any] | None


@dataclass(slots=True)
class _Pending:
    job: Job
    future: _Waiter


_Outcome = tuple[_Waiter, Any, BaseException | None]

# Queued to wake the thread for a checkpoint: no job, nobody waits.
_WAKE = _Pending(lambda conn: None, None)


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
        # One writer at a time on the shared connection: the thread's batches, ``run_here``.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._checkpoints = synchronous == "normal"
        self._commits = 0  # since the last checkpoint began: a hint, races only shift one
        self.stalled = False
        """Whether the lock is held for a checkpoint (an ``fsync``) right now."""

    @property
    def open(self) -> bool:
        """Whether the store takes jobs (started, not closing)."""
        return self._conn is not None and not self._closing

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

    def run_here(self, job: Callable[[sqlite3.Connection], T], timeout: float) -> T:
        """Run ``job(conn)`` on this thread in a transaction of its own and return once it is
        committed; ``NORMAL`` only, where a commit never waits for the disk. Waits at most
        ``timeout`` seconds for the database thread's batch in progress (``TimeoutError``)."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError
        try:
            conn = self._conn
            if conn is None or self._closing:
                raise StoreUnavailableError(f"the SQLite store {self.path} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"SQLite could not begin a transaction: {exc}") from exc
            try:
                value = job(conn)
            except BaseException as exc:
                _rollback(conn, self.path)
                error = _job_error(exc, self.path)
                if error is exc:
                    raise
                raise error from exc
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn, self.path)
                raise StoreUnavailableError(f"SQLite could not commit: {exc}") from exc
            self._commits += 1
            if self._commits == CHECKPOINT_AFTER:
                self._queue.put(_WAKE)
            return value
        finally:
            self._lock.release()

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
        # Shared with ``run_here``'s callers, always under ``_lock``.
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=5.0, check_same_thread=False
        )
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
            conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            if self._checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint=0")  # the thread checkpoints instead
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
        try:
            checkpointer = self._open_checkpointer()
        except Exception as exc:
            conn.close()
            error = StoreUnavailableError(f"cannot open the SQLite store {self.path}: {exc}")
            self._deliver([(ready, None, error), (self._stopped, None, None)])
            return
        self._conn = conn
        self._deliver([(ready, None, None)])
        last_periodic = last_checkpoint = time.monotonic()
        try:
            while True:
                batch = self._next_batch()
                jobs = [p for p in batch if p is not None and p is not _WAKE]
                now = time.monotonic()
                if self._periodic is not None and now - last_periodic > self._period:
                    last_periodic = now
                    jobs.insert(0, _Pending(self._periodic, None))
                if jobs:
                    with self._lock:
                        outcomes = self._run_batch(conn, jobs)
                        self._commits += 1
                    self._deliver(outcomes)
                if (
                    checkpointer is not None
                    and self._commits
                    and (
                        self._commits >= CHECKPOINT_AFTER
                        or now - last_checkpoint >= CHECKPOINT_PERIOD
                    )
                ):
                    last_checkpoint = now
                    self._checkpoint(checkpointer)
                if batch[-1] is None:
                    break
        finally:
            with self._lock:
                self._conn = None
                conn.close()
            if checkpointer is not None:
                checkpointer.close()
            leftovers: list[_Outcome] = []
            while True:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is not None and pending is not _WAKE:
                    closed = StoreUnavailableError(f"the SQLite store {self.path} is closed")
                    leftovers.append((pending.future, None, closed))
            leftovers.append((self._stopped, None, None))
            self._deliver(leftovers)

    def _next_batch(self) -> list[_Pending | None]:
        """Every job waiting (at least one, ``MAX_BATCH`` at most; ``None`` last means stop),
        or ``[_WAKE]`` after ``CHECKPOINT_PERIOD`` seconds without one: housekeeping is due
        even when every call runs on its caller's thread."""
        try:
            first = self._queue.get(timeout=CHECKPOINT_PERIOD)
        except queue.Empty:
            return [_WAKE]
        batch = [first]
        while first is not None and len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
            if batch[-1] is None:
                break
        return batch

    def _open_checkpointer(self) -> sqlite3.Connection | None:
        """The thread's own connection for checkpoints (``NORMAL`` only)."""
        if not self._checkpoints:
            return None
        return sqlite3.connect(self.path, isolation_level=None, timeout=5.0)

    def _checkpoint(self, checkpointer: sqlite3.Connection) -> None:
        """Copy the WAL into the database file without holding anyone up; under the lock
        once if the WAL grew past ``WAL_LIMIT`` frames all the same (see the module)."""
        self._commits = 0
        try:
            frames = _passive_checkpoint(checkpointer)
            if frames <= WAL_LIMIT:
                return
            self.stalled = True
            try:
                with self._lock:
                    _passive_checkpoint(checkpointer)
            finally:
                self.stalled = False
        except sqlite3.Error as exc:  # the next one may succeed; the WAL keeps the data
            logger.warning("checkpoint of %s failed: %s", self.path, exc)

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
                outcomes.append((pending.future, None, _job_error(exc, self.path)))
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


def _job_error(exc: BaseException, path: Path) -> BaseException:
    """What a job's caller gets for the job's exception: SQLite's own errors as
    ``StoreUnavailableError``; anything but a ``KeyValueError`` is logged (a bug)."""
    if isinstance(exc, sqlite3.Error):
        return StoreUnavailableError(f"SQLite failed: {exc}")
    if isinstance(exc, Exception) and not isinstance(exc, KeyValueError):
        logger.error("a key-value job failed on %s", path, exc_info=exc)
    return exc


def _rollback(conn: sqlite3.Connection, path: Path) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        logger.warning("rollback failed on %s", path)


def _passive_checkpoint(conn: sqlite3.Connection) -> int:
    """Run a ``PASSIVE`` checkpoint; the frames in the WAL before it (its second number)."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[1])


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
