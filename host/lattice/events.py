"""Lattice events: CloudEvents 1.0 (JSON) on ``wasmbus.events`` (spec §6).

Each host publishes what changes on it (actors, providers, bindings, its own start and stop);
``wascc ctl events`` follows them, and the lattice itself listens for ``provider_loaded`` to
replay bindings to a provider that joined after they were made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

from host.invocation import new_invocation_id
from host.lattice.errors import MalformedMessage

__all__ = ["EVENT_TYPES", "EventType", "cloud_event", "parse_event"]

EventType = Literal[
    "host_started",
    "host_stopped",
    "actor_started",
    "actor_stopped",
    "actor_updating",
    "actor_update_complete",
    "provider_loaded",
    "provider_removed",
    "actor_binding_created",
    "actor_binding_removed",
]
EVENT_TYPES: Final[frozenset[str]] = frozenset(get_args(EventType))


def _rfc3339(seconds: float) -> str:
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def cloud_event(kind: EventType, host_id: str, data: Mapping[str, Any]) -> bytes:
    """The JSON of one CloudEvent of type ``kind`` from ``host_id``."""
    event = {
        "specversion": "1.0",
        "id": new_invocation_id(),
        "source": host_id,
        "type": kind,
        "time": _rfc3339(time.time()),
        "datacontenttype": "application/json",
        "data": dict(data),
    }
    return json.dumps(event, separators=(",", ":")).encode()


def parse_event(raw: bytes) -> dict[str, Any]:
    """A received event as a dict; ``MalformedMessage`` if it is not a CloudEvent we know."""
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("the event is not JSON") from None
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise MalformedMessage("the event is not a CloudEvent 1.0 object")
    if event.get("type") not in EVENT_TYPES or not isinstance(event.get("data"), dict):
        raise MalformedMessage(f"unknown event type {event.get('type')!r}")
    if not isinstance(event.get("source"), str):
        raise MalformedMessage("the event has no source host")
    return event
