"""Pulled modules on disk, by digest, so that a pinned module never needs the registry twice.

Layout, under ``DATA_DIR/oci/`` (directories 0700, files 0600, like the rest of the data
directory)::

    blobs/sha256/HEX        each module's bytes, named by the digest of its layer
    index.json              {"manifests": {MANIFEST_DIGEST: {"layer": ..., "media_type": ...}},
                             "tags": {"REGISTRY/REPO:TAG": {"manifest": ..., "layer": ...}}}

Only verified content is stored (the caller checks digests and claims first), and a blob is
hashed again whenever it is read: a file changed on disk is dropped, never served. Files are
written to a temporary name and renamed into place, so a reader sees them whole or not at all;
the index is updated under a lock, so concurrent pulls keep each other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CacheEntry", "ModuleCache", "sha256_digest"]

logger = logging.getLogger("wascc.oci")


def sha256_digest(data: bytes) -> str:
    """The OCI digest of ``data``: ``sha256:`` and the lowercase hex SHA-256."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class CacheEntry:
    """What a manifest (or a tag, when it was last resolved) names: the module's layer."""

    manifest_digest: str
    layer_digest: str
    media_type: str


class ModuleCache:
    """Verified modules under ``root`` (``DATA_DIR/oci``), by digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index = root / "index.json"

    def blob_path(self, digest: str) -> Path:
        """Where the blob of ``digest`` (``sha256:HEX``) is kept."""
        algorithm, _, hex_digest = digest.partition(":")
        return self.root / "blobs" / algorithm / hex_digest

    def by_manifest(self, manifest_digest: str) -> CacheEntry | None:
        """The entry of a manifest pulled before, or None."""
        record = self._read_index()["manifests"].get(manifest_digest)
        return self._entry(manifest_digest, record)

    def by_tag(self, tagged: str) -> CacheEntry | None:
        """What ``REGISTRY/REPO:TAG`` resolved to when it was last pulled, or None."""
        record = self._read_index()["tags"].get(tagged)
        if not isinstance(record, dict):
            return None
        manifest = record.get("manifest")
        return self.by_manifest(manifest) if isinstance(manifest, str) else None

    def read_blob(self, digest: str) -> bytes | None:
        """The blob's bytes if kept and still hashing to ``digest``; a changed file is
        removed (with a warning) and None returned, as for a missing one."""
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if sha256_digest(data) != digest:
            logger.warning("cached module %s does not match its digest %s; removed", path, digest)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data

    def store(self, entry: CacheEntry, data: bytes, *, tagged: str | None = None) -> Path:
        """Keep the verified ``data`` of ``entry`` (and remember ``tagged`` → entry); the
        blob's path."""
        path = self.blob_path(entry.layer_digest)
        if self.read_blob(entry.layer_digest) is None:
            self._write(path, data)
        with self._locked():
            index = self._read_index()
            index["manifests"][entry.manifest_digest] = {
                "layer": entry.layer_digest,
                "media_type": entry.media_type,
            }
            if tagged is not None:
                index["tags"][tagged] = {
                    "manifest": entry.manifest_digest,
                    "layer": entry.layer_digest,
                }
            self._write(self._index, json.dumps(index, indent=1, sort_keys=True).encode())
        return path

    @staticmethod
    def _entry(manifest_digest: str, record: Any) -> CacheEntry | None:
        if not isinstance(record, dict):
            return None
        layer, media_type = record.get("layer"), record.get("media_type")
        if not isinstance(layer, str) or not isinstance(media_type, str):
            return None
        return CacheEntry(manifest_digest, layer, media_type)

    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            loaded = json.loads(self._index.read_bytes())
        except (OSError, ValueError):
            loaded = None  # none yet, or unreadable: the cache starts over, the registry has it
        index = loaded if isinstance(loaded, dict) else {}
        return {
            part: value if isinstance(value := index.get(part), dict) else {}
            for part in ("manifests", "tags")
        }

    @staticmethod
    def _make_dir(directory: Path) -> None:
        # mkdir(parents=True) would give the parents the umask's mode, not 0700.
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)

    def _write(self, path: Path, data: bytes) -> None:
        self._make_dir(path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._make_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
