"""Fairness benchmark: a healthy actor's throughput beside ten misbehaving actors in the same
host, as a ratio of its solo figure measured in the same run (target ≥ 0.5x).

What users run: one `wascc up` process from a manifest with the built-in HTTP server: `echo`
(healthy) and ten faulty actors, each on its own port: four that loop until their 1 s deadline
stops them, two that loop until their fuel runs out, two that trap at once, two that grow
their memory until the limit and trap. The load generator (`bench/loadgen.py`, its own
process) loads echo alone first (solo: the faulty actors are loaded but idle), then echo and
the ten faulty actors at once from the first second (noisy), each time against a fresh
process from the same manifest.

    .venv/bin/python -m bench.fairness_bench [seconds per figure]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from bench.process_bench import wascc_up
from bench.report import Section
from bench.served import free_ports
from bench.signing import sign_throwaway

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "actors" / "build"
LOADGEN = ROOT / "bench" / "loadgen.py"
HTTP = "wascc:http_server"
TARGET = 0.5
HEALTHY_CONNECTIONS = 8
FAULTY_CONNECTIONS = 2  # per faulty actor
# name: (module, per-actor manifest settings)
FAULTY: dict[str, tuple[str, str]] = {
    **{f"loop{i}": ("fixtures/loop", "deadline: 1") for i in range(4)},
    **{f"fuel{i}": ("fixtures/loop", "fuel: 300000000") for i in range(2)},
    **{f"trap{i}": ("fixtures/trap", "max_instances: 1") for i in range(2)},
    **{f"membomb{i}": ("fixtures/membomb", "memory_mb: 32") for i in range(2)},
}


def _tree(root: Path) -> tuple[Path, int, list[int]]:
    """A manifest with echo and the faulty actors; echo's port and theirs."""
    chosen = iter(free_ports(1 + len(FAULTY)))
    ports = {"echo": next(chosen)}
    actors = ["  - path: echo_s.wasm"]
    (root / "echo_s.wasm").write_bytes(
        sign_throwaway((BUILD / "echo.wasm").read_bytes(), "echo", [HTTP])
    )
    for name, (module, setting) in FAULTY.items():
        (root / f"{name}_s.wasm").write_bytes(
            sign_throwaway((BUILD / f"{module}.wasm").read_bytes(), name, [HTTP])
        )
        actors.append(f"  - path: {name}_s.wasm\n    {setting}")
        ports[name] = next(chosen)
    bindings = [
        f"  - {{actor: {name}_s.wasm, capability: {HTTP}, values: {{PORT: '{port}'}}}}"
        for name, port in ports.items()
    ]
    manifest = root / "fairness.yaml"
    manifest.write_text(
        "actors:\n"
        + "\n".join(actors)
        + "\ncapabilities: [{path: http_server}]\nbindings:\n"
        + "\n".join(bindings)
        + "\n"
    )
    return manifest, ports.pop("echo"), list(ports.values())


async def _load(ports: list[int], seconds: float, connections: int) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOADGEN),
        ",".join(map(str, ports)),
        str(seconds),
        str(connections),
        stdout=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(seconds + 90):
        out, _ = await proc.communicate()
    return json.loads(out)  # type: ignore[no-any-return]


async def _measure(seconds: float, faulty: bool) -> tuple[dict[str, float], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="wascc-fair-") as tmp:
        root = Path(tmp)
        manifest, echo, others = _tree(root)
        with wascc_up(manifest, root / "data", {}) as up:
            up.wait_served(echo)
            loads = [_load([echo], seconds, HEALTHY_CONNECTIONS)]
            if faulty:
                loads.append(_load(others, seconds, FAULTY_CONNECTIONS * len(others)))
            results = await asyncio.gather(*loads)
    return results[0], (results[1] if len(results) > 1 else {})


def section(seconds: float = 8.0) -> Section:
    """Measure solo and noisy; the table and the verdict as a ``Section``."""
    solo, _ = asyncio.run(_measure(seconds, faulty=False))
    noisy, faulty = asyncio.run(_measure(seconds, faulty=True))
    ratio = noisy["rps"] / solo["rps"]
    verdict = "meets" if ratio >= TARGET else "misses"
    rows: list[tuple[str, ...]] = [
        ("echo alone", f"{solo['rps']:,.0f}/s", f"{solo['p99_ms']:.1f} ms", "", ""),
        (
            "echo beside 10 faulty actors",
            f"{noisy['rps']:,.0f}/s",
            f"{noisy['p99_ms']:.1f} ms",
            f"{ratio:.2f}x",
            f"≥ {TARGET}x",
        ),
        (
            "the faulty actors' answers",
            f"{faulty.get('rps', 0):,.1f}/s",
            f"{faulty.get('p99_ms', float('nan')):.0f} ms",
            "",
            "",
        ),
    ]
    return Section(
        f"Fairness: a healthy actor beside misbehaving ones ({seconds:g} s per figure)",
        __doc__.split("\n\n")[1] if __doc__ else "",
        ("figure", "requests/s", "p99", "ratio", "target"),
        rows,
        verdicts=[
            f"healthy actor beside faulty ones: {ratio:.2f}x of solo ({verdict} ≥ {TARGET}x)"
        ],
    )


def main(seconds: float = 8.0) -> Section:
    """Measure and print the table; returns it."""
    result = section(seconds)
    result.print()
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)
