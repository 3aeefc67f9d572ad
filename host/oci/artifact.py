"""The manifest of a wasm module: the one ``wascc push`` writes, and the module's layer in
any of the layouts ``wascc pull`` accepts (see ``mediatypes``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wascc.host.oci import mediatypes
from wascc.host.oci.cache import sha256_digest
from wascc.host.oci.errors import NotAWasmArtifact
from wascc.keys.claims import Claims

__all__ = ["EMPTY_CONFIG", "Descriptor", "build_manifest", "wasm_layer"]

# wasm-to-oci's config holds nothing: the module describes itself (its claims).
EMPTY_CONFIG = b"{}"


@dataclass(frozen=True)
class Descriptor:
    """A blob as a manifest names it: media type, digest, size."""

    media_type: str
    digest: str
    size: int

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Descriptor:
        """The descriptor of ``data``."""
        return cls(media_type, sha256_digest(data), len(data))

    def to_json(self, **extra: Any) -> dict[str, Any]:
        """The descriptor as the manifest's JSON spells it."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


def module_annotations(claims: Claims) -> dict[str, str]:
    """The manifest's annotations for a module with ``claims``: who it is, at which revision
    (annotation values are strings, and absent claims are left out)."""
    found = {
        mediatypes.ANNOTATION_TITLE: claims.name,
        mediatypes.ANNOTATION_VERSION: claims.ver
        or (None if claims.rev is None else str(claims.rev)),
        mediatypes.ANNOTATION_KEY: claims.subject,
        mediatypes.ANNOTATION_REV: None if claims.rev is None else str(claims.rev),
        mediatypes.ANNOTATION_NAME: claims.name,
    }
    return {key: value for key, value in found.items() if value is not None}


def build_manifest(module: bytes, claims: Claims) -> tuple[bytes, Descriptor, Descriptor]:
    """The wasm-to-oci manifest of ``module`` (its bytes, as pushed), with the descriptors of
    its config and layer."""
    config = Descriptor.of(mediatypes.WASCC_CONFIG, EMPTY_CONFIG)
    layer = Descriptor.of(mediatypes.WASCC_LAYER, module)
    layer_annotations = {mediatypes.ANNOTATION_TITLE: f"{claims.name}.wasm"} if claims.name else {}
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [
            layer.to_json(**({"annotations": layer_annotations} if layer_annotations else {}))
        ],
        "annotations": module_annotations(claims),
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), config, layer


def wasm_layer(manifest: bytes, reference: str) -> Descriptor:
    """The one wasm layer of ``manifest``; ``NotAWasmArtifact`` naming the media types found
    when it has none (or several, or is no image manifest at all)."""
    try:
        document = json.loads(manifest)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise NotAWasmArtifact(
            f"{reference} is not a wasm artifact: its manifest is not a JSON object",
            reference=reference,
        )
    layers = document.get("layers")
    descriptors = [_descriptor(layer) for layer in layers] if isinstance(layers, list) else []
    wasm = [d for d in descriptors if d is not None and d.media_type in mediatypes.WASM_LAYERS]
    if len(wasm) == 1:
        return wasm[0]
    config = document.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    found = [str(document.get("mediaType") or "no manifest media type")]
    found.append(f"config {config_type or '(none)'}")
    found.extend(f"layer {d.media_type}" if d else "layer (malformed)" for d in descriptors)
    why = "several wasm layers" if wasm else "no wasm layer"
    raise NotAWasmArtifact(
        f"{reference} is not a wasm artifact ({why}; found: {', '.join(found)}); a module's "
        f"manifest has one layer of type {', '.join(sorted(mediatypes.WASM_LAYERS))}: push it "
        "with `wascc push`",
        reference=reference,
    )


def _descriptor(layer: Any) -> Descriptor | None:
    if not isinstance(layer, dict):
        return None
    media_type, digest, size = layer.get("mediaType"), layer.get("digest"), layer.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    return Descriptor(media_type, digest, size)
