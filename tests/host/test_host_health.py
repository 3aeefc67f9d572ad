"""Fairness (``host.health``): an actor whose calls keep failing expensively is penalized
(one shared lane, cool-downs, refusals with Retry-After), healthy actors are not, and the
penalty lifts when the failures stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import Signer
from wascc.host import ActorSettings, Host, Limits
from wascc.host.errors import ActorOutOfTime, GuestError, Unavailable
from wascc.host.health import BACKOFF, PENALTY_AT, ActorHealth, ActorPenalized, PenaltyBox
from wascc.host.metrics import HostMetrics

LOOPING = ActorSettings(limits=Limits(deadline=0.6))


async def test_a_looping_actor_is_penalized_and_refused_with_retry_after(
    signer: Signer, tmp_path: Path
) -> None:
    """One call that runs into its 0.6 s deadline penalizes the actor: the next call waits at
    most its own timeout, then is refused with a 503-style error that says when to retry."""
    async with Host(cache_dir=tmp_path) as host:
        looping = await host.add_actor(signer.sign("fixtures/loop"), settings=LOOPING)
        with pytest.raises(ActorOutOfTime):
            await host.call_actor(looping.subject, "Spin", b"")
        assert host.actor(looping.subject).health.penalized
        started = time.monotonic()
        with pytest.raises(ActorPenalized) as refused:
            await host.call_actor(looping.subject, "Spin", b"", timeout=0.3)
        assert time.monotonic() - started < 0.6  # waited its timeout, not the cool-down
        assert isinstance(refused.value, Unavailable)
        assert 0.1 <= refused.value.retry_after <= BACKOFF[0]
        assert "is refused for now" in str(refused.value)
        health = host.inventory()["actors"][0]["health"]
        assert health["penalized"] is True
        assert health["refused"] == 1
        assert health["failed_seconds"] >= PENALTY_AT


async def test_healthy_actor_beside_a_penalized_one(signer: Signer, tmp_path: Path) -> None:
    """The penalty is the failing actor's: a healthy actor's calls run as before, also
    while a penalized call holds the lane."""
    metrics = HostMetrics()
    async with Host(cache_dir=tmp_path, middleware=[metrics]) as host:
        metrics.watch(host)
        looping = await host.add_actor(signer.sign("fixtures/loop"), settings=LOOPING)
        echo = await host.add_actor(signer.sign("echo"))
        with pytest.raises(ActorOutOfTime):
            await host.call_actor(looping.subject, "Spin", b"")
        waiting = asyncio.create_task(host.call_actor(looping.subject, "Spin", b""))
        for _ in range(50):
            assert await host.call_actor(echo.subject, "Echo", b"hi") == b"hi"
        assert not host.actor(echo.subject).health.penalized
        with pytest.raises((ActorOutOfTime, ActorPenalized)):
            await waiting
        text = metrics.render().decode()
        assert f'wascc_actor_penalized{{actor="{looping.subject}"}} 1.0' in text
        assert f'wascc_actor_penalized{{actor="{echo.subject}"}} 0.0' in text


async def test_guest_errors_cost_nothing(signer: Signer, tmp_path: Path) -> None:
    """An actor that answers errors on purpose (a guest error, not a trap) is not penalized."""
    async with Host(cache_dir=tmp_path) as host:
        echo = await host.add_actor(signer.sign("echo"))
        for _ in range(200):
            with pytest.raises(GuestError):
                await host.call_actor(echo.subject, "NoSuchOperation", b"")
        assert not host.actor(echo.subject).health.penalized


async def test_the_lane_keeps_misbehaving_actors_to_their_share() -> None:
    """After a penalized call that ran t seconds the lane stays shut for t * (1/share - 1),
    whichever penalized actor asks next."""
    box = PenaltyBox(share=0.5)
    assert await box.enter(0)
    assert not await box.enter(0.05)  # taken
    box.leave(0.2)  # shut for 0.2 s now
    assert not await box.enter(0.05)
    started = time.monotonic()
    assert await box.enter(1.0)
    assert 0.1 <= time.monotonic() - started <= 0.5
    box.leave(0.0)
    assert await box.enter(0)


async def test_penalty_lifts_once_calls_stop_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The debt decays: once it is under half the threshold the actor runs normally again,
    and a success in between ends the cool-downs."""
    clock = [1000.0]
    monkeypatch.setattr("wascc.host.health.time.monotonic", lambda: clock[0])
    health = ActorHealth(PenaltyBox(), "looper (MX)", "MX")
    health.done(1.0, failed=True, in_lane=False)
    assert health.penalized
    clock[0] += BACKOFF[0]  # the cool-down is over: the next call takes the lane
    assert await health.admit(1.0) is True
    health.done(0.001, failed=False, in_lane=True)
    clock[0] += 100  # the debt decayed
    assert await health.admit(1.0) is False
    assert not health.penalized
