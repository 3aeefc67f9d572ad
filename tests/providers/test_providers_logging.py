"""The logging provider: WriteLog lines reach stdlib logging under the actor's logger."""

from __future__ import annotations

import logging

import aiohttp
import msgpack
import pytest

from tests.providers.providers_support import HTTP, ServeActor, SignerLike, sign_forwarder
from wascc.host import Host
from wascc.host.errors import GuestError, ProviderError
from wascc.host.typing import Provider, SyncProvider
from wascc.providers import LoggingProvider
from wascc.providers.codec import CodecError, WriteLogRequest
from wascc.providers.logging_provider import TRACE

LOGGING = "wascc:logging"
KEY = "M" + "A" * 55


@pytest.fixture
async def logging_provider(host: Host) -> LoggingProvider:
    """The logging provider, loaded on the test's host."""
    provider = LoggingProvider()
    await host.add_provider(provider)
    return provider


@pytest.mark.usefixtures("logging_provider")
async def test_logger_actor_lines_reach_stdlib_logging(
    host: Host,
    serve: ServeActor,
    signer: SignerLike,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The logger actor's two WriteLog calls arrive as info and warning records under
    wascc.actor.logger, each carrying the actor's key."""
    served = await serve(signer.sign("logger", caps=[HTTP, LOGGING]))
    await host.set_binding(served.key, LOGGING)
    with caplog.at_level(logging.DEBUG, logger="wascc.actor"):
        async with client.get(f"{served.url}/hello") as resp:
            assert resp.status == 200
            assert await resp.text() == "logged"
    records = [r for r in caplog.records if r.name == "wascc.actor.logger"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "logger: handling request for /hello"),
        (logging.WARNING, "logger: sample warning for /hello"),
    ]
    assert all(r.actor_key == served.key for r in records)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("level", "expected"),
    [(1, logging.ERROR), (2, logging.WARNING), (3, logging.INFO), (4, logging.DEBUG), (5, TRACE)],
)
async def test_levels_map_to_stdlib_levels(
    caplog: pytest.LogCaptureFixture, level: int, expected: int
) -> None:
    """waSCC levels 1-5 map to error, warning, info, debug and trace."""
    provider = LoggingProvider()
    await provider.bind_actor(KEY, "default", {"__wascc_name": "named"})
    with caplog.at_level(TRACE, logger="wascc.actor.named"):
        reply = provider.handle_sync(
            KEY, "default", "WriteLog", WriteLogRequest(level, "x").encode()
        )
    assert reply == b""
    [record] = caplog.records
    assert (record.name, record.levelno, record.getMessage()) == (
        "wascc.actor.named",
        expected,
        "x",
    )


def test_trace_is_a_named_level_below_debug() -> None:
    """The trace level sits below DEBUG and has the name TRACE."""
    assert TRACE < logging.DEBUG
    assert logging.getLevelName(TRACE) == "TRACE"


async def test_unnamed_actor_logs_under_its_key(caplog: pytest.LogCaptureFixture) -> None:
    """An actor without a name in its claims logs under wascc.actor.<key>."""
    provider = LoggingProvider()
    await provider.bind_actor(KEY, "default", {"__wascc_name": ""})
    with caplog.at_level(logging.INFO, logger="wascc.actor"):
        await provider.handle(KEY, "default", "WriteLog", WriteLogRequest(3, "hi").encode())
    assert [r.name for r in caplog.records] == [f"wascc.actor.{KEY}"]


@pytest.mark.parametrize("level", [0, 6, -1, 99])
async def test_unknown_level_is_an_error_reply(level: int) -> None:
    """A level outside 1-5 is refused with an error naming the level."""
    provider = LoggingProvider()
    await provider.bind_actor(KEY, "default", {})
    with pytest.raises(ProviderError, match=f"unknown level {level}"):
        provider.handle_sync(KEY, "default", "WriteLog", WriteLogRequest(level, "x").encode())


@pytest.mark.usefixtures("logging_provider")
async def test_unknown_level_from_a_real_actor_becomes_its_error(
    host: Host,
    signer: SignerLike,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through a real actor, an unknown level is the guest's host error; nothing is logged."""
    module = sign_forwarder(signer, "fwd", LOGGING, caps=[LOGGING])
    claims = await host.add_actor(module)
    await host.set_binding(claims.subject, LOGGING)
    with caplog.at_level(logging.DEBUG, logger="wascc.actor"):
        await host.call_actor(claims.subject, "WriteLog", WriteLogRequest(3, "fine").encode())
        with pytest.raises(GuestError, match="unknown level 7"):
            await host.call_actor(claims.subject, "WriteLog", WriteLogRequest(7, "no").encode())
    assert [r.getMessage() for r in caplog.records if r.name == "wascc.actor.fwd"] == ["fine"]


async def test_malformed_payloads_and_unknown_operations_are_refused() -> None:
    """A payload that is not a WriteLog, or another operation, is an error reply."""
    provider = LoggingProvider()
    with pytest.raises(CodecError, match="level"):
        provider.handle_sync(KEY, "default", "WriteLog", msgpack.packb({"body": "x"}))
    with pytest.raises(CodecError):
        provider.handle_sync(KEY, "default", "WriteLog", b"\xc1")
    with pytest.raises(ProviderError, match="Flush"):
        provider.handle_sync(KEY, "default", "Flush", WriteLogRequest(3, "x").encode())


def test_logging_provider_is_a_sync_provider() -> None:
    """The provider implements both the async interface and the synchronous fast path."""
    provider = LoggingProvider()
    assert isinstance(provider, Provider)
    assert isinstance(provider, SyncProvider)
    assert provider.contract_id == LOGGING
