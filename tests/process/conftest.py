"""Fixtures for the host-process tests: signed sample actors on disk, ``wascc up`` launcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import SLOW_PROVIDER, SignedActor, WasccProcess, wascc_env


@pytest.fixture
def actors(tmp_path: Path, signer: Signer) -> dict[str, SignedActor]:
    """``echo`` (HTTP), ``kvcounter`` (HTTP, key-value) and ``logger`` (HTTP, logging),
    signed and written next to the test's manifests."""
    caps = {
        "echo": ["wascc:http_server"],
        "kvcounter": ["wascc:http_server", "wascc:keyvalue"],
        "logger": ["wascc:http_server", "wascc:logging"],
    }
    out: dict[str, SignedActor] = {}
    for name, claimed in caps.items():
        path = tmp_path / f"{name}_s.wasm"
        path.write_bytes(signer.sign(name, caps=claimed, rev=1))
        out[name] = SignedActor(name, path, signer.key(name))
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of ``wascc`` subprocesses: a key store of their own, and the test
    provider module ``slowkv`` on PYTHONPATH."""
    (tmp_path / "slowkv.py").write_text(SLOW_PROVIDER)
    return wascc_env(tmp_path / "keys", tmp_path)


@pytest.fixture
def manifest(tmp_path: Path) -> Callable[[str], Path]:
    """``manifest(text)`` writes a manifest next to the actors and returns its path."""
    count = [0]

    def write(text: str) -> Path:
        count[0] += 1
        path = tmp_path / f"manifest{count[0]}.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def wascc(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., WasccProcess]]:
    """``wascc(*args)`` starts ``wascc ARGS`` in the background; every process is killed at
    teardown, whatever the test did."""
    started: list[WasccProcess] = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> WasccProcess:
        process = WasccProcess(args, {**env, **(extra_env or {})}, tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def up(wascc: Callable[..., WasccProcess], tmp_path: Path) -> Callable[..., WasccProcess]:
    """``up(manifest, *args)``: ``wascc up`` with a data directory of its own, started and
    ready (its startup lines printed)."""

    def start(path: Path, *args: str, extra_env: dict[str, str] | None = None) -> WasccProcess:
        process = wascc(
            "up", str(path), "--data-dir", str(tmp_path / "data"), *args, extra_env=extra_env
        )
        process.wait_ready()
        return process

    return start
