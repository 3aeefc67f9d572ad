"""WASI grants as a manifest writes them: what is accepted, and every mistake named with its
entry and fix (``wascc validate`` shows these), including grants that would reach the host's
own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import run_wascc, wascc_env
from wascc.host.manifest import ManifestInvalid, RegistryAccess, load_manifest
from wascc.host.wasi import DirGrant, WasiGrants, read_grants


def _problems(value: object, base: Path, reserved: dict[Path, str] | None = None) -> list[str]:
    grants, problems = read_grants(value, base, reserved)
    assert grants is None
    return [f"{p.where}: {p.message}; {p.fix}" for p in problems]


def test_a_full_grant_is_read_with_paths_resolved_from_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    grants, problems = read_grants(
        {
            "dirs": [
                {"host": "./in", "guest": "/data"},
                {"host": str(tmp_path / "out"), "guest": "/out", "mode": "rw"},
            ],
            "env": {"GREETING": "hello"},
            "args": ["--fast", "x"],
            "stdout": "log",
        },
        tmp_path,
    )
    assert problems == []
    assert grants == WasiGrants(
        dirs=(DirGrant(tmp_path / "in", "/data", "ro"), DirGrant(tmp_path / "out", "/out", "rw")),
        env=(("GREETING", "hello"),),
        args=("--fast", "x"),
        stdout="log",
        stderr="none",
    )
    assert grants.summary() == "/data ro, /out rw, 1 env, 2 args, stdout→log"
    assert WasiGrants().summary() == "-"
    assert WasiGrants().empty


def test_each_mistake_is_named_with_its_fix(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "file.txt").write_text("x")
    problems = _problems(
        {
            "dir": [],
            "dirs": [
                {"host": "./in", "guest": "/data", "mode": "rx"},
                {"host": "./in", "guest": "data"},
                {"host": "./in", "guest": "/a/../b"},
                {"host": "./missing", "guest": "/m"},
                {"host": "./file.txt", "guest": "/f"},
                {"host": "./in", "guest": "/data"},
                {"host": "./in", "guest": "/twice"},
                {"host": "./in", "guest": "/twice"},
                {"guest": "/nohost"},
            ],
            "env": {"PORT": 8080},
            "args": "--fast",
            "stdout": "file",
        },
        tmp_path,
    )
    missing = tmp_path / "missing"
    assert problems == [
        "dir: unknown key 'dir' (did you mean dirs?); a wasi grant takes only dirs, env, "
        "args, stdout, stderr",
        "dirs[0].mode: mode is 'rx', not ro or rw; write ro (read-only, the default) or rw "
        "(read-write)",
        "dirs[1].guest: expected an absolute guest path such as /data, got 'data'; write the "
        "path the module opens, starting with /",
        "dirs[2].guest: /a/../b is not a plain guest path; write it as '/b' (no '..', '.', '//' "
        "or trailing slash), and not / itself",
        f"dirs[3].host: {missing} does not exist; create the directory first, or fix the path "
        "(relative paths start at the manifest's directory)",
        f"dirs[4].host: {tmp_path / 'file.txt'} is not a directory; create the directory "
        "first, or fix the path (relative paths start at the manifest's directory)",
        "dirs[7].guest: /twice is granted twice; give each directory its own guest path",
        "dirs[8]: missing host; write {host: ./dir, guest: /data, mode: ro}",
        "env.PORT: expected text, got int; quote the value",
        "args: expected a list of text, got '--fast'; write [a, b]",
        "stdout: stdout is 'file', not log or none; write log (the module's log) or none "
        "(discarded, the default)",
    ]


@pytest.mark.parametrize("where", ["itself", "parent", "inside"])
def test_no_grant_reaches_a_directory_the_host_uses(tmp_path: Path, where: str) -> None:
    """The data directory itself, a directory holding it, or one inside it: each would hand
    the module the host's caches and keys."""
    data = tmp_path / "host" / "data"
    (data / "cache").mkdir(parents=True)
    granted = {"itself": data, "parent": tmp_path / "host", "inside": data / "cache"}[where]
    (problem,) = _problems(
        {"dirs": [{"host": str(granted), "guest": "/x"}]},
        tmp_path,
        {data: "the host's data directory"},
    )
    assert problem == (
        f"dirs[0].host: {granted} would give the module the host's data directory ({data}); "
        "grant a directory of its own, outside the host's files"
    )


def _manifest(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "app.yaml"
    file.write_text(text)
    return file


def test_a_manifest_gives_an_actor_its_grants_and_names_wrong_ones(
    tmp_path: Path, signer: Signer
) -> None:
    (tmp_path / "relay.wasm").write_bytes(signer.sign("relay"))
    (tmp_path / "in").mkdir()
    good = _manifest(
        tmp_path,
        "actors:\n  - path: relay.wasm\n    wasi: {dirs: [{host: in, guest: /in}], env: {A: b}}\n",
    )
    manifest = load_manifest(good)
    (actor,) = manifest.actors
    assert actor.settings.wasi.dirs == (DirGrant(tmp_path / "in", "/in", "ro"),)
    assert actor.settings.wasi.env == (("A", "b"),)
    # The relay imports no WASI: the grants give it nothing, which the check says.
    assert manifest.notes == (
        "actors[0]: the module imports no WASI, so its wasi grants give it nothing",
    )
    bad = _manifest(
        tmp_path,
        "actors:\n  - path: relay.wasm\n    wasi: {dirs: [{host: in, guest: /in, mode: w}]}\n",
    )
    with pytest.raises(ManifestInvalid) as invalid:
        load_manifest(bad)
    assert [p.path for p in invalid.value.problems] == ["actors[0].wasi.dirs[0].mode"]


def test_a_manifest_keeps_grants_away_from_the_data_directory_and_the_keys(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "relay.wasm").write_bytes(signer.sign("relay"))
    keys, data = tmp_path / "keys", tmp_path / "data"
    keys.mkdir()
    data.mkdir()
    monkeypatch.setenv("WASCC_KEYS", str(keys))
    file = _manifest(
        tmp_path,
        "actors:\n  - path: relay.wasm\n    wasi: {dirs: [{host: keys, guest: /k}, "
        "{host: ., guest: /all}]}\n",
    )
    with pytest.raises(ManifestInvalid) as invalid:
        load_manifest(file, registry=RegistryAccess(data))
    messages = [p.message for p in invalid.value.problems]
    assert messages == [
        f"{keys} would give the module the host's saved keys ({keys})",
        f"{tmp_path} would give the module the host's saved keys ({keys})",
    ]


def test_wasm_provider_entries_in_a_manifest(tmp_path: Path, signer: Signer) -> None:
    """A provider module under capabilities: is accepted with the contract it serves, and
    bindings to that contract check; an actor module there, a native provider given wasm
    settings, or a module naming no contract are each refused with the fix."""
    (tmp_path / "counter.wasm").write_bytes(signer.sign_provider("fixtures/counter", name="c"))
    (tmp_path / "relay.wasm").write_bytes(signer.sign("relay", caps=["test:counter"]))
    (tmp_path / "relayer.wasm").write_bytes(signer.sign_provider("relay", name="relayer"))
    good = _manifest(
        tmp_path,
        "actors: [relay.wasm]\n"
        "capabilities:\n  - path: counter.wasm\n    contract: test:counter\n    max_instances: 2\n"
        "bindings:\n  - {actor: relay.wasm, capability: test:counter}\n",
    )
    manifest = load_manifest(good)
    (cap,) = manifest.capabilities
    assert cap.wasm is not None
    assert (cap.contract_id, cap.wasm.settings.max_instances) == ("test:counter", 2)
    assert [b.contract_id for b in manifest.bindings] == ["test:counter"]

    bad = _manifest(
        tmp_path,
        "capabilities:\n  - path: relay.wasm\n  - path: keyvalue\n    wasi: {}\n"
        "  - path: relayer.wasm\n",
    )
    with pytest.raises(ManifestInvalid) as invalid:
        load_manifest(bad)
    shown = [f"{p.path}: {p.message}" for p in invalid.value.problems]
    assert shown == [
        f"capabilities[0].path: {tmp_path / 'relay.wasm'} is signed as an actor (prov: false), "
        "not as a capability provider: an actor belongs under actors:, not capabilities:",
        "capabilities[1].wasi: wasi is a setting of a provider written in wasm, and keyvalue "
        "is not one",
        f"capabilities[2].contract: {tmp_path / 'relayer.wasm'} does not say which contract it "
        "serves (it does not answer GetCapabilityDescriptor)",
    ]


def test_wascc_validate_refuses_a_grant_of_its_data_directory(
    tmp_path: Path, signer: Signer
) -> None:
    """The command line passes its data directory (``--data-dir``) to the check."""
    (tmp_path / "relay.wasm").write_bytes(signer.sign("relay"))
    (tmp_path / "data").mkdir()
    file = _manifest(
        tmp_path, "actors:\n  - path: relay.wasm\n    wasi: {dirs: [{host: data, guest: /d}]}\n"
    )
    env = wascc_env(tmp_path / "keys")
    done = run_wascc("validate", str(file), "--data-dir", "data", env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"actors[0].wasi.dirs[0].host: {tmp_path / 'data'} would give the module the host's "
        "data directory" in done.stderr
    )
    fine = _manifest(tmp_path, "actors:\n  - path: relay.wasm\n    wasi: {env: {A: b}}\n")
    done = run_wascc("validate", str(fine), "--data-dir", "data", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
