"""System tools some tests need (a registry, a browser): found on PATH, or the test is skipped
locally and fails in CI (``CI=true``), where ``.ci/run`` installs them."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require_tool"]


def in_ci() -> bool:
    """Whether this run is CI's, where a missing tool is a failure, not a skip."""
    return os.environ.get("CI") == "true"


def require_tool(tool: str, package: str) -> str:
    """The path of ``tool``; skip without it, naming the Debian ``package`` that has it
    (fail in CI instead)."""
    found = shutil.which(tool)
    if found is None:
        reason = f"{tool} not on PATH: install the Debian package {package}"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return found
