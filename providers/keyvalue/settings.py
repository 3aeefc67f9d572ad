"""A key-value binding's settings, read from the binding's values.

``BINDING_VALUES`` declares every value (name, meaning, default, what it may be): the
settings are read by those declarations, manifests refuse any other key, and
docs/providers.md lists them.
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

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue
from wascc.providers.codec import KEYVALUE
from wascc.providers.keyvalue.dbthread import Synchronous

__all__ = [
    "BINDING_VALUES",
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

_BACKEND = BindingValue(
    "BACKEND",
    "where the data lives: memory, SQLite files or Redis",
    "redis if URL is a redis:// URL, else the provider's default (sqlite; memory for the "
    "memory provider)",
    f"one of {', '.join(_BACKENDS)}",
)
_PATH = BindingValue(
    "PATH",
    "SQLite file, relative to the provider's data directory; a regular file or a new one in "
    "a writable directory, never under /proc, /sys or /dev",
    "keyvalue/<binding>/<actor key>.sqlite3",
    "a file path",
)
_URL = BindingValue(
    "URL",
    "Redis URL (redis://[:password@]host:port/db)",
    DEFAULT_REDIS_URL,
    "a redis://, rediss:// or unix:// URL",
)
_SYNCHRONOUS = BindingValue(
    "SYNCHRONOUS",
    "SQLite: full (each reply after an fsync) or normal (survives kill -9, not power loss)",
    _SYNC[0],
    " or ".join(_SYNC),
)
_TIMEOUT = BindingValue(
    "TIMEOUT",
    "seconds one call may take before it fails",
    f"{DEFAULT_TIMEOUT:g}",
    "a number of seconds > 0",
)

BINDING_VALUES: tuple[BindingValue, ...] = (_BACKEND, _PATH, _URL, _SYNCHRONOUS, _TIMEOUT)
"""Every value a key-value binding may give."""


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

        def bad(value: BindingValue, expected: str = "") -> ProviderError:
            return ProviderError(
                f"{KEYVALUE} (binding {binding!r}) cannot bind actor {label}: value "
                f"{value.name}={values[value.name]!r} is not {expected or value.allowed}; fix "
                "the binding's values"
            )

        url = values.get(_URL.name, "").strip() or None
        default = "redis" if url and url.startswith(("redis://", "rediss://", "unix://")) else None
        backend = values.get(_BACKEND.name, "").strip().lower() or default or default_backend
        if backend not in _BACKENDS:
            raise bad(_BACKEND)

        timeout = DEFAULT_TIMEOUT
        if values.get(_TIMEOUT.name, "").strip():
            try:
                timeout = float(values[_TIMEOUT.name])
            except ValueError:
                raise bad(_TIMEOUT) from None
            if not (timeout > 0 and math.isfinite(timeout)):
                raise bad(_TIMEOUT)

        if backend == "memory":
            return cls("memory", f"memory:{binding}:{actor}", timeout=timeout)
        if backend == "redis":
            url = url or DEFAULT_REDIS_URL
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                raise bad(_URL)
            return cls("redis", f"redis:{url}", url=url, timeout=timeout)

        synchronous = values.get(_SYNCHRONOUS.name, "").strip().lower() or _SYNCHRONOUS.default
        if synchronous not in _SYNC:
            raise bad(_SYNCHRONOUS)
        raw = values.get(_PATH.name, "").strip()
        path = Path("keyvalue") / _file_name(binding) / f"{_file_name(actor)}.sqlite3"
        if "\0" in raw:
            raise bad(_PATH, "a file path (it holds a NUL character)")
        if raw:
            try:
                path = Path(raw).expanduser()
            except RuntimeError:  # pathlib's word for "~user of no user", or no home at all
                raise bad(_PATH, "a path this host can expand (no such ~user)") from None
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
