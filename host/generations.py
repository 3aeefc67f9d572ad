"""The two generations of waPC actors a host runs side by side.

waSCC 0.14 actors call the ``wascc:*`` contracts; the actors built for wasmCloud 0.15-0.18
(wapc-guest 0.4) call their ``wasmcloud:*`` twins, whose messages differ in a few shapes
(``providers.codec.wasmcloud``). The generation of a call follows from the contract id in it,
so one provider serves both: a provider of a ``wascc:*`` contract is also registered under
its ``wasmcloud:*`` twin through a ``TwinProvider``, which translates each message on the
way. A 0.14 actor and a 0.18 actor may then be bound side by side to the same provider (the
same key-value store, the same HTTP server). A provider written for a ``wasmcloud:*`` id
itself is served as it is.

Provider → actor calls are translated by the host (``to_actor``): the provider names the
contract it speaks as the call's origin, and the actor's claims say which generation it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from wascc.host.errors import ProviderError
from wascc.host.typing import DirectCalls, Provider, ProviderContext
from wascc.keys.claims import Claims
from wascc.providers.codec import wasmcloud as wc
from wascc.providers.codec.capabilities import ExtrasResponse, WriteLogRequest
from wascc.providers.codec.keyvalue import CountResponse

__all__ = [
    "HOST_VALUE_PREFIX",
    "TRANSLATED_ORIGINS",
    "TWINS",
    "TWIN_OF",
    "TwinProvider",
    "bind_values",
    "generic",
    "is_wasmcloud",
    "to_actor",
]

TWINS: Final[Mapping[str, str]] = {
    wc.HTTP_SERVER: "wascc:http_server",
    wc.KEYVALUE: "wascc:keyvalue",
    wc.MESSAGING: "wascc:messaging",
    wc.LOGGING: "wascc:logging",
    wc.EXTRAS: "wascc:extras",
}
"""Each ``wasmcloud:*`` contract → the ``wascc:*`` contract whose providers serve it."""

TWIN_OF: Final[Mapping[str, str]] = {old: new for new, old in TWINS.items()}
"""Each ``wascc:*`` contract → its ``wasmcloud:*`` twin."""

HOST_VALUE_PREFIX: Final = "__wasmcloud_"
"""The host's own binding values for a ``wasmcloud:*`` binding (``__wasmcloud_name`` …)."""

_LEVELS: Final[Mapping[str, int]] = {"error": 1, "warn": 2, "info": 3, "debug": 4, "trace": 5}


def generic(contract: str) -> str:
    """The ``wascc:*`` contract ``contract`` is the twin of, else ``contract`` itself: what
    the host's rules for a built-in contract (extras, HTTP ports) apply to."""
    return TWINS.get(contract, contract)


def is_wasmcloud(claims: Claims) -> bool:
    """Whether the actor is of the second generation: it claims a ``wasmcloud:*`` contract
    or a call alias (neither exists in waSCC 0.14)."""
    return claims.call_alias is not None or any(cap.startswith("wasmcloud:") for cap in claims.caps)


def bind_values(claims: Claims, values: Mapping[str, str], *, prefix: str) -> dict[str, str]:
    """A binding's values plus the host's own keys under ``prefix`` (``__wascc_`` or
    ``__wasmcloud_``): issuer, capabilities, name, expiry and tags."""
    out = dict(values)
    out[f"{prefix}issuer"] = claims.issuer
    out[f"{prefix}capabilities"] = ",".join(claims.caps)
    out[f"{prefix}name"] = claims.name or ""
    out[f"{prefix}expires"] = str(claims.expires or 0)
    out[f"{prefix}tags"] = ",".join(claims.tags)
    return out


# --- actor → provider -----------------------------------------------------------------------

Request = Callable[[str, bytes], bytes]
"""``(operation, 0.18 request) -> 0.14 request``."""
Reply = Callable[[str, bytes, bytes], bytes]
"""``(operation, 0.18 request, 0.14 reply) -> 0.18 reply``."""


def _same(operation: str, payload: bytes) -> bytes:
    return payload


def _keyvalue_reply(operation: str, request: bytes, reply: bytes) -> bytes:
    # Only the set operations changed spelling: {newCount} -> {new_count}.
    if operation in ("SetAdd", "SetRemove"):
        return wc.SetOperationResponse(CountResponse.decode(reply).new_count).encode()
    return reply


def _messaging_reply(operation: str, request: bytes, reply: bytes) -> bytes:
    if operation == "Publish":  # waSCC answers nothing; a failure is an error, not False
        return wc.PublishResponse(published=True).encode()
    if operation == "Request":  # waSCC answers the raw body
        asked = wc.RequestMessage.decode(request)
        return wc.BrokerMessage(subject=asked.subject, reply_to="", body=reply).encode()
    return reply


def _logging_request(operation: str, payload: bytes) -> bytes:
    if operation != "WriteLog":
        return payload
    line = wc.WriteLogRequest.decode(payload)
    level = _LEVELS.get(line.level.lower())
    if level is None:
        raise ProviderError(
            f"{wc.LOGGING} WriteLog: unknown level {line.level!r}; use one of {', '.join(_LEVELS)}"
        )
    body = f"{line.target}: {line.text}" if line.target else line.text
    return WriteLogRequest(level=level, body=body).encode()


def _extras_reply(operation: str, request: bytes, reply: bytes) -> bytes:
    answer = ExtrasResponse.decode(reply)
    return wc.ExtrasResponse(answer.guid, answer.sequence_number, answer.random_number).encode()


@dataclass(frozen=True, slots=True)
class _Translation:
    request: Request
    reply: Reply | None

    def call(self, serve: Callable[[str, bytes], bytes], operation: str, payload: bytes) -> bytes:
        reply = serve(operation, self.request(operation, payload))
        return reply if self.reply is None else self.reply(operation, payload, reply)


_TRANSLATIONS: Final[Mapping[str, _Translation]] = {
    wc.HTTP_SERVER: _Translation(_same, None),  # HandleRequest's shapes are the same
    wc.KEYVALUE: _Translation(_same, _keyvalue_reply),
    wc.MESSAGING: _Translation(_same, _messaging_reply),
    wc.LOGGING: _Translation(_logging_request, None),
    wc.EXTRAS: _Translation(_same, _extras_reply),
}


class _TranslatedCalls:
    """A base provider's ``DirectCalls`` for one binding, in the 0.18 shapes."""

    __slots__ = ("_inner", "_translation")

    def __init__(self, inner: DirectCalls, translation: _Translation) -> None:
        self._inner = inner
        self._translation = translation

    @property
    def loop_safe(self) -> bool:
        return self._inner.loop_safe

    def call(self, operation: str, payload: bytes) -> bytes:
        return self._translation.call(self._inner.call, operation, payload)


class TwinProvider:
    """The ``wasmcloud:*`` face of a provider of the twin ``wascc:*`` contract.

    It shares everything with its ``base`` (the host starts and stops the base only) and
    translates the messages of each call. The base sees the binding as it would a waSCC
    actor's, with both the ``__wascc_*`` and the ``__wasmcloud_*`` keys in its values.
    """

    def __init__(self, base: Provider, contract_id: str) -> None:
        if TWINS.get(contract_id) != base.contract_id:
            raise ValueError(f"{contract_id} is not the twin of {base.contract_id}")
        self.base = base
        self.contract_id = contract_id
        self._translation = _TRANSLATIONS[contract_id]

    async def start(self, host: ProviderContext) -> None:
        """Nothing: the base is started by the host."""

    async def stop(self) -> None:
        """Nothing: the base is stopped by the host."""

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """``BindActor`` to the base, with the waSCC names of the host's keys added."""
        legacy = {
            f"__wascc_{key.removeprefix(HOST_VALUE_PREFIX)}": value
            for key, value in values.items()
            if key.startswith(HOST_VALUE_PREFIX)
        }
        await self.base.bind_actor(actor, binding, {**values, **legacy})

    async def remove_actor(self, actor: str, binding: str) -> None:
        await self.base.remove_actor(actor, binding)

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        request = self._translation.request(operation, payload)
        reply = await self.base.handle(actor, binding, operation, request)
        translate = self._translation.reply
        return reply if translate is None else translate(operation, payload, reply)

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """The base's ``handle_sync``, translated (used only when the base has one)."""
        serve = self.base.handle_sync  # type: ignore[attr-defined]

        def call(op: str, message: bytes) -> bytes:
            return serve(actor, binding, op, message)  # type: ignore[no-any-return]

        return self._translation.call(call, operation, payload)

    def direct(self, actor: str, binding: str) -> DirectCalls | None:
        """The base's direct calls for the binding, translated (``None`` if it has none)."""
        direct: Any = getattr(self.base, "direct", None)
        if direct is None:
            return None
        inner = direct(actor, binding)
        return None if inner is None else _TranslatedCalls(inner, self._translation)


# --- provider → actor -----------------------------------------------------------------------

_TO_ACTOR: Final[Mapping[tuple[str, str], str]] = {
    ("wascc:messaging", "DeliverMessage"): "HandleMessage",
}
"""(origin contract, waSCC operation) → the operation a 0.18 actor registers. The payloads
are the same (``{subject, replyTo, body}``)."""

TRANSLATED_ORIGINS: Final = frozenset(origin for origin, _ in _TO_ACTOR)
"""The origins whose calls ``to_actor`` may change (checked first: it is a set lookup)."""


def to_actor(origin: str, operation: str, claims: Claims) -> str:
    """The operation to call on the actor with ``claims`` for a provider of ``origin``
    calling ``operation``: renamed for a 0.18 actor that claims the ``wasmcloud:*`` twin of
    ``origin`` and not ``origin`` itself."""
    renamed = _TO_ACTOR.get((origin, operation))
    if renamed is None or origin in claims.caps or TWIN_OF[origin] not in claims.caps:
        return operation
    return renamed
