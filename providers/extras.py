"""The extras provider, contract ``wascc:extras``: GUIDs, random numbers and sequences.

Built into the host, which binds it (binding ``default``) to every actor whose claims list
``wascc:extras``. All work is in memory, so it is a ``SyncProvider``: calls are answered on
the worker thread running the actor, which is why the sequences are guarded by a lock.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Mapping
from typing import ClassVar

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue, ProviderContext
from wascc.providers.codec import EXTRAS, ExtrasRequest, ExtrasResponse

__all__ = ["ExtrasProvider"]


class ExtrasProvider:
    """``RequestGuid`` (UUID4), ``RequestRandom`` (in ``[min, max)``) and ``RequestSequence``
    (per actor, starting at 0; an actor's sequence is forgotten when its binding is removed)."""

    contract_id = EXTRAS
    binding_values: ClassVar[tuple[BindingValue, ...]] = ()  # nothing to configure

    def __init__(self) -> None:
        self._sequences: dict[str, int] = {}
        self._lock = threading.Lock()

    async def start(self, host: ProviderContext) -> None:
        """Nothing to acquire."""

    async def stop(self) -> None:
        """Forget every sequence."""
        with self._lock:
            self._sequences.clear()

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Nothing to configure: the sequence starts on first use."""

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Forget the actor's sequence (a later binding starts again at 0)."""
        with self._lock:
            self._sequences.pop(actor, None)

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Same as ``handle_sync``."""
        return self.handle_sync(actor, binding, operation, payload)

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Answer one request with an encoded ``ExtrasResponse``; bad input is an error reply."""
        request = ExtrasRequest.decode(payload)
        if operation == "RequestGuid":
            return ExtrasResponse(guid=str(uuid.uuid4())).encode()
        if operation == "RequestRandom":
            return ExtrasResponse(
                random_number=self.random(actor, request.min, request.max)
            ).encode()
        if operation == "RequestSequence":
            return ExtrasResponse(sequence_number=self.next_sequence(actor)).encode()
        raise ProviderError(
            f"{EXTRAS} has no operation {operation!r}; use RequestGuid, RequestRandom or "
            "RequestSequence"
        )

    def next_sequence(self, actor: str) -> int:
        """The actor's next sequence number: 0, 1, 2, ..."""
        with self._lock:
            value = self._sequences.get(actor, 0)
            self._sequences[actor] = value + 1
        return value

    @staticmethod
    def random(actor: str, low: int, high: int) -> int:
        """A uniformly random integer in ``[low, high)``; ``low >= high`` is an error."""
        if low >= high:
            raise ProviderError(
                f"{EXTRAS} RequestRandom from actor {actor}: empty range [{low}, {high}); "
                "min must be less than max"
            )
        # waSCC drew from a CSPRNG; secrets keeps that property.
        return low + secrets.randbelow(high - low)
