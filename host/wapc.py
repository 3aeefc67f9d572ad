"""waPC on wasmtime: one actor instance, its nine ``wapc`` imports, and the call protocol.

The protocol (``docs/abi.md``, "One call, step by step"): the host stores the operation and
payload, calls ``__guest_call(len(op), len(payload))``; the guest fetches them with
``__guest_request``, may call ``__host_call`` any number of times, answers with
``__guest_response`` or ``__guest_error`` and returns 1 (ok) or anything else (failed).

``WapcState`` holds everything the imports decide; two back ends move bytes between it and the
guest: ``host._fastpath.FastBackend`` (wasmtime's unchecked C API, the default) and
``_PublicBackend`` below (wasmtime-py's public API), with the same semantics. Every guest
pointer is bounds-checked here, because ``Memory.read`` silently clamps: a pointer or length
outside linear memory traps the call ("out-of-bounds access"); a zero-length buffer is a no-op
wherever it points.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import wasmtime

from wascc.host import _fastpath
from wascc.host.engine import Engine, Limits
from wascc.host.errors import (
    ActorOutOfFuel,
    ActorOutOfMemory,
    ActorOutOfTime,
    ActorTrapped,
    GuestError,
    ModuleLoadError,
    TrapKind,
    WasccError,
)
from wascc.host.wasi import OutputSink, WasiGrants

__all__ = ["WAPC_IMPORTS", "HostCallHandler", "WapcInstance", "WapcState"]

logger = logging.getLogger("wascc.host.wapc")

_I32 = wasmtime.ValType.i32()

WAPC_IMPORTS: Final[dict[str, tuple[int, int]]] = {
    "__guest_request": (2, 0),
    "__guest_response": (2, 0),
    "__guest_error": (2, 0),
    "__host_call": (8, 1),
    "__host_response_len": (0, 1),
    "__host_response": (1, 0),
    "__host_error_len": (0, 1),
    "__host_error": (1, 0),
    "__console_log": (2, 0),
}
"""The ``wapc`` imports the host provides: name -> (number of i32 params, number of i32 results)."""

# A wasm_functype_t remembers the first engine it is used with, and using it with another
# engine aborts the process (a Rust assertion), so the import types are made per engine.
_FUNC_TYPES: weakref.WeakKeyDictionary[wasmtime.Engine, dict[str, wasmtime.FuncType]] = (
    weakref.WeakKeyDictionary()
)


def _func_types(engine: wasmtime.Engine) -> dict[str, wasmtime.FuncType]:
    types = _FUNC_TYPES.get(engine)
    if types is None:
        types = _FUNC_TYPES[engine] = {
            name: wasmtime.FuncType([_I32] * params, [_I32] * results)
            for name, (params, results) in WAPC_IMPORTS.items()
        }
    return types


_WARNED_STOPPED: weakref.WeakSet[Engine] = weakref.WeakSet()
_WASI_MODULES: Final = ("wasi_snapshot_preview1", "wasi_unstable")
_NO_GRANTS: Final = WasiGrants()
_WASM_PAGE: Final = 65536
_NO_ERROR_MESSAGE: Final = "no error message set"
_FUEL_UNMETERED: Final = 2**63 - 1

_KIND_BY_TRAP_CODE: Final[dict[wasmtime.TrapCode, TrapKind]] = {
    wasmtime.TrapCode.STACK_OVERFLOW: "stack overflow",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out-of-bounds access",
    wasmtime.TrapCode.ARRAY_OUT_OF_BOUNDS: "out-of-bounds access",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "indirect call",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "division by zero",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "bad conversion",
    wasmtime.TrapCode.UNREACHABLE: "unreachable",
    wasmtime.TrapCode.INTERRUPT: "out of time",
    wasmtime.TrapCode.OUT_OF_FUEL: "out of fuel",
    wasmtime.TrapCode.ALLOCATION_TOO_LARGE: "out of memory",
}
_EXCEPTION_BY_KIND: Final[dict[TrapKind, type[ActorTrapped]]] = {
    "out of time": ActorOutOfTime,
    "out of memory": ActorOutOfMemory,
    "out of fuel": ActorOutOfFuel,
}
# Traps that say why by themselves: never reclassified as "out of memory".
_SELF_EXPLAINING: Final = frozenset({"out of time", "out of fuel", "stack overflow"})


class HostCallHandler(Protocol):
    """What an instance calls for the guest's ``__host_call`` and ``__console_log``."""

    def host_call(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        """Serve a host call. Raising fails it: the guest's ``__host_call`` returns 0 and the
        host error is ``str(exc)`` for a ``WasccError``, else ``host call failed: <type>``."""
        ...

    def console_log(self, line: str) -> None:
        """One log line from the actor."""
        ...


class WapcState:
    """The host side of one instance's waPC conversation; shared by both back ends.

    Byte strings are kept as the guest sees them: ``host_error`` is already UTF-8 encoded, an
    absent host response or error is ``b""`` (its length is 0, as the protocol wants).
    """

    __slots__ = (
        "fault",
        "guest_error",
        "handler",
        "host_error",
        "host_response",
        "operation",
        "payload",
        "pending",
        "response",
    )

    def __init__(self, handler: HostCallHandler) -> None:
        self.handler = handler
        self.operation = b""
        self.payload = b""
        self.response: bytes | None = None
        self.guest_error: bytes | None = None
        self.host_response = b""
        self.host_error = b""
        # Why a callback trapped the call (kind, detail); takes precedence over wasmtime's code.
        self.fault: tuple[TrapKind, str] | None = None
        # A KeyboardInterrupt/SystemExit caught in a callback, re-raised once the call unwound.
        self.pending: BaseException | None = None

    def begin(self, operation: bytes, payload: bytes) -> None:
        """Forget the previous call and store this one's operation and payload."""
        self.operation = operation
        self.payload = payload
        self.response = None
        self.guest_error = None
        self.host_response = b""
        self.host_error = b""
        self.fault = None
        self.pending = None

    def host_call(self, binding: bytes, namespace: bytes, operation: bytes, payload: bytes) -> int:
        """``__host_call``: clear the last answer, ask the handler, store its answer; 1 or 0."""
        self.host_response = b""
        self.host_error = b""
        try:
            names = [part.decode("utf-8") for part in (binding, namespace, operation)]
        except UnicodeDecodeError:
            self.host_error = b"host call refused: binding, namespace or operation is not UTF-8"
            return 0
        try:
            answer = self.handler.host_call(names[0], names[1], names[2], payload)
            if not isinstance(answer, bytes | bytearray | memoryview):
                raise TypeError(f"host call handler returned {type(answer).__name__}, not bytes")
            self.host_response = bytes(answer)
        except Exception as exc:
            if isinstance(exc, WasccError):
                text = str(exc)
            else:
                text = f"host call failed: {type(exc).__name__}"
                logger.error(
                    "host call %s %s %s raised", names[0], names[1], names[2], exc_info=True
                )
            self.host_error = text.encode("utf-8", "replace")
            return 0
        return 1

    def console_log(self, line: bytes) -> None:
        """``__console_log``: hand one line to the handler; its failures are only logged."""
        try:
            self.handler.console_log(line.decode("utf-8", "replace"))
        except Exception:
            logger.exception("console_log handler raised")

    def out_of_range(self, name: str, ptr: int, length: int, size: int) -> None:
        """Record that the guest passed a pointer outside its memory (the call traps)."""
        self.fault = (
            "out-of-bounds access",
            f"the guest passed an out-of-range pointer to {name}: {length} bytes at {ptr:#x}, "
            f"but its memory is {size} bytes",
        )

    def callback_failed(self, name: str, exc: BaseException) -> str:
        """Record a callback's own failure (the call traps); returns the trap message."""
        if not isinstance(exc, Exception):
            self.pending = exc
            detail = f"{name} was interrupted by {type(exc).__name__}"
        else:
            logger.error("waPC import %s failed", name, exc_info=exc)
            detail = f"host function {name} failed: {type(exc).__name__}: {exc}"
        self.fault = ("other", detail)
        return detail


class _Backend(Protocol):
    """Moves bytes between ``WapcState`` and one instance; see ``host._fastpath``."""

    def bind(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None: ...
    def call(self, op_len: int, payload_len: int) -> int: ...
    def memory_size(self) -> int: ...
    def close(self) -> None: ...


class _GuestFault(Exception):
    """Raised in a public-API callback to trap the call; the reason is in ``WapcState.fault``."""


class _PublicBackend:
    """The same imports on wasmtime-py's public API: slower, and the reference semantics."""

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
    ) -> None:
        self._store = store
        self._state = state
        self._ticks = ticks
        self._fuel = fuel
        self._memory: wasmtime.Memory | None = None
        self._guest_call: wasmtime.Func | None = None
        callbacks: dict[str, Callable[..., Any]] = {
            "__guest_request": self._guest_request,
            "__guest_response": self._guest_response,
            "__guest_error": self._guest_error,
            "__host_call": self._host_call,
            "__host_response_len": self._host_response_len,
            "__host_response": self._host_response,
            "__host_error_len": self._host_error_len,
            "__host_error": self._host_error,
            "__console_log": self._console_log,
        }
        for name in imports:
            linker.define_func("wapc", name, types[name], callbacks[name], access_caller=True)

    def bind(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None:
        exports = instance.exports(store)
        memory, guest_call = exports["memory"], exports["__guest_call"]
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(guest_call, wasmtime.Func)
        self._memory, self._guest_call = memory, guest_call

    def call(self, op_len: int, payload_len: int) -> int:
        assert self._guest_call is not None, "bind() first"
        self._store.set_epoch_deadline(self._ticks)
        if self._fuel is not None:
            self._store.set_fuel(self._fuel)
        return int(self._guest_call(self._store, op_len, payload_len))

    def memory_size(self) -> int:
        return 0 if self._memory is None else self._memory.data_len(self._store)

    def close(self) -> None:
        self._memory = self._guest_call = None

    # memory access: every pointer checked, since Memory.read clamps instead of failing

    def _memory_of(self, caller: wasmtime.Caller) -> wasmtime.Memory:
        if self._memory is not None:
            return self._memory
        found = caller.get("memory")  # a start function runs before bind()
        if not isinstance(found, wasmtime.Memory):
            raise LookupError("the calling instance exports no memory")
        return found

    def _read(self, caller: wasmtime.Caller, name: str, ptr: int, length: int) -> bytes:
        ptr, length = ptr & 0xFFFFFFFF, length & 0xFFFFFFFF
        if not length:
            return b""
        memory = self._memory_of(caller)
        size = memory.data_len(caller)
        if ptr + length > size:
            self._state.out_of_range(name, ptr, length, size)
            raise _GuestFault(name)
        # get_buffer_ptr views the memory in place: one copy, where read() makes two.
        return bytes(memory.get_buffer_ptr(caller, length, ptr))

    def _write(self, caller: wasmtime.Caller, name: str, ptr: int, value: bytes) -> None:
        ptr = ptr & 0xFFFFFFFF
        if not value:
            return
        memory = self._memory_of(caller)
        size = memory.data_len(caller)
        if ptr + len(value) > size:
            self._state.out_of_range(name, ptr, len(value), size)
            raise _GuestFault(name)
        memoryview(memory.get_buffer_ptr(caller, len(value), ptr)).cast("B")[:] = value

    def _guarded(self, name: str, exc: Exception) -> _GuestFault:
        if isinstance(exc, _GuestFault):
            return exc
        return _GuestFault(self._state.callback_failed(name, exc))

    # the imports: raising traps the call (wasmtime-py re-raises it from the Func call)

    def _guest_request(self, caller: wasmtime.Caller, op_ptr: int, msg_ptr: int) -> None:
        try:
            self._write(caller, "__guest_request", msg_ptr, self._state.payload)
            self._write(caller, "__guest_request", op_ptr, self._state.operation)
        except Exception as exc:
            raise self._guarded("__guest_request", exc) from None

    def _guest_response(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        try:
            self._state.response = self._read(caller, "__guest_response", ptr, length)
        except Exception as exc:
            raise self._guarded("__guest_response", exc) from None

    def _guest_error(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        try:
            self._state.guest_error = self._read(caller, "__guest_error", ptr, length)
        except Exception as exc:
            raise self._guarded("__guest_error", exc) from None

    def _host_call(self, caller: wasmtime.Caller, *args: int) -> int:
        try:
            binding, namespace, operation, payload = (
                self._read(caller, "__host_call", args[k], args[k + 1]) for k in range(0, 8, 2)
            )
            return self._state.host_call(binding, namespace, operation, payload)
        except Exception as exc:
            raise self._guarded("__host_call", exc) from None

    def _host_response_len(self, caller: wasmtime.Caller) -> int:
        return len(self._state.host_response)

    def _host_response(self, caller: wasmtime.Caller, ptr: int) -> None:
        try:
            self._write(caller, "__host_response", ptr, self._state.host_response)
        except Exception as exc:
            raise self._guarded("__host_response", exc) from None

    def _host_error_len(self, caller: wasmtime.Caller) -> int:
        return len(self._state.host_error)

    def _host_error(self, caller: wasmtime.Caller, ptr: int) -> None:
        try:
            self._write(caller, "__host_error", ptr, self._state.host_error)
        except Exception as exc:
            raise self._guarded("__host_error", exc) from None

    def _console_log(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        try:
            self._state.console_log(self._read(caller, "__console_log", ptr, length))
        except Exception as exc:
            raise self._guarded("__console_log", exc) from None


def _cause(exc: BaseException) -> str:
    """The last line of wasmtime's "Caused by:" section (the rest is a backtrace)."""
    text = str(exc).strip()
    _, found, cause = text.rpartition("Caused by:")
    lines = [line.strip() for line in (cause if found else text).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _signature_matches(ty: Any, params: int, results: int) -> bool:
    return (
        isinstance(ty, wasmtime.FuncType)
        and ty.params == [_I32] * params
        and ty.results == [_I32] * results
    )


def _check_module(module: wasmtime.Module) -> tuple[list[str], bool]:
    """The ``wapc`` imports a module uses and whether it needs WASI; ModuleLoadError if unfit."""
    wapc: list[str] = []
    wasi = False
    for item in module.imports:
        where = f"{item.module}.{item.name}"
        if item.module == "wapc":
            expected = WAPC_IMPORTS.get(item.name or "")
            if expected is None:
                raise ModuleLoadError(
                    f"the module imports {where}, which is not a waPC function; waPC provides "
                    f"{', '.join(sorted(WAPC_IMPORTS))}: rebuild the actor with a waPC guest "
                    "library of the waSCC 0.14 era"
                )
            if not _signature_matches(item.type, *expected):
                params, results = expected
                raise ModuleLoadError(
                    f"the module imports {where} with the wrong signature; waPC defines it with "
                    f"{params} i32 parameter(s) and {results} i32 result(s)"
                )
            if item.name not in wapc:
                wapc.append(item.name or "")
        elif item.module in _WASI_MODULES:
            wasi = True
        else:
            raise ModuleLoadError(
                f"the module imports {where}, which this host does not provide; an actor may "
                "import only the waPC functions (module 'wapc') and WASI "
                "('wasi_snapshot_preview1' or 'wasi_unstable'): rebuild it without that import"
            )
    exports = {item.name: item.type for item in module.exports}
    if not _signature_matches(exports.get("__guest_call"), 2, 1):
        raise ModuleLoadError(
            "the module does not export __guest_call(i32, i32) -> i32, so it is not a waPC "
            "actor: build it with a waPC guest library"
        )
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        raise ModuleLoadError(
            "the module does not export its linear memory as `memory`; waPC needs it"
        )
    for name in ("_start", "wapc_init"):
        if name in exports and not _signature_matches(exports[name], 0, 0):
            raise ModuleLoadError(f"the module exports {name}, but not as a function () -> ()")
    return wapc, wasi


class WapcInstance:
    """One instance of a waPC actor in its own wasmtime store; one call at a time.

    Made with ``create``. ``invoke`` returns the guest's response, or raises ``GuestError``
    (it returned failure) or ``ActorTrapped`` and its subclasses (it trapped; the instance is
    then ``poisoned`` and must be discarded). The caller ensures a single thread per instance.
    """

    poisoned: bool

    def __init__(
        self,
        *,
        store: wasmtime.Store,
        linker: wasmtime.Linker,
        state: WapcState,
        backend: _Backend,
        limits: Limits,
    ) -> None:
        self._store = store
        self._linker = linker
        self._state = state
        self._backend = backend
        self._call = backend.call
        self.limits = limits
        self.poisoned = False
        self._closed = False
        # What a wasm provider's ``sync`` last brought this instance up to (``set_sync``).
        self.synced: object = None

    @classmethod
    def create(
        cls,
        engine: Engine,
        module: wasmtime.Module,
        limits: Limits,
        handler: HostCallHandler,
        *,
        fast: bool = True,
        wasi: WasiGrants | None = None,
        output: OutputSink | None = None,
    ) -> WapcInstance:
        """Link, instantiate and start ``module`` (compiled by ``engine``).

        Links only what the module imports: the waPC functions it names and, if it imports
        ``wasi_snapshot_preview1`` or ``wasi_unstable``, WASI with the ``wasi`` grants and
        nothing else (no grants: no directories, environment or arguments); output granted
        to the log goes to ``output``. Then calls ``_start`` and ``wapc_init``, each
        if exported. ``ModuleLoadError`` if it cannot be linked or instantiated;
        ``ActorTrapped`` (or a subclass) if it traps while starting.
        """
        wasmtime_engine, metered = engine.engine_for(module)
        if limits.fuel is not None and not metered:
            raise ModuleLoadError(
                "these limits set fuel, but the module was compiled without fuel metering; "
                "compile it with Engine.compile(..., fuel=True)"
            )
        if not engine.running and engine not in _WARNED_STOPPED:
            _WARNED_STOPPED.add(engine)
            logger.warning("instances created while the engine is stopped have no deadlines")
        imports, needs_wasi = _check_module(module)
        ticks = engine.deadline_ticks(limits.deadline)
        fuel = (limits.fuel or _FUEL_UNMETERED) if metered else None

        store = wasmtime.Store(wasmtime_engine)
        linker = wasmtime.Linker(wasmtime_engine)
        state = WapcState(handler)
        backend: _Backend | None = None
        try:
            # One instance per store; tables and memories as a waPC module needs them.
            store.set_limits(
                memory_size=limits.memory_bytes,
                table_elements=1_000_000,
                instances=1,
                tables=10,
                memories=1,
            )
            store.set_epoch_deadline(ticks)
            if fuel is not None:
                store.set_fuel(fuel)
            types = _func_types(wasmtime_engine)
            if fast:
                backend = _fastpath.FastBackend(
                    store, linker, state, imports, types, ticks=ticks, fuel=fuel, clock=engine.clock
                )
            else:
                backend = _PublicBackend(
                    store, linker, state, imports, types, ticks=ticks, fuel=fuel
                )
            if needs_wasi:
                cls._link_wasi(store, linker, module, wasi or _NO_GRANTS, output)
            self = cls(store=store, linker=linker, state=state, backend=backend, limits=limits)
            instance = self._startup("instantiating", lambda: linker.instantiate(store, module))
            backend.bind(instance, store)
            exports = instance.exports(store)
            for name in ("_start", "wapc_init"):
                start = exports.get(name)
                if isinstance(start, wasmtime.Func):
                    store.set_epoch_deadline(ticks)
                    if fuel is not None:
                        store.set_fuel(fuel)
                    self._startup(f"running {name}", lambda f=start: f(store))
        except BaseException:
            store.close()
            linker.close()
            if backend is not None:
                backend.close()
            raise
        return self

    @staticmethod
    def _link_wasi(
        store: wasmtime.Store,
        linker: wasmtime.Linker,
        module: wasmtime.Module,
        grants: WasiGrants,
        output: OutputSink | None,
    ) -> None:
        try:
            config = grants.config(output)
        except wasmtime.WasmtimeError as exc:  # a granted directory vanished since the check
            raise ModuleLoadError(
                f"cannot grant the module its WASI directories "
                f"({', '.join(str(d.host) for d in grants.dirs)}): {_cause(exc)}; check that "
                "they exist and are readable"
            ) from exc
        store.set_wasi(config)
        linker.define_wasi()
        # wasmtime only defines wasi_snapshot_preview1; old toolchains import the same
        # functions as wasi_unstable, so define each such import as its preview1 namesake.
        for item in module.imports:
            if item.module != "wasi_unstable" or item.name is None:
                continue
            try:
                function = linker.get(store, "wasi_snapshot_preview1", item.name)
                linker.define(store, "wasi_unstable", item.name, function)
            except wasmtime.WasmtimeError as exc:
                raise ModuleLoadError(
                    f"the module imports wasi_unstable.{item.name}, which has no "
                    f"wasi_snapshot_preview1 equivalent in this host: {_cause(exc)}"
                ) from exc

    def _startup(self, what: str, step: Any) -> Any:
        """Run an instantiation step: a trap raises ActorTrapped, a link error ModuleLoadError."""
        try:
            return step()
        except wasmtime.ExitTrap as exc:
            if exc.code == 0 and what == "running _start":
                return None  # a command-style _start that exits 0 has simply finished
            raise self._trapped(exc, during=what) from None
        except wasmtime.Trap as exc:
            raise self._trapped(exc, during=what) from None
        except wasmtime.WasmtimeError as exc:
            if self._state.fault is not None or what != "instantiating":
                raise self._trapped(exc, during=what) from None
            raise ModuleLoadError(f"cannot instantiate the module: {_cause(exc)}") from None
        except _GuestFault as exc:
            raise self._trapped(exc, during=what) from None

    # calls ----------------------------------------------------------------------------------

    def set_sync(self, sync: Callable[[WapcInstance], None]) -> None:
        """Run ``sync(self)`` before every ``invoke`` (a wasm provider's instances catch up on
        the bindings in force that way); ``sync`` itself calls the guest with ``call``.

        Set on the instance, not checked in ``invoke``: an actor's calls pay nothing for it."""

        def invoke(operation: str, payload: bytes | bytearray | memoryview) -> bytes:
            sync(self)
            return WapcInstance.invoke(self, operation, payload)

        self.invoke = invoke  # type: ignore[method-assign]

    def call(self, operation: str, payload: bytes | bytearray | memoryview) -> bytes:
        """``invoke`` without what ``set_sync`` added."""
        return WapcInstance.invoke(self, operation, payload)

    def invoke(self, operation: str, payload: bytes | bytearray | memoryview) -> bytes:
        """Call the guest's handler for ``operation`` with ``payload``; its response bytes."""
        if self.poisoned or self._closed:
            reason = "was closed" if self._closed else "trapped before"
            raise ActorTrapped(
                f"trapped: other: this instance {reason} and cannot be used; create a new one",
                kind="other",
            )
        state = self._state
        op = operation.encode()
        # state.begin(), inlined: this runs on every invocation.
        state.operation = op
        state.payload = payload if type(payload) is bytes else bytes(payload)
        state.response = state.guest_error = state.fault = state.pending = None
        state.host_response = state.host_error = b""
        try:
            result = self._call(len(op), len(state.payload))
        except BaseException as exc:
            raise self._trapped(exc) from None
        finally:
            state.payload = b""  # do not keep a large payload alive between calls
        if result == 1:
            response = state.response
            state.response = None
            return b"" if response is None else response
        text = self._guest_error_text() or _NO_ERROR_MESSAGE
        raise GuestError(f"{operation} failed: {text}", guest_error=text)

    def _guest_error_text(self) -> str:
        error = self._state.guest_error
        return "" if error is None else error.decode("utf-8", "replace")

    def _trapped(self, exc: BaseException, *, during: str = "") -> ActorTrapped:
        """Poison the instance and describe the trap; re-raises an interrupt after unwinding."""
        self.poisoned = True
        state = self._state
        if state.pending is not None:
            pending, state.pending = state.pending, None
            raise pending
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt and friends, raised while in wasm
        logger.debug("wasm trap: %s", exc)
        detail = ""
        if state.fault is not None:
            kind, detail = state.fault
        elif isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            kind = "other" if code is None else _KIND_BY_TRAP_CODE.get(code, "other")
            if kind == "other":
                detail = _cause(exc)
        elif isinstance(exc, wasmtime.ExitTrap):
            kind, detail = "other", f"the guest exited (WASI proc_exit) with status {exc.code}"
        else:
            kind, detail = "other", _cause(exc)
        if state.fault is None and kind not in _SELF_EXPLAINING and self._memory_exhausted():
            # A memory.grow past the limit returns -1 to the guest instead of trapping, and
            # guests then abort: a trap with memory at its cap is reported as out of memory.
            kind = "out of memory"
            detail = f"linear memory is at its limit of {self.limits.memory_bytes} bytes"
        message = f"trapped: {kind}"
        if detail:
            message += f": {detail}"
        if during:
            message += f" (while {during})"
        guest_error = self._guest_error_text()
        if guest_error:
            message += f" (guest error: {guest_error})"
        return _EXCEPTION_BY_KIND.get(kind, ActorTrapped)(
            message, kind=kind, guest_error=guest_error
        )

    def _memory_exhausted(self) -> bool:
        try:
            size = self._backend.memory_size()
        except Exception:
            return False
        # The C API cannot tell us that a grow was refused, so judge by the room left: guests
        # grow in steps (allocators ask for 1 MiB or a fraction of their heap at a time), and
        # a trap with less room left than such a step is, in practice, a refused grow.
        # Known gap: one huge grow from a small heap is reported under its own trap kind.
        room = self.limits.memory_bytes - size
        return size > 0 and room < max(16 * _WASM_PAGE, self.limits.memory_bytes // 16)

    def close(self) -> None:
        """Free the store (and with it the instance and its memory). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._store.close()
        self._linker.close()
        self._backend.close()
