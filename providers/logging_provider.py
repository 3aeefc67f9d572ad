"""The logging provider, contract ``wascc:logging``: an actor's ``WriteLog`` → stdlib logging.

Lines go to the logger ``wascc.actor.<name>`` (the actor's name from its claims, or its key if
unnamed), the same logger the host uses for the actor's ``__console_log`` lines, so one handler
sees everything an actor says. Every record carries the actor's key as ``actor_key`` and its
name as ``actor``; the host's log filter adds the ids of the call and of the request that
caused it (``host.invocation``), so an actor's lines can be told apart request by request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar, NamedTuple

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue, ProviderContext
from wascc.providers.codec import LOGGING, WriteLogRequest

__all__ = ["LEVELS", "TRACE", "LoggingProvider", "actor_logger_name"]

TRACE = logging.DEBUG - 5
"""The level of waSCC's ``trace`` (below ``DEBUG``); registered under the name ``TRACE``."""

if logging.getLevelName(TRACE) == f"Level {TRACE}":  # leave a name someone else chose
    logging.addLevelName(TRACE, "TRACE")

LEVELS: Mapping[int, int] = {
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
    5: TRACE,
}
"""waSCC's log levels (``WriteLog`` in docs/contracts.md) → stdlib levels."""

_EMPTY = b""


def actor_logger_name(name: str) -> str:
    """The logger an actor's lines go to: ``wascc.actor.<name>``."""
    return f"wascc.actor.{name}"


class _Voice(NamedTuple):
    """Where one actor's lines go, and the fields they carry (made once, at bind time)."""

    logger: logging.Logger
    extra: Mapping[str, str]


def _voice(actor: str, name: str) -> _Voice:
    return _Voice(logging.getLogger(actor_logger_name(name)), {"actor_key": actor, "actor": name})


class LoggingProvider:
    """Serves ``WriteLog`` for every bound actor, in memory: also a ``SyncProvider``."""

    contract_id = LOGGING
    binding_values: ClassVar[tuple[BindingValue, ...]] = ()  # it reads only __wascc_name

    def __init__(self) -> None:
        self._voices: dict[str, _Voice] = {}

    async def start(self, host: ProviderContext) -> None:
        """Nothing to acquire: logging needs no resources."""

    async def stop(self) -> None:
        """Forget every actor."""
        self._voices.clear()

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Pick the actor's logger from its name (``__wascc_name``), falling back to its key."""
        self._voices[actor] = _voice(actor, values.get("__wascc_name") or actor)

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Forget the actor's logger."""
        self._voices.pop(actor, None)

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Same as ``handle_sync``; logging never blocks on I/O the provider controls."""
        return self.handle_sync(actor, binding, operation, payload)

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """``WriteLog``: log the body at the mapped level; the reply is empty. An unknown level
        or operation is an error reply to the actor."""
        if operation != "WriteLog":
            raise ProviderError(
                f"{LOGGING} has no operation {operation!r} (binding {binding!r}); it serves "
                "WriteLog only"
            )
        message = WriteLogRequest.decode(payload)
        level = LEVELS.get(message.level)
        if level is None:
            raise ProviderError(
                f"{LOGGING} WriteLog from actor {actor}: unknown level {message.level}; use 1 "
                "(error), 2 (warn), 3 (info), 4 (debug) or 5 (trace)"
            )
        # A binding may be missing here only if the host routes calls without BindActor;
        # the key keeps such lines attributable anyway.
        voice = self._voices.get(actor) or _voice(actor, actor)
        voice.logger.log(level, "%s", message.body, extra=voice.extra)
        return _EMPTY
