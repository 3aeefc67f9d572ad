"""Generations benchmark: the same ``echo`` module served by ``wascc up`` over HTTP, signed as
a waSCC 0.14 actor, as a wasmCloud 0.18 actor, and as a 0.18 actor whose manifest entry says
``calls_actors: false``.

A 0.18 actor may call other actors without claiming them, so the host runs it on worker
threads (two thread hand-offs per call); ``calls_actors: false`` lets it run on the event
loop's thread like a 0.14 actor. This measures what that costs and what the setting wins back.

    .venv/bin/python -m bench.generations_bench [seconds per figure] [connections]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import loadgen
from bench.report import Section
from bench.served import (
    HEADER,
    ROUNDS,
    Figures,
    alternate,
    best,
    free_port,
    manifest_note,
    measure_http,
    rounds_text,
    row,
    verdict,
    wascc_up,
)
from bench.signing import sign_throwaway

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "actors" / "build" / "echo.wasm"
# Held to no actor calls, a 0.18 actor takes the 0.14 actor's path: within noise of it.
TARGET = 0.9

MANIFEST = """\
actors:
  - path: echo_s.wasm
    max_instances: 2{extra}
capabilities:
  - path: http_server
bindings:
  - actor: echo_s.wasm
    capability: {contract}
    values: {{PORT: "${{PORT}}"}}
"""
KINDS = {  # name -> (claimed contract, extra actor setting)
    "waSCC 0.14": ("wascc:http_server", ""),
    "wasmCloud 0.18": ("wasmcloud:httpserver", ""),
    "wasmCloud 0.18, calls_actors: false": ("wasmcloud:httpserver", "\n    calls_actors: false"),
}

METHOD = """
One `wascc up` process per figure, started fresh, with the manifest below: the C `echo`
actor (2 instances) behind the built-in HTTP server provider, signed for the run with
throwaway keys as a waSCC 0.14 actor (`--cap wascc:http_server`) or as a wasmCloud 0.18 one
(`--cap wasmcloud:httpserver`); the third row adds `calls_actors: false` to the actor's
entry. Loaded as in the HTTP table: `bench/loadgen.py` in its own process, {connections}
keep-alive connections, `GET /` for {total:g} s from the first request, no warm-up pass.
Each kind is measured {rounds} times, in the order 0.14, 0.18, held, held, 0.18, 0.14; the
table shows each kind's round with the most req/s, and **vs peer** is its ratio to the 0.14
row.
"""


def _manifest(contract: str, extra: str) -> str:
    return MANIFEST.format(contract=contract, extra=extra)


def section(seconds: float = 5.0, connections: int = 16) -> Section:
    """The three kinds of echo under ``wascc up``, as a ``Section``."""
    with tempfile.TemporaryDirectory(prefix="generations-bench-") as tmp:
        root = Path(tmp)
        measures: list[Callable[[], Figures]] = []
        for index, (contract, extra) in enumerate(KINDS.values()):
            folder = root / f"kind{index}"
            folder.mkdir()
            signed = sign_throwaway(ECHO.read_bytes(), "echo", [contract])
            (folder / "echo_s.wasm").write_bytes(signed)
            (folder / "echo.yaml").write_text(_manifest(contract, extra))

            def measure(folder: Path = folder) -> Figures:
                port = free_port()
                manifest = folder / "echo.yaml"
                log = folder / "host.log"
                with wascc_up(manifest, folder / "data", {"PORT": str(port)}, log=log) as server:
                    return measure_http(server, port, seconds, connections)

            measures.append(measure)
        results = dict(zip(KINDS, alternate(*measures), strict=True))
    tops = {kind: best(rounds) for kind, rounds in results.items()}
    old, new, held = (tops[kind] for kind in KINDS)
    total = seconds + loadgen.WARMUP
    return Section(
        f"Generations: one echo module signed as a 0.14 and as a 0.18 actor under `wascc up` "
        f"({total:g} s of load per figure from the first request, best of {ROUNDS}, "
        f"{connections} keep-alive connections, loopback)",
        METHOD.format(connections=connections, total=total, rounds=ROUNDS),
        HEADER,
        [row(f"`wascc up` + echo as {kind}", tops[kind], old) for kind in KINDS],
        verdicts=[
            verdict("0.18 echo with calls_actors: false, vs the same as 0.14", held, old, TARGET),
        ],
        notes=[
            f"Without the setting, the 0.18 echo served {new['rps'] / old['rps']:.2f}x the "
            "0.14 one's requests: it runs on worker threads.",
            "req/s of every round: "
            + "; ".join(f"{kind} {rounds_text(rounds)}" for kind, rounds in results.items())
            + ".",
            manifest_note(
                "echo.yaml",
                _manifest("wasmcloud:httpserver", KINDS["wasmCloud 0.18, calls_actors: false"][1]),
                "the held 0.18 row; the others name their contract and leave out calls_actors",
            ),
        ],
    )


def main(seconds: float = 5.0, connections: int = 16) -> Section:
    """Measure the three kinds and print the table."""
    result = section(seconds, connections)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
