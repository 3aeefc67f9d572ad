"""Fuzz: lattice control messages, what ``wascc ctl`` sends to launch, update or stop actors.

``open_command(action, data, trust)`` returns the command only after every check
(signature, addressed host, action, hash, freshness, trusted signer); anything else raises
``MalformedMessage`` or ``ForgedInvocation`` (``Untrusted`` and ``ReplayedInvocation`` are
kinds of it). Inputs: any bytes, genuine messages of each kind of signer damaged byte by
byte, and genuine messages whose token, voucher or fields are replaced by anything,
including tokens that pass every check but one.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import (
    DEEP,
    FUZZ,
    HEADER,
    KEYS,
    alter_fields,
    b64,
    claims_dicts,
    deep_token,
    msgpack_values,
    mutated,
    near,
    raises_only,
    scaled,
    text,
    tokens,
)
from wascc.host.lattice.command import Controller, open_command, seal_command
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.trust import TrustPolicy
from wascc.keys.jwt import decode_token
from wascc.keys.vouch import vouch

HOST = KEYS["server"].public_key  # the host that receives the commands
ANCHOR = KEYS["account"]
USER = KEYS["user"]
USER_VOUCHER = vouch(ANCHOR, USER.public_key)
ACTIONS = ("launch", "terminate", "update")

_signers = st.sampled_from(
    [
        None,  # unsigned: only an insecure lattice obeys
        Controller(ANCHOR),
        Controller(USER, voucher=USER_VOUCHER),
        Controller(USER),  # a user key without its voucher
        Controller(KEYS["operator"]),  # a key of a kind no controller has
    ]
)
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "command": st.binary(max_size=16) | text,
    "token": tokens(claims_dicts) | text,
    "voucher": st.just(USER_VOUCHER)
    | tokens(near(st.just(decode_token(USER_VOUCHER).claims)))
    | text,
    "extra": msgpack_values,
}


@st.composite
def control_wires(draw: st.DrawFn, action: str) -> dict[Any, Any]:
    """A genuine message for ``action`` (or another action, or another host), then mostly
    altered: its token replaced by one over the same claims with one or two changed, and
    up to two fields dropped, set to a near miss or set to anything."""
    signed_action = action if draw(st.integers(0, 3)) else draw(st.sampled_from(ACTIONS))
    host = HOST if draw(st.integers(0, 3)) else KEYS["service"].public_key
    data = seal_command(signed_action, host, draw(st.binary(max_size=24)), draw(_signers))
    wire: dict[Any, Any] = msgpack.unpackb(data, raw=False)
    if "token" in wire and draw(st.integers(0, 2)) == 0:
        claims = decode_token(wire["token"]).claims
        wire["token"] = draw(tokens(near(st.just(claims))))
    alter_fields(draw, wire, _FIELD_VALUES, msgpack_values)
    return wire


@st.composite
def control_messages(draw: st.DrawFn, action: str) -> bytes:
    """Any bytes, a genuine message damaged byte by byte, or an altered one."""
    how = draw(st.integers(0, 4))
    if how == 0:
        return draw(st.binary(max_size=48))
    if how == 1:
        genuine = seal_command(action, HOST, draw(st.binary(max_size=8)), draw(_signers))
        return draw(mutated(st.just(genuine)))
    return msgpack.packb(draw(control_wires(action)), use_bin_type=True)


def _deep(what: str) -> bytes:
    """A command signed by the anchor with a token (or voucher) nested past any stack."""
    deep = deep_token(ANCHOR)
    message = seal_command("launch", HOST, b"{}", Controller(ANCHOR))
    wire = msgpack.unpackb(message, raw=False)
    wire[what] = deep
    return msgpack.packb(wire, use_bin_type=True)


def _trust(insecure: bool) -> LatticeTrust:
    return LatticeTrust(
        TrustPolicy.build(lattice_account=ANCHOR.public_key, insecure_lattice=insecure),
        HOST,
        rpc_timeout=2,
    )


@settings(FUZZ, max_examples=scaled(150))
@given(data=st.data(), action=st.sampled_from(ACTIONS), insecure=st.booleans())
@example(data=_deep("token"), action="launch", insecure=False)
@example(data=_deep("voucher"), action="launch", insecure=False)
@example(data=b"\x81\xa7command" + b"\x91" * DEEP, action="launch", insecure=False)
@example(data=f"{b64(HEADER)}.{b64(b'{')}.".encode(), action="update", insecure=True)
def test_open_command(data: st.DataObject | bytes, action: str, insecure: bool) -> None:
    """Any control message yields its command only if every check passes, and otherwise
    raises MalformedMessage or ForgedInvocation."""
    if not isinstance(data, bytes):
        data = data.draw(control_messages(action), label="data")
    command, _ = raises_only(
        lambda: open_command(action, data, _trust(insecure)),
        (MalformedMessage, ForgedInvocation),
    )
    if command is not None:
        wire = msgpack.unpackb(data, raw=False)
        assert command == wire["command"]
        assert insecure or "token" in wire


def test_genuine_commands_are_opened() -> None:
    """The genuine messages the fuzzing starts from are obeyed: the anchor's own, and a
    vouched user's."""
    for signer in (Controller(ANCHOR), Controller(USER, voucher=USER_VOUCHER)):
        data = seal_command("launch", HOST, b"cmd", signer)
        assert open_command("launch", data, _trust(False)) == b"cmd"
