"""From an actor's call to a store method and back: the fourteen operations of spec §4.

``dispatch(store, operation, payload)`` decodes the request with the codec's record, checks
what every back end must refuse alike (a negative expiry, numbers outside 64 bits), calls the
store, and encodes the response in the spec's exact shape. ``run_sync`` drives it to the end
without an event loop when the store never suspends (the memory store), which is how the
synchronous provider answers on the calling thread with the same code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from providers.codec import (
    AddRequest,
    AddResponse,
    ClearRequest,
    ClearResponse,
    CountResponse,
    DelRequest,
    DelResponse,
    GetRequest,
    GetResponse,
    KeyExistsRequest,
    KeyExistsResponse,
    KeyValueRequest,
    ListItemDeleteRequest,
    PushRequest,
    RangeRequest,
    RangeResponse,
    Record,
    SetAddRequest,
    SetIntersectionRequest,
    SetIntersectionResponse,
    SetQueryRequest,
    SetQueryResponse,
    SetRemoveRequest,
    SetRequest,
    SetResponse,
    SetUnionRequest,
    SetUnionResponse,
)
from providers.keyvalue.errors import InvalidRequestError
from providers.keyvalue.store import INT64_MAX, INT64_MIN, KeyValueStore

__all__ = ["MAX_EXPIRES", "OPERATIONS", "dispatch", "run_sync"]

T = TypeVar("T")
MAX_EXPIRES = 2**32 - 1
"""The longest ``Set`` lifetime in seconds (waSCC's codec carried it as a u32)."""
Handler = Callable[[KeyValueStore, bytes], Awaitable[Record]]


def _int64(name: str, value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequestError(f"{name}={value} is outside the 64-bit integer range")
    return value


async def _get(store: KeyValueStore, payload: bytes) -> Record:
    value = await store.get(GetRequest.decode(payload).key)
    return GetResponse(value="" if value is None else value, exists=value is not None)


async def _set(store: KeyValueStore, payload: bytes) -> Record:
    request = SetRequest.decode(payload)
    if not 0 <= request.expires <= MAX_EXPIRES:
        raise InvalidRequestError(
            f"expires={request.expires}: give the lifetime in seconds (at most {MAX_EXPIRES}), "
            "or 0 for never"
        )
    await store.set(request.key, request.value, request.expires)
    return SetResponse(value=request.value)


async def _add(store: KeyValueStore, payload: bytes) -> Record:
    request = AddRequest.decode(payload)
    total = await store.add(request.key, _int64("value", request.value))
    return AddResponse(value=total)


async def _del(store: KeyValueStore, payload: bytes) -> Record:
    key = DelRequest.decode(payload).key
    await store.delete(key)
    return DelResponse(key=key)


async def _clear(store: KeyValueStore, payload: bytes) -> Record:
    key = ClearRequest.decode(payload).key
    await store.delete(key)  # an empty list does not exist, so clearing deletes the key
    return ClearResponse(key=key)


async def _range(store: KeyValueStore, payload: bytes) -> Record:
    request = RangeRequest.decode(payload)
    start, stop = _int64("start", request.start), _int64("stop", request.stop)
    return RangeResponse(values=tuple(await store.list_range(request.key, start, stop)))


def _counting(
    request: type[KeyValueRequest],
    method: Callable[[KeyValueStore], Callable[[str, str], Awaitable[int]]],
) -> Handler:
    """A ``{key, value}`` → ``{newCount}`` operation (Push, ListItemDelete, SetAdd, ...)."""

    async def handle(store: KeyValueStore, payload: bytes) -> Record:
        message = request.decode(payload)
        return CountResponse(new_count=await method(store)(message.key, message.value))

    return handle


async def _set_query(store: KeyValueStore, payload: bytes) -> Record:
    key = SetQueryRequest.decode(payload).key
    return SetQueryResponse(values=tuple(await store.set_members(key)))


async def _set_union(store: KeyValueStore, payload: bytes) -> Record:
    keys = SetUnionRequest.decode(payload).keys
    return SetUnionResponse(values=tuple(await store.set_union(keys)) if keys else ())


async def _set_intersection(store: KeyValueStore, payload: bytes) -> Record:
    keys = SetIntersectionRequest.decode(payload).keys
    return SetIntersectionResponse(values=tuple(await store.set_intersection(keys)) if keys else ())


async def _key_exists(store: KeyValueStore, payload: bytes) -> Record:
    exists = await store.exists(KeyExistsRequest.decode(payload).key)
    return KeyExistsResponse(value="", exists=exists)


OPERATIONS: dict[str, Handler] = {
    "Get": _get,
    "Set": _set,
    "Add": _add,
    "Del": _del,
    "Clear": _clear,
    "Range": _range,
    "Push": _counting(PushRequest, lambda s: s.list_push),
    "ListItemDelete": _counting(ListItemDeleteRequest, lambda s: s.list_remove),
    "SetAdd": _counting(SetAddRequest, lambda s: s.set_add),
    "SetRemove": _counting(SetRemoveRequest, lambda s: s.set_remove),
    "SetUnion": _set_union,
    "SetIntersection": _set_intersection,
    "SetQuery": _set_query,
    "KeyExists": _key_exists,
}
"""The fourteen operations of ``wascc:keyvalue``, by name."""


async def dispatch(store: KeyValueStore, operation: str, payload: bytes) -> bytes:
    """Serve one call: decode, run on ``store``, encode. Unknown operations, undecodable
    payloads and refused requests raise ``KeyValueError`` subclasses or ``CodecError``."""
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise InvalidRequestError(
            f"there is no operation {operation!r}; the contract has {', '.join(OPERATIONS)}"
        )
    return (await handler(store, payload)).encode()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end on this thread, without a loop.

    Used with the memory store only, whose methods never await anything; a coroutine that
    does suspend is closed and reported as a programming error."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("run_sync: the coroutine suspended; it needs an event loop")
