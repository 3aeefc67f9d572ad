"""Helpers for testing actors and providers against a real ``Host``.

``FunctionProvider`` turns a plain function into a capability provider, so a test can stand
in for a provider that the code under test does not own (a slow back end, a failing one) while
the host, the actor and the dispatch rules stay real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from wascc.host.typing import ProviderContext

__all__ = ["BindEvent", "FunctionProvider", "sleeping_handler"]

Handler = Callable[[str, str, str, bytes], Awaitable[bytes]]


@dataclass(frozen=True)
class BindEvent:
    """A ``BindActor`` (``values`` set) or ``RemoveActor`` (``values`` is None) seen."""

    actor: str
    binding: str
    values: Mapping[str, str] | None


@dataclass
class FunctionProvider:
    """A provider for ``contract_id`` whose ``handle`` is ``handler(actor, binding, op, payload)``.

    It records every bind and unbind in ``events`` and every call in ``calls``.
    """

    contract_id: str
    handler: Handler
    events: list[BindEvent] = field(default_factory=list)
    calls: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    started: bool = False
    stopped: bool = False
    host: ProviderContext | None = None

    async def start(self, host: ProviderContext) -> None:
        self.host = host
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        self.events.append(BindEvent(actor, binding, dict(values)))

    async def remove_actor(self, actor: str, binding: str) -> None:
        self.events.append(BindEvent(actor, binding, None))

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        self.calls.append((actor, binding, operation, payload))
        return await self.handler(actor, binding, operation, payload)


def sleeping_handler(seconds: float, reply: bytes = b"done") -> Handler:
    """A handler that waits ``seconds`` on the event loop, then answers ``reply``."""

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        await asyncio.sleep(seconds)
        return reply

    return handle
