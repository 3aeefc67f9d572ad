"""Child process of the durability test: a host with the SQLite key-value provider and the
kvcounter actor, counting as fast as it can until it is killed.

    python kv_durability_child.py DATA_DIR SIGNED_KVCOUNTER SYNCHRONOUS WORKERS [MODE]

Each of WORKERS tasks sends HandleRequest for path ``/w<i>`` in a loop and prints
``<i> <counter>`` (flushed) only after the actor answered, i.e. after the write was
acknowledged. The parent kills this process with SIGKILL at some point and checks that every
printed counter is in the database.

MODE ``direct`` leaves the host out: WORKERS threads of its own each ``Add`` 1 to key
``:w<i>`` through the binding's direct calls (``KeyValueProvider.direct``), as an actor's
worker thread would, and print the totals the same way.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

from wascc.host import Host
from wascc.host.typing import DirectCalls
from wascc.providers.codec import AddRequest, AddResponse, HttpRequest, HttpResponse
from wascc.providers.keyvalue import KeyValueProvider

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


_PRINT = threading.Lock()


def direct_worker(calls: DirectCalls, index: int) -> None:
    """Add 1 to ``:w<index>`` on this thread forever, printing every acknowledged total."""
    payload = AddRequest(key=f":w{index}", value=1).encode()
    while True:
        total = AddResponse.decode(calls.call("Add", payload)).value
        with _PRINT:
            sys.stdout.write(f"{index} {total}\n")
            sys.stdout.flush()


async def main_direct(data_dir: Path, actor: str, synchronous: str, workers: int) -> None:
    """Bind ``actor`` to SQLite in ``data_dir`` and count through direct calls until killed."""
    provider = KeyValueProvider(data_dir=data_dir)
    await provider.bind_actor(actor, "default", {"BACKEND": "sqlite", "SYNCHRONOUS": synchronous})
    calls = provider.direct(actor, "default")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    threads = [
        threading.Thread(target=direct_worker, args=(calls, i), daemon=True) for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    await asyncio.sleep(60)  # the parent kills it long before


if __name__ == "__main__":
    mode = sys.argv[5] if len(sys.argv) > 5 else "host"
    if mode == "direct":
        # SIGNED_KVCOUNTER is the actor's public key here: no module is loaded.
        coro = main_direct(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        coro = main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    asyncio.run(coro)
