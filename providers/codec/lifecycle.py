"""Messages the host sends itself (origin ``system``): binding lifecycle and health checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wascc.providers.codec._record import Record

__all__ = ["BindActor", "CapabilityConfiguration", "HealthRequest", "RemoveActor"]


@dataclass(frozen=True, slots=True)
class CapabilityConfiguration(Record):
    """``{module, values}``: an actor's public key and its binding's values."""

    module: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BindActor(CapabilityConfiguration):
    """``BindActor`` (host → provider). The host adds ``__wascc_issuer``,
    ``__wascc_capabilities``, ``__wascc_name``, ``__wascc_expires`` and ``__wascc_tags``."""


@dataclass(frozen=True, slots=True)
class RemoveActor(CapabilityConfiguration):
    """``RemoveActor`` (host → provider): forget the actor's binding."""


@dataclass(frozen=True, slots=True)
class HealthRequest(Record):
    """``HealthRequest`` (host → actor): ``{placeholder}``; the actor's reply may be nil."""

    placeholder: bool = False
