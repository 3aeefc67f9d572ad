"""Application specs: what ``wascc apply`` takes, checked before anything is stored.

::

    name: shop                      # 1-63 of a-z 0-9 -, starting with a letter
    version: 1.4.0                  # optional, any text (shown, not compared)
    actors:
      - module: ./api_s.wasm        # a signed actor: a file (relative to the spec) or oci://
        replicas: 2                 # on 2 hosts; default 1, 0 stops it everywhere
        constraints: {zone: eu}     # labels a host must carry to run it
    providers:                      # loaded on every host whose labels fit
      - path: keyvalue              # a built-in provider, or a provider module (file, oci://)
        constraints: {role: store}
        config: {}                  # a built-in's config, as in a manifest
    bindings:                       # made once in the lattice, where the actor runs
      - actor: ./api_s.wasm         # its module as written above, its key or its name
        capability: wascc:http_server
        values: {PORT: "8080"}      # optional, as in a manifest; binding: optional too

An actor runs at most once per host, so replicas are spread over that many hosts. Problems
are collected and named by entry path, as for a manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from wascc.host.capabilities import BUILTIN_CONTRACTS, BUILTINS
from wascc.host.errors import ManifestError
from wascc.host.manifest import in_file_order
from wascc.host.manifest_check import Checker, RegistryAccess
from wascc.host.manifest_loader import read_document
from wascc.host.manifest_schema import Problem, _Fields, expand_env
from wascc.keys.claims import Claims, validate_module
from wascc.keys.errors import WasccError

__all__ = ["AppActor", "AppBinding", "AppInvalid", "AppProvider", "AppSpec", "read_app"]

_TOP: Final = {"name", "version", "actors", "providers", "bindings"}
_PROVIDER_KEYS: Final = {"path", "binding_name", "config", "constraints"}
_ACTOR_KEYS: Final = {"module", "replicas", "constraints"}
_BINDING_KEYS: Final = {"actor", "capability", "binding", "values"}
_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,62}")
MAX_REPLICAS: Final = 1000


class AppInvalid(ManifestError):
    """The spec has problems; ``problems`` lists them all, ``file`` names the spec."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  {p.render(file)}" for p in problems)
        super().__init__(f"{file} has {len(problems)} {noun}:\n{lines}")


@dataclass(frozen=True)
class AppBinding:
    """A binding the reconciler makes wherever its actor runs."""

    contract: str
    binding: str = "default"
    values: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"contract": self.contract, "binding": self.binding, "values": dict(self.values)}


@dataclass(frozen=True)
class AppActor:
    """One actor of an application: its verified module, where it should run and what it
    is bound to."""

    claims: Claims
    module: bytes = field(repr=False, compare=False)
    source: str  # the spec's ``module`` as written (file or oci:// reference)
    replicas: int = 1
    constraints: Mapping[str, str] = field(default_factory=dict)
    bindings: tuple[AppBinding, ...] = ()

    @property
    def key(self) -> str:
        return self.claims.subject

    @property
    def digest(self) -> str:
        """The signed module's SHA-256 (the claims' hash leaves the signature out, and two
        signings of one module, say two revisions, share it)."""
        return hashlib.sha256(self.module).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The actor as the store keeps it (the module itself is kept apart, by hash)."""
        return {
            "key": self.key,
            "name": self.claims.name or "",
            "rev": self.claims.rev if self.claims.rev is not None else 0,
            "hash": self.claims.hash,
            "module": self.digest,
            "source": self.source,
            "replicas": self.replicas,
            "constraints": dict(self.constraints),
            "bindings": [binding.describe() for binding in self.bindings],
        }


@dataclass(frozen=True)
class AppProvider:
    """A provider the application needs on every host whose labels fit: a built-in one (by
    name, with its config) or a provider module."""

    name: str  # as written
    contract: str
    binding: str = "default"
    config: Mapping[str, Any] = field(default_factory=dict)
    constraints: Mapping[str, str] = field(default_factory=dict)
    module: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """The module's SHA-256 (``""`` for a built-in provider)."""
        return hashlib.sha256(self.module).hexdigest() if self.module is not None else ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "contract": self.contract,
            "binding": self.binding,
            "config": dict(self.config),
            "constraints": dict(self.constraints),
            "module": self.digest,
        }


@dataclass(frozen=True)
class AppSpec:
    """A checked application spec."""

    name: str
    version: str
    actors: tuple[AppActor, ...]
    providers: tuple[AppProvider, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "actors": [actor.describe() for actor in self.actors],
            "providers": [provider.describe() for provider in self.providers],
        }


def read_app(
    file: Path,
    *,
    expand: bool = False,
    environ: Mapping[str, str] | None = None,
    registry: RegistryAccess | None = None,
    trusted_issuers: frozenset[str] | None = None,
) -> AppSpec:
    """Read and check the spec ``file``; ``AppInvalid`` lists every problem. Modules are read
    (or pulled, with ``registry``) and verified like a manifest's actors."""
    shown = str(file)
    data, problems = read_document(file)
    if problems:
        raise AppInvalid(shown, problems)
    expanded: set[str] = set()
    if expand:
        data, expanded, problems = expand_env(data, environ)
    fields = _Fields(expanded)
    checker = Checker(file.resolve().parent, registry=registry, issuers=trusted_issuers)
    name, version = "", ""
    actors: list[AppActor] = []
    providers: list[AppProvider] = []
    top = fields.mapping(data, "", _TOP, {"name", "actors"}) if data is not None else None
    if data is None:
        fields.bad("", "the spec is empty", "give it a name and actors")
    if top is not None:
        name = _name(fields, top.get("name"))
        if "version" in top:
            version = _version(fields, top["version"])
        for index, item in _entries(fields, top, "actors", "{module, replicas}"):
            actor = _actor(fields, checker, item, index)
            if actor is None:
                continue
            twin = next((a for a in actors if a.key == actor.key), None)
            if twin is not None:
                fields.bad(
                    f"actors[{index}]",
                    f"actor {_label(actor.claims)} is listed twice",
                    "list each actor once; replicas runs it on more hosts",
                )
                continue
            actors.append(actor)
        for index, item in _entries(fields, top, "providers", "{path, constraints}"):
            provider = _provider(fields, checker, item, index)
            if provider is None:
                continue
            if any(
                (p.contract, p.binding) == (provider.contract, provider.binding) for p in providers
            ):
                fields.bad(
                    f"providers[{index}]",
                    f"{provider.contract} (binding {provider.binding!r}) is listed twice",
                    "give one of them another binding_name",
                )
                continue
            providers.append(provider)
        for index, item in _entries(fields, top, "bindings", "{actor, capability}"):
            _binding(fields, actors, item, index)
    found = [*problems, *fields.problems, *checker.problems]
    if found:
        raise AppInvalid(shown, in_file_order(found))
    return AppSpec(name, version, tuple(actors), tuple(providers))


def _entries(
    fields: _Fields, top: Mapping[str, Any], section: str, shape: str
) -> list[tuple[int, object]]:
    """The entries of the list ``section`` (none if absent), with their index; a problem
    if it is not a list."""
    listed = top.get(section)
    if listed is None:
        return []
    if not isinstance(listed, list):
        fields.bad(section, "expected a list", f"write a YAML list of {shape}")
        return []
    return list(enumerate(listed))


def _name(fields: _Fields, value: object) -> str:
    text = fields.string(value, "name") if value is not None else None
    if text is not None and not _NAME.fullmatch(text):
        fields.bad(
            "name",
            f"{text!r} is not an application name",
            "use 1 to 63 characters of a-z, 0-9 and -, starting with a letter",
        )
        return ""
    return text or ""


def _version(fields: _Fields, value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return fields.string(value, "version") or ""


def _actor(fields: _Fields, checker: Checker, item: object, index: int) -> AppActor | None:
    path = f"actors[{index}]"
    entry = fields.mapping(item, path, _ACTOR_KEYS, {"module"})
    if entry is None or "module" not in entry:
        return None
    source = fields.string(entry["module"], f"{path}.module")
    replicas = 1
    if "replicas" in entry:
        number = fields.number(
            entry["replicas"],
            f"{path}.replicas",
            integer=True,
            minimum=0,
            maximum=MAX_REPLICAS,
            why="one replica per host",
        )
        replicas = int(number) if number is not None else -1
    constraints = (
        fields.string_map(entry["constraints"], f"{path}.constraints")
        if "constraints" in entry
        else {}
    )
    if source is None or replicas < 0:
        return None
    loaded = checker.module(f"{path}.module", source)
    if loaded is None:
        return None
    module, _, shown, _ = loaded
    try:
        claims = validate_module(module, path=shown, trusted_issuers=checker.issuers)
    except WasccError as exc:
        fields.bad(f"{path}.module", str(exc), "re-sign it with `wascc claims sign`")
        return None
    if claims.provider:
        fields.bad(
            f"{path}.module",
            f"{shown} is signed as a capability provider (prov: true), not as an actor",
            "load providers with the spec's providers: (or a host's manifest), or, to run it "
            "as an actor, sign it again without --provider",
        )
        return None
    return AppActor(claims, module, source, replicas, constraints)


def _provider(fields: _Fields, checker: Checker, item: object, index: int) -> AppProvider | None:
    path = f"providers[{index}]"
    entry = fields.mapping(item, path, _PROVIDER_KEYS, {"path"})
    if entry is None or "path" not in entry:
        return None
    text = fields.string(entry["path"], f"{path}.path")
    binding = "default"
    if "binding_name" in entry:
        binding = (fields.string(entry["binding_name"], f"{path}.binding_name") or "").strip()
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        fields.bad(f"{path}.config", "expected a mapping", "write key: value")
        return None
    constraints = (
        fields.string_map(entry["constraints"], f"{path}.constraints")
        if "constraints" in entry
        else {}
    )
    if not text or not binding:
        return None
    before = len(checker.problems)
    capability = checker.capability(index, text, binding, config)
    for problem in checker.problems[before:]:  # the checker names manifest entries
        checker.problems[checker.problems.index(problem)] = dataclasses.replace(
            problem, path=problem.path.replace("capabilities[", "providers[", 1)
        )
    if capability is None:
        return None
    if capability.spec is not None and text not in BUILTINS and text not in BUILTIN_CONTRACTS:
        fields.bad(
            f"{path}.path",
            f"{text} is a Python provider: hosts load those only from their own manifest",
            "use a built-in provider or a provider module here, or list it in the manifests",
        )
        return None
    module = capability.wasm.module if capability.wasm is not None else None
    return AppProvider(text, capability.contract_id, binding, dict(config), constraints, module)


def _binding(fields: _Fields, actors: list[AppActor], item: object, index: int) -> None:
    """Check one binding and add it to its actor (``actors`` holds the checked ones)."""
    path = f"bindings[{index}]"
    entry = fields.mapping(item, path, _BINDING_KEYS, {"actor", "capability"})
    if entry is None or not {"actor", "capability"} <= set(entry):
        return
    ref = fields.string(entry["actor"], f"{path}.actor")
    contract = fields.string(entry["capability"], f"{path}.capability")
    name = "default"
    if "binding" in entry:
        name = (fields.string(entry["binding"], f"{path}.binding") or "default").strip()
    values = fields.string_map(entry["values"], f"{path}.values") if "values" in entry else {}
    if ref is None or contract is None:
        return
    position = next(
        (n for n, a in enumerate(actors) if ref.strip() in (a.source, a.key, a.claims.name)),
        None,
    )
    if position is None:
        fields.bad(
            f"{path}.actor",
            f"{ref!r} is not an actor of this application",
            "name one listed under actors: by its module as written, its key or its name",
        )
        return
    actor = actors[position]
    if contract not in actor.claims.caps:
        fields.bad(
            f"{path}.capability",
            f"actor {_label(actor.claims)} does not claim {contract}",
            f"re-sign it with --cap {contract}",
        )
        return
    if any((b.contract, b.binding) == (contract, name) for b in actor.bindings):
        fields.bad(path, f"{contract} (binding {name!r}) is bound twice", "bind it once")
        return
    bound = AppBinding(contract, name, values)
    actors[position] = dataclasses.replace(actor, bindings=(*actor.bindings, bound))


def _label(claims: Claims) -> str:
    return f"{claims.name or claims.subject} ({claims.subject})"
