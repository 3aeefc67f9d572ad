"""``wascc ctl get actors`` shows what operators look for across the lattice: each actor's
call alias, and an unhealthy verdict with its message (JSON: the whole last verdict)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import Up
from tests.process.process_support import run_wascc, wait_until
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.timeout(60)
PONGER = "wasmcloud/examples/ponger"


def test_ctl_get_actors_shows_aliases_and_unhealthy_actors(
    signer: Signer, tmp_path: Path, env: dict[str, str], nats: ServerProcess, up: Up
) -> None:
    (tmp_path / "wcponger_s.wasm").write_bytes(signer.sign("wcponger", call_alias=PONGER))
    (tmp_path / "crasher_s.wasm").write_bytes(signer.sign("fixtures/trap", name="crasher"))
    up("actors: [wcponger_s.wasm, crasher_s.wasm]\n", "--health-interval", "0.3")
    url = f"nats://127.0.0.1:{nats.port}"

    def ctl(*more: str) -> str:
        listed = run_wascc("ctl", "get", "actors", "--lattice", url, *more, env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        return listed.stdout

    wait_until(lambda: "UNHEALTHY" in ctl(), 15, "the crasher's first health check")
    text = ctl()
    ponger, crasher = signer.key("wcponger"), signer.key("crasher")
    assert re.search(
        rf"^{ponger}  wcponger  rev -  alias {PONGER}  on N\w+$", text, re.MULTILINE
    ), text
    assert re.search(
        rf"^{crasher}  crasher  rev -  UNHEALTHY: HealthRequest failed: .+ on N\w+$",
        text,
        re.MULTILINE,
    ), text
    [host] = json.loads(ctl("-o", "json"))
    health = {a["name"]: a["health"] for a in host["actors"]}
    assert health["wcponger"]["healthy"] is True
    assert health["crasher"]["healthy"] is False
    assert health["crasher"]["checked"] > 0
