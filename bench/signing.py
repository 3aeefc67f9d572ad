"""Signing for benchmarks: every bench actor gets a fresh account and module key."""

from __future__ import annotations

from collections.abc import Iterable

from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair

__all__ = ["sign_throwaway"]


def sign_throwaway(
    module: bytes, name: str, caps: Iterable[str] = (), *, provider: bool = False
) -> bytes:
    """``module`` signed as actor ``name`` (or, ``provider``, as a capability provider) with
    ``caps`` by keys made for this call only."""
    return sign_module(
        module,
        issuer=KeyPair.generate("account"),
        subject=KeyPair.generate("service" if provider else "module"),
        name=name,
        caps=caps,
        provider=provider,
    )
