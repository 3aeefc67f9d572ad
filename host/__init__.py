"""The wascc-py host: runs signed waPC actors on wasmtime and routes their calls.

Public face: ``Host`` with ``ActorSettings`` and ``Limits``, the provider extension points
(``wascc.host.typing``), and the exception tree (``wascc.host.errors``).

The names below are imported on first use, so that importing one small module of the
package (as every ``wascc`` command does) does not load wasmtime, aiohttp and NATS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wascc.host.lazy import lazy_exports

if TYPE_CHECKING:
    from wascc.host.actor import ActorSettings
    from wascc.host.dispatch import Binding
    from wascc.host.engine import Limits
    from wascc.host.host import Host
    from wascc.host.invocation import Invocation, InvocationLogFilter, current_invocation

__all__ = [
    "ActorSettings",
    "Binding",
    "Host",
    "Invocation",
    "InvocationLogFilter",
    "Limits",
    "current_invocation",
]

_WHERE = {
    "ActorSettings": "actor",
    "Binding": "dispatch",
    "Limits": "engine",
    "Host": "host",
    "Invocation": "invocation",
    "InvocationLogFilter": "invocation",
    "current_invocation": "invocation",
}


__getattr__ = lazy_exports(__name__, _WHERE)
