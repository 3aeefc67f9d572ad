"""The key-value provider's errors: one branch of ``ProviderError``, the same on every back end.

::

    ProviderError                       (host.errors)
    └── KeyValueError                   a key-value call failed; the text goes to the actor
        ├── InvalidRequestError         the request cannot be served as sent (bad msgpack,
        │                               negative expiry, an index out of 64-bit range)
        ├── WrongKindError              the key holds another kind of value (a list, not a set)
        ├── NotAnIntegerError           ``Add`` on a value that is not a 64-bit integer, or
        │                               a total that would overflow one
        └── StoreUnavailableError       the back end could not answer (Redis down, disk error,
                                        no answer within the binding's TIMEOUT)

A store raises these with the bare reason; the provider adds the context (contract, binding,
back end, operation, actor) with ``in_context`` before the error reaches the actor, so every
message names where it happened and, where there is one, the fix.
"""

from __future__ import annotations

from typing import Self

from wascc.host.errors import ProviderError

__all__ = [
    "InvalidRequestError",
    "KeyValueError",
    "NotAnIntegerError",
    "StoreUnavailableError",
    "WrongKindError",
]


class KeyValueError(ProviderError):
    """A key-value operation failed. ``reason`` is the bare cause, without the context."""

    def __init__(self, reason: str, *, context: str = "") -> None:
        self.reason = reason
        self.context = context
        super().__init__(f"{context}: {reason}" if context else reason)

    def in_context(self, context: str) -> Self:
        """The same error with ``context`` (where it happened) in front of the reason."""
        error = type(self)(self.reason, context=context)
        error.__cause__ = self.__cause__
        return error


class InvalidRequestError(KeyValueError):
    """The request is malformed or asks for something no back end can do."""


class WrongKindError(KeyValueError):
    """The key exists but holds another kind of value (string, list or set)."""


class NotAnIntegerError(KeyValueError):
    """``Add`` found a value that is not a 64-bit integer, or the total would overflow."""


class StoreUnavailableError(KeyValueError):
    """The back end did not answer: unreachable, failing, or slower than the call's timeout."""
