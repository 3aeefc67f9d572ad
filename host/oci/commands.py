"""``wascc push`` and ``wascc pull``: signed modules to and from OCI registries.

The registry client (oras, requests) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wascc.host.oci.credentials import PASSWORD_ENV, USER_ENV, Credentials, find_credentials
from wascc.host.oci.options import DATA_ENV, default_data_dir
from wascc.host.oci.reference import Reference
from wascc.keys.claims import validate_module
from wascc.keys.cli import friendly_errors

if TYPE_CHECKING:
    from wascc.host.oci.store import ModuleStore

__all__ = ["pull_command", "push_command"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _registry_options(function: _F) -> _F:
    """The options push and pull share: transport, credentials, data directory."""
    options: tuple[Callable[[Any], Any], ...] = (
        click.option(
            "--insecure",
            is_flag=True,
            help="Talk plain HTTP to the registry (a local test registry); TLS otherwise.",
        ),
        click.option(
            "--user",
            metavar="NAME",
            help=f"The registry user [default: ${USER_ENV}, else Docker's config.json].",
        ),
        click.option(
            "--password-stdin",
            is_flag=True,
            help=f"Read --user's password (or token) from standard input [default: "
            f"${PASSWORD_ENV}].",
        ),
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help=f"Where the module cache is kept [default: ${DATA_ENV} or ~/.wascc/data].",
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


def _credentials(registry: str, user: str | None, password_stdin: bool) -> Credentials | None:
    if password_stdin and user is None:
        raise click.UsageError("--password-stdin reads the password of --user NAME: give both")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read no password from standard input")
    return find_credentials(registry, user=user, password=password)


def _store(
    reference: Reference,
    *,
    insecure: bool,
    user: str | None,
    password_stdin: bool,
    data_dir: Path | None,
    allow_latest: bool = False,
) -> ModuleStore:
    # Here, not at the top: the HTTP client is imported by the commands that use it.
    from wascc.host.oci.store import ModuleStore  # noqa: PLC0415

    return ModuleStore(
        data_dir or default_data_dir(),
        insecure=insecure,
        credentials=_credentials(reference.registry, user, password_stdin),
        allow_latest=allow_latest,
    )


@click.command("push")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("reference", metavar="oci://REGISTRY/REPO:TAG")
@_registry_options
def push_command(
    *,
    file: Path,
    reference: str,
    insecure: bool,
    user: str | None,
    password_stdin: bool,
    data_dir: Path | None,
) -> None:
    """Push the signed module FILE to a registry; print the pinned reference.

    The printed oci://REGISTRY/REPO@sha256:... names exactly this module: use it in a
    manifest. Only signed modules are pushed (`wascc claims sign`).
    """
    with friendly_errors():
        ref = Reference.parse(reference)
        try:
            module = file.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
        store = _store(
            ref, insecure=insecure, user=user, password_stdin=password_stdin, data_dir=data_dir
        )
        digest = store.push(module, ref)
    click.echo(str(ref.with_digest(digest)))


@click.command("pull")
@click.argument("reference", metavar="oci://REGISTRY/REPO:TAG|@sha256:DIGEST")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the module [default: the repository's last part .wasm, here].",
)
@click.option(
    "--allow-latest",
    is_flag=True,
    help="Pull :latest (or no tag) without a digest, though it may change at any push.",
)
@_registry_options
def pull_command(
    *,
    reference: str,
    output: Path | None,
    allow_latest: bool,
    insecure: bool,
    user: str | None,
    password_stdin: bool,
    data_dir: Path | None,
) -> None:
    """Pull a signed module from a registry, verified, and show its claims.

    The manifest's digest (when pinned), the layer's digest and the module's signature are
    checked before anything is written; the module is kept in the data directory's cache.
    """
    with friendly_errors():
        ref = Reference.parse(reference)
        store = _store(
            ref,
            insecure=insecure,
            user=user,
            password_stdin=password_stdin,
            data_dir=data_dir,
            allow_latest=allow_latest,
        )
        pulled = store.pull(ref)
        claims = validate_module(pulled.data, path=str(ref))
    target = output or Path(f"{ref.repository.rsplit('/', 1)[-1]}.wasm")
    try:
        target.write_bytes(pulled.data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    source = ", from the cache" if pulled.from_cache else ""
    rows = [
        ("Reference", str(pulled.pinned)),
        ("Written to", f"{target} ({len(pulled.data)} bytes{source})"),
        ("Layer", f"{pulled.layer_digest} ({pulled.media_type})"),
        ("Account", claims.issuer),
        ("Module", claims.subject),
        ("Name", claims.name or "(none)"),
        ("Version", claims.ver or "(none)"),
        ("Revision", "(none)" if claims.rev is None else str(claims.rev)),
        ("Capabilities", ", ".join(claims.caps) or "(none)"),
    ]
    for label, value in rows:
        click.echo(f"{label:>12}  {value}")
