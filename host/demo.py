"""``wascc demo``: sign the sample actors and run them on an in-process host.

This is what ``make run`` shows until the host process (``wascc up`` with a manifest and the
HTTP provider) lands: it signs ``echo``, ``pinger`` and ``ponger`` with keys from the key
store (created if absent), loads them, and makes real calls through the host.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import msgpack

from host.host import Host
from keys.claims import sign_module
from keys.store import load_or_create

__all__ = ["demo"]

BUILD = Path(__file__).resolve().parents[1] / "actors" / "build"


def _sign(name: str, caps: tuple[str, ...] = ()) -> Path:
    account, _, _ = load_or_create("account", "account")
    module, _, _ = load_or_create(f"module_{name}", "module")
    source = BUILD / f"{name}.wasm"
    if not source.exists():
        raise click.ClickException(f"{source} is missing; build the actors with `make actors`")
    signed = BUILD / f"{name}_s.wasm"
    signed.write_bytes(
        sign_module(source.read_bytes(), issuer=account, subject=module, name=name, caps=caps)
    )
    return signed


async def _run() -> None:
    ponger_path = _sign("ponger")
    ponger_key = load_or_create("module_ponger", "module")[0].public_key
    echo_path = _sign("echo", ("wascc:http_server",))
    pinger_path = _sign("pinger", (ponger_key,))
    async with Host() as host:
        for path in (echo_path, ponger_path, pinger_path):
            claims = await host.add_actor(path)
            click.echo(f"loaded {claims.name:7} {claims.subject}  caps={list(claims.caps)}")
        echo_key = load_or_create("module_echo", "module")[0].public_key
        request = {
            "method": "GET",
            "path": "/hello",
            "queryString": "name=wascc",
            "header": {"accept": "application/json"},
            "body": b"hi there",
        }
        raw = await host.call_actor(
            echo_key, "HandleRequest", msgpack.packb(request, use_bin_type=True)
        )
        response = msgpack.unpackb(raw, raw=False)
        click.echo(f"\necho HandleRequest -> {response['statusCode']} {response['status']}")
        click.echo(json.dumps(json.loads(response["body"]), indent=2))
        pinger_key = load_or_create("module_pinger", "module")[0].public_key
        reply = await host.call_actor(pinger_key, "Ping", ponger_key.encode())
        click.echo(f"\npinger Ping -> ponger Pong -> {reply.decode()!r}")
    click.echo("\nSigned modules are in actors/build/*_s.wasm; try `wascc claims inspect` on one.")


@click.command()
def demo() -> None:
    """Sign the sample actors and call them through a host."""
    asyncio.run(_run())
