"""The wascc-py host: runs signed waPC actors on wasmtime and routes their calls.

Public face: ``Host`` with ``ActorSettings`` and ``Limits``, the provider extension points
(``host.typing``), and the exception tree (``host.errors``).
"""

from __future__ import annotations

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
