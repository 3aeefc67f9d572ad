"""One actor's HTTP listener: aiohttp's low-level server turning requests into ``HandleRequest``.

The low-level server (``web.Server``) skips routing and middleware, which the actor does
itself, so the per-request cost is parsing, one host call and writing the answer. The socket
and its accept loop are ``Intake``'s, each connection is a ``Connection`` (timeouts, quiet
answers to malformed requests). Every error maps to a status code here; no exception escapes
to aiohttp:

=============================================  ======================================
the actor's call ended with                    answer
=============================================  ======================================
``host.errors.Unavailable`` (``ActorBusy``,    503, ``Retry-After: ceil(retry_after)``
``LatticeUnavailable``)
``ActorOutOfTime``, any ``TimeoutError``       504
anything else (trap, guest error)              500
=============================================  ======================================
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import cast

from aiohttp import web

from wascc.host.errors import ActorOutOfTime, Unavailable, WasccError
from wascc.host.invocation import Invocation, current_invocation
from wascc.host.typing import ProviderContext
from wascc.providers.codec import HTTP_SERVER, CodecError, decode_http_response, encode_http_request
from wascc.providers.http.answers import (
    error_response,
    retry_after,
    to_response,
    unavailable_reason,
)
from wascc.providers.http.budget import ByteBudget, Ticket
from wascc.providers.http.connection import Connection, make_request
from wascc.providers.http.cors import Cors
from wascc.providers.http.intake import Intake, listen
from wascc.providers.http.refusals import Refusals
from wascc.providers.http.settings import HttpSettings

__all__ = ["Listener"]

logger = logging.getLogger("wascc.provider.http")
access_logger = logging.getLogger("wascc.http.access")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Answers larger than this are written here, within TIMEOUT and counted in the budget; smaller
# ones fit in the transport's buffer at once and are left to aiohttp.
_LARGE = 64 * 2**10


class Listener:
    """Serves one actor on ``settings.address:settings.port`` until ``close()``: ``open()``
    binds the port, ``accept()`` starts taking connections."""

    def __init__(
        self,
        host: ProviderContext,
        actor: str,
        label: str,
        settings: HttpSettings,
        *,
        budget: ByteBudget,
        debug: bool,
    ) -> None:
        self.actor = actor
        self.label = label
        self.settings = settings
        self.refusals = Refusals(actor, label)
        self._host = host
        self._debug = debug
        self._budget = budget
        self._cors = Cors(settings.cors) if settings.cors else None
        # Read once per request: kept here rather than looked up through ``settings``.
        self._access_log = settings.access_log
        self._max_concurrent = settings.max_concurrent
        self._max_body = settings.max_body
        self._timeout = settings.timeout
        self._call_actor = host.call_actor
        self._in_flight = 0
        self._server: web.Server | None = None
        self._intake: Intake | None = None
        self._attaching: set[asyncio.Task[None]] = set()
        self.port = settings.port

    @property
    def in_flight(self) -> int:
        """Requests being served right now."""
        return self._in_flight

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return self._intake.open if self._intake is not None else 0

    async def open(self) -> None:
        """Bind and listen; ``OSError`` (port in use, address not available) propagates to
        the caller. Connections wait in the backlog until ``accept()``."""
        sock = listen(self.settings.address, self.settings.port)
        self._server = web.Server(self._handle, request_factory=make_request)
        self._intake = Intake(
            sock,
            self._attach,
            max_connections=self.settings.max_connections,
            refusals=self.refusals,
        )
        self.port = int(sock.getsockname()[1])

    def accept(self) -> None:
        """Start taking connections (idempotent)."""
        if self._intake is not None:
            self._intake.start()

    async def close(self) -> None:
        """Stop accepting, let requests in flight finish, then close every connection."""
        intake, self._intake = self._intake, None
        server, self._server = self._server, None
        if intake is None or server is None:
            return
        intake.close()
        for task in list(self._attaching):
            task.cancel()
        await asyncio.gather(*self._attaching, return_exceptions=True)
        await asyncio.sleep(0)  # requests that just arrived reach their handler first
        server.pre_shutdown()  # idle kept-alive connections close now
        # In-flight requests get the request timeout (plus slack) to finish.
        await server.shutdown(self._timeout + 1.0)
        self.refusals.close()

    def _attach(self, sock: socket.socket) -> None:
        """A new connection from the intake: aiohttp's protocol on a transport of its own."""
        assert self._server is not None
        assert self._intake is not None
        loop = asyncio.get_running_loop()
        conn = Connection(
            self._server,
            loop=loop,
            intake=self._intake,
            refusals=self.refusals,
            header_timeout=self.settings.header_timeout,
            idle_timeout=self.settings.idle_timeout,
        )
        task = loop.create_task(self._connect(conn, sock))
        self._attaching.add(task)
        task.add_done_callback(self._attaching.discard)

    async def _connect(self, conn: Connection, sock: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: conn, sock)
        except BaseException as exc:
            sock.close()
            conn.release()
            if isinstance(exc, asyncio.CancelledError):
                raise
            logger.debug("connection of actor %s lost while set up: %s", self.label, exc)

    # requests ---------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        refusal = cast(Connection, request.protocol).refusal
        if refusal is not None:
            status, reason = refusal
            return self._refuse(request, status, reason)
        # The request itself is the root of its calls: the actor's call, and every line logged
        # for the request (the access line, a failure), carry its id as their request_id.
        token = current_invocation.set(Invocation(HTTP_SERVER, self.actor, "HandleRequest", b""))
        try:
            return await self._answer(request)
        finally:
            current_invocation.reset(token)

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter() if self._access_log else 0.0
        cors = self._cors
        response = cors.preflight(request) if cors is not None else None
        ticket = self._budget.ticket()
        try:
            if response is None:
                if self._in_flight >= self._max_concurrent:
                    response = self._refuse(
                        request, 503, "too many concurrent requests", level=logging.WARNING
                    )
                    response.headers["Retry-After"] = "1"
                else:
                    self._in_flight += 1
                    try:
                        response = await self._serve(request, ticket)
                    finally:
                        self._in_flight -= 1
                if cors is not None:
                    cors.decorate(request, response)
            if started:
                self._log_access(request, response, started)
            body = response.body
            if isinstance(body, bytes) and len(body) > _LARGE:
                ticket.force(len(body))
                await self._write(request, response)
        finally:
            ticket.release()
        return response

    async def _serve(self, request: web.BaseRequest, ticket: Ticket) -> web.Response:
        # No body (GET and the like): skip the reader's coroutine.
        body = await self._read_body(request, ticket) if request.can_read_body else b""
        if isinstance(body, web.Response):
            return body
        url = request.rel_url
        header: dict[str, str] = {}
        for raw_name, raw_value in request.raw_headers:
            # The parser only admits token characters in names; values may be any octets.
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("utf-8", "replace")
            header[name] = f"{header[name]}, {value}" if name in header else value
        payload = encode_http_request(
            request.method, url.raw_path, url.raw_query_string, header, body
        )
        del body  # the payload holds a copy: let the body go while the actor runs
        try:
            raw = await self._call_actor(
                self.actor, "HandleRequest", payload, origin=HTTP_SERVER, timeout=self._timeout
            )
        except Unavailable as exc:
            response = self._failure(503, unavailable_reason(exc), exc)
            response.headers["Retry-After"] = retry_after(exc)
            return response
        except (ActorOutOfTime, TimeoutError) as exc:
            return self._failure(504, "actor timed out", exc)
        except Exception as exc:  # trap, guest error, anything: the client gets a 500
            return self._failure(500, "actor failed", exc)
        try:
            return to_response(*decode_http_response(raw))
        except (CodecError, ValueError) as exc:
            return self._failure(500, "actor sent an invalid response", exc)

    async def _read_body(self, request: web.BaseRequest, ticket: Ticket) -> bytes | web.Response:
        """The request body (``request.can_read_body`` is true) read against MAX_BODY and the
        budget, or the error response to send instead (413, 503, 408 or 400)."""
        limit = self._max_body
        length = request.content_length
        if length is not None:
            if length > limit or length > self._budget.limit:
                return self._too_large(request, min(limit, self._budget.limit))
            if not ticket.reserve(length):
                return self._over_budget(request)
        if request.headers.get("Expect", "").lower() == "100-continue":
            # Clients such as curl wait for this before sending a large body.
            await request.writer.write(_CONTINUE)
        stream = request.content
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._timeout):
                # Chunked bodies have no length up front: count and reserve while reading.
                while chunk := await stream.readany():
                    size += len(chunk)
                    if size > limit:
                        return self._too_large(request, limit)
                    if size > ticket.held and not ticket.reserve(size - ticket.held):
                        return self._over_budget(request)
                    chunks.append(chunk)
        except TimeoutError:
            return self._refuse(request, 408, "request body not received in time")
        except Exception as exc:  # malformed chunked encoding, connection reset mid-body
            return self._refuse(request, 400, "bad request body", detail=str(exc))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _write(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Write a large answer now, within TIMEOUT: a client that reads too slowly is cut
        off rather than holding the answer's bytes (and the budget) for ever."""
        try:
            async with asyncio.timeout(self._timeout):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            self.refusals.note(0, "answer not read in time: connection closed", peer=request.remote)
            request.protocol.force_close()
        except ConnectionError:
            pass  # the client went away; aiohttp sees the closed transport and stops

    def _too_large(self, request: web.BaseRequest, limit: int) -> web.Response:
        return self._refuse(request, 413, f"request body larger than {limit} bytes")

    def _over_budget(self, request: web.BaseRequest) -> web.Response:
        response = self._refuse(
            request,
            503,
            "request bodies in flight would exceed the host's memory budget",
            level=logging.WARNING,
        )
        response.headers["Retry-After"] = "1"
        return response

    def _refuse(
        self,
        request: web.BaseRequest,
        status: int,
        reason: str,
        *,
        detail: str = "",
        level: int = logging.INFO,
    ) -> web.Response:
        """Answer ``status`` without the actor, count it, and close the connection (the rest
        of the request was not read, so the connection cannot carry another)."""
        self.refusals.note(status, reason, peer=request.remote, detail=detail, level=level)
        response = error_response(status, reason)
        response.force_close()
        return response

    def _failure(self, status: int, reason: str, exc: BaseException) -> web.Response:
        invocation_id = getattr(exc, "invocation_id", "") or ""
        level = logging.WARNING if status != 500 else logging.ERROR
        logger.log(
            level,
            "HandleRequest on actor %s -> %d (%s, invocation %s): %s",
            self.label,
            status,
            reason,
            invocation_id or "?",
            exc,
            extra={"actor_key": self.actor, "invocation_id": invocation_id},
            exc_info=not isinstance(exc, WasccError | TimeoutError | ValueError),
        )
        fields = {"invocation_id": invocation_id} if invocation_id else {}
        if self._debug:
            fields["detail"] = f"{type(exc).__name__}: {exc}"
        return error_response(status, reason, **fields)

    def _log_access(
        self, request: web.BaseRequest, response: web.StreamResponse, started: float
    ) -> None:
        body = getattr(response, "body", None)
        size = len(body) if isinstance(body, bytes | bytearray) else 0
        access_logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.2fms',
            request.remote,
            request.method,
            request.raw_path,
            request.version.major,
            request.version.minor,
            response.status,
            size,
            (time.perf_counter() - started) * 1000,
            extra={"actor_key": self.actor},
        )
