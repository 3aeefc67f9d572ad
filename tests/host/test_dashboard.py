"""The dashboard's server side: the host's event log, the rate sampler, the page's files and
the feed of the admin endpoint, and the stop route the page uses. The page itself is tested in
a real browser (tests/ui/)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Signer
from wascc.host import Host
from wascc.host import dashboard as dashboard_module
from wascc.host.admin import AdminServer
from wascc.host.dashboard import FEED_BACKLOG, RateSampler, _Page
from wascc.host.errors import ActorNotFound, ActorTrapped
from wascc.host.events import EventLog
from wascc.host.metrics import HostMetrics
from wascc.host.testing import FunctionProvider

HTTP, KV = "wascc:http_server", "wascc:keyvalue"


# the event log ---------------------------------------------------------------------------------


def test_the_log_keeps_the_latest_events_and_tells_listeners() -> None:
    log = EventLog(capacity=3)
    heard: list[str] = []
    stop = log.listen(lambda event: heard.append(event["type"]))
    for kind in ("a", "b", "c", "d"):
        log.record(kind, {"n": kind}, host=None if kind != "d" else "NHOST")
    assert [e["type"] for e in log.recent(10)] == ["b", "c", "d"]
    assert [e["seq"] for e in log.recent(2)] == [3, 4]
    assert log.recent(0) == []
    assert log.recent(10)[-1]["host"] == "NHOST"
    assert heard == ["a", "b", "c", "d"]
    stop()
    log.record("e", {})
    assert heard == ["a", "b", "c", "d"]


def test_a_failing_listener_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = EventLog()
    heard: list[int] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    log.listen(broken)
    log.listen(lambda event: heard.append(event["seq"]))
    with caplog.at_level(logging.ERROR):
        log.record("actor_started", {})
        log.record("actor_stopped", {})
    assert heard == [1, 2]
    assert "an event listener failed on actor_started" in caplog.text


async def test_the_host_records_what_changes_and_traps(host: Host, signer: Signer) -> None:
    """Actors, providers and bindings as the lattice hears of them; a trap as
    ``actor_trapped``, at most once per interval however often the actor traps."""
    echo = await host.add_actor(signer.sign("echo", caps=[KV]))
    await host.add_provider(FunctionProvider(KV, lambda *_: b""))
    await host.set_binding(echo.subject, KV)
    crasher = await host.add_actor(signer.sign("fixtures/trap", name="crasher"))
    for _ in range(3):
        with pytest.raises(ActorTrapped):
            await host.call_actor(crasher.subject, "Anything", b"")
    await host.remove_actor(echo.subject)
    kinds = [(e["type"], e["host"]) for e in host.events.recent(50)]
    assert [kind for kind, _ in kinds] == [
        "actor_started",
        "provider_loaded",
        "provider_loaded",  # its wasmcloud:keyvalue twin (host.generations)
        "actor_binding_created",
        "actor_started",
        "actor_trapped",
        "actor_binding_removed",
        "actor_stopped",
    ]
    assert {where for _, where in kinds} == {None}
    trapped = next(e for e in host.events.recent(50) if e["type"] == "actor_trapped")
    assert trapped["data"]["public_key"] == crasher.subject
    assert trapped["data"]["name"] == "crasher"
    assert trapped["data"]["count"] == 1
    assert "about to trap" in trapped["data"]["error"]


# the rate sampler -------------------------------------------------------------------------------


async def test_rates_are_calls_and_failures_per_second_by_actor(
    tmp_path: Path, signer: Signer
) -> None:
    metrics = HostMetrics()
    async with Host(cache_dir=tmp_path / "cache", middleware=[metrics]) as host:
        echo = await host.add_actor(signer.sign("echo"))
        crasher = await host.add_actor(signer.sign("fixtures/trap", name="crasher"))
        sampler = RateSampler(metrics)
        for _ in range(6):
            await host.call_actor(echo.subject, "Echo", b"x")
        for _ in range(2):
            with pytest.raises(ActorTrapped):
                await host.call_actor(crasher.subject, "Anything", b"")
        await asyncio.sleep(0.2)
        _, first = sampler.sample()
        _, second = sampler.sample()  # nothing happened in between
    calls, errors = first[echo.subject]
    assert errors == 0
    assert calls == pytest.approx(6 / 0.2, rel=0.5)  # six calls over about 0.2 s
    crash_calls, crash_errors = first[crasher.subject]
    assert crash_calls == crash_errors > 0
    assert second[echo.subject] == (0.0, 0.0)
    series = sampler.series()
    assert [point[1:] for point in series[crasher.subject]] == [
        [crash_calls, crash_errors],
        [0.0, 0.0],
    ]


def test_a_page_that_falls_behind_is_ended() -> None:
    page = _Page()
    for _ in range(FEED_BACKLOG):
        page.push(b"x")
    assert not page.ended
    page.push(b"one too many")
    assert page.ended
    assert len(page.pending) == FEED_BACKLOG


# the admin endpoint's page, feed and stop route -------------------------------------------------


class Admin:
    """An admin endpoint on a started host, and an HTTP session to it."""

    def __init__(self, server: AdminServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        assert server.token_file is not None
        self.auth = {"Authorization": f"Bearer {server.token_file.read_text().strip()}"}

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    metrics = HostMetrics()
    async with Host(cache_dir=tmp_path / "cache", middleware=[metrics]) as host:
        metrics.watch(host)
        (tmp_path / "data").mkdir()
        server = AdminServer(
            host,
            metrics,
            address="127.0.0.1",
            port=0,
            data_dir=tmp_path / "data",
            accepting=lambda: True,
        )
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                yield Admin(server, session)
        finally:
            await server.close()


async def _messages(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """The server-sent events of ``response``: (kind, data)."""
    kind = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: ") :])


async def _until(messages: AsyncIterator[tuple[str, Any]], kind: str, timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        async for got, data in messages:
            if got == kind:
                return data
    raise AssertionError(f"the feed ended before a {kind} message")


async def test_the_page_is_served_without_a_token_and_runs_only_its_own_files(
    admin: Admin,
) -> None:
    for path, media in (
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ):
        async with admin.session.get(admin.url(path)) as response:
            assert response.status == 200, path
            assert response.content_type == media
            body = await response.read()
            assert body == (dashboard_module.UI_DIR / (path[4:] or "index.html")).read_bytes()
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["X-Frame-Options"] == "DENY"
    # Any other path under /ui needs the token like the rest of the endpoint.
    async with admin.session.get(admin.url("/ui/secrets.txt")) as response:
        assert response.status == 401
    async with admin.session.get(admin.url("/ui/secrets.txt"), headers=admin.auth) as response:
        assert response.status == 404


async def test_the_feed_and_the_stop_route_need_the_token(admin: Admin, signer: Signer) -> None:
    claims = await admin.server.host.add_actor(signer.sign("echo"))
    for method, path in (("GET", "/ui/feed"), ("POST", f"/actors/{claims.subject}/stop")):
        async with admin.session.request(method, admin.url(path)) as response:
            assert response.status == 401
            assert (await response.json())["type"] == "Unauthorized"
    cross_site = {**admin.auth, "Origin": "http://evil.example"}
    async with admin.session.post(
        admin.url(f"/actors/{claims.subject}/stop"), headers=cross_site
    ) as response:
        assert response.status == 403
    assert admin.server.host.actor(claims.subject)  # still running


async def test_the_feed_says_hello_then_rates_events_and_inventory(
    admin: Admin, signer: Signer
) -> None:
    host = admin.server.host
    echo = await host.add_actor(signer.sign("echo", caps=[KV]))
    async with admin.session.get(admin.url("/ui/feed"), headers=admin.auth) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        messages = _messages(response)
        hello = await _until(messages, "hello")
        assert [a["name"] for a in hello["inventory"]["actors"]] == ["echo"]
        assert hello["counts"] == {echo.subject: [1, 0]}
        assert [e["type"] for e in hello["events"]] == ["actor_started"]
        assert hello["host"]["lattice"] is None
        assert hello["lattice"] is None
        assert admin.server.dashboard.pages == 1

        for _ in range(5):
            await host.call_actor(echo.subject, "Echo", b"x")
        rates = await _until(messages, "rates")
        calls, errors, instances, busy = rates["actors"][echo.subject]
        assert calls > 0
        assert errors == 0
        assert instances == 1
        assert busy == 0

        await host.add_provider(FunctionProvider(KV, lambda *_: b""), binding="cache")
        await host.set_binding(echo.subject, KV, "cache", {"PASSWORD": "hunter2"})
        event = await _until(messages, "event")
        assert event["type"] == "provider_loaded"
        event = await _until(messages, "event")  # the same provider serves the twin
        assert (event["type"], event["data"]["capability_id"]) == (
            "provider_loaded",
            "wasmcloud:keyvalue",
        )
        event = await _until(messages, "event")
        assert event["type"] == "actor_binding_created"
        assert event["data"] == {
            "actor": echo.subject,
            "capability_id": KV,
            "binding_name": "cache",
        }
        inventory = await _until(messages, "inventory")
        (binding,) = [b for b in inventory["bindings"] if b["binding"] == "cache"]
        assert binding["values"] == {"PASSWORD": "[redacted]"}
    # A page that went away is noticed at the next write: the next second's rates.
    for _ in range(100):
        if not admin.server.dashboard.pages:
            break
        await asyncio.sleep(0.05)
    assert admin.server.dashboard.pages == 0


async def test_closing_the_endpoint_ends_open_feeds(admin: Admin) -> None:
    async with admin.session.get(admin.url("/ui/feed"), headers=admin.auth) as response:
        messages = _messages(response)
        await _until(messages, "hello")
        async with asyncio.timeout(3):
            await admin.server.close()
            async for _ in messages:
                pass  # the stream ends instead of waiting for the runner's timeout


async def test_more_pages_than_allowed_are_refused(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_module, "MAX_FEEDS", 1)
    async with admin.session.get(admin.url("/ui/feed"), headers=admin.auth) as first:
        await _until(_messages(first), "hello")
        async with admin.session.get(admin.url("/ui/feed"), headers=admin.auth) as second:
            assert second.status == 503
            assert "close one" in (await second.json())["error"]


async def test_stop_removes_the_actor_and_its_bindings(admin: Admin, signer: Signer) -> None:
    host = admin.server.host
    echo = await host.add_actor(signer.sign("echo", caps=[KV]))
    await host.add_provider(FunctionProvider(KV, lambda *_: b""))
    await host.set_binding(echo.subject, KV)
    async with admin.session.post(admin.url("/actors/echo/stop"), headers=admin.auth) as response:
        assert response.status == 200
        assert await response.json() == {"key": echo.subject, "name": "echo", "stopped": True}
    with pytest.raises(ActorNotFound):
        host.actor(echo.subject)
    assert host.inventory()["bindings"] == []
    async with admin.session.post(admin.url("/actors/echo/stop"), headers=admin.auth) as response:
        assert response.status == 404
        assert "no actor echo runs on this host" in (await response.json())["error"]
