"""How close ``WapcInstance.invoke`` gets to the floor: a bare unchecked call into the same module.

The floor is what a waPC echo costs with nothing but the C API and two ctypes callbacks that
copy the payload in and the response out, with no bounds checks, state or error handling.
The gap between it and ``invoke(fast=True)`` is the price of the host's safety and semantics.

    .venv/bin/python bench/raw_floor.py [seconds per figure]
"""

from __future__ import annotations

import ctypes
import sys
import time
from typing import Any

import wasmtime

from wascc.host._fastpath import c_api
from wascc.host.engine import Engine, Limits
from wascc.host.wapc import WapcInstance

__all__ = ["ECHO_WAT", "invoke_rate", "raw_echo_rate"]

ECHO_WAT = """
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 24)
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (call $guest_response (i32.const 1024) (local.get $msg_len))
    (i32.const 1)))
"""
"""An echo actor: the payload (up to 1.5 MiB) is fetched to offset 1024 and sent back."""


class _RawEcho:
    """The floor's host: one store, two bare unchecked callbacks, a preallocated argument array."""

    def __init__(self, module_bytes: bytes, payload: bytes) -> None:
        engine = Engine().wasmtime_engine(fuel=False)
        module = wasmtime.Module(engine, module_bytes)
        self.store = store = wasmtime.Store(engine)
        store.set_epoch_deadline(2**62)
        self.linker = linker = wasmtime.Linker(engine)
        self.payload = payload
        self.answer = b""
        self.ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
        self.memory = 0  # the address of the wasmtime_memory_t, once instantiated
        i32 = wasmtime.ValType.i32()
        pair = wasmtime.FuncType([i32, i32], [])
        self.callbacks = [
            c_api.callback_type(self._guest_request),
            c_api.callback_type(self._guest_response),
        ]
        names = (b"__guest_request", b"__guest_response")
        for name, callback in zip(names, self.callbacks, strict=True):
            error = c_api.linker_define_func_unchecked(
                ctypes.cast(linker.ptr(), ctypes.c_void_p).value,
                b"wapc",
                4,
                name,
                len(name),
                ctypes.cast(pair.ptr(), ctypes.c_void_p).value,
                callback,
                None,
                None,
            )
            assert not error, "could not define the floor's host functions"
        linker.define_unknown_imports_as_traps(module)
        exports = linker.instantiate(store, module).exports(store)
        memory, guest_call = exports["memory"], exports["__guest_call"]
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(guest_call, wasmtime.Func)
        self._memory, self._guest_call = memory, guest_call  # keep the structs alive
        self.memory = ctypes.addressof(memory._memory)
        self.func = ctypes.addressof(guest_call._func)

    def _guest_request(self, env: Any, caller: Any, args: Any, n: int) -> int:
        base = c_api.memory_data(self.ctx, self.memory)
        ctypes.memmove(base + args[4], self.payload, len(self.payload))
        return 0

    def _guest_response(self, env: Any, caller: Any, args: Any, n: int) -> int:
        base = c_api.memory_data(self.ctx, self.memory)
        self.answer = ctypes.string_at(base + args[0], args[4])
        return 0

    def rate(self, seconds: float) -> float:
        args = (ctypes.c_int32 * 8)()
        args_address = ctypes.addressof(args)
        trap = ctypes.c_void_p()
        trap_address = ctypes.addressof(trap)
        call, ctx, func, size = c_api.func_call_unchecked, self.ctx, self.func, len(self.payload)
        calls = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while True:
            for _ in range(100):
                args[0] = 4
                args[4] = size
                if call(ctx, func, args_address, 2, trap_address) or trap.value:
                    raise RuntimeError("the floor's echo call failed")
            calls += 100
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - started
        assert self.answer == self.payload
        return calls / elapsed

    def close(self) -> None:
        self.store.close()
        self.linker.close()


def raw_echo_rate(module_bytes: bytes, payload_size: int, seconds: float) -> float:
    """Calls per second of the floor: ``__guest_call`` through ``wasmtime_func_call_unchecked``
    with two minimal host functions (``__guest_request`` copies the payload in at its message
    pointer, ``__guest_response`` copies the answer out), on the host's engine settings."""
    echo = _RawEcho(module_bytes, b"x" * payload_size)
    try:
        return echo.rate(seconds)
    finally:
        echo.close()


def invoke_rate(instance: WapcInstance, payload_size: int, seconds: float) -> float:
    """Calls per second of ``instance.invoke("Echo", payload)``."""
    payload = b"x" * payload_size
    assert instance.invoke("Echo", payload) == payload
    calls = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while True:
        for _ in range(20):
            instance.invoke("Echo", payload)
        calls += 20
        if time.perf_counter() >= deadline:
            break
    return calls / (time.perf_counter() - started)


class _Quiet:
    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        return b""

    def console_log(self, line: str) -> None:
        pass


def main(seconds: float = 1.0) -> None:
    module_bytes = bytes(wasmtime.wat2wasm(ECHO_WAT))
    engine = Engine()
    engine.start()
    try:
        compiled = engine.compile(module_bytes, "bench-echo")
        fast = WapcInstance.create(engine, compiled, Limits(), _Quiet(), fast=True)
        public = WapcInstance.create(engine, compiled, Limits(), _Quiet(), fast=False)
        print(f"{'payload':>8}  {'raw floor':>22}  {'invoke (fast)':>22}  {'invoke (public)':>22}")
        for label, size in (("16 B", 16), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 2**20)):
            rates = [
                raw_echo_rate(module_bytes, size, seconds),
                invoke_rate(fast, size, seconds),
                invoke_rate(public, size, seconds),
            ]
            cells = "  ".join(f"{1e6 / rate:7.1f} µs {rate:9,.0f}/s" for rate in rates)
            print(f"{label:>8}  {cells}")
        fast.close()
        public.close()
    finally:
        engine.stop()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
