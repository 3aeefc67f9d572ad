"""``make bench``: every benchmark of the project in one run, each figure next to its floor or
peer, printed as it is measured and written to BENCHMARKS.md (from scratch, every run).

    .venv/bin/python -m bench.run [seconds per figure] [--no-write]

Loopback only; about seven minutes on a 2-core machine. A benchmark that fails is
reported as failed in BENCHMARKS.md (and the exit status is 1); the others still run.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import io
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    apps_bench,
    core_bench,
    dashboard_bench,
    density_bench,
    extism_bench,
    fairness_bench,
    generations_bench,
    http_bench,
    kv_bench,
    messaging_bench,
    oci_bench,
    process_bench,
    replay_bench,
)
from bench.report import Section, machine, versions

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "BENCHMARKS.md"

METHOD = """
Every figure is measured in this run, on this machine, next to its floor (the same work with
as little as possible around it) or its peer (another runtime doing the same work); read the
**ratios**, not the absolute numbers: the machines here are small, shared and noisy, and a
figure moves by 10-30 % from one run to the next. Everything runs on loopback (127.0.0.1)
with no external network. Durations are short and bounded (as given in each title) so that
the whole report takes a few minutes. The HTTP, key-value and messaging tables measure what
users run next to what a Python user would write instead: every row is a server process of
its own, started fresh (`wascc up` from a manifest with the built-in providers, or a peer
from `bench/peers.py`), loaded from its first served request with no warm-up pass, by the
same load generator with the same concurrency; req/s counts every answer from the first,
latency percentiles leave out the first 0.5 s, and CPU µs/req is the server process's own
CPU time (/proc) per answer. Load generators run in their own process where the server is a
real socket server, and compete with it for the same CPUs: the CPU count below matters.
"""


def _lattice(seconds: float) -> list[Section]:
    """The lattice benchmark, if the lattice has landed (``bench/lattice_bench.py``)."""
    try:
        lattice_bench = importlib.import_module("bench.lattice_bench")
    except ImportError as exc:
        return [
            Section(
                "Lattice: hosts linked over NATS",
                "Two or more hosts on one lattice serving the same actor.",
                (),
                notes=[
                    f"Not measured: `bench/lattice_bench.py` cannot be imported here ({exc}). "
                    "Scaling beyond one core is measured above with separate processes."
                ],
            )
        ]
    section = getattr(lattice_bench, "section", None)
    if callable(section):
        result = section(seconds)
        return list(result) if isinstance(result, list | tuple) else [result]
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        lattice_bench.main(seconds)
    return [
        Section(
            "Lattice: hosts linked over NATS",
            "As printed by `bench/lattice_bench.py`:",
            (),
            notes=["```\n" + captured.getvalue().rstrip() + "\n```"],
        )
    ]


def _steps(seconds: float) -> list[tuple[str, Callable[[], list[Section]]]]:
    load_seconds = max(seconds * 2, 2.0)
    return [
        ("host core", lambda: [core_bench.section(seconds)]),
        ("peer: Extism", lambda: [extism_bench.section(seconds)]),
        ("HTTP", lambda: [http_bench.section(load_seconds)]),
        ("generations", lambda: [generations_bench.section(load_seconds)]),
        ("key-value", lambda: [kv_bench.section(load_seconds)]),
        ("messaging", lambda: [messaging_bench.section(load_seconds)]),
        ("density", lambda: [density_bench.section()]),
        ("start-up", lambda: [process_bench.startup_section()]),
        ("registry start-up", lambda: [oci_bench.section()]),
        ("scaling", lambda: [process_bench.scaling_section(load_seconds)]),
        ("dashboard", lambda: [dashboard_bench.section(max(seconds * 4, 4.0))]),
        ("fairness", lambda: [fairness_bench.section(max(seconds * 5, 5.0))]),
        ("lattice", lambda: _lattice(load_seconds)),
        ("desired state", lambda: [apps_bench.section()]),
        ("replay guard", lambda: [replay_bench.section()]),
    ]


def _pairs(title: str, rows: list[tuple[str, str]]) -> str:
    lines = [f"## {title}", "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def _document(sections: list[Section], started: datetime.datetime, elapsed: float) -> str:
    summary = [f"- {verdict}" for section in sections for verdict in section.verdicts]
    parts = [
        "# Benchmarks\n\n"
        f"Generated by `make bench` (`bench/run.py`) on {started:%Y-%m-%d %H:%M} UTC in "
        f"{elapsed:.0f} s; regenerated from scratch by every run, do not edit by hand.\n",
        "## Summary\n\n" + "\n".join(summary) + "\n",
        _pairs("Machine", machine()),
        _pairs("Versions", versions()),
        "## Method\n\n" + METHOD.strip() + "\n",
        *(section.markdown() for section in sections),
    ]
    return "\n".join(parts)


def main(seconds: float = 1.0, write: bool = True) -> int:
    """Run every benchmark, print each table, write BENCHMARKS.md; 1 if any benchmark failed."""
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    sections: list[Section] = []
    failed = 0
    for name, step in _steps(seconds):
        print(f"\n== {name} ==", flush=True)
        step_started = time.perf_counter()
        try:
            produced = step()
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            produced = [
                Section(
                    f"{name}: failed",
                    f"The {name} benchmark raised an error in this run.",
                    (),
                    verdicts=[f"{name}: FAILED ({exc.__class__.__name__}: {exc})"],
                )
            ]
        for section in produced:
            section.print()
        print(f"({name}: {time.perf_counter() - step_started:.0f} s)", flush=True)
        sections.extend(produced)
    elapsed = time.perf_counter() - clock
    if write:
        OUTPUT.write_text(_document(sections, started, elapsed), encoding="utf-8")
        print(f"\nwrote {OUTPUT.relative_to(ROOT)} ({elapsed:.0f} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--no-write"]
    sys.exit(main(float(args[0]) if args else 1.0, write="--no-write" not in sys.argv[1:]))
