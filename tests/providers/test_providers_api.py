"""The providers package's public surface and the HTTP settings parsed from binding values."""

from __future__ import annotations

import aiohttp
import pytest

from tests.providers.providers_support import HTTP, ServeActor, SignerLike
from wascc import providers
from wascc.host import Host
from wascc.host.errors import ProviderError
from wascc.host.typing import Provider, SyncProvider
from wascc.providers import HttpServerProvider, HttpSettings, codec


def test_public_names() -> None:
    """The package exports exactly its documented names, and each one exists."""
    assert sorted(providers.__all__) == [
        "CodecError",
        "ExtrasProvider",
        "HttpServerProvider",
        "HttpSettings",
        "KeyValueProvider",
        "LoggingProvider",
        "MemoryKeyValueProvider",
        "MessagingProvider",
    ]
    for module in (providers, codec):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_http_provider_refuses_actor_calls_synchronously() -> None:
    """The HTTP provider offers the synchronous path, which refuses every call from an actor:
    an actor bound only to it can then run inline."""
    provider = HttpServerProvider()
    assert isinstance(provider, Provider)
    assert isinstance(provider, SyncProvider)
    assert provider.contract_id == HTTP
    with pytest.raises(ProviderError, match="no operation 'Get' an actor can call"):
        provider.handle_sync("M" + "A" * 55, "default", "Get", b"")


def test_settings_defaults() -> None:
    """Only PORT is required; everything else has the documented default."""
    settings = HttpSettings.from_values({"PORT": "8080"}, actor="a")
    assert settings == HttpSettings(port=8080)
    assert settings.address == "127.0.0.1"
    assert settings.max_body == 16 * 2**20
    assert settings.timeout == 30.0
    assert settings.max_concurrent == 1000
    assert settings.cors == ()
    assert settings.access_log is False


def test_settings_read_every_value() -> None:
    """Every documented binding value is read and converted."""
    values = {
        "PORT": " 9000 ",
        "ADDRESS": "0.0.0.0",
        "MAX_BODY": "1024",
        "TIMEOUT": "2.5",
        "MAX_CONCURRENT": "7",
        "CORS": "https://a.example, ,https://b.example",
        "ACCESS_LOG": "Yes",
    }
    assert HttpSettings.from_values(values, actor="a") == HttpSettings(
        port=9000,
        address="0.0.0.0",
        max_body=1024,
        timeout=2.5,
        max_concurrent=7,
        cors=("https://a.example", "https://b.example"),
        access_log=True,
    )


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "soon"])
def test_settings_refuse_bad_timeouts(timeout: str) -> None:
    """A timeout that is not a positive finite number is refused, naming the value."""
    with pytest.raises(ProviderError, match="TIMEOUT"):
        HttpSettings.from_values({"PORT": "1", "TIMEOUT": timeout}, actor="a")


async def test_removing_the_provider_closes_its_listeners(
    host: Host, serve: ServeActor, signer: SignerLike
) -> None:
    """Removing the HTTP provider from the host unbinds its actors and closes their ports."""
    served = await serve(signer.sign("echo", caps=[HTTP]))
    await host.remove_provider(HTTP)
    assert host.find_binding(served.key, HTTP, "default") is None
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(served.url):
            pass
