"""Application specs as `wascc apply` reads them: what is accepted, and each mistake named
with its entry and fix before anything reaches the lattice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer
from wascc.host.apps.spec import AppInvalid, read_app


def _spec(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "app.yaml"
    file.write_text(text)
    return file


def test_a_spec_is_read_with_its_modules_verified(tmp_path: Path, signer: Signer) -> None:
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", rev=3))
    app = read_app(
        _spec(
            tmp_path,
            "name: shop\nversion: 2.0\nactors:\n"
            "  - module: echo_s.wasm\n    replicas: 3\n    constraints: {zone: eu}\n",
        )
    )
    (actor,) = app.actors
    assert (app.name, app.version) == ("shop", "2.0")
    assert (actor.key, actor.replicas, dict(actor.constraints)) == (
        signer.key("echo"),
        3,
        {"zone": "eu"},
    )
    described = actor.describe()
    assert (described["rev"], described["hash"]) == (3, actor.claims.hash)
    assert len(described["module"]) == 64  # the signed module's own digest


def test_every_mistake_is_named(tmp_path: Path, signer: Signer) -> None:
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    (tmp_path / "prov_s.wasm").write_bytes(signer.sign_provider("relay", name="prov"))
    file = _spec(
        tmp_path,
        "name: Shop_1\nactor: []\nactors:\n"
        "  - module: echo_s.wasm\n    replica: 2\n"
        "  - module: echo_s.wasm\n"
        "  - module: prov_s.wasm\n"
        "  - module: echo_s.wasm\n    replicas: 1001\n    constraints: {zone: 1}\n",
    )
    with pytest.raises(AppInvalid) as invalid:
        read_app(file)
    shown = [f"{p.path}: {p.message}" for p in invalid.value.problems]
    assert shown == [
        "actor: unknown key",
        "name: 'Shop_1' is not an application name",
        "actors[0].replica: unknown key",
        "actors[1]: actor echo (" + signer.key("echo") + ") is listed twice",
        f"actors[2].module: {tmp_path / 'prov_s.wasm'} is signed as a capability provider "
        "(prov: true), not as an actor",
        "actors[3].replicas: must be at most 1000, got 1001",
        "actors[3].constraints.zone: expected a string, got an integer 1",
    ]
    assert "did you mean 'actors'?" in str(invalid.value)


def test_providers_are_built_in_ones_or_modules_never_python_paths(
    tmp_path: Path, signer: Signer
) -> None:
    (tmp_path / "store_s.wasm").write_bytes(
        signer.sign_provider("blobstore", name="store", caps=["wascc:logging"])
    )
    app = read_app(
        _spec(
            tmp_path,
            "name: files\nactors: []\nproviders:\n"
            "  - {path: keyvalue, constraints: {role: store}}\n"
            "  - {path: store_s.wasm, binding_name: files}\n",
        )
    )
    described = [p.describe() for p in app.providers]
    assert [(p["contract"], p["binding"], p["constraints"]) for p in described] == [
        ("wascc:keyvalue", "default", {"role": "store"}),
        ("wascc:blobstore", "files", {}),
    ]
    assert described[0]["module"] == ""
    assert len(described[1]["module"]) == 64
    bad = _spec(
        tmp_path,
        "name: files\nactors: []\nproviders:\n"
        "  - path: wascc.providers.keyvalue:KeyValueProvider\n"
        "  - path: keyvalu\n",
    )
    with pytest.raises(AppInvalid) as invalid:
        read_app(bad)
    shown = [f"{p.path}: {p.message}" for p in invalid.value.problems]
    assert shown[0] == (
        "providers[0].path: wascc.providers.keyvalue:KeyValueProvider is a Python provider: "
        "hosts load those only from their own manifest"
    )
    assert shown[1].startswith("providers[1].path: 'keyvalu' is neither a built-in provider")
