"""A real registry for the OCI tests: Debian's ``docker-registry`` (CNCF distribution 2.8) on
a free 127.0.0.1 port, with its storage in the test's temporary directory; open, with
htpasswd basic auth, or serving TLS with a certificate made for the test. Always stopped.

The binary comes from the Debian package ``docker-registry`` (``.ci/run`` installs it, with
``apache2-utils`` for ``htpasswd``): missing, the tests are skipped here and fail in CI.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import WasccProcess, wascc_env
from tests.support.servers import ServerProcess
from tests.support.tools import require_tool
from wascc.host.oci.artifact import Descriptor
from wascc.host.oci.cache import sha256_digest
from wascc.host.oci.credentials import Credentials
from wascc.host.oci.reference import Reference
from wascc.host.oci.registry import RegistryClient

REGISTRY_BINARY = "docker-registry"
USER, PASSWORD = "wascc", "s3cret-pass"
READY_TIMEOUT = 10.0


class Registry:
    """A running ``docker-registry``: its address, storage and a way to push raw content."""

    def __init__(self, workdir: Path, *, auth: bool = False, tls: bool = False) -> None:
        binary = require_tool(REGISTRY_BINARY, "docker-registry")
        self.workdir = workdir
        self.storage = workdir / "storage"
        self.tls = tls
        self.credentials = Credentials(USER, PASSWORD, "the test") if auth else None
        self.ca_file: Path | None = None
        extra: dict[str, object] = {}
        if auth:
            htpasswd = require_tool("htpasswd", "apache2-utils")
            line = subprocess.run(
                [htpasswd, "-Bbn", USER, PASSWORD], capture_output=True, check=True, text=True
            ).stdout.strip()
            (workdir / "htpasswd").write_text(line + "\n")
            extra["auth"] = {"htpasswd": {"realm": "wascc-test", "path": str(workdir / "htpasswd")}}
        if tls:
            self.ca_file = _self_signed(workdir)
        self._extra = extra
        self.process = ServerProcess(
            REGISTRY_BINARY, lambda port: self._argv(binary, port), workdir
        )

    def _argv(self, binary: str, port: int) -> list[str]:
        http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": "wascc-test"}
        if self.ca_file is not None:
            http["tls"] = {
                "certificate": str(self.workdir / "cert.pem"),
                "key": str(self.workdir / "key.pem"),
            }
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}},
            "http": http,
            **self._extra,
        }
        path = self.workdir / "config.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        return [binary, "serve", str(path)]

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as a reference names the registry."""
        return f"127.0.0.1:{self.process.port}"

    def ref(self, path: str) -> str:
        """``oci://127.0.0.1:PORT/PATH``."""
        return f"oci://{self.host}/{path}"

    def start(self) -> None:
        """Start (or restart on the same port) and wait until ``/v2/`` answers."""
        self.process.start()
        scheme = "https" if self.tls else "http"
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(
                    f"{scheme}://{self.host}/v2/", timeout=1, context=context
                ):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    exc.close()
                    return
                exc.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the registry on {self.host} did not answer /v2/")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the registry: connections to its port are refused from now on."""
        self.process.stop()

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps the blob ``digest`` (distribution's filesystem layout)."""
        hex_digest = digest.removeprefix("sha256:")
        return (
            self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
        )

    def client(self, reference: str) -> RegistryClient:
        """A low-level client for ``reference``: what a third-party tool would push with."""
        return RegistryClient(
            Reference.parse(reference), insecure=not self.tls, credentials=self.credentials
        )

    def push_raw(
        self,
        reference: str,
        layers: list[tuple[str, bytes]],
        *,
        config: tuple[str, bytes] = ("application/vnd.oci.image.config.v1+json", b"{}"),
    ) -> str:
        """Push a manifest of our own making (``config`` and ``layers`` as (media type,
        bytes)) under ``reference``'s tag, unchecked; its digest."""
        config_descriptor = Descriptor.of(*config)
        descriptors = [Descriptor.of(media_type, data) for media_type, data in layers]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_descriptor.to_json(),
                "layers": [d.to_json() for d in descriptors],
            }
        ).encode()
        with self.client(reference) as client:
            client.push_blob(config[1], config_descriptor.digest)
            for (_, data), descriptor in zip(layers, descriptors, strict=True):
                client.push_blob(data, descriptor.digest)
            client.push_manifest(manifest, "application/vnd.oci.image.manifest.v1+json")
        return sha256_digest(manifest)


def _self_signed(workdir: Path) -> Path:
    """A certificate for 127.0.0.1 (its own CA) and its key; the certificate's path."""
    openssl = require_tool("openssl", "openssl")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return workdir / "cert.pem"


def _running(workdir: Path, **options: bool) -> Iterator[Registry]:
    workdir.mkdir()
    registry = Registry(workdir, **options)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """An open registry (plain HTTP, no credentials)."""
    yield from _running(tmp_path / "registry")


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that asks for USER/PASSWORD (htpasswd basic auth, plain HTTP)."""
    yield from _running(tmp_path / "auth-registry", auth=True)


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry serving TLS with a certificate for 127.0.0.1 that it signed itself."""
    yield from _running(tmp_path / "tls-registry", tls=True)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data directory (module cache) of the test's store."""
    return tmp_path / "data"


@pytest.fixture
def signed_echo(signer: Signer) -> bytes:
    """The echo sample actor, signed (name echo, revision 3)."""
    return signer.sign("echo", rev=3)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of ``wascc`` subprocesses: own key store, no Docker credentials."""
    return {**wascc_env(tmp_path / "keys"), "DOCKER_CONFIG": str(tmp_path / "no-docker")}


@pytest.fixture
def wascc(tmp_path: Path, env: dict[str, str]) -> Iterator[list[WasccProcess]]:
    """The ``wascc`` processes a test starts; every one is killed at teardown."""
    started: list[WasccProcess] = []
    yield started
    for process in started:
        process.kill()
