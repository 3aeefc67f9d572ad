"""WAT building blocks for the engine tests: the waPC imports, a memory layout, a handler."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import wasmtime

from wascc.host.wapc import WapcInstance

__all__ = [
    "DATA",
    "ECHO",
    "MSG",
    "OP",
    "SCRATCH",
    "WAPC_IMPORTS",
    "WILD",
    "MakeInstance",
    "RecordingHandler",
    "actor",
    "digest",
    "wat",
]

MakeInstance = Callable[..., WapcInstance]
"""``make_instance(module, handler=None, *, limits=None, fuel=False)``"""

WAPC_IMPORTS = """
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
"""

# Guest memory layout of the test actors: the operation at OP, the payload at MSG, constant
# strings from DATA, free scratch space at SCRATCH.
OP = 0x0
MSG = 0x10000
DATA = 0x200000
SCRATCH = 0x210000
WILD = 0xFFFFFF00


def actor(body: str, *, extra: str = "", pages: int = 40, imports: str = WAPC_IMPORTS) -> bytes:
    """A waPC actor whose ``__guest_call`` fetches the request, then runs ``body``.

    ``body`` ends with the i32 result; it may use locals ``$op_len``, ``$msg_len``, ``$n``,
    ``$i`` and everything in ``extra`` (data segments, helper functions, exports).
    """
    return wat(
        f"""(module {imports}
          (memory (export "memory") {pages})
          {extra}
          (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
            (local $n i32) (local $i i32)
            (call $guest_request (i32.const {OP}) (i32.const {MSG}))
            {body}))"""
    )


def wat(text: str) -> bytes:
    """Text format to a wasm binary."""
    return bytes(wasmtime.wat2wasm(text))


def digest(module: bytes) -> str:
    return hashlib.sha256(module).hexdigest()


ECHO = actor(f"(call $guest_response (i32.const {MSG}) (local.get $msg_len)) (i32.const 1)")


class RecordingHandler:
    """A host-call handler that records what it is given and answers through ``answer``."""

    def __init__(self, answer: Callable[[str, str, str, bytes], bytes] | None = None) -> None:
        self.calls: list[tuple[str, str, str, bytes]] = []
        self.lines: list[str] = []
        self._answer = answer

    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        self.calls.append((binding, namespace, operation, payload))
        if self._answer is None:
            return payload
        return self._answer(binding, namespace, operation, payload)

    def console_log(self, line: str) -> None:
        self.lines.append(line)
