"""Lattice calls under faults, in one process on a real nats-server: the RPC timeout bounds
every remote call, a call nobody takes is asked again within it and then fails with
``LatticeUnavailable`` logged once, a call made while NATS is away waits for it; and the
reconnection's backoff and log lines (``host.natsio.Outage``)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import nats as nats_py
import pytest
from nats.errors import AuthorizationError, UnexpectedEOF

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, nats_url, until
from tests.support.servers import ServerProcess
from wascc.host.errors import Unavailable
from wascc.host.lattice import Subjects
from wascc.host.lattice.errors import LatticeTimeout, LatticeUnavailable
from wascc.host.natsio import LogThrottle, Outage
from wascc.keys.nkeys import KeyPair

pytestmark = pytest.mark.timeout(60)

URL = "nats://127.0.0.1:4222"


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeNats:
    """What ``Outage`` touches of a nats-py client: its options."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {"reconnect_time_wait": 0.25}


def warnings(caplog: pytest.LogCaptureFixture, name: str = "wascc.test") -> list[str]:
    """The messages logged at WARNING or above by logger ``name``."""
    return [
        r.getMessage() for r in caplog.records if r.name == name and r.levelno >= logging.WARNING
    ]


def test_reconnect_waits_double_up_to_the_cap_and_start_again() -> None:
    """Each failed attempt doubles nats-py's wait before the next one, up to 5 s; after a
    reconnection the next outage starts from 0.25 s again."""
    nc = FakeNats()
    outage = Outage(logging.getLogger("wascc.test"), URL, "NATS", jitter=0.0, clock=FakeClock())
    for _ in range(2):
        outage.lost(nc)
        waits = []
        for _ in range(7):
            outage.failed(ConnectionRefusedError("refused"), nc)
            waits.append(nc.options["reconnect_time_wait"])
        assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
        assert outage.retry_after == 5.0
        outage.restored()
        assert not outage.down
        assert outage.retry_after == 1.0


def test_reconnect_wait_has_a_little_jitter() -> None:
    """Hosts that lost NATS together do not all knock at the same moment: each wait is up
    to a tenth longer, at random."""
    nc = FakeNats()
    outage = Outage(logging.getLogger("wascc.test"), URL, "NATS", clock=FakeClock())
    outage.lost(nc)
    for _ in range(5):
        outage.failed(ConnectionRefusedError("refused"), nc)
    for _ in range(50):
        outage.failed(ConnectionRefusedError("refused"), nc)
        assert 5.0 <= nc.options["reconnect_time_wait"] <= 5.5


def test_an_outage_is_told_in_a_few_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Lost, the first reason an attempt fails for, a summary once a minute, a new reason,
    reconnected: never a line per attempt."""
    caplog.set_level(logging.DEBUG, "wascc.test")
    clock, nc = FakeClock(), FakeNats()
    outage = Outage(logging.getLogger("wascc.test"), URL, "the lattice's NATS", clock=clock)
    outage.failed(UnexpectedEOF(), nc)  # the cause, just before the loss
    assert warnings(caplog) == []
    outage.lost(nc)
    for _ in range(100):  # 150 s of attempts every 1.5 s
        clock.now += 1.5
        outage.failed(ConnectionRefusedError("Connect call failed"), nc)
    clock.now += 1.5
    outage.failed(AuthorizationError(), nc)
    clock.now += 1.5
    outage.restored()
    lines = warnings(caplog)
    assert len(lines) == 5, lines
    assert lines[0].startswith(f"lost the lattice's NATS at {URL} (UnexpectedEOF")
    assert "cannot reconnect" in lines[1]
    assert "ConnectionRefusedError" in lines[1]
    assert re.match(
        rf"the lattice's NATS at {URL} still unreachable for 6\d s; 4\d attempts", lines[2]
    )
    assert re.search(r"still unreachable for 12\d s; 8\d attempts", lines[3])
    assert "AuthorizationError" in lines[4]
    back = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert back == [
        f"reconnected to the lattice's NATS at {URL} after 153.0 s (101 failed attempts); "
        "subscriptions restored"
    ]


def test_log_throttle_admits_one_line_per_key_per_interval() -> None:
    """One line per key per interval; the next one says how many were held back."""
    clock = FakeClock()
    throttle = LogThrottle(10.0, clock=clock)
    assert throttle.admit("a") == 0
    assert throttle.admit("b") == 0
    assert [throttle.admit("a") for _ in range(3)] == [None, None, None]
    clock.now += 10.0
    assert throttle.admit("a") == 3
    assert throttle.admit("a") is None


def test_log_throttle_forgets_quiet_keys_when_full() -> None:
    """The table of keys stays bounded: quiet keys are dropped when it is full."""
    clock = FakeClock()
    throttle = LogThrottle(1.0, keys=4, clock=clock)
    for key in "abcd":
        throttle.admit(key)
    clock.now += 2.0
    assert throttle.admit("e") == 0
    assert len(throttle._last) == 1


async def _silent(nc: Any, subject: str) -> Any:
    """A subscriber on ``subject`` that never answers."""

    async def ignore(msg: Any) -> None:
        pass

    sub = await nc.subscribe(subject, cb=ignore)
    await nc.flush()
    return sub


async def test_caller_timeout_never_lengthens_the_rpc_timeout(
    member: MakeMember, nats: ServerProcess
) -> None:
    """A remote call (to an actor or a provider) ends within the RPC timeout even when the
    caller allows 30 s, and within the caller's timeout when that is shorter."""
    b, lattice_b = await member(rpc_timeout=0.5)
    actor = KeyPair.generate("module").public_key
    subjects = Subjects()
    nc = await nats_py.connect(nats_url(nats))
    try:
        await _silent(nc, subjects.actor(actor))
        await _silent(nc, subjects.provider_actor("wascc:keyvalue", "default", actor))
        for timeout, bound in ((30.0, 0.5), (None, 0.5), (0.2, 0.2)):
            started = time.monotonic()
            with pytest.raises(LatticeTimeout):
                await b.call_actor(actor, "Echo", b"", timeout=timeout)
            took = time.monotonic() - started
            assert bound - 0.05 < took < bound + 0.4, (timeout, took)
        started = time.monotonic()
        with pytest.raises(LatticeTimeout, match=r"no answer within 0\.5s"):
            await lattice_b.call_provider(
                actor, "wascc:keyvalue", "default", "Get", b"", timeout=30.0
            )
        assert time.monotonic() - started < 0.9
    finally:
        await nc.close()


async def test_a_call_nobody_takes_is_asked_again_until_a_host_serves_it(
    member: MakeMember, signer: Signer
) -> None:
    """A call to an actor no host serves yet is sent again within the RPC timeout: a host
    that starts serving it a moment later (as after a NATS restart) answers it."""
    a, _ = await member()
    b, _ = await member(rpc_timeout=3.0)
    call = asyncio.create_task(b.call_actor(signer.key("echo"), "Echo", b"late", timeout=30))
    await asyncio.sleep(0.4)
    assert not call.done()
    await a.add_actor(signer.sign("echo"))
    assert await asyncio.wait_for(call, 3.0) == b"late"


async def test_a_call_nobody_takes_is_unavailable_and_logged_once(
    member: MakeMember, caplog: pytest.LogCaptureFixture
) -> None:
    """No host serves the actor: each call fails with LatticeUnavailable (an Unavailable
    with retry_after) after the RPC timeout, and the host logs one WARNING for all of
    them, not one per call."""
    b, lattice_b = await member(rpc_timeout=0.3)
    missing = KeyPair.generate("module").public_key
    caplog.set_level(logging.INFO, "wascc.lattice")
    for _ in range(5):
        started = time.monotonic()
        with pytest.raises(LatticeUnavailable, match="no host in the lattice serves it") as err:
            await b.call_actor(missing, "Echo", b"", timeout=30)
        assert 0.25 < time.monotonic() - started < 0.8
        assert isinstance(err.value, Unavailable)
        assert err.value.retry_after == 1.0
    lines = [line for line in warnings(caplog, "wascc.lattice") if missing in line]
    assert len(lines) == 1, lines
    assert "retry in 1s" in lines[0]
    assert lattice_b.remote.stats()["unavailable"] == 5


async def test_a_call_made_while_nats_is_away_waits_for_it(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """While NATS is down a call is not buffered: it waits for the reconnection within its
    timeout and is answered once NATS and the serving host are back, or fails with
    LatticeUnavailable when its time is up."""
    a, _ = await member()
    b, lattice_b = await member(rpc_timeout=4.0)
    claims = await a.add_actor(signer.sign("echo"))
    assert await b.call_actor(claims.subject, "Echo", b"1") == b"1"
    nats.stop()
    await until(lambda: not lattice_b.client.is_connected, 5)
    started = time.monotonic()
    with pytest.raises(LatticeUnavailable, match="unreachable") as err:
        await b.call_actor(claims.subject, "Echo", b"2", timeout=0.3)
    assert time.monotonic() - started < 0.8
    assert err.value.retry_after >= 1.0
    call = asyncio.create_task(b.call_actor(claims.subject, "Echo", b"3"))
    await asyncio.sleep(0.3)
    nats.start()
    assert await asyncio.wait_for(call, 5.0) == b"3"
