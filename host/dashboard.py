"""The dashboard of the admin endpoint (``host.admin``): a page at ``/ui`` and the feed it reads.

=====================  ==========================================================================
route                  what
=====================  ==========================================================================
``GET /ui``            the page (``host/ui/index.html``) and its files (``app.js``, ``app.css``,
``GET /ui/FILE``       ``icon.svg``); no token: they hold no data. The page asks for the token,
                       keeps it in the tab's ``sessionStorage`` and sends it as a bearer token
``GET /ui/feed``       ``text/event-stream`` (token needed): ``hello`` once, then ``rates`` every
                       second, ``event`` for each host event, ``inventory`` after events that
                       change it, ``lattice`` every ``LATTICE_EVERY`` seconds on a lattice
                       (its hosts, their actors, and its applications)
=====================  ==========================================================================

The page's actions use the endpoint's own routes (``POST /actors/update``,
``POST /actors/{actor}/stop``), so a live update from the page passes the same checks as one
from ``wascc update``.

The feed is read with ``fetch`` rather than ``EventSource``, which cannot send a token. What the
host pays for it: the rate sampler reads two counters of ``host.metrics`` once a second, and
each page gets its messages from a bounded queue; a page that falls ``FEED_BACKLOG`` messages
behind is disconnected (it reconnects and starts again from ``hello``). Nothing on a call's
path changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wascc.host.admin_guard import json_error
from wascc.host.apps.store import AppStore
from wascc.host.apps.view import app_state
from wascc.host.errors import HostError
from wascc.host.events import HostEvent
from wascc.host.host import Host
from wascc.host.lattice.inventory import gather
from wascc.host.metrics import HostMetrics

if TYPE_CHECKING:
    from wascc.host.lattice import Lattice

__all__ = ["UI_DIR", "Dashboard", "HostInfo", "RateSampler"]

logger = logging.getLogger("wascc.admin")

UI_DIR = Path(__file__).resolve().parent / "ui"
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
# The page runs only its own files: no inline script, nothing from elsewhere, never framed.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

RATE_EVERY = 1.0
"""Seconds between two rate samples (and ``rates`` messages)."""
RATE_HISTORY = 120
"""Samples kept, so that a page opened now draws the last two minutes."""
LATTICE_EVERY = 5.0
"""Seconds between two lattice inventories, asked only while a page is open."""
LATTICE_MIN_GAP = 1.0
"""Seconds at least between two lattice inventories, however many events arrive."""
FEED_BACKLOG = 256
"""Messages queued for one page before it is disconnected as too slow."""
MAX_FEEDS = 16
"""Pages open at once; more are refused (503)."""
_RECENT_EVENTS = 50
_INVENTORY_DELAY = 0.2  # a burst of events (a manifest's bindings) sends one inventory


class HostInfo:
    """Who this host is, for the page's header: id, labels, version, uptime, lattice."""

    def __init__(self, host: Host, *, host_id: str, lattice_url: str | None) -> None:
        self.host = host
        self.host_id = host_id
        self.lattice_url = lattice_url
        self.started = time.time()
        self._started = time.monotonic()
        try:
            self.version = metadata.version("wascc-py")
        except metadata.PackageNotFoundError:  # run from a tree that was never installed
            self.version = "unknown"

    def describe(self, lattice: Lattice | None) -> dict[str, Any]:
        """JSON for the page."""
        return {
            "id": self.host_id,
            "labels": dict(self.host.labels),
            "version": self.version,
            "started": round(self.started, 3),
            "uptime_s": round(time.monotonic() - self._started, 3),
            "lattice": None
            if lattice is None or self.lattice_url is None
            else {"url": self.lattice_url, "connected": lattice.client.is_connected},
        }


class RateSampler:
    """Calls and failed calls per second for each actor, from the host's own counters."""

    def __init__(self, metrics: HostMetrics) -> None:
        self._metrics = metrics
        self._last: dict[str, tuple[float, float]] = {}
        self._at = time.monotonic()
        self.history: deque[tuple[float, dict[str, tuple[float, float]]]] = deque(
            maxlen=RATE_HISTORY
        )

    def _totals(self) -> dict[str, tuple[float, float]]:
        totals: dict[str, list[float]] = {}
        for index, counter in enumerate((self._metrics.invocations, self._metrics.errors)):
            for family in counter.collect():
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        totals.setdefault(sample.labels["actor"], [0.0, 0.0])[index] += sample.value
        return {key: (calls, errors) for key, (calls, errors) in totals.items()}

    def sample(self) -> tuple[float, dict[str, tuple[float, float]]]:
        """``(unix time, {actor: (calls/s, errors/s)})`` since the last sample; kept in
        ``history``."""
        now = time.monotonic()
        elapsed, self._at = max(now - self._at, 1e-3), now
        totals = self._totals()
        rates: dict[str, tuple[float, float]] = {}
        for key, (calls, errors) in totals.items():
            before_calls, before_errors = self._last.get(key, (0.0, 0.0))
            rates[key] = (
                round(max(calls - before_calls, 0.0) / elapsed, 2),
                round(max(errors - before_errors, 0.0) / elapsed, 2),
            )
        self._last = totals
        point = (round(time.time(), 3), rates)
        self.history.append(point)
        return point

    def series(self) -> dict[str, list[list[float]]]:
        """``{actor: [[unix time, calls/s, errors/s], ...]}`` over the history kept."""
        out: dict[str, list[list[float]]] = {}
        for at, rates in self.history:
            for key, (calls, errors) in rates.items():
                out.setdefault(key, []).append([at, calls, errors])
        return out


class _Page:
    """One open page's queue of encoded messages."""

    def __init__(self) -> None:
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.ended = False  # too slow, or the dashboard is closing

    def push(self, chunk: bytes) -> None:
        if len(self.pending) >= FEED_BACKLOG:
            self.ended = True
        else:
            self.pending.append(chunk)
        self.wake.set()

    def end(self) -> None:
        self.ended = True
        self.wake.set()


def _message(kind: str, data: Any) -> bytes:
    """One server-sent event."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Dashboard:
    """Serves the page and the feed for ``host``. ``inventory`` gives the host's inventory as
    the endpoint shows it (secrets redacted); ``lattice``, when the host joined one, is asked
    for every host's inventory while a page is open."""

    def __init__(
        self,
        host: Host,
        metrics: HostMetrics,
        *,
        info: HostInfo,
        inventory: Callable[[], dict[str, Any]],
        lattice: Lattice | None = None,
    ) -> None:
        self.host = host
        self.info = info
        self.sampler = RateSampler(metrics)
        self._inventory = inventory
        self._lattice = lattice
        self._files = _read_files()
        self._pages: set[_Page] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._unlisten: Callable[[], None] | None = None
        self._inventory_due: asyncio.TimerHandle | None = None
        self._lattice_view: dict[str, Any] | None = None
        self._apps: AppStore | None = None
        self._lattice_wake = asyncio.Event()

    @property
    def open_paths(self) -> frozenset[str]:
        """Paths served without the token (``AdminGuard``)."""
        return frozenset({"/ui", "/ui/", *(f"/ui/{name}" for name in _FILES)})

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The routes of the module docstring."""
        router.add_get("/ui", self._index)
        router.add_get("/ui/", self._index)
        router.add_get("/ui/feed", self._feed)
        router.add_get("/ui/{name}", self._file)

    @property
    def pages(self) -> int:
        """Pages following the feed now."""
        return len(self._pages)

    async def start(self) -> None:
        """Start sampling rates and following the host's events."""
        self._unlisten = self.host.events.listen(self._on_event)
        self._tasks.append(asyncio.create_task(self._sample(), name="dashboard rates"))
        if self._lattice is not None:
            self._tasks.append(asyncio.create_task(self._poll_lattice(), name="dashboard lattice"))

    async def close(self) -> None:
        """End every feed, stop the tasks (idempotent)."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._inventory_due is not None:
            self._inventory_due.cancel()
            self._inventory_due = None
        for page in tuple(self._pages):
            page.end()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # what the pages receive -----------------------------------------------------------------

    def _broadcast(self, chunk: bytes) -> None:
        for page in tuple(self._pages):
            page.push(chunk)

    def _on_event(self, event: HostEvent) -> None:
        if not self._pages:
            return
        self._broadcast(_message("event", event))
        if self._inventory_due is None and event["host"] is None:
            loop = asyncio.get_running_loop()
            self._inventory_due = loop.call_later(_INVENTORY_DELAY, self._send_inventory)
        if event["host"] is not None:
            self._lattice_wake.set()  # another host changed: ask the lattice again soon

    def _send_inventory(self) -> None:
        self._inventory_due = None
        if self._pages:
            self._broadcast(_message("inventory", self._inventory()))

    def _counts(self) -> dict[str, list[int]]:
        return {actor.key: [actor.pool.size, actor.pool.busy] for actor in self.host.actors}

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(RATE_EVERY)
            at, rates = self.sampler.sample()
            if not self._pages:
                continue
            counts = self._counts()
            actors = {key: [*rates.get(key, (0.0, 0.0)), *count] for key, count in counts.items()}
            self._broadcast(_message("rates", {"t": at, "actors": actors}))

    async def _poll_lattice(self) -> None:
        assert self._lattice is not None
        lattice = self._lattice
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lattice_wake.wait(), LATTICE_EVERY)
            self._lattice_wake.clear()
            if not self._pages:
                continue
            try:
                hosts, actors = await asyncio.gather(
                    gather(lattice.client, lattice.subjects, "hosts", timeout=1.0),
                    gather(lattice.client, lattice.subjects, "actors", timeout=1.0),
                )
                running = {a["host_id"]: a.get("actors", []) for a in actors}
                view: dict[str, Any] = {
                    "hosts": [
                        {
                            "id": h["host_id"],
                            "labels": h.get("labels", {}),
                            "uptime_s": h.get("uptime_s"),
                            "version": h.get("version"),
                            "actors": [
                                {k: a.get(k) for k in ("key", "name", "rev", "instances")}
                                for a in running.get(h["host_id"], [])
                            ],
                        }
                        for h in hosts
                    ],
                    "error": None,
                }
            except Exception as exc:  # NATS down: say so on the page, try again later
                view = {"hosts": [], "error": f"{type(exc).__name__}: {exc}"}
            view["apps"], view["apps_error"] = await self._applications(lattice)
            self._lattice_view = view
            self._broadcast(_message("lattice", view))
            # Events of other hosts wake this loop: a burst of them (a lattice starting up)
            # must not turn into one inventory of the whole lattice per event.
            await asyncio.sleep(LATTICE_MIN_GAP)

    async def _applications(self, lattice: Lattice) -> tuple[list[dict[str, Any]] | None, str]:
        """The lattice's applications (``wascc apply``) and how far each got: None when the
        lattice keeps none (no store, or no JetStream); the error when the store fails."""
        try:
            # Opened once it exists (until then, asked again each poll: `wascc apply` makes it).
            if self._apps is None:
                unopened = AppStore(lattice.client, lattice.subjects.namespace)
                self._apps = await unopened.open_existing()
            store = self._apps
            if store is None:
                return None, ""
            apps: list[dict[str, Any]] = []
            for name in await store.names():
                app = await store.described(name)
                if app is not None:
                    apps.append(
                        {
                            "name": name,
                            "version": app["spec"].get("version"),
                            "revision": app["current"],
                            **app_state(app),
                        }
                    )
        except Exception as exc:  # the store is down or unreadable: say so on the page
            self._apps = None  # and open it afresh next time (NATS may have lost it)
            return None, f"{type(exc).__name__}: {exc}"
        return apps, ""

    # routes -------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return self._serve("index.html")

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._files:
            return json_error(404, f"no file {name} in the dashboard; open /ui", "NotFound")
        return self._serve(name)

    def _serve(self, name: str) -> web.Response:
        return web.Response(
            body=self._files[name], headers={**_HEADERS, "Content-Type": _FILES[name]}
        )

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        if len(self._pages) >= MAX_FEEDS:
            return json_error(
                503, f"{MAX_FEEDS} dashboards are open on this host; close one", "TooManyPages"
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            }
        )
        await response.prepare(request)
        page = _Page()
        self._pages.add(page)
        self._lattice_wake.set()  # the new page gets the lattice's view at once
        try:
            await response.write(_message("hello", self._hello()))
            while True:
                await page.wake.wait()
                page.wake.clear()
                if page.pending:
                    chunks = b"".join(page.pending)
                    page.pending.clear()
                    await response.write(chunks)
                if page.ended:
                    break
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self._pages.discard(page)
        return response

    def _hello(self) -> dict[str, Any]:
        return {
            "host": self.info.describe(self._lattice),
            "inventory": self._inventory(),
            "counts": self._counts(),
            "rates": {"every": RATE_EVERY, "series": self.sampler.series()},
            "events": self.host.events.recent(_RECENT_EVENTS),
            "lattice": self._lattice_view,  # None without a lattice, or before its first answer
        }


def _read_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in _FILES:
        try:
            files[name] = (UI_DIR / name).read_bytes()
        except OSError as exc:
            raise HostError(
                f"the dashboard's file {UI_DIR / name} cannot be read ({exc.strerror}); "
                "reinstall wascc-py"
            ) from exc
    return files
