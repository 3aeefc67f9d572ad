"""``oci://`` references to modules in a registry: parsing, the canonical text, pinning.

``oci://REGISTRY[:PORT]/REPO[/MORE]:TAG`` names what the tag points to now;
``oci://REGISTRY/REPO@sha256:HEX`` names one manifest for ever (OCI's ``repo@digest``: the
digest of the manifest, which names the module's layer by its own digest). With both,
``:TAG@sha256:HEX``, the digest decides and the tag only tells a reader where it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from wascc.host.oci.errors import ReferenceInvalid

__all__ = ["SCHEME", "Reference", "is_reference"]

SCHEME: Final = "oci://"
LATEST: Final = "latest"
_EXAMPLE = "oci://registry.example.com/actors/echo:0.1.0"

# The grammars of the OCI distribution spec (repository components and tags) and of
# registry hosts (a DNS name or IPv4 address, or a bracketed IPv6 address, and a port).
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_reference(text: str) -> bool:
    """Whether ``text`` is meant as a registry reference (it starts with ``oci://``), valid
    or not: a caller then parses it rather than opening a file of that name."""
    return text.startswith(SCHEME)


@dataclass(frozen=True)
class Reference:
    """A module in a registry: ``registry`` (host and optional port), ``repository`` (its
    path), and a ``tag``, a manifest ``digest`` (``sha256:HEX``) or both."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """The reference ``text`` spells; ``ReferenceInvalid`` naming what is wrong."""

        def invalid(why: str) -> ReferenceInvalid:
            return ReferenceInvalid(
                f"{text!r} is not a module reference: {why}; write it as "
                f"oci://REGISTRY[:PORT]/REPOSITORY:TAG or ...@sha256:DIGEST (for example "
                f"{_EXAMPLE})",
                reference=text,
            )

        if not is_reference(text):
            raise invalid("it does not start with oci://")
        rest = text.removeprefix(SCHEME)
        rest, at, digest = rest.partition("@")
        if at and not _DIGEST.fullmatch(digest):
            raise invalid(f"{digest!r} is not a digest (sha256: and 64 lowercase hex digits)")
        registry, slash, path = rest.partition("/")
        if not slash or not path:
            raise invalid("a registry and a repository are needed")
        if not _HOST.fullmatch(registry):
            raise invalid(f"{registry!r} is not a registry host (NAME or NAME:PORT)")
        repository, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
        if colon and not _TAG.fullmatch(tag):
            raise invalid(f"{tag!r} is not a tag (letters, digits, '_', '.' and '-', at most 128)")
        for component in repository.split("/"):
            if not _COMPONENT.fullmatch(component):
                raise invalid(
                    f"{component!r} is not a repository name component (lowercase letters "
                    "and digits, separated by '.', '_' or '-')"
                )
        return cls(registry, repository, tag or None, digest or None)

    @property
    def pinned(self) -> bool:
        """Whether a digest names the content: it cannot change behind the caller's back."""
        return self.digest is not None

    @property
    def floating(self) -> bool:
        """Whether this names whatever was pushed last (``:latest`` or no tag, no digest)."""
        return not self.pinned and self.tag in (None, LATEST)

    @property
    def name(self) -> str:
        """``REGISTRY/REPOSITORY``: where the content lives, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def tagged(self) -> str:
        """``REGISTRY/REPOSITORY:TAG`` (``latest`` when no tag is given), the key under
        which the cache remembers what a tag resolved to."""
        return f"{self.name}:{self.tag or LATEST}"

    def with_digest(self, digest: str, *, keep_tag: bool = False) -> Reference:
        """This reference pinned to ``digest`` (the tag dropped unless ``keep_tag``)."""
        return Reference(self.registry, self.repository, self.tag if keep_tag else None, digest)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{SCHEME}{self.name}{tag}{digest}"
