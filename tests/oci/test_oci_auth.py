"""Credentials against a registry that asks for them (htpasswd basic auth), and TLS with a
certificate the client must verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.oci.conftest import PASSWORD, USER, Registry
from wascc.host.oci import (
    AuthenticationRefused,
    Credentials,
    ModuleStore,
    RegistryTlsFailed,
    find_credentials,
)

SAMPLE_TAG = "actors/echo:0.1.0"


def _round_trip(
    registry: Registry, module: bytes, data_dir: Path, credentials: Credentials | None = None
) -> None:
    store = ModuleStore(data_dir, insecure=True, credentials=credentials, timeout=5.0)
    digest = store.push(module, registry.ref(SAMPLE_TAG))
    fresh = ModuleStore(data_dir / "fresh", insecure=True, credentials=credentials, timeout=5.0)
    assert fresh.pull(registry.ref(f"actors/echo@{digest}")).data == module


def test_credentials_given_by_the_caller(
    auth_registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """--user with --password-stdin end up as explicit credentials: accepted."""
    _round_trip(auth_registry, signed_echo, data_dir, credentials=Credentials(USER, PASSWORD))


def test_credentials_from_the_environment(
    auth_registry: Registry, signed_echo: bytes, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WASCC_REGISTRY_USER and WASCC_REGISTRY_PASSWORD are found for every registry."""
    monkeypatch.setenv("WASCC_REGISTRY_USER", USER)
    monkeypatch.setenv("WASCC_REGISTRY_PASSWORD", PASSWORD)
    _round_trip(auth_registry, signed_echo, data_dir)


@pytest.mark.parametrize("style", ["auth", "username"])
def test_credentials_from_docker_config(
    *,
    auth_registry: Registry,
    signed_echo: bytes,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    style: str,
) -> None:
    """Docker's config.json ($DOCKER_CONFIG), with a base64 auth or username/password."""
    entry = (
        {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
        if style == "auth"
        else {"username": USER, "password": PASSWORD}
    )
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"auths": {auth_registry.host: entry}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.delenv("WASCC_REGISTRY_USER", raising=False)
    monkeypatch.delenv("WASCC_REGISTRY_PASSWORD", raising=False)
    assert find_credentials(auth_registry.host) == Credentials(USER, PASSWORD)
    _round_trip(auth_registry, signed_echo, data_dir)


def test_wrong_credentials_are_refused(
    auth_registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """A wrong password: refused, naming the user and where credentials come from."""
    store = ModuleStore(data_dir, insecure=True, credentials=Credentials(USER, "wrong", "the test"))
    with pytest.raises(AuthenticationRefused, match=f"refused the credentials of {USER}") as info:
        store.push(signed_echo, auth_registry.ref(SAMPLE_TAG))
    assert "wrong" not in str(info.value)
    with pytest.raises(AuthenticationRefused, match="WASCC_REGISTRY_USER"):
        store.pull(auth_registry.ref(SAMPLE_TAG))


def test_no_credentials_are_refused(
    auth_registry: Registry, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """None found anywhere: the error says where they are looked for."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))
    monkeypatch.delenv("WASCC_REGISTRY_USER", raising=False)
    monkeypatch.delenv("WASCC_REGISTRY_PASSWORD", raising=False)
    with pytest.raises(AuthenticationRefused, match=r"asks for credentials .* --password-stdin"):
        ModuleStore(data_dir, insecure=True).pull(auth_registry.ref(SAMPLE_TAG))


def test_tls_is_verified(
    tls_registry: Registry, signed_echo: bytes, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS is the default: an unknown CA is refused with the fix; trusted through
    REQUESTS_CA_BUNDLE, push and pull work over TLS."""
    ref = tls_registry.ref(SAMPLE_TAG)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(RegistryTlsFailed, match="REQUESTS_CA_BUNDLE"):
        ModuleStore(data_dir, timeout=5.0).push(signed_echo, ref)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_registry.ca_file))
    digest = ModuleStore(data_dir, timeout=5.0).push(signed_echo, ref)
    pulled = ModuleStore(data_dir / "fresh", timeout=5.0).pull(ref)
    assert (pulled.data, pulled.manifest_digest) == (signed_echo, digest)
