"""The machinery behind every message record: msgpack encoding and tolerant, checked decoding.

A record is a frozen dataclass whose fields, in declaration order, are the message's fields in
the order docs/contracts.md gives. The wire name of a field is its Python name in camelCase
(``query_string`` → ``queryString``), which holds for every message there, unless the field
names it (``field(metadata={"wire": "new_count"})``: the wasmCloud 0.18 messages mix
spellings). What a field may
hold follows from its annotation:

=====================  ================  ===================================================
annotation             written as        accepted when reading
=====================  ================  ===================================================
``str``                str               str, or bin holding UTF-8
``str | None``         str or nil        the same, or nil
``bytes``              bin               bin, str (its UTF-8), or an array of byte values
``int``                int               int (not bool)
``bool``               bool              bool
``Mapping[str, str]``  map               map of str/bin to str/bin (an array of strings is
                                         joined with ``", "``, as later HTTP codecs send)
``tuple[str, ...]``    array             array of str/bin
=====================  ================  ===================================================

A field with a default is optional: missing (or nil) on the wire means the default. A field
without one is required. Unknown keys are ignored. Anything else that does not fit raises
``CodecError`` naming the message and the field.

Two more tolerances follow waSCC's own codec (serde with rmp-serde), which actors of other
toolchains rely on:

- A payload is one msgpack value; bytes after it are ignored (actors built with the 2020
  AssemblyScript waPC codec end their messages with an extra 0x00).
- A message may arrive as an array of its fields in wire order (what rmp-serde's ``to_vec``
  writes for a struct). A shorter array leaves the remaining fields to their defaults, so a
  missing required field is refused by name; a longer one is refused.

Encoding never uses either: a message is always written as a map keyed by wire name.

Values a person wrote (the JSON of ``wascc call``) are read with ``from_wire(value,
strict=True)``: a map only, and a key that is no field is refused with the closest field's
name, because a misspelt field there is a mistake to point out, not a sender's extension.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Self

import msgpack

from wascc.host.errors import WasccError
from wascc.keys.suggest import closest

__all__ = ["CodecError", "Kind", "Record", "WireField", "unpack_first"]


class CodecError(WasccError):
    """A message could not be decoded (or encoded). ``message_type`` names the record type and
    ``field`` the wire field at fault (``None`` when the payload as a whole is wrong)."""

    def __init__(self, text: str, *, message_type: str, field: str | None = None) -> None:
        self.message_type = message_type
        self.field = field
        super().__init__(text)


class Kind(enum.Enum):
    """The wire shape of a field (see the table in the module docstring)."""

    STR = "str"
    OPT_STR = "str|nil"
    BIN = "bin"
    INT = "int"
    BOOL = "bool"
    STR_MAP = "map"
    STR_LIST = "array"


_KINDS: dict[object, Kind] = {
    str: Kind.STR,
    str | None: Kind.OPT_STR,
    bytes: Kind.BIN,
    int: Kind.INT,
    bool: Kind.BOOL,
    Mapping[str, str]: Kind.STR_MAP,
    tuple[str, ...]: Kind.STR_LIST,
}


@dataclasses.dataclass(frozen=True, slots=True)
class WireField:
    """One field of a message: Python name, wire name, shape, and whether it must be present."""

    attr: str
    wire: str
    kind: Kind
    required: bool


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


class _Fail(Exception):
    """Internal: a value does not fit its field; turned into ``CodecError`` by the caller."""


def _as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Fail("bin that is not UTF-8 where a string belongs") from None
    raise _Fail(f"expected a string, got {_describe(value)}")


def _as_opt_str(value: object) -> str | None:
    return None if value is None else _as_str(value)


def _as_bin(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        # waSCC's serde codec wrote byte vectors without serde_bytes as arrays of integers.
        if all(type(b) is int for b in value):
            try:
                return bytes(value)
            except ValueError:
                raise _Fail("an array of integers that are not all bytes (0-255)") from None
        raise _Fail("an array that is not all integers where bytes belong")
    raise _Fail(f"expected bytes, got {_describe(value)}")


def _as_int(value: object) -> int:
    # bool is an int subclass in Python, but a msgpack bool is not an integer.
    if type(value) is int:
        return value
    raise _Fail(f"expected an integer, got {_describe(value)}")


def _as_bool(value: object) -> bool:
    if type(value) is bool:
        return value
    raise _Fail(f"expected a boolean, got {_describe(value)}")


def _as_str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Fail(f"expected a map, got {_describe(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        name = _as_str(key)
        if isinstance(item, list):
            out[name] = ", ".join(_as_str(part) for part in item)
        else:
            try:
                out[name] = _as_str(item)
            except _Fail as exc:
                raise _Fail(f"entry {name!r}: {exc}") from None
    return out


def _as_str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Fail(f"expected an array, got {_describe(value)}")
    return tuple(_as_str(item) for item in value)


_READERS: dict[Kind, Callable[[object], object]] = {
    Kind.STR: _as_str,
    Kind.OPT_STR: _as_opt_str,
    Kind.BIN: _as_bin,
    Kind.INT: _as_int,
    Kind.BOOL: _as_bool,
    Kind.STR_MAP: _as_str_map,
    Kind.STR_LIST: _as_str_list,
}


def _describe(value: object) -> str:
    if value is None:
        return "nil"
    names = {bytes: "bin", str: "str", int: "int", float: "float", bool: "bool"}
    names |= {list: "array", dict: "map"}
    return names.get(type(value), type(value).__name__)


_MISSING: Any = object()


class Record:
    """Base of every message record. Subclasses are ``@dataclass(frozen=True, slots=True)``."""

    __slots__ = ()

    @classmethod
    def wire_fields(cls) -> tuple[WireField, ...]:
        """The message's fields in wire order (computed once per class from its annotations)."""
        cached = _FIELD_CACHE.get(cls)
        if cached is not None:
            return cached
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(typing.cast(Any, cls)):
            kind = _KINDS.get(hints[f.name])
            if kind is None:  # a programming error in this package, caught by the tests
                raise TypeError(f"{cls.__name__}.{f.name}: no wire kind for {hints[f.name]}")
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            # A message generated with mixed spellings names a field's wire key itself.
            wire = f.metadata.get("wire") or _camel(f.name)
            specs.append(WireField(f.name, wire, kind, required))
        fields = tuple(specs)
        _FIELD_CACHE[cls] = fields
        return fields

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Self:
        """Decode a msgpack payload (its first value; what follows is ignored); ``CodecError``
        if it is not this message."""
        return cls.from_wire(unpack_first(data, cls.__name__))

    @classmethod
    def from_wire(cls, obj: object, *, strict: bool = False) -> Self:
        """Build the record from an unpacked msgpack value (or JSON-like data) with the same
        checks as ``decode``: a map keyed by wire name, or an array of the fields in wire order.

        ``strict`` is for values a person wrote: a map only, every key one of the fields."""
        name = cls.__name__
        plan = _PLANS.get(cls) or _plan(cls)
        if not isinstance(obj, dict):
            if strict or not isinstance(obj, list):
                raise CodecError(f"{name}: expected a map, got {_describe(obj)}", message_type=name)
            obj = _fields_of_array(name, plan.wires, obj)
        elif strict:
            _refuse_unknown_keys(name, plan.wires, obj)
        kwargs: dict[str, object] = {}
        for wire, attr, read, exact, required, nil_ok in plan.reads:
            value = obj.get(wire, _MISSING)
            if value is _MISSING or (value is None and not nil_ok):
                if required:
                    raise CodecError(
                        f"{name}: required field {wire!r} is missing",
                        message_type=name,
                        field=wire,
                    )
                continue
            # Values already of the field's exact type (the common case) skip the reader.
            if type(value) is not exact:
                try:
                    value = read(value)
                except _Fail as exc:
                    raise CodecError(
                        f"{name}: field {wire!r}: {exc}", message_type=name, field=wire
                    ) from None
            kwargs[attr] = value
        return cls(**kwargs)

    def to_wire(self) -> dict[str, object]:
        """The message as a dict keyed by wire name, in wire order (what ``encode`` packs)."""
        plan = _PLANS.get(type(self)) or _plan(type(self))
        out = dict(zip(plan.wires, plan.values(self), strict=True))
        for wire in plan.maps:  # msgpack packs dicts only, not every Mapping
            if type(out[wire]) is not dict:
                out[wire] = dict(typing.cast(Mapping[str, str], out[wire]))
        return out

    def encode(self) -> bytes:
        """The msgpack bytes: exactly ``msgpack.packb(self.to_wire(), use_bin_type=True)``."""
        try:
            return msgpack.packb(self.to_wire(), use_bin_type=True)  # type: ignore[no-any-return]
        except Exception as exc:  # out-of-range ints, unencodable strings, wrong types
            name = type(self).__name__
            raise CodecError(f"{name}: cannot encode: {_reason(exc)}", message_type=name) from None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def unpack_first(data: bytes | bytearray | memoryview, message_type: str) -> object:
    """The first msgpack value of ``data``, ignoring any bytes after it (as rmp-serde does);
    ``CodecError`` naming ``message_type`` if there is no valid value.

    msgpack's own limits stay in force: sizes are bounded by the length of ``data``, and
    nesting by msgpack's stack."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except msgpack.ExtraData as extra:  # the whole value was read; only trailing bytes remain
        return extra.unpacked
    except Exception as exc:  # msgpack documents that unpacking may raise any Exception
        raise CodecError(
            f"{message_type}: the payload is not valid msgpack ({_reason(exc)})",
            message_type=message_type,
        ) from None


def _fields_of_array(name: str, wires: tuple[str, ...], values: list[object]) -> dict[str, object]:
    """A message sent as an array of its fields in wire order, as the map it stands for."""
    if len(values) > len(wires):
        raise CodecError(
            f"{name}: an array of {len(values)} values, but the message has {len(wires)} "
            f"fields ({', '.join(wires)})",
            message_type=name,
        )
    return dict(zip(wires, values, strict=False))


def _refuse_unknown_keys(name: str, wires: tuple[str, ...], obj: dict[Any, object]) -> None:
    """``CodecError`` naming every key of ``obj`` that is no field, with the closest field."""
    unknown = [key for key in obj if key not in wires]
    if not unknown:
        return
    named = []
    for key in unknown:
        close = _closest_field(str(key), wires)
        named.append(f"{key!r} (did you mean {close!r}?)" if close else repr(key))
    noun = "field" if len(unknown) == 1 else "fields"
    raise CodecError(
        f"{name}: unknown {noun} {', '.join(named)}; the fields are {', '.join(wires)}",
        message_type=name,
        field=str(unknown[0]),
    )


def _closest_field(key: str, wires: tuple[str, ...]) -> str | None:
    """The field ``key`` most likely means: its camelCase spelling (``query_string``,
    ``query-string``), else the host's did-you-mean rule (case, then a close match)."""
    camel = _camel(key.replace("-", "_"))
    if camel in wires:
        return camel
    return closest(key, wires)


# The exact Python type a value of each kind already has when it needs no conversion (None:
# always convert, because the contents must be checked too).
_EXACT: dict[Kind, type | None] = {
    Kind.STR: str,
    Kind.OPT_STR: str,
    Kind.BIN: bytes,
    Kind.INT: int,
    Kind.BOOL: bool,
    Kind.STR_MAP: None,
    Kind.STR_LIST: None,
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """A record's fields flattened for the hot paths of ``from_wire`` and ``to_wire``."""

    reads: tuple[tuple[str, str, Callable[[object], object], type | None, bool, bool], ...]
    wires: tuple[str, ...]
    values: Callable[[Record], tuple[object, ...]]
    maps: tuple[str, ...]


def _plan(cls: type[Record]) -> _Plan:
    fields = cls.wire_fields()
    attrs = [f.attr for f in fields]
    getter = operator.attrgetter(*attrs)
    plan = _Plan(
        reads=tuple(
            (f.wire, f.attr, _READERS[f.kind], _EXACT[f.kind], f.required, f.kind is Kind.OPT_STR)
            for f in fields
        ),
        wires=tuple(f.wire for f in fields),
        # attrgetter of one name returns the value itself, of several a tuple.
        values=getter if len(attrs) > 1 else lambda record: (getter(record),),
        maps=tuple(f.wire for f in fields if f.kind is Kind.STR_MAP),
    )
    _PLANS[cls] = plan
    return plan


# Records use slots, so the per-class tables live here rather than on the classes.
_FIELD_CACHE: dict[type[Record], tuple[WireField, ...]] = {}
_PLANS: dict[type[Record], _Plan] = {}
