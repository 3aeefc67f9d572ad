"""The HTTP server's per-binding settings, read from the binding's values.

===================  ===============================================  ==============
value                meaning                                          default
===================  ===============================================  ==============
``PORT``             TCP port to listen on (``0``: any free one)      required
``ADDRESS``          IP address (v4 or v6) or ``localhost`` to        ``127.0.0.1``
                     listen on (``0.0.0.0`` exposes the port)
``MAX_BODY``         largest request body in bytes (→ 413)            16 MiB
``TIMEOUT``          seconds per request, actor included (→ 504)      30
``MAX_CONCURRENT``   requests served at once (→ 503 beyond)           1000
``HEADER_TIMEOUT``   seconds a client has to send a whole request     10
                     head (→ 408 and the connection is closed)
``IDLE_TIMEOUT``     seconds a kept-alive connection may wait for     15
                     its next request (→ closed)
``MAX_CONNECTIONS``  connections open at once; beyond, accepting      512
                     pauses until one closes
``CORS``             allowed origins, comma-separated, or ``*``       off
``ACCESS_LOG``       ``true`` logs every request                      off
===================  ===============================================  ==============

The host-wide budget of body bytes in flight is not a binding value but the provider's
``max_bytes_in_flight`` (see ``HttpServerProvider``).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass

from host.errors import ProviderError

__all__ = [
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
        if "PORT" not in values:
            raise ProviderError(
                f"wascc:http_server cannot bind actor {actor}: the binding has no PORT value; "
                'add values: {PORT: "8080"} to the binding'
            )
        return cls(
            port=reader.integer("PORT", 0, minimum=0, maximum=65535),
            address=reader.address("ADDRESS"),
            max_body=reader.integer("MAX_BODY", DEFAULT_MAX_BODY, minimum=0),
            timeout=reader.seconds("TIMEOUT", DEFAULT_TIMEOUT),
            max_concurrent=reader.integer("MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT, minimum=1),
            cors=tuple(o.strip() for o in values.get("CORS", "").split(",") if o.strip()),
            access_log=reader.flag("ACCESS_LOG"),
            header_timeout=reader.seconds("HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT),
            idle_timeout=reader.seconds("IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT),
            max_connections=reader.integer("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, minimum=1),
        )


class _Reader:
    """Reads typed values, raising one clear error per bad value."""

    def __init__(self, values: Mapping[str, str], actor: str) -> None:
        self._values = values
        self._actor = actor

    def _bad(self, name: str, expected: str) -> ProviderError:
        return ProviderError(
            f"wascc:http_server cannot bind actor {self._actor}: value {name}="
            f"{self._values[name]!r} is not {expected}; fix the binding's values"
        )

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        text = self._values.get(name, "").strip()
        if not text:
            return default
        expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum else "")
        try:
            value = int(text)
        except ValueError:
            raise self._bad(name, expected) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise self._bad(name, expected)
        return value

    def seconds(self, name: str, default: float) -> float:
        text = self._values.get(name, "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self._bad(name, "a number of seconds > 0") from None
        if not (value > 0 and math.isfinite(value)):
            raise self._bad(name, "a number of seconds > 0")
        return value

    def flag(self, name: str) -> bool:
        text = self._values.get(name, "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self._bad(name, "true or false")

    def address(self, name: str) -> str:
        """An IP address (v4 or v6) or ``localhost``: a host name would be resolved at every
        start and could name an address the operator did not mean to expose."""
        text = self._values.get(name, "").strip()
        if not text:
            return "127.0.0.1"
        if text.lower() == "localhost":
            return "localhost"
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise self._bad(
                name, "an IP address (such as 127.0.0.1, 0.0.0.0 or ::1) or localhost"
            ) from None
        return text
