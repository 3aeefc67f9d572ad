"""``wascc new actor``: a buildable project from the template of its language.

A template is a directory of files under ``sdk_root()/templates/LANGUAGE``. Each file is
copied with ``${name}`` replaced by the actor's name (``string.Template``: ``$$`` is a
literal ``$``), in its contents and in its path, where ``__name__`` stands for it too (a
``$`` is awkward in file names); ``gitignore`` becomes ``.gitignore`` (a dot file in the
template would apply to the template itself).
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Final

from wascc.host.toolchain.errors import ToolchainError
from wascc.host.toolchain.project import PROJECT_FILE, Language, check_name
from wascc.host.toolchain.sdk import templates_dir

__all__ = ["new_actor"]

_RENAMES: Final = {"gitignore": ".gitignore"}


def new_actor(name: str, language: Language, parent: Path) -> Path:
    """Write the project ``parent/name`` from the template of ``language``; its directory.

    Refuses a name the language cannot use, and a directory that exists and is not empty
    (nothing is overwritten)."""
    check_name(name, language)
    target = parent / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "a directory that is not empty" if target.is_dir() else "a file"
        raise ToolchainError(
            f"{target} is {what}: `wascc new` never overwrites; choose another name, or "
            "another parent directory with --dir"
        )
    template = templates_dir(language)
    if not (template / PROJECT_FILE).is_file():
        raise ToolchainError(
            f"the {language} template is missing from this installation ({template}); "
            "reinstall wascc-py"
        )
    files = _render(template, {"name": name})
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ToolchainError(f"cannot write {target}: {exc.strerror}") from None
    return target


def _render(template: Path, values: dict[str, str]) -> dict[Path, str]:
    """Every file of ``template`` as ``{relative path: text}``, placeholders filled in
    (all of them first: a broken template writes nothing)."""
    files: dict[Path, str] = {}
    for root, _, names in os.walk(template):
        for file_name in sorted(names):
            source = Path(root) / file_name
            relative = source.relative_to(template)
            parts = [
                _RENAMES.get(part, part).replace("__name__", values["name"])
                for part in relative.parts
            ]
            try:
                text = string.Template(source.read_text(encoding="utf-8")).substitute(values)
            except (KeyError, ValueError) as exc:
                raise ToolchainError(
                    f"the template file {source} has a placeholder other than "
                    f"{', '.join('${' + key + '}' for key in values)} ({exc}); write $$ for a "
                    "literal $"
                ) from None
            files[Path(*parts)] = text
    return files
