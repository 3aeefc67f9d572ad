"""Which provider a manifest's capability entry names, and how that provider is built.

A capability's ``path`` is a built-in name (``http_server``, ``logging``, ``keyvalue``,
``messaging``; the contract ids ``wascc:http_server`` … and their ``wasmcloud:*`` twins
``wasmcloud:httpserver`` … are accepted too) or a Python import
path ``package.module:Class``. Resolving imports the class but builds nothing, so
``wascc validate`` has no side effects: the constructor's signature is enough to check the
entry's ``config``. Built-in packages are imported lazily, so a provider package that is not
installed only fails the manifests that use it.

A provider class may declare the binding values it reads (``binding_values``, see
``host.typing.Provider``); ``ProviderSpec.binding_values`` holds the declaration, checked.
A contract id a user typed that no provider serves gets a did-you-mean (``contract_hint``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wascc.host.generations import TWIN_OF
from wascc.host.typing import BindingValue, Provider
from wascc.keys.suggest import CONTRACT_CUTOFF, did_you_mean

__all__ = [
    "BUILTINS",
    "BUILTIN_CONTRACTS",
    "ProviderLookupError",
    "ProviderSpec",
    "contract_hint",
    "declared_values",
    "resolve_provider",
]

BUILTINS: Mapping[str, tuple[str, str]] = {
    "http_server": ("wascc.providers.http", "wascc:http_server"),
    "logging": ("wascc.providers.logging_provider", "wascc:logging"),
    "keyvalue": ("wascc.providers.keyvalue", "wascc:keyvalue"),
    "messaging": ("wascc.providers.messaging", "wascc:messaging"),
}
"""Built-in name → (module holding the provider class, contract it serves)."""

_WASCC_CONTRACTS = frozenset({*(contract for _, contract in BUILTINS.values()), "wascc:extras"})
BUILTIN_CONTRACTS: frozenset[str] = _WASCC_CONTRACTS | {
    TWIN_OF[contract] for contract in _WASCC_CONTRACTS
}
"""Every contract a host serves with providers of its own (``wascc:extras`` is built in),
and their ``wasmcloud:*`` twins, which the same providers serve (``host.generations``)."""

_BY_CONTRACT = {contract: name for name, (_, contract) in BUILTINS.items()} | {
    TWIN_OF[contract]: name for name, (_, contract) in BUILTINS.items()
}
_EXTRAS_NAMES = frozenset({"extras", "wascc:extras", TWIN_OF["wascc:extras"]})
_METHODS = ("start", "stop", "bind_actor", "remove_actor", "handle")
_DATA_DIR = "data_dir"


class ProviderLookupError(Exception):
    """A capability entry names no usable provider: ``message`` says why, ``fix`` what to do."""

    def __init__(self, message: str, fix: str) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}; {fix}")


@dataclass(frozen=True)
class ProviderSpec:
    """A resolved provider class: what it serves and which constructor keywords it takes."""

    name: str
    cls: type[Any]
    contract_id: str
    parameters: frozenset[str]
    required: frozenset[str]
    any_keyword: bool
    binding_values: tuple[BindingValue, ...] | None = None  # None: declares none

    def check_config(self, config: Mapping[str, object]) -> list[str]:
        """Problems with ``config`` as constructor keywords (unknown or missing ones)."""
        problems: list[str] = []
        if not self.any_keyword:
            allowed = sorted(self.parameters - {_DATA_DIR})
            for key in config:
                if key not in self.parameters or key == _DATA_DIR:
                    known = ", ".join(allowed) or "none"
                    problems.append(
                        f"{key}: {self.name} takes no setting {key!r} (it takes: {known})"
                    )
        for key in sorted(self.required - set(config) - {_DATA_DIR}):
            problems.append(f"{key}: {self.name} needs the setting {key!r}")
        values_check = getattr(self.cls, "check_config", None)  # the class's own (optional)
        if not problems and callable(values_check):
            problems.extend(str(problem) for problem in values_check(config))
        return problems

    def build(self, config: Mapping[str, object], data_dir: Path) -> Provider:
        """A new provider; ``data_dir`` is passed to constructors that take one (key-value
        stores keep their files there)."""
        kwargs = dict(config)
        if _DATA_DIR in self.parameters:
            kwargs[_DATA_DIR] = data_dir
        provider = self.cls(**kwargs)
        if not isinstance(provider, Provider):
            raise TypeError(f"{self.name} did not make a provider (got {type(provider)!r})")
        return provider


def resolve_provider(name: str) -> ProviderSpec:
    """The provider class ``name`` stands for; ``ProviderLookupError`` if there is none."""
    if name in _EXTRAS_NAMES:  # tried as the module "wascc" otherwise
        raise ProviderLookupError(
            f"{name} is built into the host: every host serves wascc:extras and "
            "wasmcloud:extras without a provider",
            "remove this entry; an actor that claims the contract is linked to it by itself",
        )
    builtin = name if name in BUILTINS else _BY_CONTRACT.get(name)
    if builtin is not None:
        module_name, contract = BUILTINS[builtin]
        module = _import(module_name, name, builtin=True)
        return _spec(name, _find_by_contract(module, contract, name), contract)
    known = ", ".join(BUILTINS)
    if ":" not in name:
        raise ProviderLookupError(
            f"{name!r} is neither a built-in provider nor a Python import path"
            + did_you_mean(name, BUILTINS),
            f"use one of {known}, or package.module:Class",
        )
    hint = contract_hint(name, _BY_CONTRACT)
    if hint:  # "wascc:httpserver" would otherwise be tried as the module "wascc"
        raise ProviderLookupError(
            f"{name!r} is not a built-in provider{hint}",
            f"use one of {known} (or its contract id), or package.module:Class",
        )
    module_name, _, attr = name.partition(":")
    module = _import(module_name, name, builtin=False)
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise ProviderLookupError(
            f"module {module_name} has no class {attr!r}", "check the spelling of the class name"
        )
    declared = getattr(cls, "contract_id", None)
    if not isinstance(declared, str) or not declared:
        raise ProviderLookupError(
            f"{name} has no contract_id class attribute",
            'give the class a contract_id such as "acme:payments"',
        )
    return _spec(name, cls, declared)


def contract_hint(contract: str, known: Iterable[str]) -> str:
    """``" (did you mean wascc:http_server?)"`` when ``contract`` looks like a typo of one
    of the ``known`` contract ids, else ``""``."""
    return did_you_mean(contract, known, cutoff=CONTRACT_CUTOFF)


def declared_values(cls: type[Any], name: str | None = None) -> tuple[BindingValue, ...] | None:
    """The binding values the provider class ``cls`` declares, or ``None`` if it declares
    none; ``ProviderLookupError`` if its declaration is not a sequence of ``BindingValue``."""
    declared = getattr(cls, "binding_values", None)
    if declared is None:
        return None
    if (
        isinstance(declared, str)
        or not isinstance(declared, Sequence)
        or not all(isinstance(value, BindingValue) for value in declared)
    ):
        raise ProviderLookupError(
            f"{name or cls.__name__}.binding_values is not a sequence of BindingValue",
            "declare each value as host.typing.BindingValue(name, meaning, default, allowed)",
        )
    return tuple(declared)


def _import(module_name: str, name: str, *, builtin: bool) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if builtin:
            raise ProviderLookupError(
                f"the built-in provider {name} is not available in this installation ({exc})",
                "reinstall wascc-py, or remove this capability",
            ) from None
        raise ProviderLookupError(
            f"cannot import {module_name} ({exc})",
            "check the module path, and that it is on PYTHONPATH",
        ) from None
    except Exception as exc:  # the module itself failed while importing
        raise ProviderLookupError(
            f"importing {module_name} failed: {type(exc).__name__}: {exc}",
            "fix the module",
        ) from None


def _find_by_contract(module: Any, contract: str, name: str) -> type[Any]:
    """The class a built-in package exports for ``contract`` (its name is the package's
    business; the contract it serves is what the manifest means). When several do, the most
    general one (a base of the others, e.g. not an in-memory-only variant)."""
    exported = getattr(module, "__all__", None) or dir(module)
    found = [
        candidate
        for candidate in (getattr(module, attr, None) for attr in exported)
        if isinstance(candidate, type) and getattr(candidate, "contract_id", None) == contract
    ]
    for candidate in found:
        if not any(other is not candidate and issubclass(candidate, other) for other in found):
            return candidate
    raise ProviderLookupError(
        f"the built-in provider {name} has no class serving {contract}",
        "reinstall wascc-py, or remove this capability",
    )


def _spec(name: str, cls: type[Any], contract: str) -> ProviderSpec:
    missing = [m for m in _METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ProviderLookupError(
            f"{name} is not a provider: it lacks {', '.join(missing)}",
            "implement the host.typing.Provider protocol",
        )
    values = declared_values(cls, name)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # builtins and some C types have no signature
        return ProviderSpec(
            name, cls, contract, frozenset(), frozenset(), any_keyword=True, binding_values=values
        )
    params = signature.parameters.values()
    keywords = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return ProviderSpec(
        name,
        cls,
        contract,
        frozenset(p.name for p in keywords),
        frozenset(p.name for p in keywords if p.default is p.empty),
        any_keyword=any(p.kind is p.VAR_KEYWORD for p in params),
        binding_values=values,
    )
