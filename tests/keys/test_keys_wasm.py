"""The section walker: token sections, module hash, exports, and damaged input."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable

import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from wascc.keys.claims import sign_module, validate_module
from wascc.keys.errors import AmbiguousClaims, ClaimsError, NotAModule, TokenMalformed
from wascc.keys.nkeys import KeyPair
from wascc.keys.wasm import (
    TOKEN_SECTIONS,
    embed_token,
    exports,
    find_token,
    iter_sections,
    module_hash,
    scan,
    strip_token,
)

AddSection = Callable[[bytes, str, bytes], bytes]


def test_sections_and_exports(actor_wasm: bytes) -> None:
    """The walker finds the standard sections and the actor's two exports."""
    ids = [section.id for section in iter_sections(actor_wasm)]
    assert ids == [1, 3, 5, 7, 10]  # type, function, memory, export, code
    assert exports(actor_wasm) == [("memory", "memory"), ("__guest_call", "func")]


def test_embed_find_strip(actor_wasm: bytes) -> None:
    """An embedded token is the last section, found again, and stripping restores the module."""
    signed = embed_token(actor_wasm, "a.b.c")
    last = list(iter_sections(signed))[-1]
    assert (last.id, last.name) == (0, "jwt")
    assert find_token(signed) == "a.b.c"
    assert find_token(actor_wasm) is None
    assert strip_token(signed) == actor_wasm


def test_embed_replaces_old_tokens(actor_wasm: bytes, add_section: AddSection) -> None:
    """Embedding drops every jwt and wasmcloud_jwt section and writes a single jwt one."""
    module = add_section(add_section(actor_wasm, "wasmcloud_jwt", b"old.1.x"), "jwt", b"old.2.x")
    signed = embed_token(embed_token(module, "first.a.b"), "second.a.b")
    names = [section.name for section in iter_sections(signed) if section.id == 0]
    assert names == ["jwt"]
    assert find_token(signed) == "second.a.b"


def test_wasmcloud_jwt_is_read(actor_wasm: bytes, add_section: AddSection) -> None:
    """Newer tools' wasmcloud_jwt section is read like a jwt one."""
    assert find_token(add_section(actor_wasm, "wasmcloud_jwt", b"w.x.y")) == "w.x.y"
    assert scan(add_section(actor_wasm, "wasmcloud_jwt", b"w.x.y")).token == "w.x.y"


@pytest.mark.parametrize(
    "names",
    [
        ("jwt", "jwt"),
        ("jwt", "wasmcloud_jwt"),
        ("wasmcloud_jwt", "jwt"),
        ("wasmcloud_jwt", "wasmcloud_jwt"),
        ("jwt", "wasmcloud_jwt", "jwt"),
    ],
    ids="+".join,
)
def test_several_token_sections_are_ambiguous(
    actor_wasm: bytes, add_section: AddSection, names: tuple[str, ...]
) -> None:
    """Two or more token sections, of any names, make find_token and scan raise AmbiguousClaims."""
    module = actor_wasm
    for number, name in enumerate(names):
        module = add_section(module, name, f"token{number}.x.y".encode())
    for read in (find_token, scan):
        with pytest.raises(AmbiguousClaims) as info:
            read(module, path="two.wasm")
        message = str(info.value)
        assert message.startswith(f"two.wasm: the module carries {len(names)} claims sections (")
        assert ", ".join(repr(name) for name in names) in message
        assert "strip them and sign it once with `wascc claims sign`" in message
        assert info.value.path == "two.wasm"
        assert isinstance(info.value, TokenMalformed)


def test_ambiguous_module_still_hashes_and_re_embeds(
    actor_wasm: bytes, add_section: AddSection
) -> None:
    """module_hash and embed_token accept several token sections, so re-signing repairs them."""
    module = add_section(add_section(actor_wasm, "jwt", b"a.b.c"), "wasmcloud_jwt", b"d.e.f")
    assert module_hash(module) == module_hash(actor_wasm)
    repaired = embed_token(module, "new.t.k")
    assert [section.name for section in iter_sections(repaired) if section.id == 0] == ["jwt"]
    assert scan(repaired) == ("new.t.k", module_hash(actor_wasm))


def test_non_ascii_token_is_malformed(actor_wasm: bytes, add_section: AddSection) -> None:
    """A token section holding non-ASCII bytes is a malformed token, not a crash."""
    with pytest.raises(TokenMalformed, match="ASCII"):
        find_token(add_section(actor_wasm, "jwt", "é".encode()))


def test_hash_ignores_token_and_matches_plain_sha256(
    actor_wasm: bytes, add_section: AddSection
) -> None:
    """The hash is SHA-256 of the module without token sections, wherever they sit."""
    expected = hashlib.sha256(actor_wasm).hexdigest().upper()
    assert module_hash(actor_wasm) == expected
    assert module_hash(embed_token(actor_wasm, "t.o.k")) == expected
    other_custom = add_section(actor_wasm, "name", b"\x00")
    assert module_hash(other_custom) != expected
    assert scan(embed_token(actor_wasm, "t.o.k")) == ("t.o.k", expected)


def test_hash_re_emits_padded_sizes_minimally(actor_wasm: bytes) -> None:
    """A section size written with a padded LEB128 hashes like its minimal encoding."""
    first = next(iter_sections(actor_wasm))
    assert first.data_start - first.start == 2  # one-byte size
    size = actor_wasm[first.start + 1]
    padded = actor_wasm[:9] + bytes([size | 0x80, 0x80, 0x00]) + actor_wasm[10:]
    assert padded != actor_wasm
    assert [s.id for s in iter_sections(padded)] == [1, 3, 5, 7, 10]
    assert module_hash(padded) == module_hash(actor_wasm)
    assert module_hash(embed_token(padded, "t.o.k")) == module_hash(actor_wasm)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world, not wasm", "no \\\\0asm magic"),
        (b"\0asm", "no \\\\0asm magic"),
        (b"\0asm\x0d\x00\x01\x00", "component"),
        (b"\0asm\x01\0\0\0\x0e\x00", "unknown section id 14"),
        (b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\xff\x01", "over-long section size"),
        (b"\0asm\x01\0\0\0\x00\x02\x09a", "name longer than the section"),
    ],
)
def test_garbage_is_not_a_module(data: bytes, message: str) -> None:
    """Text, wrong versions, unknown sections and bad sizes raise NotAModule."""
    with pytest.raises(NotAModule, match=message):
        module_hash(data, path="bad.wasm")


def test_every_truncation_is_caught(actor_wasm: bytes) -> None:
    """Cutting a signed module anywhere but a section boundary raises NotAModule."""
    signed = embed_token(actor_wasm, "a.b.c")
    boundaries = {8} | {section.end for section in iter_sections(signed)}
    for cut in range(len(signed)):
        if cut in boundaries:
            module_hash(signed[:cut])
            continue
        with pytest.raises(NotAModule):
            module_hash(signed[:cut])


@given(tail=st.binary(max_size=64))
def test_fuzzed_sections_raise_only_not_a_module(tail: bytes) -> None:
    """Random bytes after a valid header walk cleanly or raise NotAModule, nothing else."""
    module = b"\0asm\x01\0\0\0" + tail
    try:
        scan(module)
        exports(module)
    except (NotAModule, TokenMalformed):
        pass


_BASE = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "f")))'))
_BOUNDARIES = [8, *(section.end for section in iter_sections(_BASE))]
_placed_sections = st.lists(
    st.tuples(
        st.integers(0, len(_BOUNDARIES) - 1),
        st.sampled_from(["jwt", "wasmcloud_jwt", "name", "jwt2"]),
        st.binary(max_size=12),
    ),
    max_size=4,
)


@given(placed=_placed_sections, tail=st.binary(max_size=8))
def test_token_sections_anywhere(placed: list[tuple[int, str, bytes]], tail: bytes) -> None:
    """With 0 to 4 token sections anywhere, module_hash never fails and scan finds the only
    token or refuses several; a damaged tail raises only NotAModule or a ClaimsError."""
    pieces = [_BASE[start:end] for start, end in itertools.pairwise([0, *_BOUNDARIES])]
    ordered = sorted(placed, key=lambda item: item[0])  # stable: same-place sections keep order
    for where, name, body in ordered:
        encoded = name.encode()
        payload = bytes([len(encoded)]) + encoded + body
        pieces[where] += bytes([0, len(payload)]) + payload  # payloads stay under 128 bytes
    module = b"".join(pieces)
    bodies = [body for _, name, body in ordered if name in TOKEN_SECTIONS]

    assert module_hash(module) == hashlib.sha256(strip_token(module)).hexdigest().upper()
    if len(bodies) > 1:
        with pytest.raises(AmbiguousClaims, match=f"carries {len(bodies)} claims sections"):
            scan(module)
        with pytest.raises(AmbiguousClaims):
            find_token(module)
    elif bodies and not bodies[0].isascii():
        with pytest.raises(TokenMalformed, match="ASCII"):
            scan(module)
    else:
        expected = bodies[0].decode() if bodies else None
        assert scan(module).token == find_token(module) == expected
    try:
        module_hash(module + tail)
        scan(module + tail)
    except (NotAModule, ClaimsError):
        pass


def test_accepts_bytearray_and_memoryview(actor_wasm: bytes) -> None:
    """Modules may be handed over as bytes, bytearray or memoryview alike."""
    expected = module_hash(actor_wasm)
    assert module_hash(bytearray(actor_wasm)) == expected
    assert module_hash(memoryview(actor_wasm)) == expected


def test_validating_a_2mb_module_is_fast(actor_wasm: bytes, add_section: AddSection) -> None:
    """Hash plus signature check of a 2 MB signed module takes well under 10 ms."""
    big = add_section(actor_wasm, "blob", bytes(range(256)) * 8192)
    account, module = KeyPair.generate("account"), KeyPair.generate("module")
    signed = sign_module(big, issuer=account, subject=module, name="big")
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        validate_module(signed)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.010
