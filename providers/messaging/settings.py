"""A messaging binding's settings, read from the binding's values (the names waSCC's NATS
provider used, so existing manifests work unchanged).

``BINDING_VALUES`` declares every value (name, meaning, default, what it may be): the
settings are read by those declarations, manifests refuse any other key, and
docs/providers.md lists them.

Why ``PUBLISH_ONLY``: a ``Request`` waits for the event loop for its round trip, so an actor
whose binding may ``Request`` runs on worker threads, and the host cannot know beforehand that
an actor never will. A publish-only binding says so: the host may then run the actor's calls
on the event loop's own thread (``host.inline``), which saves two thread switches per call.
Measured with the messenger actor under ``wascc up`` (``bench/messaging_bench.py``): 0.2x the
requests per second of a raw nats-py responder by default, 0.56-0.7x with ``PUBLISH_ONLY=true``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue
from wascc.keys.creds import CredentialsError, UserCredentials, load_creds_file, user_credentials
from wascc.providers.codec import MESSAGING

__all__ = [
    "BINDING_VALUES",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_URL",
    "MessagingSettings",
    "UserCredentials",
]

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_MAX_CONCURRENT = 256
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})

_URL = BindingValue(
    "URL",
    "NATS server(s), comma-separated nats:// URLs (nats://user:pass@host:port works)",
    DEFAULT_URL,
    "nats://, tls://, ws:// or wss:// URLs, comma-separated",
)
_SUBSCRIPTION = BindingValue(
    "SUBSCRIPTION",
    "subjects to deliver to the actor, comma-separated; wildcards allowed",
    "none",
    "NATS subjects, comma-separated",
)
_QUEUEGROUP_NAME = BindingValue(
    "QUEUEGROUP_NAME",
    "queue group for every subscription: actors in one group share the messages",
    "none (every subscriber gets every message)",
)
_CLIENT_JWT = BindingValue(
    "CLIENT_JWT", "signed user JWT (NATS 2 decentralised auth), with CLIENT_SEED", "anonymous"
)
_CLIENT_SEED = BindingValue(
    "CLIENT_SEED", "the user's nkey seed (SU...), with CLIENT_JWT", "anonymous", "a user seed"
)
_CREDSFILE = BindingValue(
    "CREDSFILE", "a .creds file holding the JWT and the seed instead", "anonymous", "a file path"
)
_MAX_CONCURRENT = BindingValue(
    "MAX_CONCURRENT",
    "messages delivered to the actor at once",
    str(DEFAULT_MAX_CONCURRENT),
    "an integer >= 1",
)
_PUBLISH_ONLY = BindingValue(
    "PUBLISH_ONLY",
    "true: the actor may Publish, never Request, and may run on the event loop's thread",
    "false",
    "true or false (yes/no and 1/0 work too)",
)

BINDING_VALUES: tuple[BindingValue, ...] = (
    _URL,
    _SUBSCRIPTION,
    _QUEUEGROUP_NAME,
    _CLIENT_JWT,
    _CLIENT_SEED,
    _CREDSFILE,
    _MAX_CONCURRENT,
    _PUBLISH_ONLY,
)
"""Every value a messaging binding may give."""


@dataclass(frozen=True, slots=True)
class MessagingSettings:
    """Where one actor's NATS connection goes and what it subscribes to."""

    servers: tuple[str, ...] = (DEFAULT_URL,)
    subscriptions: tuple[str, ...] = ()
    queue_group: str = ""
    credentials: UserCredentials | None = None
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    publish_only: bool = False

    @classmethod
    def from_values(
        cls, values: Mapping[str, str], *, label: str, binding: str
    ) -> MessagingSettings:
        """Parse a binding's values; a bad value raises ``ProviderError`` naming the actor
        (``label``), the value and the fix (never the value itself when it is a secret)."""

        def bad(problem: str) -> ProviderError:
            return ProviderError(
                f"{MESSAGING} (binding {binding!r}) cannot bind actor {label}: {problem}; fix "
                "the binding's values"
            )

        servers = tuple(u.strip() for u in values.get(_URL.name, "").split(",") if u.strip())
        for url in servers:
            if not re.match(r"^(nats|tls|ws|wss)://", url) and "://" in url:
                raise bad(f"{_URL.name} {url!r} is not a nats:// URL")
        subjects = tuple(
            s.strip() for s in values.get(_SUBSCRIPTION.name, "").split(",") if s.strip()
        )
        for subject in subjects:
            if re.search(r"\s", subject) or ".." in subject or subject.startswith("."):
                raise bad(f"{_SUBSCRIPTION.name} {subject!r} is not a valid subject")

        max_concurrent = DEFAULT_MAX_CONCURRENT
        text = values.get(_MAX_CONCURRENT.name, "").strip()
        if text:
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                raise bad(f"{_MAX_CONCURRENT.name}={text!r} is not {_MAX_CONCURRENT.allowed}")
            max_concurrent = int(text)

        publish_only = False
        text = values.get(_PUBLISH_ONLY.name, "").strip()
        if text:
            if text.lower() not in _TRUE | _FALSE:
                raise bad(
                    f"{_PUBLISH_ONLY.name}={text!r} is neither true nor false (yes/no and 1/0 work "
                    "too; leave it out to allow Request)"
                )
            publish_only = text.lower() in _TRUE

        return cls(
            servers=servers or (DEFAULT_URL,),
            subscriptions=subjects,
            queue_group=values.get(_QUEUEGROUP_NAME.name, "").strip(),
            credentials=_credentials(values, bad),
            max_concurrent=max_concurrent,
            publish_only=publish_only,
        )


def _credentials(
    values: Mapping[str, str], bad: Callable[[str], ProviderError]
) -> UserCredentials | None:
    jwt = values.get(_CLIENT_JWT.name, "").strip()
    seed = values.get(_CLIENT_SEED.name, "").strip()
    creds_file = values.get(_CREDSFILE.name, "").strip()
    try:
        if creds_file:
            if jwt or seed:
                raise bad("give either CREDSFILE or CLIENT_JWT and CLIENT_SEED, not both")
            return load_creds_file(creds_file)
        if not jwt and not seed:
            return None
        if not (jwt and seed):
            raise bad("CLIENT_JWT and CLIENT_SEED go together: give both, or neither")
        return user_credentials(jwt, seed, jwt_name=_CLIENT_JWT.name, seed_name=_CLIENT_SEED.name)
    except CredentialsError as exc:
        problem = f"CREDSFILE {exc}" if creds_file else str(exc)
        raise bad(problem) from None
