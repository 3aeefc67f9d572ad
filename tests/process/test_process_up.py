"""``wascc up`` as a real process: serving HTTP, env expansion, logs, ordered shutdown."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tests.process.process_support import SignedActor, WasccProcess, free_port, wait_until

Actors = dict[str, SignedActor]
Up = Callable[..., WasccProcess]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def get(
    url: str, timeout: float = 15.0, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """GET ``url`` (with ``headers``); the status and body (error statuses too)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(
    url: str, body: bytes, timeout: float = 15.0, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` (with ``headers``; urllib sends a form's Content-Type when
    they name none); the status and body (error statuses too)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def refused(url: str) -> bool:
    """Whether a new connection to ``url``'s port is refused."""
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return False
    except OSError:
        return True


def busy(process: WasccProcess) -> int:
    """Instances running a call on ``process`` (from its admin endpoint)."""
    inventory = json.loads(get(f"http://{process.admin()}/inventory", headers=process.auth())[1])
    return sum(int(actor["busy"]) for actor in inventory["actors"])


def three_actors(delay: float = 0.0, instances: int = 1) -> str:
    """echo, kvcounter (on the slow test key-value provider) and logger, on free ports."""
    return f"""
actors:
  - echo_s.wasm
  - {{path: kvcounter_s.wasm, max_instances: {instances}}}
  - logger_s.wasm
capabilities:
  - path: http_server
  - {{path: "slowkv:SlowKeyValue", config: {{delay: {delay}}}}}
  - path: logging
bindings:
  - {{actor: echo_s.wasm, capability: wascc:http_server, values: {{PORT: "0"}}}}
  - {{actor: kvcounter_s.wasm, capability: wascc:http_server, values: {{PORT: "0"}}}}
  - {{actor: kvcounter_s.wasm, capability: wascc:keyvalue}}
  - {{actor: logger_s.wasm, capability: wascc:http_server, values: {{PORT: "0"}}}}
  - {{actor: logger_s.wasm, capability: wascc:logging}}
"""


def test_serves_http_and_logs_json_lines(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """Every HTTP binding serves its actor, and JSON log lines carry the invocation fields
    when made during a call (and no empty ones otherwise)."""
    process = up(manifest(three_actors()), "--log-format", "json")
    urls = process.urls()
    assert set(urls) == {"echo", "kvcounter", "logger"}
    status, body = get(urls["echo"] + "/hello?x=1")
    assert status == 200
    assert json.loads(body)["query_string"] == "x=1"
    assert [json.loads(get(urls["kvcounter"] + "/c")[1])["counter"] for _ in range(2)] == [1, 2]
    assert get(urls["logger"] + "/lg") == (200, b"logged")
    process.signal()
    assert process.wait() == 0
    lines = [json.loads(line) for line in process.stderr.splitlines()]
    assert all(value != "" for line in lines for value in line.values())
    logged = [x for x in lines if x["message"] == "logger: handling request for /lg"]
    assert len(logged) == 1
    assert (logged[0]["actor"], logged[0]["actor_key"]) == ("logger", actors["logger"].key)
    assert logged[0]["invocation_id"]
    assert logged[0]["request_id"]
    assert logged[0]["operation"] == "WriteLog"
    assert logged[0]["logger"] == "wascc.actor.logger"
    started = [x["message"] for x in lines if x["logger"] == "wascc.host"]
    assert sum("started (" in m for m in started) == 3  # one line per actor
    assert sum(m.startswith("bound actor") for m in started) == 5  # one line per binding


def test_expand_env_sets_the_port(actors: Actors, manifest: Callable[[str], Path], up: Up) -> None:
    """With --expand-env a binding's PORT comes from the environment."""
    port = free_port()
    file = manifest(
        "actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
        "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '${EP:1}'}}\n"
    )
    process = up(file, "--expand-env", extra_env={"EP": str(port)})
    assert process.urls()["echo"] == f"http://127.0.0.1:{port}"
    assert get(f"http://127.0.0.1:{port}/")[0] == 200


def test_sigterm_during_load_finishes_in_flight_requests(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """SIGTERM stops new connections (health turns 503), lets every request in flight
    finish, then exits 0."""
    process = up(manifest(three_actors(delay=1.0, instances=6)), "--admin", "127.0.0.1:0")
    url = process.urls()["kvcounter"]
    admin = process.admin()
    with ThreadPoolExecutor(6) as pool:
        calls: list[Future[tuple[int, bytes]]] = [pool.submit(get, f"{url}/n{i}") for i in range(6)]
        wait_until(lambda: busy(process) == 6, 10, "six requests in flight")
        process.signal(signal.SIGTERM)
        wait_until(lambda: refused(url), 5, "the listener to stop accepting")
        assert get(f"http://{admin}/healthz") == (503, b'{"status": "stopping"}')
        results = [call.result(timeout=15) for call in calls]
    assert [status for status, _ in results] == [200] * 6
    assert sorted(json.loads(body)["counter"] for _, body in results) == list(range(1, 7))
    assert process.wait() == 0
    err = process.stderr
    order = ["shutting down", "provider wascc:keyvalue removed", "shutdown complete"]
    positions = [err.index(words) for words in order]
    assert positions == sorted(positions), err


def test_second_signal_forces_exit(actors: Actors, manifest: Callable[[str], Path], up: Up) -> None:
    """A second signal during the shutdown exits at once with status 1."""
    process = up(manifest(three_actors(delay=30.0)), "--admin", "127.0.0.1:0")
    url = process.urls()["kvcounter"]
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(get, f"{url}/slow", 20.0)
        metrics, auth = f"http://{process.admin()}/metrics", process.auth()
        wait_until(
            lambda: (
                "wascc_actor_instances_busy" in get(metrics, headers=auth)[1].decode()
                and b'instances_busy{actor="' + actors["kvcounter"].key.encode() + b'"} 1.0'
                in get(metrics, headers=auth)[1]
            ),
            10,
            "the slow request in flight",
        )
        process.signal(signal.SIGINT)
        wait_until(lambda: "shutting down" in process.stderr, 5, "the shutdown to start")
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 1
        assert time.monotonic() - started < 5
        # The connection is cut: work in flight is lost to a forced exit.
        with contextlib.suppress(OSError):
            call.result(timeout=20)
    assert "SIGTERM received again: forced exit" in process.stderr


def test_port_in_use_is_a_runtime_failure(
    actors: Actors, manifest: Callable[[str], Path], wascc: Callable[..., WasccProcess]
) -> None:
    """A port taken by another program fails startup with one clear line and status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        values = f"{{PORT: '{port}'}}"
        file = manifest(
            "actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
            f"  - {{actor: echo_s.wasm, capability: wascc:http_server, values: {values}}}\n"
        )
        process = wascc("up", str(file), "--data-dir", str(file.parent / "data"))
        assert process.wait() == 1
    errors = [line for line in process.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert f"127.0.0.1:{port}: the port is in use" in errors[0]
    assert "Traceback" not in process.stderr
