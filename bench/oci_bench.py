"""Start-up of a host whose actor comes from an OCI registry, next to the same actor from disk.

    .venv/bin/python -m bench.oci_bench

A ``docker-registry`` (Debian's package) is started on a free 127.0.0.1 port with its storage
in a temporary directory; without it the section says so instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.report import Section
from bench.served import free_port, stop, wascc_argv
from bench.signing import sign_throwaway
from wascc.host.oci.store import ModuleStore

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
ACTORS = ROOT / "actors" / "build"
REGISTRY = "docker-registry"
RUNS = 3
READY_TIMEOUT = 60.0
TITLE = "Start-up: an actor pulled from an OCI registry"
METHOD = """
`wascc up ACTOR --data-dir DATA --log-level warning` (the single-actor mode) from spawn to its
`host ready` line, median of {runs}, for the small `echo` actor and the 2 MB `big.wasm`
(both signed for this run), given as a file or as an `oci://` reference pinned by digest to
the same bytes in a local `docker-registry` (plain HTTP on 127.0.0.1, `--insecure`).
**Cold**: a fresh data directory, so the module is pulled (manifest and layer, digests
checked), its signature verified, and compiled by Cranelift. **Warm**: the same data
directory again: the pinned module comes from the cache without contacting the registry,
and its compiled code from the module cache. The file rows are the floor: what the registry
adds is the difference.
"""


@contextlib.contextmanager
def _registry(workdir: Path) -> Iterator[str]:
    """A ``docker-registry`` on a free port with storage in ``workdir``; ``HOST:PORT``."""
    binary = shutil.which(REGISTRY)
    assert binary is not None
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "wascc-bench"},
    }
    path = workdir / "config.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    proc = subprocess.Popen(
        [binary, "serve", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{REGISTRY} did not answer on port {port}") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc, timeout=10)


def _start_time(source: str, data_dir: Path, workdir: Path, http: bool) -> float:
    """Seconds from spawning ``wascc up SOURCE`` to its ``host ready`` line."""
    out = workdir / "up.out"
    argv = [*wascc_argv(), "up", source, "--data-dir", str(data_dir), "--log-level", "warning"]
    argv += ["--insecure", *(["--http", "0"] if http else [])]
    launched = time.perf_counter()
    with out.open("wb") as stdout:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = launched + READY_TIMEOUT
        while b"host ready" not in out.read_bytes():
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{' '.join(argv)} did not start:\n{out.read_text()[-2000:]}")
            time.sleep(0.002)
        return time.perf_counter() - launched
    finally:
        stop(proc)


def _rows(workdir: Path, registry: str) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    store = ModuleStore(workdir / "pusher", insecure=True)
    actors: tuple[tuple[str, list[str], bool], ...] = (
        ("echo", ["wascc:http_server"], True),
        ("big", [], False),
    )
    for name, caps, http in actors:
        signed = sign_throwaway((ACTORS / f"{name}.wasm").read_bytes(), name, caps)
        file = workdir / f"{name}_s.wasm"
        file.write_bytes(signed)
        digest = store.push(signed, f"oci://{registry}/bench/{name}:1.0")
        reference = f"oci://{registry}/bench/{name}@{digest}"
        size = f"{len(signed) / 1024:.0f} KB"
        medians: dict[tuple[str, str], float] = {}
        for origin, source in (("file", str(file)), ("registry", reference)):
            cold: list[float] = []
            warm: list[float] = []
            for run in range(RUNS):  # cold and warm alternate: both see the same noise
                data_dir = workdir / f"data-{name}-{origin}-{run}"
                cold.append(_start_time(source, data_dir, workdir, http))
                warm.append(_start_time(source, data_dir, workdir, http))
            for state, times in (("cold", cold), ("warm", warm)):
                medians[origin, state] = statistics.median(times)
        for state in ("cold", "warm"):
            from_file, pulled = medians["file", state], medians["registry", state]
            rows.append(
                (
                    f"{name} ({size}), {state}",
                    f"{from_file * 1e3:.0f} ms",
                    f"{pulled * 1e3:.0f} ms",
                    f"{(pulled - from_file) * 1e3:+.0f} ms",
                )
            )
        verdicts.append(
            f"{name} ({size}) from the registry: cold {medians['registry', 'cold'] * 1e3:.0f} ms "
            f"(file {medians['file', 'cold'] * 1e3:.0f} ms), warm "
            f"{medians['registry', 'warm'] * 1e3:.0f} ms (file "
            f"{medians['file', 'warm'] * 1e3:.0f} ms)"
        )
    return rows, verdicts


def section() -> Section:
    """The start-up of registry actors, cold and warm, next to the same files."""
    header = ("actor, start", "from a file", "from the registry", "registry adds")
    method = METHOD.format(runs=RUNS)
    if shutil.which(REGISTRY) is None:
        return Section(
            TITLE,
            method,
            header,
            notes=[
                f"Not measured: `{REGISTRY}` is not installed here (Debian package `{REGISTRY}`)."
            ],
        )
    with tempfile.TemporaryDirectory(prefix="wascc-oci-bench-") as temporary:
        workdir = Path(temporary)
        (workdir / "registry").mkdir()
        with _registry(workdir / "registry") as registry:
            rows, verdicts = _rows(workdir, registry)
    return Section(TITLE, method, header, rows, verdicts=verdicts)


def main() -> None:
    """Print the section."""
    section().print()


if __name__ == "__main__":
    main()
