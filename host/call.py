"""``wascc call`` and ``wascc update``: invoke an actor, or update one, from the command line.

A call's JSON becomes the operation's message when docs/contracts.md lists the operation
(``HandleRequest``, ``Get`` …: ``providers.codec.find_operation``), its keys exactly the
message's fields, else the msgpack of the JSON value; the reply is decoded the same way and
returned as JSON-ready data. Bytes fields are given and shown as UTF-8 text (binary replies as
``{"base64": …}``).

The call runs either on a throwaway in-process host (the target is a signed module file;
logging and an in-memory key-value store are bound when its claims list them) or on a running
host through its admin endpoint (``host.admin``), which takes the call's JSON itself (encoded
there as here) and a token (``host.admin_token``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgpack

from wascc.host.admin_token import TOKEN_ENV, AdminToken
from wascc.host.capabilities import ProviderLookupError, resolve_provider
from wascc.host.errors import WasccError
from wascc.host.host import Host
from wascc.host.typing import Provider
from wascc.keys.claims import Claims, validate_module
from wascc.providers.codec import KEYVALUE, LOGGING, CodecError, find_operation
from wascc.providers.logging_provider import LoggingProvider

__all__ = [
    "AdminClientError",
    "call_local",
    "call_remote",
    "decode_reply",
    "encode_request",
    "jsonable",
    "module_claims",
    "update_remote",
]

_TIMEOUT = aiohttp.ClientTimeout(total=60)


class AdminClientError(WasccError):
    """The admin endpoint could not be reached, or answered with an error (its message)."""


def encode_request(operation: str, value: Any) -> bytes:
    """The payload for ``operation``: its message record when known, else msgpack of
    ``value``. ``CodecError`` names the message and field that does not fit.

    The record is read strictly: a key that is no field (``query_string`` for
    ``queryString``) is refused with the field meant, rather than dropped unseen."""
    op = find_operation(operation)
    if op is not None:
        return op.request.from_wire(value, strict=True).encode()
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def decode_reply(operation: str, reply: bytes) -> Any:
    """The reply as JSON-ready data: the operation's response record when known, else
    msgpack, else the raw bytes (as text, or base64 when not UTF-8). Empty means ``None``."""
    if not reply:
        return None
    op = find_operation(operation)
    if op is not None and op.response is not None:
        try:
            return jsonable(op.response.decode(reply).to_wire())
        except CodecError:  # not the documented response: show what the actor did send
            pass
    try:
        return jsonable(msgpack.unpackb(reply, raw=False, strict_map_key=False))
    except Exception:  # not msgpack (msgpack may raise anything): show the bytes themselves
        return jsonable(reply)


def jsonable(value: Any) -> Any:
    """``value`` with bytes turned into text (or ``{"base64": …}``) and tuples into lists."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def module_claims(file: Path) -> Claims:
    """The verified claims of a signed module file."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise AdminClientError(f"cannot read {file}: {exc.strerror}") from None
    return validate_module(data, path=str(file))


async def call_local(file: Path, operation: str, payload: bytes) -> bytes:
    """Run ``operation`` on the actor in ``file`` on a throwaway host with in-memory
    providers for the contracts it claims (logging; key-value when installed)."""
    claims = module_claims(file)
    with tempfile.TemporaryDirectory(prefix="wascc-call-") as scratch:
        async with Host() as host:
            await host.add_actor(file)
            for contract, provider, values in _local_providers(claims, Path(scratch)):
                await host.add_provider(provider)
                await host.set_binding(claims.subject, contract, values=values)
            return await host.call_actor(claims.subject, operation, payload)


def _local_providers(claims: Claims, scratch: Path) -> list[tuple[str, Provider, dict[str, str]]]:
    providers: list[tuple[str, Provider, dict[str, str]]] = []
    if LOGGING in claims.caps:
        providers.append((LOGGING, LoggingProvider(), {}))
    if KEYVALUE in claims.caps:
        try:
            spec = resolve_provider("keyvalue")
        except ProviderLookupError:  # not installed: the actor's Get/Set calls get the error
            return providers
        providers.append((KEYVALUE, spec.build({}, scratch), {"BACKEND": "memory"}))
    return providers


async def _post(
    admin: str,
    path: str,
    body: bytes,
    *,
    token: AdminToken,
    content_type: str,
    query: dict[str, str] | None = None,
) -> bytes:
    url = f"http://{admin}{path}"
    headers = {"Authorization": f"Bearer {token.secret}", "Content-Type": content_type}
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.post(url, data=body, params=query, headers=headers) as response,
        ):
            data = await response.read()
            if response.status == 200:
                return data
    except aiohttp.ClientConnectionError as exc:
        raise AdminClientError(
            f"cannot reach the host's admin endpoint at http://{admin} ({exc}); is "
            f"`wascc up --admin {admin}` running?"
        ) from None
    except TimeoutError:
        raise AdminClientError(f"the host at http://{admin} did not answer in time") from None
    raise AdminClientError(_refusal(admin, response.status, data, token))


def _refusal(admin: str, status: int, data: bytes, token: AdminToken) -> str:
    """One line saying why the admin endpoint at ``admin`` answered ``status``."""
    try:
        message = " ".join(str(json.loads(data)["error"]).split())
    except (ValueError, KeyError, TypeError):
        message = f"the admin endpoint answered {status}: {data[:200]!r}"
    if status == 401:
        return (
            f"the host at http://{admin} refused the admin token from {token.source} (401); "
            "it makes a new one each time it starts: give the data directory of the host "
            "listening there with --data-dir, or the current token with --admin-token-file or "
            f"${TOKEN_ENV}"
        )
    if status in (403, 415):
        return f"the host at http://{admin} refused the request ({status}): {message}"
    return message


async def call_remote(
    admin: str, target: str, operation: str, data: str | None, *, token: AdminToken
) -> bytes:
    """Call ``operation`` on the actor ``target`` (key, call alias or name) of the host at
    ``admin``.

    ``data`` is the call's JSON text, encoded by the host as ``encode_request`` does; ``None``
    sends the empty payload."""
    body = b"" if data is None else data.encode("utf-8")
    path = f"/actors/{quote(target, safe='')}/call/{quote(operation, safe='')}"
    return await _post(admin, path, body, token=token, content_type="application/json")


async def update_remote(
    admin: str, file: Path, *, token: AdminToken, force: bool, rotate_issuer: bool = False
) -> dict[str, Any]:
    """Live-update the running actor that ``file`` is a new revision of; ``rotate_issuer``
    accepts a module signed by another account the host trusts."""
    module = await asyncio.to_thread(file.read_bytes)
    # Checked here too, so that a bad file is reported with its name, not as "the upload".
    validate_module(module, path=str(file))
    query = {
        name: "true" for name, on in (("force", force), ("rotate_issuer", rotate_issuer)) if on
    }
    reply = await _post(
        admin,
        "/actors/update",
        module,
        token=token,
        content_type="application/wasm",
        query=query or None,
    )
    result: dict[str, Any] = json.loads(reply)
    return result
