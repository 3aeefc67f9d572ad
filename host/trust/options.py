"""The ``wascc up`` options of the trust policy, and the policy they make with the
manifest's ``trust`` section (the options override the section).

Every value is checked here, before anything starts: a key of the wrong kind, a voucher
that does not verify or an account key that cannot be loaded is a usage error naming the
option and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wascc.host.manifest_schema import RawTrust
from wascc.host.trust.policy import DEFAULT_CLOCK_SKEW, TrustPolicy
from wascc.keys.errors import WasccError, WrongKeyKind
from wascc.keys.nkeys import KeyKind, KeyPair, is_public_key
from wascc.keys.store import load_key_of
from wascc.keys.vouch import read_voucher

if TYPE_CHECKING:  # the manifest's checks load the engine: `wascc --help` need not
    from wascc.host.manifest import Manifest

__all__ = ["key_option", "public_keys", "read_voucher_file", "trust_options", "trust_policy"]

F = TypeVar("F", bound=Callable[..., Any])


def trust_options(command: F) -> F:
    """Add ``--trust-host``, ``--trust-issuer``, ``--lattice-account``, ``--host-token``,
    ``--trust-controller``, ``--insecure-lattice`` and ``--replay-window`` to ``command``."""
    command = click.option(
        "--replay-window",
        type=click.FloatRange(min=0.1),
        help="Seconds a lattice token stays valid after it was issued [default: "
        "trust.replay_window, else the clock skew (trust.clock_skew, 5) + the RPC timeout].",
    )(command)
    command = click.option(
        "--insecure-lattice",
        is_flag=True,
        default=None,
        help="Accept invocations and control from any host and anyone (experiments only; logged "
        "as a warning) [default: trust.insecure_lattice].",
    )(command)
    command = click.option(
        "--trust-controller",
        multiple=True,
        help="Obey control commands signed by this key (A… or U…; repeatable) besides the "
        "lattice's account and the user keys it vouched for [default: trust.controllers].",
    )(command)
    command = click.option(
        "--host-token",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="WASCC_HOST_TOKEN",
        help="This host's voucher from the lattice's account (made by `wascc keys vouch`) "
        "[default: the manifest's lattice.host_token].",
    )(command)
    command = click.option(
        "--lattice-account",
        envvar="WASCC_LATTICE_ACCOUNT",
        help="The lattice's trust anchor: trust the hosts and controllers this account vouched "
        "for. Its public key (A…), or its seed, .nk file or saved name (the host then vouches for "
        "its own key) [default: the manifest's trust.lattice_account].",
    )(command)
    command = click.option(
        "--trust-issuer",
        multiple=True,
        help="Run only actors signed by this account (A…; repeatable) [default: the manifest's "
        "trust.issuers, else any account for a new actor].",
    )(command)
    command = click.option(
        "--trust-host",
        multiple=True,
        help="Trust this host id (N…; repeatable) besides the hosts the lattice's account vouched "
        "for [default: the manifest's trust.hosts and lattice.trusted_hosts].",
    )(command)
    return command


_KEY_FIXES: dict[KeyKind, str] = {
    "server": "a host id; give a public server key (N…) as `wascc ctl get hosts` shows it",
    "account": "an account key; give a public account key (A…) as `wascc claims inspect` "
    "shows the issuer",
    "user": "a controller key; give the public key (A… or U…) that `wascc ctl --signer` uses",
}


def public_keys(values: tuple[str, ...], kind: KeyKind, option: str) -> tuple[str, ...]:
    """``option``'s values, each checked to be a public key of ``kind`` (``user`` also
    accepts account keys: both may sign control commands)."""
    kinds: tuple[KeyKind, ...] = ("user", "account") if kind == "user" else (kind,)
    for value in values:
        if not any(is_public_key(value, k) for k in kinds):
            raise click.BadParameter(f"{value!r} is not {_KEY_FIXES[kind]}", param_hint=option)
    return tuple(v.strip() for v in values)


def read_voucher_file(file: Path, option: str) -> str:
    """The voucher in ``file``, verified (so a wrong file stops the start, naming it)."""
    try:
        token = file.expanduser().read_text(encoding="ascii").strip()
        read_voucher(token, path=str(file))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a token"
        raise click.BadParameter(f"cannot read {file}: {reason}", param_hint=option) from None
    except WasccError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    return token


def key_option(
    source: str, kinds: tuple[KeyKind, ...], option: str, *, what: str, fix: str
) -> KeyPair:
    """The key pair ``option`` names (a seed, a ``.nk`` file or a saved key's name) of one of
    ``kinds``; a usage error naming the option, the problem and ``fix`` otherwise."""
    try:
        return load_key_of(source, kinds)
    except WrongKeyKind as exc:
        raise click.BadParameter(f"{exc}; {fix}", param_hint=option) from None
    except WasccError as exc:
        raise click.BadParameter(f"cannot use it as {what}: {exc}", param_hint=option) from None


def _lattice_account(source: str) -> tuple[str, str | None]:
    """``--lattice-account``: ``(public key, seed or None)``."""
    if is_public_key(source.strip(), "account"):
        return source.strip(), None
    pair = key_option(
        source,
        ("account",),
        "--lattice-account",
        what="the lattice's account",
        fix="the lattice's anchor is an account key (`wascc keys gen account --save lattice`)",
    )
    return pair.public_key, pair.seed


def trust_policy(
    checked: Manifest,
    *,
    issuers: tuple[str, ...] | None,
    hosts: tuple[str, ...] | None,
    account: str | None,
    controllers: tuple[str, ...],
    insecure: bool | None,
    replay_window: float | None,
) -> tuple[TrustPolicy, str | None]:
    """The host's policy from the flags, else the manifest's trust section (and lattice
    hosts); with the lattice account's seed when one was given instead of its public key."""
    section = checked.trust or RawTrust()
    if hosts is None:
        listed = checked.lattice.trusted_hosts if checked.lattice is not None else None
        hosts = (*section.hosts, *(listed or ()))
    public, seed = _lattice_account(account) if account else (section.lattice_account, None)
    if not account:
        seed = section.account_seed
    policy = TrustPolicy.build(
        issuers=issuers if issuers is not None else section.issuers,
        lattice_account=public,
        hosts=hosts,
        controllers=(
            public_keys(controllers, "user", "--trust-controller")
            if controllers
            else section.controllers
        ),
        insecure_lattice=insecure if insecure is not None else section.insecure_lattice,
        clock_skew=section.clock_skew if section.clock_skew is not None else DEFAULT_CLOCK_SKEW,
        replay_window=replay_window if replay_window is not None else section.replay_window,
    )
    return policy, seed
