"""Which record each operation of docs/contracts.md takes and returns, by operation name.

``wascc call`` uses this to turn a user's JSON into the request an operation expects and to
show the reply decoded; providers use the contract and operation constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from wascc.providers.codec import capabilities as cap
from wascc.providers.codec import keyvalue as kv
from wascc.providers.codec._record import Record
from wascc.providers.codec.http import HttpRequest, HttpResponse
from wascc.providers.codec.lifecycle import BindActor, HealthRequest, RemoveActor

__all__ = [
    "EXTRAS",
    "HTTP_SERVER",
    "KEYVALUE",
    "LOGGING",
    "MESSAGING",
    "OPERATIONS",
    "Operation",
    "find_operation",
]

HTTP_SERVER = "wascc:http_server"
KEYVALUE = "wascc:keyvalue"
LOGGING = "wascc:logging"
EXTRAS = "wascc:extras"
MESSAGING = "wascc:messaging"


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its contract (``None`` for the host's own lifecycle operations), name,
    request record, and response record (``None`` when the reply is empty or raw bytes)."""

    contract_id: str | None
    name: str
    request: type[Record]
    response: type[Record] | None


def _table(*ops: Operation) -> Mapping[str, Operation]:
    table = {op.name: op for op in ops}
    if len(table) != len(ops):  # a mistake in this file; fails at import, so tests catch it
        raise ValueError("operation names must be unique")
    return MappingProxyType(table)


OPERATIONS: Mapping[str, Operation] = _table(
    Operation(HTTP_SERVER, "HandleRequest", HttpRequest, HttpResponse),
    Operation(KEYVALUE, "Get", kv.GetRequest, kv.GetResponse),
    Operation(KEYVALUE, "Set", kv.SetRequest, kv.SetResponse),
    Operation(KEYVALUE, "Add", kv.AddRequest, kv.AddResponse),
    Operation(KEYVALUE, "Del", kv.DelRequest, kv.DelResponse),
    Operation(KEYVALUE, "Clear", kv.ClearRequest, kv.ClearResponse),
    Operation(KEYVALUE, "Range", kv.RangeRequest, kv.RangeResponse),
    Operation(KEYVALUE, "Push", kv.PushRequest, kv.PushResponse),
    Operation(KEYVALUE, "ListItemDelete", kv.ListItemDeleteRequest, kv.ListItemDeleteResponse),
    Operation(KEYVALUE, "SetAdd", kv.SetAddRequest, kv.SetAddResponse),
    Operation(KEYVALUE, "SetRemove", kv.SetRemoveRequest, kv.SetRemoveResponse),
    Operation(KEYVALUE, "SetUnion", kv.SetUnionRequest, kv.SetUnionResponse),
    Operation(KEYVALUE, "SetIntersection", kv.SetIntersectionRequest, kv.SetIntersectionResponse),
    Operation(KEYVALUE, "SetQuery", kv.SetQueryRequest, kv.SetQueryResponse),
    Operation(KEYVALUE, "KeyExists", kv.KeyExistsRequest, kv.KeyExistsResponse),
    Operation(LOGGING, "WriteLog", cap.WriteLogRequest, None),
    Operation(EXTRAS, "RequestGuid", cap.ExtrasRequest, cap.ExtrasResponse),
    Operation(EXTRAS, "RequestRandom", cap.ExtrasRequest, cap.ExtrasResponse),
    Operation(EXTRAS, "RequestSequence", cap.ExtrasRequest, cap.ExtrasResponse),
    Operation(MESSAGING, "Publish", cap.PublishMessage, None),
    Operation(MESSAGING, "Request", cap.RequestMessage, None),
    Operation(MESSAGING, "DeliverMessage", cap.DeliverMessage, None),
    Operation(None, "BindActor", BindActor, None),
    Operation(None, "RemoveActor", RemoveActor, None),
    Operation(None, "HealthRequest", HealthRequest, None),
)
"""Every operation of docs/contracts.md, keyed by name (no two contracts share one)."""


def find_operation(name: str, contract_id: str | None = None) -> Operation | None:
    """The operation called ``name``; with ``contract_id``, only if it belongs to that contract
    (a custom contract may reuse a name such as ``Get`` for different messages)."""
    op = OPERATIONS.get(name)
    if op is None or (contract_id is not None and op.contract_id not in (contract_id, None)):
        return None
    return op
