"""Invocations: one record per call, and the context that tags every log line made during it.

An invocation runs partly on the event loop and partly on a worker thread (the wasm call), so
the context travels in a ``contextvars.ContextVar`` and is copied into the worker explicitly.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "SYSTEM_ORIGIN",
    "Invocation",
    "InvocationLogFilter",
    "current_invocation",
]

SYSTEM_ORIGIN = "system"
"""Origin of calls the host makes itself (spec §4)."""


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Invocation:
    """One call: ``origin`` (an actor key, a contract id, or ``system``) invokes ``operation``
    on ``target`` (an actor key, or ``contract/binding`` for a provider)."""

    origin: str
    target: str
    operation: str
    payload: bytes = field(repr=False)
    id: str = field(default_factory=_new_id)


current_invocation: ContextVar[Invocation | None] = ContextVar(
    "wascc_current_invocation", default=None
)


class InvocationLogFilter(logging.Filter):
    """Adds ``invocation_id``, ``actor`` and ``operation`` to every record (empty outside a call).

    Install it on handlers (the CLI does); it never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        inv = current_invocation.get()
        if not hasattr(record, "invocation_id"):
            record.invocation_id = inv.id if inv else ""
        if not hasattr(record, "actor"):
            record.actor = inv.target if inv else ""
        if not hasattr(record, "operation"):
            record.operation = inv.operation if inv else ""
        return True
