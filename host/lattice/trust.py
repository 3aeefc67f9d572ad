"""Whom a host listens to in a lattice: the hosts whose invocations it runs and the
controllers whose commands it obeys, under its ``TrustPolicy``.

A host trusts itself, the host ids its policy lists, and every host that presents a voucher
(``keys.vouch``) from the lattice's anchor account. Control commands are obeyed from the
anchor account's own key, the controller keys the policy lists, and user keys the anchor
vouched for. ``insecure_lattice`` accepts any correctly signed host and controller (and
unsigned commands), for experiments only. Every accepted token also passes the replay guard:
issued inside the replay window and never seen before.

Vouchers are verified once and remembered (bounded): a host sends the same voucher with
every invocation, and an Ed25519 check per call for it would double the lattice's cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from wascc.host.lattice.errors import ForgedInvocation, ReplayedInvocation, does_not_verify
from wascc.host.lattice.replay import ReplayGuard
from wascc.host.trust.policy import TrustPolicy
from wascc.keys.errors import ClaimsError, KeyError_
from wascc.keys.vouch import Role, read_voucher

__all__ = ["LatticeTrust", "Untrusted"]

_MAX_VOUCHERS: Final = 4096
_SETUP: Final = (
    "give that host the lattice's account with --lattice-account (trust.lattice_account) "
    "and a voucher (--host-token, made by `wascc keys vouch`), or list it with --trust-host"
)
_CONTROL_SETUP: Final = (
    "sign the command with `wascc ctl --signer KEY`, where KEY is the lattice's account, a "
    "controller key the host lists (--trust-controller), or a user key the account vouched "
    "for (`wascc keys vouch`, then --signer-token)"
)


class Untrusted(ForgedInvocation):
    """A correctly signed message from a host or controller this host does not trust."""


class LatticeTrust:
    """The lattice half of a host's ``TrustPolicy``, with the state its checks keep."""

    def __init__(self, policy: TrustPolicy, host_id: str, *, rpc_timeout: float) -> None:
        self.policy = policy
        self.host_id = host_id
        self.hosts = policy.hosts | {host_id}  # a host always trusts itself
        self.replay = ReplayGuard(policy.window(rpc_timeout), skew=policy.clock_skew)
        # Verified vouchers of the anchor: token -> (subject, role, expires).
        self._vouchers: dict[str, tuple[str, Role, int | None]] = {}

    # hosts ------------------------------------------------------------------------------

    def admit(
        self,
        what: Callable[[], str],
        host_id: str,
        voucher: str | None,
        claims: Mapping[str, Any],
    ) -> None:
        """Raise unless ``host_id``, whose signature on ``claims`` was verified, is trusted
        and the token is fresh (``ReplayedInvocation``). ``what()`` describes the message
        (called only to refuse: it costs as much as the checks)."""
        if (
            host_id not in self.hosts
            and not self._vouched(host_id, "host", voucher, what)
            and not self.policy.insecure_lattice
        ):
            raise Untrusted(f"refused {what()}: host {host_id} is not trusted here; {_SETUP}")
        self.check_fresh(what, claims)

    def check_fresh(self, what: Callable[[], str], claims: Mapping[str, Any]) -> None:
        """The replay guard for a verified token's ``jti`` and ``iat``."""
        jti, iat = claims.get("jti"), claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise ForgedInvocation(f"refused {what()}: the token has no issue time (iat)")
        try:
            self.replay.check(jti if isinstance(jti, str) else "", iat, time.time())
        except ReplayedInvocation as exc:
            raise ReplayedInvocation(f"{what()}: {exc}", jti=exc.jti, reason=exc.reason) from None

    # controllers ------------------------------------------------------------------------

    def admit_controller(self, what: Callable[[], str], signer: str, voucher: str | None) -> None:
        """Raise ``Untrusted`` unless the verified ``signer`` may send control commands."""
        policy = self.policy
        if signer == policy.lattice_account or signer in policy.controllers:
            return
        if self._vouched(signer, "controller", voucher, what) or policy.insecure_lattice:
            return
        raise Untrusted(
            f"refused {what()}: {signer} is not a controller of this host; {_CONTROL_SETUP}"
        )

    # vouchers ---------------------------------------------------------------------------

    def _vouched(
        self, subject: str, role: Role, voucher: str | None, what: Callable[[], str]
    ) -> bool:
        anchor = self.policy.lattice_account
        if voucher is None or anchor is None:
            return False
        entry = self._vouchers.get(voucher)
        if entry is None:
            try:
                checked = read_voucher(voucher)
            except (ClaimsError, KeyError_) as exc:
                raise Untrusted(does_not_verify(what(), "its voucher", exc)) from None
            if checked.account != anchor:
                raise Untrusted(
                    f"refused {what()}: its voucher is from account {checked.account}, not from "
                    f"the lattice's account {anchor}"
                )
            entry = (checked.subject, checked.role, checked.expires)
            if len(self._vouchers) >= _MAX_VOUCHERS:
                self._vouchers.clear()
            self._vouchers[voucher] = entry
        vouched, vouched_role, expires = entry
        if vouched != subject or vouched_role != role:
            raise Untrusted(
                f"refused {what()}: its voucher is for {vouched_role} {vouched}, not for {subject}"
            )
        if expires is not None and time.time() >= expires:
            self._vouchers.pop(voucher, None)
            raise Untrusted(
                f"refused {what()}: the voucher of {subject} from account {anchor} has expired; "
                "make a new one with `wascc keys vouch`"
            )
        return True

    def stats(self) -> dict[str, Any]:
        """Counters for the inventory."""
        return {"vouchers": len(self._vouchers), "replay": self.replay.stats()}
