"""Helpers for the provider tests: a forwarding actor, free ports, bounded waiting."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import wasmtime

from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair

__all__ = [
    "HTTP",
    "Handler",
    "ServeActor",
    "Served",
    "SignerLike",
    "eventually",
    "forwarder_wat",
    "free_port",
    "sign_forwarder",
]

HTTP = "wascc:http_server"


def forwarder_wat(namespace: str) -> str:
    """WAT of an actor that forwards every call (operation and payload unchanged) to
    ``namespace`` on binding ``default``: the host's answer becomes its result, the host's
    error its guest error. It lets tests drive a provider through a real actor."""
    ns = namespace.encode()
    return f"""(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "default")
  (data (i32.const 16) "{namespace}")
  (func $ensure (param $end i32)
    (local $pages i32)
    (local.set $pages (i32.sub
      (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
        (then unreachable)))))
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $msg i32) (local $out i32) (local $len i32)
    (local.set $msg (i32.add (i32.const 1024) (local.get $op_len)))
    (local.set $out (i32.add (local.get $msg) (local.get $msg_len)))
    (call $ensure (local.get $out))
    (call $guest_request (i32.const 1024) (local.get $msg))
    (if (i32.eq (call $host_call (i32.const 0) (i32.const 7) (i32.const 16) (i32.const {len(ns)})
          (i32.const 1024) (local.get $op_len) (local.get $msg) (local.get $msg_len))
          (i32.const 1))
      (then
        (local.set $len (call $host_response_len))
        (call $ensure (i32.add (local.get $out) (local.get $len)))
        (call $host_response (local.get $out))
        (call $guest_response (local.get $out) (local.get $len))
        (return (i32.const 1))))
    (local.set $len (call $host_error_len))
    (call $ensure (i32.add (local.get $out) (local.get $len)))
    (call $host_error (local.get $out))
    (call $guest_error (local.get $out) (local.get $len))
    (i32.const 0)))
"""


class SignerLike(Protocol):
    """The part of the root conftest's ``Signer`` these helpers use."""

    account: KeyPair

    def module_key(self, name: str) -> KeyPair: ...

    def sign(self, module: str, *, name: str | None = None, caps: Iterable[str] = ()) -> bytes: ...


def sign_forwarder(signer: SignerLike, name: str, namespace: str, caps: Iterable[str]) -> bytes:
    """A signed forwarder actor called ``name`` (see ``forwarder_wat``)."""
    module = wasmtime.wat2wasm(forwarder_wat(namespace))
    return sign_module(
        bytes(module), issuer=signer.account, subject=signer.module_key(name), name=name, caps=caps
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    check: Callable[[], bool], *, timeout: float = 5.0, state: Callable[[], object] | None = None
) -> None:
    """Wait (bounded) until ``check()`` holds; ``state()`` is shown if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            seen = f": {state()!r}" if state is not None else ""
            raise AssertionError(f"condition not reached in {timeout:g}s{seen}")
        await asyncio.sleep(0.01)


@dataclass
class Served:
    """An actor bound to the HTTP provider: its key and the base URL of its listener."""

    key: str
    url: str
    port: int


ServeActor = Callable[..., Awaitable[Served]]
Handler = Callable[[str, str, str, bytes], Awaitable[bytes]]
