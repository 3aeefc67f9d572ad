"""The public face of `keys`: exported names, module hygiene and layering."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from wascc import keys

PACKAGE = Path(keys.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_public_names() -> None:
    """`keys` exports exactly the documented API, and every name resolves."""
    assert set(keys.__all__) == {
        "KEY_KINDS",
        "WASMCLOUD_CAPABILITIES",
        "WELL_KNOWN_CAPABILITIES",
        "AmbiguousClaims",
        "BadHeader",
        "BadSignature",
        "Claims",
        "ClaimsError",
        "DecodedToken",
        "Duration",
        "HashMismatch",
        "Inspection",
        "InvalidIssuerOrSubject",
        "KeyError_",
        "KeyKind",
        "KeyPair",
        "KeyStoreError",
        "ModuleBytes",
        "NotAModule",
        "SavedKey",
        "TokenExpired",
        "TokenMalformed",
        "TokenMissing",
        "TokenNotYetValid",
        "UntrustedIssuer",
        "WasccError",
        "WrongKeyKind",
        "decode_public_key",
        "decode_seed",
        "decode_token",
        "embed_token",
        "encode_token",
        "exports",
        "find_token",
        "inspect_module",
        "is_public_key",
        "keys_dir",
        "list_keys",
        "load_key",
        "load_or_create",
        "module_hash",
        "save_key",
        "sign_module",
        "strip_token",
        "validate_module",
        "verify",
        "verify_token",
    }
    for name in keys.__all__:
        assert hasattr(keys, name), name


@pytest.mark.parametrize("name", MODULES)
def test_module_hygiene(name: str) -> None:
    """Each module has a docstring and an `__all__` whose names all exist."""
    module = importlib.import_module(f"wascc.keys.{name}")
    assert module.__doc__
    for exported in module.__all__:
        assert hasattr(module, exported), f"wascc.keys.{name}.{exported}"


@pytest.mark.parametrize("name", MODULES)
def test_keys_knows_nothing_of_the_host(name: str) -> None:
    """`keys` is the lowest layer: it imports nothing from host, providers or actors."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m.removeprefix("wascc.").split(".")[0] for m in imported} & {
        "host",
        "providers",
        "actors",
    }


def test_errors_share_one_root() -> None:
    """Every exception `keys` exports descends from WasccError."""
    for name in keys.__all__:
        value = getattr(keys, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, keys.WasccError), name
