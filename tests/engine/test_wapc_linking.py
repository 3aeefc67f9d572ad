"""Linking and starting on both call paths: WASI, wasi_unstable, refused imports and exports."""

from __future__ import annotations

import struct

import pytest

from tests.engine.wat_actors import (
    DATA,
    ECHO,
    SCRATCH,
    WAPC_IMPORTS,
    MakeInstance,
    RecordingHandler,
    actor,
    digest,
    wat,
)
from wascc.host.engine import Engine, Limits
from wascc.host.errors import ActorTrapped, ModuleLoadError
from wascc.host.wapc import WapcInstance

P1 = "wasi_snapshot_preview1"
RESULT = "(param i32 i32) (result i32)"
WASI = f"""
  (import "{P1}" "environ_sizes_get" (func $environ_sizes {RESULT}))
  (import "{P1}" "args_sizes_get" (func $args_sizes {RESULT}))
  (import "{P1}" "fd_prestat_get" (func $prestat {RESULT}))
  (import "{P1}" "proc_exit" (func $proc_exit (param i32)))
"""


def test_wasi_module_links_with_nothing_granted(make_instance: MakeInstance) -> None:
    """A WASI module links and sees no environment, no arguments and no preopened directory."""
    instance = make_instance(
        actor(
            f"""
            (drop (call $environ_sizes (i32.const {SCRATCH}) (i32.const {SCRATCH + 4})))
            (drop (call $args_sizes (i32.const {SCRATCH + 8}) (i32.const {SCRATCH + 12})))
            (i32.store (i32.const {SCRATCH + 16})
              (call $prestat (i32.const 3) (i32.const {SCRATCH + 20})))
            (call $guest_response (i32.const {SCRATCH}) (i32.const 20)) (i32.const 1)""",
            imports=WAPC_IMPORTS + WASI,
        )
    )
    env_count, _, arg_count, _, prestat_errno = struct.unpack("<5i", instance.invoke("Op", b""))
    assert (env_count, arg_count) == (0, 0)
    assert prestat_errno == 8  # EBADF: fd 3 is not a preopened directory


SIZES = f"(func $args_sizes {RESULT})"


def test_wasi_unstable_module_links(make_instance: MakeInstance) -> None:
    """Imports from wasi_unstable are satisfied with the wasi_snapshot_preview1 functions."""
    instance = make_instance(
        actor(
            f"""
            (drop (call $args_sizes (i32.const {SCRATCH}) (i32.const {SCRATCH + 4})))
            (call $guest_response (i32.const {SCRATCH}) (i32.const 8)) (i32.const 1)""",
            imports=f'{WAPC_IMPORTS} (import "wasi_unstable" "args_sizes_get" {SIZES})',
        )
    )
    assert instance.invoke("Op", b"") == bytes(8)


def test_unknown_wasi_unstable_function_is_refused(make_instance: MakeInstance) -> None:
    """A wasi_unstable import without a preview1 namesake is a load error that names it."""
    with pytest.raises(ModuleLoadError, match=r"wasi_unstable\.no_such_call"):
        make_instance(
            actor(
                "(i32.const 1)",
                imports=WAPC_IMPORTS + '(import "wasi_unstable" "no_such_call" (func))',
            )
        )


def test_proc_exit_zero_in_start_is_a_clean_start(make_instance: MakeInstance) -> None:
    """A command-style _start that calls proc_exit(0) has started fine."""
    instance = make_instance(
        actor(
            "(i32.const 1)",
            imports=WAPC_IMPORTS + WASI,
            extra='(func (export "_start") (call $proc_exit (i32.const 0)))',
        )
    )
    assert instance.invoke("Op", b"") == b""


def test_proc_exit_during_a_call_is_a_trap(make_instance: MakeInstance) -> None:
    """proc_exit inside a call ends it as a trap of kind "other" that gives the status."""
    instance = make_instance(
        actor("(call $proc_exit (i32.const 3)) (i32.const 1)", imports=WAPC_IMPORTS + WASI)
    )
    with pytest.raises(ActorTrapped) as caught:
        instance.invoke("Op", b"")
    assert caught.value.kind == "other"
    assert "status 3" in str(caught.value)


def test_only_declared_imports_are_needed(make_instance: MakeInstance) -> None:
    """A module that imports just two waPC functions links (nothing else is required)."""
    module = wat(
        """(module
          (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
          (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
          (memory (export "memory") 1)
          (func (export "__guest_call") (param i32 i32) (result i32)
            (call $guest_request (i32.const 0) (i32.const 256))
            (call $guest_response (i32.const 256) (local.get 1)) (i32.const 1)))"""
    )
    assert make_instance(module).invoke("Echo", b"hi") == b"hi"


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        ('(import "env" "abort" (func (param i32 i32 i32 i32)))', "env.abort"),
        ('(import "wapc" "__no_such_import" (func))', "wapc.__no_such_import"),
        ('(import "wapc" "__console_log" (func (param i32)))', "wrong signature"),
        ('(import "env" "memory" (memory 1))', "env.memory"),
    ],
    ids=["other module", "unknown waPC name", "wrong signature", "imported memory"],
)
def test_refused_imports(make_instance: MakeInstance, imports: str, expected: str) -> None:
    """An import the host does not provide is a ModuleLoadError naming it and the fix."""
    module = wat(
        f"""(module {imports}
          (memory (export "memory") 1)
          (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"""
    )
    with pytest.raises(ModuleLoadError, match=expected) as caught:
        make_instance(module)
    assert "rebuild" in str(caught.value) or "waPC defines" in str(caught.value)


MEMORY = '(memory (export "memory") 1)'
GUEST_CALL = '(func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1))'


@pytest.mark.parametrize(
    ("exports", "expected"),
    [
        ('(memory (export "memory") 1)', "__guest_call"),
        (
            '(memory 1) (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1))',
            "memory",
        ),
        (f"{MEMORY} {GUEST_CALL.replace('i32 i32', 'i32')}", "__guest_call"),
        (f'{MEMORY} {GUEST_CALL} (func (export "_start") (param i32))', "_start"),
    ],
    ids=["no __guest_call", "no memory export", "wrong __guest_call", "wrong _start"],
)
def test_missing_exports(make_instance: MakeInstance, exports: str, expected: str) -> None:
    """A module without a proper __guest_call or memory export is refused at load."""
    with pytest.raises(ModuleLoadError, match=expected):
        make_instance(wat(f"(module {exports})"))


def test_trap_in_start_is_reported_as_a_trap(make_instance: MakeInstance) -> None:
    """A _start that traps fails creation with ActorTrapped saying where."""
    with pytest.raises(ActorTrapped, match=r"trapped: unreachable \(while running _start\)"):
        make_instance(actor("(i32.const 1)", extra='(func (export "_start") unreachable)'))


def test_bad_pointer_in_start_section(make_instance: MakeInstance) -> None:
    """A start function that passes a bad pointer traps instantiation as an out-of-bounds access."""
    with pytest.raises(ActorTrapped) as caught:
        make_instance(
            actor(
                "(i32.const 1)",
                extra="(func $s (call $console_log (i32.const -8) (i32.const 16))) (start $s)",
            )
        )
    assert caught.value.kind == "out-of-bounds access"
    assert "while instantiating" in str(caught.value)


def test_initial_memory_over_the_cap_is_a_load_error(make_instance: MakeInstance) -> None:
    """A module whose minimum memory exceeds the cap cannot be instantiated."""
    with pytest.raises(ModuleLoadError, match="memory"):
        make_instance(ECHO, limits=Limits(memory_bytes=16 * 65536))


def test_fuel_limits_need_a_fuel_module(engine: Engine, fast: bool) -> None:
    """Limits with fuel refuse a module compiled without fuel metering, naming the fix."""
    compiled = engine.compile(ECHO, digest(ECHO))
    with pytest.raises(ModuleLoadError, match="fuel=True"):
        WapcInstance.create(engine, compiled, Limits(fuel=1000), RecordingHandler(), fast=fast)


def test_module_from_another_engine_is_refused(engine: Engine, fast: bool) -> None:
    """A module compiled by another Engine cannot be instantiated on this one."""
    other = Engine()
    compiled = other.compile(ECHO, digest(ECHO))
    with pytest.raises(ModuleLoadError, match=r"Engine\.compile"):
        WapcInstance.create(engine, compiled, Limits(), RecordingHandler(), fast=fast)


def test_wasi_start_can_use_data(make_instance: MakeInstance) -> None:
    """Sanity: a WASI module with _start and data segments starts and answers."""
    instance = make_instance(
        actor(
            f"(call $guest_response (i32.const {DATA}) (i32.const 2)) (i32.const 1)",
            imports=WAPC_IMPORTS + WASI,
            extra=f'(data (i32.const {DATA}) "ok") (func (export "_start"))',
        )
    )
    assert instance.invoke("Op", b"") == b"ok"
