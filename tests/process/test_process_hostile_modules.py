"""Ambiguous and hostile tokens, through every command a module goes through: a module with
two claims sections, and validly signed tokens whose dates no calendar holds. Each command
answers with a claims error naming the problem and exits non-zero, never with a traceback;
the admin endpoint answers 409, never 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer, module_path
from tests.keys.conftest import with_section
from tests.process.process_support import WasccProcess, run_wascc
from tests.process.test_process_up import post
from wascc.keys.jwt import encode_token
from wascc.keys.nkeys import KeyPair
from wascc.keys.wasm import embed_token, find_token, module_hash

Up = Callable[..., WasccProcess]
HUGE = 10**30


def two_tokens(signer: Signer) -> bytes:
    """echo signed by the test's account, with a second token appended by an attacker's
    account claiming more capabilities (the last section used to win)."""
    mallory = KeyPair.generate("account")
    theirs = signer.impersonate(
        mallory,
        "echo",
        name="echo",
        caps=["wascc:http_server", "wascc:keyvalue", "wascc:messaging"],
        rev=2,
    )
    token = find_token(theirs)
    assert token is not None
    signed = signer.sign("echo", caps=["wascc:http_server"], rev=2)
    return with_section(signed, "jwt", token.encode())


def dated(signer: Signer, **dates: int) -> bytes:
    """echo signed with a validly signed token whose date claims are ``dates``."""
    module = module_path("echo").read_bytes()
    claims: dict[str, object] = {
        "jti": uuid.uuid4().hex,
        "iat": 1_700_000_000,
        "iss": signer.account.public_key,
        "sub": signer.module_key("echo").public_key,
    }
    claims |= dates
    claims["wascap"] = {
        "name": "echo",
        "hash": module_hash(module),
        "caps": ["wascc:http_server"],
        "rev": 2,
        "prov": False,
    }
    return embed_token(module, encode_token(claims, signer.account))


HOSTILE: dict[str, tuple[Callable[[Signer], bytes], str]] = {
    "two-tokens": (two_tokens, "2 claims sections"),
    "exp-huge": (lambda s: dated(s, exp=HUGE), "the claim 'exp'"),
    "iat-negative": (lambda s: dated(s, iat=-HUGE), "the claim 'iat'"),
    "nbf-huge": (lambda s: dated(s, nbf=HUGE), "the claim 'nbf'"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_module_through_every_command(
    kind: str, signer: Signer, env: dict[str, str], tmp_path: Path, up: Up
) -> None:
    """claims inspect, validate, call, up and a live update all refuse it with the reason."""
    make, reason = HOSTILE[kind]
    (tmp_path / "bad_s.wasm").write_bytes(make(signer))
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"], rev=1))
    (tmp_path / "bad.yaml").write_text("actors: [bad_s.wasm]\ncapabilities: []\nbindings: []\n")
    commands = {
        "inspect": (("claims", "inspect", "bad_s.wasm"), 1),
        "validate": (("validate", "bad.yaml"), 2),
        "call": (("call", "bad_s.wasm", "Echo", '"x"'), 1),
        "up": (("up", "bad.yaml", "--data-dir", "upd"), 2),
    }
    for name, (args, status) in commands.items():
        done = run_wascc(*args, env=env, cwd=tmp_path, timeout=60)
        assert done.returncode == status, (name, done.stderr)
        assert reason in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, name
    good = tmp_path / "good.yaml"
    good.write_text("actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n")
    host = up(good, "--admin", "127.0.0.1:0")
    status, body = post(
        f"http://{host.admin()}/actors/update?force=true",
        (tmp_path / "bad_s.wasm").read_bytes(),
        headers={**host.auth(), "Content-Type": "application/wasm"},
    )
    assert status == 409, body
    assert reason in json.loads(body)["error"]
    update = run_wascc(
        "update", "bad_s.wasm", "--host-admin", host.admin(), "--data-dir", str(host.data_dir()),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert update.returncode == 1
    assert reason in update.stderr
    assert "Traceback" not in host.stderr
