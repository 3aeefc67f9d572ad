"""Fixtures of the dashboard's browser tests: a ``wascc up`` process serving sample actors with
the demo providers and its admin endpoint, and a headless Chromium to look at it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import WasccProcess, wascc_env
from tests.process.test_process_up import get
from wascc.keys.nkeys import KeyPair

MANIFEST = """
labels: {zone: test, name: ui-host}
actors: [echo_s.wasm, kvcounter_s.wasm, crasher_s.wasm]
capabilities:
  - path: http_server
  - path: keyvalue
  - path: logging
bindings:
  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
  - {actor: kvcounter_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue, values: {BACKEND: memory}}
  - {actor: crasher_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
"""


@dataclass
class Dashboard:
    """A host process with an admin endpoint: its dashboard's URL, token and actors."""

    process: WasccProcess
    keys: dict[str, str]
    files: Path

    @property
    def url(self) -> str:
        return f"http://{self.process.admin()}/ui"

    @property
    def token(self) -> str:
        return self.process.admin_token_file().read_text(encoding="ascii").strip()

    def actor_url(self, name: str) -> str:
        """Where actor ``name``'s HTTP binding listens."""
        return self.process.urls()[name]


class Load:
    """Requests to one URL from a background thread until ``stop()`` (bounded by ``limit``
    seconds whatever happens)."""

    def __init__(self, url: str, every: float = 0.02, limit: float = 30.0) -> None:
        self.url = url
        self._stop = threading.Event()
        self._every, self._limit = every, limit
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stop_at = self._limit
        while not self._stop.wait(self._every) and stop_at > 0:
            get(self.url)
            stop_at -= self._every

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


@contextlib.contextmanager
def serving(
    tmp_path: Path, signer: Signer, manifest: str, names: tuple[str, ...], *options: str
) -> Iterator[Dashboard]:
    """``wascc up --admin`` (with ``options``) on ``manifest``, whose signed actors are in
    ``tmp_path`` already; ``names`` are the actors the dashboard's tests name (``files``:
    ``tmp_path/uploads``, for modules to upload). Killed after."""
    (tmp_path / "manifest.yaml").write_text(manifest)
    args = ("up", "manifest.yaml", "--data-dir", "data", "--admin", "127.0.0.1:0", *options)
    process = WasccProcess(args, wascc_env(tmp_path / "keys"), tmp_path)
    try:
        process.wait_ready()
        keys = {name: signer.key(name) for name in names}
        yield Dashboard(process, keys, tmp_path / "uploads")
    finally:
        process.kill()


@pytest.fixture
def dashboard(tmp_path: Path, signer: Signer) -> Iterator[Dashboard]:
    """echo and kvcounter (HTTP, key-value) and crasher (a module that traps on every call,
    on HTTP), served with the demo providers by ``wascc up --admin``. ``files`` holds echo
    signed again with rev 2 (``echo_r2.wasm``) and by another account (``echo_other.wasm``)."""
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"], rev=1))
    (tmp_path / "kvcounter_s.wasm").write_bytes(
        signer.sign("kvcounter", caps=["wascc:http_server", "wascc:keyvalue"], rev=1)
    )
    (tmp_path / "crasher_s.wasm").write_bytes(
        signer.sign("fixtures/trap", name="crasher", caps=["wascc:http_server"], rev=1)
    )
    files = tmp_path / "uploads"
    files.mkdir()
    (files / "echo_r2.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"], rev=2))
    stranger = KeyPair.generate("account")  # the same actor's key, another account
    (files / "echo_other.wasm").write_bytes(
        signer.impersonate(stranger, "echo", name="echo", caps=["wascc:http_server"], rev=3)
    )
    with serving(tmp_path, signer, MANIFEST, ("echo", "kvcounter", "crasher")) as served:
        yield served


@pytest.fixture
def checked_dashboard(tmp_path: Path, signer: Signer) -> Iterator[Dashboard]:
    """Health checks every half second of wcponger (a wasmCloud 0.18 actor that answers
    them, as ``SetHealth`` tells it), echo (a waSCC 0.14 actor that does not) and crasher
    (a module that traps on every call); understudy, wcponger again under another key,
    claims wcponger's call alias second and is refused it."""
    alias = "wasmcloud/examples/ponger"
    (tmp_path / "wcponger_s.wasm").write_bytes(signer.sign("wcponger", call_alias=alias))
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    (tmp_path / "crasher_s.wasm").write_bytes(signer.sign("fixtures/trap", name="crasher"))
    understudy = signer.sign("wcponger", name="understudy", call_alias=alias)
    (tmp_path / "understudy_s.wasm").write_bytes(understudy)
    manifest = "actors: [wcponger_s.wasm, echo_s.wasm, crasher_s.wasm, understudy_s.wasm]\n"
    names = ("wcponger", "echo", "crasher", "understudy")
    with serving(tmp_path, signer, manifest, names, "--health-interval", "0.5") as served:
        yield served
