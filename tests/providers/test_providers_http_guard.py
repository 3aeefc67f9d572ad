"""The HTTP server against hostile or unlucky clients: timeouts, malformed requests, limits,
the body budget, the status of each failure, and the start-up hold."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.providers.providers_support import (
    HTTP,
    Handler,
    ServeActor,
    Served,
    SignerLike,
    eventually,
)
from wascc.host import ActorSettings, Host, Limits
from wascc.host.errors import (
    ActorBusy,
    ActorOutOfTime,
    ActorTrapped,
    InvocationTimeout,
    ProviderError,
    Unavailable,
)
from wascc.host.lattice.errors import LatticeUnavailable
from wascc.host.manifest import ManifestInvalid, load_manifest
from wascc.host.testing import FunctionProvider
from wascc.providers import HttpServerProvider, HttpSettings
from wascc.providers.codec import HttpResponse
from wascc.providers.http.intake import Intake
from wascc.providers.http.refusals import Refusals

ACTOR = "M" + "A" * 55


async def exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (bounded)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer."""
    return int(answer.split(b" ", 2)[1])


def error_of(answer: bytes) -> str:
    """The ``error`` of a raw answer's JSON body."""
    return str(json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"])


async def closed_after(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, float]:
    """Everything read until the server closed the connection, and how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        data = await reader.read()
    return data, time.monotonic() - started


def gated(reply: HttpResponse) -> tuple[Handler, asyncio.Event]:
    """A ``test:slow`` handler that answers ``reply`` once the returned event is set."""
    gate = asyncio.Event()

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        async with asyncio.timeout(20):
            await gate.wait()
        return reply.encode()

    return handle, gate


class Failing:
    """A host whose every call to an actor raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes:
        raise self.error


Standalone = Callable[..., Awaitable[tuple[HttpServerProvider, int]]]
EchoAt = Callable[..., Awaitable[Served]]


@pytest.fixture
async def standalone() -> AsyncIterator[Standalone]:
    """``await standalone(context, **values)``: an HTTP provider started on ``context`` (a
    stand-in host) with one listener for ``ACTOR``; stopped at teardown."""
    started: list[HttpServerProvider] = []

    async def make(context: Any, **values: str) -> tuple[HttpServerProvider, int]:
        provider = HttpServerProvider()
        await provider.start(context)
        started.append(provider)
        await provider.bind_actor(ACTOR, "default", {"PORT": "0", **values})
        return provider, provider.port_of(ACTOR)

    yield make
    for provider in started:
        await provider.stop()


def unavailable(retry_after: float) -> LatticeUnavailable:
    error = LatticeUnavailable("nobody serves it")
    error.retry_after = retry_after
    return error


# status of each failure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "reason", "retry_after"),
    [
        (unavailable(2.5), 503, "actor unavailable", "3"),
        (unavailable(0.2), 503, "actor unavailable", "1"),
        (ActorBusy("every instance busy"), 503, "actor busy", "1"),
        (ActorOutOfTime("ran past its deadline", kind="out of time"), 504, "actor timed out", None),
        (InvocationTimeout("no answer in time"), 504, "actor timed out", None),
        (TimeoutError(), 504, "actor timed out", None),
        (ActorTrapped("unreachable", kind="unreachable"), 500, "actor failed", None),
    ],
    ids=["lattice-unavailable", "short-retry", "busy", "out-of-time", "timeout", "bare", "trap"],
)
async def test_each_failure_has_its_status(
    standalone: Standalone,
    error: BaseException,
    status: int,
    reason: str,
    retry_after: str | None,
) -> None:
    """Unavailable → 503 with Retry-After rounded up; out of time or any timeout → 504;
    anything else → 500."""
    _, port = await standalone(Failing(error))
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == status
    assert error_of(answer) == reason
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    if retry_after is None:
        assert "Retry-After" not in head
    else:
        assert f"Retry-After: {retry_after}\r\n" in head + "\r\n"
    assert isinstance(error, Unavailable) == (status == 503)


async def test_actor_past_its_deadline_gets_504(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """An actor interrupted at its own deadline (long before TIMEOUT) gives 504, not 500."""
    settings = ActorSettings(limits=Limits(deadline=0.2))
    served = await serve(signer.sign("fixtures/loop", caps=[HTTP]), settings=settings)
    async with client.get(served.url) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"] == "actor timed out"


# malformed requests --------------------------------------------------------------------------

MALFORMED = [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "request line too long"),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431, "header field too large"),
    (
        b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: a\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "too many header fields",
    ),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "malformed request"),
    (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 400, "malformed request"),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", 400, "malformed request"),
    (b"GET /\r\n\r\n", 400, "request line without an HTTP version"),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 501, "method not"),
    (b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method not implemented"),
    (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method not implemented"),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, "not HTTP"),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    MALFORMED,
    ids=[
        "long-line",
        "long-field",
        "many-fields",
        "bad-field",
        "bad-version",
        "bad-length",
        "no-version",
        "connect",
        "trace",
        "unknown-method",
        "tls",
    ],
)
async def test_malformed_requests_are_answered_without_a_traceback(
    standalone: Standalone,
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
    status: int,
    reason: str,
) -> None:
    """Each malformed request gets its status and a short JSON body, is counted, and leaves
    one INFO line: no aiohttp ERROR, no traceback, and the actor is never called."""
    provider, port = await standalone(Failing(AssertionError("the actor must not be called")))
    with caplog.at_level(logging.DEBUG):
        answer = await exchange(port, request_bytes)
    assert status_of(answer) == status
    assert error_of(answer).startswith(reason)
    assert b"Connection: close" in answer or answer.startswith(b"HTTP/1.0 ")
    assert not answer.startswith(b"HTTP/0.9")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]
    [(key, count)] = provider.refusals().items()
    assert key[:2] == (ACTOR, str(status))
    assert count == 1


async def test_a_flood_of_bad_requests_leaves_one_log_line(
    standalone: Standalone, caplog: pytest.LogCaptureFixture
) -> None:
    """200 over-long request lines are all answered 414 and counted, with one log line."""
    provider, port = await standalone(Failing(AssertionError("never called")))
    bad = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        for _ in range(10):
            answers = await asyncio.gather(*(exchange(port, bad) for _ in range(20)))
            assert {status_of(a) for a in answers} == {414}
    assert provider.refusals() == {(ACTOR, "414", "request line too long"): 200}
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    assert "414 request line too long" in caplog.records[0].getMessage()


async def test_refusals_are_summed_up_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    """After the first line, the refusals of an interval come as one summary line; a quiet
    interval ends the summing up."""
    refusals = Refusals(ACTOR, "echo", interval=0.1)
    with caplog.at_level(logging.INFO, logger="wascc.provider.http"):
        for _ in range(50):
            refusals.note(414, "request line too long", peer="10.0.0.1")
        refusals.note(0, "no request in time: connection closed", level=logging.WARNING)
        assert len(caplog.records) == 1
        await eventually(lambda: len(caplog.records) == 2, timeout=2)
        await asyncio.sleep(0.25)  # a quiet interval
        refusals.note(400, "malformed request")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "50 more refused" in lines[1]
    assert "414 request line too long (49)" in lines[1]
    assert caplog.records[1].levelno == logging.WARNING  # the worst of the interval
    assert "400 malformed request" in lines[2]
    assert refusals.counts[(414, "request line too long")] == 50
    refusals.close()


# timeouts and the head limit ----------------------------------------------------------------


async def test_slowloris_gets_408_after_the_header_timeout(standalone: Standalone) -> None:
    """A head trickled byte by byte is cut off with 408 at HEADER_TIMEOUT, however steadily
    the bytes come."""
    provider, port = await standalone(Failing(AssertionError("never called")), HEADER_TIMEOUT="0.4")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def trickle() -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.02)

    trickling = asyncio.create_task(trickle())
    try:
        answer, took = await closed_after(reader, 5)
    finally:
        trickling.cancel()
        writer.close()
    assert status_of(answer) == 408
    assert 0.35 < took < 1.5
    assert provider.refusals() == {(ACTOR, "408", "request head not received in time"): 1}


async def test_silent_connection_is_closed_after_the_header_timeout(
    standalone: Standalone,
) -> None:
    """A connection that sends nothing is closed quietly at HEADER_TIMEOUT."""
    provider, port = await standalone(Failing(AssertionError("never called")), HEADER_TIMEOUT="0.3")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer, took = await closed_after(reader, 5)
    writer.close()
    assert answer == b""
    assert took < 1.5
    assert provider.refusals() == {(ACTOR, "", "no request in time: connection closed"): 1}


async def test_kept_alive_connection_closes_after_the_idle_timeout(echo_at: EchoAt) -> None:
    """After a response, a kept-alive connection that stays silent closes at IDLE_TIMEOUT."""
    served = await echo_at(IDLE_TIMEOUT="0.3", HEADER_TIMEOUT="10")
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    rest, took = await closed_after(reader, 5)
    writer.close()
    assert rest == b""
    assert took < 1.5


async def test_head_in_pieces_and_a_slow_body_are_served(echo_at: EchoAt) -> None:
    """A head that arrives in pieces within HEADER_TIMEOUT is served, and a body is not
    subject to it (TIMEOUT governs the body)."""
    served = await echo_at(HEADER_TIMEOUT="0.5")
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    pieces = [b"POST /p HTTP/1.1\r\n", b"Host: t\r\nContent-Length: 6\r\n", b"\r\n"]
    pieces += [b"ab", b"cd", b"ef"]
    for piece in pieces:
        writer.write(piece)
        await asyncio.sleep(0.15)  # the whole exchange takes longer than HEADER_TIMEOUT
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")


async def test_request_head_over_the_limit_gets_431(standalone: Standalone) -> None:
    """A head that grows past 64 KiB in total, each line within its own limit, gets 431 and
    the connection is closed."""
    provider, port = await standalone(Failing(AssertionError("never called")))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
    answer = b""
    with contextlib.suppress(ConnectionError):  # the server may close before all is sent
        for i in range(20):
            writer.write(b"X-%d: %s\r\n" % (i, b"a" * 8000))
            await writer.drain()
            with contextlib.suppress(TimeoutError):  # one read per field on the server's side
                async with asyncio.timeout(0.05):
                    answer = await reader.read(65536)
            if answer:
                break
    writer.close()
    assert status_of(answer) == 431
    assert error_of(answer) == "request head larger than 65536 bytes"
    assert provider.refusals() == {(ACTOR, "431", "request head larger than 65536 bytes"): 1}


# limits ---------------------------------------------------------------------------------------


async def test_max_connections_pauses_accepting_until_one_closes(echo_at: EchoAt) -> None:
    """With MAX_CONNECTIONS open, a new connection waits (not refused) until one closes."""
    served = await echo_at(MAX_CONNECTIONS="2", HEADER_TIMEOUT="30")
    idle = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(2)]
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /third HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await reader.read(1)
    idle[0][1].close()
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    idle[1][1].close()
    assert status_of(answer) == 200


async def test_bodies_beyond_the_budget_get_503_with_retry_after(
    host: Host, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """With one body held by a slow actor, a second that would exceed the host's budget gets
    503 with Retry-After (known length or chunked), one larger than the whole budget 413;
    the budget is whole again afterwards."""
    provider = HttpServerProvider(max_bytes_in_flight=100_000)
    await host.add_provider(provider, binding="small")
    handler, gate = gated(HttpResponse(200, "OK", {}, b"done"))
    await host.add_provider(FunctionProvider("test:slow", handler))
    module = signer.sign("fixtures/hostcall", caps=[HTTP, "test:slow"])
    claims = await host.add_actor(module, settings=ActorSettings(max_instances=4))
    await host.set_binding(claims.subject, HTTP, "small", {"PORT": "0"})
    await host.set_binding(claims.subject, "test:slow")
    url = f"http://127.0.0.1:{provider.port_of(claims.subject)}/"

    async def post(data: Any) -> tuple[int, str | None]:
        async with client.post(url, data=data) as resp:
            await resp.read()
            return resp.status, resp.headers.get("Retry-After")

    first = asyncio.create_task(post(b"a" * 60_000))
    await eventually(lambda: provider.budget.in_flight == 60_000)
    assert await post(b"b" * 60_000) == (503, "1")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"c" * 10_000

    assert await post(chunks()) == (503, "1")
    assert (await post(b"d" * 150_000))[0] == 413
    gate.set()
    assert await first == (200, None)
    assert await post(b"e" * 60_000) == (200, None)
    assert provider.budget.in_flight == 0
    stats = provider.stats()
    assert (stats["bytes_in_flight"], stats["max_bytes_in_flight"]) == (0, 100_000)
    assert 60_000 <= stats["bytes_in_flight_peak"] <= 100_000  # never past the budget
    refused = {(r["status"], r["reason"]): r["count"] for r in stats["refused"]}
    assert refused[("503", "request bodies in flight would exceed the host's memory budget")] == 2
    assert refused[("413", "request body larger than 100000 bytes")] == 1


async def test_large_answers_count_in_the_budget_while_written(
    echo_at: EchoAt, http: HttpServerProvider, client: aiohttp.ClientSession
) -> None:
    """An answer larger than 64 KiB is counted while it is written, then given back."""
    served = await echo_at()
    async with client.post(served.url, data=b"z" * 300_000) as resp:
        assert resp.status == 200
        assert len(await resp.read()) > 300_000
    assert http.budget.in_flight == 0
    assert http.budget.peak > 600_000  # the body, then the answer with it


def test_budget_config_is_checked() -> None:
    """``max_bytes_in_flight`` takes a count of bytes (a string too) and refuses the rest."""
    assert HttpServerProvider(max_bytes_in_flight="1024").budget.limit == 1024
    for bad in (0, -5, "64M", 1.5, True):
        with pytest.raises(ValueError, match="max_bytes_in_flight"):
            HttpServerProvider(max_bytes_in_flight=bad)  # type: ignore[arg-type]


async def test_descriptor_exhaustion_backs_off_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When accept fails with EMFILE, the intake stops watching the socket and retries after
    a pause that doubles, logging one warning: no spinning, no traceback per attempt."""

    class Exhausted(socket.socket):
        attempts = 0

        def accept(self) -> tuple[socket.socket, Any]:
            Exhausted.attempts += 1
            raise OSError(errno.EMFILE, "Too many open files")

    sock = Exhausted(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    client = socket.create_connection(sock.getsockname())  # keeps the socket readable
    refusals = Refusals(ACTOR, "echo")
    intake = Intake(sock, lambda conn: None, max_connections=10, refusals=refusals)
    with caplog.at_level(logging.DEBUG):
        intake.start()
        await asyncio.sleep(1.0)
        intake.close()
    client.close()
    refusals.close()
    assert 2 <= Exhausted.attempts <= 7  # at 0, 0.05, 0.15, 0.35 and 0.75 s
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # the first, and the summary at close
    assert "Too many open files" in warnings[0]
    assert not [r for r in caplog.records if r.exc_info]


# start-up -----------------------------------------------------------------------------------


async def test_deferred_listener_binds_but_serves_only_once_started(
    http: HttpServerProvider, serve: ServeActor, signer: SignerLike
) -> None:
    """After ``defer_accepting`` a binding holds its port, but requests wait (they are not
    refused) until ``start_accepting``; then they are served."""
    await http.defer_accepting()
    served = await serve(signer.sign("echo", caps=[HTTP]))
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /early HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.4):
            await reader.read(1)
    await http.start_accepting()
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    assert status_of(answer) == 200
    assert b'"path":"/early"' in answer
    later = await serve(signer.sign("echo", name="later", caps=[HTTP]))  # accepts at once
    assert status_of(await exchange(later.port, b"GET / HTTP/1.0\r\n\r\n")) == 200


# settings -------------------------------------------------------------------------------------


def test_new_settings_have_documented_defaults() -> None:
    """HEADER_TIMEOUT 10 s, IDLE_TIMEOUT 15 s and MAX_CONNECTIONS 512 unless given."""
    settings = HttpSettings.from_values({"PORT": "1"}, actor="a")
    assert (settings.header_timeout, settings.idle_timeout, settings.max_connections) == (
        10.0,
        15.0,
        512,
    )
    given = HttpSettings.from_values(
        {"PORT": "1", "HEADER_TIMEOUT": "2.5", "IDLE_TIMEOUT": "4", "MAX_CONNECTIONS": "3"},
        actor="a",
    )
    assert (given.header_timeout, given.idle_timeout, given.max_connections) == (2.5, 4.0, 3)


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "10.1.2.3"])
def test_addresses_accepted(address: str) -> None:
    """ADDRESS takes an IPv4 or IPv6 address or localhost."""
    assert HttpSettings.from_values({"PORT": "1", "ADDRESS": address}, actor="a").address == (
        address
    )


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"ADDRESS": "999.1.1.1"}, "ADDRESS"),
        ({"ADDRESS": "example.com"}, "ADDRESS"),
        ({"ADDRESS": "[::1]"}, "ADDRESS"),
        ({"HEADER_TIMEOUT": "0"}, "HEADER_TIMEOUT"),
        ({"HEADER_TIMEOUT": "soon"}, "HEADER_TIMEOUT"),
        ({"IDLE_TIMEOUT": "-1"}, "IDLE_TIMEOUT"),
        ({"IDLE_TIMEOUT": "inf"}, "IDLE_TIMEOUT"),
        ({"MAX_CONNECTIONS": "0"}, "MAX_CONNECTIONS"),
        ({"MAX_CONNECTIONS": "many"}, "MAX_CONNECTIONS"),
    ],
)
def test_bad_new_values_are_refused(values: dict[str, str], name: str) -> None:
    """A malformed ADDRESS, timeout or connection cap is refused naming the value."""
    with pytest.raises(ProviderError, match=rf"value {name}=.*fix the binding's values"):
        HttpSettings.from_values({"PORT": "1", **values}, actor="a")


# fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def echo_at(serve: ServeActor, signer: SignerLike) -> EchoAt:
    """``await echo_at(**values)``: the echo actor behind HTTP with those binding values."""

    async def make(**values: str) -> Served:
        return await serve(
            signer.sign("echo", caps=[HTTP]), settings=ActorSettings(max_instances=2), **values
        )

    return make


@pytest.mark.parametrize("value", ["-5", "lots", 0, True])
def test_validate_refuses_a_bad_byte_budget(tmp_path: Path, value: object) -> None:
    """A max_bytes_in_flight that is not a count of bytes is a manifest problem, found
    before anything starts, naming the entry and what to write."""
    file = tmp_path / "m.json"
    file.write_text(
        json.dumps(
            {
                "actors": [],
                "capabilities": [{"path": "http_server", "config": {"max_bytes_in_flight": value}}],
                "bindings": [],
            }
        )
    )
    with pytest.raises(ManifestInvalid) as invalid:
        load_manifest(file)
    message = str(invalid.value)
    assert "capabilities[0].config.max_bytes_in_flight" in message
    assert "must be a number of bytes >= 1" in message
