"""The ``wascc`` command: the one place that imports every part of the project.

Subcommands: ``keys`` and ``claims`` (``keys.cli``; ``claims sign`` also warns about build
mistakes), ``new`` and ``build`` (``host.toolchain``), ``push`` and ``pull`` (``host.oci``),
``validate``, ``up``, ``call`` and ``update``. Wherever a module is taken (``up``, ``update``,
a manifest's actors, ``ctl start/update actor``), an ``oci://`` reference works too: it is
pulled and verified here, before anything runs or is sent. Signals are handled here and
nowhere else: the first SIGINT/SIGTERM asks the host process to shut down in order, a second
one forces the exit.

Exit codes: 0 success (and a clean shutdown), 1 runtime failure (a module, key, file, port or
call that fails; a forced exit), 2 usage error or invalid manifest (nothing was started).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# Only what the command line's definition needs is imported here: `wascc --help`, `keys` and
# `claims` must not pay for wasmtime, aiohttp and NATS (commands import them when they run).
from wascc.host.admin_token import TOKEN_ENV, AdminToken, find_token
from wascc.host.errors import ModuleLoadError, WasccError
from wascc.host.logconfig import LOG_FORMATS, LOG_LEVELS, LogFormat, configure_logging
from wascc.host.oci.options import (
    DATA_ENV,
    ModuleOrReference,
    default_data_dir,
    pull_module,
    registry_access,
    registry_options,
)
from wascc.host.oci.reference import Reference
from wascc.host.toolchain.diagnose import check_actor_module, is_wasm_file
from wascc.host.trust.options import (
    key_option,
    public_keys,
    read_voucher_file,
    trust_options,
    trust_policy,
)
from wascc.host.trust.policy import UNANCHORED
from wascc.keys.cli import friendly_errors
from wascc.keys.nkeys import KeyPair

if TYPE_CHECKING:
    from wascc.host.manifest import Manifest, RegistryAccess
    from wascc.host.server import ServerConfig

__all__ = ["main"]

logger = logging.getLogger("wascc.cli")


EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_RPC_TIMEOUT = 2.0
_SNIFF_BYTES = 64 * 1024
_UP_EXPECTS = (
    "`wascc up` runs a manifest (YAML or JSON), or a signed actor module (ACTOR.wasm, as "
    "`wascc build --sign` or `wascc claims sign` writes it)"
)
_VALIDATE_EXPECTS = (
    "`wascc validate` checks a manifest (YAML or JSON); for a module, `wascc claims inspect "
    "FILE` checks its claims and `wascc up FILE` runs it"
)


class _Address(click.ParamType[tuple[str, int], Any]):
    """``HOST:PORT`` (``[::1]:9000`` for IPv6) → ``(host, port)``."""

    name = "HOST:PORT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        host, _, port = str(value).rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or int(port) > 65535:
            self.fail(f"{value!r} is not HOST:PORT (for example 127.0.0.1:9000)", param, ctx)
        return host, int(port)


ADDRESS = _Address()


def _load(
    file: Path,
    expand_env: bool,
    reserved: dict[int, str] | None = None,
    *,
    lattice: bool = False,
    issuers: tuple[str, ...] | None = None,
    expects: str = _UP_EXPECTS,
    registry: RegistryAccess | None = None,
) -> Manifest:
    """The checked manifest, or every problem on stderr and exit status 2. ``lattice``: a
    lattice is given on the command line (bindings may name remote actors and providers);
    ``issuers``: ``--trust-issuer`` (replacing the manifest's trust.issuers); ``expects``:
    what the command takes, said when ``file`` is plainly no manifest; ``registry``: how its
    ``oci://`` actors are pulled."""
    from wascc.host.manifest import ManifestInvalid, load_manifest

    refusal = _not_a_manifest(file)
    if refusal is not None:
        click.echo(f"Error: {refusal}; {expects}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        return load_manifest(
            file,
            expand=expand_env,
            reserved_ports=reserved,
            lattice=lattice,
            trusted_issuers=issuers,
            registry=registry,
        )
    except ManifestInvalid as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _not_a_manifest(file: Path) -> str | None:
    """Why ``file`` cannot be a manifest when it is plainly not text (a module, a binary);
    None otherwise, and when it cannot be read (the manifest's loader names the problem)."""
    if is_wasm_file(file):
        return f"{file} is a WebAssembly module, not a manifest"
    try:
        with file.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError:
        return None
    if file.suffix.lower() == ".wasm":
        return f"{file} is named .wasm, but it is not a WebAssembly module (no \\0asm magic)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_short = exc.reason == "unexpected end of data" and len(head) == _SNIFF_BYTES
        if not cut_short:  # a character cut by the read's end is still text
            return f"{file} is neither a manifest (YAML or JSON text) nor a WebAssembly module"
    if b"\0" in head:
        return f"{file} is neither a manifest (YAML or JSON text) nor a WebAssembly module"
    return None


class _Commands(click.Group):
    """The ``wascc`` group. The subcommands that live in other modules are imported when
    they are run (or asked for help); the listing of ``wascc --help`` shows their short help
    from ``LAZY`` without importing them (a test keeps it equal to the real one)."""

    # name → (module, attribute, short help); an attribute ending in "()" is a factory.
    LAZY: Mapping[str, tuple[str, str, str]] = {
        "apply": (
            "wascc.host.apps.commands",
            "apply_command",
            "Check the application spec APP.yaml and store it as the application's next version.",
        ),
        "build": (
            "wascc.host.toolchain.commands",
            "build_command",
            "Build the actor project in DIRECTORY (default: the current one).",
        ),
        "claims": (
            "wascc.host.toolchain.commands",
            "checked_claims_group()",
            "Sign actors (wasm modules) and inspect their embedded claims.",
        ),
        "delete": (
            "wascc.host.apps.commands",
            "delete_group",
            "Delete an application from the lattice (its actors are stopped).",
        ),
        "ctl": (
            "wascc.host.lattice.ctl",
            "ctl_group",
            "Inspect and control the hosts of a lattice.",
        ),
        "keys": (
            "wascc.keys.cli",
            "keys_group",
            "Generate and list nkeys (accounts sign actors; modules are actors' identities).",
        ),
        "new": (
            "wascc.host.toolchain.commands",
            "new_group",
            "Make a new project from a template.",
        ),
        "pull": (
            "wascc.host.oci.commands",
            "pull_command",
            "Pull a signed module from a registry, verified, and show its claims.",
        ),
        "reconciler": (
            "wascc.host.apps.commands",
            "reconciler_command",
            "Keep the lattice running what the applications ask for, until stopped (Ctrl-C).",
        ),
        "push": (
            "wascc.host.oci.commands",
            "push_command",
            "Push the signed module FILE to a registry; print the pinned reference.",
        ),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.LAZY:
            module, attribute, _ = self.LAZY[cmd_name]
            value = getattr(importlib.import_module(module), attribute.removesuffix("()"))
            command = value() if attribute.endswith("()") else value
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is not None:
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, self.LAZY[name][2]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wascc-py", prog_name="wascc")
def main() -> None:
    """wascc-py: run signed WebAssembly actors (waSCC 0.14 compatible)."""


_manifest_arg = click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
_expand_opt = click.option(
    "--expand-env", is_flag=True, help="Replace ${VAR} and ${VAR:default} in the manifest."
)


@main.command("validate")
@_manifest_arg
@_expand_opt
@click.option(
    "--lattice",
    envvar="WASCC_LATTICE",
    help="Check as for `wascc up --lattice URL` (the lattice is not contacted).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"Where oci:// actors are cached [default: ${DATA_ENV} or ~/.wascc/data].",
)
@registry_options
def validate_command(
    *,
    manifest: Path,
    expand_env: bool,
    lattice: str | None,
    data_dir: Path | None,
    insecure: bool | None,
    allow_latest: bool | None,
) -> None:
    """Check MANIFEST as `wascc up` would, without starting anything (exit 2 if invalid).

    With a lattice (a lattice section or --lattice), a binding that names an actor of another
    host, or a capability no provider of the manifest serves, is accepted with a note; `wascc
    up` checks the remote actor's claims when it starts. oci:// actors are pulled (into the
    data directory's cache) and verified like files.
    """
    checked = _load(
        manifest,
        expand_env,
        lattice=bool(lattice),
        expects=_VALIDATE_EXPECTS,
        registry=registry_access(data_dir, insecure, allow_latest),
    )
    for note in checked.notes:
        click.echo(f"note: {manifest}: {note}")
    click.echo(
        f"{manifest} is valid: {len(checked.actors)} actors, "
        f"{len(checked.capabilities)} capabilities, {len(checked.bindings)} bindings"
    )


@main.command("up")
@click.argument(
    "manifest",
    metavar="MANIFEST|ACTOR.wasm|oci://REF",
    type=ModuleOrReference(click.Path(path_type=Path, dir_okay=False)),
)
@_expand_opt
@click.option(
    "--http",
    "http_port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="With ACTOR.wasm or oci://REF: the HTTP server's port on 127.0.0.1 (0: any free "
    "port) [default: 8080].",
)
@click.option(
    "--nats",
    metavar="URL",
    help="With ACTOR.wasm or oci://REF: the NATS server of wascc:messaging (needed when the "
    "actor claims it).",
)
@registry_options
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"Where providers keep data and the module cache [default: ${DATA_ENV} or ~/.wascc/data].",
)
@click.option(
    "--admin",
    type=ADDRESS,
    envvar="WASCC_ADMIN",
    help="Serve /healthz, /inventory, /metrics, calls and updates on HOST:PORT; every route "
    "but /healthz needs the token written to DATA_DIR/admin-PORT.token (keep it on loopback: "
    "the token travels in clear).",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds in-flight work may take to finish on shutdown.",
)
@click.option(
    "--health-interval",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds between health checks of every actor (HealthRequest; shown in /inventory "
    "and /metrics); 0: none.",
)
@click.option(
    "--lattice",
    envvar="WASCC_LATTICE",
    help="Join the lattice at this NATS URL [default: the manifest's lattice.url].",
)
@click.option(
    "--namespace",
    envvar="WASCC_NAMESPACE",
    help="Lattice namespace [default: the manifest's lattice.namespace].",
)
@click.option(
    "--label",
    multiple=True,
    help="A host label key=value (repeatable; overrides the manifest's lattice.labels).",
)
@click.option(
    "--rpc-timeout",
    type=click.FloatRange(min=0.01),
    help="Seconds a call to another host of the lattice may take [default: the manifest's "
    f"lattice.rpc_timeout, else {DEFAULT_RPC_TIMEOUT:g}].",
)
@click.option(
    "--lattice-creds",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="WASCC_LATTICE_CREDS",
    help="NATS user credentials (.creds file) for the lattice's connection [default: the "
    "manifest's lattice.credentials, else none].",
)
@click.option(
    "--host-key",
    envvar="WASCC_HOST_KEY",
    help="This host's server key (signs its invocations; its id in the lattice): a seed, a "
    ".nk file or a saved key's name [default: the manifest's lattice.host_key, else a new key "
    "per process].",
)
@trust_options
def up_command(  # click passes options by keyword
    *,
    manifest: Path | Reference,
    expand_env: bool,
    http_port: int | None,
    nats: str | None,
    insecure: bool | None,
    allow_latest: bool | None,
    log_level: str,
    log_format: LogFormat,
    data_dir: Path | None,
    admin: tuple[str, int] | None,
    shutdown_timeout: float,
    health_interval: float,
    lattice: str | None,
    namespace: str | None,
    label: tuple[str, ...],
    rpc_timeout: float | None,
    lattice_creds: Path | None,
    host_key: str | None,
    trust_host: tuple[str, ...],
    trust_issuer: tuple[str, ...],
    lattice_account: str | None,
    host_token: Path | None,
    trust_controller: tuple[str, ...],
    insecure_lattice: bool | None,
    replay_window: float | None,
) -> None:
    """Run the actors, providers and bindings of MANIFEST until SIGINT or SIGTERM.

    Given a signed module (ACTOR.wasm, or oci://REGISTRY/REPO:TAG or ...@sha256:DIGEST in a
    registry) instead, run that one actor with the providers its claims ask for, bound with
    defaults: wascc:http_server on 127.0.0.1:PORT (--http, 8080), wascc:keyvalue in memory,
    wascc:logging, wascc:extras, and wascc:messaging with --nats.

    oci:// modules are pulled into the data directory's cache and verified (digest, then
    signature and trust) before they load; pinned ones start from the cache without the
    registry. --insecure pulls over plain HTTP; --allow-latest accepts :latest.

    With --lattice (or a lattice section in MANIFEST; the options override it) the host joins
    a lattice of hosts over NATS: it serves its actors and providers to the other hosts and
    calls theirs when a target is not local.
    """
    from wascc.host.lattice import LatticeConfig
    from wascc.host.lattice.ctl import lattice_credentials, parse_labels
    from wascc.host.server import ServerConfig

    configure_logging(log_level, log_format)
    labels = parse_labels(label, "--label")
    reserved = {admin[1]: "the admin endpoint (--admin)"} if admin and admin[1] else None
    issuers = public_keys(trust_issuer, "account", "--trust-issuer") if trust_issuer else None
    registry = registry_access(data_dir, insecure, allow_latest)
    if isinstance(manifest, Reference) or is_wasm_file(manifest):
        if expand_env:
            raise click.UsageError("--expand-env applies to a manifest, not to a module")
        checked = _single_actor(
            manifest,
            http_port,
            nats,
            reserved,
            lattice=bool(lattice),
            issuers=issuers,
            registry=registry,
        )
    else:
        if http_port is not None or nats is not None:
            raise click.UsageError(
                "--http and --nats apply to `wascc up ACTOR.wasm`; a manifest sets them in its "
                "bindings' values (PORT of wascc:http_server, URL of wascc:messaging)"
            )
        checked = _load(
            manifest,
            expand_env,
            reserved,
            lattice=bool(lattice),
            issuers=issuers,
            registry=registry,
        )
    section = checked.lattice
    creds_file: str | Path | None = lattice_creds
    seed = _host_seed(host_key) if host_key else None
    trusted = public_keys(trust_host, "server", "--trust-host") if trust_host else None
    voucher = read_voucher_file(host_token, "--host-token") if host_token else None
    if section is not None:  # the command line overrides the manifest
        lattice = lattice or section.url
        namespace = namespace if namespace is not None else section.namespace
        rpc_timeout = rpc_timeout if rpc_timeout is not None else section.rpc_timeout
        labels = {**section.labels, **labels}
        creds_file = creds_file or section.credentials
        seed = seed or section.host_key
        voucher = voucher or section.host_token
    rpc_timeout = rpc_timeout if rpc_timeout is not None else DEFAULT_RPC_TIMEOUT
    trust, account_seed = trust_policy(
        checked,
        issuers=issuers,
        hosts=trusted,
        account=lattice_account,
        controllers=trust_controller,
        insecure=insecure_lattice,
        replay_window=replay_window,
    )
    if lattice and not trust.lattice_anchored and not trust.insecure_lattice:
        click.echo(f"Error: {UNANCHORED.format(url=lattice)}", err=True)
        sys.exit(EXIT_USAGE)
    config = ServerConfig(
        manifest=checked,
        data_dir=data_dir or default_data_dir(),
        admin=admin,
        shutdown_timeout=shutdown_timeout,
        health_interval=health_interval,
        labels=labels,
        lattice=(
            LatticeConfig(
                url=lattice,
                namespace=namespace,
                rpc_timeout=rpc_timeout,
                credentials=lattice_credentials(creds_file, "--lattice-creds"),
                seed=seed,
                voucher=voucher,
                vouch_with=(
                    KeyPair.from_seed(account_seed) if account_seed and not voucher else None
                ),
                data_dir=data_dir or default_data_dir(),
            )
            if lattice
            else None
        ),
        trust=trust,
    )
    sys.exit(asyncio.run(_serve(config)))


def _single_actor(
    file: Path | Reference,
    http_port: int | None,
    nats: str | None,
    reserved: dict[int, str] | None,
    *,
    lattice: bool,
    issuers: tuple[str, ...] | None,
    registry: RegistryAccess,
) -> Manifest:
    """The manifest of ``wascc up ACTOR.wasm`` (``host.toolchain.quickstart``), said on the
    terminal; every problem on stderr and exit status 2 otherwise."""
    from wascc.host.toolchain.quickstart import (
        DEFAULT_HTTP_PORT,
        SingleActorInvalid,
        describe_providers,
        single_actor_manifest,
    )

    try:
        checked = single_actor_manifest(
            file,
            http_port=DEFAULT_HTTP_PORT if http_port is None else http_port,
            nats=nats,
            reserved_ports=reserved,
            lattice=lattice,
            issuers=issuers,
            registry=registry,
        )
    except SingleActorInvalid as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    actor = checked.actors[0]
    origin = f" (digest {actor.digest})" if actor.digest else ""
    click.echo(f"{file}: actor {actor.label}{origin}, no manifest; providers:")
    for line in describe_providers(checked):
        click.echo(f"  {line}")
    return checked


def _host_seed(source: str) -> str:
    """The seed of the server key ``--host-key`` names; a usage error otherwise."""
    fix = "a host signs with a server key: make one with `wascc keys gen server --save NAME`"
    return key_option(source, ("server",), "--host-key", what="the host key", fix=fix).seed


async def _serve(config: ServerConfig) -> int:
    """Run the server; the first signal stops it in order, a second forces the exit."""
    from wascc.host.server import HostServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            logger.info("%s received: shutting down (send it again to force exit)", name)
            stop.set()
            return
        logger.warning("%s received again: forced exit, work in flight is lost", name)
        _force_exit()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        server = HostServer(config, announce=click.echo)
        await server.serve(stop)
    except WasccError as exc:
        click.echo(f"Error: {exc}", err=True)
        for hint in _start_hints(config.manifest, exc):
            click.echo(f"Hint: {hint}", err=True)
        return EXIT_FAILURE
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return EXIT_OK if server.clean else EXIT_FAILURE


def _start_hints(manifest: Manifest, error: WasccError) -> list[str]:
    """When an actor failed to start in its ``_start``: what such a module most likely is
    (a WASI command module) and how to build it as an actor (``host.toolchain.diagnose``)."""
    if not isinstance(error, ModuleLoadError) or "_start" not in str(error):
        return []
    return [
        str(problem)
        for actor in manifest.actors
        if actor.claims.subject in str(error)
        for problem in check_actor_module(actor.path, str(actor.path))
        if problem.kind == "start-may-trap"
    ]


def _force_exit() -> None:
    """Leave now: worker threads may be inside wasm calls that nothing can interrupt sooner
    than their deadline, so the interpreter's orderly exit could wait for them."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_FAILURE)


def _read_data(data: str | None) -> Any:
    """The JSON value of DATA: inline JSON, ``@FILE``, or ``-`` for stdin."""
    if data is None:
        return None
    source = "DATA"
    text = data
    if data == "-":
        source, text = "stdin", sys.stdin.read()
    elif data.startswith("@"):
        source = data[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {source}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{source} is not JSON: {exc}") from None


_token_file_opt = click.option(
    "--admin-token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The host's admin token file [default: ${TOKEN_ENV} (the token itself), else "
    "admin-PORT.token in the data directory].",
)
_client_data_dir_opt = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"The host's data directory, where it writes admin-PORT.token (and the cache of "
    f"pulled oci:// modules) [default: ${DATA_ENV} or ~/.wascc/data].",
)


def _admin_address(address: tuple[str, int]) -> str:
    """``HOST:PORT`` for a URL (``[::1]:9000`` for IPv6)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _admin_token(
    address: tuple[str, int], token_file: Path | None, data_dir: Path | None
) -> AdminToken:
    """The token for the admin endpoint at ``address`` (``host.admin_token.find_token``)."""
    return find_token(address[1], token_file=token_file, data_dir=data_dir or default_data_dir())


@main.command("call")
@click.argument("target")
@click.argument("operation")
@click.argument("data", required=False)
@click.option(
    "--host-admin",
    type=ADDRESS,
    envvar="WASCC_HOST_ADMIN",
    help="Call the actor on the running host whose admin endpoint is HOST:PORT.",
)
@_token_file_opt
@_client_data_dir_opt
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True)
def call_command(
    *,
    target: str,
    operation: str,
    data: str | None,
    host_admin: tuple[str, int] | None,
    admin_token_file: Path | None,
    data_dir: Path | None,
    log_level: str,
) -> None:
    """Invoke OPERATION on an actor and print the decoded reply as JSON.

    TARGET is a signed module file (run on a throwaway host with in-memory providers) or,
    with --host-admin, the key, call alias or name of an actor on a running host (a module
    file there stands for its key). DATA is JSON, @FILE or - (stdin); it is encoded as the
    operation's message when the operation is known (HandleRequest, Get, ...), else as
    msgpack.

    With --host-admin the admin token is read from --admin-token-file, else taken from
    $WASCC_ADMIN_TOKEN, else read from admin-PORT.token in the host's data directory.
    """
    from wascc.host.call import call_local, call_remote, decode_reply, encode_request, module_claims

    configure_logging(log_level)
    value = _read_data(data)
    with friendly_errors():
        if host_admin is not None:
            admin = _admin_address(host_admin)
            token = _admin_token(host_admin, admin_token_file, data_dir)
            file = Path(target)
            actor = module_claims(file).subject if file.is_file() else target
            text = None if data is None else json.dumps(value)
            reply = asyncio.run(call_remote(admin, actor, operation, text, token=token))
        else:
            if not Path(target).is_file():
                raise click.UsageError(
                    f"{target} is not a file; to call an actor of a running host by key or "
                    "name, add --host-admin HOST:PORT"
                )
            payload = b"" if value is None and data is None else encode_request(operation, value)
            reply = asyncio.run(call_local(Path(target), operation, payload))
        decoded = decode_reply(operation, reply)
    click.echo(json.dumps(decoded, indent=2, ensure_ascii=False))


@main.command("update")
@click.argument(
    "file",
    metavar="FILE|oci://REF",
    type=ModuleOrReference(click.Path(path_type=Path, exists=True, dir_okay=False)),
)
@click.option(
    "--host-admin",
    type=ADDRESS,
    envvar="WASCC_HOST_ADMIN",
    required=True,
    help="The running host's admin endpoint.",
)
@click.option("--force", is_flag=True, help="Update even if the revision is not newer.")
@click.option(
    "--rotate-issuer",
    is_flag=True,
    help="Accept FILE signed by another account than the running actor's (the host must "
    "trust that account).",
)
@_token_file_opt
@_client_data_dir_opt
@registry_options
def update_command(
    *,
    file: Path | Reference,
    host_admin: tuple[str, int],
    force: bool,
    rotate_issuer: bool,
    admin_token_file: Path | None,
    data_dir: Path | None,
    insecure: bool | None,
    allow_latest: bool | None,
) -> None:
    """Live-update a running actor with FILE, a newer signed revision of it (same key).

    FILE may be an oci:// reference: the module is pulled (into the data directory's cache)
    and verified here, then sent; the host verifies it again. Calls in flight finish on the
    old module; later calls run on the new one. The admin token is found as for `wascc call
    --host-admin`.
    """
    from wascc.host.call import update_remote

    with friendly_errors():
        token = _admin_token(host_admin, admin_token_file, data_dir)
        if isinstance(file, Reference):
            pulled = pull_module(
                file, data_dir=data_dir, insecure=insecure, allow_latest=allow_latest
            )
            file = pulled.path
        result = asyncio.run(
            update_remote(
                _admin_address(host_admin),
                file,
                token=token,
                force=force,
                rotate_issuer=rotate_issuer,
            )
        )
    old, new = result.get("previous_rev"), result.get("rev")
    if old is not None and new is not None:
        change = f": rev {old} -> {new}"
    elif new is not None:
        change = f" to rev {new}"
    else:  # a module signed without a revision: what is known, never "None"
        change = "" if old is None else f" from rev {old}"
    click.echo(f"updated {result.get('name') or result['key']} ({result['key']}){change}")


if __name__ == "__main__":
    main()
