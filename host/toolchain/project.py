"""An actor project: a directory with its source and ``actor.toml``, as ``wascc new`` makes it.

``actor.toml`` holds what ``wascc build`` needs to compile and sign the actor::

    name = "hello"                     # the actor's name in its claims; build/NAME.wasm
    language = "c"                     # c or assemblyscript
    source = "hello.c"                 # relative to the project directory
    capabilities = ["wascc:http_server", "wascc:logging"]
    rev = 1                            # revision: a live update needs a higher one
    version = "0.1.0"                  # shown by `wascc claims inspect`

Every problem of the file is reported at once, each with the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from wascc.host.toolchain.errors import ToolchainError
from wascc.keys.suggest import did_you_mean

__all__ = [
    "LANGUAGES",
    "PROJECT_FILE",
    "Language",
    "Project",
    "check_name",
    "load_project",
]

Language = Literal["c", "assemblyscript"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
PROJECT_FILE: Final = "actor.toml"
_MAX_NAME: Final = 64
# C: the name is a file name (NAME.c) and may be used as an identifier, so a C identifier.
# AssemblyScript: the name is also the npm package name, which must be lower case.
_NAMES: Final[dict[Language, tuple[re.Pattern[str], str]]] = {
    "c": (
        re.compile(r"[A-Za-z][A-Za-z0-9_]*"),
        "letters, digits and '_', starting with a letter (a C identifier)",
    ),
    "assemblyscript": (
        re.compile(r"[a-z][a-z0-9_-]*"),
        "lower-case letters, digits, '_' and '-', starting with a letter (an npm package name)",
    ),
}
SHOWN: Final[dict[Language, str]] = {"c": "C", "assemblyscript": "AssemblyScript"}
_KEYS: Final = ("name", "language", "source", "capabilities", "rev", "version")


@dataclass(frozen=True)
class Project:
    """An actor project, read from its ``actor.toml``."""

    directory: Path
    name: str
    language: Language
    source: str  # relative to ``directory``
    capabilities: tuple[str, ...]
    rev: int
    version: str

    @property
    def source_path(self) -> Path:
        """The source file (C) or the entry file (AssemblyScript)."""
        return self.directory / self.source

    @property
    def build_dir(self) -> Path:
        """Where ``wascc build`` writes: ``build/`` in the project."""
        return self.directory / "build"

    @property
    def module_path(self) -> Path:
        """The unsigned module ``wascc build`` makes by default."""
        return self.build_dir / f"{self.name}.wasm"


def check_name(name: str, language: Language) -> None:
    """Refuse a name that cannot name a project of ``language``; the fix suggests one."""
    pattern, rule = _NAMES[language]
    if pattern.fullmatch(name) and len(name) <= _MAX_NAME:
        return
    suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    if language == "assemblyscript":
        suggestion = suggestion.lower()
    if suggestion and not suggestion[0].isalpha():
        suggestion = f"actor_{suggestion}"
    suggestion = suggestion[:_MAX_NAME]
    hint = f", for example {suggestion!r}" if suggestion and pattern.fullmatch(suggestion) else ""
    raise ToolchainError(
        f"{name!r} cannot name an actor in {SHOWN[language]}: use {rule}, at most "
        f"{_MAX_NAME} characters{hint}"
    )


def load_project(directory: Path) -> Project:
    """The project in ``directory``; ``ToolchainError`` listing every problem of its
    ``actor.toml`` (or saying there is none, and how to make one)."""
    file = directory / PROJECT_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolchainError(
            f"{directory} has no {PROJECT_FILE}, so it is not an actor project; make one with "
            "`wascc new actor NAME --lang c` (or --lang assemblyscript), or give its "
            "directory: `wascc build DIR`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ToolchainError(f"cannot read {file}: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(f"{file} is not valid TOML: {exc}; fix the syntax") from None
    return _project(directory, file, data)


def _project(directory: Path, file: Path, data: dict[str, Any]) -> Project:
    problems: list[str] = []

    def value(key: str, kind: type, what: str) -> Any:
        got = data.get(key)
        if got is None:
            problems.append(f"{key}: missing; add {key} = {what}")
        elif not isinstance(got, kind) or isinstance(got, bool) != (kind is bool):
            problems.append(f"{key}: {got!r} is not {what}")
        else:
            return got
        return None

    for key in data:
        if key not in _KEYS:
            problems.append(f"{key}: not a setting of {PROJECT_FILE}{did_you_mean(key, _KEYS)}")
    name = value("name", str, 'a string ("hello")')
    language = value("language", str, f"one of {', '.join(map(repr, LANGUAGES))}")
    if language is not None and language not in LANGUAGES:
        problems.append(
            f"language: {language!r} is not one of {', '.join(LANGUAGES)}"
            f"{did_you_mean(language, LANGUAGES)}"
        )
        language = None
    if name is not None and language is not None:
        try:
            check_name(name, language)
        except ToolchainError as exc:
            problems.append(f"name: {exc}")
    source = value("source", str, 'the source file ("hello.c")')
    if source is not None and not (directory / source).is_file():
        problems.append(f"source: {directory / source} does not exist; give the source file")
    capabilities = value("capabilities", list, 'a list of contract ids (["wascc:http_server"])')
    if capabilities is not None and not all(isinstance(c, str) and c for c in capabilities):
        problems.append("capabilities: every entry must be a contract id (a string)")
        capabilities = None
    rev = value("rev", int, "a whole number (1)")
    if rev is not None and rev < 0:
        problems.append(f"rev: {rev} is negative; give 0 or more")
    version = value("version", str, 'a string ("0.1.0")')
    if problems:
        lines = "\n".join(f"  {file}: {problem}" for problem in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        raise ToolchainError(f"{file} has {len(problems)} {noun}:\n{lines}")
    return Project(
        directory=directory,
        name=name,
        language=language,
        source=source,
        capabilities=tuple(dict.fromkeys(capabilities)),
        rev=rev,
        version=version,
    )
