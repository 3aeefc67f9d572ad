"""What `pip install .` gives a user: one top-level package (`wascc`), the actor SDK (templates
and C headers), the license, and a `wascc` command that makes, builds and serves an actor from
a fresh virtual environment.

The wheel is built from this checkout; the fresh environment gets it with `pip install
--no-deps` and borrows the already installed dependencies (a path line to this environment's
site-packages), so the test needs no network and installs nothing twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.process_support import ROOT, free_port

pytestmark = pytest.mark.slow

_PIP = (sys.executable, "-m", "pip", "-q", "--disable-pip-version-check")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [*_PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("wascc_py-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed: its ``bin`` directory."""
    home = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    done = subprocess.run(
        [*_PIP, "--python", str(python), "install", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    # The dependencies, from this environment (after the fresh one's own packages).
    (Path(site) / "_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    return home / "bin"


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    """No generic names (`host`, `keys`, `providers`) land in site-packages: only `wascc`."""
    names = zipfile.ZipFile(wheel).namelist()
    distribution, version = wheel.name.split("-")[:2]
    assert {name.split("/")[0] for name in names} == {
        "wascc",
        f"{distribution}-{version}.dist-info",
    }


def test_the_wheel_ships_the_sdk_and_the_license(wheel: Path) -> None:
    """The templates of `wascc new`, the C headers, the samples, the dashboard's files and
    LICENSE are in the wheel; built modules and test fixtures are not."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "wascc/host/cli.py",
        "wascc/host/py.typed",
        "wascc/providers/http/provider.py",
        "wascc/keys/claims.py",
        "wascc/actors/include/wapc.h",
        "wascc/actors/include/msgpack.h",
        "wascc/actors/include/http.h",
        "wascc/actors/templates/c/actor.toml",
        "wascc/actors/templates/assemblyscript/package.json",
        "wascc/actors/templates/assemblyscript/assembly/index.ts",
        "wascc/actors/echo.c",
        "wascc/host/ui/index.html",
        "wascc/host/ui/app.js",
        "wascc/host/ui/app.css",
        "wascc/host/ui/icon.svg",
    ):
        assert expected in names
    assert any(re.fullmatch(r"wascc_py-[^/]+\.dist-info/licenses/LICENSE", n) for n in names)
    assert not [n for n in names if n.endswith(".wasm") or "/fixtures/" in n or "/build/" in n]


def _env(base: Path, bin_dir: Path) -> dict[str, str]:
    """Only the fresh environment on PATH; keys, data and the zig cache under ``base``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASCC_", "PYTHON", "VIRTUAL"))}
    env.update(
        PATH=os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]),
        WASCC_KEYS=str(base / "keys"),
        WASCC_DATA=str(base / "data"),
        ZIG_GLOBAL_CACHE_DIR=str(base / "zig-cache"),
    )
    return env


def test_the_installed_package_is_the_wheel(fresh: Path, tmp_path: Path) -> None:
    """`wascc` in the fresh environment runs the installed files, not this checkout's, and the
    repository's folder names are not importable as packages."""
    probe = (
        "import importlib.util, wascc\n"
        "print(wascc.__file__)\n"
        "print([n for n in ('host', 'keys', 'providers', 'actors') if importlib.util.find_spec(n)])"
    )
    done = subprocess.run(
        [str(fresh / "python"), "-c", probe],
        cwd=tmp_path,
        env=_env(tmp_path, fresh),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    where, importable = done.stdout.splitlines()
    assert Path(where).is_relative_to(fresh.parent)
    assert importable == "[]"


@pytest.fixture
def served(fresh: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`wascc new actor hello --lang c`, `wascc build --sign`, `wascc up ... --http PORT`, all
    with the fresh environment's `wascc`: the URL it serves and the host process."""
    env = _env(tmp_path, fresh)

    def wascc(*args: str, cwd: Path) -> None:
        done = subprocess.run(
            [str(fresh / "wascc"), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"wascc {' '.join(args)}\n{done.stdout}\n{done.stderr}"

    wascc("new", "actor", "hello", "--lang", "c", cwd=tmp_path)
    wascc("build", "--sign", cwd=tmp_path / "hello")
    port = free_port()
    log = (tmp_path / "host.log").open("wb")
    host = subprocess.Popen(
        [str(fresh / "wascc"), "up", "build/hello_s.wasm", "--http", str(port)],
        cwd=tmp_path / "hello",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", host
    finally:
        os.killpg(host.pid, signal.SIGKILL)
        host.wait(timeout=10)
        log.close()


def test_new_build_up_from_the_installed_package(
    served: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """The installed `wascc` makes, builds, signs and serves a C actor that answers over
    HTTP."""
    url, host = served
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/world", timeout=5) as response:
                status, body = response.status, response.read().decode()
            break
        except OSError:
            if host.poll() is not None or time.monotonic() > deadline:
                pytest.fail((tmp_path / "host.log").read_text(errors="replace"))
            time.sleep(0.2)
    assert status == 200
    assert "/world" in body
