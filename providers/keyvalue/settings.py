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
                  provider's data directory                        ``<actor key>.sqlite3``
``URL``           Redis URL (``redis://[:password@]host:port/db``)  ``redis://127.0.0.1:6379/0``
``SYNCHRONOUS``   SQLite: ``full`` (each reply after an fsync) or  ``full``
                  ``normal`` (survives kill -9, not power loss)
``TIMEOUT``       seconds one call may take before it fails        5
================  ===============================================  ==========================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from host.errors import ProviderError
from providers.codec import KEYVALUE
from providers.keyvalue.dbthread import Synchronous

__all__ = ["DEFAULT_REDIS_URL", "DEFAULT_TIMEOUT", "Backend", "KeyValueSettings"]

Backend = Literal["memory", "sqlite", "redis"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TIMEOUT = 5.0
_BACKENDS: tuple[Backend, ...] = ("memory", "sqlite", "redis")
_SYNC: tuple[Synchronous, ...] = ("full", "normal")


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
        path = (
            Path(raw).expanduser()
            if raw
            else Path("keyvalue") / _file_name(binding) / f"{_file_name(actor)}.sqlite3"
        )
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
