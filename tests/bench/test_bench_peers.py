"""The benchmark peers (``python -m bench.peers``) answer as the ``kvcounter`` actor does, so
that the key-value rows of ``make bench`` compare the same work."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def _answers(port: int) -> bool:
    try:
        return _get(port, "/ready")[0] == 200
    except OSError:
        return False


@contextmanager
def _peer(kind: str, *options: str) -> Iterator[int]:
    """``python -m bench.peers KIND PORT OPTIONS`` until it answers; yields its port."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.peers", kind, str(port), *options]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port), timeout=30, what=f"the {kind} peer answering")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("kind", ["counter", "sqlite"])
def test_counter_peers_count_per_path_like_kvcounter(kind: str, tmp_path: Path) -> None:
    options = ["--db", str(tmp_path / "counts.db"), "--synchronous", "normal"]
    with _peer(kind, *(options if kind == "sqlite" else [])) as port:
        assert _get(port, "/a/b") == (200, "application/json", b'{"counter":1}')
        assert _get(port, "/a/b")[2] == b'{"counter":2}'
        assert _get(port, "/a")[2] == b'{"counter":1}'  # ":a", a key of its own


def test_hello_peer_answers_hello_world() -> None:
    with _peer("hello") as port:
        assert _get(port, "/anything")[::2] == (200, b"Hello, World!")


def test_peer_without_its_option_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.peers", "redis", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "redis needs --url" in done.stderr
