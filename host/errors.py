"""The runtime branches of the exception tree (the root is ``keys.errors.WasccError``)::

    WasccError
    ├── ClaimsError ...                    (keys.errors)
    ├── AuthorizationError                 a call or load the claims or bindings do not allow
    │   ├── CapabilityNotClaimed           the actor's claims do not list the contract
    │   ├── BindingNotFound                claimed, but no binding (actor, contract, name)
    │   ├── ActorCallNotAllowed            actor-to-actor call to a key not in the caller's caps
    │   ├── NotAuthorized                  refused by the host's authorizer hook
    │   └── IssuerMismatch                 an update (or start) under another account's key
    ├── InvocationError                    an invocation failed
    │   ├── ActorNotFound
    │   ├── GuestError                     the guest returned failure with its error text
    │   ├── ActorTrapped                   a trap (.kind); the instance is replaced
    │   │   ├── ActorOutOfTime
    │   │   ├── ActorOutOfMemory
    │   │   └── ActorOutOfFuel
    │   ├── ActorBusy (also TimeoutError,  no instance free before the deadline
    │   │    and Unavailable)
    │   ├── InvocationTimeout (also TimeoutError)
    │   └── ProviderCallError              a provider answered an actor's call with an error
    ├── HostError                          misuse of the host API
    │   ├── ActorAlreadyRunning
    │   ├── RevisionNotNewer
    │   ├── ProviderNotFound
    │   ├── NotAnActor                     a capability provider's module given as an actor
    │   └── ModuleLoadError                compile/link/instantiate/start failed
    ├── ProviderError                      a provider failed to start, bind or serve
    ├── ManifestError
    ├── LatticeError
    ├── OciError                           a module could not be pushed or pulled (host.oci)
    └── Unavailable (a mixin)              the target cannot take the call now: retry later
                                           (``retry_after`` seconds); ActorBusy and
                                           host.lattice.errors.LatticeUnavailable are ones

Messages name the actor (key and name), the contract, the binding, and the fix.
"""

from __future__ import annotations

from wascc.keys.errors import ClaimsError, WasccError

__all__ = [
    "ActorAlreadyRunning",
    "ActorBusy",
    "ActorCallNotAllowed",
    "ActorNotFound",
    "ActorOutOfFuel",
    "ActorOutOfMemory",
    "ActorOutOfTime",
    "ActorTrapped",
    "AuthorizationError",
    "BindingNotFound",
    "CapabilityNotClaimed",
    "ClaimsError",
    "GuestError",
    "HostError",
    "InvocationError",
    "InvocationTimeout",
    "IssuerMismatch",
    "LatticeError",
    "ManifestError",
    "ModuleLoadError",
    "NotAProvider",
    "NotAnActor",
    "NotAuthorized",
    "ProviderCallError",
    "ProviderError",
    "ProviderNotFound",
    "RevisionNotNewer",
    "TrapKind",
    "Unavailable",
    "WasccError",
]


class AuthorizationError(WasccError):
    """The actor's claims or the host's bindings do not allow this."""


class CapabilityNotClaimed(AuthorizationError):
    """The actor called (or was bound to) a contract its claims do not list."""


class BindingNotFound(AuthorizationError):
    """The actor claims the contract, but no binding of that name exists for it."""


class ActorCallNotAllowed(AuthorizationError):
    """An actor-to-actor call to a key the caller's claims do not list."""


class NotAuthorized(AuthorizationError):
    """The host's authorizer hook refused a load or an invocation."""


class IssuerMismatch(AuthorizationError):
    """A module for an actor that runs (here or in the lattice) under another issuer: the
    actor's identity is (issuer, subject), and only its issuer may replace it."""


class InvocationError(WasccError):
    """An invocation failed. ``actor`` is the target's public key when known."""

    def __init__(self, message: str, *, actor: str | None = None) -> None:
        self.actor = actor
        super().__init__(message)


class ActorNotFound(InvocationError):
    """No actor with that public key runs on this host."""


class GuestError(InvocationError):
    """The guest returned failure; ``guest_error`` is the text it stored."""

    def __init__(self, message: str, *, actor: str | None = None, guest_error: str = "") -> None:
        self.guest_error = guest_error
        super().__init__(message, actor=actor)


TrapKind = str
"""One of: unreachable, out-of-bounds access, stack overflow, out of time, out of memory,
out of fuel, integer overflow, division by zero, bad conversion, indirect call, other."""


class ActorTrapped(InvocationError):
    """The guest trapped. ``kind`` says how; ``guest_error`` holds any error stored before."""

    def __init__(
        self,
        message: str,
        *,
        kind: TrapKind,
        actor: str | None = None,
        guest_error: str = "",
    ) -> None:
        self.kind = kind
        self.guest_error = guest_error
        super().__init__(message, actor=actor)


class ActorOutOfTime(ActorTrapped):
    """The call ran past the actor's execution deadline and was interrupted."""


class ActorOutOfMemory(ActorTrapped):
    """The guest tried to grow its memory past the actor's limit."""


class ActorOutOfFuel(ActorTrapped):
    """The guest used up its fuel for the call."""


class Unavailable(WasccError):
    """The target cannot take the call now, but may soon: a caller such as the HTTP server
    answers 503 with ``Retry-After: retry_after`` (seconds) rather than 500."""

    retry_after: float = 1.0


class ActorBusy(InvocationError, TimeoutError, Unavailable):
    """Every instance stayed busy (or the queue was full) until the call's timeout."""


class InvocationTimeout(InvocationError, TimeoutError):
    """The invocation did not finish before its timeout."""


class ProviderCallError(InvocationError):
    """A capability provider answered an actor's call with an error."""


class HostError(WasccError):
    """The host API was used in a way it refuses."""


class ActorAlreadyRunning(HostError):
    """An actor with the same subject already runs on this host."""


class RevisionNotNewer(HostError):
    """A live update whose ``rev`` is not higher than the running one (use ``force=True``)."""


class ProviderNotFound(HostError):
    """No provider for that contract and binding is loaded."""


class NotAnActor(HostError):
    """The module's claims say it is a capability provider (``prov: true``): it serves
    actors, it is not one, and it does not load where actors do."""

    WHY = (
        "is signed as a capability provider (prov: true), not as an actor: a provider serves "
        "actors and belongs under capabilities:, not actors:"
    )
    FIX = (
        "list it under capabilities: (path: FILE.wasm), or, to run it as an actor, sign it "
        "again without --provider"
    )

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"{where} {self.WHY}; {self.FIX}")


class NotAProvider(HostError):
    """A module loaded as a wasm capability provider whose claims do not say ``prov: true``:
    it is an actor."""

    WHY = (
        "is signed as an actor (prov: false), not as a capability provider: an actor belongs "
        "under actors:, not capabilities:"
    )
    FIX = (
        "list it under actors:, or, if it is a provider, sign it again with "
        "`wascc claims sign --provider`"
    )

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"{where} {self.WHY}; {self.FIX}")


class ModuleLoadError(HostError):
    """The module could not be compiled, linked, instantiated or started."""


class ProviderError(WasccError):
    """A capability provider failed to start, bind, or serve."""


class ManifestError(WasccError):
    """The manifest is invalid; the message lists every problem with its entry path."""


class LatticeError(WasccError):
    """The lattice (NATS) could not be reached or answered with an error."""
