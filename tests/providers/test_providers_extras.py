"""The extras provider: GUIDs, random numbers and per-actor sequences, bound automatically."""

from __future__ import annotations

import threading
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.providers.providers_support import HTTP, SignerLike, sign_forwarder
from wascc.host import Host
from wascc.host.errors import GuestError, ProviderError
from wascc.host.typing import Provider, SyncProvider
from wascc.providers import ExtrasProvider
from wascc.providers.codec import CodecError, ExtrasRequest, ExtrasResponse

EXTRAS = "wascc:extras"
KEY = "M" + "B" * 55


async def forwarder(host: Host, signer: SignerLike, name: str = "fwd") -> str:
    """Add a forwarder actor that claims wascc:extras; returns its key."""
    claims = await host.add_actor(sign_forwarder(signer, name, EXTRAS, caps=[EXTRAS]))
    return claims.subject


async def ask(host: Host, actor: str, operation: str, request: ExtrasRequest) -> ExtrasResponse:
    """Call an extras operation through the forwarder actor."""
    return ExtrasResponse.decode(await host.call_actor(actor, operation, request.encode()))


async def test_actors_claiming_extras_are_bound_automatically(
    host: Host, signer: SignerLike
) -> None:
    """Adding an actor that claims wascc:extras loads the provider and binds it as default;
    removing the actor removes the binding."""
    key = await forwarder(host, signer)
    assert isinstance(host.find_provider(EXTRAS, "default"), ExtrasProvider)
    assert host.find_binding(key, EXTRAS, "default") is not None
    await host.remove_actor(key)
    assert host.find_binding(key, EXTRAS, "default") is None


async def test_actors_not_claiming_extras_are_not_bound(host: Host, signer: SignerLike) -> None:
    """An actor without the wascc:extras claim gets no extras binding."""
    claims = await host.add_actor(signer.sign("echo", caps=[HTTP]))
    assert host.find_binding(claims.subject, EXTRAS, "default") is None
    assert host.find_provider(EXTRAS, "default") is None


async def test_sequences_start_at_zero_per_actor(host: Host, signer: SignerLike) -> None:
    """Each actor's sequence counts 0, 1, 2, ... independently of other actors."""
    first = await forwarder(host, signer, "first")
    second = await forwarder(host, signer, "second")
    seen = [
        (await ask(host, actor, "RequestSequence", ExtrasRequest(sequence=True))).sequence_number
        for actor in (first, first, second, first, second)
    ]
    assert seen == [0, 1, 0, 2, 1]


async def test_guid_is_a_uuid4(host: Host, signer: SignerLike) -> None:
    """RequestGuid answers a fresh version-4 UUID."""
    actor = await forwarder(host, signer)
    guids = [(await ask(host, actor, "RequestGuid", ExtrasRequest(guid=True))).guid for _ in "ab"]
    assert guids[0] != guids[1]
    for guid in guids:
        assert guid is not None
        assert uuid.UUID(guid).version == 4


async def test_random_numbers_stay_in_the_half_open_range(host: Host, signer: SignerLike) -> None:
    """RequestRandom answers numbers in [min, max), reaching both ends of a small range."""
    actor = await forwarder(host, signer)
    request = ExtrasRequest(random=True, min=-2, max=2)
    seen = {(await ask(host, actor, "RequestRandom", request)).random_number for _ in range(200)}
    assert seen == {-2, -1, 0, 1}


@pytest.mark.parametrize(("low", "high"), [(5, 5), (10, 1)])
async def test_empty_random_range_is_an_error_reply_not_a_crash(
    host: Host, signer: SignerLike, low: int, high: int
) -> None:
    """min >= max fails the actor's call with a clear error; the actor keeps working."""
    actor = await forwarder(host, signer)
    with pytest.raises(GuestError, match="min must be less than max"):
        await ask(host, actor, "RequestRandom", ExtrasRequest(random=True, min=low, max=high))
    answer = await ask(host, actor, "RequestRandom", ExtrasRequest(random=True, min=0, max=1))
    assert answer.random_number == 0


@given(low=st.integers(-(2**62), 2**62), span=st.integers(1, 2**62))
def test_random_is_within_bounds_for_any_range(low: int, span: int) -> None:
    """For any non-empty range, the random number lies in [min, max)."""
    provider = ExtrasProvider()
    request = ExtrasRequest(random=True, min=low, max=low + span)
    answer = ExtrasResponse.decode(
        provider.handle_sync(KEY, "default", "RequestRandom", request.encode())
    )
    assert low <= answer.random_number < low + span


async def test_removing_the_binding_restarts_the_sequence() -> None:
    """After RemoveActor an actor's sequence starts again at 0."""
    provider = ExtrasProvider()
    assert [provider.next_sequence(KEY) for _ in range(3)] == [0, 1, 2]
    await provider.remove_actor(KEY, "default")
    assert provider.next_sequence(KEY) == 0


def test_sequences_are_unique_across_threads() -> None:
    """Concurrent callers on many threads never get the same sequence number."""
    provider = ExtrasProvider()
    results: list[list[int]] = [[] for _ in range(8)]

    def work(out: list[int]) -> None:
        out.extend(provider.next_sequence(KEY) for _ in range(500))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    merged = sorted(n for out in results for n in out)
    assert merged == list(range(4000))


def test_unknown_operations_and_bad_payloads_are_error_replies() -> None:
    """An unknown operation or a payload that is not an extras request is refused."""
    provider = ExtrasProvider()
    with pytest.raises(ProviderError, match="RequestColour"):
        provider.handle_sync(KEY, "default", "RequestColour", ExtrasRequest().encode())
    with pytest.raises(CodecError, match="ExtrasRequest"):
        provider.handle_sync(KEY, "default", "RequestGuid", b"\x93\x01\x02\x03")


def test_extras_provider_is_a_sync_provider() -> None:
    """The provider implements both the async interface and the synchronous fast path."""
    provider = ExtrasProvider()
    assert isinstance(provider, Provider)
    assert isinstance(provider, SyncProvider)
    assert provider.contract_id == EXTRAS
