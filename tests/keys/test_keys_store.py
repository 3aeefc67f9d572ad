"""The keys directory: where it is, file modes, listing and loading keys by seed, path or name."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wascc.keys.errors import KeyError_, KeyStoreError
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import keys_dir, list_keys, load_key, load_or_create, save_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$WASCC_KEYS names the keys directory."""
    monkeypatch.setenv("WASCC_KEYS", str(tmp_path / "elsewhere"))
    assert keys_dir() == tmp_path / "elsewhere"


def test_keys_dir_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $WASCC_KEYS the directory is ~/.wascc/keys (HOME redirected here)."""
    monkeypatch.delenv("WASCC_KEYS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keys_dir() == tmp_path / ".wascc" / "keys"


def test_save_is_private(tmp_path: Path) -> None:
    """A saved seed is NAME.nk, mode 0600, in a 0700 directory, holding just the seed."""
    pair = KeyPair.generate("account")
    path = save_key(pair, "acct")
    assert path == tmp_path / "wascc-keys" / "acct.nk"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert path.read_text() == pair.seed + "\n"


def test_save_never_overwrites() -> None:
    """Saving under an existing name fails rather than replacing an identity."""
    save_key(KeyPair.generate("module"), "m")
    with pytest.raises(KeyStoreError, match="already exists"):
        save_key(KeyPair.generate("module"), "m")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "sp ace"])
def test_save_rejects_unsafe_names(name: str) -> None:
    """Names that could leave the directory or hide the file are refused."""
    with pytest.raises(KeyStoreError, match="invalid key name"):
        save_key(KeyPair.generate("module"), name)


def test_save_into_unwritable_place(tmp_path: Path) -> None:
    """A keys directory that cannot be created is a KeyStoreError, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KeyStoreError, match="cannot write"):
        save_key(KeyPair.generate("module"), "m", directory=blocker / "sub")


def test_list_shows_public_keys_only(tmp_path: Path) -> None:
    """Listing returns name, kind and public key, sorted, skipping unreadable files."""
    assert list_keys() == []
    account, module = KeyPair.generate("account"), KeyPair.generate("module")
    save_key(module, "b_module")
    save_key(account, "a_account")
    (tmp_path / "wascc-keys" / "broken.nk").write_text("not a seed\n")
    listed = list_keys()
    assert [(k.name, k.kind, k.public_key) for k in listed] == [
        ("a_account", "account", account.public_key),
        ("b_module", "module", module.public_key),
    ]
    assert not any(hasattr(k, "seed") for k in listed)


def test_load_by_seed_path_and_name(tmp_path: Path) -> None:
    """A key loads from its seed, from a path to its .nk file, or from its saved name."""
    pair = KeyPair.generate("account")
    path = save_key(pair, "mine")
    elsewhere = tmp_path / "copy.nk"
    elsewhere.write_text(f"  {pair.seed}\n\n")
    assert load_key(pair.seed) == pair
    assert load_key(str(path)) == pair
    assert load_key(str(elsewhere)) == pair
    assert load_key("mine") == pair


def test_load_errors_never_echo_seeds(tmp_path: Path) -> None:
    """A broken seed or file is reported clearly and the seed never appears in the message."""
    seed = KeyPair.generate("account").seed
    broken = seed[:20] + ("A" if seed[20] != "A" else "B") + seed[21:]
    with pytest.raises(KeyError_, match="checksum") as info:
        load_key(broken)
    assert broken not in str(info.value)
    bad_file = tmp_path / "bad.nk"
    bad_file.write_text(broken)
    with pytest.raises(KeyError_, match=r"bad\.nk: seed has a bad checksum") as info:
        load_key(str(bad_file))
    assert broken not in str(info.value)


def test_load_unknown_sources() -> None:
    """Unknown names and missing files say what was expected."""
    with pytest.raises(KeyStoreError, match="see `wascc keys list`"):
        load_key("nobody")
    with pytest.raises(KeyStoreError, match="cannot read"):
        load_key("/nonexistent/x.nk")
    with pytest.raises(KeyError_, match="not a seed"):
        load_key("what is this?")
    with pytest.raises(KeyError_, match="that is a public key"):
        load_key(KeyPair.generate("account").public_key)


def test_load_or_create_reuses(tmp_path: Path) -> None:
    """The first call generates and saves; later calls return the same key."""
    first, path, created = load_or_create("account", "account")
    again, same_path, created_again = load_or_create("account", "account")
    assert (created, created_again) == (True, False)
    assert first == again
    assert path == same_path == tmp_path / "wascc-keys" / "account.nk"
    with pytest.raises(KeyStoreError, match="holds an account key, expected a module key"):
        load_or_create("account", "module")
