"""The manifest: every kind of error, reported all at once with entry paths and fixes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import SignedActor, WasccProcess, run_wascc
from wascc.host.manifest import ManifestInvalid, load_manifest

Actors = dict[str, SignedActor]

GOOD = """
labels: {team: core}
actors:
  - echo_s.wasm
  - path: kvcounter_s.wasm
    max_instances: 3
    deadline: 2.5
    memory_mb: 32
capabilities:
  - path: http_server
  - path: slowkv:SlowKeyValue
    config: {delay: 0.01}
bindings:
  - actor: echo_s.wasm
    capability: wascc:http_server
    values: {PORT: "0"}
  - actor: {kv_key}
    capability: wascc:keyvalue
"""

# (manifest, entry path, words of the message) — one kind of error each.
# fmt: off
CASES = [
    ("actors: []\ncapabilities: []\nbindings: []\nactor: []\n", "actor", "did you mean 'actors'"),
    ("labels: {team: core}\nbindings: []\n", "", "gives the host nothing to do"),
    ("actors:\n  - path: echo_s.wasm\n    max_instance: 2\ncapabilities: []\nbindings: []\n",
     "actors[0].max_instance", "did you mean 'max_instances'"),
    ("actors:\n  - path: echo_s.wasm\n    max_instances: many\ncapabilities: []\nbindings: []\n",
     "actors[0].max_instances", "expected an integer"),
    ("actors: [nowhere.wasm]\ncapabilities: []\nbindings: []\n", "actors[0]", "cannot read"),
    ("actors: [echo_s.wasm, echo_s.wasm]\ncapabilities: []\nbindings: []\n", "actors[1]",
     "already listed as actors[0]"),
    ("actors: []\ncapabilities: [{path: ftp_server}]\nbindings: []\n", "capabilities[0].path",
     "neither a built-in provider nor a Python import path"),
    ("actors: []\ncapabilities: [{path: 'nosuch.module:Thing'}]\nbindings: []\n",
     "capabilities[0].path", "cannot import nosuch.module"),
    ("actors: []\ncapabilities: [{path: http_server, config: {port: 1}}]\nbindings: []\n",
     "capabilities[0].config.port", "takes no setting 'port'"),
    ("actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
     "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: 8080}}\n",
     "bindings[0].values.PORT", 'quote it: PORT: "8080"'),
    ("actors: [echo_s.wasm]\ncapabilities: [{path: logging}]\nbindings:\n"
     "  - {actor: echo_s.wasm, capability: wascc:logging}\n",
     "bindings[0].capability", "re-sign it with --cap wascc:logging"),
    ("actors: [echo_s.wasm]\ncapabilities: []\nbindings:\n"
     "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '1'}}\n",
     "bindings[0].capability", "no capability in this manifest serves wascc:http_server"),
    ("actors: [echo_s.wasm]\ncapabilities: []\nbindings:\n"
     "  - {actor: other_s.wasm, capability: wascc:http_server}\n",
     "bindings[0].actor", "neither an actor's public key nor the path"),
    ("actors: [echo_s.wasm, logger_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
     "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '8765'}}\n"
     "  - {actor: logger_s.wasm, capability: wascc:http_server, values: {PORT: '8765'}}\n",
     "bindings[1].values.PORT", "port 8765 is already used by bindings[0]"),
    ("actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
     "  - {actor: echo_s.wasm, capability: wascc:http_server}\n",
     "bindings[0].values", "needs a PORT value"),
    ("actors: [kvcounter_s.wasm]\ncapabilities: [{path: keyvalue}]\nbindings:\n"
     "  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue, values: {BACKEND: sqlit}}\n",
     "bindings[0].values", "BACKEND='sqlit' is not one of memory, sqlite, redis"),
    ("actors: [kvcounter_s.wasm]\ncapabilities: [{path: keyvalue}]\nbindings:\n"
     "  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue, values: {TIMEOUT: '-1'}}\n",
     "bindings[0].values", "TIMEOUT='-1' is not a number of seconds > 0"),
    ("actors: [\n", "line 2", "not valid YAML"),
]
# fmt: on


@pytest.mark.parametrize(("text", "path", "words"), CASES)
def test_each_kind_of_error_names_entry_and_fix(
    actors: Actors, manifest: Callable[[str], Path], text: str, path: str, words: str
) -> None:
    """Each kind of mistake is reported with the file, its entry path and a fix."""
    file = manifest(text)
    with pytest.raises(ManifestInvalid) as info:
        load_manifest(file)
    rendered = [p.render(str(file)) for p in info.value.problems]
    assert any(p.path == path and words in p.render("") for p in info.value.problems), rendered
    assert all(line.startswith(f"{file}: ") for line in rendered)


def test_tampered_module_is_refused(actors: Actors, manifest: Callable[[str], Path]) -> None:
    """A module changed after signing fails validation with the claims error's message."""
    data = bytearray(actors["echo"].path.read_bytes())
    data[20] ^= 0xFF
    actors["echo"].path.write_bytes(bytes(data))
    file = manifest("actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n")
    with pytest.raises(ManifestInvalid, match=r"actors\[0\]: .*re-sign"):
        load_manifest(file)


def test_good_manifest_resolves_keys_settings_and_providers(
    actors: Actors, manifest: Callable[[str], Path], env: dict[str, str], tmp_path: Path
) -> None:
    """A valid manifest names actors by key or path alike and carries per-actor settings."""
    sys.path.insert(0, str(tmp_path))  # the slowkv test provider
    try:
        loaded = load_manifest(manifest(GOOD.replace("{kv_key}", actors["kvcounter"].key)))
    finally:
        sys.path.remove(str(tmp_path))
    assert loaded.labels == {"team": "core"}
    kv = loaded.actors[1]
    assert kv.settings.max_instances == 3
    assert kv.settings.limits is not None
    assert (kv.settings.limits.deadline, kv.settings.limits.memory_bytes) == (2.5, 32 * 2**20)
    assert [b.actor for b in loaded.bindings] == [actors["echo"].key, actors["kvcounter"].key]
    assert [c.contract_id for c in loaded.capabilities] == ["wascc:http_server", "wascc:keyvalue"]


def test_env_expansion_defaults_and_unset_variables(
    actors: Actors, manifest: Callable[[str], Path]
) -> None:
    """``${VAR}`` takes the environment, ``${VAR:default}`` the default, and an unset
    variable without default is an error naming it; numbers may come from variables."""
    text = (
        "actors:\n  - {path: echo_s.wasm, max_instances: '${N:2}'}\n"
        "capabilities: [{path: http_server}]\nbindings:\n"
        "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '${P}'}}\n"
    )
    file = manifest(text)
    loaded = load_manifest(file, expand=True, environ={"P": "8123"})
    assert loaded.bindings[0].values["PORT"] == "8123"
    assert loaded.actors[0].settings.max_instances == 2
    unset = r"bindings\[0\]\.values\.PORT: environment variable P is not set; set P, or give"
    with pytest.raises(ManifestInvalid, match=unset):
        load_manifest(file, expand=True, environ={})
    with pytest.raises(ManifestInvalid, match=r"or pass --expand-env"):
        load_manifest(file)


def test_extras_binding_is_accepted(
    actors: Actors, manifest: Callable[[str], Path], tmp_path: Path, signer: Signer
) -> None:
    """A binding to wascc:extras needs no capability entry: the host provides it."""
    (tmp_path / "x_s.wasm").write_bytes(signer.sign("echo", name="x", caps=["wascc:extras"]))
    file = manifest(
        "actors: [x_s.wasm]\ncapabilities: []\nbindings:\n"
        "  - {actor: x_s.wasm, capability: wascc:extras}\n"
    )
    assert len(load_manifest(file).extras_bindings()) == 1


def test_up_reports_all_problems_and_exits_2(
    actors: Actors,
    manifest: Callable[[str], Path],
    wascc: Callable[..., WasccProcess],
) -> None:
    """``wascc up`` with a broken manifest starts nothing, lists every problem, exits 2."""
    file = manifest(
        "actors: [echo_s.wasm, missing.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
        "  - {actor: echo_s.wasm, capability: wascc:keyvalue}\n"
        "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: 80800}}\n"
    )
    process = wascc("up", str(file))
    assert process.wait() == 2
    err = process.stderr
    assert f"Error: {file} has 3 problems:" in err
    for words in ("actors[1]: cannot read", "bindings[0].capability:", "bindings[1].values.PORT:"):
        assert words in err
    assert "host started" not in err


def test_validate_command(
    actors: Actors, manifest: Callable[[str], Path], env: dict[str, str], tmp_path: Path
) -> None:
    """``wascc validate`` says valid (exit 0) or lists the problems (exit 2)."""
    good = manifest("actors: [echo_s.wasm]\ncapabilities: [{path: logging}]\nbindings: []\n")
    result = run_wascc("validate", str(good), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is valid: 1 actors, 1 capabilities, 0 bindings" in result.stdout
    bad = manifest("actors: [echo_s.wasm]\ncapabilities: []\nbindings: []\nlabels: {a: '${X}'}\n")
    result = run_wascc("validate", str(bad), "--expand-env", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "labels.a: environment variable X is not set" in result.stderr


def test_binding_port_clashing_with_admin_port(
    actors: Actors, manifest: Callable[[str], Path]
) -> None:
    """An HTTP binding may not take the port of the admin endpoint."""
    file = manifest(
        "actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
        "  - {actor: echo_s.wasm, capability: wascc:http_server, values: {PORT: '8765'}}\n"
    )
    with pytest.raises(ManifestInvalid, match=r"PORT: port 8765 is already used by the admin"):
        load_manifest(file, reserved_ports={8765: "the admin endpoint (--admin)"})
