"""Fixtures of the toolchain tests: ``wascc`` as a subprocess in a clean directory, with its
keys and data under the test's temporary directory (never ``~/.wascc``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process.process_support import WasccProcess, run_wascc, wascc_env
from tests.support.tools import in_ci

Run = Callable[..., "CompletedWascc"]


class CompletedWascc:
    """What a finished ``wascc`` run printed, and its exit status."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def toolchain_env(base: Path) -> dict[str, str]:
    """``wascc``'s environment: keys, data and the zig cache under ``base``."""
    env = wascc_env(base / "keys")
    env["WASCC_DATA"] = str(base / "data")
    env["ZIG_GLOBAL_CACHE_DIR"] = str(base / "zig-cache")
    return env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of this test's ``wascc`` runs."""
    return toolchain_env(tmp_path)


@pytest.fixture
def wascc(tmp_path: Path, env: dict[str, str]) -> Run:
    """``wascc(*args, cwd=None)``: run ``wascc ARGS`` to completion (bounded), in the test's
    directory unless ``cwd`` says otherwise."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 60.0) -> CompletedWascc:
        done = run_wascc(*args, env=env, cwd=cwd or tmp_path, timeout=timeout)
        return CompletedWascc(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def background(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., WasccProcess]]:
    """``background(*args, cwd=None)`` starts ``wascc ARGS``; every process is killed at
    teardown, whatever the test did."""
    started: list[WasccProcess] = []

    def start(*args: str, cwd: Path | None = None) -> WasccProcess:
        process = WasccProcess(args, env, cwd or tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


NODE_TOOLS = ("node", "npm", "npx")
"""What the AssemblyScript toolchain needs on PATH."""


def require_node() -> None:
    """Skip the test when Node.js's tools are missing, saying which; fail in CI instead."""
    missing = [tool for tool in NODE_TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not on PATH: the AssemblyScript toolchain needs Node.js"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


def npm_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """npm's environment: the cache ``.ci/run`` filled with the template's packages when
    ``$WASCC_TEST_NPM_CACHE`` names it, else one cache for the whole session (each ``npm
    install`` after the first is then quick) under its temporary directory; no update check."""
    seeded = os.environ.get("WASCC_TEST_NPM_CACHE")  # filled by .ci/run: no registry needed
    if seeded:
        return {
            "npm_config_cache": seeded,
            "npm_config_prefer_offline": "true",
            "npm_config_update_notifier": "false",
        }
    return {
        "npm_config_cache": str(tmp_path_factory.getbasetemp() / "npm-cache"),
        "npm_config_update_notifier": "false",
    }
