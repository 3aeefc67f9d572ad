"""Modules built the usual wrong ways, as WAT: what ``host.toolchain.diagnose`` must name."""

from __future__ import annotations

import wasmtime

__all__ = ["ENV_ABORT", "FOREIGN_IMPORT", "NO_GUEST_CALL", "START_TRAPS", "WASI_COMMAND", "wat"]

_GUEST_CALL = """
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (call $guest_response (i32.const 1024) (local.get $msg_len))
    (i32.const 1))
"""


def wat(text: str) -> bytes:
    """Text format to a wasm binary."""
    return bytes(wasmtime.wat2wasm(text))


# What `zig cc -target wasm32-wasi hello.c` (or cargo for wasm32-wasi) makes of a program: a
# main behind _start, WASI imports, no waPC export.
WASI_COMMAND = wat(
    """(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")))"""
)

# A freestanding actor linked without --no-entry's exports: the waPC imports are there, the
# entry points the host calls are not.
NO_GUEST_CALL = wat(
    """(module
  (import "wapc" "__guest_request" (func (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "wapc_init")))"""
)

# AssemblyScript compiled without `--use abort=...`.
ENV_ABORT = wat(
    f"""(module
  (import "env" "abort" (func (param i32 i32 i32 i32)))
  {_GUEST_CALL})"""
)

# A C actor that called a libc function the freestanding target does not have.
FOREIGN_IMPORT = wat(
    f"""(module
  (import "env" "printf" (func (param i32 i32) (result i32)))
  {_GUEST_CALL})"""
)

# A C program built for wasm32-wasi that also exports __guest_call: its _start (main) traps.
START_TRAPS = wat(
    f"""(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func (param i32 i32) (result i32)))
  {_GUEST_CALL}
  (func (export "_start") unreachable))"""
)
