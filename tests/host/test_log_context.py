"""Log lines tie one request together: every line a call causes carries the request's id, the
actor's name and key, whatever thread or nested call made it; lines outside calls carry none."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest

from tests.conftest import Signer
from wascc.host import Host
from wascc.host.errors import ActorTrapped
from wascc.host.invocation import Invocation, current_invocation, current_request_id
from wascc.host.logconfig import configure_logging
from wascc.providers import HttpServerProvider, LoggingProvider

HTTP, LOGGING = "wascc:http_server", "wascc:logging"
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines(restore_root: None) -> Lines:
    """The process's JSON log output (``configure_logging``, debug and above), parsed."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


class LoggingMiddleware:
    """Host-side code that logs one line as each invocation starts (as metrics or audit
    middleware would), on whatever thread runs it."""

    log = logging.getLogger("wascc.test.middleware")

    def before(self, invocation: Invocation) -> None:
        self.log.info("before %s", invocation.operation)

    def after(
        self, invocation: Invocation, result: bytes | None, error: BaseException | None
    ) -> None:
        pass


def http_request(path: str) -> bytes:
    """A ``HandleRequest`` payload for GET ``path``."""
    request = {"method": "GET", "path": path, "queryString": "", "header": {}, "body": b""}
    return bytes(msgpack.packb(request, use_bin_type=True))


def by_message(lines: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"] == text]


async def test_an_http_request_ties_its_lines_together(
    signer: Signer, tmp_path: Path, json_lines: Lines
) -> None:
    """One HTTP request to the logger actor: its two WriteLog lines and the host-side lines of
    the request and of each WriteLog carry one request id, the actor's name and key, and the
    id of the call each was made in."""
    async with Host(cache_dir=tmp_path, middleware=[LoggingMiddleware()]) as host:
        http = HttpServerProvider()
        await host.add_provider(http)
        await host.add_provider(LoggingProvider())
        key = (await host.add_actor(signer.sign("logger", caps=[HTTP, LOGGING]))).subject
        await host.set_binding(key, LOGGING)
        await host.set_binding(key, HTTP, values={"PORT": "0"})
        url = f"http://127.0.0.1:{http.port_of(key)}/one"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client,
            client.get(url) as response,
        ):
            assert await response.text() == "logged"
        assert host.actor(key).inline.inline_calls == 0  # its first call ran on a worker thread
    lines = json_lines()
    [request] = by_message(lines, "before HandleRequest")
    writes = by_message(lines, "before WriteLog")
    said = by_message(lines, "logger: handling request for /one")
    said += by_message(lines, "logger: sample warning for /one")
    assert len(writes) == len(said) == 2
    for line in [request, *writes, *said]:
        assert line["request_id"] == request["request_id"]
        assert (line["actor"], line["actor_key"]) == ("logger", key)
    assert [line["invocation_id"] for line in said] == [line["invocation_id"] for line in writes]
    assert len({line["invocation_id"] for line in [request, *writes]}) == 3
    assert [line["operation"] for line in said] == ["WriteLog", "WriteLog"]
    assert said[0]["logger"] == "wascc.actor.logger"


async def test_each_request_has_its_own_id_inline_and_on_workers(
    signer: Signer, host: Host, json_lines: Lines
) -> None:
    """Calls on worker threads and, once the actor is promoted, on the event loop thread:
    the two lines of each call share an id no other call has."""
    await host.add_provider(LoggingProvider())
    key = (await host.add_actor(signer.sign("logger", caps=[LOGGING]))).subject
    await host.set_binding(key, LOGGING)
    calls = 40
    for number in range(calls):
        await host.call_actor(key, "HandleRequest", http_request(f"/{number}"))
    policy = host.actor(key).inline
    assert 0 < policy.inline_calls < calls  # both paths were taken
    lines = json_lines()
    requests = set()
    for number in range(calls):
        pair = by_message(lines, f"logger: handling request for /{number}")
        pair += by_message(lines, f"logger: sample warning for /{number}")
        assert {line["request_id"] for line in pair} == {pair[0]["request_id"]}
        assert all(line["actor"] == "logger" for line in pair)
        requests.add(pair[0]["request_id"])
    assert len(requests) == calls


async def test_a_trap_line_names_the_call_that_trapped(
    signer: Signer, host: Host, json_lines: Lines
) -> None:
    """The host's line about a trap, logged on the event loop after the worker thread's call
    ended, carries the failed call's ids (the ones its error reports) and its actor."""
    key = (await host.add_actor(signer.sign("fixtures/trap", name="trapper"))).subject
    with pytest.raises(ActorTrapped) as failure:
        await host.call_actor(key, "Go", b"")
    [line] = [x for x in json_lines() if x["logger"] == "wascc.host.actor"]
    assert "trapped" in line["message"]
    assert line["invocation_id"] == line["request_id"] == failure.value.invocation_id
    assert (line["actor"], line["actor_key"], line["operation"]) == ("trapper", key, "Go")


async def test_an_actor_calls_actor_chain_keeps_the_first_request_id(
    signer: Signer, tmp_path: Path, json_lines: Lines
) -> None:
    """pinger calls ponger: ponger's lines carry pinger's request id, their own invocation
    id, and ponger as the actor."""
    async with Host(cache_dir=tmp_path, middleware=[LoggingMiddleware()]) as host:
        ponger = (await host.add_actor(signer.sign("ponger"))).subject
        pinger = (await host.add_actor(signer.sign("pinger", caps=[ponger]))).subject
        assert await host.call_actor(pinger, "Ping", ponger.encode()) == b"pong: ping"
    lines = json_lines()
    [ping] = by_message(lines, "before Ping")
    [pong] = by_message(lines, "before Pong")
    assert ping["request_id"] == ping["invocation_id"]
    assert pong["request_id"] == ping["invocation_id"] != pong["invocation_id"]
    assert (ping["actor"], ping["actor_key"]) == ("pinger", pinger)
    assert (pong["actor"], pong["actor_key"]) == ("ponger", ponger)


async def test_a_call_made_for_another_hosts_request_keeps_its_id(
    signer: Signer, host: Host, json_lines: Lines
) -> None:
    """A call made under a stand-in for another host's invocation (as the lattice serves
    one: its envelope's id) logs that id as its request id; providers see it too, and it is
    what a call sent on to a third host would carry."""
    seen: list[str | None] = []

    class Recorder(LoggingProvider):
        def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
            seen.append(current_request_id())
            return super().handle_sync(actor, binding, operation, payload)

    await host.add_provider(Recorder())
    key = (await host.add_actor(signer.sign("logger", caps=[LOGGING]))).subject
    await host.set_binding(key, LOGGING)
    sender = Invocation("M" + "B" * 55, key, "HandleRequest", b"", id="from-another-host")
    token = current_invocation.set(sender)
    try:
        await host.call_actor(key, "HandleRequest", http_request("/far"))
    finally:
        current_invocation.reset(token)
    assert current_request_id() is None
    [line] = by_message(json_lines(), "logger: handling request for /far")
    assert line["request_id"] == "from-another-host" != line["invocation_id"]
    assert seen == ["from-another-host", "from-another-host"]


async def test_lines_outside_calls_have_no_context_fields(
    signer: Signer, host: Host, json_lines: Lines
) -> None:
    """Start-up lines (an actor started, a provider loaded, a binding made) carry no
    invocation, request or actor field, not even an empty one."""
    await host.add_provider(LoggingProvider())
    key = (await host.add_actor(signer.sign("logger", caps=[LOGGING]))).subject
    await host.set_binding(key, LOGGING)
    lines = [line for line in json_lines() if line["logger"] == "wascc.host"]
    assert len(lines) == 3
    for line in lines:
        assert set(line) == {"time", "level", "logger", "message"}


def test_text_lines_name_what_is_known(restore_root: None) -> None:
    """The text format adds ``[actor, invocation, request]`` inside a call (the request only
    when it is another call's) and nothing outside one."""
    stream = io.StringIO()
    configure_logging("info", "text", stream)
    log = logging.getLogger("wascc.test.text")
    log.info("outside")
    root = Invocation("system", "M" + "A" * 55, "HandleRequest", b"")
    child = Invocation("M" + "A" * 55, "wascc:keyvalue/default", "Get", b"", None, root)
    for invocation in (root, child):
        token = current_invocation.set(invocation)
        try:
            log.info("inside")
        finally:
            current_invocation.reset(token)
    outside, first, nested = stream.getvalue().splitlines()
    assert outside.endswith("wascc.test.text: outside")
    assert first.endswith(f"inside [actor {'M' + 'A' * 55}, invocation {root.id}]")
    assert nested.endswith(f"[actor {'M' + 'A' * 55}, invocation {child.id}, request {root.id}]")
