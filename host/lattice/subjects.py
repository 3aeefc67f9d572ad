"""The lattice's NATS subjects, all under ``wasmbus.`` or ``{namespace}.wasmbus.``.

Every subject the lattice uses is built here, so that no other part of the lattice writes a
subject by hand and the messaging provider's subjects can never be confused with ours.
docs/lattice.md says which NATS permissions a host needs for them.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from wascc.host.errors import LatticeError

__all__ = ["INVENTORY_KINDS", "InventoryKind", "Subjects", "capid_token", "check_token"]

InventoryKind = Literal["hosts", "actors", "bindings", "capabilities"]
INVENTORY_KINDS: Final[tuple[InventoryKind, ...]] = ("hosts", "actors", "bindings", "capabilities")

# One subject token: no separators, wildcards or white space, which would change its meaning.
_TOKEN: Final = re.compile(r"[^.*>\s]+")


def check_token(value: str, what: str) -> str:
    """``value`` if it can stand as one subject token, else ``LatticeError`` naming ``what``."""
    if not _TOKEN.fullmatch(value):
        raise LatticeError(
            f"{what} {value!r} cannot be used in a NATS subject: it must not be empty or "
            "contain '.', '*', '>' or white space"
        )
    return value


def capid_token(contract_id: str) -> str:
    """``wascc:keyvalue`` → ``wascc.keyvalue``: lower-cased, ``:`` as ``.``, as waSCC writes it."""
    for part in contract_id.split(":"):
        check_token(part, "contract id")
    return contract_id.lower().replace(":", ".")


class Subjects:
    """The subjects of one lattice namespace (``None``: the default, unprefixed one)."""

    __slots__ = ("namespace", "prefix")

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or None
        if self.namespace is not None:
            for part in self.namespace.split("."):
                check_token(part, "namespace")
        self.prefix = f"{self.namespace}.wasmbus" if self.namespace else "wasmbus"

    def actor(self, actor: str) -> str:
        """Invocations to an actor; queue group = subject, so hosts share its load."""
        return f"{self.prefix}.actor.{actor}"

    def provider_root(self, contract_id: str, binding: str) -> str:
        """A provider's root: ``BindActor`` and ``RemoveActor`` (every host serving it hears)."""
        token = check_token(binding, "binding name")
        return f"{self.prefix}.provider.{capid_token(contract_id)}.{token}"

    def provider_actor(self, contract_id: str, binding: str, actor: str) -> str:
        """One actor's calls to a provider; queue group = subject."""
        return f"{self.provider_root(contract_id, binding)}.{actor}"

    def inventory(self, kind: InventoryKind) -> str:
        """Scatter-gather inventory queries: every host answers."""
        return f"{self.prefix}.inventory.{kind}"

    @property
    def events(self) -> str:
        """The CloudEvents every host publishes."""
        return f"{self.prefix}.events"

    def control(self, host_id: str, action: str) -> str:
        """Commands to one host: ``launch``, ``terminate`` (waSCC's) and ``update`` (ours)."""
        return f"{self.prefix}.control.{host_id}.actor.{action}"

    @property
    def auction(self) -> str:
        """Auction requests: hosts whose labels match the constraints answer."""
        return f"{self.prefix}.control.auction.request"

    def __repr__(self) -> str:
        return f"Subjects(namespace={self.namespace!r})"
