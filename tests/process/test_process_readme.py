"""The README's walkthrough, run exactly as written, so that the README cannot drift."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process.process_support import ROOT, free_port, wascc_env

# The blocks a reader types by hand are marked ```sh walkthrough in the README.
_BLOCK = re.compile(r"^```sh walkthrough\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# The only change made to the commands: the README's fixed ports become free ones.
_PORTS = ("8080", "9000")


def walkthrough() -> str:
    """The walkthrough's commands, in order, as one script."""
    blocks = _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "the README lost its ```sh walkthrough blocks"
    return "\n".join(blocks)


def test_walkthrough_commands_are_all_there() -> None:
    """The walkthrough covers keys, signing, inspecting, a manifest, up, curl, call, update."""
    script = walkthrough()
    for command in (
        "wascc keys gen",
        "wascc claims sign",
        "wascc claims inspect",
        "cat > hello.yaml",
        "wascc up hello.yaml",
        "curl",
        "wascc call",
        "wascc update",
    ):
        assert command in script


def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    """Every walkthrough command succeeds and shows what the README says it shows."""
    script = walkthrough()
    for port in _PORTS:
        script = re.sub(rf"\b{port}\b", str(free_port()), script)
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "wascc").exists():
        pytest.fail(f"no wascc script next to {sys.executable}; install the project (make setup)")
    # The commands start in the repository's root; the test's copy links to its actors only,
    # so signed files land in the test's directory.
    (tmp_path / "actors").symlink_to(ROOT / "actors")
    env = wascc_env(tmp_path / "keys")
    env["WASCC_DATA"] = str(tmp_path / "data")
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: teardown kills the host it starts
    )
    try:
        out, err = shell.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(timeout=10)
    assert shell.returncode == 0, f"{out}\n{err}"
    assert '"path":"/hello","query_string":"name=wascc"' in out  # curl through echo
    assert '\\"path\\":\\"/hi\\"' in out  # wascc call on the running host
    assert '\\"body\\":\\"hello\\"' in out  # wascc call on a throwaway host
    assert re.search(r"updated echo \(M[A-Z0-9]{55}\): rev 1 -> 2", out)
    assert '"rev": 2' in out  # the inventory after the update
    assert "shutdown complete" in err
