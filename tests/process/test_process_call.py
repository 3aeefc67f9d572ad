"""``wascc call`` on a throwaway host and on a running one, and ``wascc update``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Signer
from tests.process.process_support import SignedActor, WasccProcess, run_wascc
from tests.process.test_process_up import get
from wascc.keys.nkeys import KeyPair

Actors = dict[str, SignedActor]
Up = Callable[..., WasccProcess]

ECHO = (
    "actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
    "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '0'}}\n"
)
REQUEST = '{"method": "GET", "path": "/x", "queryString": "a=1", "body": "hi"}'


def echoed(stdout: str) -> dict[str, object]:
    """The echo actor's description of the request, from a printed ``HandleRequest`` reply."""
    reply = json.loads(stdout)
    assert reply["statusCode"] == 200
    return json.loads(reply["body"])  # type: ignore[no-any-return]


def test_call_a_module_file_on_a_throwaway_host(
    actors: Actors, env: dict[str, str], tmp_path: Path
) -> None:
    """A known operation's JSON is encoded as its message and the reply decoded."""
    result = run_wascc("call", "echo_s.wasm", "HandleRequest", REQUEST, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = echoed(result.stdout)
    assert (seen["path"], seen["query_string"], seen["body"]) == ("/x", "a=1", "hi")


def test_call_unknown_operation_uses_msgpack_from_file_and_stdin(
    actors: Actors, env: dict[str, str], tmp_path: Path
) -> None:
    """An unknown operation sends msgpack of the JSON (from @FILE or stdin) and decodes it."""
    (tmp_path / "data.json").write_text('{"a": [1, 2], "b": "c"}')
    result = run_wascc("call", "echo_s.wasm", "Echo", "@data.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": [1, 2], "b": "c"}
    result = run_wascc("call", "echo_s.wasm", "Echo", "-", env=env, cwd=tmp_path, stdin="[true]")
    assert json.loads(result.stdout) == [True]


def test_call_binds_in_memory_logging(actors: Actors, env: dict[str, str], tmp_path: Path) -> None:
    """An actor that claims wascc:logging gets the logging provider on the throwaway host."""
    args = ("call", "logger_s.wasm", "HandleRequest", REQUEST, "--log-level", "info")
    result = run_wascc(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["body"] == "logged"
    assert "logger: handling request for /x" in result.stderr


def test_call_errors_are_one_line(actors: Actors, env: dict[str, str], tmp_path: Path) -> None:
    """Guest errors, bad messages and bad targets print one clear line and exit 1 or 2."""
    failed = run_wascc("call", "echo_s.wasm", "Nope", env=env, cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: actor echo (")
    assert "unknown operation: Nope" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    bad = run_wascc("call", "echo_s.wasm", "HandleRequest", '{"path": "/"}', env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert "Error: HttpRequest: required field 'method' is missing" in bad.stderr
    notjson = run_wascc("call", "echo_s.wasm", "Echo", "{nope", env=env, cwd=tmp_path)
    assert notjson.returncode == 2
    assert "DATA is not JSON" in notjson.stderr
    nofile = run_wascc("call", "MABC", "Echo", env=env, cwd=tmp_path)
    assert nofile.returncode == 2
    assert "add --host-admin HOST:PORT" in nofile.stderr


def test_call_and_update_on_a_running_host(
    *,
    actors: Actors,
    manifest: Callable[[str], Path],
    up: Up,
    env: dict[str, str],
    tmp_path: Path,
    signer: Signer,
) -> None:
    """Through the admin endpoint: call by key, name or file; live update to a newer rev;
    the token is found in the data directory ($WASCC_DATA or --data-dir), a file or the
    environment."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin = process.admin()
    default = {**env, "WASCC_DATA": str(process.data_dir())}  # what `wascc up` used
    token_file = str(process.admin_token_file())
    secret = process.auth()["Authorization"].split()[1]
    for target, extra, with_env in [
        (actors["echo"].key, (), default),
        ("echo", ("--data-dir", "data"), env),
        ("echo_s.wasm", ("--admin-token-file", token_file), env),
        ("echo", (), {**env, "WASCC_ADMIN_TOKEN": secret}),
    ]:
        args = ("call", target, "HandleRequest", REQUEST, "--host-admin", admin, *extra)
        result = run_wascc(*args, env=with_env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert echoed(result.stdout)["path"] == "/x"
    echo = run_wascc(
        "call", "echo", "Echo", '{"a": [1]}', "--host-admin", admin, env=default, cwd=tmp_path
    )
    assert json.loads(echo.stdout) == {"a": [1]}
    missing = run_wascc("call", "ghost", "Echo", "--host-admin", admin, env=default, cwd=tmp_path)
    assert missing.returncode == 1
    assert "Error: no actor ghost runs on this host" in missing.stderr
    bad = run_wascc(
        "call",
        "echo",
        "HandleRequest",
        '{"path": "/"}',
        "--host-admin",
        admin,
        env=default,
        cwd=tmp_path,
    )
    assert bad.returncode == 1
    assert "Error: HttpRequest: required field 'method' is missing" in bad.stderr

    (tmp_path / "echo2_s.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"], rev=2))
    update = ("update", "echo2_s.wasm", "--host-admin", admin)
    updated = run_wascc(*update, env=default, cwd=tmp_path)
    assert updated.returncode == 0, updated.stderr
    assert f"updated echo ({actors['echo'].key}): rev 1 -> 2" in updated.stdout
    again = run_wascc(*update, "--admin-token-file", token_file, env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "Re-sign with a higher --rev" in again.stderr
    forced = run_wascc(*update, "--force", env={**env, "WASCC_ADMIN_TOKEN": secret}, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert get(process.urls()["echo"] + "/after")[0] == 200  # still served after the update


def test_update_passes_rotate_issuer(
    *,
    actors: Actors,
    manifest: Callable[[str], Path],
    up: Up,
    env: dict[str, str],
    tmp_path: Path,
    signer: Signer,
) -> None:
    """A module of another account is refused as a plain update; --rotate-issuer asks for a
    rotation, which the host refuses too unless it trusts that account."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    mallory = KeyPair.generate("account")
    (tmp_path / "other_s.wasm").write_bytes(
        signer.impersonate(mallory, "echo", name="echo", caps=["wascc:http_server"], rev=2)
    )
    update = ("update", "other_s.wasm", "--host-admin", process.admin(), "--data-dir", "data")
    plain = run_wascc(*update, env=env, cwd=tmp_path)
    assert plain.returncode == 1
    assert "refused the update of actor echo" in plain.stderr
    assert "must be signed by the same account" in plain.stderr
    rotate = run_wascc(*update, "--rotate-issuer", env=env, cwd=tmp_path)
    assert rotate.returncode == 1
    assert "refused to rotate actor echo" in rotate.stderr
    assert f"--trust-issuer {mallory.public_key}" in rotate.stderr


def test_token_problems_are_one_line(
    actors: Actors, manifest: Callable[[str], Path], up: Up, env: dict[str, str], tmp_path: Path
) -> None:
    """No token file, or a token the host does not take, is one error line that says where
    the token was looked for and how to give it; exit 1."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, port = process.admin(), process.admin().rpartition(":")[2]
    empty = tmp_path / "empty"
    for args in [
        ("call", "echo", "Echo", "--host-admin", admin, "--data-dir", str(empty)),
        ("update", "echo_s.wasm", "--host-admin", admin, "--data-dir", str(empty)),
    ]:
        result = run_wascc(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"Error: no admin token file {empty / f'admin-{port}.token'}; ")
        for option in ("--data-dir", "$WASCC_DATA", "--admin-token-file", "$WASCC_ADMIN_TOKEN"):
            assert option in lines[0]
    wrong = run_wascc(
        "call",
        "echo",
        "Echo",
        "--host-admin",
        admin,
        env={**env, "WASCC_ADMIN_TOKEN": "old"},
        cwd=tmp_path,
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"Error: the host at http://{admin} refused the admin token from $WASCC_ADMIN_TOKEN "
        "(401); it makes a new one each time it starts: give the data directory of the host "
        "listening there with --data-dir, or the current token with --admin-token-file or "
        "$WASCC_ADMIN_TOKEN"
    ]


def test_call_without_a_running_host(actors: Actors, env: dict[str, str], tmp_path: Path) -> None:
    """An unreachable admin endpoint is one clear error line, exit 1."""
    with_token = {**env, "WASCC_ADMIN_TOKEN": "t"}
    result = run_wascc(
        "call", "echo", "Echo", "--host-admin", "127.0.0.1:9", env=with_token, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "cannot reach the host's admin endpoint at http://127.0.0.1:9" in result.stderr
