"""A ``wascc up`` host running waSCC 0.14 and wasmCloud 0.18 sample actors side by side,
over HTTP and NATS, from one manifest: the same providers serve both generations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

from tests.conftest import Signer
from tests.process.process_support import (
    WasccProcess,
    free_ports,
    run_wascc,
    wait_until,
)
from tests.process.test_process_up import get
from tests.support.servers import ServerProcess, nats_server

PONGER = "wasmcloud/examples/ponger"
WC_HTTP, WC_KV = "wasmcloud:httpserver", "wasmcloud:keyvalue"
SAMPLES = {  # name -> (claimed capabilities, call alias)
    "echo": (["wascc:http_server"], None),
    "kvcounter": (["wascc:http_server", "wascc:keyvalue"], None),
    "messenger": (["wascc:messaging"], None),
    "wcpinger": ([WC_HTTP], None),
    "wcponger": ([], PONGER),
    "wckvcounter": ([WC_HTTP, WC_KV], None),
    "wcextras": ([WC_HTTP, "wasmcloud:extras"], None),
    "wcmessenger": (["wasmcloud:messaging", "wasmcloud:logging"], None),
}
HTTP_ACTORS = ("echo", "kvcounter", "wcpinger", "wckvcounter", "wcextras")


@pytest.fixture
def nats_srv(tmp_path: Path) -> Iterator[ServerProcess]:
    with nats_server(tmp_path) as server:
        yield server


def write_manifest(tmp_path: Path, signer: Signer, nats_url: str) -> tuple[Path, dict[str, int]]:
    for name, (caps, alias) in SAMPLES.items():
        (tmp_path / f"{name}_s.wasm").write_bytes(
            signer.sign(name, caps=caps, call_alias=alias, rev=1)
        )
    ports = dict(zip(HTTP_ACTORS, free_ports(len(HTTP_ACTORS)), strict=True))
    lines = ["actors:", *(f"  - ./{name}_s.wasm" for name in SAMPLES)]
    lines += [
        "capabilities:",
        "  - path: http_server",
        "  - path: wasmcloud:keyvalue  # the built-in key-value provider, by its 0.18 name",
        "  - path: messaging",
        "  - path: logging",
        "bindings:",
    ]

    def bind(actor: str, contract: str, **values: str) -> None:
        lines.extend([f"  - actor: ./{actor}_s.wasm", f"    capability: {contract}"])
        if values:
            lines.append(f"    values: {json.dumps(values)}")

    for name in HTTP_ACTORS:
        contract = WC_HTTP if name.startswith("wc") else "wascc:http_server"
        bind(name, contract, PORT=str(ports[name]))
    bind("kvcounter", "wascc:keyvalue")
    bind("wckvcounter", WC_KV)
    bind("messenger", "wascc:messaging", URL=nats_url, SUBSCRIPTION="upper")
    bind("wcmessenger", "wasmcloud:messaging", URL=nats_url, SUBSCRIPTION="wc.echo")
    bind("wcmessenger", "wasmcloud:logging")
    path = tmp_path / "both.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, ports


async def nats_requests(url: str) -> list[bytes]:
    client = await nats.connect(url, connect_timeout=5)
    try:
        old = await client.request("upper", b"hello", timeout=5)
        new = await client.request("wc.echo", b"hello", timeout=5)
        return [old.data, new.data]
    finally:
        await client.close()


def test_one_host_serves_both_generations_over_http_and_nats(
    env: dict[str, str],
    tmp_path: Path,
    signer: Signer,
    nats_srv: ServerProcess,
    wascc: Callable[..., WasccProcess],
) -> None:
    nats_url = f"nats://127.0.0.1:{nats_srv.port}"
    path, ports = write_manifest(tmp_path, signer, nats_url)
    # Not one of the manifest's ports (chosen and closed before): at least one of these isn't.
    admin_port = next(p for p in free_ports(len(ports) + 1) if p not in ports.values())
    admin = f"127.0.0.1:{admin_port}"
    process = wascc(
        "up",
        str(path),
        "--data-dir",
        str(tmp_path / "data"),
        "--admin",
        admin,
        "--health-interval",
        "0.5",
    )
    process.wait_ready()

    def json_get(name: str, query: str = "") -> object:
        status, body = get(f"http://127.0.0.1:{ports[name]}/hits{query}")
        assert status == 200, body
        return json.loads(body)

    assert json_get("echo")["path"] == "/hits"  # type: ignore[index]
    assert json_get("wcpinger") == {"value": 53}
    assert json_get("wcpinger", "?value=1") == {"value": 43}
    assert json_get("kvcounter") == {"counter": 1}
    assert json_get("wckvcounter") == {"counter": 1, "paths": 1}
    assert json_get("wckvcounter") == {"counter": 2, "paths": 1}
    extras = json_get("wcextras")
    assert isinstance(extras, dict)
    assert (extras["sequence"], len(extras["guid"])) == (0, 36)
    assert 0 <= extras["random"] < 100

    assert asyncio.run(nats_requests(nats_url)) == [b"HELLO", b"echo: hello"]

    def inventory() -> dict[str, object]:
        status, body = get(f"http://{admin}/inventory", headers=process.auth())
        assert status == 200
        return json.loads(body)  # type: ignore[no-any-return]

    def all_checked() -> bool:
        actors = inventory()["actors"]
        assert isinstance(actors, list)
        return all(a["health"]["check"] is not None for a in actors)

    wait_until(all_checked, 10, "every actor's first health check")
    actors = {a["name"]: a for a in inventory()["actors"]}  # type: ignore[attr-defined]
    assert actors["wcponger"]["call_alias"] == PONGER
    assert actors["wcpinger"]["health"]["check"]["healthy"] is True
    assert actors["echo"]["health"]["check"]["healthy"] is None  # it has no HealthRequest
    status, metrics = get(f"http://{admin}/metrics", headers=process.auth())
    assert status == 200
    ponger = actors["wcponger"]["key"]
    assert f'wascc_actor_healthy{{actor="{ponger}"}} 1.0' in metrics.decode()
    assert "wcmessenger: message on wc.echo" in process.stderr

    # The admin endpoint knows the actor by its call alias too (its "/" percent-encoded).
    token = {"WASCC_ADMIN_TOKEN": process.auth()["Authorization"].split()[1]}
    pinged = run_wascc(
        *("call", PONGER, "Ping", '{"value": 1}', "--host-admin", admin),
        env={**env, **token},
        cwd=tmp_path,
    )
    assert pinged.returncode == 0, pinged.stderr
    assert json.loads(pinged.stdout) == {"value": 43}
