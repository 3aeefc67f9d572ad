"""The lattice: hosts linked over NATS (docs/lattice.md).

A host that joins a lattice serves its actors and providers on NATS subjects and sends every
invocation whose target is not local to the host that has it, sealed in an envelope whose
anti-forgery token the receiver verifies. Public face: ``Lattice`` and ``LatticeConfig`` for a
host, ``LatticeClient`` and the ``control``/``inventory`` functions for tools (``wascc ctl``),
the envelope codec, and the errors.
"""

from __future__ import annotations

from wascc.host.lattice.client import LatticeClient
from wascc.host.lattice.envelope import (
    Entity,
    Envelope,
    Response,
    decode_envelope,
    decode_response,
    encode_response,
    seal,
    verify_envelope,
)
from wascc.host.lattice.errors import (
    ForgedInvocation,
    LatticeError,
    LatticeTimeout,
    LatticeUnavailable,
    MalformedMessage,
    RemoteError,
    ReplayedInvocation,
)
from wascc.host.lattice.lattice import Lattice, LatticeConfig
from wascc.host.lattice.subjects import Subjects

__all__ = [
    "Entity",
    "Envelope",
    "ForgedInvocation",
    "Lattice",
    "LatticeClient",
    "LatticeConfig",
    "LatticeError",
    "LatticeTimeout",
    "LatticeUnavailable",
    "MalformedMessage",
    "RemoteError",
    "ReplayedInvocation",
    "Response",
    "Subjects",
    "decode_envelope",
    "decode_response",
    "encode_response",
    "seal",
    "verify_envelope",
]
