"""Key-value messages, contract ``wascc:keyvalue`` (actor → provider): one request and one
response record per operation. Operations whose messages have the same shape share a base
class, so a provider can handle, say, every ``{key}`` request alike."""

from __future__ import annotations

from dataclasses import dataclass

from wascc.providers.codec._record import Record

__all__ = [
    "AddRequest",
    "AddResponse",
    "ClearRequest",
    "ClearResponse",
    "CountResponse",
    "DelRequest",
    "DelResponse",
    "GetRequest",
    "GetResponse",
    "KeyExistsRequest",
    "KeyExistsResponse",
    "KeyRequest",
    "KeyResponse",
    "KeyValueRequest",
    "KeysRequest",
    "ListItemDeleteRequest",
    "ListItemDeleteResponse",
    "PushRequest",
    "PushResponse",
    "RangeRequest",
    "RangeResponse",
    "SetAddRequest",
    "SetAddResponse",
    "SetIntersectionRequest",
    "SetIntersectionResponse",
    "SetQueryRequest",
    "SetQueryResponse",
    "SetRemoveRequest",
    "SetRemoveResponse",
    "SetRequest",
    "SetResponse",
    "SetUnionRequest",
    "SetUnionResponse",
    "ValuesResponse",
]

# Shapes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyRequest(Record):
    """``{key}``."""

    key: str


@dataclass(frozen=True, slots=True)
class KeyValueRequest(Record):
    """``{key, value}`` with a string value."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class KeysRequest(Record):
    """``{keys: [str]}``."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyResponse(Record):
    """``{key}``: the key the operation acted on."""

    key: str


@dataclass(frozen=True, slots=True)
class CountResponse(Record):
    """``{newCount}``: the list's or set's size after the operation."""

    new_count: int


@dataclass(frozen=True, slots=True)
class ValuesResponse(Record):
    """``{values: [str]}``."""

    values: tuple[str, ...] = ()


# Operations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetRequest(KeyRequest):
    """``Get``: read a string value."""


@dataclass(frozen=True, slots=True)
class GetResponse(Record):
    """``Get``: ``{value, exists}``; a missing key is ``""`` and false."""

    value: str = ""
    exists: bool = False


@dataclass(frozen=True, slots=True)
class SetRequest(Record):
    """``Set``: ``{key, value, expires}`` (seconds; 0 means never)."""

    key: str
    value: str
    expires: int = 0


@dataclass(frozen=True, slots=True)
class SetResponse(Record):
    """``Set``: ``{value}``, the value stored."""

    value: str = ""


@dataclass(frozen=True, slots=True)
class AddRequest(Record):
    """``Add``: ``{key, value}`` adds an integer (creating the key at 0)."""

    key: str
    value: int


@dataclass(frozen=True, slots=True)
class AddResponse(Record):
    """``Add``: ``{value}``, the new total."""

    value: int


@dataclass(frozen=True, slots=True)
class DelRequest(KeyRequest):
    """``Del``: delete a key."""


@dataclass(frozen=True, slots=True)
class DelResponse(KeyResponse):
    """``Del``: ``{key}``."""


@dataclass(frozen=True, slots=True)
class ClearRequest(KeyRequest):
    """``Clear``: empty a list."""


@dataclass(frozen=True, slots=True)
class ClearResponse(KeyResponse):
    """``Clear``: ``{key}``."""


@dataclass(frozen=True, slots=True)
class RangeRequest(Record):
    """``Range``: ``{key, start, stop}`` of a list, ``stop`` inclusive."""

    key: str
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class RangeResponse(ValuesResponse):
    """``Range``: ``{values}``."""


@dataclass(frozen=True, slots=True)
class PushRequest(KeyValueRequest):
    """``Push``: append to a list."""


@dataclass(frozen=True, slots=True)
class PushResponse(CountResponse):
    """``Push``: ``{newCount}``."""


@dataclass(frozen=True, slots=True)
class ListItemDeleteRequest(KeyValueRequest):
    """``ListItemDelete``: remove a value from a list."""


@dataclass(frozen=True, slots=True)
class ListItemDeleteResponse(CountResponse):
    """``ListItemDelete``: ``{newCount}``."""


@dataclass(frozen=True, slots=True)
class SetAddRequest(KeyValueRequest):
    """``SetAdd``: add a member to a set."""


@dataclass(frozen=True, slots=True)
class SetAddResponse(CountResponse):
    """``SetAdd``: ``{newCount}``."""


@dataclass(frozen=True, slots=True)
class SetRemoveRequest(KeyValueRequest):
    """``SetRemove``: remove a member from a set."""


@dataclass(frozen=True, slots=True)
class SetRemoveResponse(CountResponse):
    """``SetRemove``: ``{newCount}``."""


@dataclass(frozen=True, slots=True)
class SetUnionRequest(KeysRequest):
    """``SetUnion``: members of any of the sets."""


@dataclass(frozen=True, slots=True)
class SetUnionResponse(ValuesResponse):
    """``SetUnion``: ``{values}``."""


@dataclass(frozen=True, slots=True)
class SetIntersectionRequest(KeysRequest):
    """``SetIntersection``: members of all of the sets."""


@dataclass(frozen=True, slots=True)
class SetIntersectionResponse(ValuesResponse):
    """``SetIntersection``: ``{values}``."""


@dataclass(frozen=True, slots=True)
class SetQueryRequest(KeyRequest):
    """``SetQuery``: the members of a set."""


@dataclass(frozen=True, slots=True)
class SetQueryResponse(ValuesResponse):
    """``SetQuery``: ``{values}``."""


@dataclass(frozen=True, slots=True)
class KeyExistsRequest(KeyRequest):
    """``KeyExists``: whether a key exists."""


@dataclass(frozen=True, slots=True)
class KeyExistsResponse(Record):
    """``KeyExists``: ``{value: "", exists}``."""

    value: str = ""
    exists: bool = False
