"""The wasmtime engine the host runs every actor on: configuration, epoch ticker, module cache.

One ``Engine`` per host. It owns up to two wasmtime engines, made on first use: a plain one
and one that meters fuel (``consume_fuel`` makes every call slower, so only actors whose
``Limits`` ask for fuel pay for it). A daemon thread increments both engines' epoch every tick;
each call sets its store's epoch deadline, which is how a call's wall-clock ``deadline`` is
enforced. Without ``start()`` the epoch never moves and deadlines are not enforced.

Compiled modules are cached in memory and, with ``cache_dir``, on disk. Deserializing is
loading native code, so a disk artifact is loaded only if this host wrote it: each artifact
``<key>.cwasm`` has a record ``<key>.sig``, signed (HMAC) with this cache's own secret, that
holds an HMAC of the artifact's content and the identity of the file written (device, inode,
size, mtime, ctime). A file whose identity still matches is mapped without rereading it; any
other file is read and checked against the content HMAC; a file this host did not write
(tampered, foreign, truncated, renamed, symlinked) is ignored and the module compiled again.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.metadata
import json
import logging
import math
import os
import platform
import secrets
import stat
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from wascc.host.errors import ModuleLoadError

__all__ = ["ENGINE_SETTINGS", "Engine", "EngineStats", "EpochClock", "Limits"]

logger = logging.getLogger("wascc.host.engine")

# Linear-memory layout. wasmtime's defaults reserve 4 GiB of address space per linear memory
# plus 32 MiB guard regions on each side, so that every bounds check can be left to the MMU.
# That is ~4.1 GiB of virtual memory per instance: 10,000 actors would take 41 TiB of the
# 128 TiB a process has, and any `ulimit -v` or container cap would stop far earlier.
# Instead:
# - reserve 64 MiB up front: most actors never outgrow it, so they never move. A memory that
#   does grow past its reservation is moved (copied) to a bigger one, once per
#   `memory_reservation_for_growth` of growth; the store limit (`Limits.memory_bytes`) is what
#   really bounds a memory, not this reservation.
# - 2 MiB guards: with a reservation below 4 GiB, Cranelift emits explicit bounds checks; a
#   guard lets it fold a load's static offset (compilers emit small offsets) into one check.
# - 32 MiB extra reservation when a memory moves, so a growing heap does not move every page.
# Measured by `make bench` (bench/density_bench.py): about 68 MiB of address space (reserved,
# not committed: ~26 KiB of RSS) and 4 mappings per small actor, so 10,000 actors use ~0.7 TiB
# of address space and 40,000 of Linux's default 65,530 `vm.max_map_count` mappings: that
# default, not memory, caps one host at about 16,000 actors (raise vm.max_map_count for more).
# These settings change the generated code, so they are part of the compiled-module cache key.
ENGINE_SETTINGS: dict[str, int | bool] = {
    "epoch_interruption": True,
    "memory_reservation": 64 * 2**20,
    "memory_guard_size": 2 * 2**20,
    "memory_reservation_for_growth": 32 * 2**20,
}

_TICK_SECONDS = 0.005
_SECRET_NAME = "cache-secret"
_SECRET_SIZE = 32
_WASM_MAGIC = b"\x00asm"
# On disk, <key>.cwasm holds exactly what wasmtime serialized (so that wasmtime can map it) and
# <key>.sig its record: magic, content MAC, identity of the file written, record MAC.
_ARTIFACT_SUFFIX = ".cwasm"
_RECORD_SUFFIX = ".sig"
_RECORD_MAGIC = b"WASCCSIG\x02"
_CONTENT_CONTEXT = b"wascc-py compiled module v2\x00"
_RECORD_CONTEXT = b"wascc-py cache record v2\x00"
_MAC_SIZE = hashlib.sha256().digest_size
_RECORD_MAX = 512
# /proc/self/fd/N names the very file open as descriptor N, even once its path names another.
_PROC_FD = "/proc/self/fd"


@dataclass(frozen=True)
class Limits:
    """Per-instance resource limits of an actor.

    ``memory_bytes`` caps linear memory (a ``memory.grow`` past it fails; instantiating a
    module whose minimum memory is larger fails). ``deadline`` is the wall-clock budget of one
    call in seconds, enforced by epoch interruption. ``fuel``, if set, is the instruction
    budget of one call; it needs the module compiled with ``fuel=True``.
    """

    memory_bytes: int = 256 * 2**20
    deadline: float = 10.0
    fuel: int | None = None

    def __post_init__(self) -> None:
        if self.memory_bytes < 65536:
            raise ValueError(f"memory_bytes must be at least one wasm page (65536), not {self}")
        if not self.deadline > 0 or math.isinf(self.deadline):
            raise ValueError(f"deadline must be a positive number of seconds, not {self}")
        if self.fuel is not None and self.fuel <= 0:
            raise ValueError(f"fuel must be positive (or None for no fuel metering), not {self}")


@dataclass
class EngineStats:
    """Counters of the module cache; a test or metric can tell a compile from a cache hit."""

    compiled: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    disk_rejected: int = 0
    disk_writes: int = 0


@functools.cache
def _wasmtime_version() -> str:
    # Read once: the loaded library does not change if the package is upgraded on disk.
    return importlib.metadata.version("wasmtime")


def _settings_digest(fuel: bool) -> str:
    """A digest of everything that decides whether a serialized module fits an engine."""
    described = {
        "settings": ENGINE_SETTINGS,
        "consume_fuel": fuel,
        "wasmtime": _wasmtime_version(),
        "machine": platform.machine(),
        "system": platform.system(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _identity(info: os.stat_result) -> bytes:
    """What tells one version of a file from any other: which file it is, and its change time.

    Every change to a file's content (write, truncate, a write through a mapping) or metadata
    (chmod, chown, link, unlink, rename) sets its ctime to the current time, and no system call
    lets an unprivileged process set ctime to any other value. With multigrain timestamps
    (Linux 6.13+ on ext4, XFS, btrfs, tmpfs) a change that follows a stat, like the one this
    cache takes right after writing, gets a later ctime than the one seen even within one clock
    tick; on older kernels a change in that same tick (1-4 ms) could keep it, but only this user
    or root can write a cache file at all (``_check_ours``), and they can read the secret too.
    """
    fields = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return ":".join(map(str, fields)).encode()


class _Rejected(Exception):
    """A cache file that must not be loaded; the message says why."""


def _check_ours(info: os.stat_result) -> None:
    """Refuse what this cache never writes: anything but a regular file of this user that
    nobody else may write (a file others could write could change after it is checked)."""
    if not stat.S_ISREG(info.st_mode):
        raise _Rejected("it is not a regular file")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise _Rejected("it is not private to this user")


class _DiskCache:
    """Compiled artifacts in a directory, each vouched for by a record signed with this
    cache's secret.

    Storing writes ``<key>.cwasm`` (synced, then renamed into place) and then ``<key>.sig``:
    an HMAC of the artifact's content, the identity of the file just written (``_identity``,
    taken from the descriptor that wrote it, after the rename) and an HMAC of both, all with
    the key mixed in. Loading opens the artifact without following links, checks the record's
    HMAC and then:

    - if the open file's identity is the recorded one, it is the file this cache wrote and
      MAC'd, unchanged since: wasmtime maps it (through ``/proc/self/fd``, so the file mapped
      is the file checked) without this host reading or hashing its megabytes;
    - otherwise (the cache was copied or restored, or the file was modified) its whole content
      is read and checked against the content HMAC; if it matches, those verified bytes are
      deserialized and the record updated to the file's identity.

    Anything else (no or a bad record, a link, another owner) is rejected: the caller
    compiles the module again and stores it over the bad files.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._secret: bytes | None = None
        self._broken = False
        self._lock = threading.Lock()
        # Loads that had to read and MAC a whole artifact (its identity had changed).
        self.content_checks = 0

    def _key_bytes(self) -> bytes | None:
        with self._lock:
            if self._secret is None and not self._broken:
                try:
                    self._secret = self._load_or_create_secret()
                except OSError as exc:
                    self._broken = True
                    logger.warning(
                        "module cache in %s disabled: cannot set up its secret (%s)",
                        self.directory,
                        exc,
                    )
            return self._secret

    def _load_or_create_secret(self) -> bytes:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / _SECRET_NAME
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return self._write_secret(path)
        except OSError:
            # A symlink (O_NOFOLLOW) or unreadable file: never trust it, replace it.
            return self._write_secret(path)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            secret = file.read(_SECRET_SIZE + 1) if stat.S_ISREG(info.st_mode) else b""
        private = stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 == 0
        if not private or info.st_uid != os.geteuid() or len(secret) != _SECRET_SIZE:
            # Someone else could know (or have chosen) it: start over, which only costs
            # recompiling what the old secret signed.
            logger.warning("module cache secret %s is not private to this user; replaced", path)
            return self._write_secret(path)
        return secret

    def _write_secret(self, path: Path) -> bytes:
        secret = secrets.token_bytes(_SECRET_SIZE)
        self._write_atomically(path, secret)
        return secret

    def _write_atomically(
        self, path: Path, data: bytes | bytearray, *, durable: bool = False
    ) -> os.stat_result:
        """Write ``path`` whole or not at all; the stat of the file written, once in place.

        mkstemp creates the file with mode 0600; rename makes it appear whole or not at all.
        ``durable`` syncs the data before the rename, so that a record written afterwards can
        never vouch for a file whose data a crash lost. The stat comes from the descriptor that
        wrote the file, after the rename (which sets its ctime): it describes this file, even
        if another has replaced it at ``path`` meanwhile.
        """
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                if durable:
                    os.fsync(file.fileno())
                os.replace(tmp, path)
                return os.fstat(file.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{_ARTIFACT_SUFFIX}"

    def _record_path(self, key: str) -> Path:
        return self.directory / f"{key}{_RECORD_SUFFIX}"

    def _content_mac(self, secret: bytes, key: str, payload: bytes | bytearray) -> bytes:
        # The key is inside the MAC: an artifact renamed to another module's key is rejected.
        message = hmac.new(secret, _CONTENT_CONTEXT + key.encode() + b"\x00", hashlib.sha256)
        message.update(payload)
        return message.digest()

    def _record_mac(self, secret: bytes, key: str, content_mac: bytes, identity: bytes) -> bytes:
        message = _RECORD_CONTEXT + key.encode() + b"\x00" + content_mac + identity
        return hmac.digest(secret, message, "sha256")

    def _write_record(self, key: str, secret: bytes, content_mac: bytes, identity: bytes) -> None:
        mac = self._record_mac(secret, key, content_mac, identity)
        self._write_atomically(self._record_path(key), _RECORD_MAGIC + content_mac + identity + mac)

    def _read_record(self, key: str, secret: bytes) -> tuple[bytes, bytes]:
        """The content MAC and the file identity that ``key``'s record vouches for."""
        try:
            fd = os.open(self._record_path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise _Rejected("it has no signature") from None
        except OSError as exc:
            raise _Rejected(f"its signature cannot be opened ({exc})") from None
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise _Rejected("its signature is not a regular file")
            data = file.read(_RECORD_MAX + 1)
        head = len(_RECORD_MAGIC) + _MAC_SIZE
        if not data.startswith(_RECORD_MAGIC) or not head + _MAC_SIZE < len(data) <= _RECORD_MAX:
            raise _Rejected("its signature was not written by this host")
        content_mac, identity = data[len(_RECORD_MAGIC) : head], data[head:-_MAC_SIZE]
        if not hmac.compare_digest(
            data[-_MAC_SIZE:], self._record_mac(secret, key, content_mac, identity)
        ):
            raise _Rejected("its signature does not match")
        return content_mac, identity

    def load(self, key: str, engine: wasmtime.Engine) -> tuple[wasmtime.Module | None, bool]:
        """The module cached under ``key`` (or None) and whether a cache file was rejected."""
        secret = self._key_bytes()
        if secret is None:
            return None, False
        path = self._path(key)
        try:
            # Not following links: this cache never writes one. Non-blocking: a FIFO put here
            # must not hang the open (the check that it is a regular file comes next).
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None, False
        except OSError as exc:
            logger.warning("ignoring cached module %s: cannot open it as a file (%s)", path, exc)
            return None, True
        try:
            return self._load_open(fd, key, secret, engine), False
        except _Rejected as why:
            logger.warning("ignoring cached module %s: %s", path, why)
        except wasmtime.WasmtimeError as exc:
            # Ours, but made by an incompatible build (say, other CPU features).
            logger.warning("cached module %s does not fit this engine: %s", path, exc)
        except OSError as exc:
            logger.warning("cannot read cached module %s: %s", path, exc)
        finally:
            os.close(fd)
        return None, True

    def _load_open(
        self, fd: int, key: str, secret: bytes, engine: wasmtime.Engine
    ) -> wasmtime.Module:
        content_mac, recorded = self._read_record(key, secret)
        before = os.fstat(fd)
        _check_ours(before)
        if _identity(before) == recorded:
            # The file this cache wrote and MAC'd, unchanged since (see _identity).
            module = self._map(fd, engine)
            if _identity(os.fstat(fd)) != recorded:
                raise _Rejected("it changed while it was loaded")
            return module
        # Copied, restored or modified since it was written: check its content, once.
        with self._lock:
            self.content_checks += 1
        with open(fd, "rb", closefd=False) as file:
            payload = file.read()
        if _identity(os.fstat(fd)) != _identity(before):
            raise _Rejected("it changed while it was read")
        if not hmac.compare_digest(content_mac, self._content_mac(secret, key, payload)):
            raise _Rejected("its content does not match its signature")
        module = wasmtime.Module.deserialize(engine, payload)
        if before.st_nlink:  # still in the directory: record it, so next time it is mapped
            try:
                self._write_record(key, secret, content_mac, _identity(before))
            except OSError as exc:
                logger.warning("cannot update the signature of cached module %s: %s", key, exc)
        return module

    @staticmethod
    def _map(fd: int, engine: wasmtime.Engine) -> wasmtime.Module:
        """Deserialize the checked file open as ``fd``.

        wasmtime maps the file rather than copy it (``deserialize`` copies the 6 MB artifact of
        a 2 MB module twice, ~5 ms, and then the pages are private to this process); opening it
        through ``/proc/self/fd`` maps this very file, not whatever the path names by now. The
        mapping reads the file's pages as they are, so the file must not change while mapped:
        only this user or root can write a file ``_check_ours`` accepts, and this cache never
        rewrites one in place, it replaces it (rename), which leaves mapped files untouched.
        """
        if os.path.isdir(_PROC_FD):
            return wasmtime.Module.deserialize_file(engine, f"{_PROC_FD}/{fd}")
        with open(fd, "rb", closefd=False) as file:
            return wasmtime.Module.deserialize(engine, file.read())

    def store(self, key: str, payload: bytes | bytearray) -> bool:
        secret = self._key_bytes()
        if secret is None:
            return False
        content_mac = self._content_mac(secret, key, payload)
        try:
            written = self._write_atomically(self._path(key), payload, durable=True)
            self._write_record(key, secret, content_mac, _identity(written))
        except OSError as exc:
            logger.warning("cannot write cached module %s: %s", self._path(key), exc)
            return False
        return True


class EpochClock:
    """The engine's epoch as Python sees it: moved by the ticker right after the engines'.

    Lets the fast call path skip re-setting a store's deadline within one tick.
    """

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


class Engine:
    """Compiles modules and keeps the epoch ticking; shared by every actor of a host.

    The constructor is cheap; wasmtime engines are made on first use. ``start``/``stop``
    (idempotent) run the ticker thread that makes call deadlines work.
    """

    def __init__(self, *, cache_dir: Path | None = None, tick: float = _TICK_SECONDS) -> None:
        if not tick > 0:
            raise ValueError(f"tick must be a positive number of seconds, not {tick!r}")
        self.tick = tick
        self.clock = EpochClock()
        self.stats = EngineStats()
        self._disk = _DiskCache(Path(cache_dir)) if cache_dir is not None else None
        self._engines: dict[bool, wasmtime.Engine] = {}
        # Weak: a module stays cached while an actor uses it; a replaced revision is freed.
        self._modules: weakref.WeakValueDictionary[str, wasmtime.Module] = (
            weakref.WeakValueDictionary()
        )
        # Which wasmtime engine compiled a module: a store must be made on that same engine.
        self._owner: weakref.WeakKeyDictionary[wasmtime.Module, bool] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    # lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the epoch ticker runs (deadlines are enforced only then)."""
        return self._ticker is not None

    def start(self) -> None:
        """Start the epoch ticker thread. Idempotent."""
        with self._lock:
            if self._ticker is not None:
                return
            self._stopping = threading.Event()
            self._ticker = threading.Thread(
                target=self._tick_loop, args=(self._stopping,), name="wascc-epoch", daemon=True
            )
            self._ticker.start()

    def stop(self) -> None:
        """Stop the epoch ticker thread. Idempotent; instances stay usable (without deadlines)."""
        with self._lock:
            ticker, self._ticker = self._ticker, None
            self._stopping.set()
        if ticker is not None:
            ticker.join(timeout=5)

    def _tick_loop(self, stopping: threading.Event) -> None:
        clock = self.clock
        while not stopping.wait(self.tick):
            for engine in list(self._engines.values()):
                engine.increment_epoch()
            clock.now += 1

    def deadline_ticks(self, seconds: float) -> int:
        """Epoch ticks for a deadline of ``seconds``: one extra, since the first tick is partial."""
        return max(1, math.ceil(seconds / self.tick)) + 1

    # wasmtime engines -----------------------------------------------------------------------

    def wasmtime_engine(self, *, fuel: bool) -> wasmtime.Engine:
        """The plain or the fuel-metering wasmtime engine, made on first use."""
        with self._lock:
            engine = self._engines.get(fuel)
            if engine is None:
                config = wasmtime.Config()
                config.epoch_interruption = bool(ENGINE_SETTINGS["epoch_interruption"])
                config.memory_reservation = int(ENGINE_SETTINGS["memory_reservation"])
                config.memory_guard_size = int(ENGINE_SETTINGS["memory_guard_size"])
                config.memory_reservation_for_growth = int(
                    ENGINE_SETTINGS["memory_reservation_for_growth"]
                )
                config.consume_fuel = fuel
                engine = self._engines[fuel] = wasmtime.Engine(config)
            return engine

    def engine_for(self, module: wasmtime.Module) -> tuple[wasmtime.Engine, bool]:
        """The wasmtime engine ``module`` was compiled for, and whether it meters fuel."""
        fuel = self._owner.get(module)
        if fuel is None:
            raise ModuleLoadError(
                "this module was not compiled by this engine; compile it with Engine.compile"
            )
        return self.wasmtime_engine(fuel=fuel), fuel

    # compiling ------------------------------------------------------------------------------

    def cache_key(
        self, module: bytes, module_hash: str, *, fuel: bool, hash_verified: bool = False
    ) -> str:
        """The cache key of a module: its identity, the wasmtime version and the engine settings.

        With ``hash_verified`` the caller vouches that ``module_hash`` is a SHA-256 of the
        module it checked (as the host's claims check does): that hash is the identity. Without
        it, a SHA-256 of the bytes themselves is mixed in, so that a caller passing the wrong
        hash can never be handed another module's machine code. The two kinds of key differ
        in their material, so a key of one kind never names a module cached under the other.
        """
        if hash_verified:
            identity = f"verified\x00{module_hash}"
        else:
            identity = f"content\x00{module_hash}\x00{hashlib.sha256(module).hexdigest()}"
        material = f"{identity}\x00{_settings_digest(fuel)}".encode()
        return hashlib.sha256(material).hexdigest()

    def compile(
        self, module: bytes, module_hash: str, *, fuel: bool = False, hash_verified: bool = False
    ) -> wasmtime.Module:
        """A compiled ``module`` from the memory cache, the disk cache, or Cranelift.

        ``module_hash`` names the module bytes (the claims' hash). Pass ``hash_verified=True``
        only if ``module_hash`` was checked to be the SHA-256 of ``module`` (without its jwt
        section, as ``keys.claims.validate_module`` does): the bytes are then not hashed again.
        Raises ``ModuleLoadError`` if the bytes are not a valid wasm module.
        """
        key = self.cache_key(module, module_hash, fuel=fuel, hash_verified=hash_verified)
        with self._lock:
            cached = self._modules.get(key)
            if cached is not None:
                self.stats.memory_hits += 1
                return cached
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # One compile per key at a time; different modules compile in parallel.
        with key_lock:
            with self._lock:
                cached = self._modules.get(key)
                if cached is not None:
                    self.stats.memory_hits += 1
                    return cached
            compiled = self._load_or_compile(module, module_hash, key, fuel)
            with self._lock:
                self._modules[key] = compiled
                self._owner[compiled] = fuel
                self._key_locks.pop(key, None)
            return compiled

    def _load_or_compile(
        self, module: bytes, module_hash: str, key: str, fuel: bool
    ) -> wasmtime.Module:
        engine = self.wasmtime_engine(fuel=fuel)
        if self._disk is not None:
            cached, rejected = self._disk.load(key, engine)
            if rejected:
                self._count("disk_rejected")
            if cached is not None:
                self._count("disk_hits")
                return cached
        if not bytes(module[:4]) == _WASM_MAGIC:
            # wasmtime-py would parse other bytes as the text format; actors are binaries.
            raise ModuleLoadError(f"module {module_hash} is not a wasm binary (no \\0asm header)")
        try:
            compiled = wasmtime.Module(engine, bytes(module))
        except wasmtime.WasmtimeError as exc:
            raise ModuleLoadError(
                f"wasmtime could not compile module {module_hash}: {exc}"
            ) from exc
        self._count("compiled")
        if self._disk is not None:
            try:
                payload = compiled.serialize()
            except wasmtime.WasmtimeError as exc:
                logger.warning("cannot serialize module %s: %s", module_hash, exc)
            else:
                if self._disk.store(key, payload):
                    self._count("disk_writes")
        return compiled

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)
