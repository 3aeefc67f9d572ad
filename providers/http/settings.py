"""The HTTP server's per-binding settings, read from the binding's values.

``BINDING_VALUES`` declares every value (name, meaning, default, what it may be): the
provider reads them by those declarations, manifests refuse any other key, and
docs/providers.md lists them. The host-wide budget of body bytes in flight is not a binding
value but the provider's ``max_bytes_in_flight`` (see ``HttpServerProvider``).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass

from wascc.host.errors import ProviderError
from wascc.host.typing import REQUIRED, BindingValue

__all__ = [
    "BINDING_VALUES",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "HttpSettings",
]

DEFAULT_MAX_BODY = 16 * 2**20
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENT = 1000
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 15.0
DEFAULT_MAX_CONNECTIONS = 512

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_MAX_PORT = 65535
_SECONDS = "a number of seconds > 0"

_PORT = BindingValue(
    "PORT", "TCP port to listen on (0: any free one)", REQUIRED, f"an integer from 0 to {_MAX_PORT}"
)
_ADDRESS = BindingValue(
    "ADDRESS",
    "IP address (v4 or v6) or localhost to listen on (0.0.0.0 exposes the port)",
    "127.0.0.1",
    "an IP address (such as 127.0.0.1, 0.0.0.0 or ::1) or localhost",
)
_MAX_BODY = BindingValue(
    "MAX_BODY",
    "largest request body in bytes (beyond: 413)",
    f"{DEFAULT_MAX_BODY // 2**20} MiB",
    "an integer >= 0",
)
_TIMEOUT = BindingValue(
    "TIMEOUT", "seconds per request, actor included (beyond: 504)", f"{DEFAULT_TIMEOUT:g}", _SECONDS
)
_MAX_CONCURRENT = BindingValue(
    "MAX_CONCURRENT",
    "requests served at once (beyond: 503)",
    str(DEFAULT_MAX_CONCURRENT),
    "an integer >= 1",
)
_HEADER_TIMEOUT = BindingValue(
    "HEADER_TIMEOUT",
    "seconds a client has to send a whole request head (beyond: 408, connection closed)",
    f"{DEFAULT_HEADER_TIMEOUT:g}",
    _SECONDS,
)
_IDLE_TIMEOUT = BindingValue(
    "IDLE_TIMEOUT",
    "seconds a kept-alive connection may wait for its next request (beyond: closed)",
    f"{DEFAULT_IDLE_TIMEOUT:g}",
    _SECONDS,
)
_MAX_CONNECTIONS = BindingValue(
    "MAX_CONNECTIONS",
    "connections open at once; beyond, accepting pauses until one closes",
    str(DEFAULT_MAX_CONNECTIONS),
    "an integer >= 1",
)
_CORS = BindingValue(
    "CORS",
    "origins allowed to call from a browser",
    "off (none)",
    "origins separated by commas, or *",
)
_ACCESS_LOG = BindingValue(
    "ACCESS_LOG",
    "true logs one line per request",
    "false",
    "true or false (yes/no, on/off and 1/0 work too)",
)

BINDING_VALUES: tuple[BindingValue, ...] = (
    _PORT,
    _ADDRESS,
    _MAX_BODY,
    _TIMEOUT,
    _MAX_CONCURRENT,
    _HEADER_TIMEOUT,
    _IDLE_TIMEOUT,
    _MAX_CONNECTIONS,
    _CORS,
    _ACCESS_LOG,
)
"""Every value an HTTP binding may give."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where and how one actor's listener serves (see the module docstring for the values)."""

    port: int
    address: str = "127.0.0.1"
    max_body: int = DEFAULT_MAX_BODY
    timeout: float = DEFAULT_TIMEOUT
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    cors: tuple[str, ...] = ()
    access_log: bool = False
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def from_values(cls, values: Mapping[str, str], *, actor: str) -> HttpSettings:
        """Parse a binding's values; a missing ``PORT`` or a malformed value raises
        ``ProviderError`` naming the actor, the value and the fix."""
        reader = _Reader(values, actor)
        if _PORT.name not in values:
            raise ProviderError(
                f"wascc:http_server cannot bind actor {actor}: the binding has no PORT value; "
                'add values: {PORT: "8080"} to the binding'
            )
        cors = values.get(_CORS.name, "")
        return cls(
            port=reader.integer(_PORT, 0, minimum=0, maximum=_MAX_PORT),
            address=reader.address(_ADDRESS),
            max_body=reader.integer(_MAX_BODY, DEFAULT_MAX_BODY, minimum=0),
            timeout=reader.seconds(_TIMEOUT, DEFAULT_TIMEOUT),
            max_concurrent=reader.integer(_MAX_CONCURRENT, DEFAULT_MAX_CONCURRENT, minimum=1),
            cors=tuple(o.strip() for o in cors.split(",") if o.strip()),
            access_log=reader.flag(_ACCESS_LOG),
            header_timeout=reader.seconds(_HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT),
            idle_timeout=reader.seconds(_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT),
            max_connections=reader.integer(_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS, minimum=1),
        )


class _Reader:
    """Reads typed values, raising one clear error per bad value."""

    def __init__(self, values: Mapping[str, str], actor: str) -> None:
        self._values = values
        self._actor = actor

    def _bad(self, value: BindingValue) -> ProviderError:
        return ProviderError(
            f"wascc:http_server cannot bind actor {self._actor}: value {value.name}="
            f"{self._values[value.name]!r} is not {value.allowed}; fix the binding's values"
        )

    def integer(
        self, value: BindingValue, default: int, *, minimum: int, maximum: int | None = None
    ) -> int:
        text = self._values.get(value.name, "").strip()
        if not text:
            return default
        try:
            number = int(text)
        except ValueError:
            raise self._bad(value) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise self._bad(value)
        return number

    def seconds(self, value: BindingValue, default: float) -> float:
        text = self._values.get(value.name, "").strip()
        if not text:
            return default
        try:
            number = float(text)
        except ValueError:
            raise self._bad(value) from None
        if not (number > 0 and math.isfinite(number)):
            raise self._bad(value)
        return number

    def flag(self, value: BindingValue) -> bool:
        text = self._values.get(value.name, "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self._bad(value)

    def address(self, value: BindingValue) -> str:
        """An IP address (v4 or v6) or ``localhost``: a host name would be resolved at every
        start and could name an address the operator did not mean to expose."""
        text = self._values.get(value.name, "").strip()
        if not text:
            return value.default
        if text.lower() == "localhost":
            return "localhost"
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise self._bad(value) from None
        return text
