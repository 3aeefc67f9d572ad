"""The SQLite PATH check: no store under /proc, /sys or /dev, nor on a special file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from wascc.host.errors import ProviderError
from wascc.providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider, StoreUnavailableError
from wascc.providers.keyvalue.settings import unusable_path

ACTOR = "M" + "A" * 55


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proc/self/mem", "under /proc, where files are windows on the kernel"),
        ("/sys/kernel/notes", "under /sys"),
        ("/dev/null", "under /dev"),
        ("/dev/shm/kv.sqlite3", "under /dev"),
    ],
)
def test_kernel_file_systems_are_refused(path: str, reason: str) -> None:
    """Anything under /proc, /sys or /dev is refused, whether it exists or not."""
    found = unusable_path(Path(path))
    assert found is not None
    assert found.startswith(reason)


def test_special_files_and_bad_parents_are_refused(tmp_path: Path) -> None:
    """A directory, a named pipe, a socket, or a path under a regular file is refused with
    what it is."""
    (tmp_path / "dir.db").mkdir()
    os.mkfifo(tmp_path / "pipe.db")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock.db"))
        assert unusable_path(tmp_path / "sock.db") == "a socket, not a regular file"
    (tmp_path / "file").write_text("x")
    assert unusable_path(tmp_path / "dir.db") == "a directory, not a regular file"
    assert unusable_path(tmp_path / "pipe.db") == "a named pipe, not a regular file"
    assert unusable_path(tmp_path / "file" / "sub" / "kv.db") == (
        f"under {tmp_path / 'file'}, which is not a directory"
    )


def test_regular_and_new_files_are_accepted(tmp_path: Path) -> None:
    """An existing regular file, a new file in a writable directory, and a new file in
    directories still to be made are all fine."""
    (tmp_path / "kv.db").write_bytes(b"")
    assert unusable_path(tmp_path / "kv.db") is None
    assert unusable_path(tmp_path / "new.db") is None
    assert unusable_path(tmp_path / "a" / "b" / "new.db") is None


def test_a_directory_without_write_permission_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file in a directory this process cannot write to is refused (the permission
    answer is faked: tests may run as root, who may write anywhere)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "wascc.providers.keyvalue.settings.os.access",
        lambda path, mode: Path(path) != locked and real_access(path, mode),
    )
    assert unusable_path(locked / "kv.db") == f"in {locked}, where this process cannot create files"
    assert unusable_path(tmp_path / "kv.db") is None


def test_check_values_names_the_path_and_the_fix(tmp_path: Path) -> None:
    """``check_values`` (``wascc validate``) refuses /proc/self/mem naming PATH, the actor
    and the fix; a symbolic link to /dev/null is refused by where it leads."""
    with pytest.raises(ProviderError) as caught:
        KeyValueProvider.check_values(
            {"PATH": "/proc/self/mem"}, actor=ACTOR, label="kv (MAAA)", binding="default"
        )
    message = str(caught.value)
    assert message.startswith("wascc:keyvalue (binding 'default') cannot bind actor kv (MAAA)")
    assert "value PATH='/proc/self/mem'" in message
    assert "give PATH as a regular file in a writable directory" in message
    (tmp_path / "link.db").symlink_to("/dev/null")
    with pytest.raises(ProviderError, match=r"link\.db' \(/dev/null\) is under /dev"):
        KeyValueProvider.check_values(
            {"PATH": str(tmp_path / "link.db")}, actor=ACTOR, label="kv", binding="default"
        )
    KeyValueProvider.check_values(
        {"PATH": str(tmp_path / "kv.db")}, actor=ACTOR, label="kv", binding="default"
    )
    MemoryKeyValueProvider.check_values({}, actor=ACTOR, label="kv", binding="default")


async def test_bind_actor_refuses_a_special_file_without_opening_it(tmp_path: Path) -> None:
    """A binding that never went through a manifest (admin API, lattice) is refused too,
    and no store is opened."""
    provider = KeyValueProvider(data_dir=tmp_path)
    with pytest.raises(StoreUnavailableError, match=r"PATH='/dev/zero' is under /dev"):
        await provider.bind_actor(ACTOR, "default", {"PATH": "/dev/zero"})
    with pytest.raises(ProviderError, match="is not bound"):
        provider.store_of(ACTOR)
    await provider.stop()


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("~no-such-user-here/kv.db", "is not a path this host can expand (no such ~user)"),
        ("kv\0.db", "is not a file path (it holds a NUL character)"),
    ],
)
def test_paths_pathlib_cannot_use_are_provider_errors(path: str, words: str) -> None:
    """``~user`` of no user and a NUL character are ProviderErrors naming PATH, not a
    RuntimeError or ValueError from pathlib."""
    with pytest.raises(ProviderError, match="value PATH=") as caught:
        KeyValueProvider.check_values({"PATH": path}, actor=ACTOR, label="kv", binding="default")
    assert words in str(caught.value)
