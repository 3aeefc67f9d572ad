"""NATS user credentials (decentralised auth): a user JWT and the user's nkey seed.

Both connections to NATS that the product makes can present them: an actor's messaging link
(``providers.messaging``, from binding values) and a host's lattice connection
(``host.lattice``, from ``--lattice-creds`` or the manifest). The server sends a nonce; the
client answers with the JWT and the nonce signed by the seed.

A ``.creds`` file, as ``nsc`` writes it, holds both between ``BEGIN``/``END`` lines.
Problems raise ``CredentialsError`` with a message that completes "the credentials …" style
sentences of each caller: it names the problem, never the secret.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from wascc.keys.errors import WasccError
from wascc.keys.nkeys import KeyPair, with_article

__all__ = ["CredentialsError", "UserCredentials", "load_creds_file", "user_credentials"]

_CREDS_BLOCK: Final = re.compile(
    r"-{3,}\s*BEGIN ([A-Z ]+?)\s*-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}\s*END"
)


class CredentialsError(WasccError):
    """NATS user credentials that cannot be used; the message says why (no secrets)."""


@dataclass(frozen=True, slots=True)
class UserCredentials:
    """A NATS user's JWT and seed. ``repr`` hides both: they are secrets."""

    jwt: str = field(repr=False)
    seed: str = field(repr=False)

    def user_jwt(self) -> bytearray:
        """nats-py's ``user_jwt_cb``: the JWT to present."""
        return bytearray(self.jwt.encode())

    def sign_nonce(self, nonce: str) -> bytes:
        """nats-py's ``signature_cb``: the server's nonce signed with the user's seed."""
        signature = KeyPair.from_seed(self.seed).sign(nonce.encode())
        return base64.urlsafe_b64encode(signature).rstrip(b"=")


def user_credentials(jwt: str, seed: str, *, jwt_name: str, seed_name: str) -> UserCredentials:
    """Checked credentials from a JWT and a seed; ``jwt_name``/``seed_name`` are what the
    caller's user calls them (``CLIENT_JWT``, ``the USER NKEY SEED block``) in messages."""
    try:
        kind = KeyPair.from_seed(seed).kind
    except WasccError:
        raise CredentialsError(f"{seed_name} is not a valid nkey seed") from None
    if kind != "user":
        raise CredentialsError(
            f"{seed_name} is the seed of {with_article(kind)} key; NATS needs a user seed (SU…)"
        )
    if jwt.count(".") != 2:
        raise CredentialsError(f"{jwt_name} is not a JWT (three dot-separated parts)")
    return UserCredentials(jwt=jwt, seed=seed)


def load_creds_file(path: str | Path) -> UserCredentials:
    """The credentials of a ``.creds`` file (``~`` expanded)."""
    where = str(path)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"{where!r} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CredentialsError(f"{where!r} is not a text .creds file") from None
    except (ValueError, RuntimeError):  # a NUL byte in the path; ~user of no user
        raise CredentialsError(f"{where!r} is not a path of a file that can be read") from None
    blocks = dict(_CREDS_BLOCK.findall(text))
    jwt, seed = blocks.get("NATS USER JWT", ""), blocks.get("USER NKEY SEED", "")
    if not jwt or not seed:
        raise CredentialsError(f"{where!r} lacks a USER JWT or a USER NKEY SEED block")
    return user_credentials(
        jwt,
        seed,
        jwt_name=f"the USER JWT block of {where!r}",
        seed_name=f"the USER NKEY SEED block of {where!r}",
    )
