"""The errors of OCI registries and their module cache, one branch of ``WasccError``::

    WasccError
    └── OciError                      a module could not be pushed or pulled (.reference)
        ├── ReferenceInvalid          the text is no oci://REGISTRY/REPO:TAG[@sha256:HEX]
        ├── FloatingTagRefused        :latest (or no tag) without a digest, not allowed
        ├── CredentialsInvalid        a credential source is incomplete or unreadable
        ├── RegistryUnreachable       connection refused or timed out (also ConnectionError)
        ├── RegistryTlsFailed         the TLS handshake or certificate check failed
        ├── AuthenticationRefused     401/403: no or wrong credentials
        ├── ArtifactNotFound          404: no such repository, tag or digest
        ├── RegistryRefused           any other error answer of the registry
        ├── DigestMismatch            content that does not hash to its digest
        ├── NotAWasmArtifact          the manifest holds no (or several) wasm layers
        └── ModuleInvalid             the module is unsigned or its claims do not check out

Every message names the reference and the fix.
"""

from __future__ import annotations

from wascc.keys.errors import WasccError

__all__ = [
    "ArtifactNotFound",
    "AuthenticationRefused",
    "CredentialsInvalid",
    "DigestMismatch",
    "FloatingTagRefused",
    "ModuleInvalid",
    "NotAWasmArtifact",
    "OciError",
    "ReferenceInvalid",
    "RegistryRefused",
    "RegistryTlsFailed",
    "RegistryUnreachable",
]


class OciError(WasccError):
    """A module could not be pushed to or pulled from a registry. ``reference`` is the
    ``oci://`` text concerned, when there is one."""

    def __init__(self, message: str, *, reference: str | None = None) -> None:
        self.reference = reference
        super().__init__(message)


class ReferenceInvalid(OciError, ValueError):
    """The text is not an ``oci://REGISTRY[:PORT]/REPO[:TAG][@sha256:HEX]`` reference."""


class FloatingTagRefused(OciError):
    """A reference that may name other content tomorrow (``:latest``, or no tag and no
    digest) was refused: a host should run what its operator pinned."""


class CredentialsInvalid(OciError):
    """A source of registry credentials is incomplete or cannot be read."""


class RegistryUnreachable(OciError, ConnectionError):
    """The registry refused the connection or did not answer in time."""


class RegistryTlsFailed(OciError):
    """The TLS handshake or the certificate check with the registry failed."""


class AuthenticationRefused(OciError):
    """The registry asked for credentials (401) or refused the ones given (401/403)."""


class ArtifactNotFound(OciError):
    """The registry has no such repository, tag or digest (404)."""


class RegistryRefused(OciError):
    """The registry answered a request with an error other than 401, 403 or 404."""


class DigestMismatch(OciError):
    """Content did not hash to the digest that names it: tampered, or a wrong pin."""


class NotAWasmArtifact(OciError):
    """The manifest holds no wasm layer of a known media type, or more than one."""


class ModuleInvalid(OciError):
    """The module is not signed, or its claims (hash, signature, dates) do not check out."""
