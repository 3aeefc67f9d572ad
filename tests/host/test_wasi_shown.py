"""What an actor was granted is shown where operators look: ``/inventory`` on the admin
endpoint and ``wascc ctl get actors`` (a summary in text, everything in JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import WasccProcess, run_wascc, wascc_env
from tests.process.test_process_up import get
from tests.support.servers import ServerProcess, nats_server
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[ServerProcess]:
    with nats_server(tmp_path) as server:
        yield server


def test_grants_in_the_inventory_and_in_ctl_get_actors(
    signer: Signer, tmp_path: Path, nats: ServerProcess
) -> None:
    keys = tmp_path / "keys"
    save_key(KeyPair.generate("account"), "lattice", directory=keys)
    env = {**wascc_env(keys), "WASCC_LATTICE_ACCOUNT": "lattice", "WASCC_CTL_SIGNER": "lattice"}
    (tmp_path / "in").mkdir()
    (tmp_path / "probe_s.wasm").write_bytes(signer.sign("wasiprobe", name="probe"))
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    (tmp_path / "m.yaml").write_text(
        "actors:\n"
        "  - path: probe_s.wasm\n"
        "    wasi: {dirs: [{host: in, guest: /in}], env: {A: b}, stdout: log}\n"
        "  - echo_s.wasm\n"
    )
    url = f"nats://127.0.0.1:{nats.port}"
    args = ("up", "m.yaml", "--data-dir", "data", "--admin", "127.0.0.1:0", "--lattice", url)
    process = WasccProcess(args, env, tmp_path)
    try:
        process.wait_ready()
        granted = {
            "dirs": [{"host": str(tmp_path / "in"), "guest": "/in", "mode": "ro"}],
            "env": {"A": "b"},
            "args": [],
            "stdout": "log",
            "stderr": "none",
        }
        status, body = get(f"http://{process.admin()}/inventory", headers=process.auth())
        assert status == 200
        actors = {a["name"]: a for a in json.loads(body)["actors"]}
        assert actors["probe"]["wasi"] == granted
        assert "wasi" not in actors["echo"]  # nothing granted, nothing shown

        listed = run_wascc("ctl", "get", "actors", "--lattice", url, env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        probe_key, echo_key = signer.key("probe"), signer.key("echo")
        assert re.search(
            rf"^{probe_key}  probe  rev -  wasi: /in ro, 1 env, stdout→log  on N\w+$",
            listed.stdout,
            re.MULTILINE,
        ), listed.stdout
        assert re.search(rf"^{echo_key}  echo  rev -  on N\w+$", listed.stdout, re.MULTILINE)
        as_json = run_wascc(
            "ctl", "get", "actors", "--lattice", url, "-o", "json", env=env, cwd=tmp_path
        )
        [host] = json.loads(as_json.stdout)
        assert {a["name"]: a.get("wasi") for a in host["actors"]} == {
            "probe": granted,
            "echo": None,
        }
    finally:
        process.kill()
