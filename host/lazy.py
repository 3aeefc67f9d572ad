"""Names a package exports but imports on first use (PEP 562 ``__getattr__``).

``import wascc.host.errors`` runs ``wascc/host/__init__.py`` first; if that imported ``Host``
it would load wasmtime, aiohttp and NATS for every ``wascc`` command, even ``--help``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package`` for the names in ``where`` (name → the submodule
    that defines it): imports the submodule on first access and keeps the value in the
    package, so that later lookups are plain attribute reads."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
