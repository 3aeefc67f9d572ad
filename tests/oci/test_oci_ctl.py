"""``wascc ctl start/update actor oci://…``: the module is pulled and verified by the
command, then sent to a host of the lattice as a file's would be."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import env, nats, up  # noqa: F401  (fixtures used by name)
from tests.oci.conftest import Registry
from tests.process.process_support import WasccProcess, run_wascc
from tests.support.servers import ServerProcess
from wascc.host.oci.store import ModuleStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_ctl_start_and_update_an_actor_from_a_registry(
    *,
    up: Callable[..., WasccProcess],  # noqa: F811
    registry: Registry,
    signer: Signer,
    nats: ServerProcess,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """`ctl start actor oci://…:0.1.0` runs rev 1 on the host, `ctl update actor
    oci://…@sha256:…` brings rev 2; a tag that does not exist is one `Error:` line."""
    store = ModuleStore(tmp_path / "pusher", insecure=True)
    store.push(signer.sign("echo", rev=1), registry.ref("actors/echo:0.1.0"))
    digest = store.push(signer.sign("echo", rev=2), registry.ref("actors/echo:0.2.0"))
    up("labels: {}\nactors: []\ncapabilities: []\nbindings: []\n", "--label", "zone=a")
    url = f"nats://127.0.0.1:{nats.port}"

    def ctl(*args: str) -> tuple[int, str, str]:
        done = run_wascc(
            "ctl", *args, "--lattice", url, "--data-dir", "ctl-data", env=env, cwd=tmp_path
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    status, out, err = ctl("start", "actor", registry.ref("actors/echo:0.1.0"), "--insecure")
    assert status == 0, err
    assert f"started echo ({signer.key('echo')})" in out
    pinned = registry.ref(f"actors/echo@{digest}")
    status, out, err = ctl("update", "actor", pinned, "--insecure")
    assert status == 0, err
    assert "updated echo to rev 2" in out
    done = run_wascc("ctl", "get", "actors", "-o", "json", "--lattice", url, env=env, cwd=tmp_path)
    revs = [a["rev"] for host in json.loads(done.stdout) for a in host["actors"]]
    assert revs == [2]
    status, _, err = ctl("start", "actor", registry.ref("actors/echo:9.9"), "--insecure")
    assert status == 1
    assert err.startswith("Error: ")
    assert "actors/echo:9.9" in err
