"""Loading actors: claims checks, the module cache, inventory, and the host's lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgpack
import pytest

from tests.conftest import Signer, module_path
from wascc.host import ActorSettings, Host
from wascc.host.errors import (
    ActorAlreadyRunning,
    ActorNotFound,
    HostError,
    ModuleLoadError,
    NotAuthorized,
)
from wascc.host.invocation import Invocation
from wascc.keys.claims import Claims
from wascc.keys.errors import (
    BadSignature,
    HashMismatch,
    TokenExpired,
    TokenMissing,
    UntrustedIssuer,
)


async def test_echo_round_trip_on_both_call_paths(
    signer: Signer, fast: bool, tmp_path: Path
) -> None:
    """A signed echo actor answers Echo with its payload on the fast and the fallback path."""
    async with Host(cache_dir=tmp_path, fast=fast) as host:
        claims = await host.add_actor(signer.sign("echo"))
        for size in (0, 16, 1024, 1 << 20):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            assert await host.call_actor(claims.subject, "Echo", payload) == payload


async def test_handle_request_returns_the_echoed_request(signer: Signer, host: Host) -> None:
    """echo's HandleRequest reply is a Response whose JSON body repeats the request."""
    claims = await host.add_actor(signer.sign("echo", caps=["wascc:http_server"]))
    request = {
        "method": "POST",
        "path": "/a/b",
        "queryString": "x=1",
        "header": {"content-type": "text/plain"},
        "body": b"hello",
    }
    raw = await host.call_actor(
        claims.subject, "HandleRequest", msgpack.packb(request, use_bin_type=True)
    )
    response = msgpack.unpackb(raw, raw=False)
    assert response["statusCode"] == 200
    body = msgpack.unpackb(msgpack.packb(response["body"]), raw=False)
    assert b'"path":"/a/b"' in body
    assert b'"query_string":"x=1"' in body


async def test_actor_loads_from_a_path(signer: Signer, host: Host, tmp_path: Path) -> None:
    """add_actor takes a path; the inventory shows where the actor came from."""
    path = tmp_path / "echo_s.wasm"
    path.write_bytes(signer.sign("echo"))
    claims = await host.add_actor(path)
    [entry] = host.inventory()["actors"]
    assert entry["key"] == claims.subject
    assert entry["path"] == str(path)
    assert entry["claims"]["name"] == "echo"


async def test_missing_file_is_a_clear_error(host: Host, tmp_path: Path) -> None:
    """A path that does not exist is refused with a message naming it."""
    with pytest.raises(ModuleLoadError, match=r"nothere\.wasm: cannot read"):
        await host.add_actor(tmp_path / "nothere.wasm")


async def test_second_actor_with_the_same_subject_is_refused(signer: Signer, host: Host) -> None:
    """Two actors with one subject cannot run in one host; the message points to live update."""
    await host.add_actor(signer.sign("echo"))
    with pytest.raises(ActorAlreadyRunning, match="replace_actor"):
        await host.add_actor(signer.sign("echo", rev=2))


async def test_unsigned_module_is_refused(host: Host) -> None:
    """A module without a token is refused before it is compiled."""
    with pytest.raises(TokenMissing, match="wascc claims sign"):
        await host.add_actor(module_path("echo").read_bytes())


async def test_tampered_module_is_refused(signer: Signer, host: Host) -> None:
    """Changing one byte of a signed module's code makes the host refuse it (hash mismatch)."""
    signed = bytearray(signer.sign("echo"))
    signed[len(signed) // 3] ^= 0x01
    with pytest.raises(HashMismatch, match=r"changed after signing|hash"):
        await host.add_actor(bytes(signed))


async def test_signature_from_another_account_is_refused(signer: Signer, host: Host) -> None:
    """A token whose signature was made by another key does not verify."""
    good = signer.sign("echo").decode("latin-1")
    other = Signer().sign("echo").decode("latin-1")
    good_sig = good.rsplit(".", 1)[1]
    other_sig = other.rsplit(".", 1)[1]
    forged = good.replace(good_sig, other_sig[: len(good_sig)]).encode("latin-1")
    with pytest.raises(BadSignature):
        await host.add_actor(forged)


async def test_expired_token_is_refused(signer: Signer, host: Host) -> None:
    """An actor whose token has expired is refused with the reason."""
    with pytest.raises(TokenExpired):
        await host.add_actor(signer.sign("echo", expires_in=-10))


async def test_trusted_issuers_restrict_loading(signer: Signer, tmp_path: Path) -> None:
    """With a trusted-issuer list, modules signed by other accounts are refused."""
    async with Host(cache_dir=tmp_path, trusted_issuers=["A" + "A" * 55]) as host:
        with pytest.raises(UntrustedIssuer):
            await host.add_actor(signer.sign("echo"))


async def test_wasi_module_links_with_nothing_granted(signer: Signer, host: Host) -> None:
    """A module that imports WASI loads and runs with WASI linked."""
    claims = await host.add_actor(signer.sign("fixtures/wasi", name="wasi"))
    assert claims.name == "wasi"


async def test_call_to_unknown_actor_names_the_key(host: Host) -> None:
    """Calling a key that is not loaded raises ActorNotFound with the key."""
    key = "M" + "A" * 55
    with pytest.raises(ActorNotFound, match=key):
        await host.call_actor(key, "Echo", b"")


async def test_removed_actor_no_longer_answers(signer: Signer, host: Host) -> None:
    """After remove_actor the key is unknown and the inventory is empty."""
    claims = await host.add_actor(signer.sign("echo"))
    await host.remove_actor(claims.subject)
    assert host.inventory()["actors"] == []
    with pytest.raises(ActorNotFound):
        await host.call_actor(claims.subject, "Echo", b"x")


async def test_module_cache_survives_a_restart(signer: Signer, tmp_path: Path) -> None:
    """A second host on the same cache directory loads the actor without compiling it."""
    signed = signer.sign("echo")
    async with Host(cache_dir=tmp_path) as first:
        await first.add_actor(signed)
        assert first.engine.stats.compiled == 1
        assert first.engine.stats.disk_writes == 1
    async with Host(cache_dir=tmp_path) as second:
        claims = await second.add_actor(signed)
        assert second.engine.stats.compiled == 0
        assert second.engine.stats.disk_hits == 1
        assert await second.call_actor(claims.subject, "Echo", b"ok") == b"ok"


async def test_host_must_be_started(signer: Signer, tmp_path: Path) -> None:
    """Using a host before start() says how to start it."""
    host = Host(cache_dir=tmp_path)
    with pytest.raises(HostError, match="not started"):
        await host.add_actor(signer.sign("echo"))


async def test_start_and_stop_are_idempotent(tmp_path: Path) -> None:
    """start() and stop() may be called twice."""
    host = Host(cache_dir=tmp_path)
    await host.start()
    await host.start()
    await host.stop()
    await host.stop()


class _DenyEcho:
    def can_load(self, claims: Claims) -> bool:
        return claims.name != "echo"

    def can_invoke(self, invocation: Invocation) -> bool:
        return invocation.operation != "Forbidden"


async def test_authorizer_can_refuse_loading_and_invoking(signer: Signer, tmp_path: Path) -> None:
    """The authorizer hook refuses loads and invocations the claims would allow."""
    async with Host(cache_dir=tmp_path, authorizer=_DenyEcho()) as host:
        with pytest.raises(NotAuthorized, match="echo"):
            await host.add_actor(signer.sign("echo"))
        claims = await host.add_actor(signer.sign("ponger"))
        assert await host.call_actor(claims.subject, "Pong", b"a") == b"pong: a"
        with pytest.raises(NotAuthorized, match="Forbidden"):
            await host.call_actor(claims.subject, "Forbidden", b"")


async def test_many_actors_load_concurrently(signer: Signer, host: Host) -> None:
    """Several actors added at once all run and answer."""
    names = [f"echo{i}" for i in range(8)]
    signed = [signer.sign("echo", name=n) for n in names]
    all_claims = await asyncio.gather(*(host.add_actor(s) for s in signed))
    replies = await asyncio.gather(
        *(host.call_actor(c.subject, "Echo", c.subject.encode()) for c in all_claims)
    )
    assert replies == [c.subject.encode() for c in all_claims]


async def test_settings_set_the_pool_size(signer: Signer, host: Host) -> None:
    """max_instances is the pool's cap, visible in the actor's pool."""
    claims = await host.add_actor(signer.sign("echo"), settings=ActorSettings(max_instances=3))
    assert host.actor(claims.subject).pool.max_instances == 3
