"""`wascc push` and `wascc pull` as a user runs them: the pinned reference printed, the
module written with its claims shown, and one `Error:` line with exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import module_path
from tests.oci.conftest import PASSWORD, USER, Registry
from wascc.host.cli import main


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner whose data directory and Docker config are the test's own."""
    monkeypatch.setenv("WASCC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))
    monkeypatch.delenv("WASCC_REGISTRY_USER", raising=False)
    monkeypatch.delenv("WASCC_REGISTRY_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_push_prints_the_pinned_reference_and_pull_writes_the_module(
    runner: CliRunner, auth_registry: Registry, signed_echo: bytes, tmp_path: Path
) -> None:
    """Push with --user and --password-stdin prints oci://.../repo@sha256:...; pulling that
    writes echo.wasm here (the default name) and shows its digest and claims."""
    module = tmp_path / "echo_s.wasm"
    module.write_bytes(signed_echo)
    login = ["--insecure", "--user", USER, "--password-stdin"]
    pushed = runner.invoke(
        main, ["push", str(module), auth_registry.ref("actors/echo:0.1.0"), *login],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert pushed.exit_code == 0, pushed.output
    pinned = pushed.stdout.strip()
    assert pinned.startswith(f"oci://{auth_registry.host}/actors/echo@sha256:")
    pulled = runner.invoke(main, ["pull", pinned, *login], input=PASSWORD + "\n")
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "echo.wasm").read_bytes() == signed_echo
    assert pinned in pulled.stdout
    assert "Name  echo" in pulled.stdout
    assert "Revision  3" in pulled.stdout


def test_pull_to_a_named_file(
    runner: CliRunner, registry: Registry, signed_echo: bytes, tmp_path: Path
) -> None:
    """-o FILE names the output."""
    module = tmp_path / "in.wasm"
    module.write_bytes(signed_echo)
    ref = registry.ref("actors/echo:0.1.0")
    assert runner.invoke(main, ["push", str(module), ref, "--insecure"]).exit_code == 0
    out = tmp_path / "out.wasm"
    result = runner.invoke(main, ["pull", ref, "-o", str(out), "--insecure"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == signed_echo


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["pull", "http://example/x:1"], "does not start with oci://"),
        (["pull", "oci://127.0.0.1:9/actors/echo:latest"], "--allow-latest"),
        (["pull", "oci://127.0.0.1:9/actors/echo:1.0", "--insecure"], "cannot reach"),
    ],
)
def test_errors_are_one_line(runner: CliRunner, args: list[str], expected: str) -> None:
    """A refusal is one `Error:` line and exit status 1, never a traceback."""
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert expected in lines[0]


def test_push_refuses_an_unsigned_module(
    runner: CliRunner, registry: Registry, tmp_path: Path
) -> None:
    """The message says how to sign it."""
    result = runner.invoke(
        main, ["push", str(module_path("echo")), registry.ref("a/b:1"), "--insecure"]
    )
    assert result.exit_code == 1
    assert "wascc claims sign" in result.stderr


def test_password_stdin_needs_a_user(runner: CliRunner) -> None:
    """--password-stdin alone is a usage error (exit 2)."""
    result = runner.invoke(
        main, ["pull", "oci://127.0.0.1:9/a/b:1", "--password-stdin"], input="x\n"
    )
    assert result.exit_code == 2
    assert "--user" in result.stderr
