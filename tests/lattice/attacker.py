"""An attacker on the lattice's NATS, as a process of its own with keys of its own.

``python -m tests.lattice.attacker URL forge SUBJECT ACTOR OPERATION``: seal an invocation of
``OPERATION`` on ``ACTOR`` with a freshly generated host key (correctly signed, vouched for
by nobody), send it to ``SUBJECT`` and print the reply as one JSON line.

``python -m tests.lattice.attacker URL replay SUBJECT COUNT``: listen on ``SUBJECT`` outside
its queue group (a copy of every invocation), print ``ready``, and when a genuine invocation
passes, send it again ``COUNT`` times; print each reply as a JSON line.

Replies are ``{"msg": text, "error": text | null}``. Used by
``test_lattice_attacks_process``; never by the host.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import msgpack
import nats

from wascc.host.lattice import Entity, seal
from wascc.keys.nkeys import KeyPair


def _show(raw: bytes) -> str:
    reply = msgpack.unpackb(raw, raw=False)
    return json.dumps(
        {"msg": bytes(reply["msg"]).decode(errors="replace"), "error": reply["error"]}
    )


async def _forge(nc: Any, subject: str, actor: str, operation: str) -> None:
    envelope = seal(
        Entity(capid="system"), Entity(actor=actor), operation, b"", KeyPair.generate("server")
    )
    reply = await nc.request(subject, envelope.encode(), timeout=10)
    print(_show(reply.data), flush=True)


async def _replay(nc: Any, subject: str, count: int) -> None:
    captured: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_message(msg: Any) -> None:
        await captured.put(bytes(msg.data))

    await nc.subscribe(subject, cb=on_message)
    await nc.flush()
    print("ready", flush=True)
    data = await asyncio.wait_for(captured.get(), timeout=30)
    for _ in range(count):
        reply = await nc.request(subject, data, timeout=10)
        print(_show(reply.data), flush=True)


async def main(argv: list[str]) -> None:
    url, mode, subject, *rest = argv
    nc = await nats.connect(url)
    try:
        if mode == "forge":
            await _forge(nc, subject, rest[0], rest[1])
        else:
            await _replay(nc, subject, int(rest[0]))
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
