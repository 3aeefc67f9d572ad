"""The lattice's branch of the exception tree (under ``host.errors.LatticeError``)::

    LatticeError
    ├── LatticeUnavailable         NATS cannot be reached (yet): not connected, no responders
    ├── LatticeTimeout             no answer within the RPC timeout (also TimeoutError)
    ├── MalformedMessage           a message that is not a valid envelope, or too large
    ├── ForgedInvocation           the anti-forgery token does not verify
    │   └── ReplayedInvocation     a genuine token used again, or outside the replay window
    └── RemoteError                the remote host answered with an error text

Messages name the subject or invocation and the fix.
"""

from __future__ import annotations

from wascc.host.errors import LatticeError, Unavailable

__all__ = [
    "ForgedInvocation",
    "LatticeError",
    "LatticeTimeout",
    "LatticeUnavailable",
    "MalformedMessage",
    "RemoteError",
    "ReplayedInvocation",
    "does_not_verify",
]


class LatticeUnavailable(LatticeError, Unavailable):
    """The lattice cannot take the request now: not connected, or nobody serves the subject."""


class LatticeTimeout(LatticeError, TimeoutError):
    """No host answered within the RPC timeout (a lost host, a NATS outage, a slow actor)."""


class MalformedMessage(LatticeError):
    """A message that is not a valid invocation envelope (or response), or exceeds the limit."""


class ForgedInvocation(LatticeError):
    """An invocation whose anti-forgery token is missing, not signed by its host, or does not
    match the envelope (origin, target, operation or message altered)."""


def does_not_verify(what: str, part: str, exc: Exception) -> str:
    """The refusal of ``what`` whose ``part`` (its token, its voucher...) failed verification
    with ``exc``: the reason without the fix a claims error appends, which is about signing
    modules and does not apply to a message."""
    reason = str(exc).split(";")[0]
    return f"refused {what}: {part} does not verify: {reason}"


class ReplayedInvocation(ForgedInvocation):
    """A token that verifies but must not be served (``host.lattice.replay``): its ``jti``
    was already used, its ``iat`` lies outside the replay window (too old, from the future,
    or at or before the floor of a full replay cache), or it has no usable ``jti`` or
    ``iat``. ``jti`` is the token's id; ``reason`` is ``replayed``, ``stale``, ``future``,
    ``overflow``, ``clock`` or ``unusable`` (both empty when not given)."""

    def __init__(self, message: str, *, jti: str = "", reason: str = "") -> None:
        self.jti = jti
        self.reason = reason
        super().__init__(message)


class RemoteError(LatticeError):
    """The host that served an invocation answered with an error; ``host_id`` names it when
    known, ``invocation_id`` is the invocation's id."""

    def __init__(self, message: str, *, invocation_id: str = "") -> None:
        self.invocation_id = invocation_id
        super().__init__(message)
