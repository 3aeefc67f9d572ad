"""The admin endpoint of a host process (aiohttp), off unless ``wascc up --admin`` is given.

=========================================  ===============================================
route                                      what
=========================================  ===============================================
``GET /healthz``                           200 ``{"status": "ok"}``; 503 while stopping
                                           (the only route that needs no token)
``GET /inventory``                         actors with claims (and the ``source``
                                           reference and digest of a pulled one), providers,
                                           bindings (JSON; binding values' secrets redacted)
``GET /metrics``                           Prometheus text (``host.metrics``)
``POST /actors/{actor}/call/{operation}``  ``application/json``: the call's JSON value,
                                           encoded as ``wascc call`` does (empty body: the
                                           empty payload); ``application/octet-stream``: the
                                           payload as is. Answer: the actor's reply bytes
                                           (``wascc call --host-admin``)
``POST /actors/update[?force=true]``       ``application/wasm``: a signed module: live
``[&rotate_issuer=true]``                  update of the running actor with its key
                                           (``wascc update``)
``POST /actors/{actor}/stop``              stop the actor (its bindings are removed first);
                                           answer ``{"key", "name", "stopped": true}``
``GET /ui``, ``/ui/feed``                  the dashboard and its live feed
                                           (``host.dashboard``)
=========================================  ===============================================

Every request passes the guard of ``host.admin_guard`` first: a ``Host`` that names this
endpoint, no cross-site ``Origin``, then (on every route but ``/healthz`` and the dashboard's
files, which hold no data) the bearer token the host wrote to ``admin-PORT.token``; its
module docstring has the rules and why.

The POST routes take only the media types above (else 415): a browser page can send the
CORS-safelisted ones (``text/plain``, forms) anywhere without asking first. ``{actor}`` is a
public key or the name of a running actor. Errors are JSON ``{"error": message, "type":
exception class}`` with the message the host gives. The token travels in clear over HTTP:
keep the endpoint on loopback (the default) or a private network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST

from wascc.host.admin_guard import AdminGuard, admin_url, ipaddress_is_loopback, json_error
from wascc.host.admin_token import new_token, remove_token, token_path, write_token
from wascc.host.call import encode_request
from wascc.host.dashboard import Dashboard, HostInfo
from wascc.host.errors import (
    ActorBusy,
    ActorNotFound,
    AuthorizationError,
    ClaimsError,
    HostError,
    WasccError,
)
from wascc.host.host import Host
from wascc.host.invocation import SYSTEM_ORIGIN
from wascc.host.metrics import HostMetrics
from wascc.keys.claims import validate_module
from wascc.providers.codec import CodecError

if TYPE_CHECKING:
    from wascc.host.lattice import Lattice

__all__ = ["MAX_MODULE_SIZE", "AdminServer", "redact_values"]

logger = logging.getLogger("wascc.admin")

MAX_MODULE_SIZE = 256 * 2**20
"""Largest request body (a module for a live update)."""

_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "SEED", "JWT", "KEY", "CREDENTIAL")
_REDACTED = "[redacted]"
_WASM, _JSON, _RAW = "application/wasm", "application/json", "application/octet-stream"


def redact_values(values: Mapping[str, str]) -> dict[str, str]:
    """Binding values safe to show: values of secret-sounding names are replaced, and so is
    the password of any URL (``redis://:pw@host`` → ``redis://:[redacted]@host``)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        upper = name.upper()
        if not name.startswith("__wascc_") and any(word in upper for word in _SECRET_WORDS):
            out[name] = _REDACTED
        else:
            out[name] = _redact_url(value)
    return out


def _redact_url(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:  # not a URL after all
        return value
    if not password:
        return value
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{_REDACTED}@{host}"))


def _status_of(exc: WasccError) -> int:
    if isinstance(exc, ActorNotFound):
        return 404
    if isinstance(exc, AuthorizationError):
        return 403
    if isinstance(exc, ActorBusy):
        return 503
    if isinstance(exc, TimeoutError):
        return 504
    if isinstance(exc, ClaimsError | HostError):
        return 409
    return 500


def _failure(exc: Exception, what: str) -> web.Response:
    """The answer when a host operation raised (call from its ``except``): the host's error
    with its status, or, for anything else (a bug below), 500, logged with its traceback."""
    if isinstance(exc, WasccError):
        return json_error(_status_of(exc), exc)
    logger.exception("%s failed", what)
    return json_error(500, f"internal error: {type(exc).__name__}: {exc}", "InternalError")


def _media_type(request: web.Request) -> str | None:
    """The request's media type without parameters; ``None`` when it sent none (aiohttp
    would say ``application/octet-stream``, but a browser may leave the header out)."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return None
    return request.content_type


class AdminServer:
    """Serves the routes above for ``host`` on ``address:port`` until ``close()``.

    ``accepting()`` tells whether the process still takes new work; while it says no,
    ``/healthz`` answers 503 and calls and updates are refused. The token file goes to
    ``data_dir`` (``token_file`` once started). ``info`` names the host on the dashboard;
    ``lattice``, when the host joined one, lets the dashboard show every host.
    """

    def __init__(
        self,
        host: Host,
        metrics: HostMetrics,
        *,
        address: str,
        port: int,
        data_dir: Path,
        accepting: Callable[[], bool],
        info: HostInfo | None = None,
        lattice: Lattice | None = None,
    ) -> None:
        self.host = host
        self.metrics = metrics
        self.address = address
        self.port = port
        self.data_dir = data_dir
        self.token_file: Path | None = None
        self._token = ""
        self._accepting = accepting
        self._runner: web.AppRunner | None = None
        self.dashboard = Dashboard(
            host,
            metrics,
            info=info or HostInfo(host, host_id="", lattice_url=None),
            inventory=self.inventory,
            lattice=lattice,
        )

    @property
    def url(self) -> str:
        """Where it listens, e.g. ``http://127.0.0.1:9000``."""
        return admin_url(self.address, self.port)

    async def start(self) -> None:
        """Listen and write the token file; ``OSError`` if the address is taken,
        ``AdminTokenError`` if the token cannot be written."""
        guard = AdminGuard(
            self.address,
            lambda: self.port,
            lambda: self._token,
            open_paths=self.dashboard.open_paths,
        )
        app = web.Application(client_max_size=MAX_MODULE_SIZE, middlewares=[guard.middleware()])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/inventory", self._inventory)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/actors/update", self._update)
        app.router.add_post("/actors/{actor}/call/{operation}", self._call)
        app.router.add_post("/actors/{actor}/stop", self._stop)
        self.dashboard.add_routes(app.router)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.address, self.port)
        self._token = new_token()  # before the first request can arrive
        try:
            await site.start()
            if runner.addresses:
                self.port = int(runner.addresses[0][1])
            path = token_path(self.data_dir, self.port)
            write_token(path, self._token)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self.token_file = runner, path
        await self.dashboard.start()
        logger.info("admin endpoint on %s", self.url)
        logger.info("admin token in %s", path)
        if not ipaddress_is_loopback(self.address):
            logger.warning(
                "the admin endpoint on %s is not on loopback: its token travels in clear over "
                "HTTP, and anyone who reads it on the way can call and replace actors; keep it "
                "on loopback or a private network",
                self.url,
            )

    async def close(self) -> None:
        """Stop serving and remove the token file. Idempotent."""
        await self.dashboard.close()  # first: open feeds would hold the runner's cleanup
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        path, self.token_file = self.token_file, None
        if path is not None:
            remove_token(path, self._token)

    # routes ------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        if not self._accepting():
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "ok"})

    def inventory(self) -> dict[str, Any]:
        """The host's inventory as this endpoint shows it: binding values redacted."""
        inventory = self.host.inventory()
        for binding in inventory["bindings"]:
            binding["values"] = redact_values(binding["values"])
        return inventory

    async def _inventory(self, request: web.Request) -> web.Response:
        return web.json_response(self.inventory())

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _find(self, target: str) -> str:
        """The key of the running actor ``target`` names (a key, a call alias registered
        here, or a unique name)."""
        actors: list[dict[str, Any]] = self.host.inventory()["actors"]
        if any(a["key"] == target for a in actors):
            return target
        aliased = self.host.resolve_alias(target, remote=False)
        if aliased is not None:
            return aliased
        named = [a["key"] for a in actors if a["name"] == target]
        if len(named) == 1:
            return str(named[0])
        if named:
            raise HostError(f"several running actors are named {target!r}; call one by its key")
        raise ActorNotFound(
            f"no actor {target} runs on this host; see /inventory for the running ones",
            actor=target,
        )

    async def _payload(self, request: web.Request, operation: str) -> bytes | web.Response:
        """The call's payload from its body, or the error answer (400, 415)."""
        media = _media_type(request)
        if media not in (_JSON, _RAW):
            return json_error(
                415,
                f"a call takes its JSON value as Content-Type: {_JSON} (or the payload itself "
                f"as {_RAW}), not {media or 'no Content-Type'}",
                "UnsupportedMediaType",
            )
        body = await request.read()
        if media == _RAW or not body:
            return body
        try:
            value = json.loads(body)
        except ValueError as exc:
            return json_error(
                400, f"the body is not JSON ({exc}); send the call's JSON value", "BadRequest"
            )
        try:
            return encode_request(operation, value)
        except CodecError as exc:
            return json_error(400, exc)
        except (TypeError, ValueError, OverflowError) as exc:  # msgpack: a number too large
            return json_error(400, f"cannot encode the JSON value as msgpack: {exc}", "BadRequest")

    async def _call(self, request: web.Request) -> web.Response:
        operation = request.match_info["operation"]
        payload = await self._payload(request, operation)
        if isinstance(payload, web.Response):
            return payload
        if not self._accepting():
            return json_error(503, "the host is shutting down", "HostStopping")
        try:
            key = self._find(request.match_info["actor"])
            reply = await self.host.call_actor(key, operation, payload, origin=SYSTEM_ORIGIN)
        except Exception as exc:
            return _failure(exc, f"admin call {operation} on {request.match_info['actor']}")
        return web.Response(body=reply, content_type=_RAW)

    async def _update(self, request: web.Request) -> web.Response:
        media = _media_type(request)
        if media != _WASM:
            return json_error(
                415,
                f"an update takes the signed module as Content-Type: {_WASM}, not "
                f"{media or 'no Content-Type'}",
                "UnsupportedMediaType",
            )
        if not self._accepting():
            return json_error(503, "the host is shutting down", "HostStopping")
        module = await request.read()
        force = _flag(request, "force")
        rotate = _flag(request, "rotate_issuer")
        try:
            claims = validate_module(module, path="the uploaded module")
            previous = self.host.actor(claims.subject).claims.rev
            updated = await self.host.replace_actor(module, force=force, rotate_issuer=rotate)
        except Exception as exc:
            return _failure(exc, "admin update")
        return web.json_response(
            {
                "key": updated.subject,
                "name": updated.name,
                "previous_rev": previous,
                "rev": updated.rev,
            }
        )

    async def _stop(self, request: web.Request) -> web.Response:
        if not self._accepting():
            return json_error(503, "the host is shutting down", "HostStopping")
        try:
            key = self._find(request.match_info["actor"])
            name = self.host.actor(key).name
            await self.host.remove_actor(key)
        except Exception as exc:
            return _failure(exc, f"admin stop of {request.match_info['actor']}")
        logger.info("actor %s (%s) stopped from the admin endpoint", name, key)
        return web.json_response({"key": key, "name": name, "stopped": True})


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")
