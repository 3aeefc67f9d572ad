"""The peer: the Extism Python SDK calling an equivalent echo plugin, next to our host's echo.

Both sides run a hand-written WAT echo on wasmtime and do the same work per call: the guest
copies the input into its own linear memory and hands it back as output. Ours is the waPC
echo of ``bench/raw_floor.py`` (``__guest_request`` copies the payload in, ``__guest_response``
hands it out), called as ``await host.call_actor(key, "Echo", payload)`` on a signed module.
Extism's is ``EXTISM_ECHO_WAT`` against the Extism kernel imports (module
``extism:host/env``): the input is read 8 bytes at a time with ``input_load_u64`` (then
``input_load_u8`` for the tail), the output written to a kernel block from ``alloc`` with
``store_u64``/``store_u8`` and set with ``output_set``, the way Extism's PDKs do it; called as
``plugin.call("echo", payload)``, synchronously, in the same process.

    .venv/bin/python -m bench.extism_bench [seconds per figure]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import wasmtime

from bench.core_bench import _rate
from bench.raw_floor import ECHO_WAT
from bench.report import Section
from bench.signing import sign_throwaway
from wascc.host import Host

__all__ = ["EXTISM_ECHO_WAT", "TARGET", "main", "section"]

TARGET = 1.2
SIZES = (("16 B", 16), ("1 KiB", 1024))
ROUNDS = 2

EXTISM_ECHO_WAT = """
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 24)
  (func (export "echo") (result i32)
    (local $n i64) (local $at i64) (local $block i64)
    (local.set $n (call $input_length))
    ;; the input into this module's memory at offset 1024: whole words, then the tail
    (block $words_done
      (loop $words
        (br_if $words_done (i64.gt_u (i64.add (local.get $at) (i64.const 8)) (local.get $n)))
        (i64.store offset=1024 (i32.wrap_i64 (local.get $at))
          (call $input_load_u64 (local.get $at)))
        (local.set $at (i64.add (local.get $at) (i64.const 8)))
        (br $words)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i64.ge_u (local.get $at) (local.get $n)))
        (i32.store8 offset=1024 (i32.wrap_i64 (local.get $at))
          (call $input_load_u8 (local.get $at)))
        (local.set $at (i64.add (local.get $at) (i64.const 1)))
        (br $tail)))
    ;; and back out through a kernel block
    (local.set $block (call $alloc (local.get $n)))
    (local.set $at (i64.const 0))
    (block $out_done
      (loop $out
        (br_if $out_done (i64.gt_u (i64.add (local.get $at) (i64.const 8)) (local.get $n)))
        (call $store_u64 (i64.add (local.get $block) (local.get $at))
          (i64.load offset=1024 (i32.wrap_i64 (local.get $at))))
        (local.set $at (i64.add (local.get $at) (i64.const 8)))
        (br $out)))
    (block $out_tail_done
      (loop $out_tail
        (br_if $out_tail_done (i64.ge_u (local.get $at) (local.get $n)))
        (call $store_u8 (i64.add (local.get $block) (local.get $at))
          (i32.load8_u offset=1024 (i32.wrap_i64 (local.get $at))))
        (local.set $at (i64.add (local.get $at) (i64.const 1)))
        (br $out_tail)))
    (call $output_set (local.get $block) (local.get $n))
    (i32.const 0)))
"""
"""An Extism echo plugin: export ``echo``, input to output, through guest memory."""

METHOD = """
Both sides run a hand-written WAT echo on wasmtime in this process and do the same work per
call: the guest copies the input into its linear memory and hands it back. **Ours**: the
waPC echo of `bench/raw_floor.py`, signed, loaded in a `Host`, called as
`await host.call_actor(key, "Echo", payload)` by one caller (the full asynchronous host API:
claims-checked actor, instance pool, inline policy, deadlines). **Extism**: the Extism Python
SDK (`extism.Plugin(wasm, functions=[])`, no WASI) calling `plugin.call("echo", payload)`
synchronously on `bench/extism_bench.py` `EXTISM_ECHO_WAT`, a plugin against the Extism
kernel imports (`extism:host/env`: `input_length`, `input_load_u64`/`input_load_u8` into its
memory, then `alloc`, `store_u64`/`store_u8` and `output_set`, the way Extism's PDKs copy input
and output). Each figure is the best of {rounds} alternating rounds, so that both sides see
the same machine noise.
"""


def _extism_rate(plugin: Any, payload: bytes, seconds: float) -> float:
    assert bytes(plugin.call("echo", payload)) == payload
    calls = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while True:
        for _ in range(50):
            plugin.call("echo", payload)
        calls += 50
        if time.perf_counter() >= deadline:
            break
    return calls / (time.perf_counter() - started)


def _caller(host: Host, key: str, payload: bytes) -> Callable[[], Awaitable[bytes]]:
    def call() -> Awaitable[bytes]:
        return host.call_actor(key, "Echo", payload)

    return call


def _unavailable(reason: str) -> Section:
    return Section(
        "Peer: Extism Python SDK, echo",
        METHOD.format(rounds=ROUNDS),
        ("payload", "Extism", "our host", "host/Extism"),
        verdicts=[f"Not measured: {reason}"],
    )


async def _section(seconds: float) -> Section:
    try:
        import extism  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        return _unavailable(f"the extism package cannot be imported here ({exc}).")
    try:
        plugin = extism.Plugin(bytes(wasmtime.wat2wasm(EXTISM_ECHO_WAT)), functions=[])
        runtime = extism.extism_version()
    except Exception as exc:
        return _unavailable(f"the Extism runtime could not load the plugin ({exc}).")
    module = bytes(wasmtime.wat2wasm(ECHO_WAT))
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    logging.disable(logging.WARNING)
    try:
        async with Host() as host:
            key = (await host.add_actor(sign_throwaway(module, "echo"))).subject
            for label, size in SIZES:
                payload = b"x" * size
                assert await host.call_actor(key, "Echo", payload) == payload
                ours, theirs = 0.0, 0.0
                for _ in range(ROUNDS):
                    theirs = max(theirs, _extism_rate(plugin, payload, seconds))
                    ours = max(ours, await _rate(_caller(host, key, payload), seconds, 1))
                ratio = ours / theirs
                rows.append(
                    (
                        label,
                        f"{theirs:,.0f}/s ({1e6 / theirs:.1f} µs)",
                        f"{ours:,.0f}/s ({1e6 / ours:.1f} µs)",
                        f"{ratio:.2f}x",
                    )
                )
                met = "met" if ratio >= TARGET else "NOT met"
                verdicts.append(f"{label}: host/Extism {ratio:.2f}x, goal >= {TARGET}x {met}")
    finally:
        logging.disable(logging.NOTSET)
    return Section(
        f"Peer: Extism Python SDK {runtime}, echo ({seconds:g} s per figure, best of {ROUNDS})",
        METHOD.format(rounds=ROUNDS),
        ("payload", "Extism plugin.call", "our host.call_actor", "host/Extism"),
        rows,
        verdicts,
    )


def section(seconds: float = 1.0) -> Section:
    """Extism's and our echo calls per second, as a ``Section``."""
    return asyncio.run(_section(seconds))


def main(seconds: float = 1.0) -> Section:
    """Measure both and print the table."""
    result = section(seconds)
    result.print()
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
