"""One registry's HTTP API (the OCI distribution spec), through oras.

oras brings the upload of blobs (a POST opening an upload session, a PUT closing it, wherever
the registry's ``Location`` points) and the token handshake of registries that answer 401
with a ``Bearer`` challenge (Docker Hub, GHCR, Harbor). ``_OrasRegistry`` replaces its
``do_request`` for three reasons: oras retries a failed connection five times with sleeps of
up to 83 s (a pull must fall back to its cache at once), it sets no timeout, and it answers
a ``Basic`` challenge (the registry's own htpasswd) as if it were a token realm.

Every failure becomes an ``OciError`` here; callers never see requests' or oras' exceptions.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import oras.container  # type: ignore[import-untyped]  # oras ships no type information
import oras.provider  # type: ignore[import-untyped]
import requests

from wascc.host.oci import mediatypes
from wascc.host.oci.credentials import Credentials, where_credentials_come_from
from wascc.host.oci.errors import (
    ArtifactNotFound,
    AuthenticationRefused,
    OciError,
    RegistryRefused,
    RegistryTlsFailed,
    RegistryUnreachable,
)
from wascc.host.oci.reference import Reference

__all__ = ["MAX_MANIFEST_BYTES", "MAX_MODULE_BYTES", "Fetched", "RegistryClient"]

Fetched = tuple[bytes, str]  # a manifest's bytes and its Content-Type

# What a registry may send before the client stops reading: a registry is another party, and
# a manifest or module without an end must not fill this host's memory.
MAX_MANIFEST_BYTES: Final = 4 * 2**20  # the limit the distribution spec sets registries
MAX_MODULE_BYTES: Final = 256 * 2**20  # as for a module uploaded to the admin endpoint
_CHUNK: Final = 2**16


class _OrasRegistry(oras.provider.Registry):  # type: ignore[misc]
    """oras' client with requests that fail fast, time out, and answer Basic challenges."""

    def __init__(self, *, insecure: bool, credentials: Credentials | None, timeout: float) -> None:
        super().__init__(insecure=insecure, tls_verify=True, auth_backend="token")
        self._credentials = credentials
        self._timeout = timeout
        self._basic: str | None = None
        if credentials is not None:
            self.auth.set_basic_auth(credentials.username, credentials.password)

    def do_request(  # noqa: PLR0917  (oras calls it with this signature, positionally)
        self,
        url: str,
        method: str = "GET",
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        sent = {**(headers or {}), **self._authorization()}
        response = self._send(method, url, data=data, json=json, headers=sent, stream=stream)
        if response.status_code in (401, 403) and self._answer(response):
            sent.update(self._authorization())
            response = self._send(method, url, data=data, json=json, headers=sent, stream=stream)
        return response

    def _authorization(self) -> dict[str, str]:
        if self._basic is not None:
            return {"Authorization": f"Basic {self._basic}"}
        token = getattr(self.auth, "token", None)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _answer(self, response: requests.Response) -> bool:
        """Take up the registry's challenge; whether the request is worth sending again."""
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if self._credentials is None or self._basic is not None:
                return False
            pair = f"{self._credentials.username}:{self._credentials.password}"
            self._basic = base64.b64encode(pair.encode()).decode()
            return True
        if scheme == "bearer":
            _, changed = self.auth.authenticate_request(response, {}, refresh=True)
            return bool(changed)
        return False

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        session: requests.Session = self.session
        return session.request(
            method, url, verify=self._tls_verify, timeout=self._timeout, **kwargs
        )


class RegistryClient:
    """The registry of one ``reference``: fetch its manifest and blobs, push new ones."""

    def __init__(
        self,
        reference: Reference,
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.reference = reference
        self._text = str(reference)
        self._credentials = credentials
        self._insecure = insecure
        self._oras = _OrasRegistry(insecure=insecure, credentials=credentials, timeout=timeout)
        self._base = f"{'http' if insecure else 'https'}://{reference.registry}/v2/"
        self._base += reference.repository

    def close(self) -> None:
        """Close the connections kept open for the next request."""
        self._oras.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def manifest(self) -> Fetched:
        """The manifest the reference names (by digest when pinned, else by tag), as sent."""
        target = self.reference.digest or self.reference.tag or "latest"
        headers = {"Accept": ", ".join(mediatypes.MANIFEST_TYPES)}
        with self._translated():
            response = self._oras.do_request(
                f"{self._base}/manifests/{target}", "GET", headers=headers, stream=True
            )
            self._check(response, "manifest")
            content = self._bounded(response, MAX_MANIFEST_BYTES, "manifest")
        return content, response.headers.get("Content-Type", "")

    def blob(self, digest: str, size: int) -> bytes:
        """The blob ``digest`` of the reference's repository, as sent (unverified), read up to
        ``size`` bytes (what the manifest says it has) and one more, so that a longer blob is
        seen without reading it all."""
        if size > MAX_MODULE_BYTES:
            raise RegistryRefused(
                f"{self._text}: the manifest names a module of {size} bytes, more than the "
                f"{MAX_MODULE_BYTES} this host accepts; push a smaller module",
                reference=self._text,
            )
        with self._translated():
            response = self._oras.do_request(f"{self._base}/blobs/{digest}", "GET", stream=True)
            self._check(response, f"blob {digest}")
            return self._bounded(response, size + 1, f"blob {digest}")

    def _bounded(self, response: requests.Response, limit: int, what: str) -> bytes:
        """The body, refused once it passes ``limit`` bytes (the connection is dropped)."""
        received = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK):
                received += chunk
                if len(received) > limit:
                    if limit == MAX_MANIFEST_BYTES:
                        raise RegistryRefused(
                            f"{self._text}: the registry's {what} is larger than "
                            f"{MAX_MANIFEST_BYTES} bytes; this is no module's manifest",
                            reference=self._text,
                        )
                    break  # a blob longer than its manifest says: the digest check refuses it
        finally:
            response.close()
        return bytes(received)

    def push_blob(self, data: bytes, digest: str) -> None:
        """Upload ``data`` (``digest``) unless the repository has it already."""
        # Asked first so that a refusal (401, 403) reads as one: oras would report it as an
        # upload session without a location.
        with self._translated():
            known = self._oras.do_request(f"{self._base}/blobs/{digest}", "HEAD")
        if known.status_code == 200:
            return
        if known.status_code != 404:
            self._check(known, f"blob {digest}")
        with tempfile.TemporaryDirectory(prefix="wascc-push-") as folder:
            path = os.path.join(folder, "blob")
            with open(path, "wb") as file:
                file.write(data)
            layer = {"digest": digest, "size": len(data)}
            with self._translated():
                response = self._oras.upload_blob(path, self._container(), layer)
        self._check(response, f"upload of blob {digest}")

    def push_manifest(self, manifest: bytes, media_type: str) -> str | None:
        """Put ``manifest`` under the reference's tag; the digest the registry reports."""
        url = f"{self._base}/manifests/{self.reference.tag}"
        headers = {"Content-Type": media_type}
        with self._translated():
            response = self._oras.do_request(url, "PUT", data=manifest, headers=headers)
        self._check(response, "manifest upload")
        digest: str | None = response.headers.get("Docker-Content-Digest")
        return digest

    def _container(self) -> Any:
        """oras' name for the repository. Built field by field: oras' parser would take a
        first path component with a dot in it (``my.org/echo``) for a registry host."""
        container = oras.container.Container("placeholder", registry=self.reference.registry)
        container.namespace = None
        container.repository = self.reference.repository
        return container

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """requests' and oras' exceptions as ``OciError``s that name the fix."""
        registry = self.reference.registry
        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise RegistryTlsFailed(
                f"{self._text}: TLS with {registry} failed ({_reason(exc)}); for a registry "
                "that serves plain HTTP use --insecure, for one whose certificate a private CA "
                "signed set REQUESTS_CA_BUNDLE to that CA's PEM file",
                reference=self._text,
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise RegistryUnreachable(
                f"{self._text}: cannot reach the registry {registry} ({_reason(exc)}); check "
                "the address and that the registry runs"
                + ("" if self._insecure else ", or use --insecure for a plain-HTTP registry"),
                reference=self._text,
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RegistryRefused(
                f"{self._text}: talking to {registry} failed: {_reason(exc)}",
                reference=self._text,
            ) from None
        except ValueError as exc:  # oras: an upload session without a Location
            raise RegistryRefused(
                f"{self._text}: {registry} broke off an upload: {exc}", reference=self._text
            ) from None

    def _check(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        registry, text = self.reference.registry, self._text
        said = _errors(response)
        error: OciError
        if status in (401, 403):
            if self._credentials is None:
                error = AuthenticationRefused(
                    f"{text}: {registry} asks for credentials (HTTP {status}{said}); give "
                    f"them with {where_credentials_come_from(registry)}",
                    reference=text,
                )
            else:
                error = AuthenticationRefused(
                    f"{text}: {registry} refused the credentials of {self._credentials.username} "
                    f"from {self._credentials.source or 'the caller'} (HTTP {status}{said}); "
                    f"check the user name, the password and the user's access to "
                    f"{self.reference.repository} (credentials come from "
                    f"{where_credentials_come_from(registry)})",
                    reference=text,
                )
        elif status == 404:
            error = ArtifactNotFound(
                f"{text}: {registry} has no such {what} (HTTP 404{said}); check the repository, "
                "tag and digest, or push the module first with `wascc push`",
                reference=text,
            )
        else:
            error = RegistryRefused(
                f"{text}: {registry} answered the {what} with HTTP {status}{said}",
                reference=text,
            )
        raise error


def _errors(response: requests.Response) -> str:
    """The registry's own error codes and messages (the spec's ``errors`` list), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    listed = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        return ""
    parts = [
        f"{item.get('code', '')}: {item.get('message', '')}".strip(": ")
        for item in listed
        if isinstance(item, dict)
    ]
    return f", {'; '.join(parts)}" if parts else ""


def _reason(exc: Exception) -> str:
    """The innermost cause's text, not requests' nest of wrappers."""
    cause: BaseException = exc
    while cause.__cause__ is not None or (cause.args and isinstance(cause.args[0], BaseException)):
        cause = cause.__cause__ or cause.args[0]
    return str(cause) or type(cause).__name__
