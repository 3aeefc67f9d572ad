"""What the host's two NATS users (the lattice, the messaging provider) need of nats-py
beyond its API."""

from __future__ import annotations

from typing import Any

from keys.creds import UserCredentials

__all__ = ["ConnectErrors", "auth_options", "describe", "round_trip"]


def describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for log lines and messages."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def auth_options(credentials: UserCredentials | None) -> dict[str, Any]:
    """``nats.connect`` keywords that present ``credentials`` (none: anonymous)."""
    if credentials is None:
        return {}
    return {"user_jwt_cb": credentials.user_jwt, "signature_cb": credentials.sign_nonce}


class ConnectErrors:
    """What nats-py reported to ``error_cb`` during a connection attempt: after its attempts
    ``connect`` raises only "no servers", the reason went there. A refusal of the credentials
    is kept apart: the socket error that follows it (the server closes the connection) must
    not hide it."""

    def __init__(self) -> None:
        self.last: BaseException | None = None
        self.refusal: BaseException | None = None

    def clear(self) -> None:
        """Forget the errors of an earlier attempt."""
        self.last = self.refusal = None

    def record(self, exc: BaseException) -> None:
        """``error_cb``'s part: note ``exc``."""
        self.last = exc
        if "authorization" in str(exc).lower():
            self.refusal = exc

    def reason(self, raised: BaseException) -> BaseException:
        """Why the attempt failed: the refusal, else the last error, else what was raised."""
        return self.refusal or self.last or raised


async def round_trip(nc: Any, timeout: float) -> None:
    """Wait until the server has processed every command ``nc`` sent before this call.

    nats-py's ``flush()`` alone does not promise it: it writes its PING straight to the socket
    while commands made just before (a SUB, an UNSUB) still wait in its send buffer for the
    next turn of its writer task, so the PONG can come back before the server saw them (seen
    as "no responders" for an actor that had just been added). By the time the first PONG is
    back that buffer has been written, so the second PING follows those commands.
    """
    await nc.flush(timeout=timeout)
    await nc.flush(timeout=timeout)
