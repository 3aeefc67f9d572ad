"""The key-value conformance suite: every test runs on memory, SQLite and Redis alike."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from tests.providers_kv.kv_support import KvClient, KvError

# strings -----------------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_empty_and_not_existing(kv: KvClient) -> None:
    """Get on a missing key answers {value: "", exists: false}."""
    assert await kv.call("Get", key="nothing") == {"value": "", "exists": False}


async def test_set_then_get_returns_the_value(kv: KvClient) -> None:
    """Set answers {value} with the stored value, and Get reads it back."""
    assert await kv.call("Set", key="greeting", value="hello", expires=0) == {"value": "hello"}
    assert await kv.call("Get", key="greeting") == {"value": "hello", "exists": True}


async def test_responses_have_the_spec_shape_byte_for_byte(kv: KvClient) -> None:
    """Replies are msgpack maps with exactly the fields of docs/contracts.md, in its order."""
    await kv.call("Set", key="k", value="v", expires=0)
    get = await kv.raw("Get", msgpack.packb({"key": "k"}))
    assert get == msgpack.packb({"value": "v", "exists": True}, use_bin_type=True)
    exists = await kv.raw("KeyExists", msgpack.packb({"key": "k"}))
    assert exists == msgpack.packb({"value": "", "exists": True}, use_bin_type=True)
    push = await kv.raw("Push", msgpack.packb({"key": "l", "value": "x"}))
    assert push == msgpack.packb({"newCount": 1}, use_bin_type=True)
    values = await kv.raw("Range", msgpack.packb({"key": "l", "start": 0, "stop": -1}))
    assert values == msgpack.packb({"values": ["x"]}, use_bin_type=True)
    deleted = await kv.raw("Del", msgpack.packb({"key": "k"}))
    assert deleted == msgpack.packb({"key": "k"}, use_bin_type=True)


async def test_set_overwrites_a_value_and_a_list(kv: KvClient) -> None:
    """Set replaces whatever the key held, a string or a list."""
    await kv.call("Set", key="k", value="one", expires=0)
    await kv.call("Set", key="k", value="two", expires=0)
    assert (await kv.call("Get", key="k"))["value"] == "two"
    await kv.call("Push", key="l", value="item")
    await kv.call("Set", key="l", value="now a string", expires=0)
    assert await kv.call("Get", key="l") == {"value": "now a string", "exists": True}
    assert (await kv.call("Push", key="l2", value="x"))["newCount"] == 1


async def test_unicode_and_nul_survive_the_round_trip(kv: KvClient) -> None:
    """Keys and values are arbitrary strings: non-ASCII and NUL characters come back intact."""
    key, value = "clé:\x00:ключ", "välue \x00 ✓ 𝄞"
    await kv.call("Set", key=key, value=value, expires=0)
    assert await kv.call("Get", key=key) == {"value": value, "exists": True}
    await kv.call("SetAdd", key=key + "s", value=value)
    assert (await kv.call("SetQuery", key=key + "s"))["values"] == [value]


async def test_set_with_expires_disappears_after_its_lifetime(kv: KvClient) -> None:
    """A key set with expires=1 is gone after a second; expires=0 and Add keep their rules."""
    await kv.call("Set", key="short", value="5", expires=1)
    await kv.call("Set", key="forever", value="x", expires=0)
    await kv.call("Set", key="reset", value="x", expires=1)
    await kv.call("Set", key="reset", value="y", expires=0)  # a plain Set clears the expiry
    assert (await kv.call("Add", key="short", value=1))["value"] == 6  # Add keeps the expiry
    assert (await kv.call("KeyExists", key="short"))["exists"] is True
    await asyncio.sleep(1.3)
    assert await kv.call("Get", key="short") == {"value": "", "exists": False}
    assert (await kv.call("KeyExists", key="short"))["exists"] is False
    assert (await kv.call("Get", key="forever"))["exists"] is True
    assert (await kv.call("Get", key="reset"))["value"] == "y"
    assert (await kv.call("Push", key="short", value="x"))["newCount"] == 1  # any kind now


async def test_negative_or_huge_expires_is_refused(kv: KvClient) -> None:
    """Set with a negative expiry (or one past u32) is an error reply, and nothing is stored."""
    assert "expires=-1" in await kv.error("Set", key="k", value="v", expires=-1)
    assert "expires=" in await kv.error("Set", key="k", value="v", expires=2**40)
    assert (await kv.call("KeyExists", key="k"))["exists"] is False


# Add ---------------------------------------------------------------------------------------


async def test_add_creates_the_key_and_returns_the_new_total(kv: KvClient) -> None:
    """Add on a missing key starts from 0; later Adds (also negative) return the new total."""
    assert await kv.call("Add", key="n", value=5) == {"value": 5}
    assert await kv.call("Add", key="n", value=-7) == {"value": -2}
    assert await kv.call("Get", key="n") == {"value": "-2", "exists": True}


async def test_add_reads_integers_set_as_strings(kv: KvClient) -> None:
    """A value stored with Set as canonical decimal text counts as an integer."""
    await kv.call("Set", key="n", value="41", expires=0)
    assert (await kv.call("Add", key="n", value=1))["value"] == 42


@pytest.mark.parametrize("text", ["abc", "", "1.5", " 1", "01", "+1", "-0", "99999999999999999999"])
async def test_add_to_a_non_integer_is_refused(kv: KvClient, text: str) -> None:
    """Add on a value that is not a canonical 64-bit integer fails and leaves it unchanged."""
    await kv.call("Set", key="n", value=text, expires=0)
    error = await kv.error("Add", key="n", value=1)
    assert "not a 64-bit integer" in error
    assert "Add for actor kvclient" in error  # the context: operation and actor
    assert (await kv.call("Get", key="n"))["value"] == text


async def test_add_that_would_overflow_is_refused(kv: KvClient) -> None:
    """A total beyond 64 bits is an error and the stored value stays."""
    await kv.call("Add", key="n", value=2**63 - 1)
    assert "overflow" in await kv.error("Add", key="n", value=1)
    assert (await kv.call("Get", key="n"))["value"] == str(2**63 - 1)
    assert "64-bit" in await kv.error("Add", key="m", value=2**63)


async def test_concurrent_adds_lose_no_increment(kv: KvClient) -> None:
    """Two hundred Adds in parallel sum exactly: Add is atomic on every back end."""
    results = await asyncio.gather(*(kv.call("Add", key="hits", value=1) for _ in range(200)))
    assert sorted(r["value"] for r in results) == list(range(1, 201))
    assert (await kv.call("Get", key="hits"))["value"] == "200"


# Del, Clear, KeyExists ---------------------------------------------------------------------


async def test_del_removes_any_kind_and_echoes_the_key(kv: KvClient) -> None:
    """Del answers {key} and removes strings, lists and sets; a missing key is fine."""
    await kv.call("Set", key="s", value="v", expires=0)
    await kv.call("Push", key="l", value="v")
    await kv.call("SetAdd", key="t", value="v")
    for key in ("s", "l", "t", "missing"):
        assert await kv.call("Del", key=key) == {"key": key}
        assert (await kv.call("KeyExists", key=key))["exists"] is False


async def test_clear_empties_a_list(kv: KvClient) -> None:
    """Clear answers {key}; the list is empty (and so no longer exists) afterwards."""
    for item in "abc":
        await kv.call("Push", key="l", value=item)
    assert await kv.call("Clear", key="l") == {"key": "l"}
    assert await kv.call("Range", key="l", start=0, stop=-1) == {"values": []}
    assert (await kv.call("Push", key="l", value="new"))["newCount"] == 1


async def test_key_exists_sees_every_kind(kv: KvClient) -> None:
    """KeyExists answers {value: "", exists} for strings, lists, sets and missing keys."""
    await kv.call("Set", key="s", value="", expires=0)
    await kv.call("Push", key="l", value="x")
    await kv.call("SetAdd", key="t", value="x")
    for key in ("s", "l", "t"):
        assert await kv.call("KeyExists", key=key) == {"value": "", "exists": True}
    assert await kv.call("KeyExists", key="none") == {"value": "", "exists": False}


# lists -------------------------------------------------------------------------------------


async def test_push_appends_and_counts(kv: KvClient) -> None:
    """Push appends at the end and answers the new length."""
    counts = [(await kv.call("Push", key="l", value=v))["newCount"] for v in "abcd"]
    assert counts == [1, 2, 3, 4]
    assert (await kv.call("Range", key="l", start=0, stop=-1))["values"] == list("abcd")


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (0, -1, "abcde"),
        (0, 0, "a"),
        (1, 3, "bcd"),  # stop is inclusive
        (-2, -1, "de"),
        (-100, 1, "ab"),
        (2, 100, "cde"),
        (3, 1, ""),
        (5, 10, ""),
        (-1, -2, ""),
        (0, -6, ""),
        (-5, -5, "a"),
        (2**63 - 1, 2**63 - 1, ""),
        (-(2**63), 2**63 - 1, "abcde"),
    ],
)
async def test_range_follows_redis_lrange_indices(
    kv: KvClient, start: int, stop: int, expected: str
) -> None:
    """Range takes LRANGE's indices: stop inclusive, negatives from the end, clamped."""
    for item in "abcde":
        await kv.call("Push", key="l", value=item)
    reply = await kv.call("Range", key="l", start=start, stop=stop)
    assert reply == {"values": list(expected)}


async def test_range_of_a_missing_list_is_empty(kv: KvClient) -> None:
    """Range on a missing key answers {values: []}."""
    assert await kv.call("Range", key="none", start=0, stop=-1) == {"values": []}


async def test_list_item_delete_removes_every_occurrence(kv: KvClient) -> None:
    """ListItemDelete removes all items equal to the value and answers the new length."""
    for item in ["a", "b", "a", "c", "a"]:
        await kv.call("Push", key="l", value=item)
    assert await kv.call("ListItemDelete", key="l", value="a") == {"newCount": 2}
    assert (await kv.call("Range", key="l", start=0, stop=-1))["values"] == ["b", "c"]
    assert await kv.call("ListItemDelete", key="l", value="zzz") == {"newCount": 2}
    assert await kv.call("ListItemDelete", key="missing", value="a") == {"newCount": 0}


async def test_deleting_the_last_item_removes_the_list(kv: KvClient) -> None:
    """A list that becomes empty no longer exists."""
    await kv.call("Push", key="l", value="only")
    assert await kv.call("ListItemDelete", key="l", value="only") == {"newCount": 0}
    assert (await kv.call("KeyExists", key="l"))["exists"] is False
    await kv.call("Set", key="l", value="string now", expires=0)  # no leftover list
    assert (await kv.call("Get", key="l"))["value"] == "string now"


# sets --------------------------------------------------------------------------------------


async def test_set_add_and_remove_answer_the_new_size(kv: KvClient) -> None:
    """SetAdd and SetRemove answer the set's size afterwards; duplicates do not count."""
    assert await kv.call("SetAdd", key="s", value="x") == {"newCount": 1}
    assert await kv.call("SetAdd", key="s", value="y") == {"newCount": 2}
    assert await kv.call("SetAdd", key="s", value="x") == {"newCount": 2}
    assert await kv.call("SetRemove", key="s", value="x") == {"newCount": 1}
    assert await kv.call("SetRemove", key="s", value="absent") == {"newCount": 1}
    assert await kv.call("SetRemove", key="missing", value="x") == {"newCount": 0}
    assert await kv.call("SetRemove", key="s", value="y") == {"newCount": 0}
    assert (await kv.call("KeyExists", key="s"))["exists"] is False


async def test_set_query_answers_sorted_members(kv: KvClient) -> None:
    """SetQuery answers every member, sorted; a missing set is empty."""
    for member in ["pear", "apple", "fig"]:
        await kv.call("SetAdd", key="s", value=member)
    assert await kv.call("SetQuery", key="s") == {"values": ["apple", "fig", "pear"]}
    assert await kv.call("SetQuery", key="none") == {"values": []}


async def test_set_union_and_intersection(kv: KvClient) -> None:
    """SetUnion and SetIntersection combine sets, sorted; missing keys are empty sets."""
    for member in "abc":
        await kv.call("SetAdd", key="one", value=member)
    for member in "bcd":
        await kv.call("SetAdd", key="two", value=member)
    assert await kv.call("SetUnion", keys=["one", "two"]) == {"values": list("abcd")}
    assert await kv.call("SetIntersection", keys=["one", "two"]) == {"values": list("bc")}
    assert await kv.call("SetUnion", keys=["one", "none"]) == {"values": list("abc")}
    assert await kv.call("SetIntersection", keys=["one", "none"]) == {"values": []}
    assert await kv.call("SetIntersection", keys=["one", "one"]) == {"values": list("abc")}
    assert await kv.call("SetUnion", keys=[]) == {"values": []}
    assert await kv.call("SetIntersection", keys=[]) == {"values": []}


# kinds and bad requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "operation", "fields", "holds"),
    [
        ("list", "Get", {"key": "k"}, "list"),
        ("set", "Add", {"key": "k", "value": 1}, "set"),
        ("string", "Range", {"key": "k", "start": 0, "stop": -1}, "string"),
        ("set", "Push", {"key": "k", "value": "x"}, "set"),
        ("string", "ListItemDelete", {"key": "k", "value": "x"}, "string"),
        ("list", "SetAdd", {"key": "k", "value": "x"}, "list"),
        ("string", "SetRemove", {"key": "k", "value": "x"}, "string"),
        ("list", "SetQuery", {"key": "k"}, "list"),
        ("string", "SetUnion", {"keys": ["other", "k"]}, "string"),
        ("list", "SetIntersection", {"keys": ["missing", "k"]}, "list"),
    ],
)
async def test_an_operation_on_another_kind_is_refused(
    kv: KvClient, setup: str, operation: str, fields: dict[str, object], holds: str
) -> None:
    """Each operation refuses a key of another kind with the same message on every back end."""
    if setup == "string":
        await kv.call("Set", key="k", value="text", expires=0)
    elif setup == "list":
        await kv.call("Push", key="k", value="item")
    else:
        await kv.call("SetAdd", key="k", value="member")
    error = await kv.error(operation, **fields)
    assert f"key 'k' holds a {holds}, but {operation} works on a" in error
    assert (await kv.call("KeyExists", key="k"))["exists"] is True


async def test_a_malformed_payload_is_an_error_reply_and_the_actor_goes_on(kv: KvClient) -> None:
    """Garbage, a wrong field type or a missing field is an error reply, never a crash."""
    for payload in (b"\xc1", b"not msgpack at all", msgpack.packb([1, 2, 3])):
        with pytest.raises(KvError, match="Get"):
            await kv.raw("Get", payload)
    assert "'value'" in await kv.error("Add", key="n", value="one")
    assert "'key'" in await kv.error("Get")
    assert await kv.call("Add", key="n", value=1) == {"value": 1}


async def test_an_unknown_operation_is_refused_with_the_list(kv: KvClient) -> None:
    """An operation the contract lacks is an error naming the fourteen that exist."""
    error = await kv.error("Increment", key="n")
    assert "no operation 'Increment'" in error
    assert "SetIntersection" in error
