"""Manifests bind the wasmCloud 0.18 contracts like the waSCC ones: a provider named by
either id serves both, and the rules of a built-in contract (HTTP ports, binding values)
apply to its twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer
from wascc.host.manifest import ManifestInvalid, load_manifest

WC_HTTP, WC_KV = "wasmcloud:httpserver", "wasmcloud:keyvalue"


@pytest.fixture
def folder(tmp_path: Path, signer: Signer) -> Path:
    (tmp_path / "old.wasm").write_bytes(
        signer.sign("kvcounter", caps=["wascc:http_server", "wascc:keyvalue"])
    )
    (tmp_path / "new.wasm").write_bytes(signer.sign("wckvcounter", caps=[WC_HTTP, WC_KV]))
    return tmp_path


def write(
    folder: Path,
    bindings: str,
    capabilities: str = "[{path: http_server}, {path: wasmcloud:keyvalue}]",
) -> Path:
    file = folder / "m.yaml"
    file.write_text(
        f"actors: [old.wasm, new.wasm]\ncapabilities: {capabilities}\nbindings:\n{bindings}"
    )
    return file


def test_one_provider_named_by_its_0_18_id_binds_both_generations(folder: Path) -> None:
    manifest = load_manifest(
        write(
            folder,
            "  - {actor: old.wasm, capability: 'wascc:http_server', values: {PORT: '0'}}\n"
            "  - {actor: old.wasm, capability: 'wascc:keyvalue'}\n"
            f"  - {{actor: new.wasm, capability: '{WC_HTTP}', values: {{PORT: '0'}}}}\n"
            f"  - {{actor: new.wasm, capability: '{WC_KV}', values: {{BACKEND: memory}}}}\n",
        )
    )
    assert [c.contract_id for c in manifest.capabilities] == ["wascc:http_server", "wascc:keyvalue"]
    assert [b.contract_id for b in manifest.bindings] == [
        "wascc:http_server",
        "wascc:keyvalue",
        WC_HTTP,
        WC_KV,
    ]
    assert not any(b.remote_provider for b in manifest.bindings)


def test_the_http_rules_apply_to_the_twin(folder: Path) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(
            write(
                folder,
                "  - {actor: old.wasm, capability: 'wascc:http_server', values: {PORT: '8765'}}\n"
                f"  - {{actor: new.wasm, capability: '{WC_HTTP}', values: {{PORT: '8765'}}}}\n"
                f"  - {{actor: new.wasm, capability: '{WC_KV}', values: {{BAKEND: memory}}}}\n",
            )
        )
    found = {p.path: p.message for p in caught.value.problems}
    assert "8765" in found["bindings[1].values.PORT"]
    assert "did you mean BACKEND?" in found["bindings[2].values.BAKEND"]


def test_the_host_keys_of_either_generation_are_not_a_bindings_own(folder: Path) -> None:
    manifest = load_manifest(
        write(
            folder,
            f"  - {{actor: new.wasm, capability: '{WC_HTTP}', values: "
            "{PORT: '0', __wasmcloud_name: x, __wascc_name: y}}\n",
        )
    )
    assert manifest.bindings[0].values["__wasmcloud_name"] == "x"


def test_a_0_18_binding_without_a_provider_is_refused(folder: Path) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write(folder, f"  - {{actor: new.wasm, capability: '{WC_KV}'}}\n", "[]"))
    (problem,) = caught.value.problems
    assert problem.message == (
        f"no capability in this manifest serves {WC_KV} with binding_name 'default'"
    )


def test_calls_actors_false_holds_an_actor_to_no_actor_calls(folder: Path) -> None:
    (folder / "m.yaml").write_text(
        "actors:\n  - old.wasm\n  - {path: new.wasm, calls_actors: false}\n"
    )
    manifest = load_manifest(folder / "m.yaml")
    assert [a.settings.calls_actors for a in manifest.actors] == [True, False]


@pytest.mark.parametrize("value", ["'no'", "0", "null"])
def test_calls_actors_is_true_or_false(folder: Path, value: str) -> None:
    (folder / "m.yaml").write_text(f"actors:\n  - {{path: new.wasm, calls_actors: {value}}}\n")
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(folder / "m.yaml")
    [problem] = caught.value.problems
    assert problem.path == "actors[0].calls_actors"
    assert problem.message.startswith("expected true or false, got ")


def test_calls_actors_is_no_setting_of_a_provider(folder: Path) -> None:
    (folder / "m.yaml").write_text(
        "actors: [old.wasm]\ncapabilities:\n  - {path: logging, calls_actors: false}\n"
    )
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(folder / "m.yaml")
    assert [p.path for p in caught.value.problems] == ["capabilities[0].calls_actors"]
