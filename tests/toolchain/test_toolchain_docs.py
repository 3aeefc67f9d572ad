"""The newcomer's path of docs/actor-c.md and docs/actor-assemblyscript.md, run as written:
``wascc new`` → ``wascc build --sign`` → ``wascc up FILE.wasm --http PORT`` → curl, in an
empty directory, so that the pages cannot drift from what the commands do."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process.process_support import ROOT, free_port
from tests.toolchain.conftest import npm_settings, require_node, toolchain_env

PAGES = {
    "c": ROOT / "docs" / "actor-c.md",
    "assemblyscript": ROOT / "docs" / "actor-assemblyscript.md",
}

# The blocks a newcomer types are marked ```sh newcomer on each page.
_BLOCK = re.compile(r"^```sh newcomer\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# The ports the pages use (8080): each becomes a free one.
_PORT = re.compile(r"(?<=--http )\d+|(?<=127\.0\.0\.1:)\d+")
# The pages run the host in the foreground and curl "in another terminal". The one change made
# to the commands: the host runs in the background of the same script, and curl retries until
# it listens (bounded: 30 tries a second apart, 10 s each).
_HOST = re.compile(r"^(wascc up [^#\n]*?)[ \t]*(?:#.*)?$", re.MULTILINE)
_CURL = re.compile(r"^curl ", re.MULTILINE)
_PATIENT_CURL = "curl -sS --retry 30 --retry-connrefused --retry-delay 1 --max-time 10 "
# The curl line shows the actor's answer as its comment.
_ANSWER = re.compile(r"^curl \S+[ \t]+#[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_NEW = re.compile(r"^wascc new actor (\S+)", re.MULTILINE)
_URL_PATH = re.compile(r"^curl http://[^/\s]+(/\S*)", re.MULTILINE)


def newcomer_script(language: str) -> str:
    """The commands a newcomer types on the page of ``language``, in order, as one script."""
    blocks = _BLOCK.findall(PAGES[language].read_text(encoding="utf-8"))
    assert len(blocks) == 2, f"{PAGES[language].name} lost its two ```sh newcomer blocks"
    return "\n".join(blocks)


def _one(pattern: re.Pattern[str], script: str, what: str) -> str:
    found: list[str] = pattern.findall(script)
    assert len(found) == 1, f"expected one {what} in the newcomer blocks, found {found}"
    return found[0]


def runnable(script: str) -> str:
    """``script`` with free ports, the host in the background and a patient curl."""
    ports = {port: str(free_port()) for port in _PORT.findall(script)}
    assert ports, "the newcomer blocks name no port"
    script = _PORT.sub(lambda match: ports[match.group()], script)
    script = _HOST.sub(r"\1 &", script)
    return _CURL.sub(_PATIENT_CURL, script)


@pytest.mark.parametrize("language", sorted(PAGES))
def test_the_page_shows_the_whole_path(language: str) -> None:
    """new (in the page's language), build --sign, up of the signed module, one curl whose
    comment is the answer."""
    script = newcomer_script(language)
    assert re.search(rf"^wascc new actor \w+ --lang {language}\b", script, re.MULTILINE)
    assert re.search(r"^wascc build --sign\b", script, re.MULTILINE)
    assert re.search(r"^wascc up build/\w+_s\.wasm --http \d+", script, re.MULTILINE)
    assert _one(_ANSWER, script, "curl line with its answer as a comment")


def _run_newcomer(language: str, tmp_path: Path, extra_env: dict[str, str], timeout: float) -> None:
    """Run the page's newcomer blocks in an empty directory; assert the answer and the log
    line the page shows."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "wascc").exists():
        pytest.fail(f"no wascc script next to {sys.executable}; install the project (make setup)")
    script = newcomer_script(language)
    name = _one(_NEW, script, "wascc new actor")
    answer = _one(_ANSWER, script, "curl line with its answer as a comment")
    log_line = f"{name}: GET {_one(_URL_PATH, script, 'curl URL')}"
    assert f"`{log_line}`" in PAGES[language].read_text(encoding="utf-8"), (
        f"{PAGES[language].name} no longer shows the log line `{log_line}`"
    )
    # Keys, data and caches live beside the directory the newcomer works in, which starts
    # empty: nothing of the repository is in it.
    env = {**toolchain_env(tmp_path), **extra_env}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    work = tmp_path / "newcomer"
    work.mkdir()
    out_file, err_file = tmp_path / "shell.out", tmp_path / "shell.err"
    # Output to files: the host outlives the shell and would keep a pipe open.
    with out_file.open("wb") as out, err_file.open("wb") as err:
        shell = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", runnable(script)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: teardown kills the host it starts
        )
    try:
        returncode = shell.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(timeout=10)
    stdout, stderr = out_file.read_text(errors="replace"), err_file.read_text(errors="replace")
    shown = f"--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert returncode is not None, f"the newcomer's path took more than {timeout}s\n{shown}"
    assert returncode == 0, shown
    assert answer in stdout.splitlines(), f"curl did not answer {answer!r}\n{shown}"
    assert log_line in stderr, shown


@pytest.mark.slow
def test_c_newcomer_path_runs(tmp_path: Path) -> None:
    """docs/actor-c.md's commands make, build, sign and serve an actor that answers what the
    page says, and log the line it shows."""
    _run_newcomer("c", tmp_path, {}, timeout=90)


@pytest.mark.slow
@pytest.mark.timeout(360)  # the first npm install of the session downloads AssemblyScript
def test_assemblyscript_newcomer_path_runs(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """docs/actor-assemblyscript.md's commands (npm install, asc, signing) serve an actor that
    answers what the page says, and log the line it shows."""
    require_node()
    _run_newcomer("assemblyscript", tmp_path, npm_settings(tmp_path_factory), timeout=300)
