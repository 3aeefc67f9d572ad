"""The actor toolchain: make a project (``wascc new``), build it (``wascc build``), find the
usual build mistakes in a module, and run one actor without a manifest (``wascc up
ACTOR.wasm``).

Modules, one concept each: ``sdk`` (where templates and headers live), ``project``
(``actor.toml``), ``templates`` (``wascc new``), ``build`` (``wascc build``), ``diagnose``
(build mistakes), ``quickstart`` (one actor, no manifest), ``commands`` (the click commands).
Nothing is imported here: ``host.manifest_check`` imports ``diagnose``, and ``quickstart``
imports ``host.manifest``, so importing more here would close a circle.
"""

from __future__ import annotations

__all__: list[str] = []
