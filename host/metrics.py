"""Prometheus metrics of one host: a ``Middleware`` that counts and times every invocation.

Each ``HostMetrics`` has its own ``CollectorRegistry`` (never the process-global one), so
several hosts in one process, or one test after another, do not mix their numbers. Series
are labelled by actor public key; ``wascc_actor_info`` maps a key to the actor's name.

=====================================  =====================================================
metric                                 what
=====================================  =====================================================
``wascc_invocations_total``            calls to actors, by actor and operation
``wascc_invocation_errors_total``      failed calls to actors, by actor, operation, error
``wascc_invocation_duration_seconds``  histogram of call latency, by actor and operation
``wascc_provider_calls_total``         actors' calls to providers, by actor, contract, op
``wascc_provider_call_errors_total``   the failed ones, by actor, contract, op, error
``wascc_http_requests_total``          HTTP requests served by actors, by actor and status
``wascc_actor_instances``              instances alive, by actor
``wascc_actor_instances_busy``         instances running a call now, by actor
``wascc_actor_calls_waiting``          calls queued for an instance, by actor
``wascc_actor_penalized``              1 while an actor is penalized for failing calls
``wascc_actor_penalty_refusals_total`` calls refused by that penalty (``host.health``)
``wascc_actor_healthy``                1 if the actor's last health check found it healthy,
                                       0 if not; absent before a verdict (``host.checkup``)
``wascc_http_refused_total``           HTTP requests and connections refused before they
                                       reached an actor, by actor, status and reason
=====================================  =====================================================
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from wascc.host.errors import ActorOutOfTime, Unavailable
from wascc.host.invocation import Invocation
from wascc.providers.codec import CodecError, decode_http_response

if TYPE_CHECKING:
    from wascc.host.host import Host

__all__ = ["HostMetrics"]

_HTTP_ORIGIN = "wascc:http_server"


class HostMetrics:
    """Counts and times invocations (install it as host middleware) and, once ``watch``-ing a
    host, reports its actors' instances at every scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.invocations = Counter(
            "wascc_invocations", "Calls to actors.", ["actor", "operation"], registry=r
        )
        self.errors = Counter(
            "wascc_invocation_errors",
            "Calls to actors that failed.",
            ["actor", "operation", "error"],
            registry=r,
        )
        self.latency = Histogram(
            "wascc_invocation_duration_seconds",
            "Latency of calls to actors.",
            ["actor", "operation"],
            registry=r,
        )
        self.provider_calls = Counter(
            "wascc_provider_calls",
            "Calls from actors to capability providers.",
            ["actor", "contract", "operation"],
            registry=r,
        )
        self.provider_errors = Counter(
            "wascc_provider_call_errors",
            "Calls from actors to capability providers that failed.",
            ["actor", "contract", "operation", "error"],
            registry=r,
        )
        self.http_requests = Counter(
            "wascc_http_requests",
            "HTTP requests served by actors, by response status.",
            ["actor", "status"],
            registry=r,
        )
        # Keyed by the invocation object itself: reading ``invocation.id`` would make a UUID
        # for every call just to time it.
        self._started: dict[Invocation, float] = {}

    def watch(self, host: Host) -> None:
        """Report ``host``'s actors (instances, busy, waiting, names) at every scrape."""
        self.registry.register(_ActorCollector(host))

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    # Middleware ---------------------------------------------------------------------------
    # ``before``/``after`` run on the event loop for calls to actors and on worker threads for
    # calls to providers; prometheus-client's metrics are thread-safe, and so are the single
    # dict operations used here.

    def before(self, invocation: Invocation) -> None:
        """Start the clock of a call to an actor."""
        if "/" not in invocation.target:
            self._started[invocation] = time.perf_counter()

    def after(
        self, invocation: Invocation, result: bytes | None, error: BaseException | None
    ) -> None:
        """Count the call and, for a call to an actor, record its latency."""
        target, operation = invocation.target, invocation.operation
        if "/" in target:  # ``contract/binding``: an actor's call to a provider
            contract = target.rpartition("/")[0]
            self.provider_calls.labels(invocation.origin, contract, operation).inc()
            if error is not None:
                kind = type(error).__name__
                self.provider_errors.labels(invocation.origin, contract, operation, kind).inc()
            return
        started = self._started.pop(invocation, None)
        self.invocations.labels(target, operation).inc()
        if started is not None:
            self.latency.labels(target, operation).observe(time.perf_counter() - started)
        if error is not None:
            self.errors.labels(target, operation, type(error).__name__).inc()
        if invocation.origin == _HTTP_ORIGIN and operation == "HandleRequest":
            self.http_requests.labels(target, _http_status(result, error)).inc()


def _http_status(result: bytes | None, error: BaseException | None) -> str:
    """The status the HTTP provider answers with: the actor's, or the one its error maps to."""
    if error is not None:
        if isinstance(error, Unavailable):
            return "503"
        return "504" if isinstance(error, ActorOutOfTime | TimeoutError) else "500"
    try:
        status = decode_http_response(result or b"")[0]
    except CodecError:  # an undecodable response: the provider answers 500
        return "500"
    return str(status) if 200 <= status <= 599 else "500"  # as the provider refuses it


class _ActorCollector:
    """Gauges read from the host at scrape time, so they are never stale."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def collect(self) -> Iterator[Metric]:
        instances = GaugeMetricFamily(
            "wascc_actor_instances", "Instances alive, by actor.", labels=["actor"]
        )
        busy = GaugeMetricFamily(
            "wascc_actor_instances_busy", "Instances running a call now.", labels=["actor"]
        )
        waiting = GaugeMetricFamily(
            "wascc_actor_calls_waiting", "Calls queued for an instance.", labels=["actor"]
        )
        info = GaugeMetricFamily(
            "wascc_actor_info", "Name and revision of each actor.", labels=["actor", "name", "rev"]
        )
        penalized = GaugeMetricFamily(
            "wascc_actor_penalized",
            "1 while the actor is penalized for calls that keep failing.",
            labels=["actor"],
        )
        refusals = CounterMetricFamily(
            "wascc_actor_penalty_refusals",
            "Calls refused because the actor is penalized.",
            labels=["actor"],
        )
        healthy = GaugeMetricFamily(
            "wascc_actor_healthy",
            "1 if the last health check found the actor healthy, 0 if not.",
            labels=["actor"],
        )
        for actor in self._host.inventory()["actors"]:
            key = actor["key"]
            instances.add_metric([key], actor["instances"])
            busy.add_metric([key], actor["busy"])
            waiting.add_metric([key], self._host.actor(key).pool.waiting)
            rev = actor["claims"].get("rev")
            info.add_metric([key, actor["name"] or "", "" if rev is None else str(rev)], 1)
            health = actor["health"]
            penalized.add_metric([key], 1 if health["penalized"] else 0)
            refusals.add_metric([key], health["refused"])
            check = health["check"]
            if check is not None and check["healthy"] is not None:
                healthy.add_metric([key], 1 if check["healthy"] else 0)
        yield from (
            instances,
            busy,
            waiting,
            info,
            penalized,
            refusals,
            healthy,
            self._http_refused(),
        )

    def _http_refused(self) -> Metric:
        """What providers refused before an actor saw it (the HTTP server's ``refusals``)."""
        refused = CounterMetricFamily(
            "wascc_http_refused",
            "HTTP requests and connections refused before reaching an actor.",
            labels=["actor", "status", "reason"],
        )
        for entry in self._host.inventory()["providers"]:
            provider = self._host.find_provider(entry["contract_id"], entry["binding"])
            counts = getattr(provider, "refusals", None)
            for (actor, status, reason), count in (counts() if callable(counts) else {}).items():
                refused.add_metric([actor, str(status), reason], count)
        return refused
