"""One actor's HTTP listener: aiohttp's low-level server turning requests into ``HandleRequest``.

The low-level server (``web.Server``) skips routing and middleware, which the actor does
itself, so the per-request cost is parsing, one host call and writing the answer. Every error
maps to a status code here; no exception escapes to aiohttp (which would answer with its own
500 page and log a traceback).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping

from aiohttp import web

from host.errors import ActorBusy, WasccError
from host.typing import ProviderContext
from providers.codec import HTTP_SERVER, CodecError, decode_http_response, encode_http_request
from providers.http.cors import Cors
from providers.http.settings import HttpSettings

__all__ = ["Listener"]

logger = logging.getLogger("wascc.provider.http")
access_logger = logging.getLogger("wascc.http.access")

# Headers aiohttp computes itself from the body and the connection; an actor's values for
# them would contradict what is really sent.
_MANAGED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A header name an actor may not send: one containing CR, LF or ":".
_BAD_NAME = re.compile(r"[\r\n:]").search


class Listener:
    """Serves one actor on ``settings.address:settings.port`` until ``close()``."""

    def __init__(
        self,
        host: ProviderContext,
        actor: str,
        label: str,
        settings: HttpSettings,
        *,
        debug: bool,
    ) -> None:
        self.actor = actor
        self.label = label
        self.settings = settings
        self._host = host
        self._debug = debug
        self._cors = Cors(settings.cors) if settings.cors else None
        # Read once per request: kept here rather than looked up through ``settings``.
        self._access_log = settings.access_log
        self._max_concurrent = settings.max_concurrent
        self._timeout = settings.timeout
        self._call_actor = host.call_actor
        self._in_flight = 0
        self._runner: web.ServerRunner | None = None
        self.port = settings.port

    @property
    def in_flight(self) -> int:
        """Requests being served right now."""
        return self._in_flight

    async def start(self) -> None:
        """Listen; ``OSError`` (port in use, address not available) propagates to the caller."""
        # access_log=None: aiohttp's own access logger would format every request even when
        # nobody listens; ACCESS_LOG logs through ours instead.
        server = web.Server(self._handle, access_log=None)
        # In-flight requests get the request timeout (plus slack) to finish on close.
        runner = web.ServerRunner(server, shutdown_timeout=self.settings.timeout + 1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.address, self.settings.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])

    async def close(self) -> None:
        """Stop accepting, let requests in flight finish, then close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter() if self._access_log else 0.0
        cors = self._cors
        response = cors.preflight(request) if cors is not None else None
        if response is None:
            if self._in_flight >= self._max_concurrent:
                response = _error(503, "too many concurrent requests")
                response.headers["Retry-After"] = "1"
            else:
                self._in_flight += 1
                try:
                    response = await self._serve(request)
                finally:
                    self._in_flight -= 1
            if cors is not None:
                cors.decorate(request, response)
        if started:
            self._log_access(request, response, started)
        return response

    async def _serve(self, request: web.BaseRequest) -> web.Response:
        # No body (GET and the like): skip the reader's coroutine.
        body = await self._read_body(request) if request.can_read_body else b""
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
        try:
            raw = await self._call_actor(
                self.actor, "HandleRequest", payload, origin=HTTP_SERVER, timeout=self._timeout
            )
        except ActorBusy as exc:
            return self._failure(503, "actor busy", exc)
        except TimeoutError as exc:
            return self._failure(504, "actor timed out", exc)
        except Exception as exc:  # trap, guest error, anything: the client gets a 500
            return self._failure(500, "actor failed", exc)
        try:
            return _to_response(*decode_http_response(raw))
        except (CodecError, ValueError) as exc:
            return self._failure(500, "actor sent an invalid response", exc)

    async def _read_body(self, request: web.BaseRequest) -> bytes | web.Response:
        """The request body (``request.can_read_body`` is true), or the error response to send
        instead (413 or 408)."""
        limit = self.settings.max_body
        length = request.content_length
        if length is not None and length > limit:
            return _too_large(limit)
        if request.headers.get("Expect", "").lower() == "100-continue":
            # Clients such as curl wait for this before sending a large body.
            await request.writer.write(_CONTINUE)
        stream = request.content
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.timeout):
                # Chunked bodies have no length up front: count while reading.
                while chunk := await stream.readany():
                    size += len(chunk)
                    if size > limit:
                        return _too_large(limit)
                    chunks.append(chunk)
        except TimeoutError:
            return _closing(_error(408, "request body not received in time"))
        except Exception as exc:  # malformed chunked encoding, connection reset mid-body
            logger.info("bad request body for actor %s: %s", self.label, exc)
            return _closing(_error(400, "malformed request body"))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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
        detail = f"{type(exc).__name__}: {exc}" if self._debug else None
        return _error(status, reason, invocation_id=invocation_id, detail=detail)

    def _log_access(self, request: web.BaseRequest, response: web.Response, started: float) -> None:
        body = response.body
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


def _to_response(status: int, reason: str, header: Mapping[str, str], body: bytes) -> web.Response:
    """The aiohttp response for an actor's ``Response`` (its fields, as
    ``decode_http_response`` gives them); ``ValueError`` if it cannot be sent."""
    if not 200 <= status <= 599:
        raise ValueError(f"status code {status} is not a final HTTP status (200-599)")
    # Reason "" means the standard phrase; aiohttp itself refuses CR/LF in it (ValueError).
    response = web.Response(status=status, reason=reason or None, body=body)
    headers = response.headers
    for name, value in header.items():
        if not name or _BAD_NAME(name) or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} cannot be sent (empty, or contains CR, LF or :)")
        if name.lower() not in _MANAGED:
            headers.add(name, value)
    return response


def _too_large(limit: int) -> web.Response:
    return _closing(_error(413, f"request body larger than {limit} bytes"))


def _closing(response: web.Response) -> web.Response:
    """Close the connection after ``response``: the rest of the body was not read, so the
    connection cannot carry another request."""
    response.force_close()
    return response


def _error(
    status: int, reason: str, *, invocation_id: str = "", detail: str | None = None
) -> web.Response:
    """A short JSON error body: ``{"error", "invocation_id"?, "detail"?}``."""
    document: dict[str, str] = {"error": reason}
    if invocation_id:
        document["invocation_id"] = invocation_id
    if detail is not None:
        document["detail"] = detail
    return web.Response(
        status=status, body=json.dumps(document).encode(), content_type="application/json"
    )
