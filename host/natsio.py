"""What the host's two NATS users (the lattice, the messaging provider) need of nats-py
beyond its API."""

from __future__ import annotations

from typing import Any

__all__ = ["round_trip"]


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
