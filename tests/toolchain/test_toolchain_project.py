"""``wascc new actor``: the project it writes, the names it refuses, and ``actor.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.toolchain.conftest import Run
from wascc.host.toolchain.errors import ToolchainError
from wascc.host.toolchain.project import Project, load_project
from wascc.host.toolchain.sdk import include_dir, sdk_root, templates_dir
from wascc.host.toolchain.templates import new_actor


def test_the_sdk_holds_both_templates_and_the_c_headers() -> None:
    """``sdk_root()`` is where the templates and the headers the C template includes are."""
    assert sdk_root().name == "actors"
    for header in ("wapc.h", "msgpack.h", "http.h"):
        assert (include_dir() / header).is_file()
    for language in ("c", "assemblyscript"):
        assert (templates_dir(language) / "actor.toml").is_file()


@pytest.mark.parametrize(
    ("language", "files"),
    [
        ("c", {"hello.c", "actor.toml", "README.md", ".gitignore"}),
        (
            "assemblyscript",
            {
                "assembly/index.ts",
                "assembly/tsconfig.json",
                "package.json",
                "actor.toml",
                "README.md",
                ".gitignore",
            },
        ),
    ],
)
def test_new_actor_writes_a_project_named_after_the_actor(
    tmp_path: Path, language: str, files: set[str]
) -> None:
    """Every template file is written with the name filled in, and actor.toml reads back."""
    target = new_actor("hello", language, tmp_path)  # type: ignore[arg-type]
    written = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert written == files
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "${" not in text, path
            assert "__name__" not in text, path
    readme = (target / "README.md").read_text(encoding="utf-8")
    for command in ("wascc build --sign", "wascc up build/hello_s.wasm", "curl http://127.0.0"):
        assert command in readme
    assert "$WASCC_KEYS" in readme
    project = load_project(target)
    assert project == Project(
        directory=target,
        name="hello",
        language=language,  # type: ignore[arg-type]
        source="hello.c" if language == "c" else "assembly/index.ts",
        capabilities=("wascc:http_server", "wascc:logging"),
        rev=1,
        version="0.1.0",
    )
    if language == "assemblyscript":
        package = (target / "package.json").read_text(encoding="utf-8")
        assert '"name": "hello"' in package
        assert '"assemblyscript": "0.27.37"' in package


def test_new_actor_never_overwrites(tmp_path: Path) -> None:
    """A directory that is not empty is refused and left as it was; an empty one is used."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    with pytest.raises(ToolchainError, match=r"taken is a directory that is not empty.*never"):
        new_actor("taken", "c", tmp_path)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    assert (new_actor("empty", "c", tmp_path) / "empty.c").is_file()


@pytest.mark.parametrize(
    ("name", "language", "suggestion"),
    [
        ("my actor", "c", "my_actor"),
        ("9lives", "c", "actor_9lives"),
        ("hello-world", "c", "hello_world"),
        ("Hello", "assemblyscript", "hello"),
        ("x" * 65, "c", "x" * 64),
    ],
)
def test_wascc_new_refuses_a_name_the_language_cannot_use(
    wascc: Run, tmp_path: Path, name: str, language: str, suggestion: str
) -> None:
    """An unusable name is a usage error that says the rule and suggests a name; nothing is
    written."""
    done = wascc("new", "actor", name, "--lang", language)
    assert done.returncode == 2, done
    assert "cannot name an actor in" in done.stderr
    assert f"for example {suggestion!r}" in done.stderr, done
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("keys", "data")) == []


def test_wascc_new_writes_into_dir_and_says_what_next(wascc: Run, tmp_path: Path) -> None:
    """``--dir`` chooses the parent; the output gives the commands to build, run and curl."""
    done = wascc("new", "actor", "greeter", "--lang", "c", "--dir", "projects")
    assert done.returncode == 0, done
    assert (tmp_path / "projects" / "greeter" / "greeter.c").is_file()
    assert "wascc build --sign" in done.stdout
    assert "wascc up build/greeter_s.wasm" in done.stdout
    again = wascc("new", "actor", "greeter", "--dir", "projects")
    assert again.returncode == 1, again
    assert "never overwrites" in again.stderr


def _project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "hello.c").write_text("")
    (tmp_path / "actor.toml").write_text(toml)
    return tmp_path


def test_load_project_lists_every_problem_with_its_fix(tmp_path: Path) -> None:
    """Unknown keys (with a did-you-mean), wrong types, a missing source and a missing key are
    all reported at once."""
    directory = _project(
        tmp_path,
        'name = "hello"\nlanguage = "C++"\nsource = "nope.c"\ncapabilites = []\n'
        'rev = "1"\nversion = "0.1.0"\n',
    )
    with pytest.raises(ToolchainError) as caught:
        load_project(directory)
    message = str(caught.value)
    assert "has 5 problems" in message
    assert "capabilites: not a setting of actor.toml (did you mean capabilities?)" in message
    assert "language: 'C++' is not one of c, assemblyscript" in message
    assert "nope.c does not exist" in message
    assert "capabilities: missing; add capabilities = " in message
    assert "rev: '1' is not a whole number" in message


def test_load_project_without_actor_toml_says_how_to_make_one(tmp_path: Path) -> None:
    """A directory that is no project points at ``wascc new``."""
    with pytest.raises(ToolchainError, match=r"no actor\.toml.*wascc new actor NAME"):
        load_project(tmp_path)


def test_load_project_rejects_toml_syntax_errors(tmp_path: Path) -> None:
    """A file that is not TOML names itself and the syntax problem."""
    directory = _project(tmp_path, 'name = "hello\n')
    with pytest.raises(ToolchainError, match=r"actor\.toml is not valid TOML"):
        load_project(directory)


def test_the_templates_actor_toml_is_plain_toml() -> None:
    """The templates' actor.toml parse as TOML once the name is filled in (what tomllib reads
    is what `wascc build` uses)."""
    for language in ("c", "assemblyscript"):
        text = (templates_dir(language) / "actor.toml").read_text().replace("${name}", "x")
        assert tomllib.loads(text)["language"] == language
