"""``wascc build``: compile an actor project into a waPC module, with the toolchain of its
language.

* C: ``zig cc`` from the PyPI package ``ziglang`` (``python -m ziglang cc``), for
  ``wasm32-freestanding`` without libc, linked with ``--no-entry`` so that the exports of
  ``wapc.h`` (``__guest_call``, ``wapc_init``) survive and the module imports nothing but
  ``wapc``. The headers come from ``sdk.include_dir()``.
* AssemblyScript: ``npx asc`` from the project's ``node_modules`` (``npm install`` first when
  it is missing), with ``--use abort=ENTRY/abort`` so that AssemblyScript's abort handler is
  the entry file's ``abort`` rather than an ``env.abort`` import the host does not provide.

The module is written to a temporary file, checked (wasmtime validates it, and
``diagnose.check_actor_module`` must find nothing severe), then moved into place.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wascc.host.toolchain.diagnose import check_actor_module
from wascc.host.toolchain.errors import ToolchainError
from wascc.host.toolchain.project import Project
from wascc.host.toolchain.sdk import include_dir

__all__ = ["BuildResult", "as_command", "build_project", "zig_command"]

ZIGLANG_PIN: Final = "0.17.1"
INSTALL_ZIG: Final = (
    f"install it with `pip install 'wascc-py[build]'` (or `pip install ziglang=={ZIGLANG_PIN}`)"
)
INSTALL_NODE: Final = (
    "install Node.js 18 or newer, which brings npm and npx (on Debian or Ubuntu: `apt-get "
    "install nodejs npm`), then run `wascc build` again"
)
CFLAGS: Final = (
    "-target",
    "wasm32-freestanding",  # no OS: no libc, no WASI imports
    "-ffreestanding",
    "-nostdlib",
    "-std=c11",
    "-O2",
    "-Wall",
    "-Wextra",
)
LDFLAGS: Final = (
    "-Wl,--no-entry",  # a library-style module: no _start; the exports come from export_name
    "-Wl,-z,stack-size=131072",  # 128 KiB
    "-s",  # no names or debug info: modules 5-10x smaller
)

Report = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """What a build made: the module, its size in bytes and how long it took."""

    module: Path
    size: int
    seconds: float


def zig_command(source: Path, output: Path) -> list[str]:
    """The ``zig cc`` command line that compiles a C actor."""
    return [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        *CFLAGS,
        f"-I{include_dir()}",
        *LDFLAGS,
        "-o",
        str(output),
        str(source),
    ]


def as_command(project: Project, output: Path, npx: str = "npx") -> list[str]:
    """The ``npx asc`` command line that compiles an AssemblyScript actor (run in the
    project's directory: asc resolves ``--use`` paths from there)."""
    entry = Path(project.source).with_suffix("").as_posix()
    return [
        npx,
        "--no",  # the project's own asc, never one fetched on the fly
        "asc",
        project.source,
        "-o",
        str(output),
        "--use",
        f"abort={entry}/abort",
        "-O",
    ]


def build_project(
    project: Project, *, output: Path | None = None, report: Report = print
) -> BuildResult:
    """Compile ``project`` into ``output`` (default ``build/NAME.wasm``); ``report`` gets the
    tools' messages and what is being done. ``ToolchainError`` names what failed and the fix."""
    target = output or project.module_path
    started = time.monotonic()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolchainError(f"cannot create {target.parent}: {exc.strerror}") from None
    # A per-process name (a build running at the same time never clobbers this one) that
    # still ends in .wasm: asc picks the output format by the extension.
    temporary = target.with_name(f".{target.stem}.{os.getpid()}.tmp.wasm")
    try:
        if project.language == "c":
            _build_c(project, temporary, report)
        else:
            _build_assemblyscript(project, temporary, report)
        _check_output(temporary, target)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return BuildResult(target, target.stat().st_size, time.monotonic() - started)


def _build_c(project: Project, output: Path, report: Report) -> None:
    if importlib.util.find_spec("ziglang") is None:
        raise ToolchainError(
            f"building C actors needs the C compiler of the ziglang package, which is not "
            f"installed for {sys.executable}: {INSTALL_ZIG}"
        )
    command = zig_command(project.source_path.absolute(), output.absolute())
    _run(command, project.directory, "zig cc", report)


def _build_assemblyscript(project: Project, output: Path, report: Report) -> None:
    # Resolved here: on Windows they are npm.cmd and npx.cmd, which only PATH lookup finds.
    tools = {tool: shutil.which(tool) for tool in ("node", "npm", "npx")}
    missing = [tool for tool, found in tools.items() if found is None]
    if missing:
        raise ToolchainError(
            f"building AssemblyScript actors needs Node.js, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not on PATH: {INSTALL_NODE}"
        )
    if not (project.directory / "package.json").is_file():
        raise ToolchainError(
            f"{project.directory} has no package.json, which pins AssemblyScript and the waPC "
            "packages; copy it from a project made by `wascc new actor NAME --lang "
            "assemblyscript`"
        )
    if not (project.directory / "node_modules").is_dir():
        report(f"installing the packages of {project.directory / 'package.json'} (npm install)")
        command = [tools["npm"] or "npm", "install", "--no-audit", "--no-fund"]
        # Its progress goes straight to the terminal: the first install takes a while.
        status = subprocess.run(command, cwd=project.directory, check=False).returncode
        if status != 0:
            raise ToolchainError(
                f"`npm install` failed in {project.directory} (exit {status}; its messages "
                "are above); check the network or the npm registry, then run `wascc build` again"
            )
    command = as_command(project, output.absolute(), tools["npx"] or "npx")
    _run(command, project.directory, "asc", report)


def _run(command: Sequence[str], directory: Path, tool: str, report: Report) -> None:
    """Run a compiler; its messages go to ``report``; a failure names the command."""
    try:
        done = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ToolchainError(f"cannot run {tool} ({command[0]}): {exc.strerror}") from None
    for stream in (done.stdout, done.stderr):
        if stream.strip():
            report(stream.rstrip())
    if done.returncode != 0:
        raise ToolchainError(
            f"{tool} failed (exit {done.returncode}); fix what it says above. The command: "
            f"{' '.join(command)}"
        )


def _check_output(module: Path, target: Path) -> None:
    """The compiled module is valid wasm and a waPC actor (named as its final path)."""
    import wasmtime  # noqa: PLC0415 (only a build needs the engine, not `wascc build --help`)

    try:
        data = module.read_bytes()
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except OSError as exc:
        raise ToolchainError(f"the compiler wrote no readable {target}: {exc.strerror}") from None
    except wasmtime.WasmtimeError as exc:
        raise ToolchainError(f"the compiler made an invalid module {target}: {exc}") from None
    severe = [p for p in check_actor_module(data, str(target)) if p.severe]
    if severe:
        raise ToolchainError("\n".join(str(problem) for problem in severe))
