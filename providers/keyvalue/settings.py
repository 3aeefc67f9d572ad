"""A key-value binding's settings, read from the binding's values.

================  ===============================================  ==========================
value             meaning                                          default
================  ===============================================  ==========================
``BACKEND``       ``memory``, ``sqlite`` or ``redis``               ``redis`` if ``URL`` is a
                                                                   ``redis://`` URL, else
                                                                   the provider's default
                                                                   (``sqlite``; ``memory``
                                                                   for the memory provider)
``PATH``          SQLite file; relative paths are under the        ``keyvalue/<binding>/``
                  provider's data directory. A regular file, or    ``<actor key>.sqlite3``
                  a new one in a writable directory: never under
                  /proc, /sys or /dev (see ``unusable_path``)
``URL``           Redis URL (``redis://[:password@]host:port/db``)  ``redis://127.0.0.1:6379/0``
``SYNCHRONOUS``   SQLite: ``full`` (each reply after an fsync) or  ``full``
                  ``normal`` (survives kill -9, not power loss)
``TIMEOUT``       seconds one call may take before it fails        5
================  ===============================================  ==========================
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from host.errors import ProviderError
from providers.codec import KEYVALUE
from providers.keyvalue.dbthread import Synchronous

__all__ = [
    "DEFAULT_REDIS_URL",
    "DEFAULT_TIMEOUT",
    "Backend",
    "KeyValueSettings",
    "unusable_path",
]

Backend = Literal["memory", "sqlite", "redis"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TIMEOUT = 5.0
_BACKENDS: tuple[Backend, ...] = ("memory", "sqlite", "redis")
_SYNC: tuple[Synchronous, ...] = ("full", "normal")
# Kernel file systems: their files are windows on processes and devices, never a database.
_SPECIAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True, slots=True)
class KeyValueSettings:
    """Which store a binding uses and how (see the module docstring for the values).
    ``location`` identifies the store: bindings with the same location share it."""

    backend: Backend
    location: str
    path: Path | None = None
    url: str | None = None
    synchronous: Synchronous = "full"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_values(
        cls,
        values: Mapping[str, str],
        *,
        actor: str,
        label: str,
        binding: str,
        data_dir: Path,
        default_backend: Backend = "sqlite",
    ) -> KeyValueSettings:
        """Parse a binding's values; a bad value raises ``ProviderError`` naming the actor
        (``label``), the value and the fix. ``default_backend`` applies without ``BACKEND``
        and without a Redis ``URL``."""

        def bad(name: str, expected: str) -> ProviderError:
            return ProviderError(
                f"{KEYVALUE} (binding {binding!r}) cannot bind actor {label}: value "
                f"{name}={values[name]!r} is not {expected}; fix the binding's values"
            )

        url = values.get("URL", "").strip() or None
        default = "redis" if url and url.startswith(("redis://", "rediss://", "unix://")) else None
        backend = values.get("BACKEND", "").strip().lower() or default or default_backend
        if backend not in _BACKENDS:
            raise bad("BACKEND", "one of memory, sqlite, redis")

        timeout = DEFAULT_TIMEOUT
        if values.get("TIMEOUT", "").strip():
            try:
                timeout = float(values["TIMEOUT"])
            except ValueError:
                raise bad("TIMEOUT", "a number of seconds > 0") from None
            if not (timeout > 0 and math.isfinite(timeout)):
                raise bad("TIMEOUT", "a number of seconds > 0")

        if backend == "memory":
            return cls("memory", f"memory:{binding}:{actor}", timeout=timeout)
        if backend == "redis":
            url = url or DEFAULT_REDIS_URL
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                raise bad("URL", "a redis://, rediss:// or unix:// URL")
            return cls("redis", f"redis:{url}", url=url, timeout=timeout)

        synchronous = values.get("SYNCHRONOUS", "").strip().lower() or "full"
        if synchronous not in _SYNC:
            raise bad("SYNCHRONOUS", "full or normal")
        raw = values.get("PATH", "").strip()
        path = Path("keyvalue") / _file_name(binding) / f"{_file_name(actor)}.sqlite3"
        if "\0" in raw:
            raise bad("PATH", "a file path (it holds a NUL character)")
        if raw:
            try:
                path = Path(raw).expanduser()
            except RuntimeError:  # pathlib's word for "~user of no user", or no home at all
                raise bad("PATH", "a path this host can expand (no such ~user)") from None
        if not path.is_absolute():
            path = data_dir / path
        path = path.resolve()
        return cls(
            "sqlite",
            f"sqlite:{path}",
            path=path,
            synchronous="normal" if synchronous == "normal" else "full",
            timeout=timeout,
        )


def _file_name(name: str) -> str:
    """``name`` made safe as one path component (binding names are free-form)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return "_" + safe if safe.startswith(".") or not safe else safe


def unusable_path(path: Path) -> str | None:
    """Why SQLite must not keep a store at ``path`` (absolute, symbolic links resolved), or
    ``None`` if it may: a regular file, or a missing one whose directory can be made or
    written. Read from the file system only, nothing is created (``wascc validate``)."""
    for root in _SPECIAL_ROOTS:
        if path.is_relative_to(root):
            return f"under {root}, where files are windows on the kernel, not data"
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return _unusable_directory(path.parent)
    except OSError as exc:
        return f"not usable: {exc.strerror}"
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        return f"{kind}, not a regular file"
    return _unusable_directory(path.parent)  # SQLite writes its journal next to the file


def _unusable_directory(directory: Path) -> str | None:
    """Why a file cannot be created in ``directory`` (made if missing), or ``None``."""
    for parent in (directory, *directory.parents):
        try:
            mode = parent.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # made when the store opens: its nearest existing parent decides
        except OSError as exc:
            return f"in {parent}, which cannot be used: {exc.strerror}"
        if not stat.S_ISDIR(mode):
            return f"under {parent}, which is not a directory"
        if parent == directory and not os.access(parent, os.W_OK | os.X_OK):
            return f"in {parent}, where this process cannot create files"
        return None
    return None
