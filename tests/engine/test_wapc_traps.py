"""Traps on both call paths: each kind is classified, carries the guest error, poisons."""

from __future__ import annotations

import time

import pytest

from tests.engine.wat_actors import DATA, MakeInstance, RecordingHandler, actor
from wascc.host.engine import Limits
from wascc.host.errors import ActorOutOfFuel, ActorOutOfMemory, ActorOutOfTime, ActorTrapped

# Every trapping actor first stores the guest error "before the trap".
STORE_ERROR = f"(call $guest_error (i32.const {DATA}) (i32.const 15))"
ERROR_TEXT = f'(data (i32.const {DATA}) "before the trap")'
GUEST_ERROR = "before the trap"

TRAPS = {
    "unreachable": ("unreachable", ""),
    "out-of-bounds access": ("(i32.store (i32.const -16) (i32.const 1)) (i32.const 1)", ""),
    "stack overflow": (
        "(call $recurse (i32.const 0)) (i32.const 1)",
        "(func $recurse (param i32) (call $recurse (i32.add (local.get 0) (i32.const 1))))",
    ),
    "division by zero": ("(i32.div_s (local.get $msg_len) (i32.const 0))", ""),
    "integer overflow": ("(i32.div_s (i32.const 0x80000000) (i32.const -1))", ""),
    "bad conversion": ("(i32.trunc_f32_s (f32.const nan))", ""),
    "indirect call": (
        "(call_indirect (result i32) (i32.const 0))",
        "(table 1 funcref)",
    ),
}


@pytest.mark.parametrize("kind", list(TRAPS))
def test_trap_kinds(make_instance: MakeInstance, kind: str) -> None:
    """Each wasm trap is reported as ActorTrapped with its kind and the stored guest error."""
    body, extra = TRAPS[kind]
    instance = make_instance(actor(f"{STORE_ERROR} {body}", extra=f"{ERROR_TEXT} {extra}"))
    with pytest.raises(ActorTrapped) as caught:
        instance.invoke("Op", b"")
    assert type(caught.value) is ActorTrapped
    assert caught.value.kind == kind
    assert caught.value.guest_error == GUEST_ERROR
    assert str(caught.value).startswith(f"trapped: {kind}")
    assert str(caught.value).endswith(f"(guest error: {GUEST_ERROR})")
    assert instance.poisoned


def test_trapped_instance_refuses_further_calls(make_instance: MakeInstance) -> None:
    """After a trap the instance is poisoned and every further call is refused."""
    instance = make_instance(actor("unreachable"))
    with pytest.raises(ActorTrapped):
        instance.invoke("Op", b"")
    with pytest.raises(ActorTrapped, match="cannot be used") as caught:
        instance.invoke("Op", b"")
    assert caught.value.kind == "other"


def test_endless_loop_runs_out_of_time(make_instance: MakeInstance) -> None:
    """An endless loop is interrupted near the deadline and reported as out of time."""
    instance = make_instance(
        actor(f"{STORE_ERROR} (loop $forever (br $forever)) (i32.const 1)", extra=ERROR_TEXT),
        limits=Limits(deadline=0.2),
    )
    started = time.monotonic()
    with pytest.raises(ActorOutOfTime) as caught:
        instance.invoke("Spin", b"")
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 1.5
    assert caught.value.kind == "out of time"
    assert caught.value.guest_error == GUEST_ERROR
    assert str(caught.value) == f"trapped: out of time (guest error: {GUEST_ERROR})"


def test_deadline_is_per_call(make_instance: MakeInstance) -> None:
    """Each call gets the whole deadline again: many short calls never add up to a timeout."""

    def slow(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        time.sleep(0.05)
        return b""

    instance = make_instance(
        actor(
            "(drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)"
            " (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"
            " (loop $l (br_if $l (i32.eqz (i32.const 1)))) (i32.const 1)"
        ),
        RecordingHandler(slow),
        limits=Limits(deadline=0.15),
    )
    for _ in range(6):
        assert instance.invoke("Op", b"") == b""


def test_deadline_counts_time_spent_in_host_calls(make_instance: MakeInstance) -> None:
    """The deadline is wall-clock: a slow host call leaves the guest out of time after it."""

    def slow(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        time.sleep(0.8)  # far past the 0.1 s deadline, even if a busy machine slows the ticker
        return b""

    instance = make_instance(
        actor(
            "(drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)"
            " (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"
            " (loop $l (br_if $l (i32.eqz (i32.const 1)))) (i32.const 1)"
        ),
        RecordingHandler(slow),
        limits=Limits(deadline=0.1),
    )
    with pytest.raises(ActorOutOfTime):
        instance.invoke("Op", b"")


def test_memory_over_the_cap_is_out_of_memory(make_instance: MakeInstance) -> None:
    """A guest that grows until memory.grow is refused at the cap, then aborts, is out of memory."""
    instance = make_instance(
        actor(
            f"""{STORE_ERROR}
            (block $refused
              (loop $grow
                (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
                (br $grow)))
            (i32.store (i32.const {DATA + 64}) (memory.size))
            unreachable""",
            extra=ERROR_TEXT,
        ),
        limits=Limits(memory_bytes=48 * 65536),
    )
    with pytest.raises(ActorOutOfMemory) as caught:
        instance.invoke("Hog", b"")
    assert caught.value.kind == "out of memory"
    assert caught.value.guest_error == GUEST_ERROR
    assert "limit of 3145728 bytes" in str(caught.value)


def test_memory_grow_past_the_cap_returns_minus_one(make_instance: MakeInstance) -> None:
    """memory.grow past the cap fails softly (-1), so a guest that copes keeps running."""
    instance = make_instance(
        actor(
            f"""
            (i32.store (i32.const {DATA}) (memory.grow (i32.const 100)))
            (call $guest_response (i32.const {DATA}) (i32.const 4)) (i32.const 1)"""
        ),
        limits=Limits(memory_bytes=48 * 65536),
    )
    assert instance.invoke("Grow", b"") == (-1).to_bytes(4, "little", signed=True)


def test_fuel_exhausted_is_out_of_fuel(make_instance: MakeInstance) -> None:
    """With fuel limits an endless loop stops when the call's fuel is used up."""
    instance = make_instance(
        actor(f"{STORE_ERROR} (loop $forever (br $forever)) (i32.const 1)", extra=ERROR_TEXT),
        limits=Limits(fuel=100_000),
    )
    with pytest.raises(ActorOutOfFuel) as caught:
        instance.invoke("Spin", b"")
    assert caught.value.kind == "out of fuel"
    assert caught.value.guest_error == GUEST_ERROR


def test_fuel_is_refilled_for_every_call(make_instance: MakeInstance) -> None:
    """Each call starts with the full fuel of the limits, so bounded work never runs dry."""
    instance = make_instance(
        actor(
            """
            (local.set $i (i32.const 1000))
            (loop $count
              (local.set $i (i32.sub (local.get $i) (i32.const 1)))
              (br_if $count (local.get $i)))
            (i32.const 1)"""
        ),
        limits=Limits(fuel=20_000),
    )
    for _ in range(10):
        assert instance.invoke("Count", b"") == b""


def test_trap_without_guest_error_has_plain_message(make_instance: MakeInstance) -> None:
    """A trap with no guest error stored says only how it trapped."""
    instance = make_instance(actor("unreachable"))
    with pytest.raises(ActorTrapped) as caught:
        instance.invoke("Op", b"")
    assert str(caught.value) == "trapped: unreachable"
    assert caught.value.guest_error == ""
