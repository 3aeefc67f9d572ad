"""Health checks: the host asks its actors ``HealthRequest`` and keeps what they answered.

Every ``interval`` seconds the host sends each actor ``HealthRequest {placeholder: true}``
straight to an instance (not through middleware: a check is not traffic). The answer is
judged by the actor's generation (``host.generations``):

- ``{healthy, message}``: as it says (the wasmCloud 0.18 answer; a 0.14 actor may give it too);
- empty or ``nil``: healthy for a waSCC 0.14 actor, which answers so; unhealthy for a 0.18
  actor, which must answer the map;
- a 0.14 actor without the operation (``unknown operation``): not known (``healthy: None``);
  waSCC 0.14's own hosts did not send the request either;
- any other error, a trap or a timeout: unhealthy, with the error as the message;
- too busy to take the call (a full queue, a penalty): no verdict; the previous one stays.

The last report of each actor is in ``/inventory`` (``health.check``) and ``/metrics``
(``wascc_actor_healthy``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from wascc.host.errors import GuestError
from wascc.host.generations import is_wasmcloud
from wascc.keys.claims import Claims

__all__ = ["HEALTH_REQUEST", "HealthReport", "judge"]

HEALTH_REQUEST: Final = msgpack.packb({"placeholder": True})
"""``HealthRequest {placeholder: true}``, as both generations send it."""

_UNKNOWN_OPERATION: Final = ("unknown operation", "no handler registered")


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One check's verdict: ``healthy`` (``None``: the actor does not answer checks), the
    actor's message or the error, and when it was made (seconds since the epoch)."""

    healthy: bool | None
    message: str
    checked: float

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "message": self.message, "checked": self.checked}


def judge(claims: Claims, reply: bytes | None, error: BaseException | None) -> HealthReport:
    """The verdict on an actor with ``claims`` that answered ``reply`` or failed with
    ``error``."""
    now = time.time()
    second = is_wasmcloud(claims)
    if error is not None:
        text = error.guest_error if isinstance(error, GuestError) else str(error)
        if not second and any(mark in text.lower() for mark in _UNKNOWN_OPERATION):
            return HealthReport(None, "the actor does not answer HealthRequest", now)
        return HealthReport(False, f"HealthRequest failed: {text}", now)
    answer: object = None
    if reply:
        try:
            answer = msgpack.unpackb(reply, raw=False)
        except Exception:
            return HealthReport(False, "the answer to HealthRequest is not msgpack", now)
    if answer is None:
        if second:
            return HealthReport(
                False, "answered nil; a wasmCloud 0.18 actor answers {healthy, message}", now
            )
        return HealthReport(True, "", now)
    if isinstance(answer, dict) and isinstance(answer.get("healthy"), bool):
        message = answer.get("message")
        return HealthReport(answer["healthy"], message if isinstance(message, str) else "", now)
    return HealthReport(False, "the answer to HealthRequest is not {healthy, message}", now)
