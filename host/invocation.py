"""Invocations: one record per call, and the context that tags every log line made during it.

An invocation runs partly on the event loop and partly on a worker thread (the wasm call), so
the context travels in a ``contextvars.ContextVar`` and is copied into the worker explicitly.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar

__all__ = [
    "SYSTEM_ORIGIN",
    "Invocation",
    "InvocationLogFilter",
    "current_invocation",
    "new_invocation_id",
    "uuid4_text",
]

SYSTEM_ORIGIN = "system"
"""Origin of calls the host makes itself (spec §4)."""


def new_invocation_id() -> str:
    """A random (version 4) UUID in its canonical text form."""
    return uuid4_text(os.urandom(16))


def uuid4_text(raw: bytes) -> str:
    """The canonical text of the version 4 UUID made of 16 random bytes (their version and
    variant bits overwritten)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


# The variant (binary 10xx) as the first hex digit of the fourth group, from any digit.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


class Invocation:
    """One call: ``origin`` (an actor key, a contract id, or ``system``) invokes ``operation``
    on ``target`` (an actor key, or ``contract/binding`` for a provider).

    Immutable by contract. The ``id`` (a UUID4) is made on first use: most invocations on the
    fast path are never logged or forwarded, and making it costs as much as a small wasm call.
    """

    __slots__ = ("_id", "operation", "origin", "payload", "target")

    def __init__(
        self, origin: str, target: str, operation: str, payload: bytes, id: str | None = None
    ) -> None:
        self.origin = origin
        self.target = target
        self.operation = operation
        self.payload = payload
        self._id = id

    @property
    def id(self) -> str:
        """The invocation id, the same for every reader."""
        if self._id is None:
            self._id = new_invocation_id()
        return self._id

    def __repr__(self) -> str:
        return (
            f"Invocation(origin={self.origin!r}, target={self.target!r}, "
            f"operation={self.operation!r}, id={self.id!r})"
        )


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
