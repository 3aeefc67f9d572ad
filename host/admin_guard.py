"""The request guard of the admin endpoint (``host.admin``): who may use it, and from where.

Every request passes one aiohttp middleware (``AdminGuard.middleware()``), in this order:

1. ``Host`` must name this endpoint: ``ADDRESS:PORT`` as bound; for a loopback address also
   ``localhost``, ``127.0.0.1`` and ``[::1]``; for a wildcard address (``0.0.0.0``, ``::``)
   any IP address, and ``localhost``. Other names are refused (403): DNS rebinding uses them.
2. A cross-site request is refused (403): an ``Origin`` other than ``http://`` + the
   ``Host``, or ``Sec-Fetch-Site: cross-site``/``same-site``.
3. Every route but ``/healthz`` and the dashboard's page and files (``open_paths``) needs
   ``Authorization: Bearer TOKEN`` (else 401), the token the host wrote to
   ``admin-PORT.token`` in its data directory (``host.admin_token``).

The first two rules keep web pages out: a page the operator happens to visit can send
requests to loopback, and a DNS name it controls can be made to resolve here. The third keeps
out every other local process. Refusals are JSON ``{"error": message, "type": kind}``
(``json_error``, which the routes use for their errors too).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["AdminGuard", "admin_url", "ipaddress_is_loopback", "json_error"]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"0.0.0.0", "::"})


def json_error(
    status: int,
    exc: BaseException | str,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The admin endpoint's error answer: ``{"error": message, "type": kind}`` with ``status``.

    ``kind`` defaults to the exception's class name (``AdminError`` for a plain message), so
    a client can tell the host's errors apart without parsing the message."""
    message = str(exc)
    name = kind or (type(exc).__name__ if isinstance(exc, BaseException) else "AdminError")
    return web.json_response({"error": message, "type": name}, status=status, headers=headers)


def admin_url(address: str, port: int) -> str:
    """The endpoint's URL for a bound ``address`` and ``port``, e.g. ``http://[::1]:9000``."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


def ipaddress_is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP or ``localhost``) only accepts local connections."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normal_host(host: str) -> str:
    """``host`` in one spelling: IP addresses compressed, names in lower case."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _authority(value: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``Host`` header or an origin's ``host[:port]`` (port 80 when
    left out, as for ``http://``); ``None`` when it is not one."""
    if not value or any(c in value for c in "@/?#\\ \t"):
        return None
    try:
        parts = urlsplit(f"//{value}")
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, unbalanced brackets
        return None
    if not host:
        return None
    return _normal_host(host), 80 if port is None else port


class AdminGuard:
    """Applies the three rules above to the admin endpoint bound on ``address``.

    ``port`` and ``token`` are callables because both are known only once the site has
    started (the port may be chosen by the system, the token is made at start); they are
    asked on every request. An empty token refuses every request that needs one.
    """

    def __init__(
        self,
        address: str,
        port: Callable[[], int],
        token: Callable[[], str],
        *,
        open_paths: Iterable[str] = (),
    ) -> None:
        self.address = address
        self._port = port
        self._token = token
        # Paths served without a token (Host and Origin are still checked): ``/healthz``, and
        # files that hold no data, like the dashboard's page, which then asks for the token.
        self._open = frozenset({"/healthz", *open_paths})

    def middleware(self) -> Middleware:
        """The middleware: Host, then Origin, then the token (module docstring)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            refusal = self._check_host(request) or self._check_origin(request)
            if refusal is None and request.path not in self._open:
                refusal = self._check_token(request)
            return refusal if refusal is not None else await handler(request)

        return guard

    def _host_allowed(self, host: str, port: int) -> bool:
        if port != self._port():
            return False
        bound = _normal_host(self.address)
        if host == bound:
            return True
        if bound in _WILDCARDS:
            return host == "localhost" or _is_ip(host)
        return ipaddress_is_loopback(bound) and host in _LOOPBACK_NAMES

    def _check_host(self, request: web.Request) -> web.Response | None:
        value = request.headers.get(hdrs.HOST, "")
        authority = _authority(value)
        if authority is not None and self._host_allowed(*authority):
            return None
        why = "is not the address of this admin endpoint"
        if authority is not None and not _is_ip(authority[0]) and authority[0] != "localhost":
            why = "is a name, not the address (a name can be made to point here: DNS rebinding)"
        port = self._port()
        where = admin_url(self.address, port)
        if _normal_host(self.address) in _WILDCARDS:
            where = f"an IP address of this machine, port {port} (http://127.0.0.1:{port})"
        return json_error(403, f"Host {value!r} {why}; connect to {where} itself", "HostNotAllowed")

    def _check_origin(self, request: web.Request) -> web.Response | None:
        site = request.headers.get("Sec-Fetch-Site", "").lower()
        origin = request.headers.get(hdrs.ORIGIN)
        if site in ("cross-site", "same-site"):
            what = f"Sec-Fetch-Site: {site}"
        elif origin is not None and not self._same_origin(origin, request):
            what = f"Origin {origin!r}"
        else:
            return None
        return json_error(
            403,
            f"cross-site request refused ({what}): web pages may not use the admin endpoint; "
            "use `wascc call`, `wascc update` or curl",
            "CrossSiteRequest",
        )

    @staticmethod
    def _same_origin(origin: str, request: web.Request) -> bool:
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme != "http" or parts.path or parts.query or parts.fragment:
            return False
        mine = _authority(request.headers.get(hdrs.HOST, ""))
        return mine is not None and _authority(parts.netloc) == mine

    def _check_token(self, request: web.Request) -> web.Response | None:
        token = self._token()
        scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if (
            token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("ascii"))
        ):
            return None
        what = "wrong admin token" if scheme else "no admin token"
        return json_error(
            401,
            f"{what}: send the token from DATA_DIR/admin-{self._port()}.token (the host's data "
            "directory) as 'Authorization: Bearer TOKEN'; `wascc call` and `wascc update` do "
            "it for you",
            "Unauthorized",
            headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
        )
