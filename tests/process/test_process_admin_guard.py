"""The admin endpoint's guard against other callers: the token, Host and Origin checks, the
media types, the token file; and the browser attack that motivated them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.conftest import Signer
from tests.process.process_support import SignedActor, WasccProcess, free_port
from tests.process.test_process_up import get
from wascc.host.admin_token import AdminToken, AdminTokenError, find_token
from wascc.host.call import decode_reply
from wascc.keys.nkeys import KeyPair

Actors = dict[str, SignedActor]
Up = Callable[..., WasccProcess]

ECHO = """
actors: [echo_s.wasm]
capabilities: [{path: http_server}]
bindings:
  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: "0"}}
"""
REQUEST = b'{"method": "GET", "path": "/t", "queryString": "", "body": ""}'
EVIL = "http://evil.example"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The admin endpoint's JSON error body."""
        body: dict[str, Any] = json.loads(self.body)
        assert set(body) == {"error", "type"}, body
        return body


def send(
    admin: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request to ``admin`` with exactly ``headers`` (plus Host unless they give one,
    and Content-Length)."""
    host, _, port = admin.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def port_of(process: WasccProcess) -> int:
    """The admin endpoint's port."""
    return int(process.admin().rpartition(":")[2])


def echo_rev(process: WasccProcess) -> tuple[int, str]:
    """The rev and the issuer of the echo actor running in ``process``."""
    inventory = json.loads(get(f"http://{process.admin()}/inventory", headers=process.auth())[1])
    echo = next(a for a in inventory["actors"] if a["name"] == "echo")
    return echo["claims"]["rev"], echo["claims"]["issuer"]


def test_every_route_but_healthz_needs_the_token(
    actors: Actors, manifest: Callable[[str], Path], up: Up, signer: Signer
) -> None:
    """No token or a wrong one is 401 with WWW-Authenticate: Bearer and the fix; the right
    token opens inventory, metrics, calls and updates; /healthz needs none."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, auth, port = process.admin(), process.auth(), port_of(process)
    assert send(admin, "GET", "/healthz").status == 200
    new_rev = signer.sign("echo", caps=["wascc:http_server"], rev=2)
    routes = [
        ("GET", "/inventory", None, {}),
        ("GET", "/metrics", None, {}),
        ("POST", "/actors/echo/call/HandleRequest", REQUEST, {"Content-Type": "application/json"}),
        ("POST", "/actors/update", new_rev, {"Content-Type": "application/wasm"}),
    ]
    for method, path, body, headers in routes:
        for given, word in [
            ({}, "no admin token"),
            ({"Authorization": "Bearer not-the-token"}, "wrong admin token"),
            ({"Authorization": "Basic " + auth["Authorization"].split()[1]}, "wrong admin token"),
        ]:
            reply = send(admin, method, path, body, {**headers, **given})
            assert reply.status == 401, (path, given)
            assert reply.headers["www-authenticate"] == "Bearer"
            error = reply.error()
            assert error["type"] == "Unauthorized"
            assert error["error"].startswith(word)
            assert f"DATA_DIR/admin-{port}.token" in error["error"]
            assert "'Authorization: Bearer TOKEN'" in error["error"]
    assert echo_rev(process)[0] == 1  # nothing got through
    replies = [send(admin, method, path, body, {**h, **auth}) for method, path, body, h in routes]
    assert [reply.status for reply in replies] == [200] * 4, replies
    assert json.loads(replies[0].body)["actors"][0]["name"] == "echo"
    assert "wascc_invocations_total" in replies[1].body.decode()
    assert json.loads(decode_reply("HandleRequest", replies[2].body)["body"])["path"] == "/t"
    assert json.loads(replies[3].body)["rev"] == 2
    assert echo_rev(process)[0] == 2


def test_host_header_must_be_the_admin_address(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """A Host other than the bound address (or a loopback alias of it) is 403, before the
    token is looked at and on /healthz too; a DNS name is refused naming DNS rebinding."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, auth, port = process.admin(), process.auth(), port_of(process)
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        for path, headers in [("/healthz", {}), ("/inventory", auth)]:
            reply = send(admin, "GET", path, headers={**headers, "Host": host})
            assert reply.status == 403, (host, path)
            assert reply.error()["type"] == "HostNotAllowed"
            assert f"connect to http://127.0.0.1:{port} itself" in reply.error()["error"]
    rebound = send(admin, "GET", "/inventory", headers={**auth, "Host": f"wascc.example:{port}"})
    assert "DNS rebinding" in rebound.error()["error"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert send(admin, "GET", "/inventory", headers={**auth, "Host": host}).status == 200


def test_wildcard_binding_accepts_ip_addresses_and_warns(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """Bound to 0.0.0.0, any IP address and localhost pass the Host check, names do not; the
    log warns that the token travels in clear."""
    process = up(manifest(ECHO), "--admin", "0.0.0.0:0")
    port = port_of(process)
    admin, auth = f"127.0.0.1:{port}", process.auth()
    for host in (f"10.1.2.3:{port}", f"localhost:{port}", f"[fe80::1]:{port}"):
        assert send(admin, "GET", "/inventory", headers={**auth, "Host": host}).status == 200
        assert send(admin, "GET", "/inventory", headers={"Host": host}).status == 401
    named = send(admin, "GET", "/inventory", headers={**auth, "Host": f"box.example:{port}"})
    assert named.status == 403
    assert "token travels in clear over HTTP" in process.stderr


def test_cross_site_requests_are_refused(
    actors: Actors, manifest: Callable[[str], Path], up: Up
) -> None:
    """An Origin that is not http://HOST of the request, or Sec-Fetch-Site cross-site or
    same-site, is 403 even with the right token; the endpoint's own origin passes."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, auth, port = process.admin(), process.auth(), port_of(process)
    refused: list[dict[str, str]] = [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": f"https://127.0.0.1:{port}"},
        {"Origin": f"http://localhost:{port}"},  # another origin than the Host it sent
        {"Origin": f"http://127.0.0.1:{port}/x"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for headers in refused:
        for path in ("/healthz", "/inventory"):
            reply = send(admin, "GET", path, headers={**auth, **headers})
            assert reply.status == 403, headers
            assert reply.error()["type"] == "CrossSiteRequest"
            assert "use `wascc call`, `wascc update` or curl" in reply.error()["error"]
    allowed: list[dict[str, str]] = [
        {"Origin": f"http://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
    ]
    for headers in allowed:
        assert send(admin, "GET", "/inventory", headers={**auth, **headers}).status == 200


def test_the_browser_attack_cannot_replace_an_actor(
    actors: Actors, manifest: Callable[[str], Path], up: Up, signer: Signer
) -> None:
    """The reported attack, a text/plain POST of a signed module to /actors/update from a
    web page (or through DNS rebinding), is refused and the running actor stays as it was."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, port = process.admin(), port_of(process)
    before = echo_rev(process)
    assert before == (1, signer.account.public_key)
    mallory = KeyPair.generate("account")
    modules = [
        signer.sign("echo", caps=["wascc:http_server"], rev=99),  # what the update took before
        signer.impersonate(mallory, "echo", name="echo", caps=["wascc:http_server"], rev=99),
    ]
    for module in modules:
        page = send(
            admin,
            "POST",
            "/actors/update?force=true&rotate_issuer=true",
            module,
            {"Origin": EVIL, "Content-Type": "text/plain"},
        )
        assert page.status == 403
        assert page.error()["type"] == "CrossSiteRequest"
        rebinding = send(
            admin,
            "POST",
            "/actors/update",
            module,
            {"Host": f"evil.example:{port}", "Content-Type": "text/plain"},
        )
        assert rebinding.status == 403
        assert rebinding.error()["type"] == "HostNotAllowed"
        plain = send(admin, "POST", "/actors/update", module, {"Content-Type": "text/plain"})
        assert plain.status == 401
    assert echo_rev(process) == before
    assert get(process.urls()["echo"] + "/still")[0] == 200


def test_mutating_routes_take_only_their_media_types(
    actors: Actors, manifest: Callable[[str], Path], up: Up, signer: Signer
) -> None:
    """With the right token, the types a browser sends without asking (text/plain, forms) or
    none at all are 415 naming the accepted type; a call's JSON is encoded by the host, bad
    JSON or a bad message is 400 naming the problem."""
    process = up(manifest(ECHO), "--admin", "127.0.0.1:0")
    admin, auth = process.admin(), process.auth()
    module = signer.sign("echo", caps=["wascc:http_server"], rev=2)
    simple = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", None]
    for media in simple:
        headers = {**auth, **({"Content-Type": media} if media else {})}
        update = send(admin, "POST", "/actors/update", module, headers)
        assert update.status == 415, media
        assert update.error()["type"] == "UnsupportedMediaType"
        assert "Content-Type: application/wasm" in update.error()["error"]
        call = send(admin, "POST", "/actors/echo/call/Echo", b'{"a": 1}', headers)
        assert call.status == 415, media
        assert "Content-Type: application/json" in call.error()["error"]
    assert echo_rev(process)[0] == 1

    def call(operation: str, body: bytes, media: str = "application/json") -> Reply:
        headers = {**auth, "Content-Type": media}
        return send(admin, "POST", f"/actors/echo/call/{operation}", body, headers)

    echoed = call("Echo", b'{"a": [1, "x"]}')
    assert echoed.status == 200
    assert echoed.headers["content-type"] == "application/octet-stream"
    assert msgpack.unpackb(echoed.body) == {"a": [1, "x"]}
    assert call("Echo", b"").body == b""  # empty body: the empty payload
    assert call("Echo", b"\x01raw", "application/octet-stream").body == b"\x01raw"
    assert call("Echo", b'{"a": 1}', "application/json; charset=utf-8").status == 200
    notjson = call("Echo", b"{nope")
    assert notjson.status == 400
    assert "the body is not JSON" in notjson.error()["error"]
    bad = call("HandleRequest", b'{"path": "/"}')
    assert bad.status == 400
    assert bad.error() == {
        "error": "HttpRequest: required field 'method' is missing",
        "type": "CodecError",
    }
    garbage = send(
        admin, "POST", "/actors/update", b"garbage", {**auth, "Content-Type": "application/wasm"}
    )
    assert garbage.status == 409
    assert garbage.error()["type"] == "NotAModule"


def test_token_file_lifecycle(
    actors: Actors, manifest: Callable[[str], Path], up: Up, tmp_path: Path
) -> None:
    """The token file is 0600 (even over an old file with a wider mode) while the host runs,
    its path is logged and printed, the secret never is; a clean shutdown removes it."""
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    stale = data / f"admin-{port}.token"
    stale.write_text("stale\n")
    stale.chmod(0o644)
    process = up(manifest(ECHO), "--admin", f"127.0.0.1:{port}")
    path = process.admin_token_file()
    assert path == stale
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert secret != "stale"
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    assert f"admin token in {path}" in process.stderr
    assert str(path) in process.stdout
    assert [p.name for p in data.iterdir() if "admin" in p.name] == [path.name]  # no temp file
    assert send(process.admin(), "GET", "/inventory", headers=process.auth()).status == 200
    process.signal(signal.SIGTERM)
    assert process.wait() == 0
    assert secret not in process.stdout
    assert secret not in process.stderr
    assert not path.exists()


def test_find_token_order(tmp_path: Path) -> None:
    """--admin-token-file wins over $WASCC_ADMIN_TOKEN, which wins over the data directory's
    file; nothing found names the file looked for and every way to give the token."""
    (tmp_path / "admin-9000.token").write_text("from-data-dir\n")
    (tmp_path / "given.token").write_text("from-file\n")
    env = {"WASCC_ADMIN_TOKEN": "from-env"}
    assert find_token(
        9000, token_file=tmp_path / "given.token", data_dir=tmp_path, environ=env
    ) == AdminToken("from-file", str(tmp_path / "given.token"))
    assert find_token(9000, token_file=None, data_dir=tmp_path, environ=env).secret == "from-env"
    assert (
        find_token(9000, token_file=None, data_dir=tmp_path, environ={}).secret == "from-data-dir"
    )
    assert "from-env" not in repr(find_token(9000, token_file=None, data_dir=tmp_path, environ=env))
    with pytest.raises(AdminTokenError) as missing:
        find_token(9001, token_file=None, data_dir=tmp_path, environ={})
    message = str(missing.value)
    assert f"no admin token file {tmp_path / 'admin-9001.token'}" in message
    for option in ("--data-dir", "--admin-token-file", "$WASCC_ADMIN_TOKEN"):
        assert option in message
    assert os.linesep not in message
