"""References and credentials, without a registry: the grammar, pinning, floating tags,
and every place credentials are read from."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from wascc.host.oci import (
    Credentials,
    CredentialsInvalid,
    Reference,
    ReferenceInvalid,
    find_credentials,
    is_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci://127.0.0.1:5000/echo:0.1.0", Reference("127.0.0.1:5000", "echo", "0.1.0", None)),
        ("oci://r.example.com/a/b/c:v1", Reference("r.example.com", "a/b/c", "v1", None)),
        (f"oci://localhost/echo@{DIGEST}", Reference("localhost", "echo", None, DIGEST)),
        (f"oci://r.io/my.org/echo:1@{DIGEST}", Reference("r.io", "my.org/echo", "1", DIGEST)),
        ("oci://[::1]:5000/echo", Reference("[::1]:5000", "echo", None, None)),
    ],
)
def test_references_parse_and_print_back(text: str, expected: Reference) -> None:
    """Each part lands in its field, and the text is canonical."""
    parsed = Reference.parse(text)
    assert parsed == expected
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("registry.io/echo:1", "does not start with oci://"),
        ("oci://registry.io", "a registry and a repository are needed"),
        ("oci://registry.io/Echo:1", "'Echo' is not a repository name component"),
        ("oci://registry.io/echo:bad tag", "is not a tag"),
        ("oci://registry.io/echo@sha256:abc", "is not a digest"),
        ("oci://registry.io/echo@md5:" + "a" * 32, "is not a digest"),
        ("oci://bad_host/echo:1", "is not a registry host"),
        ("oci://registry.io//echo:1", "'' is not a repository name component"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, why: str) -> None:
    """The message names the text, the problem and the form to use."""
    with pytest.raises(ReferenceInvalid) as info:
        Reference.parse(text)
    assert why in str(info.value)
    assert "oci://REGISTRY[:PORT]/REPOSITORY:TAG" in str(info.value)


def test_pinned_and_floating() -> None:
    """A digest pins (with or without a tag); :latest or no tag without one floats."""
    assert Reference.parse(f"oci://r.io/e:latest@{DIGEST}").pinned
    assert not Reference.parse(f"oci://r.io/e:latest@{DIGEST}").floating
    assert Reference.parse("oci://r.io/e:latest").floating
    assert Reference.parse("oci://r.io/e").floating
    assert not Reference.parse("oci://r.io/e:1.2.3").floating
    assert is_reference("oci://anything")
    assert not is_reference("./echo.wasm")


def test_credentials_in_order(tmp_path: Path) -> None:
    """The caller's, then the environment's, then Docker's config.json; none: None."""
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"docker-user:docker-pass").decode()
    config.write_text(json.dumps({"auths": {"https://r.io": {"auth": auth}}}))
    docker = {"DOCKER_CONFIG": str(tmp_path)}
    env = {**docker, "WASCC_REGISTRY_USER": "env-user", "WASCC_REGISTRY_PASSWORD": "env-pass"}
    assert find_credentials("r.io", user="u", password="p", environ=env) == Credentials("u", "p")
    assert find_credentials("r.io", user="u", environ=env) == Credentials("u", "env-pass")
    assert find_credentials("r.io", environ=env) == Credentials("env-user", "env-pass")
    assert find_credentials("r.io", environ=docker) == Credentials("docker-user", "docker-pass")
    assert find_credentials("other.io", environ=docker) is None
    assert find_credentials("r.io", environ={"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_docker_hub_uses_its_legacy_key(tmp_path: Path) -> None:
    """Docker writes Docker Hub's entry under https://index.docker.io/v1/."""
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"username": "u", "password": "p"}}})
    )
    found = find_credentials("docker.io", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert found == Credentials("u", "p")


@pytest.mark.parametrize(
    ("environ", "config", "why"),
    [
        ({"WASCC_REGISTRY_USER": "u"}, None, "set WASCC_REGISTRY_PASSWORD too"),
        ({}, "{not json", "is not JSON"),
        ({}, json.dumps({"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}), "not base64 of USER"),
    ],
)
def test_broken_credential_sources_say_how_to_fix_them(
    tmp_path: Path, environ: dict[str, str], config: str | None, why: str
) -> None:
    """Half an environment pair, an unreadable config.json, an auth without a colon."""
    if config is not None:
        (tmp_path / "config.json").write_text(config)
    with pytest.raises(CredentialsInvalid, match=why):
        find_credentials("r.io", environ={**environ, "DOCKER_CONFIG": str(tmp_path)})


def test_a_user_without_a_password_is_refused() -> None:
    """--user alone, and no password in the environment: say how to give one."""
    with pytest.raises(CredentialsInvalid, match="--password-stdin"):
        find_credentials("r.io", user="u", environ={})


def test_the_password_is_never_shown() -> None:
    """Credentials print without their password."""
    assert "hunter2" not in repr(Credentials("u", "hunter2", "--user"))
