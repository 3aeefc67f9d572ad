"""``wascc new``, ``wascc build``, and ``wascc claims`` with build-mistake warnings.

``host/cli.py`` mounts :data:`new_group`, :data:`build_command` and the group
:func:`checked_claims_group` makes. Expected failures end as one ``Error: …`` (exit 1); a
name or option that cannot work is a usage error (exit 2).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click

from wascc.host.errors import WasccError
from wascc.host.toolchain.build import build_project
from wascc.host.toolchain.diagnose import check_actor_module
from wascc.host.toolchain.project import LANGUAGES, SHOWN, Language, check_name, load_project
from wascc.host.toolchain.templates import new_actor
from wascc.keys.cli import claims_group, friendly_errors, sign_command

__all__ = ["build_command", "checked_claims_group", "new_group"]


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@click.group("new")
def new_group() -> None:
    """Make a new project from a template."""


@new_group.command("actor")
@click.argument("name")
@click.option(
    "--lang",
    "language",
    type=click.Choice(LANGUAGES),
    default="c",
    show_default=True,
    help="The actor's language.",
)
@click.option(
    "--dir",
    "parent",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    help="Where to make the project's directory NAME [default: the current directory].",
)
def new_actor_command(name: str, language: Language, parent: Path) -> None:
    """Make DIR/NAME: a hello-world HTTP actor, its actor.toml and a README.

    The actor answers every HTTP request with 200 and a greeting naming the path, and logs
    one line per request through wascc:logging. Build, sign and run it with `wascc build
    --sign` and `wascc up build/NAME_s.wasm`. An existing directory that is not empty is
    never touched.
    """
    try:
        check_name(name, language)
    except WasccError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    with friendly_errors():
        target = new_actor(name, language, parent)
    click.echo(f"Created the {SHOWN[language]} actor {name} in {target}")
    click.echo("Next:")
    click.echo(f"  cd {target}")
    click.echo("  wascc build --sign")
    click.echo(f"  wascc up build/{name}_s.wasm")
    click.echo("  curl http://127.0.0.1:8080/hello")


@click.command("build")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option(
    "--sign",
    is_flag=True,
    help="Then sign the module with the name, capabilities, rev and version of actor.toml "
    "(as `wascc claims sign`: keys from $WASCC_KEYS, made on first use) into NAME_s.wasm.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the module here [default: DIRECTORY/build/NAME.wasm].",
)
@click.pass_context
def build_command(ctx: click.Context, directory: Path, sign: bool, output: Path | None) -> None:
    """Build the actor project in DIRECTORY (default: the current one).

    C is compiled with zig cc (`pip install 'wascc-py[build]'`), AssemblyScript with npx asc
    (Node.js; `npm install` runs first when node_modules is missing).
    """
    with friendly_errors():
        project = load_project(directory)
        result = build_project(project, output=output, report=_echo_err)
    click.echo(f"Built {result.module} ({result.size:,} bytes, {result.seconds:.1f}s)")
    if not sign:
        where = "" if directory == Path(".") else f" {directory}"
        click.echo(f"Sign it to run it: wascc build{where} --sign")
        return
    signed = result.module.with_name(f"{result.module.stem}_s.wasm")
    ctx.invoke(
        sign_command,
        source=str(result.module),
        output=str(signed),
        name=project.name,
        caps=project.capabilities,
        rev=project.rev,
        ver=project.version,
    )
    click.echo(f"Run it: wascc up {signed}")


def checked_claims_group() -> click.Group:
    """``keys.cli``'s ``claims`` group whose ``sign`` first warns about build mistakes in the
    module (``host.toolchain.diagnose``): signing a module built wrong works, running it
    does not, and the warning names the fix."""
    group = copy.copy(claims_group)
    group.commands = dict(claims_group.commands)
    plain = group.commands["sign"]
    callback = plain.callback
    assert callback is not None  # a click command always has one

    def sign_checked(**options: Any) -> Any:
        _warn_build_mistakes(Path(options["source"]), options["source"])
        return callback(**options)

    checked = copy.copy(plain)
    checked.callback = sign_checked
    group.commands["sign"] = checked
    return group


def _warn_build_mistakes(file: Path, label: str) -> None:
    """One warning per build mistake in ``file``; nothing when it cannot be read as wasm
    (signing then fails and says so)."""
    for problem in check_actor_module(file, label):
        # keys.cli's sign warns about a missing __guest_call itself (it also runs alone).
        if problem.kind not in ("unreadable", "no-guest-call"):
            click.echo(f"Warning: {problem}", err=True)
