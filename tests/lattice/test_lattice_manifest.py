"""The manifest's ``lattice`` section, and bindings that name remote actors and providers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.lattice.conftest import lattice_env
from tests.process.process_support import run_wascc
from wascc.host.manifest import Manifest, ManifestInvalid, load_manifest
from wascc.keys.nkeys import KeyPair

REMOTE_KEY = KeyPair.generate("module").public_key  # an actor no manifest here lists


@pytest.fixture
def write(tmp_path: Path, signer: Signer) -> object:
    """``write(text)``: a manifest next to a signed kvcounter (HTTP + key-value)."""
    (tmp_path / "kvcounter_s.wasm").write_bytes(
        signer.sign("kvcounter", caps=["wascc:http_server", "wascc:keyvalue"])
    )

    def make(text: str) -> Path:
        path = tmp_path / "m.yaml"
        path.write_text(text)
        return path

    return make


def load(path: Path, **options: object) -> Manifest:
    return load_manifest(path, **options)  # type: ignore[arg-type]


def problems(path: Path, **options: object) -> dict[str, str]:
    """Entry path → rendered problem."""
    with pytest.raises(ManifestInvalid) as caught:
        load(path, **options)
    return {p.path: p.render(str(path)) for p in caught.value.problems}


EMPTY = "actors: []\ncapabilities: []\nbindings: []\n"


def test_lattice_section_is_read(write: object) -> None:
    """Every key of the section, as written; no section means no lattice."""
    path = write(  # type: ignore[operator]
        "lattice:\n  url: nats://127.0.0.1:4222\n  namespace: prod\n"
        "  labels: {zone: a}\n  rpc_timeout: 0.5\n" + EMPTY
    )
    section = load(path).lattice
    assert section is not None
    assert (section.url, section.namespace, dict(section.labels), section.rpc_timeout) == (
        "nats://127.0.0.1:4222",
        "prod",
        {"zone": "a"},
        0.5,
    )
    minimal = load(write("lattice: {url: 'nats://127.0.0.1:4222'}\n" + EMPTY))  # type: ignore[operator]
    assert minimal.lattice is not None
    assert (minimal.lattice.namespace, minimal.lattice.rpc_timeout) == (None, None)
    assert load(write("capabilities: [{path: logging}]\n")).lattice is None  # type: ignore[operator]


def test_lattice_section_expands_env(write: object) -> None:
    """``${VAR}`` works in the section like anywhere else (a number from a variable too)."""
    path = write(  # type: ignore[operator]
        "lattice: {url: '${NATS:nats://127.0.0.1:4222}', rpc_timeout: '${RPC:3}'}\n" + EMPTY
    )
    section = load(path, expand=True, environ={"RPC": "1.5"}).lattice
    assert section is not None
    assert (section.url, section.rpc_timeout) == ("nats://127.0.0.1:4222", 1.5)


# (section, entry path, words of the message and fix) — one kind of mistake each.
BAD_SECTIONS = [
    ("lattice: [nats]\n", "lattice", "expected a mapping"),
    ("lattice: {namespace: x}\n", "lattice.url", "required key is missing; add url"),
    ("lattice: {url: 'nats://h:1', urll: x}\n", "lattice.urll", "did you mean 'url'?"),
    ("lattice: {url: 'nats://h:1', timeout: 2}\n", "lattice.timeout", "known: credentials, host"),
    ("lattice: {url: 4222}\n", "lattice.url", "expected a string, got an integer"),
    ("lattice: {url: 'http://h:1'}\n", "lattice.url", "is not a NATS URL; write it as nats://"),
    ("lattice: {url: 'nats://h:1', namespace: 'a b'}\n", "lattice.namespace", "NATS subject"),
    ("lattice: {url: 'nats://h:1', namespace: 'a.*'}\n", "lattice.namespace", "NATS subject"),
    ("lattice: {url: 'nats://h:1', labels: {k: 1}}\n", "lattice.labels.k", 'quote it: k: "1"'),
    ("lattice: {url: 'nats://h:1', labels: [k]}\n", "lattice.labels", "expected a mapping"),
    ("lattice: {url: 'nats://h:1', rpc_timeout: soon}\n", "lattice.rpc_timeout",
     "expected a number, got a string"),
    ("lattice: {url: 'nats://h:1', rpc_timeout: 0}\n", "lattice.rpc_timeout", "at least 0.01"),
    ("lattice: {url: '${NATS}'}\n", "lattice.url", "--expand-env"),
]  # fmt: skip


@pytest.mark.parametrize(("section", "where", "words"), BAD_SECTIONS)
def test_bad_lattice_section(write: object, section: str, where: str, words: str) -> None:
    """Unknown keys and wrong types are reported with the entry path and the fix."""
    found = problems(write(section + EMPTY))  # type: ignore[operator]
    assert where in found, found
    assert words in found[where]


def test_lattice_problems_come_with_the_others(write: object) -> None:
    """A bad section does not hide the rest: every problem at once, in file order."""
    path = write(  # type: ignore[operator]
        "lattice: {url: 'http://x'}\nactors: [nowhere.wasm]\ncapabilities: []\nbindings: []\n"
    )
    with pytest.raises(ManifestInvalid) as caught:
        load(path)
    assert [p.path for p in caught.value.problems] == ["lattice.url", "actors[0]"]


REMOTE_ACTOR = f"""
actors: []
capabilities: [{{path: keyvalue}}]
bindings:
  - {{actor: {REMOTE_KEY}, capability: wascc:keyvalue}}
"""

REMOTE_PROVIDER = """
actors: [kvcounter_s.wasm]
capabilities: [{path: http_server}]
bindings:
  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue}
  - {actor: kvcounter_s.wasm, capability: wascc:http_server, values: {PORT: "9999"}}
"""


def test_remote_bindings_need_a_lattice(write: object) -> None:
    """Without a lattice they are refused, and the fix says a lattice would allow them."""
    actor = problems(write(REMOTE_ACTOR))  # type: ignore[operator]
    assert "no actor of this manifest has the key" in actor["bindings[0].actor"]
    assert "join a lattice" in actor["bindings[0].actor"]
    provider = problems(write(REMOTE_PROVIDER))  # type: ignore[operator]
    assert (
        "no capability in this manifest serves wascc:keyvalue" in provider["bindings[0].capability"]
    )
    assert "join a lattice" in provider["bindings[0].capability"]


@pytest.mark.parametrize("how", ["section", "option"])
def test_remote_actor_accepted_with_a_note(write: object, how: str) -> None:
    """With a lattice (section or command line) the binding is kept, marked, and noted."""
    text = REMOTE_ACTOR if how == "option" else "lattice: {url: 'nats://h:1'}\n" + REMOTE_ACTOR
    checked = load(write(text), lattice=how == "option")  # type: ignore[operator]
    [entry] = checked.bindings
    assert (entry.actor, entry.remote_actor, entry.remote_provider) == (REMOTE_KEY, True, False)
    [note] = checked.notes
    assert f"bindings[0]: actor {REMOTE_KEY} is not in this manifest" in note
    assert "checked for wascc:keyvalue when `wascc up` starts" in note


def test_remote_provider_accepted_with_a_note(write: object) -> None:
    """A binding to a provider no capability loads goes to another host's provider; an HTTP
    binding keeps its checks but its port is another host's (no clash with --admin)."""
    text = REMOTE_PROVIDER.replace("capabilities: [{path: http_server}]", "capabilities: []")
    checked = load(write(text), lattice=True, reserved_ports={9999: "the admin endpoint"})  # type: ignore[operator]
    assert [b.remote_provider for b in checked.bindings] == [True, True]
    assert len(checked.notes) == 2
    assert "another host of the lattice must load it" in checked.notes[0]
    bad_port = text.replace('PORT: "9999"', 'PORT: "http"')
    found = problems(write(bad_port), lattice=True)  # type: ignore[operator]
    assert "is not a TCP port" in found["bindings[1].values.PORT"]


def test_remote_binding_still_checked_where_it_can_be(write: object) -> None:
    """A lattice does not excuse what is wrong offline: a path that is not a listed module,
    a local actor that does not claim the contract, wascc:extras for a remote actor."""
    text = f"""
actors: [kvcounter_s.wasm]
capabilities: [{{path: logging}}]
bindings:
  - {{actor: other_s.wasm, capability: wascc:keyvalue}}
  - {{actor: kvcounter_s.wasm, capability: wascc:logging}}
  - {{actor: {REMOTE_KEY}, capability: wascc:extras}}
"""
    found = problems(write(text), lattice=True)  # type: ignore[operator]
    assert "neither an actor's public key nor the path" in found["bindings[0].actor"]
    assert "re-sign it with --cap wascc:logging" in found["bindings[1].capability"]
    assert "only the host running actor" in found["bindings[2].capability"]


def test_validate_prints_the_notes(write: object, tmp_path: Path) -> None:
    """`wascc validate` works offline: it accepts remote bindings with a note when the
    manifest has a lattice section or --lattice is given, and refuses them otherwise."""
    path = write(REMOTE_ACTOR)  # type: ignore[operator]
    env = lattice_env(tmp_path / "keys")
    refused = run_wascc("validate", str(path), env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "join a lattice" in refused.stderr
    accepted = run_wascc(
        "validate", str(path), "--lattice", "nats://127.0.0.1:1", env=env, cwd=tmp_path
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "note: " in accepted.stdout
    assert "checked for wascc:keyvalue when `wascc up` starts" in accepted.stdout
    assert "is valid: 0 actors, 1 capabilities, 1 bindings" in accepted.stdout
