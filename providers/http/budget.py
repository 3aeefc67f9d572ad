"""The host-wide budget of body bytes in flight, shared by every listener of one provider.

A request's body is read against it (its ``Content-Length`` reserved up front, a chunked body
reserved as it arrives) and a large response is counted while it is written; a request that
does not fit gets 503 with ``Retry-After`` instead of memory. What the process really holds
is a small multiple of the budget: a body is copied into the actor's message and into its
linear memory, and the actor's answer is copied back out.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BYTES_IN_FLIGHT", "ByteBudget", "Ticket"]

DEFAULT_MAX_BYTES_IN_FLIGHT = 256 * 2**20


class ByteBudget:
    """At most ``limit`` bytes reserved at once (used on the event loop's thread only)."""

    def __init__(self, limit: int = DEFAULT_MAX_BYTES_IN_FLIGHT) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_bytes_in_flight must be an integer >= 1, got {limit!r}")
        self.limit = limit
        self.in_flight = 0
        self.peak = 0

    def ticket(self) -> Ticket:
        """A new, empty reservation for one request."""
        return Ticket(self)

    def __repr__(self) -> str:
        return f"ByteBudget(limit={self.limit}, in_flight={self.in_flight})"


class Ticket:
    """One request's share of the budget; ``release()`` gives all of it back (idempotent)."""

    __slots__ = ("_budget", "held")

    def __init__(self, budget: ByteBudget) -> None:
        self._budget = budget
        self.held = 0

    def reserve(self, size: int) -> bool:
        """Take ``size`` more bytes if they fit; False (nothing taken) if they do not."""
        budget = self._budget
        if budget.in_flight + size > budget.limit:
            return False
        self._take(size)
        return True

    def force(self, size: int) -> None:
        """Count ``size`` bytes that are already in memory (an actor's answer), even past the
        limit: later requests then wait until it has been written."""
        self._take(size)

    def _take(self, size: int) -> None:
        budget = self._budget
        budget.in_flight += size
        budget.peak = max(budget.peak, budget.in_flight)
        self.held += size

    def release(self) -> None:
        """Give every reserved byte back."""
        self._budget.in_flight -= self.held
        self.held = 0
