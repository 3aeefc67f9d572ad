"""Trust: which accounts may sign what this host runs, which hosts and controllers it
listens to, and the checks that hold that policy on every path a module or message enters.

Public face: ``TrustPolicy`` (the one place the policy is configured), the identity check of
a live update (``check_update``), and the replay guard of the lattice (``ReplayGuard``).
"""

from __future__ import annotations

from wascc.host.trust.policy import DEFAULT_CLOCK_SKEW, TrustPolicy, check_update

__all__ = ["DEFAULT_CLOCK_SKEW", "TrustPolicy", "check_update"]
