"""Desired state for a lattice, with real processes: a nats-server with JetStream on disk,
three `wascc up` hosts with different labels, and `wascc reconciler` processes.
`wascc apply` stores a spec; the reconciler places, scales, heals and removes actors."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Signer
from tests.process.process_support import WasccProcess, run_wascc, wascc_env
from tests.process.test_process_up import get
from tests.support.servers import ServerProcess, nats_server
from tests.ui.browser import Browser
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key

pytestmark = pytest.mark.timeout(120)

ZONES = ("eu", "eu", "us")
HOST_TIMEOUT = "2"  # seconds a host may be silent before its replicas move (10 by default)


@dataclass
class Lattice:
    """A lattice of real processes and the `wascc` commands a test runs against it."""

    work: Path
    nats: ServerProcess
    env: dict[str, str]
    hosts: list[WasccProcess] = field(default_factory=list)
    reconcilers: list[WasccProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.nats.port}"

    def wascc(self, *args: str) -> Any:
        done = run_wascc(*args, "--lattice", self.url, env=self.env, cwd=self.work, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def host(self, zone: str, *options: str) -> WasccProcess:
        index = len(self.hosts)
        args = ("up", "m.yaml", "--data-dir", f"data{index}", "--lattice", self.url)
        process = WasccProcess((*args, "--label", f"zone={zone}", *options), self.env, self.work)
        self.hosts.append(process)
        process.wait_ready()
        return process

    def reconciler(self) -> WasccProcess:
        args = ("reconciler", "--lattice", self.url, "--interval", "0.3")
        args += ("--host-timeout", HOST_TIMEOUT, "--lease-ttl", "3")
        process = WasccProcess(args, self.env, self.work)
        self.reconcilers.append(process)
        return process

    def apply(self, text: str, *args: str) -> str:
        (self.work / "app.yaml").write_text(text)
        return str(self.wascc("apply", "app.yaml", *args))

    def placements(self) -> dict[str, list[str]]:
        """Actor name → the zones of the hosts that run it, from the lattice's inventory."""
        zones = {h["host_id"]: h["labels"]["zone"] for h in self.inventory("hosts")}
        placed: dict[str, list[str]] = {}
        for answer in self.inventory("actors"):
            for actor in answer["actors"]:
                placed.setdefault(actor["name"], []).append(zones[answer["host_id"]])
        return {name: sorted(z) for name, z in placed.items()}

    def inventory(self, kind: str) -> list[dict[str, Any]]:
        return list(json.loads(self.wascc("ctl", "get", kind, "-o", "json")))

    def until(self, check: Callable[[], bool], what: str, timeout: float = 20.0) -> float:
        """Seconds until ``check()`` holds; fails with the placements if it never does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if check():
                return time.monotonic() - started
            time.sleep(0.2)
        status = self.wascc("ctl", "get", "apps")
        logs = "\n".join(r.stderr[-3000:] for r in self.reconcilers)
        raise AssertionError(f"{what} not within {timeout}s: {self.placements()}\n{status}\n{logs}")


@pytest.fixture
def lattice(tmp_path: Path, signer: Signer) -> Iterator[Lattice]:
    keys = tmp_path / "keys"
    save_key(KeyPair.generate("account"), "lattice", directory=keys)
    env = {**wascc_env(keys), "WASCC_LATTICE_ACCOUNT": "lattice", "WASCC_CTL_SIGNER": "lattice"}
    http = ["wascc:http_server"]
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=http, rev=1))
    (tmp_path / "echo2_s.wasm").write_bytes(signer.sign("echo", caps=http, rev=2))
    (tmp_path / "ponger_s.wasm").write_bytes(signer.sign("ponger", rev=1))
    (tmp_path / "m.yaml").write_text("capabilities: [{path: logging}, {path: http_server}]\n")
    (tmp_path / "nats").mkdir()
    with nats_server(tmp_path / "nats", "-js", "-sd", str(tmp_path / "jetstream")) as nats:
        built = Lattice(tmp_path, nats, env)
        try:
            for zone in ZONES:
                built.host(zone)
            yield built
        finally:
            for process in (*built.reconcilers, *built.hosts):
                process.kill()


APP = """\
name: shop
version: "{version}"
actors:
  - module: {echo}
    replicas: {replicas}
    constraints: {{zone: eu}}
  - module: ponger_s.wasm
"""


def test_apply_places_scales_and_deletes(lattice: Lattice) -> None:
    """The requested replicas run where the constraints say; scaling up and down, a
    rollback to an earlier version and deleting the application follow."""
    lattice.reconciler()
    assert lattice.apply(APP.format(version="1.0", echo="echo_s.wasm", replicas=2)) == (
        "applied shop as version 1 (2 actors)\n"
    )
    want = {"echo": ["eu", "eu"], "ponger": ["us"]}  # the least loaded host: the one in us
    lattice.until(lambda: lattice.placements() == want, "two echo in eu, ponger in us")
    shown = lattice.wascc("ctl", "get", "app", "shop")
    assert "application shop 1.0: version 1 of 1" in shown
    assert shown.count("  echo  on N") == 2
    assert "last error: none" in shown

    lattice.apply(APP.format(version="1.1", echo="echo_s.wasm", replicas=1))
    lattice.until(lambda: lattice.placements().get("echo") == ["eu"], "echo scaled down to 1")
    lattice.apply(APP.format(version="1.2", echo="echo_s.wasm", replicas=3))
    lattice.until(
        lambda: (
            "2 eu hosts fit" in lattice.wascc("ctl", "get", "apps")
            or "only 2 hosts fit" in lattice.wascc("ctl", "get", "apps")
        ),
        "an error saying only two hosts fit",
    )
    assert lattice.placements()["echo"] == ["eu", "eu"]

    assert lattice.wascc("apply", "shop", "--version", "2") == (
        "application shop is at version 2 again\n"
    )
    lattice.until(lambda: lattice.placements().get("echo") == ["eu"], "rolled back to 1 echo")
    [app] = json.loads(lattice.wascc("ctl", "get", "apps", "-o", "json"))
    assert (app["current"], app["versions"]) == (2, [1, 2, 3])
    lattice.apply("name: shop\nactors:\n  - {module: echo_s.wasm, constraints: {zone: eu}}\n")
    lattice.until(lambda: "ponger" not in lattice.placements(), "ponger, dropped, stopped")
    assert lattice.placements() == {"echo": ["eu"]}

    lattice.wascc("delete", "app", "shop")
    lattice.until(lambda: lattice.placements() == {}, "every actor stopped")
    lattice.until(
        lambda: "no applications" in lattice.wascc("ctl", "get", "apps"), "the app forgotten"
    )


def test_a_dead_hosts_replicas_and_bindings_come_back_elsewhere(lattice: Lattice) -> None:
    """kill -9 of the host that runs echo and holds its HTTP listener, under load: after the
    host timeout echo runs on the other eu host, bound again there, and answers."""
    lattice.reconciler()
    lattice.apply(HTTP_APP.format(version="1", echo="echo_s.wasm", replicas=1))
    lattice.until(lambda: len(_urls(lattice)) == 1, "echo served over HTTP")
    (url,) = _urls(lattice)
    (running,) = [
        a["host_id"]
        for a in lattice.inventory("actors")
        if any(x["name"] == "echo" for x in a["actors"])
    ]
    victim = next(p for p in lattice.hosts if running in p.stdout + p.stderr)
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                statuses.append(get(f"{url}/load", timeout=2)[0])
            except OSError:
                statuses.append(0)  # the listener died with its host

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        victim.proc.send_signal(signal.SIGKILL)
        # How long it takes is the benchmark's business; here: it happens, on the other eu
        # host, and the reconciler says why.
        lattice.until(
            lambda: (
                len(_urls(lattice)) == 2
                and running
                not in {a["host_id"] for a in lattice.inventory("actors") if a["actors"]}
            ),
            "echo and its binding back on the other eu host",
        )
    finally:
        stop.set()
        worker.join(timeout=10)
    assert statuses.count(200) > 0  # it served before the kill
    (again,) = [u for u in _urls(lattice) if u != url]
    assert get(f"{again}/hello")[0] == 200
    assert lattice.placements()["echo"] == ["eu"]
    assert f"host {running} has not answered" in lattice.reconcilers[0].stderr


def test_another_reconciler_takes_over_and_the_state_survives_a_nats_restart(
    lattice: Lattice,
) -> None:
    first = lattice.reconciler()
    lattice.apply(APP.format(version="1", echo="echo_s.wasm", replicas=1))
    lattice.until(lambda: lattice.placements().get("echo") == ["eu"], "one echo in eu")
    second = lattice.reconciler()
    acting = first if "acts now" in first.stderr else second
    time.sleep(1)
    assert "acts now" not in (second if acting is first else first).stderr  # one at a time
    acting.proc.send_signal(signal.SIGKILL)
    lattice.apply(APP.format(version="2", echo="echo_s.wasm", replicas=2))
    lattice.until(lambda: lattice.placements().get("echo") == ["eu", "eu"], "the other acts")

    lattice.nats.stop()
    lattice.nats.start()  # same port, same JetStream directory
    [app] = json.loads(lattice.wascc("ctl", "get", "apps", "-o", "json"))
    assert (app["name"], app["current"]) == ("shop", 2)


def test_a_new_module_version_rolls_out_as_live_updates(lattice: Lattice) -> None:
    lattice.reconciler()
    lattice.apply(APP.format(version="1", echo="echo_s.wasm", replicas=2))
    lattice.until(lambda: lattice.placements().get("echo") == ["eu", "eu"], "two echo")

    def revisions() -> list[int]:
        return sorted(
            a["rev"]
            for h in lattice.inventory("actors")
            for a in h["actors"]
            if a["name"] == "echo"
        )

    assert revisions() == [1, 1]
    lattice.apply(APP.format(version="2", echo="echo2_s.wasm", replicas=2))
    lattice.until(lambda: revisions() == [2, 2], "both updated to rev 2")
    updated = [r for r in lattice.reconcilers[0].stderr.splitlines() if "updated actor echo" in r]
    assert len(updated) == 2  # one host at a time, each once
    lattice.wascc("apply", "shop", "--version", "1")  # a rollback to the older revision
    lattice.until(lambda: revisions() == [1, 1], "both back to rev 1")


def test_an_invalid_spec_is_refused_with_the_entry_named(lattice: Lattice) -> None:
    (lattice.work / "bad.yaml").write_text(
        "name: Shop\nactors:\n  - module: missing.wasm\n  - module: echo_s.wasm\n    replicas: -1\n"
    )
    done = run_wascc(
        "apply", "bad.yaml", "--lattice", lattice.url, env=lattice.env, cwd=lattice.work
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "bad.yaml has 3 problems" in done.stderr
    assert "bad.yaml: name: 'Shop' is not an application name" in done.stderr
    assert "bad.yaml: actors[0].module: cannot read" in done.stderr
    assert "bad.yaml: actors[1].replicas: must be at least 0, got -1" in done.stderr
    assert "no applications" in lattice.wascc("ctl", "get", "apps")


HTTP_APP = (
    APP
    + """\
bindings:
  - actor: echo
    capability: wascc:http_server
    values: {{PORT: "0"}}
"""
)


def _urls(lattice: Lattice, actor: str = "echo") -> list[str]:
    """Where ``actor`` is served over HTTP, from the hosts' logs (PORT 0: a port of its own
    per binding made)."""
    found = []
    pattern = rf"{actor} \(M\w+\) serves HTTP on (http://[\d.:]+)"
    for host in lattice.hosts:
        found += re.findall(pattern, host.stderr)
    return sorted(set(found))


def test_bindings_follow_the_replicas_and_a_rolling_update_fails_no_request(
    lattice: Lattice,
) -> None:
    """The spec's HTTP binding is made once in the lattice, on a host that runs echo; while
    both replicas are updated to a new revision, one host at a time, no request fails."""
    lattice.reconciler()
    lattice.apply(HTTP_APP.format(version="1", echo="echo_s.wasm", replicas=2))
    lattice.until(lambda: len(_urls(lattice)) == 1, "echo served over HTTP")
    urls = _urls(lattice)
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            for url in urls:
                statuses.append(get(f"{url}/load", timeout=5)[0])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        lattice.apply(HTTP_APP.format(version="2", echo="echo2_s.wasm", replicas=2))

        def revisions() -> list[int]:
            return sorted(
                a["rev"]
                for h in lattice.inventory("actors")
                for a in h["actors"]
                if a["name"] == "echo"
            )

        lattice.until(lambda: revisions() == [2, 2], "both replicas at rev 2")
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert len(statuses) > 20
    assert set(statuses) == {200}, f"{statuses.count(200)} of {len(statuses)} answered 200"
    assert _urls(lattice) == urls  # updated live: the same listeners


PROVIDER_APP = """\
name: counter
actors:
  - module: kvcounter_s.wasm
    constraints: {zone: eu}
providers:
  - path: keyvalue
    constraints: {zone: us}
bindings:
  - {actor: kvcounter, capability: wascc:keyvalue, values: {BACKEND: memory}}
  - {actor: kvcounter, capability: wascc:http_server, values: {PORT: "0"}}
"""


def test_providers_are_loaded_where_their_labels_fit_and_removed_with_the_app(
    lattice: Lattice, signer: Signer
) -> None:
    """The spec's key-value provider is loaded on the us host only; kvcounter runs in eu,
    bound to it across the lattice, and counts over HTTP; deleting the app removes the
    provider it loaded and leaves the hosts' own providers alone."""
    caps = ["wascc:keyvalue", "wascc:http_server"]
    (lattice.work / "kvcounter_s.wasm").write_bytes(signer.sign("kvcounter", caps=caps))
    lattice.reconciler()
    lattice.apply(PROVIDER_APP)

    def keyvalue_zones() -> list[str]:
        zones = {h["host_id"]: h["labels"]["zone"] for h in lattice.inventory("hosts")}
        return sorted(
            zones[answer["host_id"]]
            for answer in lattice.inventory("capabilities")
            for c in answer["capabilities"]
            if c["contract_id"] == "wascc:keyvalue"
        )

    lattice.until(lambda: keyvalue_zones() == ["us"], "keyvalue loaded in us only")
    lattice.until(lambda: bool(_urls(lattice, "kvcounter")), "kvcounter served over HTTP")
    (url,) = _urls(lattice, "kvcounter")
    counts = [json.loads(get(f"{url}/visits")[1])["counter"] for _ in range(2)]
    assert counts == [1, 2]
    assert lattice.placements()["kvcounter"] == ["eu"]

    lattice.wascc("delete", "app", "counter")
    lattice.until(lambda: keyvalue_zones() == [], "the provider it loaded removed")
    http = [
        c
        for answer in lattice.inventory("capabilities")
        for c in answer["capabilities"]
        if c["contract_id"] == "wascc:http_server"
    ]
    assert len(http) == 3  # the manifests' own providers stay


def test_the_dashboard_shows_the_applications_and_their_state(
    lattice: Lattice, browser: Browser
) -> None:
    """A host's dashboard lists the lattice's applications: version, replicas placed of
    those wanted, and whether the reconciler got there."""
    ops = lattice.host("ops", "--admin", "127.0.0.1:0")
    browser.open(f"http://{ops.admin()}/ui")
    browser.login(ops.admin_token_file().read_text(encoding="ascii").strip())
    browser.wait(lambda: browser.visible("#lattice-section"), "the lattice section")
    browser.wait(lambda: "no applications" in browser.text("#apps-note"), "no applications yet")

    shop = '#apps tr[data-app="shop"]'
    lattice.apply(APP.format(version="1.0", echo="echo_s.wasm", replicas=2))
    browser.wait(lambda: browser.all(shop), "the application", timeout=15)
    assert browser.text(f"{shop} .state") == "not reconciled yet"
    lattice.reconciler()
    browser.wait(lambda: browser.text(f"{shop} .state") == "ready", "ready", timeout=20)
    assert browser.text(f"{shop} .version") == "1.0 (version 1)"
    assert browser.text(f"{shop} .replicas") == "3 / 3"
    browser.screenshot("apps")

    lattice.apply(APP.format(version="1.2", echo="echo_s.wasm", replicas=3))
    browser.wait(lambda: "only 2 hosts fit" in browser.text(f"{shop} .state"), "the error")
    assert browser.text(f"{shop} .version") == "1.2 (version 2)"
    browser.screenshot("apps-error")
