"""The admin endpoint of a host process (aiohttp), off unless ``wascc up --admin`` is given.

=========================================  ===============================================
route                                      what
=========================================  ===============================================
``GET /healthz``                           200 ``{"status": "ok"}``; 503 while stopping
``GET /inventory``                         actors with claims, providers, bindings (JSON;
                                           secrets in binding values redacted)
``GET /metrics``                           Prometheus text (``host.metrics``)
``POST /actors/{actor}/call/{operation}``  body = the payload; answer = the actor's reply
                                           bytes (``wascc call --host-admin``)
``POST /actors/update[?force=true]``       body = a signed module: live update of the
                                           running actor with its key (``wascc update``)
=========================================  ===============================================

``{actor}`` is a public key or the name of a running actor. Errors are JSON ``{"error":
message, "type": exception class}`` with the message the host gives. The endpoint has no
authentication: bind it to loopback (the default) or a private network only.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from host.errors import (
    ActorBusy,
    ActorNotFound,
    AuthorizationError,
    ClaimsError,
    HostError,
    WasccError,
)
from host.host import Host
from host.invocation import SYSTEM_ORIGIN
from host.metrics import HostMetrics
from keys.claims import validate_module

__all__ = ["MAX_MODULE_SIZE", "AdminServer", "redact_values"]

logger = logging.getLogger("wascc.admin")

MAX_MODULE_SIZE = 256 * 2**20
"""Largest request body (a module for a live update)."""

_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "SEED", "JWT", "KEY", "CREDENTIAL")
_REDACTED = "[redacted]"


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


def ipaddress_is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP or ``localhost``) only accepts local connections."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


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


def _error(status: int, exc: BaseException | str, kind: str | None = None) -> web.Response:
    message = str(exc)
    name = kind or (type(exc).__name__ if isinstance(exc, BaseException) else "AdminError")
    return web.json_response({"error": message, "type": name}, status=status)


class AdminServer:
    """Serves the routes above for ``host`` on ``address:port`` until ``close()``.

    ``accepting()`` tells whether the process still takes new work; while it says no,
    ``/healthz`` answers 503 and calls and updates are refused.
    """

    def __init__(
        self,
        host: Host,
        metrics: HostMetrics,
        *,
        address: str,
        port: int,
        accepting: Callable[[], bool],
    ) -> None:
        self.host = host
        self.metrics = metrics
        self.address = address
        self.port = port
        self._accepting = accepting
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where it listens, e.g. ``http://127.0.0.1:9000``."""
        return f"http://{self.address}:{self.port}"

    async def start(self) -> None:
        """Listen; ``OSError`` if the address is taken."""
        app = web.Application(client_max_size=MAX_MODULE_SIZE)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/inventory", self._inventory)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/actors/update", self._update)
        app.router.add_post("/actors/{actor}/call/{operation}", self._call)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.address, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        logger.info("admin endpoint on %s", self.url)
        if not ipaddress_is_loopback(self.address):
            logger.warning(
                "the admin endpoint on %s has no authentication and is not on loopback: anyone "
                "who reaches it can call and replace actors",
                self.url,
            )

    async def close(self) -> None:
        """Stop serving. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        if not self._accepting():
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "ok"})

    async def _inventory(self, request: web.Request) -> web.Response:
        inventory = self.host.inventory()
        for binding in inventory["bindings"]:
            binding["values"] = redact_values(binding["values"])
        return web.json_response(inventory)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _find(self, target: str) -> str:
        """The key of the running actor ``target`` names (a key, or a unique name)."""
        actors: list[dict[str, Any]] = self.host.inventory()["actors"]
        if any(a["key"] == target for a in actors):
            return target
        named = [a["key"] for a in actors if a["name"] == target]
        if len(named) == 1:
            return str(named[0])
        if named:
            raise HostError(f"several running actors are named {target!r}; call one by its key")
        raise ActorNotFound(
            f"no actor {target} runs on this host; see /inventory for the running ones",
            actor=target,
        )

    async def _call(self, request: web.Request) -> web.Response:
        if not self._accepting():
            return _error(503, "the host is shutting down", "HostStopping")
        payload = await request.read()
        operation = request.match_info["operation"]
        try:
            key = self._find(request.match_info["actor"])
            reply = await self.host.call_actor(key, operation, payload, origin=SYSTEM_ORIGIN)
        except WasccError as exc:
            return _error(_status_of(exc), exc)
        except Exception as exc:  # a bug somewhere below: logged with its traceback
            logger.exception("admin call %s on %s failed", operation, request.match_info["actor"])
            return _error(500, f"internal error: {type(exc).__name__}: {exc}", "InternalError")
        return web.Response(body=reply, content_type="application/octet-stream")

    async def _update(self, request: web.Request) -> web.Response:
        if not self._accepting():
            return _error(503, "the host is shutting down", "HostStopping")
        module = await request.read()
        force = request.query.get("force", "").lower() in ("1", "true", "yes")
        try:
            claims = validate_module(module, path="the uploaded module")
            previous = self.host.actor(claims.subject).claims.rev
            updated = await self.host.replace_actor(module, force=force)
        except WasccError as exc:
            return _error(_status_of(exc), exc)
        return web.json_response(
            {
                "key": updated.subject,
                "name": updated.name,
                "previous_rev": previous,
                "rev": updated.rev,
            }
        )
