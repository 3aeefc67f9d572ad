"""Which account each host of the lattice runs each actor under, as the lattice tells it.

An actor's identity is its issuer and its key: a host asked to start an actor whose key
another host runs under another account refuses, as a live update from another account is
refused. The directory is filled from one inventory query when the host joins, then kept up
to date from the hosts' events (``actor_started``, ``actor_update_complete``,
``actor_stopped``, ``host_stopped``), which are signed and come from trusted hosts only.
Inventory answers are not signed (waSCC's are not either), so a process with NATS access
could make a host refuse a start, never accept one: NATS permissions keep such processes
out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Directory"]


class Directory:
    """subject → {host id → issuer} for the actors the other hosts run, and the call aliases
    they registered (alias → {host id → subject})."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        self._runs: dict[str, dict[str, str]] = {}
        self._aliases: dict[str, dict[str, str]] = {}
        self.ready = asyncio.Event()  # set once the first inventory was read (or failed)

    def record(self, host_id: str, subject: object, issuer: object, alias: object = None) -> None:
        """``host_id`` runs ``subject`` under ``issuer`` (ignored unless both are text),
        registered there under the call alias ``alias`` if it is text."""
        if host_id != self.host_id and isinstance(subject, str) and isinstance(issuer, str):
            self._runs.setdefault(subject, {})[host_id] = issuer
            for hosts in self._aliases.values():  # an update may drop or change the alias
                if hosts.get(host_id) == subject:
                    del hosts[host_id]
            if isinstance(alias, str) and alias:
                self._aliases.setdefault(alias, {})[host_id] = subject
            self._aliases = {name: hosts for name, hosts in self._aliases.items() if hosts}

    def forget(self, host_id: str, subject: object = None) -> None:
        """``host_id`` stopped ``subject`` (``None``: the host stopped)."""
        if subject is None:
            subjects = list(self._runs)
        elif isinstance(subject, str):
            subjects = [subject]
        else:
            return
        for key in subjects:
            hosts = self._runs.get(key)
            if hosts is not None:
                hosts.pop(host_id, None)
                if not hosts:
                    del self._runs[key]
        for name, owners in list(self._aliases.items()):
            if owners.get(host_id) in subjects:
                del owners[host_id]
                if not owners:
                    del self._aliases[name]

    def fill(self, answers: Iterable[Mapping[str, Any]]) -> None:
        """Record every actor of the inventory answers (``wasmbus.inventory.actors``)."""
        for answer in answers:
            host_id = answer.get("host_id")
            actors = answer.get("actors")
            if not isinstance(host_id, str) or not isinstance(actors, list):
                continue
            for item in actors:
                claims = item.get("claims") if isinstance(item, dict) else None
                if isinstance(claims, dict):
                    self.record(
                        host_id, item.get("key"), claims.get("issuer"), item.get("call_alias")
                    )

    def alias(self, alias: str) -> str | None:
        """The actor another host registered under the call alias ``alias`` (the same
        actor may run on several hosts; if hosts disagree, the first host id in order)."""
        owners = self._aliases.get(alias)
        if not owners:
            return None
        return owners[min(owners)]

    def others(self, subject: str, issuer: str) -> dict[str, str]:
        """The hosts that run ``subject`` under another issuer than ``issuer``."""
        return {h: i for h, i in self._runs.get(subject, {}).items() if i != issuer}
