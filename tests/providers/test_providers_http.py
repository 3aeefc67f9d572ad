"""The HTTP server provider: real requests through a real listener to real signed actors."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.providers.providers_support import (
    HTTP,
    Handler,
    ServeActor,
    Served,
    SignerLike,
    eventually,
    free_port,
)
from wascc.host import ActorSettings, Host, Limits
from wascc.host.errors import ProviderError
from wascc.host.testing import FunctionProvider
from wascc.providers import HttpServerProvider
from wascc.providers.codec import HttpRequest, HttpResponse

Slow = Callable[..., Awaitable[tuple[Served, FunctionProvider]]]


def echoed(text: str) -> dict[str, Any]:
    """The echo actor's JSON description of a request."""
    return json.loads(text)  # type: ignore[no-any-return]


def body_of(description: dict[str, Any]) -> bytes:
    """The request body the echo actor saw (it writes one code point per byte)."""
    return str(description["body"]).encode("latin-1")


def gated(reply: HttpResponse) -> tuple[Handler, asyncio.Event]:
    """A ``test:slow`` handler that answers ``reply`` once the returned event is set."""
    gate = asyncio.Event()

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        async with asyncio.timeout(20):
            await gate.wait()
        return reply.encode()

    return handle, gate


def answering(reply: bytes) -> Handler:
    """A ``test:slow`` handler that answers ``reply`` (raw bytes) at once."""

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return reply

    return handle


@pytest.fixture
async def echo(serve: ServeActor, signer: SignerLike) -> Served:
    """The echo actor behind HTTP with four instances."""
    module = signer.sign("echo", caps=[HTTP])
    return await serve(module, settings=ActorSettings(max_instances=4))


# requests and responses --------------------------------------------------------------------


async def test_get_reaches_the_actor_with_method_path_and_query(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """A GET becomes a HandleRequest with method, raw path and query string without '?'."""
    # encoded=True: send the target exactly as written (yarl would normalize %2F to /).
    async with client.get(URL(f"{echo.url}/a/b%20c/?x=1&y=%2F&x=2", encoded=True)) as resp:
        assert resp.status == 200
        assert resp.reason == "OK"
        assert resp.headers["Content-Type"] == "application/json"
        seen = echoed(await resp.text())
    assert seen["method"] == "GET"
    assert seen["path"] == "/a/b%20c/"
    assert seen["query_string"] == "x=1&y=%2F&x=2"
    assert body_of(seen) == b""


async def test_request_without_query_has_empty_query_string(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """A request without '?' gives an empty query string and the root path."""
    async with client.get(echo.url) as resp:
        seen = echoed(await resp.text())
    assert (seen["path"], seen["query_string"]) == ("/", "")


async def test_header_names_are_lower_case_and_repeats_joined(echo: Served) -> None:
    """Header names reach the actor lower-cased; repeated headers are joined with ', '."""
    # A raw request: HTTP clients merge or reorder repeated headers themselves.
    head = (
        "GET /h HTTP/1.1\r\nHost: t\r\nX-Token: abc\r\nX-Multi: one\r\nx-multi: two\r\n"
        "X-Empty:\r\nConnection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    try:
        writer.write(head.encode())
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    seen = echoed(answer.split(b"\r\n\r\n", 1)[1].decode())["headers"]
    assert seen["x-token"] == "abc"
    assert seen["x-multi"] == "one, two"
    assert seen["x-empty"] == ""
    assert all(name == name.lower() for name in seen)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_binary_bodies_arrive_byte_for_byte(
    echo: Served, client: aiohttp.ClientSession, method: str
) -> None:
    """Every byte value of a request body reaches the actor unchanged, for every method."""
    body = bytes(range(256)) * 4
    async with client.request(method, f"{echo.url}/bin", data=body) as resp:
        assert resp.status == 200
        seen = echoed(await resp.text())
    assert seen["method"] == method
    assert body_of(seen) == body


async def test_large_bodies_of_several_mib_round_trip(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """A 6 MiB body reaches the actor whole and the actor's large answer comes back whole."""
    body = os.urandom(6 * 2**20)
    async with client.post(f"{echo.url}/big", data=io.BytesIO(body)) as resp:
        assert resp.status == 200
        seen = echoed(await resp.text())
    assert body_of(seen) == body


async def test_chunked_request_bodies_are_assembled(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """A body sent with chunked transfer encoding reaches the actor as one body."""

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(50):
            yield bytes([i]) * 1000

    async with client.post(f"{echo.url}/chunked", data=chunks()) as resp:
        assert resp.status == 200
        seen = echoed(await resp.text())
    assert seen["headers"]["transfer-encoding"] == "chunked"
    assert body_of(seen) == b"".join(bytes([i]) * 1000 for i in range(50))


async def test_expect_continue_is_answered(echo: Served, client: aiohttp.ClientSession) -> None:
    """A client that waits for '100 Continue' gets it and its body is served."""
    async with client.post(f"{echo.url}/e", data=b"x" * 5000, expect100=True) as resp:
        assert resp.status == 200
        assert body_of(echoed(await resp.text())) == b"x" * 5000


async def test_head_gets_headers_without_a_body(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """HEAD is passed to the actor; the client gets its status and length but no body."""
    async with client.get(f"{echo.url}/h") as full:
        length = len(await full.read())
    async with client.head(f"{echo.url}/h") as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == length + 1  # "HEAD" is one byte longer
        assert await resp.read() == b""


async def test_keep_alive_serves_many_requests_on_one_connection(echo: Served) -> None:
    """Several requests in sequence on one TCP connection are all answered on it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    try:
        for i in range(3):
            writer.write(f"GET /k{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            await writer.drain()
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert b"Connection: close" not in head
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                assert echoed((await reader.readexactly(length)).decode())["path"] == f"/k{i}"
    finally:
        writer.close()
        await writer.wait_closed()


async def test_actor_response_sets_status_reason_headers_and_body(
    slow: Slow, client: aiohttp.ClientSession
) -> None:
    """The actor's statusCode, status, headers and body are what the client receives;
    Content-Length is computed from the body, not taken from the actor."""
    reply = HttpResponse(
        201, "Made It", {"x-custom": "yes", "content-length": "999"}, b"\x00created"
    )
    served, provider = await slow(answering(reply.encode()))
    async with client.put(f"{served.url}/things?id=7", data=b"payload") as resp:
        assert (resp.status, resp.reason) == (201, "Made It")
        assert resp.headers["x-custom"] == "yes"
        assert resp.headers["Content-Length"] == "8"
        assert await resp.read() == b"\x00created"
    request = HttpRequest.decode(provider.calls[0][3])
    assert (request.method, request.path, request.query_string) == ("PUT", "/things", "id=7")
    assert request.body == b"payload"


async def test_empty_reason_uses_the_standard_phrase(
    slow: Slow, client: aiohttp.ClientSession
) -> None:
    """An actor that leaves status empty gets the standard reason phrase."""
    served, _ = await slow(answering(HttpResponse(404).encode()))
    async with client.get(served.url) as resp:
        assert (resp.status, resp.reason) == (404, "Not Found")


# limits and failures -----------------------------------------------------------------------


async def test_body_over_max_body_gets_413(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """A body larger than MAX_BODY is refused with 413 before the actor runs."""
    served = await serve(signer.sign("echo", caps=[HTTP]), MAX_BODY="1000")
    async with client.post(served.url, data=b"x" * 1000) as resp:
        assert resp.status == 200
    async with client.post(served.url, data=b"x" * 1001) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"].startswith("request body larger")


async def test_chunked_body_over_max_body_gets_413(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """A chunked body that grows past MAX_BODY is cut off with 413."""
    served = await serve(signer.sign("echo", caps=[HTTP]), MAX_BODY="4096")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1024

    async with client.post(served.url, data=chunks()) as resp:
        assert resp.status == 413


async def test_actor_trap_gives_500_with_short_json_and_a_log_line(
    serve: ServeActor,
    signer: SignerLike,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A trapping actor gives 500 with a short JSON body (no detail) and an error log."""
    served = await serve(signer.sign("fixtures/trap", caps=[HTTP]))
    with caplog.at_level(logging.ERROR, logger="wascc.provider.http"):
        async with client.get(served.url) as resp:
            assert resp.status == 500
            assert resp.content_type == "application/json"
            document = await resp.json()
    assert document["error"] == "actor failed"
    assert "detail" not in document
    assert "about to trap" not in json.dumps(document)
    records = [r for r in caplog.records if r.name == "wascc.provider.http"]
    assert len(records) == 1
    assert records[0].actor_key == served.key  # type: ignore[attr-defined]
    assert "trap" in records[0].getMessage()


async def test_debug_mode_puts_the_error_detail_in_500_bodies(
    host: Host, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """With debug on, the 500 body carries the actor's error text."""
    provider = HttpServerProvider(debug=True)
    await host.add_provider(provider, binding="debug")
    claims = await host.add_actor(signer.sign("fixtures/trap", caps=[HTTP]))
    await host.set_binding(claims.subject, HTTP, "debug", {"PORT": "0"})
    async with client.get(f"http://127.0.0.1:{provider.port_of(claims.subject)}") as resp:
        assert resp.status == 500
        assert "about to trap" in (await resp.json())["detail"]


@pytest.mark.parametrize(
    "reply",
    [
        b"not msgpack \xc1",
        HttpResponse(42).encode(),
        HttpResponse(200, "OK", {"x-bad": "a\r\nInjected: 1"}).encode(),
        HttpResponse(200, "Bad\r\nReason").encode(),
        b"\x81\xa6status\xa2OK",
    ],
    ids=["not-msgpack", "bad-status", "header-injection", "reason-injection", "no-status-code"],
)
async def test_invalid_actor_responses_give_500(
    slow: Slow, client: aiohttp.ClientSession, reply: bytes
) -> None:
    """A response that cannot be decoded or sent safely becomes a 500, never a broken reply."""
    served, _ = await slow(answering(reply))
    async with client.get(served.url) as resp:
        assert resp.status == 500
        assert "Injected" not in resp.headers
        assert (await resp.json())["error"] == "actor sent an invalid response"


async def test_slow_actor_gets_504_after_timeout(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """An actor that runs past TIMEOUT gives 504 while its deadline is still far away."""
    settings = ActorSettings(limits=Limits(deadline=2.0))
    served = await serve(
        signer.sign("fixtures/loop", caps=[HTTP]), settings=settings, TIMEOUT="0.2"
    )
    async with client.get(served.url) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"] == "actor timed out"


async def test_requests_beyond_max_concurrent_get_503(
    slow: Slow, client: aiohttp.ClientSession
) -> None:
    """With MAX_CONCURRENT requests in flight, further ones get 503 at once; the first finish."""
    handler, gate = gated(HttpResponse(200, "OK", {}, b"done"))
    served, provider = await slow(
        handler, settings=ActorSettings(max_instances=2), MAX_CONCURRENT="2"
    )

    async def fetch() -> tuple[int, bytes]:
        async with client.get(served.url) as resp:
            return resp.status, await resp.read()

    first = [asyncio.create_task(fetch()) for _ in range(2)]
    await eventually(lambda: len(provider.calls) == 2)
    refused = await asyncio.gather(*(fetch() for _ in range(3)))
    assert [status for status, _ in refused] == [503, 503, 503]
    gate.set()
    assert await asyncio.gather(*first) == [(200, b"done"), (200, b"done")]


async def test_busy_actor_gets_503(slow: Slow, client: aiohttp.ClientSession) -> None:
    """When the actor's instances and queue are full, the request gets 503."""
    handler, gate = gated(HttpResponse(200))
    served, provider = await slow(handler, settings=ActorSettings(max_instances=1, max_queue=0))
    first = asyncio.create_task(client.get(served.url))
    await eventually(lambda: len(provider.calls) == 1)
    async with client.get(served.url) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"] == "actor busy"
    gate.set()
    async with await first as resp:
        assert resp.status == 200


async def test_concurrent_requests_get_their_own_answers(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """Many concurrent requests each get the answer to their own request."""

    async def fetch(i: int) -> str:
        async with client.post(f"{echo.url}/n{i}", data=str(i).encode()) as resp:
            assert resp.status == 200
            seen = echoed(await resp.text())
            assert body_of(seen) == str(i).encode()
            return str(seen["path"])

    paths = await asyncio.gather(*(fetch(i) for i in range(64)))
    assert paths == [f"/n{i}" for i in range(64)]


# binding lifecycle -------------------------------------------------------------------------


async def test_unbinding_lets_requests_in_flight_finish_then_closes(
    host: Host, slow: Slow, client: aiohttp.ClientSession
) -> None:
    """RemoveActor waits for the request in flight, refuses new connections, then returns."""
    handler, gate = gated(HttpResponse(200, "OK", {}, b"finished"))
    served, provider = await slow(handler)

    async def fetch() -> tuple[int, bytes]:
        async with client.get(served.url) as resp:
            return resp.status, await resp.read()

    in_flight = asyncio.create_task(fetch())
    await eventually(lambda: len(provider.calls) == 1)
    removing = asyncio.create_task(host.remove_binding(served.key, HTTP))
    await asyncio.sleep(0.2)
    assert not removing.done()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as fresh, fresh.get(served.url):
            pass
    gate.set()
    assert await in_flight == (200, b"finished")
    async with asyncio.timeout(10):
        await removing
    assert host.find_binding(served.key, HTTP, "default") is None


async def test_removing_the_actor_closes_its_listener(
    host: Host, echo: Served, client: aiohttp.ClientSession
) -> None:
    """Removing the actor from the host closes its port."""
    async with client.get(echo.url) as resp:
        assert resp.status == 200
    await host.remove_actor(echo.key)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as fresh, fresh.get(echo.url):
            pass


async def test_second_binding_on_the_same_port_names_both_actors(
    host: Host, serve: ServeActor, signer: SignerLike
) -> None:
    """Binding a second actor to a port already served is refused naming both and the port."""
    port = free_port()
    await serve(signer.sign("echo", caps=[HTTP]), PORT=str(port))
    other = await host.add_actor(signer.sign("echo", name="second", caps=[HTTP]))
    with pytest.raises(ProviderError) as info:
        await host.set_binding(other.subject, HTTP, values={"PORT": str(port)})
    text = str(info.value)
    assert str(port) in text
    assert "second" in text
    assert "echo" in text
    assert host.find_binding(other.subject, HTTP, "default") is None


async def test_port_taken_by_another_program_is_refused(
    host: Host, http: HttpServerProvider, signer: SignerLike
) -> None:
    """A port another socket listens on gives a ProviderError naming the actor and port."""
    claims = await host.add_actor(signer.sign("echo", caps=[HTTP]))
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProviderError, match=rf"echo.*127\.0\.0\.1:{port}.*in use"):
            await host.set_binding(claims.subject, HTTP, values={"PORT": str(port)})
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no PORT"),
        ({"PORT": "http"}, "PORT='http'"),
        ({"PORT": "70000"}, "PORT='70000'"),
        ({"PORT": "0", "MAX_BODY": "-1"}, "MAX_BODY"),
        ({"PORT": "0", "TIMEOUT": "0"}, "TIMEOUT"),
        ({"PORT": "0", "MAX_CONCURRENT": "0"}, "MAX_CONCURRENT"),
        ({"PORT": "0", "ACCESS_LOG": "maybe"}, "ACCESS_LOG"),
    ],
)
async def test_bad_binding_values_are_refused(
    host: Host, http: HttpServerProvider, signer: SignerLike, values: dict[str, str], message: str
) -> None:
    """A missing PORT or a malformed value is refused with the value's name in the error."""
    claims = await host.add_actor(signer.sign("echo", caps=[HTTP]))
    with pytest.raises(ProviderError, match=message):
        await host.set_binding(claims.subject, HTTP, values=values)


async def test_actors_cannot_call_the_http_server(http: HttpServerProvider) -> None:
    """An actor's call to wascc:http_server is an error reply."""
    with pytest.raises(ProviderError, match="HandleRequest"):
        await http.handle("M" * 56, "default", "HandleRequest", b"")


# CORS and access log -----------------------------------------------------------------------


async def test_cors_answers_preflight_and_marks_responses(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """With CORS set, preflights from allowed origins get 204 and responses get ACAO."""
    allowed = "https://app.example"
    served = await serve(signer.sign("echo", caps=[HTTP]), CORS=f"{allowed}, https://b.example")
    preflight = {
        "Origin": allowed,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-token",
    }
    async with client.options(served.url, headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == allowed
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
        assert resp.headers["Access-Control-Allow-Headers"] == "x-token"
    async with client.get(served.url, headers={"Origin": allowed}) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == allowed
        assert resp.headers["Vary"] == "Origin"
    async with client.get(served.url, headers={"Origin": "https://evil.example"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_star_allows_any_origin(
    serve: ServeActor, signer: SignerLike, client: aiohttp.ClientSession
) -> None:
    """CORS=* marks responses to any origin with '*'."""
    served = await serve(signer.sign("echo", caps=[HTTP]), CORS="*")
    async with client.get(served.url, headers={"Origin": "https://x.example"}) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_without_cors_no_cors_headers_are_added(
    echo: Served, client: aiohttp.ClientSession
) -> None:
    """Without a CORS value, an OPTIONS request goes to the actor and gets no CORS headers."""
    headers = {"Origin": "https://x.example", "Access-Control-Request-Method": "GET"}
    async with client.options(echo.url, headers=headers) as resp:
        assert resp.status == 200
        assert echoed(await resp.text())["method"] == "OPTIONS"
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_access_log_goes_through_stdlib_logging(
    serve: ServeActor,
    signer: SignerLike,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ACCESS_LOG=true logs each request's method, path, status and size."""
    served = await serve(signer.sign("echo", caps=[HTTP]), ACCESS_LOG="true")
    with caplog.at_level(logging.INFO, logger="wascc.http.access"):
        async with client.get(f"{served.url}/logged?q=1") as resp:
            size = len(await resp.read())
    lines = [r.getMessage() for r in caplog.records if r.name == "wascc.http.access"]
    assert len(lines) == 1
    assert f'"GET /logged?q=1 HTTP/1.1" 200 {size} ' in lines[0]


async def test_no_access_log_by_default(
    echo: Served, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ACCESS_LOG, requests are not logged."""
    with caplog.at_level(logging.DEBUG):
        async with client.get(echo.url) as resp:
            await resp.read()
    assert not [r for r in caplog.records if r.name in ("wascc.http.access", "aiohttp.access")]


async def _first_response(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection and return the status line and headers of the first
    response (bounded in time)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(10):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()


async def test_body_that_never_arrives_gets_408(serve: ServeActor, signer: SignerLike) -> None:
    """A client that stops sending its announced body gets 408 after TIMEOUT, and the
    connection is not kept alive."""
    served = await serve(signer.sign("echo", caps=[HTTP]), TIMEOUT="0.3")
    head = await _first_response(
        served.port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"
    )
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in head


async def test_client_vanishing_mid_body_is_handled_quietly(
    serve: ServeActor, signer: SignerLike, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that disconnects halfway through its body never reaches the actor and leaves
    no error behind."""
    served = await serve(signer.sign("echo", caps=[HTTP]))
    with caplog.at_level(logging.INFO):
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await writer.wait_closed()
        await eventually(lambda: any("bad request body" in r.getMessage() for r in caplog.records))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
