"""The keys directory: seeds saved as ``NAME.nk`` files, readable by their owner only.

The directory is ``$WASCC_KEYS`` or ``~/.wascc/keys``. ``wascc claims sign`` keeps the account
and module keys it generates here, so signing the same actor again reuses its identity (the
actor's public key is its address everywhere; a new key would make it another actor).

Seeds are secrets: files are created 0600 in a 0700 directory, and no message or log line ever
contains one. A source that looks like a seed is never echoed back, even when it is malformed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wascc.keys.errors import KeyError_, KeyStoreError, WrongKeyKind
from wascc.keys.nkeys import KeyKind, KeyPair, is_public_key, with_article

__all__ = [
    "KEYS_ENV",
    "SavedKey",
    "keys_dir",
    "list_keys",
    "load_key",
    "load_key_of",
    "load_or_create",
    "save_key",
]

KEYS_ENV: Final = "WASCC_KEYS"
_SUFFIX: Final = ".nk"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SEEDLIKE: Final = re.compile(r"S[A-Z2-7]{40,80}")

logger = logging.getLogger("wascc.keys")


@dataclass(frozen=True)
class SavedKey:
    """A key in the keys directory, without its seed (``load_key(name)`` reads that)."""

    name: str
    path: Path
    kind: KeyKind
    public_key: str


def keys_dir() -> Path:
    """Where keys are saved: ``$WASCC_KEYS``, else ``~/.wascc/keys``."""
    configured = os.environ.get(KEYS_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".wascc" / "keys"


def _check_name(name: str) -> None:
    if _NAME.fullmatch(name) is None:
        raise KeyStoreError(
            f"invalid key name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )


def save_key(pair: KeyPair, name: str, *, directory: Path | None = None) -> Path:
    """Write ``pair``'s seed to ``NAME.nk`` (mode 0600) and return the path.

    Never overwrites: an existing file raises ``KeyStoreError``, since replacing a seed would
    silently change the identity of everything signed with it.
    """
    _check_name(name)
    folder = keys_dir() if directory is None else directory
    path = folder / f"{name}{_SUFFIX}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: fail instead of replacing; 0o600 at creation, so the seed is never readable
        # by others, not even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStoreError(f"{path} already exists; choose another name") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(pair.seed + "\n")
    logger.info("saved %s key %s to %s", pair.kind, pair.public_key, path)
    return path


def _read_seed_file(path: Path) -> KeyPair:
    try:
        text = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        raise KeyStoreError(f"{path} does not hold an nkey seed") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:  # a NUL byte or a lone surrogate: no file has such a name
        raise KeyStoreError(
            f"cannot read {str(path)!r}: no file has such a name (a NUL byte or a lone "
            "surrogate in it)"
        ) from None
    try:
        return KeyPair.from_seed(text)
    except KeyError_ as exc:
        raise KeyError_(f"{path}: {exc}") from None


def list_keys(directory: Path | None = None) -> list[SavedKey]:
    """Every readable ``.nk`` file in the keys directory, sorted by name; others are skipped."""
    folder = keys_dir() if directory is None else directory
    if not folder.is_dir():
        return []
    found: list[SavedKey] = []
    for path in sorted(folder.glob(f"*{_SUFFIX}")):
        try:
            pair = _read_seed_file(path)
        except KeyError_ as exc:
            logger.warning("skipping %s", exc)
            continue
        found.append(SavedKey(path.stem, path, pair.kind, pair.public_key))
    return found


def _expanded(text: str) -> Path:
    """``text`` as a path with a leading ``~`` or ``~user`` expanded; ``KeyStoreError`` if
    there is no such home directory."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # pathlib's word for "~user of no user", or no home at all
        raise KeyStoreError(
            f"cannot read {text!r}: there is no home directory for its ~ part"
        ) from None


def load_key(source: str, *, directory: Path | None = None) -> KeyPair:
    """The key pair ``source`` names: a seed, a path to a ``.nk`` file, or a saved key's name.

    Tried in that order; a seed-like string that does not decode reports why (checksum,
    length) without being echoed.
    """
    text = source.strip()
    if _SEEDLIKE.fullmatch(text):
        return KeyPair.from_seed(text)
    path = _expanded(text)
    if path.is_file() or path.suffix == _SUFFIX or os.sep in text:
        return _read_seed_file(path)
    if is_public_key(text):
        raise KeyError_("that is a public key; pass the seed (S…) it comes from")
    if _NAME.fullmatch(text) is None:
        raise KeyError_("not a seed, a .nk file or the name of a saved key")
    folder = keys_dir() if directory is None else directory
    saved = folder / f"{text}{_SUFFIX}"
    if not saved.is_file():
        raise KeyStoreError(
            f"{text!r} is not a seed, a .nk file or a saved key (no {saved}); see `wascc keys list`"
        )
    return _read_seed_file(saved)


def load_key_of(source: str, kinds: Collection[KeyKind], *, base: Path | None = None) -> KeyPair:
    """``load_key(source)`` checked to be one of ``kinds``; ``WrongKeyKind`` ("it is a module
    key, not a server key") otherwise. A ``.nk`` file named relative to ``base`` (a
    manifest's directory) is found there."""
    relative = (base / _expanded(source)) if base is not None else None
    pair = load_key(str(relative) if relative is not None and relative.is_file() else source)
    if pair.kind not in kinds:
        wanted = " or ".join(with_article(k) for k in kinds)
        raise WrongKeyKind(f"it is {with_article(pair.kind)} key, not {wanted} key")
    return pair


def load_or_create(
    name: str, kind: KeyKind, *, directory: Path | None = None
) -> tuple[KeyPair, Path, bool]:
    """The saved key ``name``, generated and saved first if missing: ``(pair, path, created)``.

    A saved key of another kind raises ``KeyStoreError`` rather than being used in its place.
    """
    _check_name(name)
    folder = keys_dir() if directory is None else directory
    path = folder / f"{name}{_SUFFIX}"
    if path.exists():
        pair = _read_seed_file(path)
        if pair.kind != kind:
            raise KeyStoreError(
                f"{path} holds {with_article(pair.kind)} key, expected {with_article(kind)} key"
            )
        return pair, path, False
    pair = KeyPair.generate(kind)
    return pair, save_key(pair, name, directory=folder), True
