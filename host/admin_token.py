"""The admin endpoint's bearer token: made by ``wascc up --admin``, sent by ``wascc call`` and
``wascc update``.

The host makes a new token each time its admin endpoint starts and writes it to
``admin-{PORT}.token`` (mode 0600, the port actually bound) in its data directory, where only
the operator's account can read it; the file is removed when the endpoint closes. A client
sends it as ``Authorization: Bearer TOKEN``. It finds it, in this order, in the file given
with ``--admin-token-file``, in ``$WASCC_ADMIN_TOKEN`` (the token itself), or in
``admin-{PORT}.token`` of the host's data directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wascc.host.errors import WasccError

__all__ = [
    "TOKEN_ENV",
    "AdminToken",
    "AdminTokenError",
    "find_token",
    "new_token",
    "read_token",
    "remove_token",
    "token_path",
    "write_token",
]

TOKEN_ENV = "WASCC_ADMIN_TOKEN"
"""The environment variable a client takes the token itself from."""

_MODE = 0o600


class AdminTokenError(WasccError):
    """The token file cannot be written (host) or found or read (client)."""


@dataclass(frozen=True)
class AdminToken:
    """A token as a client found it; ``source`` says where, for messages (never the secret)."""

    secret: str = field(repr=False)
    source: str


def token_path(data_dir: Path, port: int) -> Path:
    """Where the host listening on ``port`` keeps its token: ``DATA_DIR/admin-PORT.token``."""
    return data_dir / f"admin-{port}.token"


def new_token() -> str:
    """A fresh secret (256 random bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def write_token(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path``, readable by the owner only from the first byte on.

    It goes to a temporary file next to ``path`` first and is then renamed over it, so a
    reader sees the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, _MODE)
        try:
            os.fchmod(fd, _MODE)  # it may have existed with a wider mode
            os.write(fd, f"{secret}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise AdminTokenError(
            f"cannot write the admin token to {path}: {exc.strerror or exc}; make the data "
            "directory writable or choose another with --data-dir"
        ) from None


def remove_token(path: Path, secret: str) -> None:
    """Remove the token file if it still holds ``secret`` (another host may have replaced
    it since); never raises: the process is going away either way."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.read_text(encoding="ascii").strip() == secret:
            path.unlink()


def read_token(path: Path) -> AdminToken:
    """The token in ``path``; ``AdminTokenError`` if it is missing, unreadable or empty."""
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AdminTokenError(f"no admin token file {path}") from None
    except UnicodeDecodeError:
        raise AdminTokenError(f"{path} does not hold an admin token") from None
    except OSError as exc:
        raise AdminTokenError(f"cannot read the admin token file {path}: {exc.strerror}") from None
    if not secret:
        raise AdminTokenError(f"the admin token file {path} is empty")
    return AdminToken(secret, str(path))


def find_token(
    port: int,
    *,
    token_file: Path | None,
    data_dir: Path,
    environ: Mapping[str, str] = os.environ,
) -> AdminToken:
    """The token for the host whose admin endpoint listens on ``port``: from ``token_file``,
    else ``$WASCC_ADMIN_TOKEN``, else ``admin-PORT.token`` in ``data_dir``."""
    if token_file is not None:
        return read_token(token_file)
    secret = environ.get(TOKEN_ENV, "").strip()
    if secret:
        return AdminToken(secret, f"${TOKEN_ENV}")
    path = token_path(data_dir, port)
    try:
        return read_token(path)
    except AdminTokenError as exc:
        raise AdminTokenError(
            f"{exc}; the host writes it when `wascc up --admin` starts: give the host's data "
            f"directory with --data-dir (or $WASCC_DATA), the file with --admin-token-file, or "
            f"the token itself in ${TOKEN_ENV}"
        ) from None
