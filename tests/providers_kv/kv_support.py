"""Helpers for the key-value tests: an actor-backed client for the provider."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgpack

from wascc.host import Host
from wascc.host.errors import GuestError, ProviderError
from wascc.providers.keyvalue import KeyValueProvider

__all__ = ["KEYVALUE", "KvClient", "KvError", "ProviderClient"]

KEYVALUE = "wascc:keyvalue"


class KvError(Exception):
    """The provider answered with an error; ``text`` is what the actor received."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


class KvClient:
    """Calls ``wascc:keyvalue`` through a real forwarding actor on a real host."""

    def __init__(self, host: Host, actor: str) -> None:
        self.host = host
        self.actor = actor

    async def raw(self, operation: str, payload: bytes) -> bytes:
        """Send ``payload`` as ``operation``; the provider's reply bytes, or ``KvError``."""
        try:
            return await self.host.call_actor(self.actor, operation, payload)
        except GuestError as exc:
            raise KvError(exc.guest_error) from exc

    async def call(self, operation: str, **fields: Any) -> dict[str, Any]:
        """Send ``fields`` as the request map; the decoded reply map."""
        reply = await self.raw(operation, msgpack.packb(fields, use_bin_type=True))
        decoded = msgpack.unpackb(reply, raw=False, strict_map_key=False)
        assert isinstance(decoded, dict)
        return decoded

    async def error(self, operation: str, **fields: Any) -> str:
        """Send the request and return the error text the actor got (it must fail)."""
        try:
            reply = await self.call(operation, **fields)
        except KvError as exc:
            return exc.text
        raise AssertionError(f"{operation} {fields} succeeded with {reply}")


class ProviderClient(KvClient):
    """Calls the provider itself, no host: through ``handle`` on the event loop, or through
    the binding's ``direct`` calls on a thread of the test's own (as a worker thread would)."""

    def __init__(
        self, provider: KeyValueProvider, actor: str, path: Literal["handle", "direct"]
    ) -> None:
        self.provider = provider
        self.actor = actor
        self.path = path

    async def raw(self, operation: str, payload: bytes) -> bytes:
        """Send ``payload`` as ``operation``; the reply bytes, or ``KvError`` with the text
        an actor would get."""
        try:
            if self.path == "handle":
                return await self.provider.handle(self.actor, "default", operation, payload)
            direct = self.provider.direct(self.actor, "default")
            return await asyncio.to_thread(direct.call, operation, payload)
        except ProviderError as exc:
            raise KvError(str(exc)) from exc
