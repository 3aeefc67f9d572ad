"""``wascc apply``, ``wascc delete app`` and ``wascc reconciler``: desired state from the
command line (``wascc ctl get apps`` / ``get app NAME`` show it; see ``host.lattice.ctl``)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from wascc.host.apps.reconciler import Reconciler
from wascc.host.apps.spec import AppInvalid, read_app
from wascc.host.apps.store import AppStore
from wascc.host.errors import WasccError
from wascc.host.lattice.client import LatticeClient
from wascc.host.lattice.ctl import (
    _controller,
    _creds_opt,
    _lattice_opt,
    _namespace_opt,
    _run,
    _signer_opts,
)
from wascc.host.lattice.subjects import Subjects
from wascc.host.logconfig import configure_logging
from wascc.host.oci.options import registry_access, registry_options

__all__ = ["apply_command", "delete_group", "reconciler_command"]

EXIT_USAGE = 2


@click.command("apply")
@click.argument("spec", metavar="APP.yaml|NAME")
@_lattice_opt
@_creds_opt
@_namespace_opt
@click.option(
    "--version",
    "number",
    type=click.IntRange(min=1),
    help="Make version N of the application current again (roll back); SPEC is then its "
    "name (or its spec file, whose name is used).",
)
@click.option("--expand-env", is_flag=True, help="Replace ${VAR} and ${VAR:default} in the spec.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where pulled oci:// modules are cached [default: $WASCC_DATA or ~/.wascc/data].",
)
@registry_options
def apply_command(
    *,
    spec: str,
    url: str,
    namespace: str | None,
    number: int | None,
    expand_env: bool,
    data_dir: Path | None,
    insecure: bool | None,
    allow_latest: bool | None,
) -> None:
    """Check the application spec APP.yaml and store it as the application's next version.

    The reconciler (`wascc reconciler`) then makes the lattice run it. With --version N,
    version N becomes the current one again."""
    if number is not None:
        name = _app_name(spec)
        _run(url, namespace, lambda c, s: _roll_back(c, s, name, number))
        click.echo(f"application {name} is at version {number} again")
        return
    try:
        app = read_app(
            Path(spec),
            expand=expand_env,
            registry=registry_access(data_dir, insecure, allow_latest),
        )
    except AppInvalid as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    modules = {actor.digest: actor.module for actor in app.actors}
    modules.update({p.digest: p.module for p in app.providers if p.module is not None})

    async def store(client: LatticeClient, subjects: Subjects) -> int:
        apps = await AppStore(client, subjects.namespace).open()
        return await apps.apply(app, modules)

    applied = _run(url, namespace, store)
    actors = len(app.actors)
    click.echo(
        f"applied {app.name} as version {applied} ({actors} actor{'s' if actors != 1 else ''})"
    )


def _app_name(spec: str) -> str:
    """The application a rollback names: ``NAME``, or the ``name`` of a spec file."""
    path = Path(spec)
    if not path.is_file():
        return spec
    import yaml  # noqa: PLC0415 - only for this form

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="SPEC") from None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise click.BadParameter(f"{path} names no application", param_hint="SPEC")
    return name


async def _roll_back(client: LatticeClient, subjects: Subjects, name: str, number: int) -> None:
    apps = await AppStore(client, subjects.namespace).open()
    await apps.roll_back(name, number)


@click.group("delete")
def delete_group() -> None:
    """Delete an application from the lattice (its actors are stopped)."""


@delete_group.command("app")
@click.argument("name")
@_lattice_opt
@_creds_opt
@_namespace_opt
def delete_app(name: str, url: str, namespace: str | None) -> None:
    """Delete application NAME: the reconciler stops every actor it placed, then forgets it."""

    async def delete(client: LatticeClient, subjects: Subjects) -> None:
        apps = await AppStore(client, subjects.namespace).open()
        await apps.delete(name)

    _run(url, namespace, delete)
    click.echo(f"application {name} is deleted; the reconciler stops its actors")


@click.command("reconciler")
@_lattice_opt
@_creds_opt
@_namespace_opt
@_signer_opts
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between two looks at the lattice.",
)
@click.option(
    "--host-timeout",
    type=click.FloatRange(min=0.5),
    default=10.0,
    show_default=True,
    help="Seconds a host may stay silent before its replicas are placed elsewhere.",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds the acting reconciler's lease lasts unless renewed.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def reconciler_command(
    *,
    url: str,
    namespace: str | None,
    interval: float,
    host_timeout: float,
    lease_ttl: float,
    log_level: str,
) -> None:
    """Keep the lattice running what the applications ask for, until stopped (Ctrl-C)."""
    configure_logging(log_level)
    if lease_ttl <= 2 * interval + 1:
        # A pass (one look at the lattice, then its commands) must end well before the
        # lease expires, or another reconciler takes over in the middle of it.
        raise click.BadParameter(
            f"{lease_ttl:g}s is too short for passes every {interval:g}s; give more than "
            f"{2 * interval + 1:g}s",
            param_hint="--lease-ttl",
        )
    signer = _controller(click.get_current_context())
    credentials = click.get_current_context().meta.get("wascc.lattice_creds")

    async def main() -> None:
        client = LatticeClient(url, name="wascc reconciler", credentials=credentials)
        await client.connect(retry=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            subjects = Subjects(namespace)
            store = await AppStore(client, subjects.namespace).open()
            reconciler = Reconciler(
                client,
                subjects,
                store,
                signer=signer,
                interval=interval,
                host_timeout=host_timeout,
                lease_ttl=lease_ttl,
            )
            click.echo(f"{reconciler.identity} watches the lattice at {url}", err=False)
            await reconciler.run(stop)
        finally:
            await client.close()

    try:
        asyncio.run(main())
    except WasccError as exc:
        raise click.ClickException(str(exc)) from None
