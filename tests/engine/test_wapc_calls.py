"""The waPC call protocol on both call paths: requests, responses, errors, host calls, logs."""

from __future__ import annotations

import logging
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest

from tests.engine.wat_actors import (
    DATA,
    ECHO,
    MSG,
    OP,
    SCRATCH,
    MakeInstance,
    RecordingHandler,
    actor,
)
from wascc.host.engine import Limits
from wascc.host.errors import ActorOutOfTime, ActorTrapped, CapabilityNotClaimed, GuestError
from wascc.host.wapc import WapcState
from wascc.keys.errors import WasccError

STRINGS = (
    f'(data (i32.const {DATA}) "default") (data (i32.const {DATA + 16}) "wascc:test")'
    f' (data (i32.const {DATA + 32}) "ok") (data (i32.const {DATA + 48}) "fail")'
)


def _host_call(op_address: int, op_len: str) -> str:
    """WAT: a host call on binding "default", namespace "wascc:test", with the request payload."""
    return (
        f"(call $host_call (i32.const {DATA}) (i32.const 7) (i32.const {DATA + 16})"
        f" (i32.const 10) (i32.const {op_address}) {op_len}"
        f" (i32.const {MSG}) (local.get $msg_len))"
    )


# Calls the host with the request's operation and payload; answers with the host's response,
# or fails with the host's error as its guest error.
HOST_CALLER = actor(
    f"""
    (if {_host_call(OP, "(local.get $op_len)")}
      (then
        (local.set $n (call $host_response_len))
        (call $host_response (i32.const {SCRATCH}))
        (call $guest_response (i32.const {SCRATCH}) (local.get $n))
        (return (i32.const 1))))
    (local.set $n (call $host_error_len))
    (call $host_error (i32.const {SCRATCH}))
    (call $guest_error (i32.const {SCRATCH}) (local.get $n))
    (i32.const 0)""",
    extra=STRINGS,
)

# Calls the host and answers with the raw bytes of the host error.
HOST_ERROR_READER = actor(
    f"""
    (drop {_host_call(OP, "(local.get $op_len)")})
    (local.set $n (call $host_error_len))
    (call $host_error (i32.const {SCRATCH}))
    (call $guest_response (i32.const {SCRATCH}) (local.get $n))
    (i32.const 1)""",
    extra=STRINGS,
)


def _record(k: int, op_address: int, op_len: int) -> str:
    base = SCRATCH + 12 * k
    return f"""
    (i32.store (i32.const {base}) {_host_call(op_address, f"(i32.const {op_len})")})
    (i32.store (i32.const {base + 4}) (call $host_response_len))
    (i32.store (i32.const {base + 8}) (call $host_error_len))"""


# Three host calls (ok, fail, ok); after each, records (result, response len, error len).
HOST_CALL_SEQUENCE = actor(
    _record(0, DATA + 32, 2)
    + _record(1, DATA + 48, 4)
    + _record(2, DATA + 32, 2)
    + f"(call $guest_response (i32.const {SCRATCH}) (i32.const 36)) (i32.const 1)",
    extra=STRINGS,
)


def _answer(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
    if operation == "fail":
        raise CapabilityNotClaimed("actor may not use wascc:test; re-sign with --cap wascc:test")
    return b"hi"


@pytest.mark.parametrize("size", [0, 16, 1024, 2**20], ids=["0B", "16B", "1KiB", "1MiB"])
def test_echo(make_instance: MakeInstance, size: int) -> None:
    """The payload reaches the guest through __guest_request and comes back unchanged."""
    instance = make_instance(ECHO)
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert instance.invoke("Echo", payload) == payload
    assert instance.invoke("Echo", payload) == payload


def test_echo_accepts_bytearray(make_instance: MakeInstance) -> None:
    """A bytearray payload is sent like bytes."""
    assert make_instance(ECHO).invoke("Echo", bytearray(b"abc")) == b"abc"


def test_operation_is_written_as_utf8(make_instance: MakeInstance) -> None:
    """__guest_request writes the operation name, UTF-8 without a NUL, at op_ptr."""
    instance = make_instance(
        actor(f"(call $guest_response (i32.const {OP}) (local.get $op_len)) (i32.const 1)")
    )
    assert instance.invoke("Überweisung", b"") == "Überweisung".encode()


def test_guest_error(make_instance: MakeInstance) -> None:
    """A guest that returns 0 fails with the error text it stored."""
    instance = make_instance(
        actor(
            f"(call $guest_error (i32.const {DATA}) (i32.const 11)) (i32.const 0)",
            extra=f'(data (i32.const {DATA}) "bad request")',
        )
    )
    with pytest.raises(GuestError) as caught:
        instance.invoke("Op", b"")
    assert caught.value.guest_error == "bad request"
    assert "bad request" in str(caught.value)
    assert not instance.poisoned


def test_no_error_message_set(make_instance: MakeInstance) -> None:
    """A guest that returns 0 without an error text fails with "no error message set"."""
    instance = make_instance(actor("(i32.const 0)"))
    with pytest.raises(GuestError) as caught:
        instance.invoke("Op", b"")
    assert caught.value.guest_error == "no error message set"


def test_any_result_but_one_is_failure(make_instance: MakeInstance) -> None:
    """Only exactly 1 means success; 2 is a failure even with a response stored."""
    instance = make_instance(
        actor(f"(call $guest_response (i32.const {MSG}) (local.get $msg_len)) (i32.const 2)")
    )
    with pytest.raises(GuestError):
        instance.invoke("Op", b"data")


def test_success_without_response_is_empty(make_instance: MakeInstance) -> None:
    """A guest that returns 1 without calling __guest_response answers b""."""
    assert make_instance(actor("(i32.const 1)")).invoke("Op", b"data") == b""


def test_errors_and_responses_do_not_leak_between_calls(make_instance: MakeInstance) -> None:
    """A response or guest error from one call is not reported by the next."""
    instance = make_instance(
        actor(
            f"""
            (if (i32.eqz (local.get $msg_len))
              (then (call $guest_error (i32.const {DATA}) (i32.const 4)) (return (i32.const 0))))
            (if (i32.eq (local.get $msg_len) (i32.const 1)) (then (return (i32.const 0))))
            (call $guest_response (i32.const {MSG}) (local.get $msg_len)) (i32.const 1)""",
            extra=f'(data (i32.const {DATA}) "oops")',
        )
    )
    assert instance.invoke("Op", b"ab") == b"ab"
    with pytest.raises(GuestError) as first:
        instance.invoke("Op", b"")
    assert first.value.guest_error == "oops"
    with pytest.raises(GuestError) as second:
        instance.invoke("Op", b"x")
    assert second.value.guest_error == "no error message set"


def test_memory_persists_between_calls(make_instance: MakeInstance) -> None:
    """Linear memory keeps its contents from one call to the next on the same instance."""
    instance = make_instance(
        actor(
            f"""
            (i32.store (i32.const {SCRATCH})
              (i32.add (i32.load (i32.const {SCRATCH})) (i32.const 1)))
            (call $guest_response (i32.const {SCRATCH}) (i32.const 4)) (i32.const 1)"""
        )
    )
    counts = [struct.unpack("<i", instance.invoke("Count", b""))[0] for _ in range(3)]
    assert counts == [1, 2, 3]


def test_host_call_success(make_instance: MakeInstance) -> None:
    """__host_call passes binding, namespace, operation and payload; the response comes back."""
    handler = RecordingHandler(lambda binding, namespace, operation, payload: payload[::-1])
    instance = make_instance(HOST_CALLER, handler)
    assert instance.invoke("Reverse", b"abc") == b"cba"
    assert handler.calls == [("default", "wascc:test", "Reverse", b"abc")]


def test_host_call_failure_delivers_wascc_error_text(make_instance: MakeInstance) -> None:
    """A WasccError raised by the handler reaches the guest as the host error, verbatim."""
    instance = make_instance(HOST_CALLER, RecordingHandler(_answer))
    with pytest.raises(GuestError) as caught:
        instance.invoke("fail", b"")
    assert caught.value.guest_error == (
        "actor may not use wascc:test; re-sign with --cap wascc:test"
    )


def test_host_call_failure_hides_other_exceptions(
    make_instance: MakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    """Any other exception is logged, and the guest only sees "host call failed: <type>"."""

    def explode(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        raise ValueError("secret internals")

    instance = make_instance(HOST_CALLER, RecordingHandler(explode))
    with (
        caplog.at_level(logging.ERROR, logger="wascc.host.wapc"),
        pytest.raises(GuestError) as caught,
    ):
        instance.invoke("Op", b"")
    assert caught.value.guest_error == "host call failed: ValueError"
    assert "secret internals" in caplog.text
    assert not instance.poisoned


def test_host_call_handler_returning_non_bytes_fails_the_call(make_instance: MakeInstance) -> None:
    """A handler that returns something other than bytes fails the host call, not the host."""
    instance = make_instance(HOST_CALLER, RecordingHandler(lambda *args: cast(bytes, None)))
    with pytest.raises(GuestError) as caught:
        instance.invoke("Op", b"")
    assert caught.value.guest_error == "host call failed: TypeError"


def test_host_call_clears_previous_response_and_error(make_instance: MakeInstance) -> None:
    """Each __host_call returns exactly 1 or 0 and clears the previous response and error."""
    instance = make_instance(HOST_CALL_SEQUENCE, RecordingHandler(_answer))
    error_len = len(b"actor may not use wascc:test; re-sign with --cap wascc:test")
    assert struct.unpack("<9i", instance.invoke("Op", b"")) == (
        1, 2, 0,
        0, 0, error_len,
        1, 2, 0,
    )  # fmt: skip


def test_host_error_is_valid_utf8(make_instance: MakeInstance) -> None:
    """__host_error writes valid UTF-8 even when the error text holds a lone surrogate."""

    def refuse(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        raise WasccError("naïve \udcff refusal")

    instance = make_instance(HOST_ERROR_READER, RecordingHandler(refuse))
    assert instance.invoke("Op", b"").decode("utf-8") == "naïve ? refusal"


def test_host_call_with_invalid_utf8_names_fails_the_call(make_instance: MakeInstance) -> None:
    """A namespace that is not UTF-8 fails the host call without reaching the handler."""
    handler = RecordingHandler()
    instance = make_instance(
        actor(
            f"""
            (local.set $n (call $host_call (i32.const {DATA}) (i32.const 7)
              (i32.const {DATA + 16}) (i32.const 2) (i32.const 0) (i32.const 0)
              (i32.const 0) (i32.const 0)))
            (i32.store (i32.const {SCRATCH}) (local.get $n))
            (call $guest_response (i32.const {SCRATCH}) (i32.const 4)) (i32.const 1)""",
            extra=f'(data (i32.const {DATA}) "default") (data (i32.const {DATA + 16}) "\\ff\\fe")',
        ),
        handler,
    )
    assert instance.invoke("Op", b"") == struct.pack("<i", 0)
    assert handler.calls == []


def test_console_log(make_instance: MakeInstance) -> None:
    """__console_log hands each line to the handler, with invalid UTF-8 replaced."""
    handler = RecordingHandler()
    instance = make_instance(
        actor(
            f"""
            (call $console_log (i32.const {DATA}) (i32.const 5))
            (call $console_log (i32.const {DATA + 16}) (i32.const 1))
            (i32.const 1)""",
            extra=f'(data (i32.const {DATA}) "hello") (data (i32.const {DATA + 16}) "\\ff")',
        ),
        handler,
    )
    instance.invoke("Log", b"")
    assert handler.lines == ["hello", "\ufffd"]


def test_console_log_handler_failure_is_only_logged(
    make_instance: MakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    """A console_log handler that raises is logged; the guest's call goes on."""

    class Broken(RecordingHandler):
        def console_log(self, line: str) -> None:
            raise RuntimeError("log sink down")

    instance = make_instance(
        actor(
            f"(call $console_log (i32.const {DATA}) (i32.const 1)) (i32.const 1)",
            extra=f'(data (i32.const {DATA}) "x")',
        ),
        Broken(),
    )
    with caplog.at_level(logging.ERROR, logger="wascc.host.wapc"):
        assert instance.invoke("Log", b"") == b""
    assert "log sink down" in caplog.text


def test_interrupt_in_host_call_propagates_and_poisons(make_instance: MakeInstance) -> None:
    """A KeyboardInterrupt inside a host call unwinds the wasm call, then is re-raised."""

    def interrupt(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        raise KeyboardInterrupt

    instance = make_instance(HOST_CALLER, RecordingHandler(interrupt))
    with pytest.raises(KeyboardInterrupt):
        instance.invoke("Op", b"")
    assert instance.poisoned
    with pytest.raises(ActorTrapped, match="cannot be used"):
        instance.invoke("Op", b"")


def test_start_then_wapc_init_are_called_in_order(make_instance: MakeInstance) -> None:
    """After instantiation the start section, _start and wapc_init run, in that order."""
    handler = RecordingHandler()
    log = "(call $console_log (i32.const {}) (i32.const {}))"
    make_instance(
        actor(
            "(i32.const 1)",
            extra=f"""
            (data (i32.const {DATA}) "section") (data (i32.const {DATA + 16}) "start")
            (data (i32.const {DATA + 32}) "init")
            (func $section {log.format(DATA, 7)})
            (start $section)
            (func (export "wapc_init") {log.format(DATA + 32, 4)})
            (func (export "_start") {log.format(DATA + 16, 5)})""",
        ),
        handler,
    )
    assert handler.lines == ["section", "start", "init"]


def test_memory_growth_during_a_call(make_instance: MakeInstance) -> None:
    """The host finds memory that grew (and moved) during the call before touching it."""
    # 1100 pages take the memory past the engine's 64 MiB reservation, so it moves.
    instance = make_instance(
        actor(
            """
            (local.set $n (i32.mul (memory.grow (i32.const 1100)) (i32.const 65536)))
            (call $guest_request (i32.const 0) (local.get $n))
            (call $guest_response (local.get $n) (local.get $msg_len))
            (i32.const 1)"""
        )
    )
    assert instance.invoke("Grow", b"after the move") == b"after the move"


def test_close_is_idempotent_and_refuses_calls(make_instance: MakeInstance) -> None:
    """A closed instance can be closed again and refuses further calls."""
    instance = make_instance(ECHO)
    instance.close()
    instance.close()
    with pytest.raises(ActorTrapped, match="closed"):
        instance.invoke("Echo", b"")


def test_failure_inside_a_host_function_traps_instead_of_unwinding(
    make_instance: MakeInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in the host's own import code traps the call (kind "other")."""

    def broken(self: WapcState, line: bytes) -> None:
        raise RuntimeError("bug in the host")

    monkeypatch.setattr(WapcState, "console_log", broken)
    instance = make_instance(
        actor(
            f"(call $console_log (i32.const {DATA}) (i32.const 1)) (i32.const 1)",
            extra=f'(data (i32.const {DATA}) "x")',
        )
    )
    with pytest.raises(ActorTrapped) as caught:
        instance.invoke("Log", b"")
    assert caught.value.kind == "other"
    assert "__console_log failed: RuntimeError: bug in the host" in str(caught.value)


def test_calls_on_several_threads(make_instance: MakeInstance) -> None:
    """Instances called from several threads at once each answer their own calls."""
    instances = [make_instance(ECHO) for _ in range(4)]

    def run(index: int) -> bool:
        payload = bytes([index]) * (index + 1) * 100
        return all(instances[index].invoke("Echo", payload) == payload for _ in range(300))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(run, range(4)))


def test_wasm_runs_without_the_gil(make_instance: MakeInstance) -> None:
    """While one thread's guest spins until its deadline, other threads keep running calls."""
    spinner = make_instance(
        actor("(loop $forever (br $forever)) (i32.const 1)"), limits=Limits(deadline=0.5)
    )
    echo = make_instance(ECHO)
    with ThreadPoolExecutor(max_workers=1) as pool:
        spinning = pool.submit(spinner.invoke, "Spin", b"")
        time.sleep(0.05)
        started = time.monotonic()
        done = 0
        while not spinning.done():
            echo.invoke("Echo", b"x")
            done += 1
        with pytest.raises(ActorOutOfTime):
            spinning.result()
    assert done > 100, f"only {done} calls in {time.monotonic() - started:.2f}s"
