"""Lattice inventory: every host answers ``wasmbus.inventory.{kind}`` with JSON about itself,
and ``gather`` collects the answers of all hosts within a timeout (scatter-gather).

Binding values are never sent (they may hold passwords); only their names are.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from wascc.host.lattice.client import LatticeClient
from wascc.host.lattice.subjects import InventoryKind, Subjects

if TYPE_CHECKING:
    from wascc.host.host import Host

__all__ = ["VERSION", "gather", "host_inventory"]

logger = logging.getLogger("wascc.lattice")

VERSION = "wascc-py"


def host_inventory(
    kind: InventoryKind, host: Host, host_id: str, started: float, stats: dict[str, Any]
) -> dict[str, Any]:
    """This host's answer to an inventory query of ``kind``."""
    inventory = host.inventory()
    base: dict[str, Any] = {"host_id": host_id}
    if kind == "hosts":
        return {
            **base,
            "labels": inventory["labels"],
            "trust": inventory["trust"],
            "uptime_s": round(time.monotonic() - started, 3),
            "version": VERSION,
            "lattice": stats,
        }
    if kind == "actors":
        base["actors"] = [
            {
                "key": actor["key"],
                "name": actor["name"],
                "rev": actor["claims"].get("rev"),
                "caps": actor["claims"].get("caps", []),
                "claims": actor["claims"],
                "call_alias": actor.get("call_alias"),
                "health": actor["health"]["check"],  # the last check's verdict, or None
                "instances": actor["instances"],
                "source": actor.get("source"),
                **({"wasi": actor["wasi"]} if "wasi" in actor else {}),  # what it was granted
            }
            for actor in inventory["actors"]
        ]
        return base
    if kind == "bindings":
        base["bindings"] = [
            {
                "actor": b["actor"],
                "contract_id": b["contract_id"],
                "binding": b["binding"],
                "value_names": sorted(b["values"]),
                "recorded": b["recorded"],
            }
            for b in inventory["bindings"]
        ]
        return base
    base["capabilities"] = [
        {"contract_id": p["contract_id"], "binding": p["binding"], "type": p["type"]}
        for p in inventory["providers"]
    ]
    return base


async def gather(
    client: LatticeClient, subjects: Subjects, kind: InventoryKind, *, timeout: float
) -> list[dict[str, Any]]:
    """The answers of every host (sorted by host id) that replied within ``timeout``."""
    replies = await client.gather(
        subjects.inventory(kind), b"", timeout=timeout, what=f"inventory of {kind}"
    )
    answers: list[dict[str, Any]] = []
    for raw in replies:
        try:
            answer = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            logger.warning("ignoring an inventory answer that is not JSON")
            continue
        if isinstance(answer, dict) and isinstance(answer.get("host_id"), str):
            answers.append(answer)
    return sorted(answers, key=lambda a: str(a["host_id"]))
