"""Just enough of NATS's decentralised auth for a test: operator, account and user JWTs.

NATS JWTs are signed like wascap's, but with the header ``{"typ":"JWT","alg":"ed25519-nkey"}``
and a ``nats`` claims object; the server checks the chain operator → account → user.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.servers import ServerProcess, nats_server
from wascc.keys.nkeys import KeyPair

__all__ = ["Chain", "make_chain", "secured_nats_server"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _encode(issuer: KeyPair, subject: str, name: str, nats: dict[str, Any]) -> str:
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public_key, "name": name}
    claims |= {"sub": subject, "nats": nats}
    digest = hashlib.sha512(json.dumps(claims, sort_keys=True).encode()).digest()[:32]
    claims = {"jti": base64.b32encode(digest).decode().rstrip("="), **claims}
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(issuer.sign(f"{header}.{body}".encode()))
    return f"{header}.{body}.{signature}"


class Chain:
    """An operator, one account and one user, with their JWTs."""

    def __init__(self) -> None:
        self.operator = KeyPair.generate("operator")
        self.account = KeyPair.generate("account")
        self.user = KeyPair.generate("user")
        unlimited = {"subs": -1, "data": -1, "payload": -1}
        self.operator_jwt = _encode(
            self.operator, self.operator.public_key, "op", {"type": "operator", "version": 2}
        )
        limits = unlimited | {"imports": -1, "exports": -1, "wildcards": True, "conn": -1}
        self.account_jwt = _encode(
            self.operator,
            self.account.public_key,
            "acc",
            {"limits": limits | {"leaf": -1}, "type": "account", "version": 2},
        )
        self.user_jwt = _encode(
            self.account,
            self.user.public_key,
            "user",
            {"pub": {}, "sub": {}, **unlimited, "type": "user", "version": 2},
        )

    def server_config(self) -> str:
        """nats-server configuration trusting this operator, with the account preloaded."""
        return (
            f'operator: "{self.operator_jwt}"\n'
            "resolver: MEMORY\n"
            f'resolver_preload: {{\n  {self.account.public_key}: "{self.account_jwt}"\n}}\n'
        )

    def creds(self) -> str:
        """A ``.creds`` file's text for the user."""
        return (
            "-----BEGIN NATS USER JWT-----\n"
            f"{self.user_jwt}\n"
            "------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{self.user.seed}\n"
            "------END USER NKEY SEED------\n"
        )


def make_chain() -> Chain:
    """A fresh operator/account/user chain."""
    return Chain()


@contextlib.contextmanager
def secured_nats_server(workdir: Path) -> Iterator[tuple[ServerProcess, Chain]]:
    """A nats-server in operator mode that admits only the returned chain's user."""
    chain = make_chain()
    config = workdir / "auth.conf"
    config.write_text(chain.server_config())
    with nats_server(workdir, "-c", str(config)) as server:
        yield server, chain
