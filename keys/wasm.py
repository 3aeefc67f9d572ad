"""A small walker over the sections of a WebAssembly module: the signing token lives in one.

A module is the 8 bytes ``\\0asm`` + version 1, then sections, each ``id (1 byte) +
uleb128(size) + payload``. A custom section (id 0) starts its payload with a name; the signing
token is the rest of a custom section named ``jwt`` (``wasmcloud_jwt`` from newer tools). A
module carries at most one such section: reading the token of a module with several raises
``AmbiguousClaims``, while hashing and re-signing (which replaces them all) still work on it.

Only section headers are read, never code, so walking a 2 MB module touches a few dozen bytes.
:func:`module_hash` feeds the module to SHA-256 in long runs of memoryview slices in the same
pass: loading a cached actor must cost well under 10 ms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, TypeAlias

from wascc.keys.errors import AmbiguousClaims, NotAModule, TokenMalformed

__all__ = [
    "TOKEN_SECTION",
    "TOKEN_SECTIONS",
    "ExportKind",
    "ModuleBytes",
    "Scan",
    "Section",
    "embed_token",
    "exports",
    "find_token",
    "iter_sections",
    "module_hash",
    "scan",
    "strip_token",
]

ModuleBytes: TypeAlias = bytes | bytearray | memoryview
ExportKind = Literal["func", "table", "memory", "global", "tag"]

TOKEN_SECTION: Final = "jwt"  # what we write
TOKEN_SECTIONS: Final = frozenset({"jwt", "wasmcloud_jwt"})  # what we read (and strip)

_HEADER: Final = b"\0asm\x01\0\0\0"
_CUSTOM: Final = 0
_EXPORT: Final = 7
_MAX_SECTION_ID: Final = 13  # 12 = data count (bulk memory), 13 = tag (exception handling)
_EXPORT_KINDS: Final[tuple[ExportKind, ...]] = ("func", "table", "memory", "global", "tag")
_SIGN_IT: Final = "pass the compiled .wasm file"


@dataclass(frozen=True, slots=True)
class Section:
    """Where one section lies in the module: offsets into the module's bytes."""

    id: int
    start: int  # offset of the id byte
    data_start: int  # offset of the payload, after id and size
    end: int  # one past the payload
    name: str | None = None  # custom sections only
    body_start: int = 0  # custom sections: offset after the name; others: data_start

    @property
    def size(self) -> int:
        """Payload size in bytes."""
        return self.end - self.data_start


def _uleb(view: memoryview, pos: int, limit: int, what: str, path: str | None) -> tuple[int, int]:
    """Read an unsigned LEB128 u32 at ``pos``; return ``(value, position after it)``."""
    result = shift = 0
    while True:
        if pos >= limit:
            raise NotAModule(f"truncated {what} at offset {pos}; {_SIGN_IT}", path=path)
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 35:  # a u32 takes at most 5 bytes
            raise NotAModule(f"over-long {what} at offset {pos}; {_SIGN_IT}", path=path)


def _uleb_bytes(value: int) -> bytes:
    """Minimal unsigned LEB128 encoding of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _view(module: ModuleBytes, path: str | None) -> memoryview:
    view = memoryview(module)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    if len(view) < 8 or view[:4] != _HEADER[:4]:
        raise NotAModule(f"not a WebAssembly module (no \\0asm magic); {_SIGN_IT}", path=path)
    if view[4:8] != _HEADER[4:]:
        # Components (the component model) share the magic but not the version.
        raise NotAModule(
            "a WebAssembly file of an unsupported version or a component, not a core module; "
            "build a core wasm module",
            path=path,
        )
    return view


def iter_sections(module: ModuleBytes, *, path: str | None = None) -> Iterator[Section]:
    """Yield every section in order; raise ``NotAModule`` on bad magic or truncation."""
    view = _view(module, path)
    pos, total = 8, len(view)
    while pos < total:
        section_id = view[pos]
        if section_id > _MAX_SECTION_ID:
            raise NotAModule(
                f"unknown section id {section_id} at offset {pos}: the file is damaged; {_SIGN_IT}",
                path=path,
            )
        size, data_start = _uleb(view, pos + 1, total, "section size", path)
        end = data_start + size
        if end > total:
            raise NotAModule(
                f"truncated module: a section at offset {pos} runs {end - total} bytes past "
                f"the end of the file; {_SIGN_IT}",
                path=path,
            )
        name, body_start = None, data_start
        if section_id == _CUSTOM:
            name_len, name_start = _uleb(view, data_start, end, "custom section name", path)
            body_start = name_start + name_len
            if body_start > end:
                raise NotAModule(
                    f"custom section at offset {pos} has a name longer than the section; "
                    f"{_SIGN_IT}",
                    path=path,
                )
            name = bytes(view[name_start:body_start]).decode("utf-8", "replace")
        yield Section(section_id, pos, data_start, end, name, body_start)
        pos = end


def _token_text(view: memoryview, tokens: list[Section], path: str | None) -> str | None:
    """The text of the one token section in ``tokens``; None if there is none.

    More than one is refused whatever their names: if readers disagreed on which token wins, a
    token appended to a signed module could grant capabilities its signer never saw.
    """
    if not tokens:
        return None
    if len(tokens) > 1:
        names = ", ".join(repr(section.name) for section in tokens)
        raise AmbiguousClaims(
            f"the module carries {len(tokens)} claims sections ({names}) where one is allowed, "
            "so which token governs it is ambiguous; strip them and sign it once with "
            "`wascc claims sign`, which replaces every claims section",
            path=path,
        )
    chosen = tokens[0]
    try:
        return bytes(view[chosen.body_start : chosen.end]).decode("ascii")
    except UnicodeDecodeError:
        raise TokenMalformed(
            f"the {chosen.name!r} section does not hold an ASCII token; re-sign it with "
            "`wascc claims sign`",
            path=path,
        ) from None


def find_token(module: ModuleBytes, *, path: str | None = None) -> str | None:
    """The token embedded in ``module``, or None if it is not signed.

    The token lives in a ``jwt`` or a ``wasmcloud_jwt`` section; a module with more than one
    such section raises ``AmbiguousClaims``.
    """
    view = _view(module, path)
    tokens = [s for s in iter_sections(view, path=path) if s.name in TOKEN_SECTIONS]
    return _token_text(view, tokens, path)


def strip_token(module: ModuleBytes, *, path: str | None = None) -> bytes:
    """``module`` without any ``jwt``/``wasmcloud_jwt`` section (other bytes unchanged)."""
    view = _view(module, path)
    parts: list[memoryview] = [view[:8]]
    for section in iter_sections(view, path=path):
        if section.name not in TOKEN_SECTIONS:
            parts.append(view[section.start : section.end])
    return b"".join(parts)


def embed_token(module: ModuleBytes, token: str, *, path: str | None = None) -> bytes:
    """``module`` with ``token`` as its last section, replacing any token already there."""
    name = TOKEN_SECTION.encode("ascii")
    payload = _uleb_bytes(len(name)) + name + token.encode("ascii")
    section = bytes([_CUSTOM]) + _uleb_bytes(len(payload)) + payload
    return strip_token(module, path=path) + section


class Scan(NamedTuple):
    """What loading a signed module needs, from one walk: the token and the module hash."""

    token: str | None
    hash: str


def scan(module: ModuleBytes, *, path: str | None = None) -> Scan:
    """Find the token and compute :func:`module_hash` in a single pass over ``module``.

    Raises ``AmbiguousClaims`` when the module carries more than one token section.
    """
    view = _view(module, path)
    tokens, digest = _walk(view, path)
    return Scan(_token_text(view, tokens, path), digest)


def module_hash(module: ModuleBytes, *, path: str | None = None) -> str:
    """Uppercase hex SHA-256 of ``module`` without its token sections, as claims record it.

    Unlike :func:`scan` this accepts a module with several token sections: signing such a
    module (which replaces them all) is how it is repaired.
    """
    return _walk(_view(module, path), path)[1]


def _walk(view: memoryview, path: str | None) -> tuple[list[Section], str]:
    """The token sections of a module and its hash, from one walk over the section headers.

    Sections are hashed as ``id + minimal uleb128(size) + payload``. When a section's header is
    already minimal (nearly always) its bytes are hashed where they lie, and neighbouring
    sections are fed to SHA-256 as one memoryview slice: no copy of the module is made.
    """
    digest = hashlib.sha256()
    tokens: list[Section] = []
    run_start, run_end = 0, 8  # bytes still to hash as they lie: magic, version, sections
    for section in iter_sections(view, path=path):
        is_token = section.name in TOKEN_SECTIONS
        minimal = section.data_start - section.start - 1 == len(_uleb_bytes(section.size))
        if not is_token and minimal and section.start == run_end:
            run_end = section.end
            continue
        digest.update(view[run_start:run_end])
        run_start = run_end = section.end
        if is_token:
            tokens.append(section)
        else:
            # A padded size (valid wasm, rare) is re-emitted minimally, as the hash is defined.
            digest.update(bytes([section.id]) + _uleb_bytes(section.size))
            digest.update(view[section.data_start : section.end])
    digest.update(view[run_start:run_end])
    return tokens, digest.hexdigest().upper()


def exports(module: ModuleBytes, *, path: str | None = None) -> list[tuple[str, ExportKind]]:
    """The ``(name, kind)`` of every export, to tell a waPC actor (``__guest_call``) apart."""
    view = _view(module, path)
    result: list[tuple[str, ExportKind]] = []
    for section in iter_sections(view, path=path):
        if section.id != _EXPORT:
            continue
        count, pos = _uleb(view, section.data_start, section.end, "export count", path)
        for _ in range(count):
            name_len, pos = _uleb(view, pos, section.end, "export name", path)
            name_end = pos + name_len
            if name_end + 1 > section.end:
                raise NotAModule(f"truncated export section; {_SIGN_IT}", path=path)
            name = bytes(view[pos:name_end]).decode("utf-8", "replace")
            kind = view[name_end]
            if kind >= len(_EXPORT_KINDS):
                raise NotAModule(f"unknown export kind {kind}; {_SIGN_IT}", path=path)
            _, pos = _uleb(view, name_end + 1, section.end, "export index", path)
            result.append((name, _EXPORT_KINDS[kind]))
    return result
