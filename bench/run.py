"""``make bench``: every benchmark of the project in one run, each next to its floor or peer.

.venv/bin/python -m bench.run [seconds per figure]
"""

from __future__ import annotations

import sys

from bench import core_bench, http_bench

__all__ = ["main"]


def main(seconds: float = 1.0) -> None:
    """Run the host core benchmarks, then the HTTP ones."""
    print("== host core: echo through the host vs the raw floor ==")
    core_bench.main(seconds)
    print("\n== HTTP: host + echo actor vs bare aiohttp ==")
    http_bench.main(seconds=max(seconds * 3, 2.0))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
