"""The admin endpoint of ``wascc up``: health, inventory with secrets redacted, metrics."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path

from tests.process.process_support import SignedActor, WasccProcess
from tests.process.test_process_up import get, post
from wascc.host.admin import redact_values

Actors = dict[str, SignedActor]
Up = Callable[..., WasccProcess]

MANIFEST = """
labels: {zone: test}
actors: [echo_s.wasm, kvcounter_s.wasm]
capabilities:
  - path: http_server
  - path: "slowkv:SlowKeyValue"
bindings:
  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
  - {actor: kvcounter_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
  - actor: kvcounter_s.wasm
    capability: wascc:keyvalue
    values:
      URL: "redis://app:hunter2@127.0.0.1:6379/0"
      CLIENT_SEED: "SUAEXAMPLESEEDTHATMUSTNOTLEAK"
      db_password: "hunter3"
      TABLE: counters
"""


def sample(metrics: str, metric: str, **labels: str) -> float:
    """The value of the sample ``name{labels}`` in Prometheus text (labels in any order)."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != metric:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no sample {metric}{labels} in:\n{metrics}")


def test_health_and_inventory_with_secrets_redacted(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """/healthz answers ok; /inventory lists actors, providers and bindings, never a secret."""
    process = up(manifest(MANIFEST), "--admin", "127.0.0.1:0")
    admin = process.admin()
    assert get(f"http://{admin}/healthz") == (200, b'{"status": "ok"}')
    status, body = get(f"http://{admin}/inventory", headers=process.auth())
    assert status == 200
    for secret in (b"hunter2", b"hunter3", b"SUAEXAMPLE"):
        assert secret not in body
    inventory = json.loads(body)
    assert inventory["labels"] == {"zone": "test"}
    names = {a["name"]: a for a in inventory["actors"]}
    assert names["kvcounter"]["claims"]["caps"] == ["wascc:http_server", "wascc:keyvalue"]
    # Each provider also serves its wasmCloud 0.18 twin, through the same instance.
    assert {(p["contract_id"], p.get("via")) for p in inventory["providers"]} == {
        ("wascc:http_server", None),
        ("wascc:keyvalue", None),
        ("wasmcloud:httpserver", "wascc:http_server"),
        ("wasmcloud:keyvalue", "wascc:keyvalue"),
    }
    kv = next(b for b in inventory["bindings"] if b["contract_id"] == "wascc:keyvalue")
    assert kv["values"] == {
        "URL": "redis://app:[redacted]@127.0.0.1:6379/0",
        "CLIENT_SEED": "[redacted]",
        "db_password": "[redacted]",
        "TABLE": "counters",
    }


def test_metrics_count_invocations_errors_and_http(
    actors: Actors, manifest: Callable[[str], Path], up: Up, env: dict[str, str]
) -> None:
    """/metrics has invocation, error, latency, provider-call, HTTP and instance series."""
    process = up(manifest(MANIFEST), "--admin", "127.0.0.1:0")
    admin, urls, auth = process.admin(), process.urls(), process.auth()
    echo, kv = actors["echo"].key, actors["kvcounter"].key
    call, latency = "HandleRequest", "wascc_invocation_duration_seconds_count"
    for _ in range(3):
        assert get(urls["echo"] + "/")[0] == 200
    assert get(urls["kvcounter"] + "/k")[0] == 200
    assert get(f"http://{admin}/actors/echo/call/Nope", 5, auth)[0] == 405  # GET: refused
    text = get(f"http://{admin}/metrics", headers=auth)[1].decode()
    assert sample(text, "wascc_invocations_total", actor=echo, operation=call) == 3
    assert sample(text, "wascc_http_requests_total", actor=echo, status="200") == 3
    assert sample(text, latency, actor=echo, operation=call) == 3
    adds = sample(text, "wascc_provider_calls_total", actor=kv, operation="Add")
    assert adds == 1
    assert sample(text, "wascc_actor_instances", actor=echo) == 1
    assert sample(text, "wascc_actor_instances_busy", actor=echo) == 0
    assert sample(text, "wascc_actor_info", actor=kv, name="kvcounter", rev="1") == 1
    json_call = {**auth, "Content-Type": "application/json"}
    status, body = post(f"http://{admin}/actors/echo/call/Nope", b"", headers=json_call)
    assert status == 500
    assert "unknown operation: Nope" in json.loads(body)["error"]
    text = get(f"http://{admin}/metrics", headers=auth)[1].decode()
    assert (
        sample(
            text, "wascc_invocation_errors_total", actor=echo, operation="Nope", error="GuestError"
        )
        == 1
    )


def test_admin_port_in_use_fails_startup(
    actors: Actors, manifest: Callable[[str], Path], wascc: Callable[..., WasccProcess]
) -> None:
    """An admin address that is taken fails startup with one error line and status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        file = manifest("actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n")
        admin = f"127.0.0.1:{port}"
        process = wascc("up", str(file), "--data-dir", str(file.parent / "d"), "--admin", admin)
        assert process.wait() == 1
    assert f"Error: --admin 127.0.0.1:{port}: cannot listen" in process.stderr


def test_redaction_rules() -> None:
    """Secret-sounding names and URL passwords are redacted; the host's own keys are not."""
    values = {
        "API_KEY": "k",
        "token": "t",
        "CLIENT_JWT": "j",
        "__wascc_issuer": "AB",
        "URL": "nats://u:p@h:4222",
        "PLAIN_URL": "http://h/x",
        "PORT": "1",
    }
    assert redact_values(values) == {
        "API_KEY": "[redacted]",
        "token": "[redacted]",
        "CLIENT_JWT": "[redacted]",
        "__wascc_issuer": "AB",
        "URL": "nats://u:[redacted]@h:4222",
        "PLAIN_URL": "http://h/x",
        "PORT": "1",
    }
