"""The listening socket of one listener and its accept loop.

Our own loop rather than ``loop.create_server``: asyncio's accept loop, once the process runs
out of descriptors (EMFILE), logs a traceback for every waiting connection and schedules one
retry per attempt (CPython issue 151615); under a flood of idle connections that is tens of
thousands of tracebacks a second. Here:

- the socket is bound and listening from ``open()`` (a port in use fails the binding), but
  connections are taken only after ``start()``: until then they wait in the kernel's backlog;
- out of descriptors (or kernel memory), accepting pauses, from 50 ms doubling up to 1 s,
  with one condensed warning per interval;
- at ``max_connections`` open connections accepting pauses until one closes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from wascc.providers.http.refusals import Refusals

__all__ = ["Intake", "listen"]

BACKLOG = 128
_BATCH = 32  # connections taken per wake-up, so one listener cannot starve the loop
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 1.0
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_TRANSIENT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})


def listen(address: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to ``address:port`` and listening; ``OSError`` as the
    system gives it (``EADDRINUSE``, ``EADDRNOTAVAIL``)."""
    host = "127.0.0.1" if address == "localhost" else address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Intake:
    """Accepts connections on ``sock`` and hands each to ``connect``; ``release()`` must be
    called once for every connection handed over, when it has closed."""

    def __init__(
        self,
        sock: socket.socket,
        connect: Callable[[socket.socket], None],
        *,
        max_connections: int,
        refusals: Refusals,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._fd = sock.fileno()
        self._connect = connect
        self._max = max_connections
        self._refusals = refusals
        self.open = 0
        self._started = False
        self._closed = False
        self._reading = False
        self._pause = 0.0
        self._resume: asyncio.TimerHandle | None = None
        self._capped = False

    def start(self) -> None:
        """Start taking connections (idempotent)."""
        self._started = True
        self._sync()

    def release(self) -> None:
        """One connection handed to ``connect`` has closed."""
        self.open -= 1
        if self._capped and self.open < self._max:
            self._capped = False
            self._sync()

    def close(self) -> None:
        """Stop taking connections and close the listening socket (idempotent); the
        connections already taken are the caller's to close."""
        if self._closed:
            return
        self._closed = True
        self._sync()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._sock.close()

    def _sync(self) -> None:
        """Watch the socket exactly when connections should be taken."""
        want = self._started and not self._closed and not self._capped and self._resume is None
        if want and not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
        elif not want and self._reading:
            self._loop.remove_reader(self._fd)
        self._reading = want

    def _on_readable(self) -> None:
        for _ in range(_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._pause = 0.0
                return
            except OSError as exc:
                if exc.errno in _TRANSIENT:
                    continue  # that client gave up (or a firewall refused it): the next one
                self._back_off(exc)
                return
            self._pause = 0.0
            self.open += 1
            self._connect(conn)
            if self.open >= self._max:
                self._capped = True
                self._refusals.note(
                    0,
                    f"MAX_CONNECTIONS ({self._max}) connections open: accepting paused until "
                    "one closes",
                    level=logging.WARNING,
                )
                self._sync()
                return

    def _back_off(self, exc: OSError) -> None:
        """Stop watching the socket for a while: it stays readable while the process has no
        descriptor (or buffer) to accept with, and retrying at once only spins."""
        self._pause = min(_LONGEST_PAUSE, self._pause * 2 or _FIRST_PAUSE)
        exhausted = exc.errno in _EXHAUSTED
        self._refusals.note(
            0,
            "out of file descriptors or memory: accepting paused"
            if exhausted
            else "accept failed: accepting paused",
            detail=(
                f"{exc.strerror or exc}; raise the process's limit (ulimit -n) or lower "
                "MAX_CONNECTIONS"
                if exhausted
                else str(exc)
            ),
            level=logging.WARNING,
        )
        self._resume = self._loop.call_later(self._pause, self._resumed)
        self._sync()

    def _resumed(self) -> None:
        self._resume = None
        self._sync()
