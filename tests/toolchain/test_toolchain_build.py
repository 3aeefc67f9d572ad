"""``wascc new`` → ``wascc build --sign`` → ``wascc up build/NAME_s.wasm`` → a GET, with the
real toolchains: zig cc for C, npm and asc for AssemblyScript."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.process.process_support import WasccProcess, free_port, run_wascc, wait_until
from tests.toolchain.conftest import (
    CompletedWascc,
    Run,
    npm_settings,
    require_node,
    toolchain_env,
)
from wascc.host.toolchain.diagnose import check_actor_module
from wascc.keys.claims import validate_module

pytestmark = pytest.mark.slow


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def _serve_and_get(
    background: Callable[..., WasccProcess], project: Path, name: str
) -> tuple[int, str]:
    """`wascc up build/NAME_s.wasm --http PORT` in ``project``, then GET /from/the/test."""
    port = free_port()
    process = background("up", f"build/{name}_s.wasm", "--http", str(port), cwd=project)
    wait_until(lambda: process.proc.poll() is not None or _listening(port), 30, "the port")
    process.wait_ready()
    answer = _get(f"http://127.0.0.1:{port}/from/the/test")
    process.signal()
    assert process.wait() == 0, process.stderr
    assert f"{name}: GET /from/the/test" in process.stderr  # the log line, via wascc:logging
    return answer


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_signed(project: Path, name: str) -> None:
    """The signed module carries the claims of actor.toml and is a fit waPC actor."""
    signed = project / "build" / f"{name}_s.wasm"
    claims = validate_module(signed.read_bytes(), path=str(signed))
    assert claims.name == name
    assert claims.caps == ("wascc:http_server", "wascc:logging")
    assert (claims.rev, claims.ver) == (1, "0.1.0")
    assert check_actor_module(signed, name) == []


def test_c_actor_from_new_to_a_get(
    wascc: Run, tmp_path: Path, background: Callable[..., WasccProcess]
) -> None:
    """The C template builds with zig cc, signs, runs, and answers 200 with the path."""
    assert wascc("new", "actor", "hello", "--lang", "c").returncode == 0
    project = tmp_path / "hello"
    started = time.monotonic()
    done = wascc("build", "--sign", cwd=project)
    assert done.returncode == 0, done
    assert "Built build/hello.wasm" in done.stdout
    assert "Signed build/hello_s.wasm" in done.stdout
    assert "Run it: wascc up build/hello_s.wasm" in done.stdout
    assert time.monotonic() - started < 30
    _check_signed(project, "hello")
    assert (tmp_path / "keys" / "module_hello.nk").is_file()  # $WASCC_KEYS, not ~/.wascc
    assert _serve_and_get(background, project, "hello") == (
        200,
        "Hello from hello! You asked for /from/the/test\n",
    )


def test_c_rebuild_keeps_the_identity_and_o_names_the_output(wascc: Run, tmp_path: Path) -> None:
    """Building again signs with the same module key; -o writes elsewhere (and OUT_s.wasm)."""
    wascc("new", "actor", "again", "--lang", "c")
    project = tmp_path / "again"
    assert wascc("build", "again", "--sign").returncode == 0
    first = validate_module((project / "build" / "again_s.wasm").read_bytes()).subject
    done = wascc("build", "again", "--sign", "-o", "out/x.wasm")
    assert done.returncode == 0, done
    assert validate_module((tmp_path / "out" / "x_s.wasm").read_bytes()).subject == first


def test_c_compile_errors_are_shown(wascc: Run, tmp_path: Path) -> None:
    """A C error fails the build (exit 1) with the compiler's message and the command."""
    wascc("new", "actor", "oops", "--lang", "c")
    source = tmp_path / "oops" / "oops.c"
    source.write_text(source.read_text() + "\nint broken(void) { return nope; }\n")
    done = wascc("build", "oops")
    assert done.returncode == 1, done
    assert "use of undeclared identifier 'nope'" in done.stderr
    assert "zig cc failed" in done.stderr
    assert "wasm32-freestanding" in done.stderr
    assert not (tmp_path / "oops" / "build" / "oops.wasm").exists()


def test_build_outside_a_project_says_how_to_make_one(wascc: Run) -> None:
    """No actor.toml: the message points at `wascc new`."""
    done = wascc("build")
    assert done.returncode == 1, done
    assert "no actor.toml" in done.stderr
    assert "wascc new actor NAME" in done.stderr


def test_assemblyscript_without_node_says_how_to_install_it(
    wascc: Run, tmp_path: Path, env: dict[str, str]
) -> None:
    """With no node/npm/npx on PATH the build stops before anything, saying what to install."""
    wascc("new", "actor", "nonode", "--lang", "assemblyscript")
    bare = tmp_path / "bin"  # a PATH without Node.js (wascc runs as sys.executable)
    bare.mkdir()
    done = run_wascc("build", "nonode", env={**env, "PATH": str(bare)}, cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "needs Node.js, and node, npm, npx are not on PATH" in done.stderr
    assert "install Node.js 18 or newer" in done.stderr


@pytest.fixture(scope="module")
def assemblyscript_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One AssemblyScript project, built and signed once for the module (npm install takes
    a while), with npm's cache under the session's temporary directory."""
    require_node()
    base = tmp_path_factory.mktemp("assemblyscript")
    env = {**toolchain_env(base), **npm_settings(tmp_path_factory)}
    made = run_wascc("new", "actor", "ashello", "--lang", "assemblyscript", env=env, cwd=base)
    assert made.returncode == 0, made.stderr
    project = base / "ashello"
    built = run_wascc("build", "--sign", env=env, cwd=project, timeout=300)
    result = CompletedWascc(built.returncode, built.stdout, built.stderr)
    assert built.returncode == 0, result
    assert "installing the packages of" in built.stderr, result
    return project, env


def test_assemblyscript_actor_from_new_to_a_get(
    assemblyscript_project: tuple[Path, dict[str, str]],
) -> None:
    """The AssemblyScript template builds with @wapc/as-guest on asc 0.27, imports nothing
    but wapc (no env.abort), signs, runs, and answers 200 with the path."""
    project, env = assemblyscript_project
    _check_signed(project, "ashello")
    started: list[WasccProcess] = []

    def background(*args: str, cwd: Path | None = None) -> WasccProcess:
        process = WasccProcess(args, env, cwd or project)
        started.append(process)
        return process

    try:
        assert _serve_and_get(background, project, "ashello") == (
            200,
            "Hello from ashello! You asked for /from/the/test\n",
        )
    finally:
        for process in started:
            process.kill()


def test_assemblyscript_rebuild_reuses_node_modules(
    assemblyscript_project: tuple[Path, dict[str, str]],
) -> None:
    """A second build does not run npm install again."""
    project, env = assemblyscript_project
    done = run_wascc("build", env=env, cwd=project, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "npm install" not in done.stderr
    assert "Built build/ashello.wasm" in done.stdout
