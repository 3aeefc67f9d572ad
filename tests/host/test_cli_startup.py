"""The quick commands (`wascc --help`, `keys`, `claims`) import what they need and no more:
not wasmtime, aiohttp or NATS, which cost most of a second together. How long they take is
measured by `make bench` (the start-up table), never here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from wascc.host.cli import _Commands, main

# Run a command in a fresh interpreter, then list the heavy packages it imported.
_PROBE = """
import json, sys
from wascc.host.cli import main
try:
    main(sys.argv[1:], prog_name="wascc")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"wasmtime", "aiohttp", "nats"})
print(json.dumps(heavy), file=sys.stderr)
"""


def _heavy_imports(*args: str, cwd: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    heavy: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return heavy


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("keys", "--help"),
        ("keys", "gen", "account"),
        ("claims", "--help"),
        ("new", "--help"),
        ("build", "--help"),
        ("push", "--help"),
    ],
    ids=" ".join,
)
def test_quick_commands_do_not_load_the_runtime(args: tuple[str, ...], tmp_path: Path) -> None:
    """Neither the wasm engine nor the HTTP and NATS clients are imported."""
    assert _heavy_imports(*args, cwd=str(tmp_path)) == []


def test_running_a_host_still_loads_them(tmp_path: Path) -> None:
    """The probe can tell: `wascc up --help` defines its options, `call` imports the client
    when it runs (here it fails on a missing file, after the import)."""
    assert _heavy_imports("call", "missing.wasm", "Echo", cwd=str(tmp_path)) != []


@pytest.mark.parametrize("name", sorted(_Commands.LAZY))
def test_the_listing_shows_each_commands_own_short_help(name: str) -> None:
    """`wascc --help` lists a command not yet imported with the short help it really has."""
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert _Commands.LAZY[name][2] == command.get_short_help_str(200)


def test_every_command_is_listed_and_runs_its_help() -> None:
    """The listing has every command, the lazy ones included, and each answers --help."""
    names = main.list_commands(click.Context(main))
    assert {"build", "call", "claims", "ctl", "keys", "new", "up", "update", "validate"} <= set(
        names
    )
    runner = CliRunner()
    for name in names:
        result = runner.invoke(main, [name, "--help"], prog_name="wascc")
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: wascc {name}" in result.output
