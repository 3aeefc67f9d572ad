"""The section walker: token sections, module hash, exports, and damaged input."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.claims import sign_module, validate_module
from keys.errors import NotAModule, TokenMalformed
from keys.nkeys import KeyPair
from keys.wasm import (
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


def test_wasmcloud_jwt_is_read_and_jwt_preferred(
    actor_wasm: bytes, add_section: AddSection
) -> None:
    """Newer tools' wasmcloud_jwt is read, but a jwt section wins when both exist."""
    newer = add_section(actor_wasm, "wasmcloud_jwt", b"w.x.y")
    assert find_token(newer) == "w.x.y"
    both = add_section(add_section(actor_wasm, "jwt", b"j.x.y"), "wasmcloud_jwt", b"w.x.y")
    assert find_token(both) == "j.x.y"


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
