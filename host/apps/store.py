"""Where application specs and their status live: NATS JetStream, on the lattice's servers.

Nothing is kept in a process's memory: a spec applied from one machine is reconciled by a
process on another, and both survive a restart of NATS (JetStream keeps its streams on disk;
start ``nats-server -js -sd DIR``). Buckets, prefixed with the lattice's namespace:

- ``wascc_apps`` (key-value): ``NAME`` → ``{name, current, versions, deleted}``, and
  ``NAME.N`` → version N of the spec (``AppSpec.describe()`` plus when it was applied);
- ``wascc_modules`` (object store): each actor's signed module, by its claims hash;
- ``wascc_app_status`` (key-value): ``NAME`` → the last reconciliation (placements, error);
- ``wascc_lease`` (key-value with a time to live): which reconciler acts
  (``host.apps.reconciler``).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Final

import nats.js.errors

from wascc.host.apps.spec import AppSpec
from wascc.host.errors import LatticeError
from wascc.host.lattice.client import LatticeClient

__all__ = ["AppRecord", "AppStore", "AppStoreError"]

APPS: Final = "wascc_apps"
MODULES: Final = "wascc_modules"
STATUS: Final = "wascc_app_status"
LEASE: Final = "wascc_lease"
_JETSTREAM_FIX: Final = "start nats-server with JetStream (-js, and -sd DIR to keep it on disk)"


class AppStoreError(LatticeError):
    """The store cannot be reached or holds something unexpected; the message says why."""


@dataclass(frozen=True)
class AppRecord:
    """An application as stored: its current version number and every version kept."""

    name: str
    current: int
    versions: tuple[int, ...]
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "current": self.current,
            "versions": list(self.versions),
            "deleted": self.deleted,
        }

    @classmethod
    def from_json(cls, data: Any) -> AppRecord:
        try:
            return cls(
                str(data["name"]),
                int(data["current"]),
                tuple(int(v) for v in data["versions"]),
                bool(data.get("deleted", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AppStoreError(f"an application record in {APPS} is damaged ({exc})") from None


class AppStore:
    """The buckets of one lattice (``namespace``), opened (and made if missing) by ``open``."""

    def __init__(self, client: LatticeClient, namespace: str | None = None) -> None:
        self.client = client
        self._prefix = f"{namespace}_" if namespace else ""
        self._apps: Any = None
        self._status: Any = None
        self._modules: Any = None
        self._js: Any = None

    def bucket(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def open(self) -> AppStore:
        """Open the buckets, making those that do not exist yet."""
        self._js = self.client.jetstream("the application store")
        try:
            self._apps = await self._js.create_key_value(bucket=self.bucket(APPS), history=1)
            self._status = await self._js.create_key_value(bucket=self.bucket(STATUS), history=1)
            self._modules = await self._js.create_object_store(bucket=self.bucket(MODULES))
        except nats.errors.NoRespondersError:
            raise AppStoreError(
                f"the lattice's NATS ({self.client.url}) has no JetStream; {_JETSTREAM_FIX}"
            ) from None
        except nats.js.errors.Error as exc:
            raise AppStoreError(f"cannot open the application store: {exc}") from None
        return self

    async def open_existing(self) -> AppStore | None:
        """Open the buckets of specs and status if they exist (nothing is made: for readers
        like the dashboard); None when the lattice has none, or no JetStream."""
        self._js = self.client.jetstream("the application store")
        try:
            self._apps = await self._js.key_value(self.bucket(APPS))
            self._status = await self._js.key_value(self.bucket(STATUS))
        except (nats.js.errors.NotFoundError, nats.errors.NoRespondersError):
            return None
        except nats.js.errors.Error as exc:
            raise AppStoreError(f"cannot open the application store: {exc}") from None
        return self

    async def lease_bucket(self, ttl: float) -> Any:
        """The lease bucket: an entry not renewed within ``ttl`` seconds disappears."""
        try:
            return await self._js.create_key_value(bucket=self.bucket(LEASE), history=1, ttl=ttl)
        except nats.js.errors.BadRequestError:  # made earlier with another ttl: use it
            return await self._js.key_value(self.bucket(LEASE))

    # applications -----------------------------------------------------------------------------

    async def apply(self, spec: AppSpec, modules: dict[str, bytes]) -> int:
        """Store ``spec`` as the application's next version (its modules first, by hash);
        the new version number."""
        for digest, module in modules.items():
            await self._modules.put(digest, module)
        record = await self.record(spec.name)
        number = (max(record.versions) if record and record.versions else 0) + 1
        version = {**spec.describe(), "number": number, "applied_at": time.time()}
        await self._apps.put(f"{spec.name}.{number}", json.dumps(version).encode())
        versions = (*(record.versions if record else ()), number)
        await self._put_record(AppRecord(spec.name, number, versions))
        return number

    async def roll_back(self, name: str, number: int) -> None:
        """Make version ``number`` of ``name`` the current one again."""
        record = await self.record(name)
        if record is None:
            raise AppStoreError(f"no application {name} in the lattice; apply it first")
        if number not in record.versions:
            kept = ", ".join(str(v) for v in record.versions)
            raise AppStoreError(f"application {name} has no version {number} (kept: {kept})")
        await self._put_record(AppRecord(name, number, record.versions))

    async def delete(self, name: str) -> None:
        """Mark ``name`` deleted: the reconciler stops its actors, then forgets it."""
        record = await self.record(name)
        if record is None:
            raise AppStoreError(f"no application {name} in the lattice")
        await self._put_record(AppRecord(name, record.current, record.versions, deleted=True))

    async def forget(self, name: str) -> None:
        """Remove every trace of ``name`` (once its actors are stopped)."""
        record = await self.record(name)
        for number in record.versions if record else ():
            await self._purge(self._apps, f"{name}.{number}")
        await self._purge(self._apps, name)
        await self._purge(self._status, name)

    async def names(self) -> list[str]:
        """Every application's name."""
        try:
            keys = await self._apps.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(key for key in keys if "." not in key)

    async def record(self, name: str) -> AppRecord | None:
        data = await self._get(self._apps, name)
        return None if data is None else AppRecord.from_json(data)

    async def version(self, name: str, number: int) -> dict[str, Any]:
        data = await self._get(self._apps, f"{name}.{number}")
        if not isinstance(data, dict):
            raise AppStoreError(f"version {number} of application {name} is missing")
        return data

    async def described(self, name: str) -> dict[str, Any] | None:
        """``name``'s record with its current version's spec and its status, as JSON (what
        ``wascc ctl get app`` shows); None if there is no such application."""
        record = await self.record(name)
        if record is None:
            return None
        return {
            **record.to_json(),
            "spec": await self.version(name, record.current),
            "status": await self.status(name),
        }

    async def module(self, digest: str) -> bytes:
        try:
            result = await self._modules.get(digest)
        except nats.js.errors.ObjectNotFoundError:
            raise AppStoreError(f"the module {digest} is not in {MODULES}") from None
        return bytes(result.data)

    async def status(self, name: str) -> dict[str, Any] | None:
        data = await self._get(self._status, name)
        return data if isinstance(data, dict) else None

    async def set_status(self, name: str, status: dict[str, Any]) -> None:
        await self._status.put(name, json.dumps(status).encode())

    # ---------------------------------------------------------------------------------------

    async def _put_record(self, record: AppRecord) -> None:
        await self._apps.put(record.name, json.dumps(record.to_json()).encode())

    @staticmethod
    async def _get(bucket: Any, key: str) -> Any:
        try:
            entry = await bucket.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if entry.value is None:
            return None
        return json.loads(entry.value)

    @staticmethod
    async def _purge(bucket: Any, key: str) -> None:
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await bucket.purge(key)
