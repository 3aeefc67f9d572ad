"""What the fuzz tests share: the settings every property runs under, and input strategies.

Every property of ``tests/fuzz`` states the same contract for one decoder of outside bytes:
it returns a valid result or raises the error class its docstring names, nothing else, and
it does so in bounded time. ``FUZZ`` is the parent of each property's ``@settings``:

- ``derandomize=True`` and ``database=None``: the examples are drawn from a seed
  derived from the test itself, so every run of ``make test``, on CI or on a laptop, tries
  the same inputs. A red run is reproduced by running the same test again, and a green run
  does not depend on a ``.hypothesis`` directory left over from earlier runs. This is the
  trade Hypothesis's own ``ci`` profile makes: the fuzz layer is a regression net of a few
  thousand fixed inputs per run, not an open-ended search. Inputs it once found stay as
  explicit ``@example``s. To search further, set ``WASCC_FUZZ_EXPLORE=N``: the seed is then
  random and every property tries N times as many examples (still nothing is stored).
- ``deadline``: five seconds for one example, far above what any decoder takes on the
  inputs drawn here (well under a millisecond each), so a slow shared machine never makes
  the layer flaky, yet an input that sends a decoder into a loop or a quadratic blow-up
  fails the test instead of stalling it (pytest-timeout would only stop it after a minute).
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import msgpack
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from wascc.keys.nkeys import KEY_KINDS, KeyKind, KeyPair

__all__ = [
    "DEEP",
    "FUZZ",
    "HEADER",
    "KEYS",
    "NOW",
    "alter_fields",
    "b64",
    "claim_values",
    "claims_dicts",
    "deep_token",
    "json_values",
    "msgpack_values",
    "mutated",
    "near",
    "raises_only",
    "scaled",
    "text",
    "tokens",
]

_EXPLORE = int(os.environ.get("WASCC_FUZZ_EXPLORE", "0") or 0)

FUZZ = settings(
    derandomize=not _EXPLORE,
    database=None,
    deadline=datetime.timedelta(seconds=5),
    # Strategies that sign tokens take a while to draw on a loaded machine; that is their
    # cost, not a sign of a badly built strategy.
    suppress_health_check=[HealthCheck.too_slow],
)


def scaled(examples: int) -> int:
    """``examples``, times ``WASCC_FUZZ_EXPLORE`` when exploring."""
    return examples * max(1, _EXPLORE)


DEEP = 100_000
"""Nesting depth of the explicit "bomb" examples: far past Python's recursion limit."""

# Text that every encoder here can write (msgpack and UTF-8 refuse lone surrogates).
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)

_msgpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
    | st.binary(max_size=24)
)
_keys = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | text | st.binary(max_size=8)

msgpack_values: st.SearchStrategy[Any] = st.recursive(
    _msgpack_scalars
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
    | st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 999_999_999)),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=16,
)
"""Any value msgpack can pack: nil, bool, int64/uint64, floats (NaN, inf), str, bin,
ext and timestamps, in nested arrays and maps with keys of any of those kinds."""

# JSON strings: what a JSON text may spell, lone surrogates (\ud800) included, which
# Hypothesis's text() never draws on its own.
_json_text = st.text(max_size=24) | st.text(
    st.characters(categories=("Cs",)), min_size=1, max_size=3
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _json_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_json_text, inner, max_size=5),
    max_leaves=16,
)
"""Any value ``json.loads`` can return (NaN, Infinity and lone surrogates included)."""


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A value of ``base`` with a few bytes flipped, inserted, deleted or cut off: the
    damage a wire or a hostile peer does to a message that was once valid."""
    data = bytearray(draw(base))
    edits = draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 2**16), st.integers(0, 255)), max_size=4
        )
    )
    for kind, where, value in edits:
        at = where % (len(data) + 1)
        if kind == 0 and at < len(data):
            data[at] ^= value or 1
        elif kind == 1:
            data.insert(at, value)
        elif kind == 2 and at < len(data):
            del data[at]
        elif kind == 3:
            del data[at:]
    return bytes(data)


def raises_only(
    call: Callable[[], Any],
    allowed: type[BaseException] | tuple[type[BaseException], ...],
    stage: str = "",
) -> tuple[Any, BaseException | None]:
    """``(result, None)`` if ``call()`` returns, ``(None, error)`` if it raises one of
    ``allowed`` with a message; any other exception propagates and fails the property.

    The outcome is recorded as a Hypothesis event, prefixed with ``stage`` (``pytest
    --hypothesis-show-statistics`` shows how many inputs each stage accepted, and how many
    it refused with which error: a strategy that never reaches a decoder's later checks
    shows up there)."""
    prefix = f"{stage}: " if stage else ""
    try:
        result = call()
    except allowed as exc:
        error = exc
    else:
        event(f"{prefix}accepted")
        return result, None
    event(f"{prefix}refused: {type(error).__name__}")
    assert str(error), f"{type(error).__name__} without a message"
    return None, error


# Tokens ------------------------------------------------------------------------------------

KEYS: dict[KeyKind, KeyPair] = {
    kind: KeyPair(kind, hashlib.sha256(f"wascc-fuzz {kind}".encode()).digest())
    for kind in KEY_KINDS
}
"""One key pair of every kind, the same in every run (so a failing example reproduces)."""

HEADER = b'{"typ":"jwt","alg":"Ed25519"}'
NOW = 1_700_000_000  # a fixed date in the past, for claims that are not checked for freshness


def b64(data: bytes) -> str:
    """URL-safe base64 without padding, as JWT segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_public_keys = st.sampled_from([pair.public_key for pair in KEYS.values()])
_key_texts = (
    _public_keys
    | _public_keys.map(lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"))  # bad checksum
    | st.sampled_from([pair.seed for pair in KEYS.values()])
    | st.text(max_size=60)
)
_dates = (
    st.integers(NOW - 10**6, NOW + 10**6)
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=8)
)
_strings = st.lists(_json_text | json_values, max_size=4)
_wascap = st.fixed_dictionaries(
    {},
    optional={
        "name": _json_text | json_values,
        "hash": st.just("") | json_values,
        "tags": _strings | json_values,
        "caps": _strings | json_values,
        "rev": st.integers(-(2**70), 2**70) | json_values,
        "ver": _json_text | json_values,
        "call_alias": _json_text | json_values,
        "prov": st.booleans() | json_values,
        "origin_url": _json_text | json_values,
        "target_url": _json_text | json_values,
    },
)
_wascc = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["host", "controller", "admin"]) | json_values,
        "name": _json_text | json_values,
        "action": st.sampled_from(["launch", "terminate", "update"]) | json_values,
        "hash": _json_text | json_values,
        "type": st.sampled_from(["host_started", "actor_started"]) | json_values,
    },
)
claim_values: dict[str, st.SearchStrategy[Any]] = {
    "jti": st.uuids().map(str) | json_values,
    "iat": _dates,
    "exp": _dates,
    "nbf": _dates,
    "iss": _key_texts | json_values,
    "sub": _key_texts | json_values,
    "wascap": _wascap | json_values,
    "wascc": _wascc | json_values,
}
"""For each claim this project reads: what honest tools write, what broken or hostile ones
do, and any other JSON value."""

claims_dicts: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries({}, optional=claim_values)
"""Claims objects with any of those claims."""

_one_claim = st.sampled_from(sorted(claim_values)).flatmap(
    lambda key: claim_values[key].map(lambda value: {key: value})
)


def near(genuine: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Claims of ``genuine`` with none, one or two of them replaced by anything: tokens that
    pass every check but one or two, where a decoder's later branches are."""
    return st.tuples(genuine, st.lists(_one_claim, max_size=2)).map(
        lambda drawn: functools.reduce(lambda claims, change: claims | change, drawn[1], drawn[0])
    )


def alter_fields(
    draw: st.DrawFn,
    record: dict[Any, Any],
    fields: Mapping[str, st.SearchStrategy[Any]],
    anything: st.SearchStrategy[Any],
) -> None:
    """Up to two of ``fields`` of ``record`` dropped, set to ``anything``, or set to a near
    miss drawn from the field's own strategy: a message that fails one or two checks."""
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        how = draw(st.integers(0, 2))
        if how == 0:
            record.pop(key, None)
        elif how == 1:
            record[key] = draw(anything)
        else:
            record[key] = draw(fields[key])


@st.composite
def tokens(draw: st.DrawFn, claims: st.SearchStrategy[Any]) -> str:
    """A token over drawn claims. Mostly well formed, so that the checks after parsing are
    reached: the right header (else another JSON value), the claims as JSON (else with
    surrogates left unescaped, or other bytes), signed by the key the claims name as
    issuer (else by another key, or any bytes), and now and then a damaged segment."""
    header = HEADER if draw(st.integers(0, 4)) else json.dumps(draw(json_values)).encode()
    body = draw(claims)
    form = draw(st.integers(0, 5))
    if form < 4:
        raw = json.dumps(body).encode()
    elif form == 4:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    else:
        raw = draw(st.binary(max_size=32))
    signing_input = f"{b64(header)}.{b64(raw)}"
    signer = draw(st.sampled_from(list(KEYS.values())))
    issuer = body.get("iss") if isinstance(body, dict) else None
    if draw(st.integers(0, 3)):
        signer = next((p for p in KEYS.values() if p.public_key == issuer), signer)
    if draw(st.integers(0, 4)):
        signature = signer.sign(signing_input.encode())
    else:
        signature = draw(st.binary(min_size=60, max_size=68))
    token = f"{signing_input}.{b64(signature)}"
    damage = draw(st.integers(0, 9))
    if damage == 0:
        token = draw(mutated(st.just(token.encode()))).decode("latin-1")
    elif damage == 1:
        token = draw(st.sampled_from(["", "."])) + token + draw(st.sampled_from(["", ".", "="]))
    return token


def deep_token(signer: KeyPair) -> str:
    """A token signed by ``signer`` whose claims are an array nested ``DEEP`` times."""
    signing_input = f"{b64(HEADER)}.{b64(b'[' * DEEP)}"
    return f"{signing_input}.{b64(signer.sign(signing_input.encode()))}"
