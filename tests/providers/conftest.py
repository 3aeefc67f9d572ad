"""Fixtures for the provider tests: an HTTP provider on a real host, a client, signed actors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.providers.providers_support import (
    HTTP,
    Handler,
    ServeActor,
    Served,
    SignerLike,
)
from wascc.host import ActorSettings, Host
from wascc.host.testing import FunctionProvider
from wascc.providers import HttpServerProvider


@pytest.fixture
async def http(host: Host) -> HttpServerProvider:
    """The HTTP server provider, loaded on the test's host (binding ``default``)."""
    provider = HttpServerProvider()
    await host.add_provider(provider)
    return provider


@pytest.fixture
def serve(host: Host, http: HttpServerProvider) -> ServeActor:
    """``await serve(module_bytes, **values)``: add the signed actor, bind it to the HTTP
    provider on a free port (``PORT=0`` unless given) and return where it listens."""

    async def serve(
        module: bytes, *, settings: ActorSettings | None = None, **values: str
    ) -> Served:
        claims = await host.add_actor(module, settings=settings)
        values.setdefault("PORT", "0")
        await host.set_binding(claims.subject, HTTP, values=values)
        port = http.port_of(claims.subject)
        return Served(claims.subject, f"http://127.0.0.1:{port}", port)

    return serve


@pytest.fixture
def slow(
    host: Host, signer: SignerLike, serve: ServeActor
) -> Callable[..., Awaitable[tuple[Served, FunctionProvider]]]:
    """``await slow(handler, **values)``: the ``fixtures/hostcall`` actor behind HTTP, whose
    every request is answered by ``handler`` as provider ``test:slow`` (the handler returns an
    encoded HTTP Response)."""

    async def make(
        handler: Handler, *, settings: ActorSettings | None = None, **values: str
    ) -> tuple[Served, FunctionProvider]:
        provider = FunctionProvider("test:slow", handler)
        await host.add_provider(provider)
        module = signer.sign("fixtures/hostcall", caps=[HTTP, "test:slow"])
        served = await serve(module, settings=settings, **values)
        await host.set_binding(served.key, "test:slow")
        return served, provider

    return make


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session with a bounded timeout; always closed."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
