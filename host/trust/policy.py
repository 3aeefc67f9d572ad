"""``TrustPolicy``: the one place where a host's trust is configured.

Set from the manifest's ``trust:`` section and the ``wascc up`` flags, shown in ``/inventory``
and ``wascc ctl get hosts``, and consulted on every path by which a module or a message enters:

- **Issuers.** ``issuers`` limits which accounts may sign the actors and providers the host
  runs. Unset (``None``), any issuer may sign a *new* actor, as waSCC 0.14 allowed.
- **Identity is (issuer, subject).** A live update is accepted only from the issuer of the
  running module; another issuer needs an explicit rotation *and* membership of ``issuers``
  (``check_update``).
- **Lattice.** Invocations and control commands are accepted only from hosts and controllers
  the policy trusts: keys vouched for by ``lattice_account`` (the anchor every host is given),
  the anchor account itself (control), the explicit ``hosts`` and ``controllers``. A policy
  with neither anchor nor host list refuses to join a lattice unless ``insecure_lattice``.
- **Freshness.** A lattice token older than the replay window (clock skew + the RPC timeout,
  unless set) or whose ``jti`` was seen inside it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from wascc.host.errors import IssuerMismatch
from wascc.keys.claims import Claims

__all__ = ["DEFAULT_CLOCK_SKEW", "UNANCHORED", "TrustPolicy", "check_update"]

UNANCHORED: Final = (
    "refusing to join the lattice at {url}: this host is told whom to trust neither by an "
    "account nor by a host list, so any process that reaches NATS could invoke and control "
    "its actors. Make one account for the lattice (`wascc keys gen account --save lattice`) "
    "and start every host with --lattice-account lattice (trust.lattice_account), or list the "
    "hosts to trust with --trust-host N…; --insecure-lattice (trust.insecure_lattice) accepts "
    "anyone, for experiments only"
)
"""Why a host with neither lattice anchor nor host list does not join (``{url}``)."""

DEFAULT_CLOCK_SKEW: Final = 5.0
"""Seconds two hosts' clocks may differ (added to the RPC timeout for the replay window)."""


def _keys(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(v.strip() for v in values)


@dataclass(frozen=True)
class TrustPolicy:
    """What a host trusts (see the module docstring). Cheap, immutable, comparable."""

    issuers: frozenset[str] | None = None
    lattice_account: str | None = None  # public key (A…) of the lattice's anchor account
    hosts: frozenset[str] = field(default_factory=frozenset)  # host ids trusted by name
    controllers: frozenset[str] = field(default_factory=frozenset)  # keys that may send ctl
    insecure_lattice: bool = False
    clock_skew: float = DEFAULT_CLOCK_SKEW
    replay_window: float | None = None  # seconds; None: clock_skew + the RPC timeout

    @classmethod
    def build(
        cls,
        *,
        issuers: Iterable[str] | None = None,
        lattice_account: str | None = None,
        hosts: Iterable[str] = (),
        controllers: Iterable[str] = (),
        insecure_lattice: bool = False,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
        replay_window: float | None = None,
    ) -> TrustPolicy:
        """A policy from any iterables (the constructor wants frozensets)."""
        return cls(
            issuers=_keys(issuers),
            lattice_account=lattice_account.strip() if lattice_account else None,
            hosts=frozenset(h.strip() for h in hosts),
            controllers=frozenset(c.strip() for c in controllers),
            insecure_lattice=insecure_lattice,
            clock_skew=clock_skew,
            replay_window=replay_window,
        )

    @property
    def lattice_anchored(self) -> bool:
        """Whether the policy names whom to trust in a lattice (an anchor or host ids)."""
        return self.lattice_account is not None or bool(self.hosts)

    def window(self, rpc_timeout: float) -> float:
        """Seconds a lattice token stays acceptable after its ``iat``."""
        if self.replay_window is not None:
            return self.replay_window
        return self.clock_skew + rpc_timeout

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for ``/inventory`` and ``wascc ctl get hosts`` (public keys
        only: a policy holds no secret)."""
        return {
            "issuers": sorted(self.issuers) if self.issuers is not None else "any",
            "lattice_account": self.lattice_account,
            "hosts": sorted(self.hosts),
            "controllers": sorted(self.controllers),
            "insecure_lattice": self.insecure_lattice,
            "clock_skew_s": self.clock_skew,
            "replay_window_s": self.replay_window,
        }


def check_update(
    policy: TrustPolicy, running: Claims, new: Claims, *, label: str, rotate_issuer: bool
) -> None:
    """Raise ``IssuerMismatch`` unless ``new`` may replace ``running`` (same subject).

    The same issuer may always update. Another issuer only with ``rotate_issuer`` and when
    it is one of ``policy.issuers``: the subject key signs nothing, so without this check
    any account could sign a token for a running actor's key and take its bindings and data.
    """
    if new.issuer == running.issuer:
        return
    if not rotate_issuer:
        raise IssuerMismatch(
            f"refused the update of actor {label}: it runs a module issued by account "
            f"{running.issuer}, the new module is issued by account {new.issuer}. A live update "
            "must be signed by the same account; to hand the actor to another account on "
            "purpose, add it to the trusted issuers (--trust-issuer / trust.issuers) and pass "
            "--rotate-issuer"
        )
    if policy.issuers is None or new.issuer not in policy.issuers:
        raise IssuerMismatch(
            f"refused to rotate actor {label} from account {running.issuer} to account "
            f"{new.issuer}: a rotation needs the new account among the host's trusted issuers; "
            f"add it with --trust-issuer {new.issuer} (or trust.issuers in the manifest)"
        )
