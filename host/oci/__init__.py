"""Signed modules in OCI registries: ``oci://`` references, credentials, push and pull
through a verifying cache in the data directory.

Public face: ``Reference`` and ``is_reference``, ``Credentials`` and ``find_credentials``,
``ModuleStore`` (``pull`` → ``Pulled``, ``push``) and the ``OciError`` tree
(``host.oci.errors``). ``ModuleStore`` and ``Pulled`` are imported on first use: they bring
in the HTTP client (oras, requests), which ``wascc --help`` must not pay for. The command
line's options for modules that may come from a registry are in ``host.oci.options``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wascc.host.lazy import lazy_exports
from wascc.host.oci.credentials import Credentials, find_credentials
from wascc.host.oci.errors import (
    ArtifactNotFound,
    AuthenticationRefused,
    CredentialsInvalid,
    DigestMismatch,
    FloatingTagRefused,
    ModuleInvalid,
    NotAWasmArtifact,
    OciError,
    ReferenceInvalid,
    RegistryRefused,
    RegistryTlsFailed,
    RegistryUnreachable,
)
from wascc.host.oci.reference import Reference, is_reference

if TYPE_CHECKING:
    from wascc.host.oci.store import ModuleStore, Pulled

__all__ = [
    "ArtifactNotFound",
    "AuthenticationRefused",
    "Credentials",
    "CredentialsInvalid",
    "DigestMismatch",
    "FloatingTagRefused",
    "ModuleInvalid",
    "ModuleStore",
    "NotAWasmArtifact",
    "OciError",
    "Pulled",
    "Reference",
    "ReferenceInvalid",
    "RegistryRefused",
    "RegistryTlsFailed",
    "RegistryUnreachable",
    "find_credentials",
    "is_reference",
]

__getattr__ = lazy_exports(__name__, {"ModuleStore": "store", "Pulled": "store"})
