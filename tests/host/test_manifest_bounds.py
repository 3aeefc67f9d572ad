"""The manifest's bounds: size, nesting, alias expansion, number ranges and key types."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from wascc.host.manifest_loader import MAX_BYTES, MAX_DEPTH, MAX_VALUES, read_document
from wascc.host.manifest_schema import Problem, RawManifest, parse_document

_EMPTY = "actors: []\ncapabilities: []\nbindings: []\n"


def alias_bomb(levels: int = 9) -> str:
    """A YAML mapping whose every level repeats the previous one 9 times (9**levels)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "{" + ", ".join(lines) + "}"


def read(tmp_path: Path, text: str, suffix: str = ".yaml") -> tuple[Any, list[Problem]]:
    file = tmp_path / f"manifest{suffix}"
    file.write_text(text)
    return read_document(file)


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def parse(text: str, tmp_path: Path) -> RawManifest:
    data, problems = read(tmp_path, text)
    assert problems == []
    return parse_document(data, set())


def test_a_file_over_one_mib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """A manifest larger than MAX_BYTES is one problem naming the limit, not a parse."""
    data, problems = read(tmp_path, "# padding\n" * (MAX_BYTES // 10 + 1))
    problem = only_problem(problems)
    assert data is None
    assert problem.message == "the manifest is larger than 1 MiB"
    assert "give the manifest itself" in problem.fix


def test_an_endless_device_given_as_manifest_is_not_read_forever() -> None:
    """/dev/zero as the manifest stops after 1 MiB with the size problem."""
    started = time.monotonic()
    _, problems = read_document(Path("/dev/zero"))
    assert only_problem(problems).message == "the manifest is larger than 1 MiB"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("suffix", "deep"),
    [
        (".yaml", "[" * 5000 + "]" * 5000),
        (".json", "[" * 5000 + "]" * 5000),
        (".yaml", "".join(f"\n{'  ' * i}k:" for i in range(200)) + " x"),
    ],
    ids=["yaml-flow", "json", "yaml-block"],
)
def test_deep_nesting_is_refused_not_a_recursion_error(
    tmp_path: Path, suffix: str, deep: str
) -> None:
    """5,000 nested brackets (or 200 indented keys) give one "nested deeper" problem."""
    text = '{"labels": ' + deep + ', "actors": [], "capabilities": [], "bindings": []}'
    if suffix == ".yaml" and not deep.startswith("["):
        text = f"labels:{deep}\n{_EMPTY}"
    data, problems = read(tmp_path, text, suffix)
    problem = only_problem(problems)
    assert data is None
    assert problem.message == f"collections are nested deeper than {MAX_DEPTH} levels"
    assert problem.path.startswith("line ")
    assert problem.fix.startswith("flatten it")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_nesting_up_to_the_limit_is_read(tmp_path: Path, suffix: str) -> None:
    """Exactly MAX_DEPTH levels of collections are still a document."""
    inner = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)  # the outer mapping is level 1
    data, problems = read(tmp_path, '{"labels": ' + inner + "}", suffix)
    assert problems == []
    depth, value = 1, data["labels"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == MAX_DEPTH - 1


def test_an_alias_bomb_is_refused_within_a_second(tmp_path: Path) -> None:
    """Nine levels of anchors each repeating the last nine times (9**9 values) are refused
    as soon as the expansion passes MAX_VALUES, without expanding them."""
    text = f"labels:\n  bomb: {alias_bomb()}\n{_EMPTY}"
    assert len(text) < 700
    started = time.monotonic()
    data, problems = read(tmp_path, text)
    elapsed = time.monotonic() - started
    problem = only_problem(problems)
    assert data is None
    assert f"more than {MAX_VALUES:,} values once aliases are expanded" in problem.message
    assert problem.path == "line 2"
    assert "use fewer aliases" in problem.fix
    assert elapsed < 1, elapsed


def test_a_small_alias_expansion_is_read(tmp_path: Path) -> None:
    """Four levels (9**4 values) stay within the budget and are expanded as YAML says."""
    data, problems = read(tmp_path, f"labels: {alias_bomb(4)}\n")
    assert problems == []
    assert len(data["labels"]["a3"]) == 9
    assert data["labels"]["a3"][8][8][8] == ["lol"] * 9


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    """``&a [*a]`` (a list containing itself) is refused: every walk of it would recurse."""
    problem = only_problem(read(tmp_path, f"labels: &a [x, *a]\n{_EMPTY}")[1])
    assert problem.path == "line 1"
    assert problem.message == "alias *a refers to the collection it is part of"


def test_aliases_that_nest_too_deep_once_expanded_are_refused(tmp_path: Path) -> None:
    """A chain of anchors each nesting the last one levels deeper is refused by height."""
    lines = ["l0: &l0 " + "[" * 40 + "]" * 40]
    lines += [f"l{i}: &l{i} " + "[" * 40 + f"*l{i - 1}" + "]" * 40 for i in range(1, 4)]
    problem = only_problem(read(tmp_path, "\n".join(lines) + "\n")[1])
    assert problem.message == (
        f"collections are nested deeper than {MAX_DEPTH} levels once aliases are expanded"
    )


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    """``&defaults`` and ``<<: *defaults`` merge as YAML says."""
    raw = parse(
        "actors:\n"
        "  - &defaults {path: a_s.wasm, max_instances: 4, deadline: 2.5}\n"
        "  - <<: *defaults\n"
        "    path: b_s.wasm\n"
        "    deadline: 1\n"
        "capabilities: []\nbindings: []\n",
        tmp_path,
    )
    assert raw.problems == []
    assert [(a.path, dict(a.settings)) for a in raw.actors] == [
        ("a_s.wasm", {"max_instances": 4, "deadline": 2.5}),
        ("b_s.wasm", {"max_instances": 4, "deadline": 1}),
    ]


def test_json_with_too_many_values_is_refused(tmp_path: Path) -> None:
    """A JSON manifest holding more than MAX_VALUES values is refused."""
    text = '{"labels": [' + ",".join(["0"] * (MAX_VALUES + 1)) + "]}"
    problem = only_problem(read(tmp_path, text, ".json")[1])
    assert problem.message == f"the manifest has more than {MAX_VALUES:,} values"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_an_integer_python_cannot_read_is_a_problem(tmp_path: Path, suffix: str) -> None:
    """A 5,000-digit integer (past Python's 4,300-digit limit) is a problem, not a trace."""
    text = '{"labels": {"a": ' + "9" * 5000 + "}}"
    problem = only_problem(read(tmp_path, text, suffix)[1])
    assert "4300 digits" in problem.message
    assert "sys.set_int_max_str_digits" not in problem.render("m")


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("fuel", str(10**30), "must be at most 9223372036854775807, got " + str(10**30)),
        ("memory_mb", "1.0e+9", "must be at most 4096, got 1000000000.0"),
        ("max_instances", "1025", "must be at most 1024"),
        ("max_queue", "100001", "must be at most 100000"),
        ("deadline", "3601", "must be at most 3600"),
        ("deadline", ".inf", "expected a finite number, got inf"),
        ("memory_mb", ".nan", "expected a finite number, got nan"),
        ("fuel", "0x" + "F" * 5000, "got an integer of 20000 bits"),
    ],
)
def test_actor_settings_have_maxima(tmp_path: Path, setting: str, value: str, words: str) -> None:
    """Each per-actor setting past its documented maximum is a problem at its entry path."""
    text = f"actors:\n  - {{path: a_s.wasm, {setting}: {value}}}\ncapabilities: []\nbindings: []\n"
    raw = parse(text, tmp_path)
    problem = only_problem(raw.problems)
    assert problem.path == f"actors[0].{setting}"
    assert words in problem.message
    assert raw.actors[0].settings == {}


def test_actor_settings_at_their_maxima_are_accepted(tmp_path: Path) -> None:
    """The maxima themselves are valid values."""
    raw = parse(
        "actors:\n  - {path: a_s.wasm, fuel: 9223372036854775807, memory_mb: 4096, "
        "max_instances: 1024, max_queue: 100000, deadline: 3600}\ncapabilities: []\nbindings: []\n",
        tmp_path,
    )
    assert raw.problems == []
    assert raw.actors[0].settings["fuel"] == 2**63 - 1
    assert math.isclose(raw.actors[0].settings["memory_mb"], 4096)


@pytest.mark.parametrize(
    ("text", "path", "fix"),
    [
        (
            "bindings:\n  - {actor: a_s.wasm, capability: wascc:keyvalue, values: {1: x}}\n",
            "bindings[0].values.1",
            'quote it: "1"',
        ),
        ("labels: {2.5: x}\n", "labels.2.5", 'quote it: "2.5"'),
        ("labels: {on: x}\n", "labels.True", "YAML reads true, yes, on"),
        ("labels: {~: x}\n", "labels.None", "YAML reads ~, null and an empty key"),
        (
            "capabilities: [{path: keyvalue, config: {7: x}}]\n",
            "capabilities[0].config.7",
            'quote it: "7"',
        ),
    ],
)
def test_keys_that_are_not_strings_are_problems(
    tmp_path: Path, text: str, path: str, fix: str
) -> None:
    """Integer, float, boolean and null keys in values, labels and config are problems."""
    raw = parse(text, tmp_path)
    problem = next(p for p in raw.problems if p.path == path)
    assert "keys must be strings" in problem.message
    assert fix in problem.fix
    assert all(isinstance(key, str) for key in raw.labels)
    assert all(isinstance(key, str) for b in raw.bindings for key in b.values)
    assert all(isinstance(key, str) for c in raw.capabilities for key in c.config)


def test_a_control_character_is_a_problem_at_its_line(tmp_path: Path) -> None:
    """A raw control character (YAML's ReaderError) is reported at its line, on one line."""
    problem = only_problem(read(tmp_path, "labels:\n  a: b\n  c: d\x1fe\n")[1])
    assert problem.path == "line 3"
    assert problem.message == "not valid YAML: control character U+001F is not allowed"
    assert '"\\u001f"' in problem.fix


def test_a_date_python_cannot_hold_is_a_problem(tmp_path: Path) -> None:
    """``0000-01-01`` (YAML reads it as a date in year 0) is a problem, not a trace."""
    problem = only_problem(read(tmp_path, "labels:\n  since: 0000-01-01\n")[1])
    assert problem.path == "line 2"
    assert problem.message == "cannot read the value '0000-01-01': year 0 is out of range"
    assert problem.fix == "quote it to make it a string, or correct it"


def test_nul_characters_are_refused_in_names_paths_and_values(tmp_path: Path) -> None:
    """A NUL character (which the OS refuses in paths) is a problem wherever it is."""
    raw = parse(
        'actors: ["a\\0.wasm"]\ncapabilities: [{path: "kv\\0"}]\nbindings:\n'
        '  - {actor: a.wasm, capability: wascc:keyvalue, values: {PATH: "k\\0v"}}\n',
        tmp_path,
    )
    assert {p.path: p.message for p in raw.problems} == {
        "actors[0]": "'a\\x00.wasm' holds a NUL character (\\0)",
        "capabilities[0].path": "'kv\\x00' holds a NUL character (\\0)",
        "bindings[0].values.PATH": "'k\\x00v' holds a NUL character (\\0)",
    }
    assert raw.actors == []
    assert raw.capabilities == []
    assert raw.bindings[0].values == {}
