"""From an actor's call to a store method and back: the 14 operations of docs/contracts.md.

Each operation is three steps, written once: ``decode`` checks the request and turns it into
the store method's arguments (refusing alike on every back end what no store may do: a
negative expiry, numbers outside 64 bits), the store method runs, and ``encode`` turns its
result into the reply in the exact shape docs/contracts.md gives. ``dispatch`` runs them
against an asynchronous store (``Provider.handle``); ``StoreCalls`` against a synchronous one,
on the calling thread (``Provider.direct``), where every microsecond counts: no coroutine, one
lookup, three calls.

The codec's records define the wire shapes. The hot operations (``Get``, ``Set``, ``Add``,
``KeyExists``) read and write msgpack directly, which saves building two records per call;
the tests pin them to the records byte for byte, and anything but the plain shape falls back
to the record's ``decode``, so a bad request is refused with the record's own words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgpack import Packer, unpackb

from wascc.providers.codec import (
    AddRequest,
    ClearRequest,
    ClearResponse,
    CodecError,
    CountResponse,
    DelRequest,
    DelResponse,
    GetRequest,
    KeyExistsRequest,
    KeyValueRequest,
    ListItemDeleteRequest,
    PushRequest,
    RangeRequest,
    RangeResponse,
    SetAddRequest,
    SetIntersectionRequest,
    SetIntersectionResponse,
    SetQueryRequest,
    SetQueryResponse,
    SetRemoveRequest,
    SetRequest,
    SetUnionRequest,
    SetUnionResponse,
)
from wascc.providers.keyvalue.errors import InvalidRequestError, KeyValueError
from wascc.providers.keyvalue.store import INT64_MAX, INT64_MIN, KeyValueStore, SyncKeyValueStore

__all__ = ["MAX_EXPIRES", "OPERATIONS", "Operation", "StoreCalls", "dispatch"]

MAX_EXPIRES = 2**32 - 1
"""The longest ``Set`` lifetime in seconds (waSCC's codec carried it as a u32)."""

Args = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: ``decode(payload)`` gives the arguments of the store method named
    ``method``, ``encode(arguments, result)`` the reply (``Set`` answers with an argument,
    the value stored)."""

    method: str
    decode: Callable[[bytes], Args]
    encode: Callable[[Args, Any], bytes]


def _pack(message: dict[str, Any]) -> bytes:
    # What Record.encode does, without the record; msgpack.packb's own body, one call less
    # (the hot encoders below write it out, to save this one too).
    packed: bytes = Packer(use_bin_type=True).pack(message)
    return packed


def _int64(name: str, value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequestError(f"{name}={value} is outside the 64-bit integer range")
    return value


# Get, Set, Add, KeyExists: msgpack directly ------------------------------------------------
#
# Each reads the plain shape, a map with the fields of the right types and nothing after it,
# and leaves anything else (bin keys, nil, an array of the fields, trailing bytes, a bad
# payload) to the record's decode, which accepts what the codec accepts and refuses the rest
# in its own words. Any exception of the plain reading (msgpack may raise any, ExtraData for
# trailing bytes; indexing something not a map raises TypeError) means "not the plain shape".

_GET_MISSING = _pack({"value": "", "exists": False})
_EXISTS = {True: _pack({"value": "", "exists": True}), False: _GET_MISSING}


def _key_decoder(record: type[GetRequest] | type[KeyExistsRequest]) -> Callable[[bytes], Args]:
    """The decoder of a ``{key}`` request (``Get``, ``KeyExists``); ``record`` for the rest."""

    def decode(payload: bytes) -> Args:
        try:
            key = unpackb(payload)["key"]
        except Exception:
            key = None
        if type(key) is str:
            return (key,)
        return (record.decode(payload).key,)

    return decode


def _encode_get(_args: Args, value: str | None) -> bytes:
    if value is None:
        return _GET_MISSING
    packed: bytes = Packer(use_bin_type=True).pack({"value": value, "exists": True})
    return packed


def _decode_set(payload: bytes) -> Args:
    try:
        message = unpackb(payload)
        key, value, expires = message["key"], message["value"], message.get("expires", 0)
    except Exception:
        key = value = expires = None
    if type(key) is not str or type(value) is not str or type(expires) is not int:
        request = SetRequest.decode(payload)
        key, value, expires = request.key, request.value, request.expires
    if not 0 <= expires <= MAX_EXPIRES:
        raise InvalidRequestError(
            f"expires={expires}: give the lifetime in seconds (at most {MAX_EXPIRES}), "
            "or 0 for never"
        )
    return key, value, expires


def _encode_set(args: Args, _result: None) -> bytes:
    packed: bytes = Packer(use_bin_type=True).pack({"value": args[1]})
    return packed


def _decode_add(payload: bytes) -> Args:
    try:
        message = unpackb(payload)
        key, value = message["key"], message["value"]
    except Exception:
        key = value = None
    if type(key) is str and type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return key, value
    request = AddRequest.decode(payload)
    return request.key, _int64("value", request.value)


def _encode_add(_args: Args, total: int) -> bytes:
    packed: bytes = Packer(use_bin_type=True).pack({"value": total})
    return packed


def _encode_exists(_args: Args, exists: bool) -> bytes:
    return _EXISTS[exists]


# the others: through the records ----------------------------------------------------------


def _keyed(
    request: type[DelRequest | ClearRequest | SetQueryRequest],
) -> Callable[[bytes], Args]:
    def decode(payload: bytes) -> Args:
        return (request.decode(payload).key,)

    return decode


def _key_value(request: type[KeyValueRequest]) -> Callable[[bytes], Args]:
    def decode(payload: bytes) -> Args:
        message = request.decode(payload)
        return message.key, message.value

    return decode


def _decode_range(payload: bytes) -> Args:
    request = RangeRequest.decode(payload)
    return request.key, _int64("start", request.start), _int64("stop", request.stop)


def _decode_keys(
    request: type[SetUnionRequest | SetIntersectionRequest],
) -> Callable[[bytes], Args]:
    def decode(payload: bytes) -> Args:
        return (request.decode(payload).keys,)

    return decode


def _encode_count(_args: Args, count: int) -> bytes:
    return CountResponse(new_count=count).encode()


def _encode_values(
    response: type[RangeResponse | SetQueryResponse | SetUnionResponse | SetIntersectionResponse],
) -> Callable[[Args, list[str]], bytes]:
    def encode(_args: Args, values: list[str]) -> bytes:
        return response(values=tuple(values)).encode()

    return encode


OPERATIONS: dict[str, Operation] = {
    "Get": Operation("get", _key_decoder(GetRequest), _encode_get),
    "Set": Operation("set", _decode_set, _encode_set),
    "Add": Operation("add", _decode_add, _encode_add),
    "Del": Operation(
        "delete", _keyed(DelRequest), lambda args, _r: DelResponse(key=args[0]).encode()
    ),
    # An empty list does not exist, so clearing one deletes the key.
    "Clear": Operation(
        "delete", _keyed(ClearRequest), lambda args, _r: ClearResponse(key=args[0]).encode()
    ),
    "Range": Operation("list_range", _decode_range, _encode_values(RangeResponse)),
    "Push": Operation("list_push", _key_value(PushRequest), _encode_count),
    "ListItemDelete": Operation("list_remove", _key_value(ListItemDeleteRequest), _encode_count),
    "SetAdd": Operation("set_add", _key_value(SetAddRequest), _encode_count),
    "SetRemove": Operation("set_remove", _key_value(SetRemoveRequest), _encode_count),
    "SetUnion": Operation(
        "set_union", _decode_keys(SetUnionRequest), _encode_values(SetUnionResponse)
    ),
    "SetIntersection": Operation(
        "set_intersection",
        _decode_keys(SetIntersectionRequest),
        _encode_values(SetIntersectionResponse),
    ),
    "SetQuery": Operation("set_members", _keyed(SetQueryRequest), _encode_values(SetQueryResponse)),
    "KeyExists": Operation("exists", _key_decoder(KeyExistsRequest), _encode_exists),
}
"""The fourteen operations of ``wascc:keyvalue``, by name."""


def _unknown(operation: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"there is no operation {operation!r}; the contract has {', '.join(OPERATIONS)}"
    )


async def dispatch(store: KeyValueStore, operation: str, payload: bytes) -> bytes:
    """Serve one call: decode, run on ``store``, encode. Unknown operations, undecodable
    payloads and refused requests raise ``KeyValueError`` subclasses or ``CodecError``."""
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise _unknown(operation)
    args = spec.decode(payload)
    return spec.encode(args, await getattr(store, spec.method)(*args))


class StoreCalls:
    """One binding's calls on the calling thread (``host.typing.DirectCalls``): each
    operation's three steps against a synchronous store, its method already bound, behind one
    dictionary lookup. ``failure(operation, exc)`` words an error for the actor, as
    ``Provider.handle`` would."""

    __slots__ = ("_failure", "_steps", "store")

    def __init__(
        self, store: SyncKeyValueStore, failure: Callable[[str, Exception], Exception]
    ) -> None:
        self.store = store
        self._failure = failure
        self._steps = {
            name: (spec.decode, getattr(store, spec.method), spec.encode)
            for name, spec in OPERATIONS.items()
        }

    @property
    def loop_safe(self) -> bool:
        """The store's word on whether a call may run on the event loop's thread now."""
        return self.store.loop_safe

    def call(self, operation: str, payload: bytes) -> bytes:
        """Serve one call (the same answers and errors as ``Provider.handle``)."""
        try:
            decode, method, encode = self._steps[operation]
        except KeyError:
            raise self._failure(operation, _unknown(operation)) from None
        try:
            args = decode(payload)
            return encode(args, method(*args))
        except (KeyValueError, CodecError, TimeoutError) as exc:
            raise self._failure(operation, exc) from exc
