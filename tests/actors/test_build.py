"""Build the sample actors and fixtures, then check them with a minimal in-test waPC host.

The host here uses only public wasmtime-py API, so these tests check the actors against the
waPC ABI itself, independent of the project's own host.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import msgpack
import pytest
import wasmtime

ROOT = Path(__file__).resolve().parents[2]
ACTORS_DIR = ROOT / "actors"
BUILD_DIR = ACTORS_DIR / "build"
ACTORS = (
    "echo",
    "kvcounter",
    "logger",
    "pinger",
    "ponger",
    "messenger",
    "relay",
    "blobstore",
    "wordcount",
    "pipeline",
    "wasiprobe",
    "wcpinger",
    "wcponger",
    "wckvcounter",
    "wcextras",
    "wcmessenger",
    "big",
)
# The C samples that use WASI (a granted directory, the environment): they may import it.
WASI_ACTORS = frozenset({"blobstore", "wordcount", "pipeline", "wasiprobe"})
FIXTURE_IMPORTS = {
    "counter": {"__guest_request", "__guest_response"},
    "garbage": {"__guest_request"},
    "hostcall": {
        "__guest_request",
        "__guest_response",
        "__guest_error",
        "__host_call",
        "__host_response_len",
        "__host_response",
        "__host_error_len",
        "__host_error",
    },
    "loop": set(),
    "membomb": {"__guest_request", "__guest_response", "__guest_error"},
    "oob": {"__guest_request", "__guest_response", "__guest_error", "__console_log", "__host_call"},
    "recursion": set(),
    "trap": {"__guest_error"},
    "wasi": {"__guest_request", "__guest_response", "__guest_error"},
}
PONGER_KEY = "M" + "A" * 55  # any 56-character actor key: the namespace pinger calls
# The wasmCloud 0.18 samples, the call alias wcpinger calls wcponger by, and the exact answer
# to HealthRequest {healthy: true, message: ""}.
WC_ACTORS = ("wcpinger", "wcponger", "wckvcounter", "wcextras", "wcmessenger")
WC_HTTP_ACTORS = ("wcpinger", "wckvcounter", "wcextras")
PONGER_ALIAS = "wasmcloud/examples/ponger"
HEALTHY = bytes.fromhex("82 a7 6865616c746879 c3 a7 6d657373616765 a0")

HostCallHandler = Callable[[str, str, str, bytes], bytes]


# --- a minimal waPC host ------------------------------------------------------------------


class GuestFault(Exception):
    """The guest handed the host a buffer outside its linear memory."""


class HostCallFailed(Exception):
    """Raised by a test's host-call handler: the message becomes the host error."""


@dataclass
class CallResult:
    code: int | None  # what __guest_call returned; None if it trapped
    response: bytes
    error: str | None  # guest error, plus the trap if there was one

    @property
    def ok(self) -> bool:
        return self.code == 1


def refuse_host_calls(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
    raise HostCallFailed(f"no provider for {namespace}")


@dataclass
class MiniHost:
    """Instantiates one module and calls it the way a waPC host does (no re-entrancy)."""

    wasm: Path
    on_host_call: HostCallHandler = refuse_host_calls
    wasi: bool = False
    config: wasmtime.Config | None = None
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = wasmtime.Engine(self.config) if self.config else wasmtime.Engine()
        self.store = wasmtime.Store(self.engine)
        self.op = self.payload = self.response = self.host_response = b""
        self.error: bytes | None = None
        self.host_error = b""
        linker = wasmtime.Linker(self.engine)
        imports: dict[str, tuple[int, int, Callable[..., Any]]] = {
            "__guest_request": (2, 0, self._guest_request),
            "__guest_response": (2, 0, self._guest_response),
            "__guest_error": (2, 0, self._guest_error),
            "__host_call": (8, 1, self._host_call),
            "__host_response_len": (0, 1, lambda _caller: len(self.host_response)),
            "__host_response": (1, 0, lambda c, p: self._write(c, p, self.host_response)),
            "__host_error_len": (0, 1, lambda _caller: len(self.host_error)),
            "__host_error": (1, 0, lambda c, p: self._write(c, p, self.host_error)),
            "__console_log": (2, 0, lambda c, p, n: self.logs.append(self._read(c, p, n).decode())),
        }
        for name, (params, results, func) in imports.items():
            # (ValTypes are created here, not at module level: wasmtime objects that live until
            # interpreter shutdown make its finalizers complain.)
            i32 = wasmtime.ValType.i32()
            ty = wasmtime.FuncType([i32] * params, [i32] * results)
            linker.define_func("wapc", name, ty, func, access_caller=True)
        if self.wasi:
            linker.define_wasi()
            self.store.set_wasi(wasmtime.WasiConfig())
        module = wasmtime.Module(self.engine, self.wasm.read_bytes())
        self.instance = linker.instantiate(self.store, module)
        exports = self.instance.exports(self.store)
        for init in ("_start", "wapc_init"):
            if init in exports:
                entry = exports[init]
                assert isinstance(entry, wasmtime.Func)
                entry(self.store)

    @staticmethod
    def _span(caller: wasmtime.Caller, ptr: int, length: int) -> tuple[wasmtime.Memory, int]:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        ptr &= 0xFFFFFFFF  # i32 arrives signed
        if ptr + length > memory.data_len(caller):
            raise GuestFault(f"buffer {ptr:#x}+{length} is outside guest memory")
        return memory, ptr

    def _read(self, caller: wasmtime.Caller, ptr: int, length: int) -> bytes:
        if length == 0:
            return b""
        memory, ptr = self._span(caller, ptr, length)
        return bytes(memory.read(caller, ptr, ptr + length))

    def _write(self, caller: wasmtime.Caller, ptr: int, data: bytes) -> None:
        if data:
            memory, ptr = self._span(caller, ptr, len(data))
            memory.write(caller, data, ptr)

    def _guest_request(self, caller: wasmtime.Caller, op_ptr: int, msg_ptr: int) -> None:
        self._write(caller, op_ptr, self.op)
        self._write(caller, msg_ptr, self.payload)

    def _guest_response(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        self.response = self._read(caller, ptr, length)

    def _guest_error(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        self.error = self._read(caller, ptr, length)

    def _host_call(self, caller: wasmtime.Caller, *args: int) -> int:
        binding, namespace, operation, payload = (
            self._read(caller, args[i], args[i + 1]) for i in range(0, 8, 2)
        )
        self.host_response = self.host_error = b""
        try:
            self.host_response = self.on_host_call(
                binding.decode(), namespace.decode(), operation.decode(), payload
            )
        except HostCallFailed as exc:
            self.host_error = str(exc).encode()
            return 0
        return 1

    def call(self, op: str, payload: bytes = b"") -> CallResult:
        self.op, self.payload = op.encode(), payload
        self.response, self.error = b"", None
        guest_call = self.instance.exports(self.store)["__guest_call"]
        assert isinstance(guest_call, wasmtime.Func)
        try:
            code = guest_call(self.store, len(self.op), len(payload))
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestFault) as exc:
            stored = self.error.decode() if self.error is not None else ""
            return CallResult(None, b"", f"{stored} [trap: {exc}]")
        error = self.error.decode() if self.error is not None else None
        return CallResult(code, self.response, error)


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    """Run the build once for this module (a no-op when `make actors` already ran)."""
    proc = subprocess.run(
        [sys.executable, str(ACTORS_DIR / "build.py")],
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("actors_build_script", ACTORS_DIR / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building classes
    spec.loader.exec_module(module)
    return module


def actor(name: str, on_host_call: HostCallHandler = refuse_host_calls) -> MiniHost:
    return MiniHost(BUILD_DIR / f"{name}.wasm", on_host_call, wasi=name in WASI_ACTORS)


def fixture(name: str, **options: Any) -> MiniHost:
    return MiniHost(BUILD_DIR / "fixtures" / f"{name}.wasm", **options)


def pack(value: object) -> bytes:
    data = msgpack.packb(value, use_bin_type=True)
    assert isinstance(data, bytes)
    return data


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def request(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "method": "GET",
        "path": "/",
        "queryString": "",
        "header": {},
        "body": b"",
    }
    base.update(fields)
    return base


def as_bin(value: object) -> object:
    """The same msgpack value with every str turned into bin (keys included)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict):
        return {as_bin(k): as_bin(v) for k, v in value.items()}
    return value


def http_call(host: MiniHost, req: object) -> dict[str, Any]:
    result = host.call("HandleRequest", pack(req))
    assert result.ok, result.error
    response = unpack(result.response)
    assert isinstance(response, dict)
    return response


@dataclass
class Recorder:
    """A host-call handler that records calls and answers from a fixed reply."""

    reply: bytes = b""
    fail_with: str | None = None
    calls: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def __call__(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        self.calls.append((binding, namespace, operation, payload))
        if self.fail_with is not None:
            raise HostCallFailed(self.fail_with)
        return self.reply


@dataclass
class Provider:
    """A host-call handler that records calls and answers each operation from its own reply;
    an operation in `fail` (or without a reply) fails with that host error."""

    replies: dict[str, bytes] = field(default_factory=dict)
    fail: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def __call__(self, binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        self.calls.append((binding, namespace, operation, payload))
        if operation in self.fail:
            raise HostCallFailed(self.fail[operation])
        if operation not in self.replies:
            raise HostCallFailed(f"no reply for {operation}")
        return self.replies[operation]


def json_response(body: bytes) -> bytes:
    """The exact msgpack bytes of a 200 application/json Response with `body`."""
    return pack(
        {
            "statusCode": 200,
            "status": "OK",
            "header": {"content-type": "application/json"},
            "body": body,
        }
    )


def all_modules() -> Iterator[Path]:
    yield from (BUILD_DIR / f"{name}.wasm" for name in ACTORS)
    yield from (BUILD_DIR / "fixtures" / f"{name}.wasm" for name in FIXTURE_IMPORTS)


# --- the build ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(all_modules()), ids=lambda p: p.stem)
def test_module_is_valid_waPC_guest(path: Path) -> None:
    """Every built module compiles, exports memory and __guest_call, and imports only wapc."""
    module = wasmtime.Module(wasmtime.Engine(), path.read_bytes())
    exports = {export.name: export.type for export in module.exports}
    assert isinstance(exports.get("memory"), wasmtime.MemoryType)
    call_type = exports.get("__guest_call")
    assert isinstance(call_type, wasmtime.FuncType)
    assert [str(t) for t in call_type.params] == ["i32", "i32"]
    assert [str(t) for t in call_type.results] == ["i32"]
    wasi = path.stem == "wasi" or (path.parent == BUILD_DIR and path.stem in WASI_ACTORS)
    allowed = {"wapc", "wasi_snapshot_preview1"} if wasi else {"wapc"}
    assert {imp.module for imp in module.imports} <= allowed


@pytest.mark.parametrize("name", ACTORS)
def test_c_actors_export_wapc_init(name: str) -> None:
    """The C actors register their handlers in an exported wapc_init."""
    module = wasmtime.Module(wasmtime.Engine(), (BUILD_DIR / f"{name}.wasm").read_bytes())
    assert "wapc_init" in {export.name for export in module.exports}


@pytest.mark.parametrize("name", sorted(FIXTURE_IMPORTS))
def test_fixture_imports_exactly_what_it_uses(name: str) -> None:
    """Each WAT fixture imports exactly the documented functions."""
    path = BUILD_DIR / "fixtures" / f"{name}.wasm"
    module = wasmtime.Module(wasmtime.Engine(), path.read_bytes())
    wapc = {imp.name for imp in module.imports if imp.module == "wapc"}
    assert wapc == FIXTURE_IMPORTS[name]
    others = {(imp.module, imp.name) for imp in module.imports if imp.module != "wapc"}
    assert others == ({("wasi_snapshot_preview1", "random_get")} if name == "wasi" else set())


def test_big_module_size() -> None:
    """The benchmark module carries about 2 MB of real code."""
    size = (BUILD_DIR / "big.wasm").stat().st_size
    assert 1_800_000 <= size <= 2_500_000


def test_rebuild_is_a_no_op() -> None:
    """A second build finds everything up to date and leaves the outputs untouched."""
    before = {path: path.stat().st_mtime_ns for path in all_modules()}
    proc = subprocess.run(
        [sys.executable, str(ACTORS_DIR / "build.py")],
        capture_output=True,
        text=True,
        timeout=55,
        check=True,
    )
    assert "built " not in proc.stdout
    assert {path: path.stat().st_mtime_ns for path in all_modules()} == before


def test_compile_error_is_reported(tmp_path: Path) -> None:
    """A C source that does not compile raises BuildError with the compiler's message."""
    script = load_build_script()
    source = tmp_path / "broken.c"
    source.write_text("int broken(void) { return undeclared_name; }\n")
    target = script.Target("broken", tmp_path / "broken.wasm", (source,), ())
    with pytest.raises(script.BuildError, match="undeclared_name"):
        script.build(target)
    assert not any(tmp_path.glob("*.wasm*"))


def test_wat_error_is_reported(tmp_path: Path) -> None:
    """A WAT fixture that does not parse raises BuildError naming the file."""
    script = load_build_script()
    source = tmp_path / "broken.wat"
    source.write_text('(module (func (export "f") (result i32) i64.const 1))\n')
    target = script.Target("fixtures/broken", tmp_path / "broken.wasm", (source,), ())
    with pytest.raises(script.BuildError, match="broken"):
        script.build(target)
    assert not any(tmp_path.glob("*.wasm*"))


# --- echo ---------------------------------------------------------------------------------


def test_echo_describes_request_as_json() -> None:
    """HandleRequest answers 200 with the exact compact msgpack Response and JSON body."""
    req = request(
        method="POST",
        path="/hello/world",
        queryString="a=1&b=two",
        header={"host": "example.test", "x-quote": 'say "hi"'},
        body=b'{"k": "v\\\\"}',
    )
    result = actor("echo").call("HandleRequest", pack(req))
    assert result.ok, result.error
    expected_json = {
        "method": "POST",
        "path": "/hello/world",
        "query_string": "a=1&b=two",
        "headers": {"host": "example.test", "x-quote": 'say "hi"'},
        "body": '{"k": "v\\\\"}',
    }
    body = json.dumps(expected_json, separators=(",", ":")).encode()
    expected = {
        "statusCode": 200,
        "status": "OK",
        "header": {"content-type": "application/json"},
        "body": body,
    }
    assert result.response == pack(expected)


def test_echo_escapes_binary_body() -> None:
    """Bytes outside printable ASCII come back as \\u00XX escapes, one code point per byte."""
    raw = bytes(range(256)) + b'"\\'
    response = http_call(actor("echo"), request(body=raw))
    text = response["body"]
    assert isinstance(text, bytes)
    assert text.isascii()
    assert b"\\u0000" in text
    assert b"\\u00ff" in text
    assert b"\\u007f" in text
    assert json.loads(text)["body"] == raw.decode("latin-1")


def test_echo_handles_multi_mib_body() -> None:
    """A 3 MiB binary body round-trips (the arena grows linear memory as needed)."""
    raw = os.urandom(3 * 1024 * 1024)
    response = http_call(actor("echo"), request(path="/big", body=raw))
    document = json.loads(response["body"])
    assert document["path"] == "/big"
    assert document["body"] == raw.decode("latin-1")


def test_echo_accepts_bin_where_strings_belong() -> None:
    """A Request whose strings (keys included) are all bin, and whose body is str, decodes."""
    req = as_bin(request(method="PUT", path="/p", queryString="q=1", header={"a": "b"}))
    assert isinstance(req, dict)
    req[b"body"] = "text body"
    document = json.loads(http_call(actor("echo"), req)["body"])
    assert document == {
        "method": "PUT",
        "path": "/p",
        "query_string": "q=1",
        "headers": {"a": "b"},
        "body": "text body",
    }


def test_echo_skips_unknown_and_tolerates_missing_fields() -> None:
    """Unknown fields of any type are skipped and missing fields read as empty."""
    req = {
        "extra": [1, -70000, 2.5, None, True, {"nested": [b"x", {"y": 2**40}]}],
        "path": "/only-path",
        "header": {"k": "v", "n": 5},
        "more": {"z": -1},
    }
    document = json.loads(http_call(actor("echo"), req)["body"])
    assert document == {
        "method": "",
        "path": "/only-path",
        "query_string": "",
        "headers": {"k": "v"},
        "body": "",
    }


def test_echo_rejects_malformed_request() -> None:
    """A payload that is not a msgpack map fails with a guest error."""
    host = actor("echo")
    for payload in (b"", b"\x92\x01\x02", b"\x85\xa6method"):
        result = host.call("HandleRequest", payload)
        assert result.code == 0
        assert result.error == "echo: cannot decode the HTTP request"


def test_echo_out_of_memory_fails_cleanly() -> None:
    """When memory.grow is refused the actor stores "out of memory" and traps."""
    host = actor("echo")
    host.store.set_limits(memory_size=4 * 1024 * 1024)
    result = host.call("HandleRequest", pack(request(body=bytes(2 * 1024 * 1024))))
    assert result.code is None
    assert (result.error or "").startswith("out of memory [trap:")
    small = host.call("HandleRequest", pack(request(body=b"ok")))
    assert small.ok, small.error


@pytest.mark.parametrize("size", [16, 1024 * 1024])
@pytest.mark.parametrize("name", ["echo", "big"])
def test_echo_op_returns_payload(name: str, size: int) -> None:
    """Echo returns its payload unchanged, small and large, several times on one instance."""
    host = actor(name)
    for _ in range(3):
        payload = os.urandom(size)
        result = host.call("Echo", payload)
        assert result.ok, result.error
        assert result.response == payload


def test_big_mix_runs_all_functions() -> None:
    """Mix threads a value through every generated function and is deterministic."""
    host = actor("big")
    first = host.call("Mix", b"seed")
    assert first.ok, first.error
    assert first.response.isdigit()
    assert host.call("Mix", b"seed").response == first.response
    assert host.call("Mix", b"other").response != first.response


@pytest.mark.parametrize("name", ACTORS)
def test_unknown_operation_fails(name: str) -> None:
    """An operation the actor does not register fails with "unknown operation: <op>"."""
    result = actor(name).call("NoSuchOp", b"x")
    assert result.code == 0
    assert result.error == "unknown operation: NoSuchOp"


# --- kvcounter ----------------------------------------------------------------------------


@pytest.mark.parametrize("total", [1, 42, 300, 2**40, -5])
def test_kvcounter_adds_and_formats(total: int) -> None:
    """kvcounter calls Add with key ":a:b" for "/a/b" and reports the new total as JSON."""
    kv = Recorder(reply=pack({"value": total}))
    response = http_call(actor("kvcounter", kv), request(path="/a/b"))
    assert kv.calls == [("default", "wascc:keyvalue", "Add", pack({"key": ":a:b", "value": 1}))]
    assert response == {
        "statusCode": 200,
        "status": "OK",
        "header": {"content-type": "application/json"},
        "body": b'{"counter":%d}' % total,
    }


def test_kvcounter_reports_host_error() -> None:
    """A failed Add becomes the guest error, with the host's text unchanged."""
    kv = Recorder(fail_with="redis: connection refused")
    result = actor("kvcounter", kv).call("HandleRequest", pack(request(path="/x")))
    assert result.code == 0
    assert result.error == "redis: connection refused"
    assert unpack(kv.calls[0][3]) == {"key": ":x", "value": 1}


def test_kvcounter_rejects_malformed_add_reply() -> None:
    """A reply without an integer "value" fails the call."""
    kv = Recorder(reply=pack({"value": "seven"}))
    result = actor("kvcounter", kv).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "kvcounter: malformed reply to Add"


# --- logger -------------------------------------------------------------------------------


def test_logger_writes_info_then_warning() -> None:
    """logger sends WriteLog at level 3 then level 2, both naming the path, and says "logged"."""
    log = Recorder()
    response = http_call(actor("logger", log), request(path="/orders/7"))
    assert [call[:3] for call in log.calls] == [("default", "wascc:logging", "WriteLog")] * 2
    messages = [unpack(call[3]) for call in log.calls]
    assert [m["level"] for m in messages] == [3, 2]
    assert all("/orders/7" in m["body"] for m in messages)
    assert list(messages[0]) == ["level", "body"]
    assert response["statusCode"] == 200
    assert response["body"] == b"logged"


def test_logger_reports_host_error() -> None:
    """A failed WriteLog becomes the guest error and stops further logging."""
    log = Recorder(fail_with="logging provider not bound")
    result = actor("logger", log).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "logging provider not bound"
    assert len(log.calls) == 1


# --- pinger / ponger ----------------------------------------------------------------------


def test_ponger_answers() -> None:
    """Pong returns "pong: " followed by the payload."""
    result = actor("ponger").call("Pong", b"hello")
    assert result.ok, result.error
    assert result.response == b"pong: hello"


def test_pinger_calls_ponger() -> None:
    """Ping calls the actor named by its payload with Pong("ping") and returns the answer."""
    ponger = actor("ponger")
    calls: list[tuple[str, str, str, bytes]] = []

    def route(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        calls.append((binding, namespace, operation, payload))
        answer = ponger.call(operation, payload)
        if not answer.ok:
            raise HostCallFailed(answer.error or "no error message set")
        return answer.response

    result = actor("pinger", route).call("Ping", PONGER_KEY.encode())
    assert result.ok, result.error
    assert result.response == b"pong: ping"
    assert calls == [("default", PONGER_KEY, "Pong", b"ping")]


def test_pinger_reports_host_error() -> None:
    """A failed actor-to-actor call fails Ping with "pinger: " + the host error."""
    result = actor("pinger").call("Ping", PONGER_KEY.encode())
    assert result.code == 0
    assert result.error == f"pinger: no provider for {PONGER_KEY}"


# --- the wasmCloud 0.18 samples -----------------------------------------------------------


@pytest.mark.parametrize("name", WC_ACTORS)
def test_wc_actor_answers_health_request_healthy(name: str) -> None:
    """HealthRequest {placeholder: true} answers exactly {healthy: true, message: ""}."""
    result = actor(name).call("HealthRequest", pack({"placeholder": True}))
    assert result.ok, result.error
    assert result.response == HEALTHY
    assert unpack(result.response) == {"healthy": True, "message": ""}


@pytest.mark.parametrize("name", WC_HTTP_ACTORS)
def test_wc_http_actor_rejects_malformed_request(name: str) -> None:
    """A HandleRequest payload that is not a Request map fails before any host call."""
    provider = Provider()
    result = actor(name, provider).call("HandleRequest", b"\x92\x01\x02")
    assert result.code == 0
    assert result.error == f"{name}: cannot decode the HTTP request"
    assert provider.calls == []


# --- wcponger -----------------------------------------------------------------------------


def test_wcponger_ping_adds_42() -> None:
    """Ping {value: 11} answers exactly {value: 53}."""
    result = actor("wcponger").call("Ping", bytes.fromhex("81 a5 76616c7565 0b"))
    assert result.ok, result.error
    assert result.response == bytes.fromhex("81 a5 76616c7565 35")


@pytest.mark.parametrize("value", [-50, 0, 2**40, 2**63 - 43])
def test_wcponger_ping_skips_unknown_keys(value: int) -> None:
    """Ping reads "value" among unknown keys in any position, negative and 64-bit too."""
    payload = pack({"extra": [1, {"x": None}], "value": value, "more": "text"})
    result = actor("wcponger").call("Ping", payload)
    assert result.ok, result.error
    assert result.response == pack({"value": value + 42})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "wcponger: cannot decode Ping"),
        (pack({}), "wcponger: cannot decode Ping"),
        (pack({"value": "11"}), "wcponger: cannot decode Ping"),
        (pack([11]), "wcponger: cannot decode Ping"),
        (pack({"value": 2**63 - 42}), "wcponger: value + 42 overflows"),
    ],
)
def test_wcponger_rejects_bad_ping(payload: bytes, message: str) -> None:
    """A Ping without an integer value, or whose sum overflows int64, fails with a guest error."""
    result = actor("wcponger").call("Ping", payload)
    assert result.code == 0
    assert result.error == message


def test_wcponger_set_health_makes_it_report_unhealthy() -> None:
    """SetHealth {healthy: false, message: "db down"} answers empty; HealthRequest then reports
    exactly that, and SetHealth {healthy: true, message: ""} restores the healthy answer."""
    host = actor("wcponger")
    assert host.call("HealthRequest", pack({"placeholder": True})).response == HEALTHY
    down = host.call("SetHealth", pack({"healthy": False, "message": "db down"}))
    assert down == CallResult(1, b"", None)
    health = host.call("HealthRequest", pack({"placeholder": True}))
    assert health.ok, health.error
    assert health.response == pack({"healthy": False, "message": "db down"})
    assert unpack(health.response) == {"healthy": False, "message": "db down"}
    assert host.call("SetHealth", pack({"message": "", "healthy": True})).ok
    assert host.call("HealthRequest", pack({"placeholder": True})).response == HEALTHY


@pytest.mark.parametrize(
    ("message", "kept"),
    [("x" * 250, "x" * 200), ("a" + "é" * 150, "a" + "é" * 99), ("é" * 100, "é" * 100)],
)
def test_wcponger_truncates_health_message_to_200_bytes(message: str, kept: str) -> None:
    """A long SetHealth message is cut to 200 bytes, never inside a UTF-8 sequence."""
    host = actor("wcponger")
    assert host.call("SetHealth", pack({"healthy": False, "message": message})).ok
    health = unpack(host.call("HealthRequest", pack({"placeholder": True})).response)
    assert health == {"healthy": False, "message": kept}
    assert len(kept.encode()) <= 200


@pytest.mark.parametrize("payload", [b"", pack({"message": "no flag"}), pack({"healthy": 0})])
def test_wcponger_rejects_set_health_without_flag(payload: bytes) -> None:
    """SetHealth without a bool "healthy" fails and leaves the health unchanged."""
    host = actor("wcponger")
    result = host.call("SetHealth", payload)
    assert result.code == 0
    assert result.error == "wcponger: cannot decode SetHealth"
    assert host.call("HealthRequest", pack({"placeholder": True})).response == HEALTHY


# --- wcpinger -----------------------------------------------------------------------------


def test_wcpinger_calls_wcponger_by_alias() -> None:
    """HandleRequest calls Ping {value: 11} on the ponger alias and answers {"value":53}."""
    ponger = actor("wcponger")
    calls: list[tuple[str, str, str, bytes]] = []
    replies: list[bytes] = []

    def route(binding: str, namespace: str, operation: str, payload: bytes) -> bytes:
        calls.append((binding, namespace, operation, payload))
        answer = ponger.call(operation, payload)
        if not answer.ok:
            raise HostCallFailed(answer.error or "no error message set")
        replies.append(answer.response)
        return answer.response

    result = actor("wcpinger", route).call("HandleRequest", pack(request(path="/ping")))
    assert result.ok, result.error
    assert calls == [("default", PONGER_ALIAS, "Ping", bytes.fromhex("81 a5 76616c7565 0b"))]
    assert replies == [bytes.fromhex("81 a5 76616c7565 35")]
    assert result.response == json_response(b'{"value":53}')


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("", 11),
        ("value=5", 5),
        ("a=b&value=-3", -3),
        ("values=9&xvalue=8", 11),
        ("value=300&z=", 300),
        ("value=-9223372036854775808", -(2**63)),
    ],
)
def test_wcpinger_query_value_replaces_11(query: str, sent: int) -> None:
    """A query parameter value=N (decimal, optional) is what Ping carries."""
    ponger = Provider(replies={"Ping": pack({"note": "unknown key", "value": 1234})})
    response = http_call(actor("wcpinger", ponger), request(queryString=query))
    assert [unpack(call[3]) for call in ponger.calls] == [{"value": sent}]
    assert ponger.calls[0][3] == pack({"value": sent})
    assert response["body"] == b'{"value":1234}'


@pytest.mark.parametrize("query", ["value=", "value=12a", "value=9223372036854775808", "value=-"])
def test_wcpinger_answers_400_for_bad_query_value(query: str) -> None:
    """A value that is not a 64-bit decimal answers 400 without calling wcponger."""
    ponger = Provider(replies={"Ping": pack({"value": 1})})
    response = http_call(actor("wcpinger", ponger), request(queryString=query))
    assert response["statusCode"] == 400
    assert response["status"] == "Bad Request"
    assert response["header"] == {"content-type": "text/plain"}
    assert response["body"] == b"wcpinger: value must be a 64-bit decimal integer"
    assert ponger.calls == []


def test_wcpinger_reports_host_error_unchanged() -> None:
    """A failed Ping becomes the guest error with the host's text unchanged."""
    result = actor("wcpinger").call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == f"no provider for {PONGER_ALIAS}"


@pytest.mark.parametrize(
    "reply", [b"", pack([53]), pack({"val": 53}), pack({"value": "53"}), b"\x81\xa5value"]
)
def test_wcpinger_rejects_malformed_ping_reply(reply: bytes) -> None:
    """A reply that is not a map with an integer "value" fails the request."""
    result = actor("wcpinger", Provider(replies={"Ping": reply})).call(
        "HandleRequest", pack(request())
    )
    assert result.code == 0
    assert result.error == "wcpinger: malformed reply to Ping"


# --- wckvcounter --------------------------------------------------------------------------


def test_wckvcounter_adds_then_records_path() -> None:
    """Add {key: ":a:b", value: 1} then SetAdd {key: ":paths", value: "/a/b"} on
    wasmcloud:keyvalue; the totals come back as {"counter":N,"paths":M}."""
    kv = Provider(replies={"Add": pack({"value": 3}), "SetAdd": pack({"new_count": 2})})
    result = actor("wckvcounter", kv).call("HandleRequest", pack(request(path="/a/b")))
    assert result.ok, result.error
    assert [call[:3] for call in kv.calls] == [
        ("default", "wasmcloud:keyvalue", "Add"),
        ("default", "wasmcloud:keyvalue", "SetAdd"),
    ]
    assert [unpack(call[3]) for call in kv.calls] == [
        {"key": ":a:b", "value": 1},
        {"key": ":paths", "value": "/a/b"},
    ]
    assert kv.calls[0][3] == bytes.fromhex("82 a3 6b6579 a4 3a613a62 a5 76616c7565 01")
    assert kv.calls[1][3] == bytes.fromhex("82 a3 6b6579 a6 3a7061746873 a5 76616c7565 a4 2f612f62")
    assert result.response == json_response(b'{"counter":3,"paths":2}')


def test_wckvcounter_reads_new_count_among_other_keys() -> None:
    """Replies are read by key in any order with unknown keys skipped; big totals print whole."""
    kv = Provider(
        replies={
            "Add": pack({"extra": True, "value": 2**40}),
            "SetAdd": pack({"other": [1], "new_count": 300}),
        }
    )
    response = http_call(actor("wckvcounter", kv), request(path="/"))
    assert response["body"] == b'{"counter":1099511627776,"paths":300}'
    assert unpack(kv.calls[0][3]) == {"key": ":", "value": 1}


def test_wckvcounter_refuses_wascc_newcount_reply() -> None:
    """waSCC's SetAdd reply {newCount} is refused: the 0.18 reply says new_count."""
    kv = Provider(replies={"Add": pack({"value": 1}), "SetAdd": pack({"newCount": 1})})
    result = actor("wckvcounter", kv).call("HandleRequest", pack(request(path="/x")))
    assert result.code == 0
    assert result.error == "wckvcounter: reply to SetAdd lacks new_count"


@pytest.mark.parametrize(
    ("replies", "message", "calls"),
    [
        ({"Add": pack({"value": "seven"})}, "wckvcounter: malformed reply to Add", 1),
        ({"Add": pack({"count": 7})}, "wckvcounter: malformed reply to Add", 1),
        (
            {"Add": pack({"value": 1}), "SetAdd": pack({"new_count": "2"})},
            "wckvcounter: malformed reply to SetAdd",
            2,
        ),
        ({"Add": pack({"value": 1}), "SetAdd": b""}, "wckvcounter: malformed reply to SetAdd", 2),
    ],
)
def test_wckvcounter_rejects_malformed_replies(
    replies: dict[str, bytes], message: str, calls: int
) -> None:
    """An unreadable Add or SetAdd reply fails the request (a bad Add stops before SetAdd)."""
    kv = Provider(replies=replies)
    result = actor("wckvcounter", kv).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == message
    assert len(kv.calls) == calls


@pytest.mark.parametrize("op", ["Add", "SetAdd"])
def test_wckvcounter_reports_host_error_unchanged(op: str) -> None:
    """A failed Add or SetAdd becomes the guest error with the host's text unchanged."""
    kv = Provider(
        replies={"Add": pack({"value": 1}), "SetAdd": pack({"new_count": 1})},
        fail={op: "redis: connection refused"},
    )
    result = actor("wckvcounter", kv).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "redis: connection refused"
    assert kv.calls[-1][2] == op


# --- wcextras -----------------------------------------------------------------------------

EXTRAS_REQUESTS = {
    "RequestGuid": bytes.fromhex(
        "85 a4 67756964 c3 a8 73657175656e6365 c2 a6 72616e646f6d c2 a3 6d696e 00 a3 6d6178 00"
    ),
    "RequestRandom": bytes.fromhex(
        "85 a4 67756964 c2 a8 73657175656e6365 c2 a6 72616e646f6d c3 a3 6d696e 00 a3 6d6178 64"
    ),
    "RequestSequence": bytes.fromhex(
        "85 a4 67756964 c2 a8 73657175656e6365 c3 a6 72616e646f6d c2 a3 6d696e 00 a3 6d6178 00"
    ),
}
GUID = "5c1d5e0a-8a3b-4f7e-9a51-2b5f7f0e1c42"


def extras_replies(**changes: dict[str, object]) -> dict[str, dict[str, object]]:
    """Well-formed 0.18 replies per operation, each updated from `changes[op]`."""
    replies: dict[str, dict[str, object]] = {
        "RequestGuid": {"guid": GUID, "sequenceNumber": 0, "random_number": 0},
        "RequestRandom": {"guid": None, "sequenceNumber": 0, "random_number": 37},
        "RequestSequence": {"guid": None, "sequenceNumber": 2**64 - 1, "random_number": 0},
    }
    for op, change in changes.items():
        replies[op].update(change)
    return replies


def extras_provider(replies: dict[str, dict[str, object]]) -> Provider:
    return Provider(replies={op: pack(reply) for op, reply in replies.items()})


def test_wcextras_requests_guid_random_and_sequence() -> None:
    """The three requests carry all five keys (the op's flag set, max 100 for random); the
    answer is {"guid":...,"random":R,"sequence":S} from the matching replies."""
    extras = extras_provider(extras_replies())
    result = actor("wcextras", extras).call("HandleRequest", pack(request(path="/extras")))
    assert result.ok, result.error
    assert [call[:3] for call in extras.calls] == [
        ("default", "wasmcloud:extras", op) for op in EXTRAS_REQUESTS
    ]
    assert [call[3] for call in extras.calls] == list(EXTRAS_REQUESTS.values())
    assert [unpack(call[3]) for call in extras.calls] == [
        {"guid": True, "sequence": False, "random": False, "min": 0, "max": 0},
        {"guid": False, "sequence": False, "random": True, "min": 0, "max": 100},
        {"guid": False, "sequence": True, "random": False, "min": 0, "max": 0},
    ]
    body = b'{"guid":"%s","random":37,"sequence":18446744073709551615}' % GUID.encode()
    assert result.response == json_response(body)


def test_wcextras_escapes_guid_and_skips_unknown_keys() -> None:
    """The guid is JSON-escaped; unknown reply keys, in any position, are ignored."""
    odd = 'a"b\\c\n'
    replies = extras_replies(
        RequestGuid={"guid": odd, "extra": {"x": [1, 2]}},
        RequestSequence={"sequenceNumber": 7},
    )
    replies["RequestRandom"] = {"random_number": 99, "note": "x", "guid": None, "sequenceNumber": 0}
    response = http_call(actor("wcextras", extras_provider(replies)), request())
    assert json.loads(response["body"]) == {"guid": odd, "random": 99, "sequence": 7}


def test_wcextras_refuses_wascc_randomnumber_reply() -> None:
    """waSCC's randomNumber is refused: the 0.18 reply says random_number."""
    replies = extras_replies()
    del replies["RequestRandom"]["random_number"]
    replies["RequestRandom"]["randomNumber"] = 37
    result = actor("wcextras", extras_provider(replies)).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "wcextras: reply to RequestRandom lacks random_number"


@pytest.mark.parametrize("key", ["guid", "sequenceNumber", "random_number"])
@pytest.mark.parametrize("op", list(EXTRAS_REQUESTS))
def test_wcextras_requires_every_reply_key(op: str, key: str) -> None:
    """Each reply must carry guid, sequenceNumber and random_number; a missing one is named."""
    replies = extras_replies()
    del replies[op][key]
    extras = extras_provider(replies)
    result = actor("wcextras", extras).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == f"wcextras: reply to {op} lacks {key}"
    assert extras.calls[-1][2] == op


@pytest.mark.parametrize(
    ("op", "change"),
    [
        ("RequestRandom", {"random_number": -1}),
        ("RequestRandom", {"random_number": 2**32}),
        ("RequestRandom", {"random_number": "37"}),
        ("RequestSequence", {"sequenceNumber": -1}),
        ("RequestSequence", {"sequenceNumber": None}),
        ("RequestGuid", {"guid": 5}),
    ],
)
def test_wcextras_rejects_wrongly_typed_reply(op: str, change: dict[str, object]) -> None:
    """A reply value of the wrong type (or out of its u32/u64 range) fails naming the op."""
    replies = extras_replies(**{op: change})
    result = actor("wcextras", extras_provider(replies)).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == f"wcextras: malformed reply to {op}"


def test_wcextras_rejects_nil_guid_from_request_guid() -> None:
    """RequestGuid answering guid nil fails: there is no GUID to report."""
    replies = extras_replies(RequestGuid={"guid": None})
    result = actor("wcextras", extras_provider(replies)).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "wcextras: reply to RequestGuid has a nil guid"


def test_wcextras_reports_host_error_unchanged() -> None:
    """A failed extras call becomes the guest error with the host's text unchanged."""
    extras = extras_provider(extras_replies())
    extras.fail["RequestSequence"] = "extras: sequence unavailable"
    result = actor("wcextras", extras).call("HandleRequest", pack(request()))
    assert result.code == 0
    assert result.error == "extras: sequence unavailable"


# --- wcmessenger --------------------------------------------------------------------------


def test_wcmessenger_logs_then_publishes_echo() -> None:
    """HandleMessage logs "message on <subject>" then publishes "echo: " + body to replyTo,
    and answers with an empty response."""
    broker = Provider(replies={"WriteLog": b"", "Publish": pack({"published": True})})
    message = {"subject": "orders.new", "replyTo": "_INBOX.42", "body": b"hi \x00\xff"}
    result = actor("wcmessenger", broker).call("HandleMessage", pack(message))
    assert result == CallResult(1, b"", None)
    assert [call[:3] for call in broker.calls] == [
        ("default", "wasmcloud:logging", "WriteLog"),
        ("default", "wasmcloud:messaging", "Publish"),
    ]
    log = {"target": "wcmessenger", "level": "info", "text": "message on orders.new"}
    publish = {"subject": "_INBOX.42", "replyTo": "", "body": b"echo: hi \x00\xff"}
    assert [unpack(call[3]) for call in broker.calls] == [log, publish]
    assert [call[3] for call in broker.calls] == [pack(log), pack(publish)]


def test_wcmessenger_without_reply_to_only_logs() -> None:
    """A message with an empty replyTo is logged and not published."""
    broker = Provider(replies={"WriteLog": b""})
    message = {"body": b"x", "replyTo": "", "extra": 1, "subject": "s"}
    result = actor("wcmessenger", broker).call("HandleMessage", pack(message))
    assert result == CallResult(1, b"", None)
    assert [(call[2], unpack(call[3])["text"]) for call in broker.calls] == [
        ("WriteLog", "message on s")
    ]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (pack({"published": False}), "wcmessenger: Publish was not published"),
        (pack({}), "wcmessenger: Publish was not published"),
        (pack({"published": 1}), "wcmessenger: malformed reply to Publish"),
        (b"", "wcmessenger: malformed reply to Publish"),
    ],
)
def test_wcmessenger_requires_published_true(reply: bytes, message: str) -> None:
    """A Publish reply other than {published: true} fails the message."""
    broker = Provider(replies={"WriteLog": b"", "Publish": reply})
    payload = pack({"subject": "s", "replyTo": "r", "body": b"b"})
    result = actor("wcmessenger", broker).call("HandleMessage", payload)
    assert result.code == 0
    assert result.error == message


def test_wcmessenger_reports_log_failure_before_publishing() -> None:
    """A failed WriteLog becomes the guest error unchanged and nothing is published."""
    broker = Provider(fail={"WriteLog": "logging provider not bound"})
    payload = pack({"subject": "s", "replyTo": "r", "body": b"b"})
    result = actor("wcmessenger", broker).call("HandleMessage", payload)
    assert result.code == 0
    assert result.error == "logging provider not bound"
    assert [call[2] for call in broker.calls] == ["WriteLog"]


@pytest.mark.parametrize("payload", [b"", pack(["s", "r", b"b"]), pack({"subject": 5})])
def test_wcmessenger_rejects_malformed_message(payload: bytes) -> None:
    """A payload that is not a message map fails before any host call."""
    broker = Provider()
    result = actor("wcmessenger", broker).call("HandleMessage", payload)
    assert result.code == 0
    assert result.error == "wcmessenger: cannot decode HandleMessage"
    assert broker.calls == []


# --- WAT fixtures -------------------------------------------------------------------------


def test_trap_fixture_stores_error_then_traps() -> None:
    """trap.wat stores "about to trap" and then traps."""
    result = fixture("trap").call("Anything")
    assert result.code is None
    assert result.error is not None
    assert result.error.startswith("about to trap [trap:")


def test_loop_fixture_needs_interruption() -> None:
    """loop.wat spins until the engine's epoch deadline interrupts it."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    host = fixture("loop", config=config)
    host.store.set_epoch_deadline(1)
    timer = threading.Timer(0.2, host.engine.increment_epoch)
    timer.start()
    try:
        result = host.call("Spin")
    finally:
        timer.cancel()
    assert result.code is None
    assert "interrupt" in (result.error or "")


def test_recursion_fixture_overflows_stack() -> None:
    """recursion.wat traps with a stack overflow."""
    result = fixture("recursion").call("Down")
    assert result.code is None
    assert "stack" in (result.error or "")


@pytest.mark.parametrize(
    ("op", "message"),
    [("Grow", "membomb: memory.grow failed"), ("Huge", "membomb: 1 GiB memory.grow failed")],
)
def test_membomb_fixture_hits_memory_cap(op: str, message: str) -> None:
    """Under a store memory limit, memory.grow returns -1 and the guest traps with an error."""
    host = fixture("membomb")
    host.store.set_limits(memory_size=16 * 1024 * 1024)
    result = host.call(op)
    assert result.code is None
    assert result.error is not None
    assert result.error.startswith(message + " [trap:")


def test_garbage_fixture_return_codes() -> None:
    """garbage.wat returns 1 without a response, 7 for "Seven" and 0 without an error for "Zero"."""
    host = fixture("garbage")
    assert host.call("Any") == CallResult(1, b"", None)
    assert host.call("Seven") == CallResult(7, b"", None)
    assert host.call("Zero") == CallResult(0, b"", None)


@pytest.mark.parametrize("op", ["Response", "Far", "Error", "Log", "HostCall", "Query", "Store"])
def test_oob_fixture_fails_every_op(op: str) -> None:
    """Each oob.wat operation passes (or stores to) an address outside memory and fails."""
    result = fixture("oob").call(op, b"payload")
    assert result.code is None
    error = result.error or ""
    assert "outside guest memory" in error or "out of bounds" in error


def test_counter_fixture_keeps_state() -> None:
    """counter.wat counts calls in a global (and in memory for "Memory") across calls."""
    host = fixture("counter")
    assert [host.call("Count").response for _ in range(3)] == [b"1", b"2", b"3"]
    assert [host.call("Memory").response for _ in range(2)] == [b"1", b"2"]
    assert host.call("Trap").code is None
    assert host.call("Count").response == b"5"
    assert fixture("counter").call("Count").response == b"1"


def test_hostcall_fixture_forwards() -> None:
    """hostcall.wat calls default/test:slow/Wait with its payload and relays the outcome."""
    slow = Recorder(reply=b"waited")
    result = fixture("hostcall", on_host_call=slow).call("Go", b"100ms")
    assert result == CallResult(1, b"waited", None)
    assert slow.calls == [("default", "test:slow", "Wait", b"100ms")]
    slow.fail_with = "timed out"
    assert fixture("hostcall", on_host_call=slow).call("Go", b"x") == CallResult(
        0, b"", "timed out"
    )


def test_wasi_fixture_links_wasi() -> None:
    """wasi.wat instantiates once WASI is linked and echoes its payload."""
    result = fixture("wasi", wasi=True).call("Echo", b"through wasi")
    assert result == CallResult(1, b"through wasi", None)
