"""The messaging provider, contract ``wascc:messaging``, over NATS (see ``provider``)."""

from __future__ import annotations

from wascc.providers.messaging.direct import DirectMessaging
from wascc.providers.messaging.link import Link
from wascc.providers.messaging.provider import MessagingProvider
from wascc.providers.messaging.settings import MessagingSettings, UserCredentials

__all__ = ["DirectMessaging", "Link", "MessagingProvider", "MessagingSettings", "UserCredentials"]
