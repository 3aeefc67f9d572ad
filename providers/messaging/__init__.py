"""The messaging provider, contract ``wascc:messaging``, over NATS (see ``provider``)."""

from __future__ import annotations

from providers.messaging.direct import DirectMessaging
from providers.messaging.link import Link
from providers.messaging.provider import MessagingProvider
from providers.messaging.settings import MessagingSettings, UserCredentials

__all__ = ["DirectMessaging", "Link", "MessagingProvider", "MessagingSettings", "UserCredentials"]
