"""``wascc up ACTOR.wasm``: one signed actor, the providers its claims ask for, no manifest."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer, module_path
from tests.process.process_support import WasccProcess, free_port, free_ports
from tests.toolchain.conftest import Run
from wascc.host.manifest_check import EXTRAS, HTTP_SERVER
from wascc.host.toolchain.quickstart import SingleActorInvalid, single_actor_manifest


def _sign(tmp_path: Path, signer: Signer, module: str, *caps: str, name: str = "") -> Path:
    actor = name or module
    path = tmp_path / f"{actor}_s.wasm"
    path.write_bytes(signer.sign(module, name=actor, caps=caps, rev=1))
    return path


def test_single_actor_manifest_binds_what_the_claims_ask_for(
    tmp_path: Path, signer: Signer
) -> None:
    """HTTP on the port given (127.0.0.1), key-value in memory, logging; extras is the
    host's own: no provider, no binding."""
    caps = (HTTP_SERVER, "wascc:keyvalue", "wascc:logging", EXTRAS)
    file = _sign(tmp_path, signer, "kvcounter", *caps)
    manifest = single_actor_manifest(file, http_port=9999)
    (actor,) = manifest.actors
    assert actor.claims.subject == signer.key("kvcounter")
    assert [c.contract_id for c in manifest.capabilities] == list(caps[:3])
    bound = {b.contract_id: dict(b.values) for b in manifest.bindings}
    assert bound == {
        HTTP_SERVER: {"PORT": "9999", "ADDRESS": "127.0.0.1"},
        "wascc:keyvalue": {"BACKEND": "memory"},
        "wascc:logging": {},
    }
    assert all(b.binding == "default" for b in manifest.bindings)


def test_a_capability_it_cannot_provide_is_refused(tmp_path: Path, signer: Signer) -> None:
    """A contract outside the defaults needs a manifest, and the message says so."""
    file = _sign(tmp_path, signer, "echo", HTTP_SERVER, "acme:payments")
    with pytest.raises(SingleActorInvalid, match=r"claims acme:payments.*run it from a manifest"):
        single_actor_manifest(file)


def test_up_refuses_an_unsigned_module(wascc: Run, tmp_path: Path) -> None:
    """Exit 2, naming the file, `wascc claims sign` and `wascc build --sign`."""
    (tmp_path / "plain.wasm").write_bytes(module_path("echo").read_bytes())
    done = wascc("up", "plain.wasm")
    assert done.returncode == 2, done
    assert "plain.wasm is not signed" in done.stderr
    assert "wascc claims sign plain.wasm" in done.stderr
    assert "wascc build --sign" in done.stderr


def test_up_refuses_messaging_without_nats(wascc: Run, tmp_path: Path, signer: Signer) -> None:
    """An actor that claims wascc:messaging needs --nats, and the refusal names it."""
    _sign(tmp_path, signer, "messenger", "wascc:messaging", name="messenger")
    done = wascc("up", "messenger_s.wasm")
    assert done.returncode == 2, done
    assert "claims wascc:messaging, which needs a NATS server" in done.stderr
    assert "--nats" in done.stderr


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\x00\x01binary"])
def test_up_says_what_it_expects_of_a_file_that_is_neither(
    wascc: Run, tmp_path: Path, content: bytes
) -> None:
    """Neither a manifest nor a module: the message says `up` takes a manifest or a signed
    actor module (not "the manifest is not UTF-8 text")."""
    (tmp_path / "photo.jpg").write_bytes(content)
    done = wascc("up", "photo.jpg")
    assert done.returncode == 2, done
    assert "photo.jpg is neither a manifest (YAML or JSON text) nor a WebAssembly module" in (
        done.stderr
    )
    assert "runs a manifest (YAML or JSON), or a signed actor module" in done.stderr
    assert "UTF-8" not in done.stderr


def test_up_says_a_file_named_wasm_is_not_a_module(wascc: Run, tmp_path: Path) -> None:
    """A ``.wasm`` that is not wasm (a download error page) is not read as a JSON manifest."""
    (tmp_path / "actor.wasm").write_text("<html>Not Found</html>")
    done = wascc("up", "actor.wasm")
    assert done.returncode == 2, done
    assert "actor.wasm is named .wasm, but it is not a WebAssembly module" in done.stderr
    assert "JSON" not in done.stderr.partition(";")[0]


def test_validate_says_a_module_is_not_a_manifest(
    wascc: Run, tmp_path: Path, signer: Signer
) -> None:
    """`wascc validate ACTOR.wasm` points at `wascc claims inspect` and `wascc up`."""
    _sign(tmp_path, signer, "echo", HTTP_SERVER)
    done = wascc("validate", "echo_s.wasm")
    assert done.returncode == 2, done
    assert "echo_s.wasm is a WebAssembly module, not a manifest" in done.stderr
    assert "wascc claims inspect FILE" in done.stderr


def test_http_and_nats_are_refused_with_a_manifest(wascc: Run, tmp_path: Path) -> None:
    """The options of the single-actor mode are a usage error with a manifest."""
    (tmp_path / "m.yaml").write_text("actors: []\ncapabilities: []\n")
    done = wascc("up", "m.yaml", "--http", "8080")
    assert done.returncode == 2, done
    assert "--http and --nats apply to `wascc up ACTOR.wasm`" in done.stderr


def test_the_admin_port_is_not_given_to_http(wascc: Run, tmp_path: Path, signer: Signer) -> None:
    """The same port check as a manifest's, told in terms of the options."""
    _sign(tmp_path, signer, "echo", HTTP_SERVER)
    port = str(free_port())
    done = wascc("up", "echo_s.wasm", "--http", port, "--admin", f"127.0.0.1:{port}")
    assert done.returncode == 2, done
    assert f"--http: port {port} is already used by the admin endpoint (--admin)" in done.stderr


def test_trusted_issuers_apply(wascc: Run, tmp_path: Path, signer: Signer) -> None:
    """--trust-issuer refuses an actor of another account, as with a manifest."""
    _sign(tmp_path, signer, "echo", HTTP_SERVER)
    other = Signer().account.public_key
    done = wascc("up", "echo_s.wasm", "--trust-issuer", other)
    assert done.returncode == 2, done
    assert "is not one of the host's trusted accounts" in done.stderr


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_up_serves_the_actor_with_admin_and_logging(
    background: Callable[..., WasccProcess], tmp_path: Path, signer: Signer
) -> None:
    """The actor answers on --http; what it serves is printed; the admin endpoint lists it
    like any manifest's actor."""
    _sign(tmp_path, signer, "logger", HTTP_SERVER, "wascc:logging")
    port, admin = free_ports(2)
    process = background(
        "up",
        "logger_s.wasm",
        "--http",
        str(port),
        "--admin",
        f"127.0.0.1:{admin}",
        "--data-dir",
        "data",
    )
    process.wait_ready()
    assert f"wascc:http_server on http://127.0.0.1:{port}" in process.stdout
    assert "  wascc:logging" in process.stdout
    assert process.urls() == {"logger": f"http://127.0.0.1:{port}"}
    assert _get(f"http://127.0.0.1:{port}/quick") == (200, "logged")
    request = urllib.request.Request(f"http://127.0.0.1:{admin}/inventory", headers=process.auth())
    with urllib.request.urlopen(request, timeout=10) as response:
        inventory = json.loads(response.read())
    assert [a["key"] for a in inventory["actors"]] == [signer.key("logger")]
    process.signal()
    assert process.wait() == 0
    assert "logger: handling request for /quick" in process.stderr
