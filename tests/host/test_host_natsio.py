"""``round_trip``: once it returns, the server has been sent every command made before it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nats

from tests.support.servers import nats_server
from wascc.host.natsio import round_trip


async def _noop(msg: Any) -> None:
    pass


async def test_round_trip_pings_after_commands_still_buffered(tmp_path: Path) -> None:
    """nats-py buffers a SUB until its writer task runs but writes a flush's PING at once;
    the PING whose PONG round_trip waits for last must follow the SUB on the wire."""
    with nats_server(tmp_path) as server:
        nc = await nats.connect(f"nats://127.0.0.1:{server.port}")
        try:
            written: list[bytes] = []
            transport = nc._transport
            write, writelines = transport.write, transport.writelines

            def record(data: bytes) -> None:
                written.append(bytes(data))
                write(data)

            def record_lines(lines: Iterable[bytes]) -> None:
                lines = list(lines)
                written.extend(bytes(line) for line in lines)
                writelines(lines)

            transport.write, transport.writelines = record, record_lines
            await nc.subscribe("round.trip", cb=_noop)
            await round_trip(nc, 1.0)
            sub_at = next(i for i, cmd in enumerate(written) if cmd.startswith(b"SUB round.trip"))
            assert any(cmd.startswith(b"PING") for cmd in written[sub_at + 1 :]), written
        finally:
            await nc.close()
