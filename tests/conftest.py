"""Fixtures shared by every test: keys, signed sample actors, a running host."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from wascc.host import Host
from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair

if TYPE_CHECKING:
    from tests.ui.browser import Browser

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "actors" / "build"
FIXTURES = BUILD / "fixtures"


def module_path(name: str) -> Path:
    """The unsigned module of a sample actor (``echo``) or a WAT fixture (``fixtures/trap``)."""
    return BUILD / f"{name}.wasm"


@pytest.fixture(scope="session", autouse=True)
def _built_actors() -> None:
    """Build the sample actors once if a test run starts without them (``make test`` did)."""
    if not (BUILD / "echo.wasm").exists() or not (FIXTURES / "trap.wasm").exists():
        subprocess.run([sys.executable, str(ROOT / "actors" / "build.py")], check=True)


class Signer:
    """Signs sample actors with one account key and one stable module key per name."""

    def __init__(self) -> None:
        self.account = KeyPair.generate("account")
        self._modules: dict[str, KeyPair] = {}

    def module_key(self, name: str) -> KeyPair:
        """The module key used for ``name`` (the actor's identity across re-signings)."""
        if name not in self._modules:
            self._modules[name] = KeyPair.generate("module")
        return self._modules[name]

    def key(self, name: str) -> str:
        """The public key an actor signed as ``name`` will run under."""
        return self.module_key(name).public_key

    def sign(
        self,
        module: str,
        *,
        name: str | None = None,
        caps: Iterable[str] = (),
        rev: int | None = None,
        expires_in: float | None = None,
        call_alias: str | None = None,
    ) -> bytes:
        """Sign ``module`` (see ``module_path``) as actor ``name`` (default: the module name)."""
        actor = name or module.rsplit("/", 1)[-1]
        return sign_module(
            module_path(module).read_bytes(),
            issuer=self.account,
            subject=self.module_key(actor),
            name=actor,
            caps=caps,
            rev=rev,
            expires_in=expires_in,
            call_alias=call_alias,
        )

    def sign_provider(self, module: str, *, name: str, caps: Iterable[str] = ()) -> bytes:
        """Sign ``module`` as capability provider ``name`` (``prov: true``, a service key
        that stays the same for ``name``)."""
        if name not in self._modules:
            self._modules[name] = KeyPair.generate("service")
        return sign_module(
            module_path(module).read_bytes(),
            issuer=self.account,
            subject=self._modules[name],
            name=name,
            caps=caps,
            provider=True,
        )

    def impersonate(
        self,
        account: KeyPair,
        module: str,
        *,
        name: str,
        caps: Iterable[str] = (),
        rev: int | None = None,
    ) -> bytes:
        """``module`` signed by another ``account`` under the key of this signer's actor
        ``name``: what anyone with an account of their own can make, since the subject key
        signs nothing."""
        return sign_module(
            module_path(module).read_bytes(),
            issuer=account,
            subject=self.module_key(name),
            name=name,
            caps=caps,
            rev=rev,
        )


@pytest.fixture
def signer() -> Signer:
    """A fresh signer: new account and module keys for each test."""
    return Signer()


@pytest.fixture(params=[True, False], ids=["fast", "fallback"])
def fast(request: pytest.FixtureRequest) -> bool:
    """Run a test on the unchecked C-API path and on the public-API fallback."""
    return bool(request.param)


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    """A started host with its own module cache; always stopped."""
    async with Host(cache_dir=tmp_path / "cache") as running:
        yield running


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger's handlers and level back after the test reconfigured them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium (Debian's, through Selenium) at 1280x800, for the dashboard's tests;
    skipped without it, failed in CI. Its last screen is saved as ``TEST.png`` under the
    test's ``screenshots`` directory, beside any the test took."""
    from tests.ui.browser import start_browser  # noqa: PLC0415 - selenium only where needed

    opened = start_browser(tmp_path / "screenshots", tmp_path / "chromium-profile")
    try:
        yield opened
    finally:
        try:
            opened.screenshot(request.node.name)
        finally:
            opened.driver.quit()
