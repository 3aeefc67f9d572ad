"""The engine: limits, ticker lifecycle, and the compiled-module caches in memory and on disk."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from tests.engine.wat_actors import ECHO, RecordingHandler, actor, digest
from wascc import host
from wascc.host.engine import Engine, Limits
from wascc.host.errors import ModuleLoadError
from wascc.host.wapc import WapcInstance

OTHER = actor("(i32.const 1)")


def _echo_works(engine: Engine, module: wasmtime.Module) -> bool:
    instance = WapcInstance.create(engine, module, Limits(), RecordingHandler())
    try:
        return instance.invoke("Echo", b"cached") == b"cached"
    finally:
        instance.close()


def _artifact(engine: Engine, module: bytes, *, fuel: bool = False) -> Path:
    assert engine._disk is not None
    return engine._disk.directory / f"{engine.cache_key(module, digest(module), fuel=fuel)}.cwasm"


def _record(engine: Engine, module: bytes) -> Path:
    """The signed record that vouches for ``module``'s artifact."""
    return _artifact(engine, module).with_suffix(".sig")


def _content_checks(engine: Engine) -> int:
    assert engine._disk is not None
    return engine._disk.content_checks


def test_public_names() -> None:
    """The engine and waPC modules export exactly their documented names."""
    assert set(host.engine.__all__) == {
        "ENGINE_SETTINGS",
        "Engine",
        "EngineStats",
        "EpochClock",
        "Limits",
    }
    assert set(host.wapc.__all__) == {
        "WAPC_IMPORTS",
        "HostCallHandler",
        "WapcInstance",
        "WapcState",
    }


def test_limits_defaults_and_validation() -> None:
    """Limits default to 256 MiB, 10 s and no fuel, and refuse nonsense values."""
    assert Limits() == Limits(memory_bytes=256 * 2**20, deadline=10.0, fuel=None)
    bad: list[Callable[[], Limits]] = [
        lambda: Limits(memory_bytes=100),
        lambda: Limits(deadline=0),
        lambda: Limits(deadline=float("nan")),
        lambda: Limits(deadline=float("inf")),
        lambda: Limits(fuel=0),
    ]
    for make in bad:
        with pytest.raises(ValueError, match="must be"):
            make()


def test_start_and_stop_are_idempotent() -> None:
    """start and stop may be called repeatedly; the ticker runs only in between."""
    engine = Engine()
    assert not engine.running
    engine.start()
    engine.start()
    assert engine.running
    engine.stop()
    engine.stop()
    assert not engine.running
    engine.start()
    assert engine.running
    engine.stop()


def test_deadline_ticks_round_up() -> None:
    """A deadline becomes enough ticks to last at least that long."""
    engine = Engine(tick=0.005)
    assert engine.deadline_ticks(10.0) == 2001
    assert engine.deadline_ticks(0.001) == 2


def test_memory_cache_returns_the_same_module() -> None:
    """Compiling the same hash twice returns the module compiled the first time."""
    engine = Engine()
    first = engine.compile(ECHO, digest(ECHO))
    assert engine.compile(ECHO, digest(ECHO)) is first
    assert (engine.stats.compiled, engine.stats.memory_hits) == (1, 1)


def test_fuel_setting_is_part_of_the_key(tmp_path: Path) -> None:
    """The same module compiled with and without fuel metering gets two cache entries."""
    engine = Engine(cache_dir=tmp_path)
    plain = engine.compile(ECHO, digest(ECHO))
    metered = engine.compile(ECHO, digest(ECHO), fuel=True)
    assert plain is not metered
    assert engine.cache_key(ECHO, "h", fuel=False) != engine.cache_key(ECHO, "h", fuel=True)
    assert engine.stats.compiled == 2
    assert _artifact(engine, ECHO).exists()
    assert _artifact(engine, ECHO, fuel=True).exists()


def test_second_engine_loads_from_disk_without_compiling(tmp_path: Path) -> None:
    """A second Engine on the same cache directory deserializes instead of compiling."""
    first = Engine(cache_dir=tmp_path)
    first.compile(ECHO, digest(ECHO))
    assert (first.stats.compiled, first.stats.disk_writes) == (1, 1)
    second = Engine(cache_dir=tmp_path)
    module = second.compile(ECHO, digest(ECHO))
    assert (second.stats.compiled, second.stats.disk_hits, second.stats.disk_rejected) == (0, 1, 0)
    assert _echo_works(second, module)


def test_cache_files_are_private(tmp_path: Path) -> None:
    """The cache directory is 0700 and its secret and artifacts are 0600."""
    directory = tmp_path / "cache"
    Engine(cache_dir=directory).compile(ECHO, digest(ECHO))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert not [path for path in directory.iterdir() if path.name.startswith(".tmp-")]


def _spy_on_deserializing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets an entry each time wasmtime is asked to deserialize something."""
    calls: list[str] = []
    from_bytes, from_file = wasmtime.Module.deserialize, wasmtime.Module.deserialize_file

    def deserialize(engine: wasmtime.Engine, encoded: bytes) -> wasmtime.Module:
        calls.append("bytes")
        return from_bytes(engine, encoded)

    def deserialize_file(engine: wasmtime.Engine, path: str) -> wasmtime.Module:
        calls.append(path)
        return from_file(engine, path)

    monkeypatch.setattr(wasmtime.Module, "deserialize", deserialize)
    monkeypatch.setattr(wasmtime.Module, "deserialize_file", deserialize_file)
    return calls


def _flip_a_byte(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-100] + bytes([data[-100] ^ 0x01]) + data[-99:])


def _damage(engine: Engine, damage: str) -> None:
    """Damage ECHO's cache entry, which ``engine`` has just written."""
    path, record = _artifact(engine, ECHO), _record(engine, ECHO)
    data = path.read_bytes()
    if damage == "tampered":
        _flip_a_byte(path)
    elif damage == "tampered, times restored":
        # Restoring mtime (which anyone who can write a file can do) leaves ctime changed.
        before = path.stat()
        _flip_a_byte(path)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif damage == "replaced":
        # Another file, with other content, renamed over the artifact.
        tmp = path.with_name("new")
        tmp.write_bytes(data[:-100] + bytes([data[-100] ^ 0x01]) + data[-99:])
        tmp.chmod(0o600)
        tmp.replace(path)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":
        # A genuine wasmtime artifact of this module, but one this cache did not sign.
        other = wasmtime.Module(engine.wasmtime_engine(fuel=True), ECHO)
        path.write_bytes(bytes(other.serialize()))
    elif damage == "unsigned":
        record.unlink()
    elif damage == "bad signature":
        signed = record.read_bytes()
        record.write_bytes(signed[:-1] + bytes([signed[-1] ^ 0x01]))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "renamed":
        # A valid artifact of another module, renamed to this module's key.
        engine.compile(OTHER, digest(OTHER))
        path.write_bytes(_artifact(engine, OTHER).read_bytes())
    elif damage == "renamed with its signature":
        engine.compile(OTHER, digest(OTHER))
        shutil.copy(_artifact(engine, OTHER), path)
        shutil.copy(_record(engine, OTHER), record)
    elif damage == "symlinked":
        # The genuine, unchanged file, reached through a link: links are never followed.
        path.rename(path.with_name("elsewhere"))
        path.symlink_to(path.with_name("elsewhere"))
    elif damage == "writable by others":
        path.chmod(0o666)
    else:
        assert damage == "fifo"
        path.unlink()
        os.mkfifo(path, 0o600)


@pytest.mark.parametrize(
    "damage",
    [
        "tampered",
        "tampered, times restored",
        "replaced",
        "truncated",
        "foreign",
        "unsigned",
        "bad signature",
        "empty",
        "renamed",
        "renamed with its signature",
        "symlinked",
        "writable by others",
        "fifo",
    ],
)
def test_artifact_not_written_by_this_host_is_recompiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """A cache file this host did not write is never deserialized; the module is recompiled."""
    first = Engine(cache_dir=tmp_path)
    first.compile(ECHO, digest(ECHO))
    _damage(first, damage)
    deserialized = _spy_on_deserializing(monkeypatch)
    second = Engine(cache_dir=tmp_path)
    module = second.compile(ECHO, digest(ECHO))
    assert deserialized == []
    monkeypatch.undo()
    assert (second.stats.compiled, second.stats.disk_hits, second.stats.disk_rejected) == (1, 0, 1)
    assert _echo_works(second, module)
    # The recompiled module replaced the bad file with a good one.
    third = Engine(cache_dir=tmp_path)
    third.compile(ECHO, digest(ECHO))
    assert (third.stats.compiled, third.stats.disk_hits) == (0, 1)
    assert _content_checks(third) == 0
    assert stat.S_IMODE(_artifact(third, ECHO).lstat().st_mode) == 0o600


def test_unchanged_artifact_is_mapped_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached load of an unchanged artifact maps the file: no read, no hash of its content."""
    Engine(cache_dir=tmp_path).compile(ECHO, digest(ECHO))

    def no_copy(engine: wasmtime.Engine, encoded: bytes) -> wasmtime.Module:
        raise AssertionError("an unchanged artifact should be mapped, not read")

    monkeypatch.setattr(wasmtime.Module, "deserialize", no_copy)
    second = Engine(cache_dir=tmp_path)
    module = second.compile(ECHO, digest(ECHO))
    assert (second.stats.compiled, second.stats.disk_hits, _content_checks(second)) == (0, 1, 0)
    assert _echo_works(second, module)


def test_file_replaced_while_loading_is_not_what_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is checked and loaded is the file opened, even if the path names another by then.

    Replacing the file changes the opened one's ctime (its link count drops), so it is read
    and checked in full: from the descriptor, not the path.
    """
    first = Engine(cache_dir=tmp_path)
    first.compile(ECHO, digest(ECHO))
    first.compile(OTHER, digest(OTHER))
    path, other = _artifact(first, ECHO), _artifact(first, OTHER)
    read_record = host.engine._DiskCache._read_record

    def replace_then_read(disk: host.engine._DiskCache, key: str, secret: bytes) -> object:
        # Runs once the artifact is open: put another module's artifact at its path.
        shutil.copy(other, path.with_name("swap"))
        path.with_name("swap").replace(path)
        return read_record(disk, key, secret)

    monkeypatch.setattr(host.engine._DiskCache, "_read_record", replace_then_read)
    second = Engine(cache_dir=tmp_path)
    module = second.compile(ECHO, digest(ECHO))
    assert (second.stats.compiled, second.stats.disk_hits, _content_checks(second)) == (0, 1, 1)
    assert _echo_works(second, module)


def test_file_replaced_after_the_check_is_never_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wasmtime maps the file whose identity was checked, not whatever the path names by then."""
    first = Engine(cache_dir=tmp_path)
    first.compile(ECHO, digest(ECHO))
    first.compile(OTHER, digest(OTHER))
    path, other = _artifact(first, ECHO), _artifact(first, OTHER)
    check_ours = host.engine._check_ours
    swapped: list[int] = []

    def check_then_replace(info: os.stat_result) -> None:
        check_ours(info)
        shutil.copy(other, path.with_name("swap"))
        swapped.append(path.with_name("swap").stat().st_ino)
        path.with_name("swap").replace(path)

    mapped: list[int] = []
    from_file = wasmtime.Module.deserialize_file

    def deserialize_file(engine: wasmtime.Engine, name: str) -> wasmtime.Module:
        mapped.append(os.stat(name).st_ino)
        return from_file(engine, name)

    monkeypatch.setattr(host.engine, "_check_ours", check_then_replace)
    monkeypatch.setattr(wasmtime.Module, "deserialize_file", deserialize_file)
    second = Engine(cache_dir=tmp_path)
    module = second.compile(ECHO, digest(ECHO))
    assert len(mapped) == len(swapped) == 1
    assert swapped[0] not in mapped
    # The file opened changed meanwhile (replacing it lowered its link count), so it was not
    # used after all: the module was compiled again.
    assert (second.stats.compiled, second.stats.disk_rejected) == (1, 1)
    assert _echo_works(second, module)


def test_copied_cache_is_verified_once(tmp_path: Path) -> None:
    """A cache copied elsewhere (new files, same secret) is checked in full once, then mapped."""
    Engine(cache_dir=tmp_path / "a").compile(ECHO, digest(ECHO))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = Engine(cache_dir=tmp_path / "b")
    module = second.compile(ECHO, digest(ECHO))
    assert (second.stats.compiled, second.stats.disk_hits, _content_checks(second)) == (0, 1, 1)
    assert _echo_works(second, module)
    third = Engine(cache_dir=tmp_path / "b")
    third.compile(ECHO, digest(ECHO))
    assert (third.stats.compiled, third.stats.disk_hits, _content_checks(third)) == (0, 1, 0)


def test_stored_artifact_is_synced_before_it_is_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artifact's data reaches the disk before a record vouches for it."""
    events: list[str] = []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(fd: int) -> None:
        events.append("fsync")
        fsync(fd)

    def logged_replace(src: str, dst: Path) -> None:
        events.append(Path(dst).suffix)
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", logged_fsync)
    monkeypatch.setattr(os, "replace", logged_replace)
    Engine(cache_dir=tmp_path).compile(ECHO, digest(ECHO))
    assert events[-3:] == ["fsync", ".cwasm", ".sig"]


def test_secret_readable_by_others_is_replaced(tmp_path: Path) -> None:
    """A secret others could read is replaced, which invalidates what it signed."""
    Engine(cache_dir=tmp_path).compile(ECHO, digest(ECHO))
    secret = tmp_path / "cache-secret"
    old = secret.read_bytes()
    os.chmod(secret, 0o644)
    second = Engine(cache_dir=tmp_path)
    second.compile(ECHO, digest(ECHO))
    assert secret.read_bytes() != old
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (second.stats.compiled, second.stats.disk_rejected) == (1, 1)


def test_unusable_cache_directory_falls_back_to_compiling(tmp_path: Path) -> None:
    """A cache directory that cannot be created only disables the disk cache."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    engine = Engine(cache_dir=blocker / "cache")
    assert _echo_works(engine, engine.compile(ECHO, digest(ECHO)))
    assert (engine.stats.compiled, engine.stats.disk_writes) == (1, 0)


def test_wrong_hash_never_serves_another_module(tmp_path: Path) -> None:
    """Two different modules given the same hash get different cache entries."""
    engine = Engine(cache_dir=tmp_path)
    echo = engine.compile(ECHO, "same-hash")
    other = engine.compile(OTHER, "same-hash")
    assert echo is not other
    assert engine.stats.compiled == 2


def test_verified_hash_is_the_identity(tmp_path: Path) -> None:
    """With hash_verified the caller's hash is the identity: the bytes are not hashed again,
    and such keys never meet keys made from the bytes, nor keys of the other fuel setting."""
    engine = Engine(cache_dir=tmp_path)
    key = engine.cache_key(ECHO, "h", fuel=False, hash_verified=True)
    assert key == engine.cache_key(OTHER, "h", fuel=False, hash_verified=True)
    assert key != engine.cache_key(ECHO, "h", fuel=False)
    assert key != engine.cache_key(ECHO, "h", fuel=True, hash_verified=True)
    verified = engine.compile(ECHO, digest(ECHO), hash_verified=True)
    assert engine.compile(OTHER, digest(ECHO)) is not verified
    assert engine.compile(ECHO, digest(ECHO), hash_verified=True) is verified
    assert (engine.stats.compiled, engine.stats.memory_hits) == (2, 1)
    second = Engine(cache_dir=tmp_path)
    assert _echo_works(second, second.compile(ECHO, digest(ECHO), hash_verified=True))
    assert (second.stats.compiled, second.stats.disk_hits) == (0, 1)


def test_text_and_invalid_modules_are_refused() -> None:
    """Only wasm binaries compile: text format and broken binaries are ModuleLoadErrors."""
    engine = Engine()
    with pytest.raises(ModuleLoadError, match="not a wasm binary"):
        engine.compile(b"(module)", "text")
    with pytest.raises(ModuleLoadError, match="could not compile"):
        engine.compile(b"\x00asm\x01\x00\x00\x00\x01\xff", "broken")


def test_engine_settings_bound_the_address_space() -> None:
    """Linear memories reserve far less than wasmtime's 4 GiB default, so thousands fit."""
    assert host.engine.ENGINE_SETTINGS["memory_reservation"] == 64 * 2**20
    assert host.engine.ENGINE_SETTINGS["epoch_interruption"] is True


def test_many_instances_fit(tmp_path: Path) -> None:
    """A thousand instances of one module live side by side in one engine."""
    engine = Engine()
    module = engine.compile(ECHO, digest(ECHO))
    instances = [
        WapcInstance.create(engine, module, Limits(), RecordingHandler()) for _ in range(1000)
    ]
    try:
        assert all(instance.invoke("Echo", b"x") == b"x" for instance in instances[::97])
    finally:
        for instance in instances:
            instance.close()
