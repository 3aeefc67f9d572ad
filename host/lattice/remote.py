"""Invocations between hosts: routing outgoing calls, serving local actors and providers.

Outgoing: the host consults its ``remote`` router only when the target is not local (local
first). Each call is sealed in an envelope signed by this host's ``N…`` key and sent as a NATS
request. No call outlives the RPC timeout: a caller's own timeout (an HTTP request's) may
shorten it, never lengthen it. A call that no host takes ("no responders") is sent again after
short pauses within that time, so a host that resubscribes a moment later (after a NATS
restart) still gets it; then it fails with ``LatticeUnavailable`` (callers answer 503 with
``Retry-After``), logged once per target every ``QUIET`` seconds, not once per call.

Incoming: every local actor is served on its subject and every local provider on its root
subject (``BindActor``/``RemoveActor``) and, per bound actor, on the actor's call subject; all
in queue groups named after the subject, so hosts running the same actor or provider share
the load, and a host that dies simply stops taking messages.

Every incoming message is checked (size, shape, token, subject) in the subscription's callback
and always answered, with an error text when refused: a malformed, oversized or forged message
is logged and never ends a subscription. A target that answers at once (an actor that runs
inline, a synchronous provider) is answered right there too, which saves a task and a trip
round the event loop per call; any other call runs as its own task (at most
``MAX_IN_FLIGHT``), so a slow actor never holds up the subscription.

The Ed25519 work (signing each outgoing token, checking each incoming one) stays on the loop
thread. Handing it to a thread was measured slower: PyNaCl releases the GIL inside libsodium,
but a thread needs the GIL back after each call, and the busy loop thread hands it over only
at its system calls, so the thread spent more time waiting than working.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgpack

from wascc.host.errors import ProviderCallError, WasccError
from wascc.host.invocation import Invocation, current_invocation
from wascc.host.lattice.client import LatticeClient, Message, describe
from wascc.host.lattice.envelope import (
    Entity,
    Envelope,
    decode_envelope,
    decode_response,
    encode_response,
    seal,
    verify_envelope,
)
from wascc.host.lattice.errors import (
    LatticeError,
    LatticeUnavailable,
    MalformedMessage,
    RemoteError,
)
from wascc.host.lattice.subjects import Subjects
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.natsio import LogThrottle
from wascc.keys.nkeys import KeyPair

if TYPE_CHECKING:
    from wascc.host.host import Host

__all__ = ["MAX_IN_FLIGHT", "MAX_MESSAGE", "QUIET", "Remote"]

logger = logging.getLogger("wascc.lattice")
# An id another host sent goes into this host's log lines only when it cannot forge one: a
# UUID-like token (letters, digits, "-"), as every waSCC host sends.
_LOGGABLE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")

MAX_MESSAGE: Final = 1024 * 1024
"""Largest envelope served (bytes); larger ones are refused with an error."""
MAX_IN_FLIGHT: Final = 4096
"""Incoming invocations served at once; beyond that nats-py buffers them."""
QUIET: Final = 10.0
"""Seconds between two log lines about calls to one target that no host took."""
BIND, UNBIND = "BindActor", "RemoveActor"

BindingKey = tuple[str, str, str]  # (actor, contract id, binding name)


class Remote:
    """The host's ``remote`` router and the server of its actors and providers."""

    def __init__(
        self,
        host: Host,
        client: LatticeClient,
        subjects: Subjects,
        key: KeyPair,
        trust: LatticeTrust,
        *,
        voucher: str | None = None,
        rpc_timeout: float = 2.0,
        max_message: int = MAX_MESSAGE,
    ) -> None:
        self.host = host
        self.client = client
        self.subjects = subjects
        self.key = key
        self.trust = trust
        self.voucher = voucher  # sent with every invocation: receivers anchored in its account
        self.rpc_timeout = rpc_timeout
        self.max_message = max_message
        # Bindings made here to providers on other hosts: replayed when such a provider joins.
        self.outgoing: dict[BindingKey, dict[str, str]] = {}
        # Bindings other hosts made to providers of this host.
        self.incoming: dict[BindingKey, dict[str, str]] = {}
        self._serving: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._unserved = LogThrottle(QUIET)  # subject → when its calls were last logged
        self.served = 0
        self.refused = 0
        self.unavailable = 0

    # outgoing ---------------------------------------------------------------------------------

    async def _invoke(
        self,
        subject: str,
        origin: Entity,
        target: Entity,
        operation: str,
        payload: bytes,
        *,
        timeout: float | None,
    ) -> bytes:
        envelope = seal(origin, target, operation, payload, self.key, voucher=self.voucher)
        wait = self.rpc_timeout if timeout is None else min(timeout, self.rpc_timeout)
        what = f"lattice call {operation} on {target.url}"
        try:  # sent again while nobody takes it: nobody received it
            raw = await self.client.request(
                subject, envelope.encode(), timeout=wait, what=what, retry=True
            )
        except LatticeUnavailable as exc:
            self._unavailable(subject, exc)
            raise
        response = decode_response(raw)
        if response.error is not None:
            raise RemoteError(f"{what} failed: {response.error}", invocation_id=envelope.id)
        return response.msg

    def _unavailable(self, subject: str, exc: LatticeUnavailable) -> None:
        """Log a call that found no host (or no NATS): once per subject every ``QUIET``
        seconds, with how many more there were; the caller hears of each one."""
        self.unavailable += 1
        held = self._unserved.admit(subject)
        if held is not None:
            more = f"; {held} more such calls since the last such line" if held else ""
            logger.warning("%s (callers are told to retry in %gs)%s", exc, exc.retry_after, more)

    async def call_actor(
        self,
        actor: str,
        operation: str,
        payload: bytes,
        *,
        origin: str,
        timeout: float | None = None,
    ) -> bytes:
        """Invoke ``operation`` on ``actor``, which runs on another host of the lattice,
        within the RPC timeout (or ``timeout``, if shorter)."""
        return await self._invoke(
            self.subjects.actor(actor),
            Entity.of(origin),
            Entity(actor=actor),
            operation,
            payload,
            timeout=timeout,
        )

    async def call_provider(
        self,
        actor: str,
        contract_id: str,
        binding: str,
        operation: str,
        payload: bytes,
        *,
        timeout: float | None = None,
    ) -> bytes:
        """An actor's call to a provider that another host of the lattice loaded, within the
        RPC timeout (or ``timeout``, if shorter)."""
        subject = self.subjects.provider_actor(contract_id, binding, actor)
        target = Entity(capid=contract_id, binding=binding)
        return await self._invoke(
            subject, Entity(actor=actor), target, operation, payload, timeout=timeout
        )

    async def _send_binding(
        self, operation: str, key: BindingKey, values: Mapping[str, str]
    ) -> None:
        actor, contract_id, binding = key
        body = msgpack.packb({"module": actor, "values": dict(values)}, use_bin_type=True)
        target = Entity(capid=contract_id, binding=binding)
        envelope = seal(
            Entity(actor=actor), target, operation, body, self.key, voucher=self.voucher
        )
        subject = self.subjects.provider_root(contract_id, binding)
        try:
            await self.client.publish(subject, envelope.encode(), what=f"{operation} {actor}")
        except LatticeError as exc:  # replayed when the provider (or NATS) comes back
            logger.warning("%s; it is sent again when a provider joins", exc)

    async def bind_actor(
        self, actor: str, contract_id: str, binding: str, values: Mapping[str, str]
    ) -> None:
        """Bind a local actor to a provider elsewhere: ``BindActor`` on the provider's root
        subject now, and again whenever a host loads that provider."""
        key = (actor, contract_id, binding)
        self.outgoing[key] = dict(values)
        await self._send_binding(BIND, key, values)

    async def remove_actor(self, actor: str, contract_id: str, binding: str) -> None:
        """Undo ``bind_actor``: ``RemoveActor`` on the provider's root subject."""
        key = (actor, contract_id, binding)
        if self.outgoing.pop(key, None) is not None:
            await self._send_binding(UNBIND, key, {})

    async def replay(self, contract_id: str, binding: str) -> None:
        """Send ``BindActor`` again for every local binding to ``contract_id``/``binding``."""
        for key, values in list(self.outgoing.items()):
            if key[1:] == (contract_id, binding):
                await self._send_binding(BIND, key, values)

    # serving ----------------------------------------------------------------------------------

    async def serve(self, subject: str, queue: bool = True) -> None:
        """Take invocations on ``subject`` (in the queue group named after it)."""
        self._serving.add(subject)
        await self.client.subscribe(subject, self._on_message, queue=subject if queue else "")

    async def unserve(self, subject: str) -> None:
        """Stop taking invocations on ``subject``."""
        self._serving.discard(subject)
        await self.client.unsubscribe(subject)

    async def stop_serving(self) -> None:
        """Unsubscribe every served subject, finish what is in flight, then unbind the
        remote actors from this host's providers (their hosts rebind on our next start)."""
        await self.client.unsubscribe_all(sorted(self._serving))
        self._serving.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.rpc_timeout)
        for actor, contract_id, binding in list(self.incoming):
            await self._unbind_incoming(actor, contract_id, binding)

    async def _on_message(self, msg: Message) -> None:
        subject: str = msg.subject
        reply: str = msg.reply or ""
        envelope: Envelope | None = None
        try:
            envelope = decode_envelope(bytes(msg.data), limit=self.max_message)
            claims = verify_envelope(envelope)
            self.trust.admit(envelope.describe, envelope.host_id, envelope.voucher, claims)
        except Exception as exc:
            await self._refuse(subject, reply, envelope, exc)
            return
        # The sender's invocation stands in as the root of what this host does for it: every
        # line logged here carries the envelope's id as its request_id, the id the sender's
        # errors name (the envelope keeps its own UUID per invocation, as the wire requires).
        target = envelope.target
        caller = Invocation(
            envelope.origin.name,
            target.actor or f"{target.capid}/{target.binding}",
            envelope.operation,
            b"",
            envelope.id if _LOGGABLE_ID.fullmatch(envelope.id) else None,
        )
        token = current_invocation.set(caller)
        try:
            await self._serve_verified(subject, reply, envelope)
        finally:
            current_invocation.reset(token)

    async def _serve_verified(self, subject: str, reply: str, envelope: Envelope) -> None:
        try:
            result = self._dispatch_now(subject, envelope)
        except Exception as exc:
            await self._refuse(subject, reply, envelope, exc)
            return
        if result is None:  # the task made here inherits the stand-in invocation
            await self._spawn(self._finish(subject, reply, envelope))
        else:
            self.served += 1
            await self._answer(reply, result, None, envelope.id)

    async def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        await self._slots.acquire()  # back-pressure: nats-py waits here, NATS buffers
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _finish(self, subject: str, reply: str, envelope: Envelope) -> None:
        try:
            result = await self._dispatch(subject, envelope)
        except Exception as exc:
            await self._refuse(subject, reply, envelope, exc)
            return
        self.served += 1
        await self._answer(reply, result, None, envelope.id)

    async def _refuse(
        self, subject: str, reply: str, envelope: Envelope | None, exc: Exception
    ) -> None:
        self.refused += 1
        if isinstance(exc, WasccError | ValueError):
            level = logging.WARNING if isinstance(exc, LatticeError) else logging.INFO
            logger.log(level, "lattice invocation on %s failed: %s", subject, exc)
            text = f"{type(exc).__name__}: {exc}"
        else:  # a bug below: logged in full, answered, the subscription lives
            logger.error("lattice invocation on %s: internal error", subject, exc_info=exc)
            text = f"internal error: {describe(exc)}"
        await self._answer(reply, b"", text, envelope.id if envelope is not None else "")

    async def _answer(self, reply: str, msg: bytes, error: str | None, inv_id: str) -> None:
        if not reply:
            return
        try:
            await self.client.publish(reply, encode_response(msg, error, inv_id), what="reply")
        except LatticeError as exc:
            logger.warning("cannot answer invocation %s: %s", inv_id or "?", exc)

    def _dispatch_now(self, subject: str, envelope: Envelope) -> bytes | None:
        """The answer, when the target gives it without waiting; ``None`` (nothing done)
        when it has to be awaited (``_dispatch``)."""
        target, origin = envelope.target, envelope.origin
        if target.actor is not None:
            self._check_actor_subject(subject, target.actor, target)
            return self.host.call_actor_now(
                target.actor, envelope.operation, envelope.msg, origin=origin.name
            )
        actor = origin.actor
        if (
            actor is not None
            and (actor, target.capid, target.binding) in self.incoming
            and subject == self.subjects.provider_actor(target.capid, target.binding, actor)
        ):
            sync = self.host.sync_handler(target.capid, target.binding)
            if sync is not None:
                return sync(actor, target.binding, envelope.operation, envelope.msg)
        return None

    def _check_actor_subject(self, subject: str, actor: str, target: Entity) -> None:
        if subject != self.subjects.actor(actor):
            raise MalformedMessage(f"an invocation for {target.url} arrived on {subject}")

    async def _dispatch(self, subject: str, envelope: Envelope) -> bytes:
        target, origin = envelope.target, envelope.origin
        if target.actor is not None:
            self._check_actor_subject(subject, target.actor, target)
            self.host.actor(target.actor)  # ActorNotFound if it left: never route it further
            return await self.host.call_actor(
                target.actor, envelope.operation, envelope.msg, origin=origin.name
            )
        root = self.subjects.provider_root(target.capid, target.binding)
        if origin.actor is None:
            raise MalformedMessage(f"a provider invocation from {origin.url}, not an actor")
        if subject == root:
            await self._bind_incoming(envelope, origin.actor)
            return b""
        if subject != self.subjects.provider_actor(target.capid, target.binding, origin.actor):
            raise MalformedMessage(f"an invocation for {target.url} arrived on {subject}")
        return await self._call_provider(envelope, origin.actor)

    async def _bind_incoming(self, envelope: Envelope, actor: str) -> None:
        contract_id, binding = envelope.target.capid, envelope.target.binding
        key = (actor, contract_id, binding)
        provider = self.host.find_provider(contract_id, binding)
        if provider is None:
            return  # another host's provider; nothing here to bind
        if envelope.operation == UNBIND:
            await self._unbind_incoming(*key)
            return
        if envelope.operation != BIND:
            raise MalformedMessage(f"{envelope.operation} is not an operation of a provider root")
        if key in self.incoming or self.host.find_binding(*key) is not None:
            return  # a replay: already bound
        body = msgpack.unpackb(envelope.msg, raw=False)
        values = body.get("values") if isinstance(body, dict) else None
        if body.get("module") != actor or not isinstance(values, dict):
            raise MalformedMessage("BindActor carries no {module, values} for its actor")
        await provider.bind_actor(actor, binding, {str(k): str(v) for k, v in values.items()})
        self.incoming[key] = values
        await self.serve(self.subjects.provider_actor(contract_id, binding, actor))
        logger.info("bound remote actor %s to %s (binding %s)", actor, contract_id, binding)

    async def _unbind_incoming(self, actor: str, contract_id: str, binding: str) -> None:
        if self.incoming.pop((actor, contract_id, binding), None) is None:
            return
        await self.unserve(self.subjects.provider_actor(contract_id, binding, actor))
        provider = self.host.find_provider(contract_id, binding)
        if provider is not None:
            try:
                await provider.remove_actor(actor, binding)
            except Exception as exc:
                logger.warning("RemoveActor %s on %s failed: %s", actor, contract_id, exc)
        logger.info("unbound remote actor %s from %s (binding %s)", actor, contract_id, binding)

    async def forget_provider(self, contract_id: str, binding: str) -> None:
        """The local provider is going away: drop the remote actors bound to it."""
        for key in [k for k in self.incoming if k[1:] == (contract_id, binding)]:
            await self._unbind_incoming(*key)

    async def _call_provider(self, envelope: Envelope, actor: str) -> bytes:
        contract_id, binding = envelope.target.capid, envelope.target.binding
        if (actor, contract_id, binding) not in self.incoming:
            raise LatticeError(
                f"actor {actor} is not bound to {contract_id} (binding {binding!r}) on this host"
            )
        sync = self.host.sync_handler(contract_id, binding)
        if sync is not None:
            return sync(actor, binding, envelope.operation, envelope.msg)
        provider = self.host.find_provider(contract_id, binding)
        if provider is None:
            raise LatticeError(f"{contract_id} (binding {binding!r}) left this host")
        try:
            return await provider.handle(actor, binding, envelope.operation, envelope.msg)
        except WasccError:
            raise
        except Exception as exc:  # the provider's own failure, as the local path reports it
            raise ProviderCallError(
                f"provider {contract_id} (binding {binding!r}) failed {envelope.operation} for "
                f"actor {actor}: {exc}",
                actor=actor,
            ) from exc

    def stats(self) -> dict[str, Any]:
        """Counters for the inventory and tests."""
        return {
            "served": self.served,
            "refused": self.refused,
            "unavailable": self.unavailable,
            "in_flight": len(self._tasks),
        }
