"""Hostile manifests (issue 13): ``wascc validate`` and ``wascc up`` refuse each one quickly
with exit status 2, one line per problem naming the entry and the fix, never a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.process.process_support import SignedActor, run_wascc

Actors = dict[str, SignedActor]

_KV = (
    "actors: [kvcounter_s.wasm]\ncapabilities: [{path: keyvalue}]\nbindings:\n"
    "  - {actor: kvcounter_s.wasm, capability: wascc:keyvalue, values: VALUES}\n"
)


def _bomb() -> str:
    """Under 700 bytes: nine levels of anchors, each repeating the previous one nine times
    (9**9 values once expanded), as a label's value."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return (
        "labels:\n  bomb: {" + ", ".join(lines) + "}\nactors: []\ncapabilities: []\nbindings: []\n"
    )


def _deep_json() -> str:
    deep = "[" * 5000 + "]" * 5000
    return '{"labels": {"a": "b"}, "actors": ' + deep + ', "capabilities": [], "bindings": []}'


class Hostile(NamedTuple):
    """A hostile manifest, and the problem line ``wascc`` must print for it."""

    file: str
    text: str
    line: str  # the problem's line, from the entry path on (after "FILE: ")
    fix: str  # words of its fix, on the same line


CASES = {
    "deep-yaml": Hostile(
        "deep.yaml",
        "actors: " + "[" * 5000 + "]" * 5000 + "\ncapabilities: []\nbindings: []\n",
        "line 1: collections are nested deeper than 64 levels",
        "flatten it",
    ),
    "deep-json": Hostile(
        "deep.json",
        _deep_json(),
        "line 1: collections are nested deeper than 64 levels",
        "flatten it",
    ),
    "alias-bomb": Hostile(
        "bomb.yaml",
        _bomb(),
        "line 2: the manifest has more than 100,000 values once aliases are expanded",
        "use fewer aliases of large collections",
    ),
    "proc-self-mem": Hostile(
        "kv.yaml",
        _KV.replace("VALUES", "{PATH: /proc/self/mem}"),
        "bindings[0].values: wascc:keyvalue (binding 'default') cannot bind actor kvcounter (M",
        "give PATH as a regular file in a writable directory",
    ),
    "fuel": Hostile(
        "fuel.yaml",
        f"actors: [{{path: kvcounter_s.wasm, fuel: {10**30}}}]\ncapabilities: []\nbindings: []\n",
        f"actors[0].fuel: must be at most {2**63 - 1}, got {10**30}",
        "lower it (wasmtime counts fuel in a signed 64-bit integer)",
    ),
    "memory-json": Hostile(
        "memory.json",
        '{"actors": [{"path": "kvcounter_s.wasm", "memory_mb": 1e9}], "capabilities": [], '
        '"bindings": []}',
        "actors[0].memory_mb: must be at most 4096, got 1000000000.0",
        "lower it (wasm32 linear memory cannot exceed 4096 MiB)",
    ),
    "memory-yaml": Hostile(
        "memory.yaml",
        "actors: [{path: kvcounter_s.wasm, memory_mb: 1.0e+9}]\ncapabilities: []\nbindings: []\n",
        "actors[0].memory_mb: must be at most 4096, got 1000000000.0",
        "lower it",
    ),
    "integer-key": Hostile(
        "keys.yaml",
        _KV.replace("VALUES", '{1: "x"}'),
        "bindings[0].values.1: the key 1 is an integer: keys must be strings",
        'quote it: "1"',
    ),
}


@pytest.mark.parametrize("command", ["validate", "up"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_manifest_exits_2_naming_entry_and_fix(
    actors: Actors, env: dict[str, str], tmp_path: Path, command: str, case: Hostile
) -> None:
    """Each hostile manifest ends with exit 2 within seconds, its problem on one line that
    names the entry and the fix; ``up`` starts nothing."""
    file = tmp_path / case.file
    file.write_text(case.text)
    args = ("--data-dir", str(tmp_path / "data")) if command == "up" else ()
    started = time.monotonic()
    result = run_wascc(command, str(file), *args, env=env, cwd=tmp_path, timeout=20)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert f"Error: {file} has 1 problem:" in result.stderr
    problem = next((row for row in result.stderr.splitlines() if case.line in row), None)
    assert problem is not None, result.stderr
    assert problem.startswith(f"  {file}: ")
    assert case.fix in problem
    assert elapsed < 10, elapsed
    assert not (tmp_path / "data").exists()  # nothing was started


@pytest.mark.parametrize("command", ["validate", "up"])
def test_alias_bomb_is_refused_in_well_under_five_seconds(
    actors: Actors, env: dict[str, str], tmp_path: Path, command: str
) -> None:
    """The ~600-byte alias bomb that used to hang ``wascc`` for minutes is refused, the
    whole process (interpreter start included) taking under five seconds."""
    file = tmp_path / "bomb.yaml"
    file.write_text(_bomb())
    assert len(_bomb()) < 700
    started = time.monotonic()
    result = run_wascc(command, str(file), env=env, cwd=tmp_path, timeout=20)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert "more than 100,000 values once aliases are expanded" in result.stderr
    assert elapsed < 5, elapsed


def test_a_manifest_with_anchors_and_merges_validates(
    actors: Actors, env: dict[str, str], tmp_path: Path
) -> None:
    """Ordinary ``&defaults`` / ``<<: *defaults`` use is still a valid manifest."""
    file = tmp_path / "anchors.yaml"
    file.write_text(
        "actors:\n"
        "  - &defaults {path: echo_s.wasm, max_instances: 2, deadline: 2.5, memory_mb: 32}\n"
        "  - <<: *defaults\n"
        "    path: kvcounter_s.wasm\n"
        "capabilities: [{path: http_server}, {path: keyvalue}]\n"
        "bindings:\n"
        "  - {actor: echo_s.wasm, capability: wascc:http_server, values: &http {PORT: '0'}}\n"
        "  - {actor: kvcounter_s.wasm, capability: wascc:http_server,\n"
        "     values: {<<: *http, TIMEOUT: '5'}}\n"
        "  - actor: kvcounter_s.wasm\n"
        "    capability: wascc:keyvalue\n"
        "    values: {BACKEND: memory}\n"
    )
    result = run_wascc("validate", str(file), env=env, cwd=tmp_path, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "is valid: 2 actors, 2 capabilities, 3 bindings" in result.stdout


def test_json_manifest_at_the_limits_validates(
    actors: Actors, env: dict[str, str], tmp_path: Path
) -> None:
    """Settings at their documented maxima, in a JSON manifest, are valid."""
    file = tmp_path / "limits.json"
    actor = {
        "path": "echo_s.wasm",
        "fuel": 2**63 - 1,
        "memory_mb": 4096,
        "max_instances": 1024,
        "max_queue": 100_000,
        "deadline": 3600,
    }
    file.write_text(json.dumps({"actors": [actor], "capabilities": [], "bindings": []}))
    result = run_wascc("validate", str(file), env=env, cwd=tmp_path, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "is valid: 1 actors, 0 capabilities, 0 bindings" in result.stdout
