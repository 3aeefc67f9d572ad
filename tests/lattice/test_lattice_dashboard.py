"""The dashboard of a host on a lattice, in a real browser: every host and where each actor
runs, and the other hosts' events as they happen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import Up
from tests.process.process_support import WasccProcess
from tests.ui.browser import Browser

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def host_id(process: WasccProcess) -> str:
    match = re.search(r"as host (N[A-Z2-7]{55})", process.stdout)
    assert match is not None, process.stdout
    return match.group(1)


def manifest(*actors: str, name: str) -> str:
    return (
        f"labels: {{name: {name}}}\nactors: [{', '.join(actors)}]\ncapabilities: []\nbindings: []\n"
    )


def test_every_host_of_the_lattice_and_where_each_actor_runs(
    browser: Browser, up: Up, tmp_path: Path, signer: Signer
) -> None:
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", rev=1))
    (tmp_path / "ponger_s.wasm").write_bytes(signer.sign("ponger", rev=1))
    (tmp_path / "pinger_s.wasm").write_bytes(signer.sign("pinger", rev=1))
    first = up(manifest("echo_s.wasm", name="first"))
    second = up(manifest("ponger_s.wasm", name="second"))
    token = first.admin_token_file().read_text(encoding="ascii").strip()
    browser.open(f"http://{first.admin()}/ui")
    browser.login(token)
    browser.wait(lambda: browser.visible("#lattice-section"), "the lattice section")
    assert "connected" in browser.text("#host-lattice")
    assert browser.text("#host-id") == host_id(first)

    def runs(process: WasccProcess, name: str) -> bool:
        return name in browser.text(f'#lattice tr[data-host="{host_id(process)}"] .actors')

    browser.wait(lambda: runs(first, "echo") and runs(second, "ponger"), "both hosts' actors")
    assert not runs(first, "ponger")
    assert not runs(second, "echo")
    browser.screenshot("lattice")

    # A host that joins later shows up, with its start among the events, marked as not ours.
    third = up(manifest("pinger_s.wasm", name="third"))
    browser.wait(lambda: runs(third, "pinger"), "the third host and its actor", timeout=15)
    started = browser.wait(
        lambda: [
            item
            for item in browser.all('#events li[data-type="actor_started"]')
            if "pinger" in (item.get_attribute("textContent") or "")
        ],
        "the third host's actor_started event",
    )
    assert host_id(third)[:6] in (started[0].get_attribute("textContent") or "")
    browser.screenshot("lattice-joined")
