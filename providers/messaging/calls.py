"""An actor's ``Publish`` and ``Request`` calls, decoded and checked the same way on every path
(``MessagingProvider.handle`` and ``DirectMessaging.call``): a bad call gets the same error
whichever way it came, and a ``Publish`` that is not waited for is refused before it is
handed over, not after. A ``Request`` on a binding with ``PUBLISH_ONLY=true`` is refused the
same way on every path too (``publish_only_refusal``).
"""

from __future__ import annotations

import re

from wascc.host.errors import ProviderError
from wascc.providers.codec import MESSAGING, CodecError, PublishMessage, RequestMessage

__all__ = [
    "decode_publish",
    "decode_request",
    "describe_call",
    "no_such_operation",
    "publish_only_refusal",
]

# nats-py's rule for the subject of a publish (``_validate_subject``, 2.16.0): not empty, no
# whitespace (CR/LF would inject protocol commands); token shape is left to the server.
_BAD_SUBJECT = re.compile(r"[ \t\r\n]")


def describe_call(label: str, binding: str, operation: str) -> str:
    """The start of every message about one call: contract, operation, actor, binding."""
    return f"{MESSAGING} {operation} for actor {label} (binding {binding!r})"


def decode_publish(payload: bytes, what: str, max_payload: int) -> PublishMessage:
    """The ``Publish`` in ``payload``; ``ProviderError`` (prefixed ``what``) if it cannot be
    decoded, its subject or reply subject is not valid, or its body is over the server's
    ``max_payload``."""
    try:
        message = PublishMessage.decode(payload)
    except CodecError as exc:
        raise ProviderError(f"{what}: {exc}") from None
    subject, reply_to = message.subject, message.reply_to
    if not subject or _BAD_SUBJECT.search(subject) or _BAD_SUBJECT.search(reply_to):
        raise ProviderError(f"{what}: the subject is empty or not valid")
    if len(message.body) > max_payload:
        raise ProviderError(f"{what}: the body is larger than the server allows")
    return message


def decode_request(
    payload: bytes, what: str, default_timeout: float
) -> tuple[RequestMessage, float]:
    """The ``Request`` in ``payload`` and its timeout in seconds (``default_timeout`` when it
    says 0); ``ProviderError`` (prefixed ``what``) if it cannot be decoded or its timeout is
    negative."""
    try:
        request = RequestMessage.decode(payload)
    except CodecError as exc:
        raise ProviderError(f"{what}: {exc}") from None
    if request.timeout < 0:
        raise ProviderError(f"{what}: timeout={request.timeout} ms is negative")
    return request, request.timeout / 1000 if request.timeout else default_timeout


def no_such_operation(what: str) -> ProviderError:
    """The error for an operation the contract does not have."""
    return ProviderError(
        f"{what}: there is no such operation; actors call Publish or Request (the provider "
        "calls DeliverMessage on the actor)"
    )


def publish_only_refusal(what: str) -> ProviderError:
    """The error for a ``Request`` on a binding with ``PUBLISH_ONLY=true``: refused before it
    is decoded, on every path, so the actor learns at once why and what to change."""
    return ProviderError(
        f"{what}: the binding has PUBLISH_ONLY=true, so Request is refused; remove "
        "PUBLISH_ONLY from the binding's values to allow Request (the actor's calls then run "
        "on worker threads)"
    )
