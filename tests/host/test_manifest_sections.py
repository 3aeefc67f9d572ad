"""Manifest sections: actors, capabilities and bindings are each optional, but a manifest
must give the host something to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import run_wascc, wascc_env
from wascc.host.manifest import ManifestInvalid, load_manifest

Write = Callable[[str], Path]

LATTICE = "lattice: {url: 'nats://127.0.0.1:4222', namespace: demo, labels: {zone: eu}}\n"
NOTHING_TO_DO = "the manifest gives the host nothing to do (no actors, no capabilities, no lattice)"


@pytest.fixture
def write(tmp_path: Path, signer: Signer) -> Write:
    """``write(text)``: the manifest ``text`` next to ``echo_s.wasm`` (HTTP, logging)."""
    caps = ["wascc:http_server", "wascc:logging"]
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=caps))

    def write(text: str) -> Path:
        file = tmp_path / "m.yaml"
        file.write_text(text)
        return file

    return write


def test_a_host_that_only_joins_a_lattice_is_valid(write: Write) -> None:
    """A lattice section alone is a manifest: no actors, capabilities or bindings sections."""
    manifest = load_manifest(write(LATTICE))
    assert manifest.lattice is not None
    assert (manifest.actors, manifest.capabilities, manifest.bindings) == ((), (), ())


def test_a_lattice_store_host_needs_no_actors_or_bindings(write: Write) -> None:
    """A host of the lattice that only loads a provider (the README's store.yaml) is valid."""
    manifest = load_manifest(write(LATTICE + "capabilities: [{path: keyvalue}]\n"))
    assert [c.contract_id for c in manifest.capabilities] == ["wascc:keyvalue"]
    assert manifest.bindings == ()


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("actors: [echo_s.wasm]\n", (1, 0, 0)),
        ("actors: [echo_s.wasm]\ncapabilities:\nbindings:\n", (1, 0, 0)),
        ("capabilities: [{path: logging}]\n", (0, 1, 0)),
        (
            "actors: [echo_s.wasm]\ncapabilities: [{path: logging}]\nbindings:\n"
            "  - {actor: echo_s.wasm, capability: wascc:logging}\n",
            (1, 1, 1),
        ),
    ],
)
def test_absent_or_empty_sections_are_empty(
    write: Write, text: str, counts: tuple[int, int, int]
) -> None:
    """A section left out, or written with nothing under it, is an empty list."""
    manifest = load_manifest(write(text))
    assert (len(manifest.actors), len(manifest.capabilities), len(manifest.bindings)) == counts


@pytest.mark.parametrize(
    "text",
    [
        "labels: {team: core}\n",
        "actors: []\ncapabilities: []\nbindings: []\n",
        "bindings: []\n",
        "trust: {insecure_lattice: false}\n",
        "{}\n",
    ],
)
def test_a_manifest_with_nothing_to_do_is_refused(write: Write, text: str) -> None:
    """No actors, no capabilities and no lattice: one problem for the whole file, saying
    what to add."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write(text))
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == ("", NOTHING_TO_DO)
    assert problem.fix == (
        "list actors (signed modules) to run, capabilities (providers) to load, or a lattice "
        "section (or --lattice) to join"
    )


def test_an_empty_file_says_what_to_add(write: Write) -> None:
    """An empty manifest is refused with the same fix."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write(""))
    [problem] = caught.value.problems
    assert problem.message == "the manifest is empty"
    assert "or a lattice section (or --lattice) to join" in problem.fix


def test_a_lattice_from_the_command_line_is_something_to_do(write: Write) -> None:
    """``--lattice`` (``load_manifest(lattice=True)``) makes an empty manifest a host that
    joins the lattice."""
    manifest = load_manifest(write("labels: {team: core}\n"), lattice=True)
    assert dict(manifest.labels) == {"team": "core"}


def test_a_broken_lattice_section_is_not_also_nothing_to_do(write: Write) -> None:
    """A lattice section that has its own problem is not reported a second time as
    "nothing to do": the user did write one."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write("lattice: {url: 'http://127.0.0.1:1'}\n"))
    assert [p.path for p in caught.value.problems] == ["lattice.url"]


def test_a_section_of_the_wrong_kind_is_still_refused(write: Write) -> None:
    """``actors: echo_s.wasm`` (not a list) is a problem at ``actors``, as before."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write("actors: echo_s.wasm\n"))
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == ("actors", "expected a list, got a string")


def test_validate_accepts_a_lattice_only_host_and_refuses_an_idle_one(
    write: Write, tmp_path: Path
) -> None:
    """``wascc validate`` says a lattice-only manifest is valid (exit 0), and refuses one
    with nothing to do (exit 2) saying what to add."""
    env = wascc_env(tmp_path / "keys")
    result = run_wascc("validate", str(write(LATTICE)), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is valid: 0 actors, 0 capabilities, 0 bindings" in result.stdout
    file = write("labels: {team: core}\n")
    result = run_wascc("validate", str(file), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert f"{file}: {NOTHING_TO_DO}; list actors (signed modules) to run" in result.stderr
