"""Invocations: one record per call, and the context that tags every log line made during it.

An invocation runs partly on the event loop and partly on a worker thread (the wasm call), so
the context travels in a ``contextvars.ContextVar`` and is copied into the worker explicitly.

Calls form chains: an HTTP request invokes an actor, the actor calls a provider or another
actor, which may call further. Each call is an ``Invocation`` whose ``parent`` is the call
that made it; the first call of the chain, the one without a parent, is its *root*. A call
that arrives from another host of the lattice is the child of a stand-in for the sender's
call, whose id the envelope carries, so one chain keeps one root across hosts.

``InvocationLogFilter`` gives every log record these fields, computed only when a record is
made (nothing is added to the calls themselves):

==================  ==========================================================================
``invocation_id``   the id of the call the line was logged in
``request_id``      the id of the chain's root: every line caused by one HTTP request (one
                    message, one call from the CLI) carries the same one, on every host
``actor``           the name (from its claims, the key if unnamed) of the actor the call runs
                    for: the callee of a call to an actor, the caller of a call to a provider
``actor_key``       that actor's public key
``operation``       the call's operation
==================  ==========================================================================

Outside any call they are empty strings (a provider may still set ``actor_key``, and
``actor``, for the actor a line is about); the JSON log format leaves empty fields out.
"""

from __future__ import annotations

import logging
import os
import threading
from contextvars import ContextVar
from typing import Final, Protocol

__all__ = [
    "LOG_FIELDS",
    "SYSTEM_ORIGIN",
    "ActorIdentity",
    "Invocation",
    "InvocationLogFilter",
    "current_invocation",
    "current_request_id",
    "new_invocation_id",
    "uuid4_text",
]

SYSTEM_ORIGIN = "system"
"""Origin of calls the host makes itself (docs/contracts.md)."""

LOG_FIELDS: Final = ("invocation_id", "request_id", "actor", "actor_key", "operation")
"""The context fields ``InvocationLogFilter`` gives every log record, in the order logs show
them."""


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
# Taken only to make an id: two threads logging the first lines of one chain agree on it.
_ID_LOCK = threading.Lock()


class ActorIdentity(Protocol):
    """How a log line names an actor (``host.actor.Actor`` is one)."""

    @property
    def key(self) -> str:
        """The actor's public key."""
        ...

    @property
    def name(self) -> str:
        """Its name from the claims, the key if unnamed."""
        ...


class Invocation:
    """One call: ``origin`` (an actor key, a contract id, or ``system``) invokes ``operation``
    on ``target`` (an actor key, or ``contract/binding`` for a provider).

    ``parent`` is the call during which this one was made (``None``: it starts a chain);
    ``actor`` is the running actor the call is made for, when this host runs it (the callee
    of a call to an actor, the caller of a call to a provider); both only name things for
    log lines and cost nothing until one is made.

    Immutable by contract. The ``id`` (a UUID4) is made on first use: most invocations on the
    fast path are never logged or forwarded, and making it costs as much as a small wasm call.
    """

    __slots__ = ("_id", "actor", "operation", "origin", "parent", "payload", "target")

    # By position on the hot paths: keywords to a class cost a dict per call (~200 ns).
    def __init__(  # noqa: PLR0917
        self,
        origin: str,
        target: str,
        operation: str,
        payload: bytes,
        id: str | None = None,
        parent: Invocation | None = None,
        actor: ActorIdentity | None = None,
    ) -> None:
        self.origin = origin
        self.target = target
        self.operation = operation
        self.payload = payload
        self._id = id
        self.parent = parent
        self.actor = actor

    @property
    def id(self) -> str:
        """The invocation id, the same for every reader (on any thread)."""
        if self._id is None:
            with _ID_LOCK:
                if self._id is None:
                    self._id = new_invocation_id()
        return self._id

    @property
    def root(self) -> Invocation:
        """The first call of the chain this one belongs to (itself if it has no parent)."""
        invocation = self
        while invocation.parent is not None:
            invocation = invocation.parent
        return invocation

    @property
    def actor_key(self) -> str:
        """The key of the actor the call is made for: ``actor``'s, else the target's or the
        origin's if it is an actor key (a call from an actor on another host); else ``""``."""
        if self.actor is not None:
            return self.actor.key
        for end in (self.target, self.origin):
            if _is_actor_key(end):
                return end
        return ""

    def __repr__(self) -> str:
        return (
            f"Invocation(origin={self.origin!r}, target={self.target!r}, "
            f"operation={self.operation!r}, id={self.id!r})"
        )


def _is_actor_key(text: str) -> bool:
    # The shape of a module key (docs/abi.md), as dispatch tells actors from contracts; checking
    # its checksum would cost more than the log line.
    return len(text) == 56 and text.startswith("M")


current_invocation: ContextVar[Invocation | None] = ContextVar(
    "wascc_current_invocation", default=None
)


def current_request_id() -> str | None:
    """The ``request_id`` of the call running in this context (``None`` outside any call):
    what an invocation sent to another host carries as its id, so that the receiver's lines
    name the same request."""
    invocation = current_invocation.get()
    return None if invocation is None else invocation.root.id


class InvocationLogFilter(logging.Filter):
    """Adds the ``LOG_FIELDS`` of the running call to every record (empty outside a call),
    keeping any a caller passed in ``extra``.

    Install it on handlers (the CLI does); it never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        invocation = current_invocation.get()
        if invocation is None:
            for name in LOG_FIELDS:
                fields.setdefault(name, "")
            return True
        if "invocation_id" not in fields:
            fields["invocation_id"] = invocation.id
        if "request_id" not in fields:
            fields["request_id"] = invocation.root.id
        if "operation" not in fields:
            fields["operation"] = invocation.operation
        actor = invocation.actor
        if "actor_key" not in fields:
            fields["actor_key"] = actor.key if actor is not None else invocation.actor_key
        if "actor" not in fields:
            # Named only when this host runs the actor: a bare key is already in actor_key.
            fields["actor"] = actor.name if actor is not None else ""
        return True
