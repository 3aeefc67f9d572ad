"""``make soak``: a real ``wascc up`` under steady mixed load for about a minute, watched for
leaks.

The demo (``examples/demo.yaml``: echo, kvcounter on SQLite, logger, with the HTTP server,
key-value and logging providers; actors signed for the run with throwaway keys) runs as a
child process, as in ``bench/process_bench.py``. ``bench/loadgen.py``, in its own process,
keeps a few keep-alive connections busy, spread over the three actors' ports. Every second
the host process's resident memory (``VmRSS``), open descriptors (``/proc/PID/fd``) and
threads (``Threads``) are sampled from ``/proc``.

The verdict compares the end of the run with the end of the warm-up (the first half, at
most 30 s: module caches and connection buffers settle there, and the pool of worker threads,
which grows on demand and never shrinks, reaches the load's concurrency): memory may grow by
less than 10 %, descriptors and threads by at most two (a SQLite journal, or a worker thread
started by a burst), and no request may fail. Exit status 1 otherwise, or if the host exits.

    .venv/bin/python -m bench.soak [SECONDS]      (default: $SOAK_SECONDS, else 60; 20 at least)
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.process_bench import _demo_ports, _demo_tree, wascc_up

__all__ = ["Sample", "Verdict", "judge", "main", "sample"]

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / "bench" / "loadgen.py"
DEFAULT_SECONDS = 60.0
CONNECTIONS = 6  # two per actor
PATH = "/soak"
RSS_GROWTH = 0.10  # at most 10 % more memory at the end than after the warm-up
SLACK = 2  # descriptors or threads that may come and go
WARM_UP_SHARE, WARM_UP_MAX = 0.5, 30.0
TAIL = 5  # samples whose median stands for "the end" (one second each)
_NAMES = ("rss_kib", "fds", "threads")


@dataclass(frozen=True)
class Sample:
    """One look at the host process: seconds since the load started, RSS in KiB, open
    descriptors, threads."""

    at: float
    rss_kib: int
    fds: int
    threads: int


def sample(pid: int, at: float) -> Sample:
    """The host process's RSS, descriptors and threads now (Linux ``/proc``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0])  # "123456 kB"
    threads = int(fields["Threads"])
    return Sample(at, rss, len(os.listdir(f"/proc/{pid}/fd")), threads)


@dataclass
class Verdict:
    """What the run shows: one line per measure, and whether the run passed."""

    lines: list[str] = field(default_factory=list)
    passed: bool = True

    def check(self, ok: bool, line: str) -> None:
        self.lines.append(f"{'ok  ' if ok else 'FAIL'} {line}")
        self.passed = self.passed and ok


def judge(
    samples: list[Sample], warm_up: float, load: dict[str, float] | None, host_alive: bool
) -> Verdict:
    """The verdict on ``samples`` taken after a warm-up of ``warm_up`` seconds, with the
    load generator's figures (``None``: it failed)."""
    verdict = Verdict()
    verdict.check(host_alive, "the host ran to the end" if host_alive else "the host exited")
    if load is None:
        verdict.check(False, "the load generator failed")
    else:
        errors = int(load["errors"])
        verdict.check(errors == 0 and load["requests"] > 0, f"{errors} failed requests")
    settled = [s for s in samples if s.at >= warm_up]
    if len(settled) < 2 * TAIL:
        verdict.check(False, f"only {len(settled)} samples after the warm-up: run longer")
        return verdict
    # Medians of a few seconds at each end, so that one garbage collection does not decide.
    base = {name: statistics.median(getattr(s, name) for s in settled[:TAIL]) for name in _NAMES}
    end = {name: statistics.median(getattr(s, name) for s in settled[-TAIL:]) for name in _NAMES}
    growth = end["rss_kib"] / base["rss_kib"] - 1
    verdict.check(
        growth < RSS_GROWTH,
        f"RSS {base['rss_kib'] / 1024:.1f} -> {end['rss_kib'] / 1024:.1f} MiB after the warm-up "
        f"({growth:+.1%}, limit {RSS_GROWTH:+.0%})",
    )
    for name, label in (("fds", "open descriptors"), ("threads", "threads")):
        grew = end[name] - base[name]
        verdict.check(
            grew <= SLACK,
            f"{label} {base[name]:g} -> {end[name]:g} after the warm-up "
            f"({grew:+g}, limit +{SLACK})",
        )
    return verdict


def _table(samples: list[Sample]) -> list[str]:
    """start, min, max and end of each measure."""
    rows = [f"{'':18}{'start':>10}{'min':>10}{'max':>10}{'end':>10}"]
    for name, label, scale in (
        ("rss_kib", "RSS (MiB)", 1024),
        ("fds", "open descriptors", 1),
        ("threads", "threads", 1),
    ):
        values = [getattr(s, name) / scale for s in samples]
        shown = (values[0], min(values), max(values), values[-1])
        form = "{:>10.1f}" if scale != 1 else "{:>10.0f}"
        rows.append(f"{label:18}" + "".join(form.format(v) for v in shown))
    return rows


def _start_load(ports: list[int], seconds: float) -> subprocess.Popen[bytes]:
    """``bench/loadgen.py`` in its own process: CONNECTIONS keep-alive connections spread
    round-robin over ``ports``, for ``seconds`` (after its own 0.5 s warm-up)."""
    argv = [sys.executable, str(LOADGEN), ",".join(map(str, ports)), str(seconds)]
    return subprocess.Popen([*argv, str(CONNECTIONS), PATH], stdout=subprocess.PIPE)


def _watch(
    host: subprocess.Popen[bytes], load: subprocess.Popen[bytes], seconds: float
) -> tuple[list[Sample], bool]:
    """One sample of ``host`` a second while ``load`` runs; the samples, and whether the host
    lived throughout. Bounded: the load generator stops itself after ``seconds``; half a
    minute later it is stopped."""
    samples: list[Sample] = []
    started = time.monotonic()
    for tick in range(int(seconds) + 30):
        if host.poll() is not None:
            return samples, False
        if load.poll() is not None:  # done: its connections are closing
            return samples, True
        samples.append(sample(host.pid, time.monotonic() - started))
        if tick and tick % 10 == 0:
            last = samples[-1]
            print(
                f"  {last.at:5.0f} s  RSS {last.rss_kib / 1024:6.1f} MiB  "
                f"fds {last.fds:3d}  threads {last.threads:3d}",
                flush=True,
            )
        time.sleep(max(0.0, started + tick + 1 - time.monotonic()))
    load.kill()
    return samples, True


def run(seconds: float) -> int:
    """Soak the demo for ``seconds``; print the table and the verdict; the exit status."""
    warm_up = min(WARM_UP_MAX, seconds * WARM_UP_SHARE)
    print(
        f"soak: `wascc up examples/demo.yaml` (echo, kvcounter on SQLite, logger) for "
        f"{seconds:g} s, {CONNECTIONS} keep-alive connections over the three actors "
        f"(GET {PATH}), warm-up {warm_up:g} s",
        flush=True,
    )
    with (
        _demo_tree() as root,
        tempfile.TemporaryDirectory(prefix="wascc-soak-") as data,
    ):
        ports = _demo_ports()
        with wascc_up(root / "examples" / "demo.yaml", Path(data), ports) as up:
            actor_ports = [int(port) for port in ports.values()]
            for port in actor_ports:
                up.wait_served(port)
            load = _start_load(actor_ports, seconds)
            try:
                samples, alive = _watch(up.proc, load, seconds)
                out, _ = load.communicate(timeout=60)
            finally:
                if load.poll() is None:  # interrupted: the load generator goes too
                    load.kill()
                    load.wait()
            alive = alive and up.proc.poll() is None
    result: dict[str, float] | None = json.loads(out) if load.returncode == 0 and out else None
    print()
    print("\n".join(_table(samples) if samples else ["no samples"]))
    if result is not None:
        print(
            f"requests served: {int(result['requests']):,} ({result['rps']:,.0f}/s, p50 "
            f"{result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms), "
            f"errors: {int(result['errors'])}"
        )
    verdict = judge(samples, warm_up, result, alive)
    print("\n".join(verdict.lines))
    print(f"verdict: {'PASS' if verdict.passed else 'FAIL'}")
    return 0 if verdict.passed else 1


def main(argv: list[str]) -> int:
    """Command line: ``[SECONDS]``, else ``$SOAK_SECONDS``, else 60."""
    text = argv[0] if argv else os.environ.get("SOAK_SECONDS", "")
    try:
        seconds = float(text) if text.strip() else DEFAULT_SECONDS
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise SystemExit(f"soak: SECONDS must be a positive number of seconds, got {text!r}")
    return run(seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
