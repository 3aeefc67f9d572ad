"""Modules in registries, verified and cached: what ``wascc push``/``pull`` and the host use.

A pull checks everything before it returns or caches a byte: the manifest's digest against
the pin, the layer's size and digest against the manifest, and the module's claims
(signature and hash). The host's trust policy (which issuers) applies later, when the host
loads the module, exactly as for a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wascc.host.oci import mediatypes
from wascc.host.oci.artifact import EMPTY_CONFIG, build_manifest, wasm_layer
from wascc.host.oci.cache import CacheEntry, ModuleCache, sha256_digest
from wascc.host.oci.credentials import Credentials, find_credentials
from wascc.host.oci.errors import (
    DigestMismatch,
    FloatingTagRefused,
    ModuleInvalid,
    OciError,
    ReferenceInvalid,
    RegistryUnreachable,
)
from wascc.host.oci.reference import Reference
from wascc.keys.claims import Claims, validate_module
from wascc.keys.errors import ClaimsError

if TYPE_CHECKING:
    from wascc.host.oci.registry import RegistryClient

__all__ = ["ModuleStore", "Pulled"]

logger = logging.getLogger("wascc.oci")


@dataclass(frozen=True)
class Pulled:
    """A verified module from a registry. ``path`` is its file in the cache (loaders take
    paths); ``from_cache``: no byte came from the registry this time."""

    reference: Reference
    manifest_digest: str
    layer_digest: str
    media_type: str
    data: bytes = field(repr=False)
    path: Path
    from_cache: bool

    @property
    def pinned(self) -> Reference:
        """The reference pinned to what was pulled (``REGISTRY/REPO@sha256:...``)."""
        return self.reference.with_digest(self.manifest_digest)


class ModuleStore:
    """Pushes signed modules to registries and pulls them through the cache in
    ``data_dir/oci``. ``credentials`` None: each registry's are looked up
    (``find_credentials``); ``allow_latest``: pull ``:latest`` (or no tag) without a digest."""

    def __init__(
        self,
        data_dir: Path,
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        allow_latest: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.cache = ModuleCache(Path(data_dir) / "oci")
        self.insecure = insecure
        self.credentials = credentials
        self.allow_latest = allow_latest
        self.timeout = timeout

    def pull(self, reference: Reference | str) -> Pulled:
        """The verified module ``reference`` names. Pinned and cached: from the cache, no
        registry contacted. A tag whose registry cannot be reached: the module it resolved
        to last, with a warning. Raises ``OciError`` (see ``host.oci.errors``)."""
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        if ref.floating and not self.allow_latest:
            raise FloatingTagRefused(
                f"{ref} names whatever was pushed last ({ref.tag or 'no tag'}, no digest), so "
                "what runs could change without notice; pin a digest (...@sha256:...) or a "
                "version tag, or allow it with --allow-latest",
                reference=str(ref),
            )
        if ref.digest is not None:
            cached = self._cached(ref, self.cache.by_manifest(ref.digest))
            if cached is not None:
                return cached
            return self._fetch(ref)
        try:
            return self._fetch(ref)
        except RegistryUnreachable:
            cached = self._cached(ref, self.cache.by_tag(ref.tagged))
            if cached is None:
                raise
            logger.warning(
                "registry %s unreachable: %s served from the cache as %s, what the tag "
                "resolved to when last pulled",
                ref.registry,
                ref,
                cached.manifest_digest,
            )
            return cached

    def push(self, module: bytes, reference: Reference | str) -> str:
        """Push the signed ``module`` under the reference's tag; the manifest's digest (pin
        it as ``oci://REGISTRY/REPO@DIGEST``). Refuses an unsigned or invalid module."""
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        if ref.tag is None or ref.digest is not None:
            raise ReferenceInvalid(
                f"{ref}: a push names a tag and no digest (the registry computes the digest); "
                f"push to oci://{ref.name}:VERSION",
                reference=str(ref),
            )
        claims = self._claims(module, ref, fix="sign it with `wascc claims sign` first")
        manifest, config, layer = build_manifest(module, claims)
        digest = sha256_digest(manifest)
        with self._client(ref) as client:
            client.push_blob(EMPTY_CONFIG, config.digest)
            client.push_blob(module, layer.digest)
            reported = client.push_manifest(manifest, mediatypes.OCI_MANIFEST)
        if reported is not None and reported != digest:
            raise DigestMismatch(
                f"{ref}: the registry stored the manifest as {reported}, not as {digest}; it "
                "rewrote the manifest: use a registry that stores manifests as sent",
                reference=str(ref),
            )
        entry = CacheEntry(digest, layer.digest, layer.media_type)
        self._store(ref, entry, module, tagged=ref.tagged)
        return digest

    def _client(self, ref: Reference) -> RegistryClient:
        # Imported here: a pull served from the cache (a pinned start) needs no HTTP client.
        from wascc.host.oci.registry import RegistryClient  # noqa: PLC0415

        credentials = self.credentials
        if credentials is None:
            credentials = find_credentials(ref.registry)
        return RegistryClient(
            ref, insecure=self.insecure, credentials=credentials, timeout=self.timeout
        )

    def _cached(self, ref: Reference, entry: CacheEntry | None) -> Pulled | None:
        if entry is None:
            return None
        data = self.cache.read_blob(entry.layer_digest)
        if data is None:
            return None
        return Pulled(
            reference=ref,
            manifest_digest=entry.manifest_digest,
            layer_digest=entry.layer_digest,
            media_type=entry.media_type,
            data=data,
            path=self.cache.blob_path(entry.layer_digest),
            from_cache=True,
        )

    def _fetch(self, ref: Reference) -> Pulled:
        with self._client(ref) as client:
            manifest, _ = client.manifest()
            digest = sha256_digest(manifest)
            if ref.digest is not None and digest != ref.digest:
                raise DigestMismatch(
                    f"{ref}: the registry's manifest has the digest {digest}, not the pinned "
                    f"{ref.digest}; the content was changed or the pin is wrong: check the "
                    "digest `wascc push` printed",
                    reference=str(ref),
                )
            layer = wasm_layer(manifest, str(ref))
            data = client.blob(layer.digest, layer.size)
        actual = sha256_digest(data)
        if actual != layer.digest or len(data) != layer.size:
            raise DigestMismatch(
                f"{ref}: the module's layer is {len(data)} bytes with the digest {actual}, but "
                f"the manifest names {layer.size} bytes with {layer.digest}; the registry's "
                "content was changed or damaged: push the module again",
                reference=str(ref),
            )
        self._claims(data, ref, fix="push a module signed with `wascc claims sign`")
        entry = CacheEntry(digest, layer.digest, layer.media_type)
        path = self._store(ref, entry, data, tagged=None if ref.pinned else ref.tagged)
        return Pulled(
            reference=ref,
            manifest_digest=digest,
            layer_digest=layer.digest,
            media_type=layer.media_type,
            data=data,
            path=path,
            from_cache=False,
        )

    def _store(self, ref: Reference, entry: CacheEntry, data: bytes, *, tagged: str | None) -> Path:
        try:
            return self.cache.store(entry, data, tagged=tagged)
        except OSError as exc:
            raise OciError(
                f"{ref}: cannot write the module cache in {self.cache.root}: "
                f"{exc.strerror or exc}; choose a writable data directory (--data-dir or "
                "$WASCC_DATA)",
                reference=str(ref),
            ) from None

    @staticmethod
    def _claims(module: bytes, ref: Reference, *, fix: str) -> Claims:
        try:
            return validate_module(module)
        except ClaimsError as exc:
            raise ModuleInvalid(
                f"{ref}: the module is not a valid signed actor: {exc}; {fix}",
                reference=str(ref),
            ) from exc
