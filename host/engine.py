"""The wasmtime engine the host runs every actor on: configuration, epoch ticker, module cache.

One ``Engine`` per host. It owns up to two wasmtime engines, made on first use: a plain one
and one that meters fuel (``consume_fuel`` makes every call slower, so only actors whose
``Limits`` ask for fuel pay for it). A daemon thread increments both engines' epoch every tick;
each call sets its store's epoch deadline, which is how a call's wall-clock ``deadline`` is
enforced. Without ``start()`` the epoch never moves and deadlines are not enforced.

Compiled modules are cached in memory and, with ``cache_dir``, on disk. A disk artifact is
loaded only if it carries a valid HMAC made with this cache's own secret: deserializing is
loading native code, so a file this host did not write (tampered, foreign, truncated) is
ignored and the module is compiled again.
"""

from __future__ import annotations

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

from host.errors import ModuleLoadError

__all__ = ["ENGINE_SETTINGS", "Engine", "EngineStats", "Limits"]

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
# About 100 MiB of address space (no RAM: it is reserved, not committed) and two mappings per
# instance, so 10,000 instances use ~1 TiB of address space and 20,000 of the default 65,530
# `vm.max_map_count` mappings. These settings change the generated code, so they are part of
# the compiled-module cache key.
ENGINE_SETTINGS: dict[str, int | bool] = {
    "epoch_interruption": True,
    "memory_reservation": 64 * 2**20,
    "memory_guard_size": 2 * 2**20,
    "memory_reservation_for_growth": 32 * 2**20,
}

_TICK_SECONDS = 0.005
_CACHE_MAGIC = b"WASCCMOD\x01"
_HMAC_CONTEXT = b"wascc-py compiled module v1\x00"
_SECRET_NAME = "cache-secret"
_SECRET_SIZE = 32
_WASM_MAGIC = b"\x00asm"


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


def _wasmtime_version() -> str:
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


class _DiskCache:
    """Compiled artifacts in a directory, each authenticated with this cache's secret."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._secret: bytes | None = None
        self._broken = False
        self._lock = threading.Lock()

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
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return self._write_secret(path)
        except OSError:
            # A symlink (O_NOFOLLOW) or unreadable file: never trust it, replace it.
            return self._write_secret(path)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            secret = file.read(_SECRET_SIZE + 1)
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

    def _write_atomically(self, path: Path, data: bytes) -> None:
        # mkstemp creates the file with mode 0600; rename makes it appear whole or not at all.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.cwasm"

    def _mac(self, secret: bytes, key: str, payload: bytes | bytearray) -> bytes:
        # The key is inside the MAC: an artifact renamed to another module's key is rejected.
        message = hmac.new(secret, _HMAC_CONTEXT + key.encode() + b"\x00", hashlib.sha256)
        message.update(payload)
        return message.digest()

    def load(self, key: str) -> tuple[bytes, bool]:
        """The verified payload for ``key`` (or ``b""``) and whether a file was rejected."""
        secret = self._key_bytes()
        if secret is None:
            return b"", False
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return b"", False
        except OSError as exc:
            logger.warning("cannot read cached module %s: %s", self._path(key), exc)
            return b"", True
        header = len(_CACHE_MAGIC) + hashlib.sha256().digest_size
        if len(data) <= header or not data.startswith(_CACHE_MAGIC):
            logger.warning("ignoring cached module %s: not written by this host", self._path(key))
            return b"", True
        mac, payload = data[len(_CACHE_MAGIC) : header], data[header:]
        if not hmac.compare_digest(mac, self._mac(secret, key, payload)):
            logger.warning("ignoring cached module %s: its signature does not match", key)
            return b"", True
        return payload, False

    def store(self, key: str, payload: bytes | bytearray) -> bool:
        secret = self._key_bytes()
        if secret is None:
            return False
        data = _CACHE_MAGIC + self._mac(secret, key, payload) + bytes(payload)
        try:
            self._write_atomically(self._path(key), data)
        except OSError as exc:
            logger.warning("cannot write cached module %s: %s", self._path(key), exc)
            return False
        return True


class Engine:
    """Compiles modules and keeps the epoch ticking; shared by every actor of a host.

    The constructor is cheap; wasmtime engines are made on first use. ``start``/``stop``
    (idempotent) run the ticker thread that makes call deadlines work.
    """

    def __init__(self, *, cache_dir: Path | None = None, tick: float = _TICK_SECONDS) -> None:
        if not tick > 0:
            raise ValueError(f"tick must be a positive number of seconds, not {tick!r}")
        self.tick = tick
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
        while not stopping.wait(self.tick):
            for engine in list(self._engines.values()):
                engine.increment_epoch()

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

    def cache_key(self, module: bytes, module_hash: str, *, fuel: bool) -> str:
        """The cache key of a module: its hash, the wasmtime version and the engine settings.

        A digest of the bytes themselves is mixed in too, so that a caller passing the wrong
        hash can never be handed another module's machine code.
        """
        content = hashlib.sha256(module).hexdigest()
        material = f"{module_hash}\x00{content}\x00{_settings_digest(fuel)}".encode()
        return hashlib.sha256(material).hexdigest()

    def compile(self, module: bytes, module_hash: str, *, fuel: bool = False) -> wasmtime.Module:
        """A compiled ``module`` from the memory cache, the disk cache, or Cranelift.

        ``module_hash`` names the module bytes (the claims' hash). Raises ``ModuleLoadError``
        if the bytes are not a valid wasm module.
        """
        key = self.cache_key(module, module_hash, fuel=fuel)
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
            cached, rejected = self._disk.load(key)
            if rejected:
                self._count("disk_rejected")
            if cached:
                try:
                    loaded = wasmtime.Module.deserialize(engine, cached)
                except wasmtime.WasmtimeError as exc:
                    # Ours, but made by an incompatible build (say, other CPU features).
                    logger.warning("cached module %s does not fit this engine: %s", key, exc)
                    self._count("disk_rejected")
                else:
                    self._count("disk_hits")
                    return loaded
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
