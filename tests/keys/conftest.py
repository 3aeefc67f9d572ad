"""Fixtures for the keys tests: an isolated keys directory, key pairs, a real waPC actor module."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wascc.keys.jwt import encode_token
from wascc.keys.nkeys import KeyPair

# A minimal waPC-shaped actor: exports `memory` and `__guest_call`, with a code section.
ACTOR_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    i32.const 1))
"""
NOW = 1_700_000_000  # a fixed clock for time-window tests


@functools.cache
def _actor_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm(ACTOR_WAT))


@pytest.fixture(autouse=True)
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every keys test gets its own keys directory; ~/.wascc is never touched."""
    directory = tmp_path / "wascc-keys"
    monkeypatch.setenv("WASCC_KEYS", str(directory))
    return directory


@pytest.fixture
def account() -> KeyPair:
    """A fresh account key (the issuer of signed actors)."""
    return KeyPair.generate("account")


@pytest.fixture
def module_key() -> KeyPair:
    """A fresh module key (an actor's identity)."""
    return KeyPair.generate("module")


@pytest.fixture
def actor_wasm() -> bytes:
    """An unsigned module exporting `memory` and `__guest_call`."""
    return _actor_wasm()


@pytest.fixture
def actor_file(tmp_path: Path, actor_wasm: bytes) -> Path:
    """The unsigned actor written to disk as actor.wasm."""
    path = tmp_path / "actor.wasm"
    path.write_bytes(actor_wasm)
    return path


ForgeModule = Callable[..., bytes]


def _module_with_claims(
    module: bytes, signer: KeyPair, claims: dict[str, Any], *, section: str = "jwt"
) -> bytes:
    token = encode_token(claims, signer)
    return with_section(module, section, token.encode())


def with_section(module: bytes, name: str, body: bytes) -> bytes:
    """``module`` with a custom section ``name`` holding ``body`` appended as is."""
    encoded = name.encode()
    payload = bytes([len(encoded)]) + encoded + body
    return module + bytes([0]) + uleb(len(payload)) + payload


@pytest.fixture
def forge_module() -> ForgeModule:
    """Build ``module`` carrying a token over arbitrary claims (ones `sign_module` refuses).

    Called as ``forge_module(module, signer, claims, section="jwt")``.
    """
    return _module_with_claims


@pytest.fixture
def add_section() -> Callable[[bytes, str, bytes], bytes]:
    """Append a raw custom section: ``add_section(module, name, body)``."""
    return with_section


def uleb(value: int) -> bytes:
    """Minimal unsigned LEB128, written independently of keys.wasm for cross-checking."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
