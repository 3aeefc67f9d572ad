"""The media types of wasm modules in OCI registries, as the tools that push them write them.

A registry stores blobs and a manifest that lists them by digest and media type. Three
layouts of a wasm module are in use; ``wascc push`` writes the first, ``wascc pull`` reads
all three:

- wasm-to-oci (waSCC's and Krustlet's): config ``application/vnd.wasm.config.v1+json``,
  one layer ``application/vnd.wasm.content.layer.v1+wasm``;
- wasmCloud's: one layer ``application/vnd.module.wasm.content.layer.v1+wasm``;
- the CNCF Wasm OCI artifact: config ``application/vnd.wasm.config.v0+json``, one layer
  ``application/wasm``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANNOTATION_KEY",
    "ANNOTATION_NAME",
    "ANNOTATION_REV",
    "ANNOTATION_TITLE",
    "ANNOTATION_VERSION",
    "CNCF_CONFIG",
    "CNCF_LAYER",
    "DOCKER_MANIFEST",
    "MANIFEST_TYPES",
    "OCI_MANIFEST",
    "WASCC_CONFIG",
    "WASCC_LAYER",
    "WASMCLOUD_LAYER",
    "WASM_LAYERS",
]

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
# What a pull asks for: an image index (several platforms) holds no module of its own.
MANIFEST_TYPES: Final = (OCI_MANIFEST, DOCKER_MANIFEST)

WASCC_CONFIG: Final = "application/vnd.wasm.config.v1+json"
WASCC_LAYER: Final = "application/vnd.wasm.content.layer.v1+wasm"
WASMCLOUD_LAYER: Final = "application/vnd.module.wasm.content.layer.v1+wasm"
CNCF_CONFIG: Final = "application/vnd.wasm.config.v0+json"
CNCF_LAYER: Final = "application/wasm"
WASM_LAYERS: Final = frozenset({WASCC_LAYER, WASMCLOUD_LAYER, CNCF_LAYER})

ANNOTATION_TITLE: Final = "org.opencontainers.image.title"
ANNOTATION_VERSION: Final = "org.opencontainers.image.version"
ANNOTATION_KEY: Final = "dev.wascc.module.key"
ANNOTATION_REV: Final = "dev.wascc.module.rev"
ANNOTATION_NAME: Final = "dev.wascc.module.name"
