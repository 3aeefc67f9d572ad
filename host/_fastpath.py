"""The fast waPC call path: wasmtime's C API called through ctypes, without wasmtime-py's wrappers.

wasmtime-py's ``Func.__call__`` costs ~24 µs (type lookup, ``Val`` boxing, a context manager),
a ``Linker.define_func`` callback ~9 µs (a ``Caller`` object, ``Val`` unboxing per argument) and
``Memory.read``/``write`` 2-3 µs. This module calls the same library's unchecked entry points
instead: ``wasmtime_func_call_unchecked`` with a preallocated argument array, callbacks
registered with ``wasmtime_linker_define_func_unchecked`` that read their ``i32`` arguments
straight out of the raw value array, and linear memory reached through its base address.

It is the only module of the host that touches ctypes, and it relies on the exact C API of
the pinned wasmtime (see constraints.txt): the layout of ``wasmtime_val_raw_t`` (16 bytes, an
``i32`` in its first four, little-endian) and the contract of the unchecked callback (return
NULL, or a ``wasm_trap_t *`` that wasmtime takes ownership of, to trap the call). Everything
the callbacks decide is delegated to the shared waPC state (``host.wapc``), so both call paths
keep the same semantics; a call's failure is raised as the same ``wasmtime.Trap`` /
``wasmtime.WasmtimeError`` that ``Func.__call__`` raises, so traps are classified in one place.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, cast

import wasmtime
from wasmtime import _ffi as ffi

if TYPE_CHECKING:
    from wascc.host.engine import EpochClock
    from wascc.host.wapc import WapcState

__all__ = ["FastBackend", "c_api", "read_memory"]

if ctypes.sizeof(ffi.wasmtime_val_raw) != 16 or sys.byteorder != "little":
    raise ImportError(
        "host._fastpath expects wasmtime's 16-byte little-endian wasmtime_val_raw_t; "
        "is the installed wasmtime the pinned one (see constraints.txt)?"
    )

# One i32 argument or result per 16-byte raw value: as int32 words, slot k starts at 4 * k.
_WORDS_PER_SLOT: Final = 4
_U32: Final = 0xFFFFFFFF
_MEMORY_KIND: Final = 3  # WASMTIME_EXTERN_MEMORY
_TRAP_OUT_OF_BOUNDS: Final = (
    ffi.wasmtime_trap_code_enum.WASMTIME_TRAP_CODE_MEMORY_OUT_OF_BOUNDS.value
)
_STRING_AT_MAX: Final = 2**31 - 1  # ctypes.string_at takes a C int


class _CApi:
    """Prototypes of the few C functions this module calls, declared with plain addresses.

    Our own function objects (``dll[name]`` makes a fresh one, so wasmtime-py's are left
    alone) take ``c_void_p`` everywhere: passing an ``int`` is the cheapest conversion
    ctypes has. Functions that return at once are called through a ``PyDLL`` view of the
    same library, which keeps the GIL (releasing and retaking it would cost more than the
    call); ``wasmtime_func_call_unchecked`` runs wasm, so it releases the GIL.
    """

    def __init__(self) -> None:
        handle: int = ffi.dll._handle
        releasing = ffi.dll
        holding = ctypes.PyDLL(None, handle=handle)
        vp = ctypes.c_void_p
        self.callback_type = ctypes.CFUNCTYPE(
            ctypes.c_size_t, vp, vp, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t
        )

        def declare(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Any:
            function = lib[name]
            function.restype = restype
            function.argtypes = list(argtypes)
            return function

        size = ctypes.c_size_t
        self.func_call_unchecked = declare(
            releasing, "wasmtime_func_call_unchecked", vp, vp, vp, vp, size, vp
        )
        self.memory_data = declare(holding, "wasmtime_memory_data", vp, vp, vp)
        self.memory_data_size = declare(holding, "wasmtime_memory_data_size", size, vp, vp)
        self.set_epoch_deadline = declare(
            holding, "wasmtime_context_set_epoch_deadline", None, vp, ctypes.c_uint64
        )
        self.set_fuel = declare(holding, "wasmtime_context_set_fuel", vp, vp, ctypes.c_uint64)
        self.trap_new = declare(holding, "wasmtime_trap_new", vp, ctypes.c_char_p, size)
        self.trap_new_code = declare(holding, "wasmtime_trap_new_code", vp, ctypes.c_uint8)
        self.caller_export_get = declare(
            holding, "wasmtime_caller_export_get", ctypes.c_bool, vp, ctypes.c_char_p, size, vp
        )
        self.linker_define_func_unchecked = declare(
            holding,
            "wasmtime_linker_define_func_unchecked",
            vp,
            vp,
            ctypes.c_char_p,
            size,
            ctypes.c_char_p,
            size,
            vp,
            self.callback_type,
            vp,
            vp,
        )


c_api: Final = _CApi()


def _address(pointer: Any) -> int:
    """The address held by a ctypes pointer object (0 for NULL)."""
    value = ctypes.cast(pointer, ctypes.c_void_p).value
    return int(value or 0)


def _raise_error(error: int) -> None:
    """Wrap an owned ``wasmtime_error_t *`` and raise it the way wasmtime-py would."""
    pointer = ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
    raise wasmtime.WasmtimeError._from_ptr(pointer)


def _raise_trap(trap: int) -> None:
    """Wrap an owned ``wasm_trap_t *`` and raise it the way wasmtime-py would."""
    pointer = ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t))
    raise wasmtime.Trap._from_ptr(pointer)


def read_memory(address: int, length: int) -> bytes:
    """Copy ``length`` bytes at a host address (the caller has checked the bounds)."""
    if length <= _STRING_AT_MAX:
        return ctypes.string_at(address, length)
    return (ctypes.c_char * length).from_address(address).raw


_Callback = Callable[[int | None, int | None, Any, int], int]


class FastBackend:
    """The waPC imports and ``__guest_call`` of one instance, on the unchecked C API.

    Create it before instantiating (it defines the imports in ``linker``), then ``bind`` the
    instance. The ctypes callback objects live as long as this object; the owner closes the
    store and linker before dropping it.
    """

    def __init__(
        self,
        store: wasmtime.Store,
        linker: wasmtime.Linker,
        state: WapcState,
        imports: Iterable[str],
        types: dict[str, wasmtime.FuncType],
        *,
        ticks: int,
        fuel: int | None,
        clock: EpochClock,
    ) -> None:
        self._state = state
        self._clock = clock
        # wasmtime-py passes this same context pointer to the C API from inside callbacks
        # (a `Store` is the usual argument of `Memory.read` in a host function), so using it
        # here, rather than asking each callback's caller for it, follows the same contract.
        self._ctx = _address(store._context())
        self._ticks = ticks + 1
        self._fuel = fuel
        self._memory = ffi.wasmtime_memory_t()
        self._memory_address = ctypes.addressof(self._memory)
        self._memory_known = False
        self._guest_call = ffi.wasmtime_func_t()
        self._guest_call_address = ctypes.addressof(self._guest_call)
        # Room for two raw values: __guest_call's two parameters, then its one result.
        self._args = (ctypes.c_int32 * (2 * _WORDS_PER_SLOT))()
        self._args_address = ctypes.addressof(self._args)
        self._trap = ctypes.c_void_p()
        self._trap_address = ctypes.addressof(self._trap)
        self.call = self._make_call()
        self._callbacks: list[Any] = []
        linker_address = _address(linker.ptr())
        makers = self._makers()
        for name in imports:
            callback = c_api.callback_type(makers[name]())
            self._callbacks.append(callback)
            encoded = name.encode()
            error = c_api.linker_define_func_unchecked(
                linker_address,
                b"wapc",
                4,
                encoded,
                len(encoded),
                _address(types[name].ptr()),
                callback,
                None,
                None,
            )
            if error:
                _raise_error(error)

    # the owner's interface ------------------------------------------------------------------

    def bind(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None:
        """Take the instance's ``memory`` and ``__guest_call`` (checked by the caller)."""
        exports = instance.exports(store)
        memory = exports["memory"]
        guest_call = exports["__guest_call"]
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(guest_call, wasmtime.Func)
        ctypes.pointer(self._memory)[0] = memory._memory
        self._memory_known = True
        ctypes.pointer(self._guest_call)[0] = guest_call._func

    def _make_call(self) -> Callable[[int, int], int]:
        """``call(op_len, payload_len)``: run ``__guest_call`` under the deadline (and fuel).

        A closure over local names, since this is the hot path of every invocation.
        """
        ctx = self._ctx
        ticks = self._ticks
        fuel = self._fuel
        set_deadline = c_api.set_epoch_deadline
        set_fuel = c_api.set_fuel
        call_unchecked = c_api.func_call_unchecked
        args = self._args
        args_address = self._args_address
        func = self._guest_call_address
        trap = self._trap
        trap_address = self._trap_address
        second = _WORDS_PER_SLOT

        clock = self._clock
        last_epoch = [-1]

        def call(op_len: int, payload_len: int) -> int:
            # The deadline is "epoch at set time + ticks": while the epoch has not moved since
            # the last call set it, setting it again would store the same value, so skip the
            # C call (a third of a microsecond on a 5 µs path). `ticks` has one tick of slack
            # for the ticker updating the clock and the engines one after the other.
            epoch = clock.now
            if epoch != last_epoch[0]:
                set_deadline(ctx, ticks)
                last_epoch[0] = epoch
            if fuel is not None:
                error = set_fuel(ctx, fuel)
                if error:
                    _raise_error(error)
            args[0] = op_len
            args[second] = payload_len
            # `trap` is NULL here: wasmtime writes it only on a trap, and we clear it then.
            error = call_unchecked(ctx, func, args_address, 2, trap_address)
            if error:
                _raise_error(error)
            if trap.value:
                raised, trap.value = trap.value, None
                _raise_trap(raised)
            return args[0]

        return call

    def memory_size(self) -> int:
        """The current size of the instance's linear memory in bytes."""
        if not self._memory_known:
            return 0
        return int(c_api.memory_data_size(self._ctx, self._memory_address))

    def close(self) -> None:
        """Forget the callbacks; the owner has already closed the store and linker."""
        self._callbacks.clear()
        self._memory_known = False

    # callbacks ------------------------------------------------------------------------------

    def _resolve_memory(self, caller: int | None) -> None:
        """Find ``memory`` through the caller: a start function runs before ``bind``."""
        found = ffi.wasmtime_extern_t()  # plain data for a memory: nothing to free
        if not c_api.caller_export_get(caller, b"memory", 6, ctypes.addressof(found)):
            raise LookupError("the calling instance exports no memory")
        # The bindings annotate `kind` as c_uint8, but reading the field gives a plain int.
        if cast(int, found.kind) != _MEMORY_KIND:
            raise LookupError("the calling instance's `memory` export is not a memory")
        ctypes.pointer(self._memory)[0] = found.of.memory
        self._memory_known = True

    def _makers(self) -> dict[str, Callable[[], _Callback]]:  # noqa: PLR0915 (see below)
        """Factories of the nine callbacks, closing over what each needs as local names.

        Long on purpose: the factories share one set of local names, which keeps every
        callback body to local-variable lookups. Every callback catches everything, since an
        exception must never unwind into C: a bad guest pointer or a failing callback returns
        a trap instead, which wasmtime owns from then on.
        """
        state = self._state
        ctx = self._ctx
        memory = self._memory_address
        data = c_api.memory_data
        data_size = c_api.memory_data_size
        memmove = ctypes.memmove
        string_at = ctypes.string_at
        words = _WORDS_PER_SLOT
        mask = _U32
        trap_new = c_api.trap_new
        trap_new_code = c_api.trap_new_code
        resolve = self._resolve_memory

        # Memory moves only when it grows, and growing changes its size: while the size is the
        # one seen last, the base address seen with it is still right, which saves a C call
        # per access. A new instance (or a moved memory) always shows a new size first.
        seen = [-1, 0]

        def base_for(size: int) -> int:
            if size != seen[0]:
                seen[1] = data(ctx, memory)
                seen[0] = size
            return seen[1]

        def out_of_range(name: str, ptr: int, length: int, size: int) -> int:
            state.out_of_range(name, ptr, length, size)
            return int(trap_new_code(_TRAP_OUT_OF_BOUNDS))

        def failed(name: str, exc: BaseException) -> int:
            try:
                message = state.callback_failed(name, exc).encode("utf-8", "replace")
            except BaseException:  # last resort: the trap still has to be returned
                message = b"host callback failed"
            return int(trap_new(message, len(message)))

        def reader(name: str) -> Callable[[int | None, int, int], bytes | int]:
            """Read (ptr, len) from guest memory: the bytes, or a trap if out of range."""

            def read(caller: int | None, ptr: int, length: int) -> bytes | int:
                if not length:
                    return b""
                if not self._memory_known:
                    resolve(caller)
                base = data(ctx, memory)
                size = data_size(ctx, memory)
                if ptr + length > size:
                    return out_of_range(name, ptr, length, size)
                if length <= _STRING_AT_MAX:
                    return string_at(base + ptr, length)
                return read_memory(base + ptr, length)

            return read

        def writer(name: str) -> Callable[[int | None, int, bytes], int]:
            """Write bytes at ptr in guest memory: 0, or a trap if out of range."""

            def write(caller: int | None, ptr: int, value: bytes) -> int:
                length = len(value)
                if not length:
                    return 0
                if not self._memory_known:
                    resolve(caller)
                size = data_size(ctx, memory)
                if ptr + length > size:
                    return out_of_range(name, ptr, length, size)
                memmove(data(ctx, memory) + ptr, value, length)
                return 0

            return write

        def guest_request() -> _Callback:
            # The hottest callback: one look at the memory for both writes.
            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    payload = state.payload
                    operation = state.operation
                    msg_ptr = args[words] & mask
                    op_ptr = args[0] & mask
                    if not self._memory_known:
                        resolve(caller)
                    size = data_size(ctx, memory)
                    if payload and msg_ptr + len(payload) > size:
                        return out_of_range("__guest_request", msg_ptr, len(payload), size)
                    if operation and op_ptr + len(operation) > size:
                        return out_of_range("__guest_request", op_ptr, len(operation), size)
                    if size != seen[0]:  # base_for(), inlined on the hottest path
                        seen[1] = data(ctx, memory)
                        seen[0] = size
                    base = seen[1]
                    if payload:
                        memmove(base + msg_ptr, payload, len(payload))
                    if operation:
                        memmove(base + op_ptr, operation, len(operation))
                    return 0
                except BaseException as exc:
                    return failed("__guest_request", exc)

            return callback

        def guest_response() -> _Callback:
            # Hot as well: the read is inlined.
            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    ptr = args[0] & mask
                    length = args[words] & mask
                    if not length:
                        state.response = b""
                        return 0
                    if not self._memory_known:
                        resolve(caller)
                    size = data_size(ctx, memory)
                    if ptr + length > size:
                        return out_of_range("__guest_response", ptr, length, size)
                    if length <= _STRING_AT_MAX:
                        state.response = string_at(base_for(size) + ptr, length)
                    else:
                        state.response = read_memory(base_for(size) + ptr, length)
                    return 0
                except BaseException as exc:
                    return failed("__guest_response", exc)

            return callback

        def guest_error() -> _Callback:
            read = reader("__guest_error")

            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    value = read(caller, args[0] & mask, args[words] & mask)
                    if isinstance(value, int):
                        return value
                    state.guest_error = value
                    return 0
                except BaseException as exc:
                    return failed("__guest_error", exc)

            return callback

        def host_call() -> _Callback:
            read = reader("__host_call")

            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    parts: list[bytes] = []
                    for k in range(0, 8 * words, 2 * words):
                        value = read(caller, args[k] & mask, args[k + words] & mask)
                        if isinstance(value, int):
                            return value
                        parts.append(value)
                    args[0] = state.host_call(parts[0], parts[1], parts[2], parts[3])
                    return 0
                except BaseException as exc:
                    return failed("__host_call", exc)

            return callback

        def host_response_len() -> _Callback:
            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    args[0] = len(state.host_response)
                    return 0
                except BaseException as exc:
                    return failed("__host_response_len", exc)

            return callback

        def host_response() -> _Callback:
            write = writer("__host_response")

            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    return write(caller, args[0] & mask, state.host_response)
                except BaseException as exc:
                    return failed("__host_response", exc)

            return callback

        def host_error_len() -> _Callback:
            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    args[0] = len(state.host_error)
                    return 0
                except BaseException as exc:
                    return failed("__host_error_len", exc)

            return callback

        def host_error() -> _Callback:
            write = writer("__host_error")

            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    return write(caller, args[0] & mask, state.host_error)
                except BaseException as exc:
                    return failed("__host_error", exc)

            return callback

        def console_log() -> _Callback:
            read = reader("__console_log")

            def callback(env: int | None, caller: int | None, args: Any, n: int) -> int:
                try:
                    value = read(caller, args[0] & mask, args[words] & mask)
                    if isinstance(value, int):
                        return value
                    state.console_log(value)
                    return 0
                except BaseException as exc:
                    return failed("__console_log", exc)

            return callback

        return {
            "__guest_request": guest_request,
            "__guest_response": guest_response,
            "__guest_error": guest_error,
            "__host_call": host_call,
            "__host_response_len": host_response_len,
            "__host_response": host_response,
            "__host_error_len": host_error_len,
            "__host_error": host_error,
            "__console_log": console_log,
        }
