"""The replay guard: each invocation token is served once, and only while fresh (pure unit
tests in simulated time: every check is given its ``now``)."""

from __future__ import annotations

import gc
import math
import tracemalloc
from typing import Any

import pytest

from wascc.host.lattice import errors
from wascc.host.lattice.errors import ForgedInvocation, LatticeError, ReplayedInvocation
from wascc.host.lattice.replay import MAX_JTI, ReplayGuard

NOW = 1_790_000_000  # 2026-09-21 14:13:20 UTC
WINDOW = 7.0
SKEW = 2.0
JTI = "6f1c2a0e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def _guard(**options: Any) -> ReplayGuard:
    return ReplayGuard(WINDOW, skew=SKEW, **options)


def _jti(i: int) -> str:
    """A distinct id of a UUID's shape and length for each ``i``."""
    return f"{i:08x}-0000-4000-8000-000000000000"


def _refusal(guard: ReplayGuard, jti: Any, iat: Any, now: float) -> ReplayedInvocation:
    with pytest.raises(ReplayedInvocation) as caught:
        guard.check(jti, iat, now)
    return caught.value


def test_first_use_is_accepted_and_every_resend_refused() -> None:
    """A captured token re-sent five times is accepted once and refused four times."""
    guard = _guard()
    guard.check(JTI, NOW, NOW)
    for resend in range(4):
        refused = _refusal(guard, JTI, NOW, NOW + 0.1 * resend)
        assert str(refused) == f"refused invocation token jti {JTI}: already used (a replay)"
        assert (refused.jti, refused.reason) == (JTI, "replayed")
        assert isinstance(refused, ForgedInvocation)
    assert len(guard) == 1
    assert guard.stats()["refused_replayed"] == 4


def test_distinct_jtis_are_all_accepted() -> None:
    """Tokens with distinct ids issued in the same second are all accepted and remembered."""
    guard = _guard()
    for i in range(1000):
        guard.check(_jti(i), NOW, NOW + i / 1000)
    assert len(guard) == 1000
    stats = guard.stats()
    assert stats["refused_replayed"] == stats["refused_stale"] == stats["refused_future"] == 0


def test_stale_token_is_refused_and_says_when_it_was_issued() -> None:
    """A token issued before the window is refused with its issue time, the window and the
    fix, and is not remembered."""
    guard = _guard()
    refused = _refusal(guard, JTI, NOW - 8, NOW)
    assert str(refused) == (
        f"refused invocation token jti {JTI}: issued at 2026-09-21 14:13:12 UTC, older than "
        "the replay window of 7s: a replayed or very late invocation; check the hosts' clocks "
        "(NTP) or raise trust.replay_window"
    )
    assert refused.reason == "stale"
    assert len(guard) == 0
    assert guard.stats()["refused_stale"] == 1


def test_future_token_is_refused_and_says_how_far_ahead() -> None:
    """A token issued beyond the allowed skew ahead of this host's clock is refused with
    the distance and the clocks to check."""
    guard = _guard()
    refused = _refusal(guard, JTI, NOW + 5, NOW)
    assert str(refused).startswith(
        f"refused invocation token jti {JTI}: issued 5.0 s in the future, more than the "
        "allowed clock skew of 2 s; check the clocks"
    )
    assert refused.reason == "future"
    assert len(guard) == 0
    assert guard.stats()["refused_future"] == 1


@pytest.mark.parametrize(
    ("iat", "accepted"),
    [
        pytest.param(NOW - WINDOW, True, id="exactly-window-old"),
        pytest.param(NOW - WINDOW - 0.001, False, id="just-older-than-window"),
        pytest.param(NOW + SKEW, True, id="exactly-skew-ahead"),
        pytest.param(NOW + SKEW + 0.001, False, id="just-beyond-skew"),
        pytest.param(NOW, True, id="now"),
    ],
)
def test_window_includes_both_ends(iat: float, accepted: bool) -> None:
    """``now - window <= iat <= now + skew`` is accepted, a millisecond outside is not."""
    guard = _guard()
    if accepted:
        guard.check(JTI, iat, NOW)
        assert len(guard) == 1
    else:
        assert _refusal(guard, JTI, iat, NOW).reason in {"stale", "future"}
        assert len(guard) == 0


def test_an_id_is_kept_while_its_token_could_be_accepted() -> None:
    """At exactly ``iat + window`` the id is still held (its token would still pass the
    time check), so the replay is refused as a replay."""
    guard = _guard()
    guard.check(JTI, NOW, NOW)
    guard.check(_jti(1), NOW + WINDOW, NOW + WINDOW)
    assert len(guard) == 2
    assert _refusal(guard, JTI, NOW, NOW + WINDOW).reason == "replayed"


def test_an_id_is_forgotten_after_expiry_and_its_token_then_refused_as_stale() -> None:
    """Once ``iat + window`` has passed the id is dropped (len falls) and the old token,
    sent again, is refused by the time check, never accepted."""
    guard = _guard()
    for i in range(100):
        guard.check(_jti(i), NOW, NOW + i / 100)
    assert len(guard) == 100
    guard.check(JTI, NOW + 8, NOW + 8)
    assert len(guard) == 1
    for i in range(100):
        assert _refusal(guard, _jti(i), NOW, NOW + 8).reason == "stale"
    assert len(guard) == 1


def test_sustained_load_holds_at_most_rate_times_window_plus_one() -> None:
    """20 simulated seconds at 50,000 tokens a second (integer ``iat`` as hosts write it,
    each token a few ms on the way) with a 2 s window: every token is accepted and the
    guard never holds more than rate x (window + 1) ids."""
    rate, window, seconds = 50_000, 2.0, 20
    guard = ReplayGuard(window, skew=1.0)
    check = guard.check
    peak = 0
    for n in range(rate * seconds):
        now = NOW + n / rate
        check(_jti(n), int(now - 0.003), now)
        peak = max(peak, len(guard))
    assert peak <= rate * (window + 1)
    assert peak >= rate * window * 0.99  # the whole window is remembered (less the lag)
    stats = guard.stats()
    assert stats["refused_stale"] == stats["refused_replayed"] == stats["evicted"] == 0


def test_flood_is_capped_and_never_lets_a_replay_through() -> None:
    """20,000 tokens a second for 5 s against a cache of 10,000 ids: the guard never holds
    more, its floor rises, every token it accepted is refused when sent again, and fresh
    tokens keep being accepted every second."""
    rate, cap = 20_000, 10_000
    guard = ReplayGuard(10.0, skew=SKEW, max_entries=cap)
    accepted: list[tuple[str, int]] = []
    accepted_per_second = [0] * 5
    floors = []
    overflow = None
    for n in range(rate * 5):
        now = NOW + n / rate
        jti, iat = _jti(n), int(now)
        try:
            guard.check(jti, iat, now)
        except ReplayedInvocation as exc:
            overflow = exc
        else:
            accepted.append((jti, iat))
            accepted_per_second[iat - NOW] += 1
        assert len(guard) <= cap
        if n % rate == rate - 1:
            floors.append(guard.stats()["floor"])
    assert all(count >= cap for count in accepted_per_second), accepted_per_second
    assert floors == sorted(floors)
    assert floors[-1] > floors[0] >= NOW
    assert overflow is not None
    assert overflow.reason == "overflow"
    assert "the replay cache is full (10000 ids); tokens issued at or before" in str(overflow)
    now = NOW + 5.0
    for jti, iat in accepted:
        assert _refusal(guard, jti, iat, now).reason in {"replayed", "overflow"}
    assert guard.stats()["evicted"] >= len(accepted) - cap
    guard.check(_jti(rate * 5), NOW + 5, now)  # the next second's tokens are accepted


def test_memory_per_id_is_bounded() -> None:
    """What the guard keeps alive per id (its containers, the jti text, the iat) stays
    under 400 bytes, measured with tracemalloc."""
    count = 50_000
    tracing = tracemalloc.is_tracing()
    gc.collect()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        guard = ReplayGuard(10.0, skew=SKEW)
        for n in range(count):
            now = NOW + n / 10_000
            guard.check(_jti(n), int(now) + 0, now)  # a new text and a new int per token
        gc.collect()
        per_id = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        if not tracing:
            tracemalloc.stop()
    assert len(guard) == count
    assert 0 < per_id < 400, per_id


@pytest.mark.parametrize(
    "jti",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * (MAX_JTI + 1), id="too-long"),
        pytest.param(None, id="null"),
        pytest.param(42, id="number"),
        pytest.param(b"6f1c2a0e", id="bytes"),
    ],
)
def test_unusable_jti_is_refused(jti: Any) -> None:
    """A token without a non-empty text jti of at most 256 characters cannot be shown
    fresh and is refused."""
    guard = _guard()
    refused = _refusal(guard, jti, NOW, NOW)
    assert "the token has no usable jti" in str(refused)
    assert refused.reason == "unusable"
    assert len(guard) == 0
    assert guard.stats()["refused_unusable"] == 1


def test_longest_jti_is_accepted() -> None:
    """A jti of exactly 256 characters is accepted."""
    guard = _guard()
    guard.check("x" * MAX_JTI, NOW, NOW)
    assert len(guard) == 1


@pytest.mark.parametrize("iat", ["1790000000", None, math.nan, math.inf, [NOW]])
def test_unusable_iat_is_refused(iat: Any) -> None:
    """An iat that is not a finite number is refused, not compared as one."""
    guard = _guard()
    refused = _refusal(guard, JTI, iat, NOW)
    assert "the token has no usable iat" in str(refused)
    assert refused.reason == "unusable"
    assert len(guard) == 0


def test_float_iat_from_other_tools_is_accepted() -> None:
    """An iat with a fraction (written by another tool) is checked like an integer one."""
    guard = _guard()
    guard.check(JTI, NOW - 6.5, NOW)
    assert _refusal(guard, JTI, NOW - 6.5, NOW).reason == "replayed"
    assert _refusal(guard, _jti(1), NOW - 7.25, NOW).reason == "stale"


def test_clock_stepping_back_does_not_reopen_the_window() -> None:
    """After the clock steps back, a token the guard has already forgotten is still
    refused, and the message says the clock went back."""
    guard = _guard()
    guard.check(JTI, NOW, NOW)
    guard.check(_jti(1), NOW + 10, NOW + 10)  # JTI forgotten
    assert len(guard) == 1
    refused = _refusal(guard, JTI, NOW, NOW + 1)  # the clock stepped back 9 s
    assert refused.reason == "clock"
    assert "clock went back 9.0 s" in str(refused)
    guard.check(_jti(2), NOW + 4, NOW + 4)  # tokens inside the window that held are fine


def test_stats_count_every_outcome() -> None:
    """``stats()`` reports ids held, each kind of refusal, evictions and the floor."""
    guard = _guard(max_entries=2)
    assert guard.stats() == {
        "entries": 0,
        "refused_replayed": 0,
        "refused_stale": 0,
        "refused_future": 0,
        "refused_unusable": 0,
        "evicted": 0,
        "floor": 0,
    }
    guard.check(_jti(1), NOW - 1, NOW)
    guard.check(_jti(2), NOW, NOW)
    guard.check(_jti(3), NOW, NOW)  # evicts _jti(1): the floor is its iat
    for jti, iat in [(_jti(3), NOW), (JTI, NOW - 60), (JTI, NOW + 60), ("", NOW)]:
        _refusal(guard, jti, iat, NOW)
    assert _refusal(guard, _jti(1), NOW - 1, NOW).reason == "overflow"
    assert guard.stats() == {
        "entries": 2,
        "refused_replayed": 1,
        "refused_stale": 2,
        "refused_future": 1,
        "refused_unusable": 1,
        "evicted": 1,
        "floor": NOW - 1,
    }
    assert len(guard) == 2


@pytest.mark.parametrize(
    ("window", "skew", "max_entries", "problem"),
    [
        (0, 1, 10, "replay window"),
        (-1, 1, 10, "replay window"),
        (math.inf, 1, 10, "replay window"),
        (math.nan, 1, 10, "replay window"),
        (5, -1, 10, "clock skew"),
        (5, 1, 0, "at least one id"),
    ],
)
def test_invalid_settings_are_refused(
    window: float, skew: float, max_entries: int, problem: str
) -> None:
    """A window that is not a positive finite number, a negative skew or an empty cache is
    a configuration error that names the setting."""
    with pytest.raises(ValueError, match=problem):
        ReplayGuard(window, skew=skew, max_entries=max_entries)


def test_replayed_invocation_is_a_forged_invocation() -> None:
    """``ReplayedInvocation`` sits under ``ForgedInvocation`` in the tree and is exported."""
    assert issubclass(ReplayedInvocation, ForgedInvocation)
    assert issubclass(ReplayedInvocation, LatticeError)
    assert "ReplayedInvocation" in errors.__all__
    assert "ReplayedInvocation" in (errors.__doc__ or "")
    plain = ReplayedInvocation("refused")
    assert (str(plain), plain.jti, plain.reason) == ("refused", "", "")
