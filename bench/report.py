"""What every benchmark hands back, and how ``make bench`` turns them into BENCHMARKS.md.

A benchmark returns one or more ``Section``: a table (printed to stdout as it is measured
and written to BENCHMARKS.md as markdown), the method behind it, and verdict lines that
state each goal as met or quantify the gap. ``machine()`` and ``versions()`` describe where
and with what the run was made.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Section", "machine", "rss_bytes", "versions"]


@dataclass
class Section:
    """One table of figures with its method and verdicts."""

    title: str
    method: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        """The table and its verdicts as plain text on stdout."""
        print(self.title)
        table = [self.header, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.header))]
        lines = [self.header, tuple("-" * w for w in widths), *self.rows]
        for row in lines:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for line in [*self.verdicts, *self.notes]:
            print(f"  {line}")
        sys.stdout.flush()

    def markdown(self) -> str:
        """The section as markdown: heading, method, table, verdicts, notes."""
        out = [f"## {self.title}", "", self.method.strip(), ""]
        if self.rows:
            out.append("| " + " | ".join(self.header) + " |")
            out.append("|" + "|".join(" --- " for _ in self.header) + "|")
            out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows)
            out.append("")
        for verdict in self.verdicts:
            out.append(f"- **{verdict}**")
        if self.verdicts:
            out.append("")
        out.extend(f"{note}\n" for note in self.notes)
        return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` (Linux /proc), 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine() -> list[tuple[str, str]]:
    """CPU model, cores, memory, kernel: what the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical CPUs" + (
        f" ({affinity} usable by this process)" if affinity not in (None, os.cpu_count()) else ""
    )
    return [
        ("CPU", model),
        ("cores", cores),
        ("memory", memory),
        ("system", f"{platform.system()} {platform.release()} ({platform.machine()})"),
    ]


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _binary_version(find: str, flag: str) -> str:
    try:
        from tests.support import servers  # noqa: PLC0415 - test helpers, only for the report

        binary = getattr(servers, find)()
        out = subprocess.run(
            [str(binary), flag], capture_output=True, text=True, timeout=10, check=False
        )
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception as exc:  # a report line, never a failure of the run
        return f"unavailable ({exc.__class__.__name__})"


def versions() -> list[tuple[str, str]]:
    """Versions of everything the figures depend on."""
    rows = [("Python", sys.version.split()[0] + f" ({platform.python_implementation()})")]
    for name in ("wasmtime", "aiohttp", "nats-py", "redis", "msgpack", "PyNaCl"):
        rows.append((name, _package(name)))
    extism = _package("extism")
    try:
        import extism as extism_sdk  # type: ignore[import-untyped]  # noqa: PLC0415

        extism += f" (runtime {extism_sdk.extism_version()})"
    except Exception:
        pass
    rows.append(("extism (peer)", extism))
    rows.append(("nats-server", _binary_version("nats_server_binary", "--version")))
    rows.append(("redis-server", _binary_version("redis_server_binary", "--version")))
    return rows
