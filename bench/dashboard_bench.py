"""What an open dashboard costs the host: `wascc up` with the demo manifest and its admin
endpoint, loaded over HTTP with the dashboard page closed, then open in Chromium (the real
page, logged in, following the feed), in alternating rounds.

    .venv/bin/python -m bench.dashboard_bench [seconds of load per figure]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from bench import loadgen
from bench.process_bench import _demo_ports, _demo_tree
from bench.report import Section
from bench.served import HEADER, Figures, alternate, best, free_port, measure_http, row, wascc_up

if TYPE_CHECKING:
    from tests.ui.browser import Browser

__all__ = ["main", "section"]

ROUNDS = 3
IDLE = 3.0
"""Seconds from the host's first answer to the load, page open or not: time for Chromium to
load the page and log in, left idle on both sides so that only the page differs."""
TARGET = 0.98
CONNECTIONS = 16

METHOD = """
Both sides run what a user runs: `wascc up examples/demo.yaml --expand-env --admin
127.0.0.1:PORT` (echo, kvcounter and logger, signed for the run with throwaway keys, on the
built-in HTTP, key-value and logging providers, plus the admin endpoint and its dashboard),
a fresh process for every round. Once echo answers its first `GET /`, the host is left idle
for {idle:g} s, then `bench/loadgen.py` (its own process) loads echo with {connections}
keep-alive connections for {total:g} s, with no warm-up pass. **Page closed**: nobody looks
at the dashboard. **Page open**: in the idle window, a headless Chromium (Debian's, driven by
Selenium, its own processes) opens `/ui`, logs in with the token and keeps the page open
through the load: it follows the feed (rates every second, events, inventory) and redraws
its tables, graph and charts. The browser competes with the host and the load generator for
this machine's CPUs, as it would on an operator's laptop that runs the host. Rounds alternate
closed, open, open, closed, ...; the table shows each side's round with the most req/s, and
the verdict compares the medians too.
"""


def _chromium() -> str | None:
    """Why the open-page side cannot run here, or None when it can."""
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH (Debian packages chromium, chromium-driver)"
    try:
        import selenium  # noqa: F401, PLC0415 - a dev dependency, only this side needs it
    except ImportError:
        return "selenium is not installed (`make setup` installs it)"
    return None


def section(seconds: float = 3.0) -> Section:
    """The host's throughput with the dashboard closed and open, as a ``Section``."""
    title = (
        f"Dashboard: host throughput with the page open ({seconds + loadgen.WARMUP:g} s of load "
        f"per figure, best of {ROUNDS}, {CONNECTIONS} connections, loopback)"
    )
    missing = _chromium()
    if missing is not None:
        return Section(title, METHOD, (), notes=[f"Not measured: {missing}."])
    from tests.ui.browser import start_browser  # noqa: PLC0415 - needs selenium

    pages_live: list[float] = []
    with ExitStack() as stack:
        root = stack.enter_context(_demo_tree())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dashboard-bench-")))
        manifest = root / "examples" / "demo.yaml"
        rounds = [0]

        def figures(page: bool) -> Figures:
            rounds[0] += 1
            ports = _demo_ports()
            admin = free_port()
            data = work / f"data{rounds[0]}"
            options = ("--admin", f"127.0.0.1:{admin}")
            browser: Browser | None = None
            if page:
                browser = start_browser(work / "shots", work / f"profile{rounds[0]}")
            try:
                with wascc_up(manifest, data, ports, log=work / "host.log", options=options) as up:
                    echo = int(ports["ECHO_PORT"])
                    before = (
                        _open_page(browser, admin, data) if browser else lambda: time.sleep(IDLE)
                    )
                    result = measure_http(up, echo, seconds, CONNECTIONS, before_load=before)
                    if browser is not None:
                        pages_live.append(_page_rate(browser, "echo"))
                    return result
            finally:
                if browser is not None:
                    browser.driver.quit()

        closed, opened = alternate(lambda: figures(False), lambda: figures(True), ROUNDS)
    best_closed, best_open = best(closed), best(opened)
    ratio = best_open["rps"] / best_closed["rps"]
    median = statistics.median(r["rps"] for r in opened) / statistics.median(
        r["rps"] for r in closed
    )
    cpu = best_open["cpu_us"] / best_closed["cpu_us"]
    met = "meets" if ratio >= TARGET else "is below"
    total = seconds + loadgen.WARMUP
    return Section(
        title,
        METHOD.format(idle=IDLE, connections=CONNECTIONS, total=total),
        HEADER,
        [
            row("`wascc up` demo, dashboard closed", best_closed),
            row("`wascc up` demo, dashboard open in Chromium", best_open, best_closed),
        ],
        verdicts=[
            f"Dashboard open / closed: {ratio:.3f}x host throughput, best rounds ({met} the "
            f"{TARGET:g}x target); medians {median:.3f}x; host CPU per request {cpu:.2f}x"
        ],
        notes=[
            "req/s of every round: closed "
            + " / ".join(f"{r['rps']:,.0f}" for r in closed)
            + "; open "
            + " / ".join(f"{r['rps']:,.0f}" for r in opened)
            + ".",
            "The open page showed echo's rate at the end of each load: "
            + ", ".join(f"{rate:,.0f}/s" for rate in pages_live)
            + " (it was live all along).",
        ],
    )


def _open_page(browser: Browser, admin: int, data: Path) -> Callable[[], None]:
    """What runs between the host's first answer and the load: open and log in, then wait
    out the idle window (the closed side waits it out too)."""

    def run() -> None:
        started = time.monotonic()
        token = (data / f"admin-{admin}.token").read_text(encoding="ascii").strip()
        browser.open(f"http://127.0.0.1:{admin}/ui")
        browser.login(token)
        browser.wait(lambda: browser.all("#actors tr[data-actor]"), "the actors table")
        time.sleep(max(0.0, IDLE - (time.monotonic() - started)))

    return run


def _page_rate(browser: Browser, name: str) -> float:
    """The rate the page shows for actor ``name`` now."""
    text: str = browser.script(
        "const row = [...document.querySelectorAll('#actors tr[data-actor]')]"
        ".find(r => r.querySelector('.name').textContent === arguments[0]);"
        "return row ? row.querySelector('.rate').textContent : '';",
        name,
    )
    try:
        return float(text.split("/", maxsplit=1)[0].replace(",", ""))
    except ValueError:
        return float("nan")


def main(seconds: float = 3.0) -> Section:
    """Measure and print the table."""
    result = section(seconds)
    result.print()
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
