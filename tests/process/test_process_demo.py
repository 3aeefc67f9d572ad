"""The demo manifest of ``make run``, with the built-in SQLite key-value store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Signer
from tests.process.process_support import ROOT, WasccProcess
from tests.process.test_process_up import get

Up = Callable[..., WasccProcess]
FREE_PORTS = {"ECHO_PORT": "0", "COUNTER_PORT": "0", "LOGGER_PORT": "0"}


def test_demo_serves_and_counts_survive_a_restart(tmp_path: Path, signer: Signer, up: Up) -> None:
    """examples/demo.yaml serves echo, kvcounter and logger; kvcounter's SQLite counts
    survive a restart of the host."""
    (tmp_path / "examples").mkdir()
    demo = tmp_path / "examples" / "demo.yaml"
    shutil.copy(ROOT / "examples" / "demo.yaml", demo)
    build = tmp_path / "actors" / "build"
    build.mkdir(parents=True)
    caps = {
        "echo": ["wascc:http_server"],
        "kvcounter": ["wascc:keyvalue", "wascc:http_server"],
        "logger": ["wascc:logging", "wascc:http_server"],
    }
    for name, claimed in caps.items():
        (build / f"{name}_s.wasm").write_bytes(signer.sign(name, caps=claimed))

    counts = []
    for _ in range(2):
        process = up(demo, "--expand-env", extra_env=FREE_PORTS)
        urls = process.urls()
        assert get(urls["echo"] + "/hello")[0] == 200
        assert get(urls["logger"] + "/hello") == (200, b"logged")
        counts.append(json.loads(get(urls["kvcounter"] + "/visits")[1])["counter"])
        process.signal()
        assert process.wait() == 0, process.stderr
    assert counts == [1, 2]
    assert list((tmp_path / "data" / "keyvalue").rglob("*.sqlite3"))
