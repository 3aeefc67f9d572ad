"""``wascc ctl``: inspect and control a lattice from the command line.

Every command takes ``--lattice URL``, ``--lattice-creds FILE`` and ``--namespace NS`` like
``wascc up`` and connects once (no retries: a control command should fail fast with the
reason). Output is text for people or, with ``-o json``, one JSON document for scripts.
``start actor`` and ``update actor`` take a file or an ``oci://`` reference, pulled and
verified here (``--insecure``, ``--allow-latest``, the cache in ``--data-dir``) before the
module is sent; each host verifies it again.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from wascc.host.errors import WasccError
from wascc.host.lattice import control
from wascc.host.lattice.client import LatticeClient, Message
from wascc.host.lattice.command import CONTROLLER_KINDS, Controller
from wascc.host.lattice.events import parse_event
from wascc.host.lattice.inventory import gather
from wascc.host.lattice.subjects import INVENTORY_KINDS, InventoryKind, Subjects
from wascc.host.oci.options import DATA_ENV, ModuleOrReference, pull_module, registry_options
from wascc.host.oci.reference import Reference
from wascc.host.trust.options import key_option
from wascc.host.wasi import summarize
from wascc.keys.cli import friendly_errors
from wascc.keys.creds import CredentialsError, UserCredentials, load_creds_file

__all__ = ["ctl_group", "lattice_credentials", "parse_labels"]

T = TypeVar("T")
APP_KINDS = ("apps", "app")
DEFAULT_URL = "nats://127.0.0.1:4222"

_lattice_opt = click.option(
    "--lattice",
    "url",
    envvar="WASCC_LATTICE",
    default=DEFAULT_URL,
    show_default=True,
    help="NATS URL of the lattice.",
)
_CREDS = "wascc.lattice_creds"


def lattice_credentials(file: str | Path | None, option: str) -> UserCredentials | None:
    """The NATS user credentials of ``file`` (``None``: none); a usage error naming
    ``option`` and the problem when the file cannot be used."""
    if file is None:
        return None
    try:
        return load_creds_file(file)
    except CredentialsError as exc:
        raise click.BadParameter(
            f"the NATS credentials file {exc}; give the .creds file of a NATS user",
            param_hint=option,
        ) from None


def _remember_creds(ctx: click.Context, _: click.Parameter, value: Path | None) -> None:
    ctx.meta[_CREDS] = lattice_credentials(value, "--lattice-creds")


_creds_opt = click.option(
    "--lattice-creds",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="WASCC_LATTICE_CREDS",
    expose_value=False,
    callback=_remember_creds,
    help="NATS user credentials (.creds file), if the lattice's NATS requires them.",
)
_SIGNER = "wascc.ctl_signer"


def _remember_signer(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if param.name == "signer_token":
        ctx.meta[_SIGNER + ".token"] = value
    else:
        ctx.meta[_SIGNER] = value


def _controller(ctx: click.Context) -> Controller | None:
    """The key that signs this command (``--signer``) with its voucher (``--signer-token``)."""
    source, token_file = ctx.meta.get(_SIGNER), ctx.meta.get(_SIGNER + ".token")
    if source is None:
        if token_file is not None:
            raise click.BadParameter("give the key it vouches for too", param_hint="--signer")
        return None
    key = key_option(
        source,
        CONTROLLER_KINDS,
        "--signer",
        what="the signer of control commands",
        fix="control commands are signed by the lattice's account key or by a user key it "
        "vouched for (`wascc keys gen user --save NAME`, then `wascc keys vouch NAME --account "
        "ACCOUNT`)",
    )
    voucher = None
    if token_file is not None:
        try:
            voucher = Path(token_file).expanduser().read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(
                f"cannot read {token_file}: {getattr(exc, 'strerror', None) or exc}",
                param_hint="--signer-token",
            ) from None
    return Controller(key, voucher)


def _signer_opts(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--signer`` and ``--signer-token``: who signs a control command."""
    command = click.option(
        "--signer-token",
        envvar="WASCC_CTL_SIGNER_TOKEN",
        expose_value=False,
        callback=_remember_signer,
        help="The voucher of the signer's user key from the lattice's account (a file made by "
        "`wascc keys vouch`).",
    )(command)
    return click.option(
        "--signer",
        envvar="WASCC_CTL_SIGNER",
        expose_value=False,
        callback=_remember_signer,
        help="Sign the command with this key: the lattice's account, or a user key it vouched "
        "for (a seed, a .nk file or a saved key's name). Hosts obey only signed commands.",
    )(command)


_namespace_opt = click.option(
    "--namespace", envvar="WASCC_NAMESPACE", default=None, help="Lattice namespace."
)
_timeout_opt = click.option(
    "--timeout",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds to wait for the hosts' answers.",
)


_MODULE = ModuleOrReference(click.Path(path_type=Path, exists=True, dir_okay=False))
_cache_opt = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"Where pulled oci:// modules are cached [default: ${DATA_ENV} or ~/.wascc/data].",
)


def _module(
    source: Path | Reference, data_dir: Path | None, insecure: bool | None, allow: bool | None
) -> bytes:
    """The bytes of the module file, or of the verified module the reference names."""
    if isinstance(source, Path):
        try:
            return source.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {source}: {exc.strerror}") from None
    with friendly_errors():
        return pull_module(source, data_dir=data_dir, insecure=insecure, allow_latest=allow).data


def parse_labels(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``("k=v", ...)`` → ``{k: v}``; a usage error names ``option`` otherwise."""
    labels: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not key=value", param_hint=option)
        labels[key.strip()] = val.strip()
    return labels


def _run(
    url: str, namespace: str | None, work: Callable[[LatticeClient, Subjects], Awaitable[T]]
) -> T:
    """Connect, run ``work``, disconnect; lattice errors become one ``Error:`` line."""

    credentials = click.get_current_context().meta.get(_CREDS)

    async def main() -> T:
        client = LatticeClient(url, name="wascc ctl", credentials=credentials)
        await client.connect_once()
        try:
            return await work(client, Subjects(namespace))
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except WasccError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("ctl")
def ctl_group() -> None:
    """Inspect and control the hosts of a lattice."""


@ctl_group.command("get")
@click.argument("kind", type=click.Choice([*INVENTORY_KINDS, *APP_KINDS]))
@click.argument("name", required=False)
@_lattice_opt
@_creds_opt
@_namespace_opt
@_timeout_opt
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def get_command(
    *,
    kind: str,
    name: str | None,
    url: str,
    namespace: str | None,
    timeout: float,
    output: str,
) -> None:
    """List the hosts, actors, bindings or capabilities of every host that answers; or the
    applications (`get apps`), or one with its placements (`get app NAME`)."""
    if kind in APP_KINDS:
        # Imported here: the application store is only needed by these two.
        from wascc.host.apps.view import show_apps  # noqa: PLC0415

        show_apps(url, namespace, kind, name, output)
        return
    if name is not None:
        raise click.UsageError(f"`get {kind}` takes no NAME")
    inventory_kind: InventoryKind = kind  # type: ignore[assignment]
    answers = _run(url, namespace, lambda c, s: gather(c, s, inventory_kind, timeout=timeout))
    if output == "json":
        click.echo(json.dumps(answers, indent=2))
        return
    for line in _text(inventory_kind, answers):
        click.echo(line)


def _text(kind: InventoryKind, answers: list[dict[str, Any]]) -> list[str]:
    if kind == "hosts":
        lines = ["HOST ID                                                   UPTIME  TRUST  LABELS"]
        for h in answers:
            labels = ",".join(f"{k}={v}" for k, v in sorted(h.get("labels", {}).items()))
            trust = _trust_text(h.get("trust"))
            lines.append(f"{h['host_id']}  {h.get('uptime_s', 0):>6.0f}s  {trust}  {labels}")
        return lines
    lines = []
    for answer in answers:
        for item in answer.get(kind, []):
            if kind == "actors":
                rev = item.get("rev")  # None: an unversioned module, "-" like a missing name
                rev_cell = "-" if rev is None else rev
                detail = f"{item['key']}  {item.get('name') or '-'}  rev {rev_cell}"
                source = item.get("source")
                if isinstance(source, dict) and source.get("reference"):
                    detail += f"  {source['reference']}"  # pulled from a registry
                if item.get("call_alias"):
                    detail += f"  alias {item['call_alias']}"
                if item.get("wasi"):
                    detail += f"  wasi: {summarize(item['wasi'])}"
                health = item.get("health")
                if isinstance(health, dict) and health.get("healthy") is False:
                    detail += f"  UNHEALTHY: {health.get('message') or '(no message)'}"
            elif kind == "bindings":
                detail = f"{item['actor']}  {item['contract_id']}  {item['binding']}"
            else:
                detail = f"{item['contract_id']}  {item['binding']}  {item.get('type', '')}"
            lines.append(f"{detail}  on {answer['host_id']}")
    return lines or [f"no {kind} in the lattice"]


def _named(answer: dict[str, Any]) -> str:
    """``name (key)`` of the actor a host answered about; the key alone if unnamed."""
    key = answer["key"]
    return f"{answer['name']} ({key})" if answer.get("name") else key


def _trust_text(trust: object) -> str:
    """A host's trust policy in a few words: its anchor account, how many hosts and issuers
    it trusts by name (``-o json`` shows all of it)."""
    if not isinstance(trust, dict):
        return "?"
    if trust.get("insecure_lattice"):
        return "INSECURE"
    parts = []
    if trust.get("lattice_account"):
        parts.append(f"account={str(trust['lattice_account'])[:10]}…")
    if trust.get("hosts"):
        parts.append(f"hosts={len(trust['hosts'])}")
    issuers = trust.get("issuers")
    parts.append(f"issuers={len(issuers) if isinstance(issuers, list) else 'any'}")
    return ",".join(parts)


@ctl_group.group("start")
def start_group() -> None:
    """Start something in the lattice."""


@start_group.command("actor")
@click.argument("file", metavar="FILE|oci://REF", type=_MODULE)
@_lattice_opt
@_creds_opt
@_namespace_opt
@_signer_opts
@click.option("--host", "host_id", help="Run it on this host (its N… id).")
@click.option("--constraint", multiple=True, help="Auction among hosts with label key=value.")
@_cache_opt
@registry_options
def start_actor(
    *,
    file: Path | Reference,
    url: str,
    namespace: str | None,
    host_id: str | None,
    constraint: tuple[str, ...],
    data_dir: Path | None,
    insecure: bool | None,
    allow_latest: bool | None,
) -> None:
    """Start the signed actor FILE (or the one oci://REF names) on a host (given, or won by
    auction)."""
    constraints = parse_labels(constraint, "--constraint")
    signer = _controller(click.get_current_context())
    module = _module(file, data_dir, insecure, allow_latest)
    answer = _run(
        url,
        namespace,
        lambda c, s: control.launch(
            c, s, module, host_id=host_id, constraints=constraints, signer=signer
        ),
    )
    click.echo(f"started {_named(answer)} on {answer['host_id']}")


@ctl_group.group("stop")
def stop_group() -> None:
    """Stop something in the lattice."""


@stop_group.command("actor")
@click.argument("key")
@_lattice_opt
@_creds_opt
@_namespace_opt
@_signer_opts
@click.option("--host", "host_id", help="Only on this host (default: every host running it).")
def stop_actor(key: str, url: str, namespace: str | None, host_id: str | None) -> None:
    """Stop the actor KEY."""
    signer = _controller(click.get_current_context())
    answers = _run(
        url, namespace, lambda c, s: control.terminate(c, s, key, host_id=host_id, signer=signer)
    )
    for answer in answers:
        click.echo(f"stopped {key} on {answer['host_id']}")


@ctl_group.group("update")
def update_group() -> None:
    """Live-update something in the lattice."""


@update_group.command("actor")
@click.argument("file", metavar="FILE|oci://REF", type=_MODULE)
@_lattice_opt
@_creds_opt
@_namespace_opt
@_signer_opts
@click.option("--force", is_flag=True, help="Update even if the revision is not newer.")
@click.option(
    "--rotate-issuer",
    is_flag=True,
    help="Accept a module signed by another account than the running one (the hosts must "
    "list it among their trusted issuers).",
)
@_cache_opt
@registry_options
def update_actor(
    *,
    file: Path | Reference,
    url: str,
    namespace: str | None,
    force: bool,
    rotate_issuer: bool,
    data_dir: Path | None,
    insecure: bool | None,
    allow_latest: bool | None,
) -> None:
    """Live-update the actor of FILE (or of the module oci://REF names) wherever it runs."""
    signer = _controller(click.get_current_context())
    module = _module(file, data_dir, insecure, allow_latest)
    answers = _run(
        url,
        namespace,
        lambda c, s: control.update(
            c, s, module, force=force, rotate_issuer=rotate_issuer, signer=signer
        ),
    )
    for answer in answers:
        name, rev = answer.get("name") or answer["key"], answer.get("rev")
        to_rev = "" if rev is None else f" to rev {rev}"  # an unversioned module: no "None"
        click.echo(f"updated {name}{to_rev} on {answer['host_id']}")


@ctl_group.command("events")
@_lattice_opt
@_creds_opt
@_namespace_opt
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many events.")
@click.option("--for", "duration", type=click.FloatRange(min=0), help="Exit after seconds.")
def events_command(
    url: str, namespace: str | None, count: int | None, duration: float | None
) -> None:
    """Print the lattice's CloudEvents as JSON lines until Ctrl-C (or --count/--for)."""

    async def follow(client: LatticeClient, subjects: Subjects) -> None:
        done = asyncio.Event()
        seen = [0]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, done.set)

        async def on_event(msg: Message) -> None:
            try:
                event = parse_event(bytes(msg.data))
            except WasccError:
                return
            click.echo(json.dumps(event, separators=(",", ":")))
            seen[0] += 1
            if count is not None and seen[0] >= count:
                done.set()

        await client.subscribe(subjects.events, on_event)
        await client.flush()
        click.echo(f"following events on {subjects.events}", err=True)
        try:
            async with asyncio.timeout(duration):
                await done.wait()
        except TimeoutError:
            pass

    _run(url, namespace, follow)
