"""Messaging binding values and NATS credentials, including a real server in operator mode."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.messaging.conftest import nats_url
from tests.providers.providers_support import SignerLike
from tests.support.nats_jwt import Chain, make_chain, secured_nats_server
from tests.support.servers import ServerProcess
from wascc import providers
from wascc.host import Host
from wascc.host.errors import ProviderError
from wascc.host.typing import Provider, SyncProvider
from wascc.keys.nkeys import KeyPair
from wascc.providers.messaging import MessagingProvider, MessagingSettings, UserCredentials
from wascc.providers.messaging.link import redact

MESSAGING = "wascc:messaging"


def parse(values: dict[str, str]) -> MessagingSettings:
    """Settings for actor ``m`` on binding ``default``."""
    return MessagingSettings.from_values(values, label="m", binding="default")


def test_the_package_exports_its_public_names() -> None:
    """wascc.providers.messaging exports exactly its public API; the provider is async, with its
    calls on the calling thread through ``direct`` rather than ``handle_sync``."""
    assert set(providers.messaging.__all__) == {
        "DirectMessaging",
        "Link",
        "MessagingProvider",
        "MessagingSettings",
        "UserCredentials",
    }
    assert isinstance(MessagingProvider(), Provider)
    assert not isinstance(MessagingProvider(), SyncProvider)


def test_defaults_and_lists() -> None:
    """Without values: the local server, no subscriptions, no queue group, anonymous."""
    assert parse({}) == MessagingSettings(servers=("nats://127.0.0.1:4222",))
    settings = parse(
        {"URL": "nats://a:1, nats://b:2", "SUBSCRIPTION": "x, y.*,,", "QUEUEGROUP_NAME": " q "}
    )
    assert settings.servers == ("nats://a:1", "nats://b:2")
    assert settings.subscriptions == ("x", "y.*")
    assert settings.queue_group == "q"
    assert parse({"MAX_CONCURRENT": "8"}).max_concurrent == 8


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"URL": "http://x"}, "is not a nats:// URL"),
        ({"SUBSCRIPTION": "a b"}, "is not a valid subject"),
        ({"SUBSCRIPTION": "a..b"}, "is not a valid subject"),
        ({"MAX_CONCURRENT": "0"}, "MAX_CONCURRENT='0'"),
        ({"CLIENT_JWT": "a.b.c"}, "go together"),
        ({"CLIENT_SEED": "SU"}, "go together"),
        ({"CLIENT_JWT": "a.b.c", "CLIENT_SEED": "not a seed"}, "not a valid nkey seed"),
        ({"CREDSFILE": "/nonexistent/user.creds"}, "cannot be read"),
    ],
)
def test_bad_values_are_refused_with_the_fix(values: dict[str, str], message: str) -> None:
    """Each malformed value is a ProviderError naming the actor and the fix."""
    with pytest.raises(ProviderError, match="cannot bind actor m") as caught:
        parse(values)
    assert message in str(caught.value)
    assert "fix the binding's values" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "publish_only"),
    [
        ("true", True),
        ("TRUE", True),
        (" Yes ", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("", False),
    ],
)
def test_publish_only_reads_true_or_false(text: str, publish_only: bool) -> None:
    """PUBLISH_ONLY takes true/false, yes/no or 1/0 in any case; empty or absent is false."""
    assert parse({"PUBLISH_ONLY": text}).publish_only is publish_only
    assert parse({}).publish_only is False


@pytest.mark.parametrize("text", ["maybe", "on", "2", "truee", "y"])
def test_publish_only_refuses_anything_else(text: str) -> None:
    """Another PUBLISH_ONLY value is refused, naming the actor, the value and the fix, at bind
    time and by the provider's offline check alike."""
    with pytest.raises(ProviderError) as at_bind:
        parse({"PUBLISH_ONLY": text})
    message = str(at_bind.value)
    assert message.startswith("wascc:messaging (binding 'default') cannot bind actor m: ")
    assert f"PUBLISH_ONLY={text!r} is neither true nor false" in message
    assert "leave it out to allow Request" in message
    assert message.endswith("fix the binding's values")
    with pytest.raises(ProviderError) as offline:
        MessagingProvider.check_values(
            {"PUBLISH_ONLY": text}, actor="M", label="m", binding="default"
        )
    assert str(offline.value) == message


def test_a_seed_of_another_kind_is_refused_without_showing_it() -> None:
    """An account seed given as CLIENT_SEED is refused, and the seed is not in the message."""
    seed = KeyPair.generate("account").seed
    with pytest.raises(ProviderError, match="an account key") as caught:
        parse({"CLIENT_JWT": "a.b.c", "CLIENT_SEED": seed})
    assert seed not in str(caught.value)


def test_credentials_sign_the_nonce_and_hide_in_repr() -> None:
    """The signature callback signs the server's nonce with the user's key; repr hides both."""
    user = KeyPair.generate("user")
    creds = UserCredentials(jwt="h.c.s", seed=user.seed)
    signature = base64.urlsafe_b64decode(creds.sign_nonce("abc-nonce") + b"==")
    assert user.verify(b"abc-nonce", signature)
    assert creds.user_jwt() == bytearray(b"h.c.s")
    assert user.seed not in repr(creds)
    assert "h.c.s" not in repr(creds)


def test_a_creds_file_gives_the_jwt_and_seed(tmp_path: Path) -> None:
    """CREDSFILE is read for its USER JWT and USER NKEY SEED blocks."""
    chain = make_chain()
    path = tmp_path / "user.creds"
    path.write_text(chain.creds())
    settings = parse({"CREDSFILE": str(path)})
    assert settings.credentials == UserCredentials(jwt=chain.user_jwt, seed=chain.user.seed)
    path.write_text("no blocks here")
    with pytest.raises(ProviderError, match="lacks a USER JWT"):
        parse({"CREDSFILE": str(path)})
    with pytest.raises(ProviderError, match="not both"):
        parse({"CREDSFILE": str(path), "CLIENT_JWT": "a.b.c"})


def test_urls_are_shown_without_secrets() -> None:
    """Passwords and tokens in a NATS URL never reach a message."""
    assert redact("nats://u:secret@h:4222") == "nats://***@h:4222"
    assert redact("nats://token@h") == "nats://***@h"
    assert redact("nats://h:4222") == "nats://h:4222"


# a server that requires credentials --------------------------------------------------------


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[ServerProcess, Chain]]:
    """A nats-server in operator mode that admits only the chain's user."""
    with secured_nats_server(tmp_path) as server_and_chain:
        yield server_and_chain


@pytest.mark.parametrize("style", ["jwt_and_seed", "creds_file"])
async def test_an_actor_connects_with_user_credentials(
    host: Host,
    signer: SignerLike,
    tmp_path: Path,
    secured: tuple[ServerProcess, Chain],
    style: str,
) -> None:
    """CLIENT_JWT/CLIENT_SEED or CREDSFILE authenticate the actor's connection end to end."""
    server, chain = secured
    provider = MessagingProvider(connect_timeout=1.0, reconnect_wait=0.2)
    await host.add_provider(provider)
    claims = await host.add_actor(signer.sign("messenger", caps=[MESSAGING]))
    values = {"URL": nats_url(server), "SUBSCRIPTION": "upper"}
    if style == "creds_file":
        (tmp_path / "user.creds").write_text(chain.creds())
        values["CREDSFILE"] = str(tmp_path / "user.creds")
    else:
        values |= {"CLIENT_JWT": chain.user_jwt, "CLIENT_SEED": chain.user.seed}
    await host.set_binding(claims.subject, MESSAGING, values=values)
    nc: Any = await nats.connect(
        nats_url(server),
        user_jwt_cb=lambda: bytearray(chain.user_jwt.encode()),
        signature_cb=UserCredentials(chain.user_jwt, chain.user.seed).sign_nonce,
        allow_reconnect=False,
    )
    try:
        assert (await nc.request("upper", b"secret", timeout=5)).data == b"SECRET"
    finally:
        await nc.close()
        await host.remove_provider(MESSAGING)  # while the server still runs


async def test_an_anonymous_actor_is_refused_by_a_secured_server(
    host: Host, signer: SignerLike, secured: tuple[ServerProcess, Chain]
) -> None:
    """Without credentials the binding fails, saying NATS refused them and what to check."""
    server, _ = secured
    await host.add_provider(MessagingProvider(connect_timeout=1.0, reconnect_wait=0.2))
    claims = await host.add_actor(signer.sign("messenger", caps=[MESSAGING]))
    with pytest.raises(ProviderError, match=r"refused the credentials.*check CLIENT_JWT"):
        await host.set_binding(claims.subject, MESSAGING, values={"URL": nats_url(server)})


def test_check_values_refuses_what_bind_actor_would(tmp_path: Path) -> None:
    """The provider's offline check (used by manifests) refuses bad values with the same
    message as a bind, reading a credentials file but contacting nothing."""
    check = MessagingProvider.check_values
    check({"URL": "nats://127.0.0.1:1", "SUBSCRIPTION": "a.b"}, actor="M", label="m", binding="x")
    with pytest.raises(ProviderError, match=r"CREDSFILE '.*missing.creds' cannot be read"):
        check({"CREDSFILE": str(tmp_path / "missing.creds")}, actor="M", label="m", binding="x")
    with pytest.raises(ProviderError, match="is not a nats:// URL"):
        check({"URL": "http://h:1"}, actor="M", label="m", binding="x")
