"""Guest pointers on both call paths: out-of-range ones trap, zero-length ones are no-ops."""

from __future__ import annotations

import pytest

from tests.engine.wat_actors import DATA, MSG, SCRATCH, WILD, MakeInstance, RecordingHandler, actor
from wascc.host.errors import ActorTrapped, GuestError

# The last byte of memory, so that 2 bytes from there straddle the end.
LAST = "(i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))"
BINDING = f'(data (i32.const {DATA}) "default")'


def _host_call(*buffers: tuple[str, str]) -> str:
    args = " ".join(f"{ptr} {length}" for ptr, length in buffers)
    return f"(drop (call $host_call {args}))"


_OK = (f"(i32.const {DATA})", "(i32.const 7)")
_WILD = (f"(i32.const {WILD})", "(i32.const 16)")
_HOST_CALL_OK = _host_call(_OK, _OK, _OK, _OK)

OUT_OF_RANGE = {
    "__guest_response": f"(call $guest_response (i32.const {WILD}) (i32.const 16))",
    "__guest_response at the end": f"(call $guest_response {LAST} (i32.const 2))",
    "__guest_response with a huge length": "(call $guest_response (i32.const 8) (i32.const -1))",
    "__guest_error": f"(call $guest_error (i32.const {WILD}) (i32.const 16))",
    "__console_log": f"(call $console_log {LAST} (i32.const 2))",
    "__guest_request payload": f"(call $guest_request (i32.const 0) (i32.const {WILD}))",
    "__guest_request operation": f"(call $guest_request (i32.const {WILD}) (i32.const {MSG}))",
    "__host_call binding": _host_call(_WILD, _OK, _OK, _OK),
    "__host_call namespace": _host_call(_OK, _WILD, _OK, _OK),
    "__host_call operation": _host_call(_OK, _OK, _WILD, _OK),
    "__host_call payload": _host_call(_OK, _OK, _OK, _WILD),
    "__host_response": f"{_HOST_CALL_OK} (call $host_response (i32.const {WILD}))",
    "__host_error": f"{_HOST_CALL_OK} (call $host_error {LAST})",
}


def _refuse(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
    raise ValueError("refused")


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_pointer_traps(make_instance: MakeInstance, case: str) -> None:
    """A buffer outside linear memory traps the call as an out-of-bounds access."""
    name = case.split(maxsplit=1)[0]
    # __host_error needs a failing host call to have an error to write; the rest succeed.
    handler = RecordingHandler(_refuse if name == "__host_error" else None)
    instance = make_instance(
        actor(
            f"(call $guest_error (i32.const {DATA}) (i32.const 7)) {OUT_OF_RANGE[case]}"
            " (i32.const 1)",
            extra=BINDING,
        ),
        handler,
    )
    with pytest.raises(ActorTrapped) as caught:
        instance.invoke("Op", b"payload")
    assert caught.value.kind == "out-of-bounds access"
    assert f"the guest passed an out-of-range pointer to {name}" in str(caught.value)
    assert caught.value.guest_error == "default"
    assert instance.poisoned
    if name == "__host_call":
        assert handler.calls == []


def test_zero_length_buffers_at_wild_pointers_are_no_ops(make_instance: MakeInstance) -> None:
    """Reading or writing 0 bytes is a no-op wherever the pointer points."""
    handler = RecordingHandler(lambda *args: b"")
    wild = f"(i32.const {WILD})"
    zeros = f"{wild} (i32.const 0) " * 4
    instance = make_instance(
        actor(
            f"""
            (call $guest_request {wild} {wild})
            (call $console_log {wild} (i32.const 0))
            (call $guest_error {wild} (i32.const 0))
            (i32.store (i32.const {SCRATCH}) (call $host_call {zeros}))
            (call $host_response {wild})
            (call $host_error {wild})
            (call $guest_response {wild} (i32.const 0))
            (i32.const 1)"""
        ),
        handler,
    )
    assert instance.invoke("", b"") == b""
    assert handler.lines == [""]
    assert handler.calls == [("", "", "", b"")]


def test_empty_guest_error_counts_as_none(make_instance: MakeInstance) -> None:
    """A zero-length guest error (at a wild pointer) reads as "no error message set"."""
    instance = make_instance(
        actor(f"(call $guest_error (i32.const {WILD}) (i32.const 0)) (i32.const 0)")
    )
    with pytest.raises(GuestError) as caught:
        instance.invoke("Op", b"")
    assert caught.value.guest_error == "no error message set"
