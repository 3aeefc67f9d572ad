"""Child process of the durability test: a host with the SQLite key-value provider and the
kvcounter actor, counting as fast as it can until it is killed.

    python kv_durability_child.py DATA_DIR SIGNED_KVCOUNTER SYNCHRONOUS WORKERS

Each of WORKERS tasks sends HandleRequest for path ``/w<i>`` in a loop and prints
``<i> <counter>`` (flushed) only after the actor answered, i.e. after the write was
acknowledged. The parent kills this process with SIGKILL at some point and checks that every
printed counter is in the database.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from host import Host
from providers.codec import HttpRequest, HttpResponse
from providers.keyvalue import KeyValueProvider

KEYVALUE = "wascc:keyvalue"


async def worker(host: Host, actor: str, index: int) -> None:
    """Count on ``/w<index>`` forever, printing every acknowledged total."""
    request = HttpRequest(
        method="GET", path=f"/w{index}", query_string="", header={}, body=b""
    ).encode()
    while True:
        reply = HttpResponse.decode(await host.call_actor(actor, "HandleRequest", request))
        counter = json.loads(reply.body)["counter"]
        sys.stdout.write(f"{index} {counter}\n")
        sys.stdout.flush()


async def main(data_dir: Path, module: Path, synchronous: str, workers: int) -> None:
    """Start the host, bind kvcounter to SQLite in ``data_dir``, and count until killed."""
    async with Host(cache_dir=data_dir / "cache") as host:
        await host.add_provider(KeyValueProvider(data_dir=data_dir))
        claims = await host.add_actor(module)
        values = {"BACKEND": "sqlite", "SYNCHRONOUS": synchronous}
        await host.set_binding(claims.subject, KEYVALUE, values=values)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        async with asyncio.timeout(60):  # the parent kills it long before
            await asyncio.gather(*(worker(host, claims.subject, i) for i in range(workers)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
