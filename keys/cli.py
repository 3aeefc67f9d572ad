"""``wascc keys`` and ``wascc claims``: make keys, sign actors, inspect signed modules.

``host/cli.py`` mounts :data:`keys_group` and :data:`claims_group` under ``wascc``; :data:`main`
holds both so this module also runs alone (``python -m wascc.keys.cli``).

Every expected failure (bad file, bad seed, wrong key kind) ends as one ``Error: …`` line on
stderr and exit status 1, never a traceback; usage errors keep click's status 2. Seeds appear
only where the user asked for them (``keys gen``, ``keys list --show-seeds``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import click

from wascc.keys.claims import (
    WASMCLOUD_CAPABILITIES,
    WELL_KNOWN_CAPABILITIES,
    Inspection,
    inspect_module,
    sign_module,
)
from wascc.keys.errors import KeyError_, WasccError, WrongKeyKind
from wascc.keys.jwt import MAX_DATE, format_date
from wascc.keys.nkeys import (
    KEY_KINDS,
    KeyKind,
    KeyPair,
    decode_public_key,
    is_public_key,
    with_article,
)
from wascc.keys.store import keys_dir, list_keys, load_key, load_or_create, save_key
from wascc.keys.suggest import CONTRACT_CUTOFF, closest
from wascc.keys.vouch import vouch
from wascc.keys.wasm import exports

__all__ = ["CAPABILITY_SHORTCUTS", "claims_group", "friendly_errors", "keys_group", "main"]

CAPABILITY_SHORTCUTS: Final[dict[str, str]] = {
    "k": "wascc:keyvalue",
    "q": "wascc:http_server",
    "l": "wascc:logging",
    "g": "wascc:messaging",
    "z": "wascc:extras",
}
_FORMAT = click.Choice(["text", "json"])
# Both generations: "wasmcloud:keyvalu" is a typo too, and "wasmcloud:keyvalue" is not.
_KNOWN_CONTRACTS: Final = (*WELL_KNOWN_CAPABILITIES, *WASMCLOUD_CAPABILITIES)
_DAY: Final = 86_400


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn expected failures into one clear line and exit status 1 (click prints ``Error:``),
    never a traceback. Every ``wascc`` command uses it."""
    try:
        yield
    except WasccError as exc:
        raise click.ClickException(str(exc)) from None


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        hint = "; does the directory exist?" if isinstance(exc, FileNotFoundError) else ""
        raise click.ClickException(f"cannot write {path}: {exc.strerror}{hint}") from None


def _when(seconds: int | None, never: str = "never") -> str:
    return never if seconds is None else format_date(seconds)


def _check_days(now: int, **days: int | None) -> None:
    """Refuse (as a usage error) a number of days that puts a token's date past year 9999."""
    most = (MAX_DATE - now) // _DAY
    for option, value in days.items():
        if value is not None and value > most:
            raise click.BadParameter(
                f"that many days from now lies past the end of year 9999, the last date a token "
                f"can carry; give at most {most} days",
                param_hint=f"'--{option.replace('_', '-')}'",
            )


def _check_call_alias(alias: str | None) -> None:
    """Refuse (as a usage error) a call alias hosts would refuse to register: empty, or
    shaped like a contract id or an actor key, whose calls it would capture."""
    if alias is None:
        return
    if not alias.strip() or ":" in alias or is_public_key(alias, "module"):
        raise click.BadParameter(
            f"{alias!r} cannot be a call alias: hosts refuse an empty alias, one with ':' (a "
            "contract id) and an actor key; use a name such as acme/billing",
            param_hint="'--call-alias'",
        )


@click.group("keys")
def keys_group() -> None:
    """Generate and list nkeys (accounts sign actors; modules are actors' identities)."""


@keys_group.command("gen")
@click.argument("kind", type=click.Choice(KEY_KINDS))
@click.option("-o", "--output", "fmt", type=_FORMAT, default="text", help="Output format.")
@click.option("--save", "name", metavar="NAME", help="Also save the seed as NAME.nk (mode 0600).")
def gen_command(kind: KeyKind, fmt: str, name: str | None) -> None:
    """Generate a key pair of KIND and print its public key and seed."""
    pair = KeyPair.generate(kind)
    saved: Path | None = None
    if name is not None:
        with friendly_errors():
            saved = save_key(pair, name)
    if fmt == "json":
        record: dict[str, Any] = {"kind": kind, "public_key": pair.public_key, "seed": pair.seed}
        if saved is not None:
            record["path"] = str(saved)
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"Public Key: {pair.public_key}\nSeed: {pair.seed}")
    if saved is not None:
        click.echo(f"Saved to {saved}")
    click.echo("\nThe seed is the private key: keep it secret.", err=True)


@keys_group.command("list")
@click.option("--show-seeds", is_flag=True, help="Also print each seed (they are secrets).")
@click.option("-o", "--output", "fmt", type=_FORMAT, default="text", help="Output format.")
def list_command(show_seeds: bool, fmt: str) -> None:
    """List the keys saved in $WASCC_KEYS (default ~/.wascc/keys)."""
    saved = list_keys()
    rows: list[dict[str, str]] = []
    for key in saved:
        row = {"name": key.name, "kind": key.kind, "public_key": key.public_key}
        if show_seeds:
            with friendly_errors():
                row["seed"] = load_key(str(key.path)).seed
        rows.append(row)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No saved keys in {keys_dir()}", err=True)
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        line = f"{row['name']:<{width}}  {row['kind']:<8}  {row['public_key']}"
        click.echo(f"{line}  {row['seed']}" if show_seeds else line)


def _public_key_of(source: str) -> str:
    """The public key ``source`` names: a public key itself, or a seed, ``.nk`` file or
    saved key's name (only its public key is used)."""
    text = source.strip()
    if is_public_key(text):
        return text
    with friendly_errors():
        return load_key(text).public_key


@keys_group.command("vouch")
@click.argument("subject", metavar="KEY")
@click.option(
    "--account",
    required=True,
    metavar="SEED|PATH|NAME",
    help="The lattice's account key that vouches (seed, .nk file or saved key name).",
)
@click.option("--name", help="A name for the host or controller (shown in refusals).")
@click.option("--expires-in", type=click.IntRange(min=1), metavar="DAYS", help="Valid for DAYS.")
@click.option("-o", "--output", metavar="FILE", help="Write the voucher to FILE [default: stdout].")
def vouch_command(
    subject: str, account: str, name: str | None, expires_in: int | None, output: str | None
) -> None:
    """Vouch, as the lattice's account, for a host key (N…) or a controller key (U…).

    KEY is the public key, or its seed, .nk file or saved name. Hosts anchored in the account
    (`wascc up --lattice-account A…`) trust a host that presents the voucher (`--host-token
    FILE`) and obey `wascc ctl` commands signed by a vouched user key (`--signer-token FILE`).
    A voucher is not a secret, but it is only good with the key it names.
    """
    now = int(time.time())
    _check_days(now, expires_in=expires_in)
    public = _public_key_of(subject)
    signer = _given_key("--account", account, ("account",))
    with friendly_errors():
        token = vouch(
            signer,
            public,
            name=name,
            expires_in=None if expires_in is None else timedelta(days=expires_in),
            now=now,
        )
    if output is None:
        click.echo(token)
        return
    _write(Path(output), token.encode("ascii") + b"\n")
    kind, _ = decode_public_key(public)
    role = "host" if kind == "server" else "controller"
    click.echo(f"Wrote {output}: account {signer.public_key} vouches for {role} {public}")


@click.group("claims")
def claims_group() -> None:
    """Sign actors (wasm modules) and inspect their embedded claims."""


def _given_key(option: str, source: str, wanted: tuple[KeyKind, ...]) -> KeyPair:
    """Load the key an option names and insist on its kind; messages never echo a seed."""
    try:
        pair = load_key(source)
    except KeyError_ as exc:
        raise click.ClickException(f"{option}: {exc}") from None
    if pair.kind not in wanted:
        letter = {"account": "SA", "module": "SM", "service": "SV"}
        needs = " or ".join(f"{with_article(k)} seed ({letter[k]}…)" for k in wanted)
        raise click.ClickException(
            str(WrongKeyKind(f"{option} needs {needs}, got {with_article(pair.kind)} seed"))
        )
    return pair


def _stored_key(name: str, kind: KeyKind) -> KeyPair:
    """The saved key ``name``, generated on first use; tell the user where it lives."""
    with friendly_errors():
        pair, path, created = load_or_create(name, kind)
    verb = "Generated" if created else "Using"
    click.echo(f"{verb} {kind} key {pair.public_key} ({path})", err=True)
    return pair


@claims_group.command("sign")
@click.argument("source", metavar="IN.wasm")
@click.option("-o", "--output", metavar="OUT.wasm", help="Where to write [default: IN_s.wasm].")
@click.option("-n", "--name", required=True, help="The actor's name.")
@click.option("-c", "--cap", "caps", multiple=True, metavar="ID", help="Capability contract id.")
@click.option("-k", "keyvalue", is_flag=True, help="Shortcut for --cap wascc:keyvalue.")
@click.option("-q", "http_server", is_flag=True, help="Shortcut for --cap wascc:http_server.")
@click.option("-l", "logging_", is_flag=True, help="Shortcut for --cap wascc:logging.")
@click.option("-g", "messaging", is_flag=True, help="Shortcut for --cap wascc:messaging.")
@click.option("-z", "extras", is_flag=True, help="Shortcut for --cap wascc:extras.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="T", help="A tag (repeatable).")
@click.option("-r", "--rev", type=int, help="Revision number (a live update needs a newer one).")
@click.option("-v", "--ver", help="Human-readable version, e.g. 1.0.2.")
@click.option("--call-alias", help="A friendly name other actors may call this one by.")
@click.option("--expires-in", type=click.IntRange(min=1), metavar="DAYS", help="Valid for DAYS.")
@click.option(
    "--not-before-in", type=click.IntRange(min=0), metavar="DAYS", help="Valid only after DAYS."
)
@click.option("--issuer", metavar="SEED|PATH", help="Account seed, .nk file or saved key name.")
@click.option("--subject", metavar="SEED|PATH", help="Module seed, .nk file or saved key name.")
@click.option("--provider", is_flag=True, help="Sign a capability provider (service key, V…).")
def sign_command(  # click passes options by keyword
    *,
    source: str,
    output: str | None,
    name: str,
    caps: tuple[str, ...],
    keyvalue: bool,
    http_server: bool,
    logging_: bool,
    messaging: bool,
    extras: bool,
    tags: tuple[str, ...],
    rev: int | None,
    ver: str | None,
    call_alias: str | None,
    expires_in: int | None,
    not_before_in: int | None,
    issuer: str | None,
    subject: str | None,
    provider: bool,
) -> None:
    """Sign IN.wasm with an account key, embedding its name and capabilities.

    Keys not given are taken from (or generated into) the keys directory: account.nk for the
    issuer, module_NAME.nk (service_NAME.nk with --provider) for the subject.
    """
    now = int(time.time())
    _check_days(now, expires_in=expires_in, not_before_in=not_before_in)
    _check_call_alias(call_alias)
    module = _read(source)
    with friendly_errors():
        exported = exports(module, path=source)
    if ("__guest_call", "func") not in exported:
        click.echo(
            f"Warning: {source} exports no __guest_call function: it is not a waPC actor and "
            "the host will not be able to call it (a C build needs -Wl,--no-entry and its "
            "exports; `wascc build` sets them)",
            err=True,
        )
    flags = (keyvalue, http_server, logging_, messaging, extras)
    shortcuts = [
        cap for flag, cap in zip(flags, CAPABILITY_SHORTCUTS.values(), strict=True) if flag
    ]
    all_caps = list(dict.fromkeys([*caps, *shortcuts]))  # keep order, drop duplicates
    for cap in caps:
        match = closest(cap, _KNOWN_CONTRACTS, cutoff=CONTRACT_CUTOFF)
        if match is not None:
            click.echo(
                f"Warning: --cap {cap} is not a well-known contract (did you mean {match}?); "
                "it is signed as given, which suits only a provider of your own serving it",
                err=True,
            )
    subject_kind: KeyKind = "service" if provider else "module"
    issuer_pair = (
        _given_key("--issuer", issuer, ("account",))
        if issuer is not None
        else _stored_key("account", "account")
    )
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    subject_pair = (
        _given_key("--subject", subject, (subject_kind,))
        if subject is not None
        else _stored_key(f"{subject_kind}_{slug}", subject_kind)
    )
    with friendly_errors():
        signed = sign_module(
            module,
            issuer=issuer_pair,
            subject=subject_pair,
            name=name,
            caps=all_caps,
            tags=tags,
            rev=rev,
            ver=ver,
            call_alias=call_alias,
            expires_in=None if expires_in is None else timedelta(days=expires_in),
            not_before_in=None if not_before_in is None else timedelta(days=not_before_in),
            provider=provider,
            now=now,
        )
    source_path = Path(source)
    target = Path(output) if output else source_path.with_name(f"{source_path.stem}_s.wasm")
    _write(target, signed)
    click.echo(f"Signed {target}: {subject_kind} {subject_pair.public_key}")
    click.echo(f"  issuer {issuer_pair.public_key}, capabilities: {', '.join(all_caps) or 'none'}")


def _inspection_record(report: Inspection) -> dict[str, Any]:
    claims = report.claims
    return {
        "account": claims.issuer,
        "module": claims.subject,
        "name": claims.name,
        "issued_at": claims.issued_at,
        "expires": claims.expires,
        "not_before": claims.not_before,
        "can_be_used": report.usable,
        "version": claims.ver,
        "revision": claims.rev,
        "capabilities": list(claims.caps),
        "tags": list(claims.tags),
        "call_alias": claims.call_alias,
        "provider": claims.provider,
        "hash": claims.hash,
        "hash_valid": report.hash_valid,
        "signature_valid": report.signature_valid,
        "problems": list(report.problems),
    }


@claims_group.command("inspect")
@click.argument("file", metavar="FILE")
@click.option("-o", "--output", "fmt", type=_FORMAT, default="text", help="Output format.")
def inspect_command(file: str, fmt: str) -> None:
    """Show the claims of a signed module and whether its hash and signature check out.

    Exits 1 if the host would refuse the module for anything but its time window.
    """
    module = _read(file)
    with friendly_errors():
        report = inspect_module(module, file)
    record = _inspection_record(report)
    if fmt == "json":
        click.echo(json.dumps(record, indent=2))
    else:
        yes_no = {True: "yes", False: "NO"}
        rows = [
            ("Account", record["account"]),
            ("Module", record["module"]),
            ("Kind", "capability provider (prov: true)" if record["provider"] else "actor"),
            ("Name", record["name"] or "(none)"),
            ("Issued", _when(record["issued_at"])),
            ("Expires", _when(record["expires"])),
            ("Not before", _when(record["not_before"], never="(any time)")),
            ("Can be used", yes_no[report.usable]),
            ("Version", record["version"] or "(none)"),
            ("Revision", "(none)" if record["revision"] is None else record["revision"]),
            ("Capabilities", ", ".join(record["capabilities"]) or "(none)"),
            ("Tags", ", ".join(record["tags"]) or "(none)"),
            ("Hash valid", yes_no[report.hash_valid]),
            ("Signature valid", yes_no[report.signature_valid]),
        ]
        for label, value in rows:
            click.echo(f"{label:>15}  {value}")
    if report.problems:
        for problem in report.problems:
            click.echo(f"Error: {problem}", err=True)
        raise click.exceptions.Exit(1)


@click.group("wascc")
def main() -> None:
    """Keys and signed-actor tools of wascc-py."""


main.add_command(keys_group)
main.add_command(claims_group)

if __name__ == "__main__":
    main(prog_name="wascc")
