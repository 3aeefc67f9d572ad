"""Registry credentials, from the places people keep them.

In order: the command line (``--user NAME`` with ``--password-stdin``), the environment
(``WASCC_REGISTRY_USER`` and ``WASCC_REGISTRY_PASSWORD``), and Docker's ``config.json``
(``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``), whose ``auths`` entry for
the registry holds a base64 ``user:password`` in ``auth`` or a ``username`` and ``password``.
Credential helpers (``credsStore``) are not run: give such a registry's password another way.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from wascc.host.oci.errors import CredentialsInvalid

__all__ = [
    "PASSWORD_ENV",
    "USER_ENV",
    "Credentials",
    "docker_config_path",
    "find_credentials",
    "where_credentials_come_from",
]

USER_ENV: Final = "WASCC_REGISTRY_USER"
PASSWORD_ENV: Final = "WASCC_REGISTRY_PASSWORD"
# Docker Hub's entry in config.json predates registries' host names as keys.
_DOCKER_HUB: Final = ("docker.io", "index.docker.io", "registry-1.docker.io")
_DOCKER_HUB_KEY: Final = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for one registry. ``source`` says where they
    came from, for messages; the password is never shown."""

    username: str
    password: str = field(repr=False)
    source: str = field(default="", compare=False)


def where_credentials_come_from(registry: str) -> str:
    """The sources ``find_credentials`` reads, for a message that asks for credentials."""
    return (
        f"--user NAME with --password-stdin, {USER_ENV} and {PASSWORD_ENV}, or an auths entry "
        f"for {registry} in {docker_config_path()} (`docker login {registry}` writes one)"
    )


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Docker's ``config.json``: in ``$DOCKER_CONFIG``, else in ``~/.docker``."""
    env = os.environ if environ is None else environ
    folder = env.get("DOCKER_CONFIG")
    return (
        Path(folder).expanduser() / "config.json"
        if folder
        else (Path.home() / ".docker" / "config.json")
    )


def find_credentials(
    registry: str,
    *,
    user: str | None = None,
    password: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The credentials for ``registry`` from the first source that has them, or None (the
    registry may not need any). ``user``/``password`` are the command line's; ``environ``
    defaults to ``os.environ``. ``CredentialsInvalid`` when a source is half filled in (a
    user without a password) or Docker's config cannot be read."""
    env = os.environ if environ is None else environ
    if user is not None:
        given = password if password is not None else env.get(PASSWORD_ENV)
        if given is None:
            raise CredentialsInvalid(
                f"--user {user} for {registry} needs a password: pipe it to --password-stdin "
                f"or set {PASSWORD_ENV}"
            )
        return Credentials(user, given, "--user")
    env_user, env_password = env.get(USER_ENV), env.get(PASSWORD_ENV)
    if env_user or env_password:
        if not (env_user and env_password):
            missing = PASSWORD_ENV if env_user else USER_ENV
            raise CredentialsInvalid(
                f"{USER_ENV} and {PASSWORD_ENV} go together: set {missing} too, or unset both"
            )
        return Credentials(env_user, env_password, f"{USER_ENV} and {PASSWORD_ENV}")
    return _from_docker_config(registry, docker_config_path(env))


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsInvalid(f"cannot read {path}: {exc}; fix or remove it") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialsInvalid(f"{path} is not JSON ({exc}); fix or remove it") from None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    entry = _entry_for(registry, auths)
    if entry is None:
        return None
    where = f"{path} (auths.{registry})"
    username, secret = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, colon, secret = decoded.partition(":")
        if not colon or not username:
            raise CredentialsInvalid(
                f"{where}: 'auth' is not base64 of USER:PASSWORD; run `docker login "
                f"{registry}` again or fix the entry"
            )
    if isinstance(username, str) and username and isinstance(secret, str):
        return Credentials(username, secret, str(path))
    return None


def _entry_for(registry: str, auths: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``auths`` entry of ``registry``: keys may be a bare host, or a URL (Docker writes
    ``https://HOST`` for some registries and a ``/v1/`` URL for Docker Hub)."""
    wanted = {registry, _DOCKER_HUB_KEY} if registry in _DOCKER_HUB else {registry}
    for key, entry in auths.items():
        host = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if (key in wanted or host == registry) and isinstance(entry, dict):
            return entry
    return None
