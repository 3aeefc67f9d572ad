"""One HTTP connection: aiohttp's protocol with the limits a listener open to anyone needs.

aiohttp's ``RequestHandler`` parses and answers; this subclass adds what it lacks or does
too loudly:

- a header timeout: a connection must send a whole request head within ``header_timeout``
  of opening, or of the first byte of its next request (→ 408 if it sent part of one, else
  closed quietly); between requests aiohttp's keep-alive timeout (``idle_timeout``) closes it;
- a request head (line and fields) of at most ``HEAD_LIMIT`` bytes (→ 431), on top of
  aiohttp's limit per line (request line → 414, header field → 431);
- a malformed request is answered (400, 414, 431, 501) with a short JSON body, counted, and
  logged condensed through ``Refusals``, where aiohttp would log an ERROR with a traceback
  for each one (``aiohttp.server``, ``RequestHandler.handle_error``);
- ``make_request`` flags what the listener must refuse before the actor sees it: a request
  line without an HTTP version (HTTP/0.9: answered as HTTP/1.0, never in the 0.9 format) and
  methods outside ``ROUTED`` (``CONNECT``, ``TRACE``, extensions: 501).
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion10, RawRequestMessage
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.streams import StreamReader

from wascc.providers.http.answers import error_response
from wascc.providers.http.intake import Intake
from wascc.providers.http.refusals import Refusals

__all__ = ["HEAD_LIMIT", "LINGER", "ROUTED", "Connection", "Refusal", "classify", "make_request"]

logger = logging.getLogger("wascc.provider.http")

ROUTED = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods passed to actors; any other is answered 501 (``CONNECT`` would turn the connection
into a tunnel, ``TRACE`` reflects the request's headers)."""

HEAD_LIMIT = 64 * 2**10
LINGER = 1.0
"""Seconds an answered connection stays open, dropping what the client sends, so that the
client reads the answer rather than a reset."""
# aiohttp raises the same LineTooLong for the request line and for a header field; the two
# limits differ by two bytes so that the one in the exception says which was too long.
REQUEST_LINE_LIMIT = 8192
FIELD_LIMIT = 8190
# access_log=None switches aiohttp's access logger off (ACCESS_LOG logs through ours).
_QUIET: dict[str, Any] = {"access_log": None}

Refusal = tuple[int, str]
"""(status, reason) the listener answers instead of calling the actor."""


class Connection(web.RequestHandler):
    """aiohttp's protocol for one connection, with the header timeout and quiet refusals."""

    __slots__ = (
        "_clock",
        "_deadline",
        "_discarding",
        "_head_bytes",
        "_header_timeout",
        "_intake",
        "_refusals",
        "_serving",
        "_timer",
        "refusal",
    )

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        intake: Intake,
        refusals: Refusals,
        header_timeout: float,
        idle_timeout: float,
    ) -> None:
        super().__init__(
            manager,
            loop=loop,
            keepalive_timeout=idle_timeout,
            max_line_size=REQUEST_LINE_LIMIT,
            max_field_size=FIELD_LIMIT,
            # The body reaches the actor as sent (its Content-Encoding with it); inflating it
            # here would let a small compressed body take a lot of memory.
            auto_decompress=False,
            logger=logger,
            **_QUIET,
        )
        self._clock = loop
        self._intake: Intake | None = intake
        self._refusals = refusals
        self._header_timeout = header_timeout
        self._deadline: float | None = None  # when the head being awaited is overdue
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._serving = False  # a request's head is complete and it is being served
        self._discarding = False  # answered and closing: what the client sends is dropped
        self.refusal: Refusal | None = None  # set by make_request for the current request

    # the header timeout ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if not self._serving:
            if self._deadline is None:
                self._arm()  # the first byte of the next request
            elif self._head_bytes > HEAD_LIMIT:
                self._answer_and_close(431, f"request head larger than {HEAD_LIMIT} bytes")
                return
            self._head_bytes += len(data)
        super().data_received(data)

    def head_received(self, refusal: Refusal | None) -> None:
        """A whole request head was parsed: its handling is not subject to the timeout."""
        self._serving = True
        self._deadline = None
        self._head_bytes = 0
        self.refusal = refusal

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            # Bytes of an unread body, which aiohttp may still drain, are not a request head.
            self._serving = not request.content.at_eof()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.release()
        super().connection_lost(exc)

    def release(self) -> None:
        """Give the connection's place back to the intake (once)."""
        intake, self._intake = self._intake, None
        if intake is not None:
            intake.release()

    def _arm(self) -> None:
        self._deadline = deadline = self._clock.time() + self._header_timeout
        if self._timer is None:
            self._timer = self._clock.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._serving or self.transport is None:
            return
        if self._clock.time() < deadline:  # re-armed since: one timer per connection
            self._timer = self._clock.call_at(deadline, self._expire)
            return
        if self._head_bytes:
            self._answer_and_close(408, "request head not received in time")
        else:
            self._refusals.note(0, "no request in time: connection closed", peer=self._peer())
            self.force_close()

    def _answer_and_close(self, status: int, reason: str) -> None:
        """Answer outside aiohttp (no request exists yet) and close. The close lingers: a
        socket closed with unread bytes sends a reset, which may destroy the answer before
        the client reads it; so the answer goes out with a FIN, what the client still sends
        is dropped, and the socket is closed ``LINGER`` seconds later."""
        self._refusals.note(status, reason, peer=self._peer())
        transport = self.transport
        if transport is None:
            return
        body = json.dumps({"error": reason}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        transport.write(head.encode("ascii") + body)
        if not isinstance(transport, asyncio.WriteTransport) or not transport.can_write_eof():
            self.force_close()
            return
        transport.write_eof()
        self._discarding = True
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_later(LINGER, self.force_close)

    def _peer(self) -> str | None:
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else None

    # malformed requests -----------------------------------------------------------------

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse (or to a handler's exception):
        ours is a short JSON body, a count and a condensed log line, never a traceback."""
        if request.writer.output_size > 0:
            raise ConnectionError("the response had begun; the connection cannot go on")
        status, reason = classify(status, exc)
        detail = _first_line(exc)
        if status == 500:  # a handler raised: ours never do, so this is a bug to find
            logger.debug("internal error while serving a request", exc_info=exc)
        level = logging.ERROR if status == 500 else logging.INFO
        self._refusals.note(status, reason, peer=request.remote, detail=detail, level=level)
        response = error_response(status, reason)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp reports an exception that escaped request handling here: one condensed
        line (the traceback only at debug level)."""
        logger.debug(*args, **kw)
        exc = kw.get("exc_info")
        detail = _first_line(exc) if isinstance(exc, BaseException) else str(args[0])
        self._refusals.note(0, "internal error", detail=detail, level=logging.ERROR)


def classify(status: int, exc: BaseException | None) -> Refusal:
    """The status and reason to answer a request aiohttp's parser refused with."""
    if isinstance(exc, LineTooLong):
        if str(exc.args[1]) == str(REQUEST_LINE_LIMIT):
            return 414, "request line too long"
        return 431, "header field too large"
    if isinstance(exc, BadHttpMethod):
        if "HTTPS" in exc.message:
            return 400, "not HTTP (TLS sent to the plain HTTP port?)"
        return 501, "method not implemented"
    if isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message:
        return 431, "too many header fields"
    if isinstance(exc, HttpProcessingError):
        return 400, "malformed request"
    if status == 504 or isinstance(exc, TimeoutError):
        return 504, "request timed out"
    return 500, "internal error"


def make_request(
    message: RawRequestMessage,
    payload: StreamReader,
    protocol: web.RequestHandler,
    writer: AbstractStreamWriter,
    task: asyncio.Task[None],
) -> web.BaseRequest:
    """aiohttp's ``request_factory``: called once a request's head is parsed."""
    refusal: Refusal | None = None
    if message.version < HttpVersion10:
        refusal = 400, "request line without an HTTP version"
        message = message._replace(version=HttpVersion10)
    elif message.method not in ROUTED:
        refusal = 501, "method not implemented"
    if isinstance(protocol, Connection):
        protocol.head_received(refusal)
    return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop())


def _first_line(exc: object) -> str:
    """``Type: first line of the message``: enough to recognise a bad request, never a
    traceback (nor the whole of what the client sent)."""
    if not isinstance(exc, BaseException):
        return ""
    text = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first[:120]}"
