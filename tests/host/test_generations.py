"""wasmCloud 0.18 actors beside waSCC 0.14 ones on one host: one provider serving both
generations of a contract, call aliases, and health checks."""

from __future__ import annotations

import asyncio
import json
import logging

import msgpack
import pytest

from tests.conftest import Signer
from wascc.host import ActorSettings, Host
from wascc.host.checkup import HEALTH_REQUEST
from wascc.host.engine import Limits
from wascc.host.errors import ActorOutOfTime, GuestError, HostError
from wascc.host.generations import TwinProvider
from wascc.host.inline import InlinePolicy
from wascc.host.metrics import HostMetrics
from wascc.host.testing import FunctionProvider
from wascc.providers.codec import HttpRequest, HttpResponse
from wascc.providers.codec import wasmcloud as wc
from wascc.providers.keyvalue import MemoryKeyValueProvider
from wascc.providers.logging_provider import LoggingProvider

KV, WC_KV = "wascc:keyvalue", wc.KEYVALUE
HTTP, WC_HTTP = "wascc:http_server", wc.HTTP_SERVER
PONGER = "wasmcloud/examples/ponger"


def http_get(path: str = "/", query: str = "") -> bytes:
    return HttpRequest("GET", path, query, {}, b"").encode()


def body_of(reply: bytes) -> object:
    return json.loads(HttpResponse.decode(reply).body)


async def test_one_key_value_store_serves_both_generations(host: Host, signer: Signer) -> None:
    """kvcounter (0.14) and wckvcounter (0.18) bound to the same store count the same keys;
    the 0.18 actor gets ``{new_count}`` where waSCC answers ``{newCount}``."""
    store = MemoryKeyValueProvider()
    await host.add_provider(store)
    old = await host.add_actor(signer.sign("kvcounter", caps=[HTTP, KV]))
    new = await host.add_actor(signer.sign("wckvcounter", caps=[WC_HTTP, WC_KV]))
    await host.set_binding(old.subject, KV)
    await host.set_binding(new.subject, WC_KV)

    first = await host.call_actor(old.subject, "HandleRequest", http_get("/hits"))
    second = await host.call_actor(new.subject, "HandleRequest", http_get("/hits"))
    third = await host.call_actor(new.subject, "HandleRequest", http_get("/other"))

    assert body_of(first) == {"counter": 1}
    # Each actor has its own store in the provider; the sets are the 0.18 actor's.
    assert body_of(second) == {"counter": 1, "paths": 1}
    assert body_of(third) == {"counter": 1, "paths": 2}
    assert isinstance(host.find_provider(WC_KV, "default"), TwinProvider)


async def test_the_provider_is_told_the_host_keys_of_the_actors_generation(
    host: Host, signer: Signer
) -> None:
    """``BindActor`` values carry ``__wasmcloud_*`` for a 0.18 binding; a waSCC provider
    behind the twin also gets the ``__wascc_*`` names it reads."""
    provider = FunctionProvider(KV, lambda *_: _async(b""))
    native = FunctionProvider("acme:native", lambda *_: _async(b""))
    await host.add_provider(provider)
    await host.add_provider(native)
    claims = await host.add_actor(signer.sign("wckvcounter", caps=[WC_HTTP, WC_KV, "acme:native"]))
    await host.set_binding(claims.subject, WC_KV, values={"BACKEND": "memory"})
    await host.set_binding(claims.subject, "acme:native")

    through_twin = provider.events[0].values
    assert through_twin is not None
    assert through_twin["BACKEND"] == "memory"
    assert through_twin["__wasmcloud_name"] == through_twin["__wascc_name"] == "wckvcounter"
    assert through_twin["__wasmcloud_capabilities"] == f"{WC_HTTP},{WC_KV},acme:native"
    assert through_twin["__wasmcloud_issuer"] == signer.account.public_key
    own = native.events[0].values
    assert own is not None
    assert "__wascc_name" in own
    assert "__wasmcloud_name" not in own


async def _async(value: bytes) -> bytes:
    return value


async def test_an_actor_is_bound_through_one_generation_of_a_provider(
    host: Host, signer: Signer
) -> None:
    await host.add_provider(MemoryKeyValueProvider())
    claims = await host.add_actor(signer.sign("kvcounter", caps=[HTTP, KV, WC_KV]))
    await host.set_binding(claims.subject, KV)
    with pytest.raises(HostError, match="an actor speaks one generation"):
        await host.set_binding(claims.subject, WC_KV)
    # Through another provider, the other generation's binding is fine.
    await host.add_provider(MemoryKeyValueProvider(), binding="other-name")
    await host.set_binding(claims.subject, WC_KV, "other-name")


async def test_removing_either_face_removes_the_provider(host: Host, signer: Signer) -> None:
    provider = FunctionProvider(KV, lambda *_: _async(b""))
    await host.add_provider(provider)
    claims = await host.add_actor(signer.sign("wckvcounter", caps=[WC_HTTP, WC_KV]))
    await host.set_binding(claims.subject, WC_KV)
    inventory = host.inventory()
    assert {(p["contract_id"], p.get("via")) for p in inventory["providers"]} == {
        (KV, None),
        (WC_KV, KV),
    }
    await host.remove_provider(WC_KV)
    assert host.inventory()["providers"] == []
    assert host.inventory()["bindings"] == []
    assert provider.stopped
    assert [e.values is None for e in provider.events] == [False, True]  # bound, removed


async def test_a_provider_of_its_own_serves_a_wasmcloud_contract_untranslated(
    host: Host, signer: Signer
) -> None:
    async def answer(actor: str, binding: str, op: str, payload: bytes) -> bytes:
        return msgpack.packb({"value": 7})

    await host.add_provider(MemoryKeyValueProvider(), binding="shared")
    with pytest.raises(HostError, match="the provider of wascc:keyvalue serves it too"):
        await host.add_provider(FunctionProvider(WC_KV, answer), binding="shared")
    native = FunctionProvider(WC_KV, answer)
    await host.add_provider(native)
    claims = await host.add_actor(signer.sign("wckvcounter", caps=[WC_HTTP, WC_KV]))
    await host.set_binding(claims.subject, WC_KV)
    with pytest.raises(GuestError, match="reply to SetAdd lacks new_count"):
        await host.call_actor(claims.subject, "HandleRequest", http_get("/a"))
    assert [call[2] for call in native.calls] == ["Add", "SetAdd"]


async def test_extras_answers_each_generation_with_its_keys(host: Host, signer: Signer) -> None:
    """wcextras requires ``sequenceNumber`` and ``random_number`` in every reply."""
    claims = await host.add_actor(signer.sign("wcextras", caps=[WC_HTTP, wc.EXTRAS]))
    for sequence in (0, 1):
        body = body_of(await host.call_actor(claims.subject, "HandleRequest", http_get()))
        assert isinstance(body, dict)
        assert body["sequence"] == sequence
        assert 0 <= body["random"] < 100
        assert len(body["guid"]) == 36
    assert host.find_binding(claims.subject, wc.EXTRAS, "default") is not None


async def test_write_log_of_the_second_generation_reaches_the_actors_logger(
    host: Host, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    await host.add_provider(LoggingProvider())
    provider = host.find_provider(wc.LOGGING, "default")
    assert provider is not None
    claims = await host.add_actor(signer.sign("wcponger", caps=[wc.LOGGING]))
    await host.set_binding(claims.subject, wc.LOGGING)
    with caplog.at_level(logging.DEBUG, logger="wascc.actor"):
        await provider.handle(
            claims.subject,
            "default",
            "WriteLog",
            wc.WriteLogRequest(target="db", level="warn", text="slow query").encode(),
        )
    record = next(r for r in caplog.records if r.name == "wascc.actor.wcponger")
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "db: slow query")
    with pytest.raises(Exception, match="unknown level 'loud'"):
        await provider.handle(
            claims.subject, "default", "WriteLog", wc.WriteLogRequest("", "loud", "x").encode()
        )


# call aliases -------------------------------------------------------------------------------


async def test_an_actor_calls_another_by_its_call_alias(host: Host, signer: Signer) -> None:
    """The realistic pair: Ping {value: 11} to ``wasmcloud/examples/ponger`` answers 53,
    with no capability claimed for the call."""
    await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    pinger = await host.add_actor(signer.sign("wcpinger", caps=[WC_HTTP]))
    assert body_of(await host.call_actor(pinger.subject, "HandleRequest", http_get())) == {
        "value": 53
    }
    reply = await host.call_actor(pinger.subject, "HandleRequest", http_get("/", "value=-2"))
    assert body_of(reply) == {"value": 40}


async def test_an_actor_held_to_no_actor_calls_is_refused_them(host: Host, signer: Signer) -> None:
    """``calls_actors: false`` holds even a 0.18 actor, which needs no claim to call one."""
    await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    held = ActorSettings(calls_actors=False)
    pinger = await host.add_actor(signer.sign("wcpinger", caps=[WC_HTTP]), settings=held)
    with pytest.raises(GuestError) as caught:
        await host.call_actor(pinger.subject, "HandleRequest", http_get())
    assert (
        f"may not call actor {PONGER} (Ping): its manifest entry sets calls_actors: false; "
        "remove that setting to let it call actors"
    ) in str(caught.value)
    shown = {a["name"]: a.get("calls_actors") for a in host.inventory()["actors"]}
    assert shown == {"wcponger": None, "wcpinger": False}  # shown only when held


async def test_a_0_18_actor_that_calls_no_actors_runs_inline(host: Host, signer: Signer) -> None:
    """A 0.18 actor runs on worker threads (it may call actors unclaimed, and waiting for one
    on the loop's thread would hold up the host), unless held to no actor calls."""
    plain = await host.add_actor(signer.sign("echo", name="plain", caps=[WC_HTTP]))
    held = await host.add_actor(
        signer.sign("echo", name="held", caps=[WC_HTTP]), settings=ActorSettings(calls_actors=False)
    )
    for _ in range(InlinePolicy.PROMOTE_AFTER * 8):
        for key in (plain.subject, held.subject):
            assert body_of(await host.call_actor(key, "HandleRequest", http_get()))
        if host.actor(held.subject).inline.inline_calls:
            break
    assert host.actor(held.subject).inline.inline_calls > 0
    assert host.actor(plain.subject).inline.inline_calls == 0


async def test_a_second_claim_of_an_alias_is_refused_and_the_alias_freed_on_stop(
    host: Host, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    first = await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    with caplog.at_level(logging.WARNING):
        second = await host.add_actor(signer.sign("wcponger", name="impostor", call_alias=PONGER))
    assert f"claims the call alias {PONGER}, refused" in caplog.text
    assert "registered it first" in caplog.text
    inventory = host.inventory()
    aliases = {a["key"]: a["call_alias"] for a in inventory["actors"]}
    assert aliases == {first.subject: PONGER, second.subject: None}
    assert any(e["type"] == "call_alias_refused" for e in host.events.recent(10))

    pinger = await host.add_actor(signer.sign("wcpinger", caps=[WC_HTTP]))
    await host.call_actor(first.subject, "SetHealth", msgpack.packb({"healthy": True}))
    assert body_of(await host.call_actor(pinger.subject, "HandleRequest", http_get())) == {
        "value": 53
    }
    await host.remove_actor(first.subject)
    with pytest.raises(GuestError, match="neither an actor key, the call alias of a running"):
        await host.call_actor(pinger.subject, "HandleRequest", http_get())
    # Released: the next actor to claim it gets it (the refused one does not, by itself).
    third = await host.add_actor(signer.sign("wcponger", name="heir", call_alias=PONGER))
    assert host.resolve_alias(PONGER) == third.subject
    assert body_of(await host.call_actor(pinger.subject, "HandleRequest", http_get())) == {
        "value": 53
    }


@pytest.mark.parametrize("alias", ["wascc:keyvalue", "M" + "A" * 55])
async def test_an_alias_shaped_like_a_contract_or_a_key_is_refused(
    host: Host, signer: Signer, alias: str
) -> None:
    """Else it would capture calls meant for a provider or an actor."""
    claims = await host.add_actor(signer.sign("wcponger", call_alias=alias))
    assert host.resolve_alias(alias) is None
    assert host.alias_of(claims.subject) is None


async def test_a_waSCC_actor_must_claim_what_it_calls(host: Host, signer: Signer) -> None:
    """A 0.14 actor (no wasmcloud:* claim, no alias) lists each actor it calls."""
    await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    pinger = await host.add_actor(signer.sign("wcpinger", caps=[HTTP]))
    with pytest.raises(GuestError, match=f"re-sign with --cap {PONGER}"):
        await host.call_actor(pinger.subject, "HandleRequest", http_get())
    allowed = await host.add_actor(signer.sign("wcpinger", name="listed", caps=[HTTP, PONGER]))
    assert body_of(await host.call_actor(allowed.subject, "HandleRequest", http_get())) == {
        "value": 53
    }


async def test_a_live_update_that_drops_the_alias_releases_it(host: Host, signer: Signer) -> None:
    claims = await host.add_actor(signer.sign("wcponger", call_alias=PONGER, rev=1))
    assert host.resolve_alias(PONGER) == claims.subject
    await host.replace_actor(signer.sign("wcponger", rev=2))
    assert host.resolve_alias(PONGER) is None


# health -------------------------------------------------------------------------------------


async def test_health_checks_judge_each_generation(host: Host, signer: Signer) -> None:
    ponger = await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    echo = await host.add_actor(signer.sign("echo"))  # no HealthRequest: not known
    relay = await host.add_actor(signer.sign("relay"))  # 0.14, answers empty: healthy
    # The same module as a 0.18 actor: an empty answer is not {healthy, message}.
    silent = await host.add_actor(signer.sign("relay", name="silent", caps=[WC_KV]))

    reports = await host.check_health()
    verdicts = {key: (r.healthy, r.message) for key, r in reports.items()}
    assert verdicts[ponger.subject] == (True, "")
    assert verdicts[echo.subject] == (None, "the actor does not answer HealthRequest")
    assert verdicts[relay.subject] == (True, "")
    assert verdicts[silent.subject][0] is False
    assert "answered nil" in verdicts[silent.subject][1]

    await host.call_actor(
        ponger.subject, "SetHealth", msgpack.packb({"healthy": False, "message": "db down"})
    )
    await host.check_health(ponger.subject)
    described = {a["key"]: a["health"]["check"] for a in host.inventory()["actors"]}
    assert (described[ponger.subject]["healthy"], described[ponger.subject]["message"]) == (
        False,
        "db down",
    )

    metrics = HostMetrics()
    metrics.watch(host)
    text = metrics.render().decode()
    assert f'wascc_actor_healthy{{actor="{ponger.subject}"}} 0.0' in text
    assert f'wascc_actor_healthy{{actor="{relay.subject}"}} 1.0' in text
    assert (
        f'actor="{echo.subject}"'
        not in text.split("wascc_actor_healthy", 1)[1].split("# HELP", 1)[0]
    )


async def test_a_changed_verdict_is_an_event_and_a_repeated_one_is_not(
    host: Host, signer: Signer
) -> None:
    """``actor_health_changed`` marks each change (the first verdict of a checked actor too),
    so that a page showing verdicts knows when to refresh; a 0.14 actor without checks and
    an unchanged verdict add nothing."""
    ponger = await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
    await host.add_actor(signer.sign("echo"))  # healthy None, as before its first check

    def changes() -> list[tuple[str, object, object]]:
        return [
            (e["data"]["public_key"], e["data"]["healthy"], e["data"]["message"])
            for e in host.events.recent(100)
            if e["type"] == "actor_health_changed"
        ]

    await host.check_health()
    await host.check_health()
    assert changes() == [(ponger.subject, True, "")]
    down = msgpack.packb({"healthy": False, "message": "db down"})
    await host.call_actor(ponger.subject, "SetHealth", down)
    await host.check_health()
    await host.check_health()
    assert changes()[1:] == [(ponger.subject, False, "db down")]


async def test_a_trapping_health_check_is_unhealthy(host: Host, signer: Signer) -> None:
    crasher = await host.add_actor(signer.sign("fixtures/trap", name="crasher"))
    report = (await host.check_health(crasher.subject))[crasher.subject]
    assert report.healthy is False
    assert report.message.startswith("HealthRequest failed:")


async def test_the_host_checks_health_periodically(signer: Signer) -> None:
    async with Host(health_interval=0.05) as host:
        claims = await host.add_actor(signer.sign("wcponger", call_alias=PONGER))
        for _ in range(200):
            described = host.inventory()["actors"][0]["health"]["check"]
            if described is not None:
                break
            await asyncio.sleep(0.02)
        assert described is not None
        assert described["healthy"] is True
        assert host.alias_of(claims.subject) == PONGER


async def test_a_busy_actor_keeps_its_last_verdict(host: Host, signer: Signer) -> None:
    """A check that cannot even queue (the only instance busy, no queue) is no news."""
    # A 0.3 s deadline: one trap leaves it under the penalty threshold (host.health).
    settings = ActorSettings(max_queue=0, limits=Limits(deadline=0.3))
    claims = await host.add_actor(signer.sign("fixtures/loop", name="spinner"), settings=settings)
    first = (await host.check_health(claims.subject))[claims.subject]
    assert first.healthy is False  # it ran into its deadline
    spinning = asyncio.create_task(host.call_actor(claims.subject, "Spin", b""))
    for _ in range(200):
        if host.actor(claims.subject).pool.busy:
            break
        await asyncio.sleep(0.01)
    assert await host.check_health(claims.subject) == {}
    assert host.inventory()["actors"][0]["health"]["check"]["checked"] == first.checked
    with pytest.raises(ActorOutOfTime):
        await spinning


def test_the_health_request_is_the_reference_bytes() -> None:
    assert bytes.fromhex("81ab706c616365686f6c646572c3") == HEALTH_REQUEST
    assert wc.HealthCheckRequest().encode() == HEALTH_REQUEST
