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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import loadgen
from bench.process_bench import _demo_ports, _demo_tree
from bench.report import Section
from bench.served import (
    HEADER,
    Figures,
    Server,
    alternate,
    best,
    free_port,
    measure_http,
    row,
    wascc_up,
)

if TYPE_CHECKING:
    from tests.ui.browser import Browser

__all__ = ["main", "section"]

ROUNDS = 5
IDLE = 3.0
"""Seconds from the host's first answer to the load, page open or not: time for Chromium to
load the page and log in, left idle on both sides so that only the page differs."""
TARGET = 0.98
CONNECTIONS = 16
IDLE_PAIRS = 6
IDLE_WINDOW = 4.0
IDLE_SETTLE = 1.5  # after the page opens or closes, before a window starts
IDLE_START = 5.0  # after the host's first answer: its start-up work is done before the first

METHOD = """
Two measurements. **Throughput**: what a user runs, `wascc up examples/demo.yaml --expand-env
--admin 127.0.0.1:PORT` (echo, kvcounter and logger, signed for the run with throwaway keys,
on the built-in HTTP, key-value and logging providers, with the admin endpoint and its
dashboard), a fresh process for every round. Once echo answers its first `GET /`, the host is
left idle for {idle:g} s, then `bench/loadgen.py` (its own process) loads echo with
{connections} keep-alive connections for {total:g} s, with no warm-up pass. *Page closed*:
nobody looks at the dashboard. *Page open*: in the idle window, a headless Chromium (Debian's,
driven by Selenium) opens `/ui`, logs in with the token and keeps the page open through the
load, following the feed and redrawing its tables, graph and charts. Rounds alternate closed,
open, open, closed, ...; the table shows each side's round with the most req/s. On this
shared 2-CPU machine the browser competes with the host and the load generator for the CPUs,
and rounds of one side differ by 10-30 %: these rows cannot resolve 2 %. **The page's cost
to the host**, which can: one `wascc up` process at rest ({start:g} s after its first answer),
its threads' time on a CPU (the scheduler's nanosecond count, /proc/PID/task/*/schedstat)
over {pairs} pairs of {window:g} s windows, the page closed (the browser on `about:blank`)
then open (logged in, following the feed). What an open page makes the host do does not
grow with the load (one rates message a second, events as they happen, the lattice's hosts
every 5 s); the bound is the mean difference of the pairs plus two standard errors, and the
verdict compares it with the CPU the host spends serving the load (median of the closed
rounds: req/s times CPU µs/req).
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
    """The host's throughput with the dashboard closed and open, and the host's own CPU time
    for an open page, as a ``Section``."""
    title = (
        f"Dashboard: the host with the page open ({seconds + loadgen.WARMUP:g} s of load per "
        f"figure, {ROUNDS} rounds each, {CONNECTIONS} connections, loopback)"
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

        @contextmanager
        def host(browser: Browser | None = None) -> Iterator[tuple[Server, int, Path, int]]:
            rounds[0] += 1
            ports = _demo_ports()
            admin = free_port()
            data = work / f"data{rounds[0]}"
            options = ("--admin", f"127.0.0.1:{admin}")
            with wascc_up(manifest, data, ports, log=work / "host.log", options=options) as up:
                yield up, int(ports["ECHO_PORT"]), data, admin

        def figures(page: bool) -> Figures:
            browser = start_browser(work / "shots", work / f"profile{rounds[0]}") if page else None
            try:
                with host() as (up, echo, data, admin):
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

        closed, opened = alternate(lambda: figures(False), lambda: figures(True), rounds=ROUNDS)
        browser = start_browser(work / "shots", work / "profile-idle")
        try:
            with host() as (up, echo, data, admin):
                up.wait_served(echo)
                idle = _idle_cost(up, browser, _open_page(browser, admin, data, wait=False))
        finally:
            browser.driver.quit()
    median = statistics.median(r["rps"] for r in opened) / statistics.median(
        r["rps"] for r in closed
    )
    cpu = statistics.median(r["cpu_us"] for r in opened) / statistics.median(
        r["cpu_us"] for r in closed
    )
    # What the host spends on an open page, as a share of what it spends serving the load:
    # the windows at rest vary by themselves (timers, the sampler, the heartbeat), so the
    # cost is taken from the pairs (each open window minus the closed one before it), as
    # their mean plus two standard errors: a bound the true cost stays under.
    serving = statistics.median(r["rps"] * r["cpu_us"] / 1e6 for r in closed)
    pairs = [o - c for c, o in zip(idle["closed_windows"], idle["open_windows"], strict=True)]
    difference = statistics.fmean(pairs)
    error = statistics.stdev(pairs) / len(pairs) ** 0.5
    bound = max(difference + 2 * error, 0.0)
    share = bound / serving
    met = "meets" if share <= 1 - TARGET else "misses"
    total = seconds + loadgen.WARMUP
    return Section(
        title,
        METHOD.format(
            idle=IDLE,
            connections=CONNECTIONS,
            total=total,
            window=IDLE_WINDOW,
            pairs=IDLE_PAIRS,
            start=IDLE_START,
        ),
        HEADER,
        [
            row("`wascc up` demo, dashboard closed", best(closed)),
            row("`wascc up` demo, dashboard open in Chromium", best(opened), best(closed)),
        ],
        verdicts=[
            f"Dashboard: an open page costs the host at most {bound * 1e3:.1f} ms of CPU per "
            f"second (open - closed over {IDLE_PAIRS} pairs of windows at rest: "
            f"{difference * 1e3:+.1f} ms ± {error * 1e3:.1f} ms; bound: mean + 2 standard "
            f"errors), {share * 100:.2f} % of the {serving:.2f} CPU it spends "
            f"serving the load ({met} the {(1 - TARGET) * 100:g} % bound); throughput with "
            f"Chromium open on the same machine {median:.3f}x of closed (medians of {ROUNDS} "
            f"rounds), host CPU per request {cpu:.2f}x"
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
            "The host's CPU per second at rest, page closed / open, alternating "
            f"{IDLE_WINDOW:g} s windows in one process: closed "
            + " / ".join(f"{v * 1e3:.2f}" for v in idle["closed_windows"])
            + " ms; open "
            + " / ".join(f"{v * 1e3:.2f}" for v in idle["open_windows"])
            + " ms.",
        ],
    )


def _on_cpu(pid: int) -> float:
    """Seconds the threads of process ``pid`` have run on a CPU, to the nanosecond (the
    scheduler's own count, /proc/PID/task/*/schedstat; /proc/PID/stat counts in 10 ms ticks,
    too coarse for a process at rest)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return total / 1e9


def _idle_cost(up: Server, browser: Browser, open_page: Callable[[], None]) -> dict[str, Any]:
    """The host process's CPU seconds per second at rest, with the page closed and open, in
    alternating windows (closed, open, closed, open, ...): the medians and every window."""
    windows: dict[str, list[float]] = {"closed": [], "open": []}
    time.sleep(IDLE_START)
    for index in range(2 * IDLE_PAIRS):
        page = index % 2 == 1
        if page:
            open_page()
        else:
            browser.driver.get("about:blank")  # the feed ends; the host notices within 1 s
        time.sleep(IDLE_SETTLE)
        before = _on_cpu(up.proc.pid)
        time.sleep(IDLE_WINDOW)
        windows["open" if page else "closed"].append((_on_cpu(up.proc.pid) - before) / IDLE_WINDOW)
    return {
        "closed": statistics.median(windows["closed"]),
        "open": statistics.median(windows["open"]),
        "closed_windows": windows["closed"],
        "open_windows": windows["open"],
    }


def _open_page(
    browser: Browser, admin: int, data: Path, *, wait: bool = True
) -> Callable[[], None]:
    """Open the dashboard and log in; with ``wait``, then wait out the idle window before the
    load (the closed side waits it out too)."""

    def run() -> None:
        started = time.monotonic()
        token = (data / f"admin-{admin}.token").read_text(encoding="ascii").strip()
        browser.open(f"http://127.0.0.1:{admin}/ui")
        if browser.visible("#token"):  # not logged in yet in this tab
            browser.login(token)
        browser.wait(lambda: browser.all("#actors tr[data-actor]"), "the actors table")
        if wait:
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
