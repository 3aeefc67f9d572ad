"""A manifest's data (``host.manifest_loader`` reads it): ``${VAR}`` expansion, and the shape
of every entry.

This stage checks only what the file says (keys, types, ranges) and collects every problem it
finds instead of stopping at the first; ``host.manifest_check`` then checks what the entries
refer to (files, signatures, providers, ports). Problems carry the entry path users see in
messages, such as ``bindings[2].values.PORT``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from wascc.keys.nkeys import KeyKind, is_public_key, with_article
from wascc.keys.suggest import closest

__all__ = [
    "ACTOR_RANGES",
    "Problem",
    "RawActor",
    "RawBinding",
    "RawCapability",
    "RawLattice",
    "RawManifest",
    "RawRegistry",
    "RawTrust",
    "expand_env",
    "parse_document",
]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_TOP = {"labels", "lattice", "trust", "registry", "actors", "capabilities", "bindings"}
_NOTHING_TO_DO = (
    "list actors (signed modules) to run, capabilities (providers) to load, or a lattice "
    "section (or --lattice) to join"
)
_MODULE_KEYS = {"path", "max_instances", "max_queue", "memory_mb", "deadline", "fuel", "wasi"}
_ACTOR_KEYS = {*_MODULE_KEYS, "calls_actors"}
# A wasm provider (a signed module with prov: true) takes an actor's settings, and may name
# the contract it serves; a native provider takes none of those (checked later).
_CAPABILITY_KEYS = {"path", "binding_name", "config", "contract", *_MODULE_KEYS - {"path"}}
_BINDING_KEYS = {"actor", "capability", "binding", "values"}
_LATTICE_KEYS = {
    "url",
    "namespace",
    "labels",
    "rpc_timeout",
    "credentials",
    "host_key",
    "host_token",
    "trusted_hosts",
}
_TRUST_KEYS = {
    "issuers",
    "lattice_account",
    "hosts",
    "controllers",
    "insecure_lattice",
    "clock_skew",
    "replay_window",
}
_REGISTRY_KEYS = {"allow_latest", "insecure"}
# Per-actor settings: (integer?, minimum, maximum, why the maximum), as README.md says.
ACTOR_RANGES: dict[str, tuple[bool, float, float, str]] = {
    "max_instances": (True, 1, 1024, "each instance holds its own linear memory"),
    "max_queue": (True, 0, 100_000, "each waiting call holds its payload in memory"),
    "memory_mb": (False, 0.0625, 4096, "wasm32 linear memory cannot exceed 4096 MiB"),
    "deadline": (False, 0.001, 3600, "a call may take at most an hour"),
    "fuel": (True, 1, 2**63 - 1, "wasmtime counts fuel in a signed 64-bit integer"),
}
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_SUBJECT_TOKEN = re.compile(r"[^.*>\s]+")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: where (entry path, ``""`` for the whole file), what,
    and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def render(self, file: str) -> str:
        """``FILE: PATH: MESSAGE; FIX`` on one line."""
        where = f"{file}: {self.path}" if self.path else file
        return f"{where}: {self.message}" + (f"; {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class RawActor:
    """An ``actors`` entry as written: the module path and the per-actor settings given."""

    index: int
    path: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class RawCapability:
    """A ``capabilities`` entry as written."""

    index: int
    path: str
    binding: str
    config: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)  # a wasm provider's


@dataclass(frozen=True)
class RawBinding:
    """A ``bindings`` entry as written (``actor`` is a public key or a module path)."""

    index: int
    actor: str
    capability: str
    binding: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class RawLattice:
    """The ``lattice`` section: which lattice ``wascc up`` joins (the same settings as
    ``--lattice``, ``--namespace``, ``--label``, ``--rpc-timeout``, ``--lattice-creds``,
    ``--host-key`` and ``--trust-host``, which override it). ``credentials`` and ``host_key``
    are as written; the manifest resolves file paths against its own directory and checks
    both (``host_key`` becomes the key's seed)."""

    url: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    rpc_timeout: float | None = None
    credentials: str | None = None
    host_key: str | None = field(default=None, repr=False)
    trusted_hosts: tuple[str, ...] | None = None
    host_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RawTrust:
    """The ``trust`` section: the host's ``TrustPolicy`` as written (``--trust-issuer``,
    ``--lattice-account``, ``--trust-host``, ``--trust-controller``, ``--insecure-lattice``
    and ``--replay-window`` override it). ``lattice_account`` is a public key, or a seed,
    ``.nk`` file or saved name the manifest resolves (then the host vouches for itself)."""

    issuers: tuple[str, ...] | None = None
    lattice_account: str | None = field(default=None, repr=False)
    hosts: tuple[str, ...] = ()
    controllers: tuple[str, ...] = ()
    insecure_lattice: bool = False
    clock_skew: float | None = None
    replay_window: float | None = None
    account_seed: str | None = field(default=None, repr=False)  # set when resolved from a seed


@dataclass(frozen=True)
class RawRegistry:
    """The ``registry`` section: how ``oci://`` modules are pulled (``--allow-latest`` and
    ``--insecure`` override it). ``allow_latest``: a reference may name ``:latest`` (or no
    tag) without a digest; ``insecure``: registries are spoken to over plain HTTP."""

    allow_latest: bool = False
    insecure: bool = False


@dataclass
class RawManifest:
    """Every well-formed entry of the file, plus the problems found so far."""

    labels: dict[str, str] = field(default_factory=dict)
    lattice: RawLattice | None = None
    trust: RawTrust | None = None
    registry: RawRegistry | None = None
    actors: list[RawActor] = field(default_factory=list)
    capabilities: list[RawCapability] = field(default_factory=list)
    bindings: list[RawBinding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def expand_env(
    data: Any, environ: Mapping[str, str] | None = None
) -> tuple[Any, set[str], list[Problem]]:
    """Replace ``${VAR}`` and ``${VAR:default}`` in every string value (keys are left alone).

    Returns the new data, the entry paths whose values were expanded (so that ``"${N:4}"``
    may stand where a number belongs) and a problem for each unset variable without default.
    """
    env = os.environ if environ is None else environ
    expanded: set[str] = set()
    problems: list[Problem] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, _join(path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                Problem(
                    path,
                    f"environment variable {name} is not set",
                    f"set {name}, or give a default: ${{{name}:value}}",
                )
            )
            return ""

        expanded.add(path)
        return _VAR.sub(substitute, value)

    return walk(data, ""), expanded, problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Fields:
    """Typed reads of one document that record a problem for each bad value."""

    def __init__(self, expanded: set[str]) -> None:
        self.expanded = expanded
        self.problems: list[Problem] = []

    def bad(self, path: str, message: str, fix: str, value: object = None) -> None:
        if isinstance(value, str) and "${" in value and path not in self.expanded:
            fix += " (or pass --expand-env to replace ${...})"
        self.problems.append(Problem(path, message, fix))

    def mapping(
        self, value: object, path: str, allowed: AbstractSet[str], required: AbstractSet[str]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.bad(path, f"expected a mapping, got {_kind(value)}", "write key: value pairs")
            return None
        for key in value:
            if key not in allowed:
                close = closest(str(key), allowed)
                hint = f"did you mean {close!r}?" if close else "remove it"
                known = ", ".join(sorted(allowed))
                self.bad(_join(path, str(key)), "unknown key", f"{hint} (known: {known})")
        for key in sorted(required - set(value)):
            self.bad(_join(path, key), "required key is missing", f"add {key}")
        return {str(k): v for k, v in value.items() if k in allowed}

    def boolean(self, value: object, path: str, default: bool) -> bool:
        """``value`` if it is true or false; else a problem, and ``default``."""
        if isinstance(value, bool):
            return value
        self.bad(path, f"expected true or false, got {_kind(value)}", "write true or false", value)
        return default

    def string(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.bad(path, f"expected a string, got {_kind(value)}", "quote the value", value)
            return None
        if not value.strip():
            self.bad(path, "must not be empty", "give a value")
            return None
        return value if self.no_nul(value, path) else None

    def number(
        self,
        value: object,
        path: str,
        *,
        integer: bool,
        minimum: float,
        maximum: float | None = None,
        why: str = "",
    ) -> float | None:
        """``value`` as a finite number from ``minimum`` to ``maximum`` (``why``: the reason
        for the maximum, given in the fix)."""
        if isinstance(value, str) and path in self.expanded:
            # "${N:4}" expanded to "4": a number in a string is what the user meant.
            with contextlib.suppress(ValueError):
                value = int(value) if integer else float(value)
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (integer and not isinstance(value, int)):
            self.bad(path, f"expected {kind}, got {_kind(value)}", f"write {kind}", value)
            return None
        assert isinstance(value, int | float)  # narrowed above; mypy cannot see it
        if isinstance(value, float) and not math.isfinite(value):
            self.bad(path, f"expected a finite number, got {value}", f"write {kind}")
            return None
        if value < minimum:
            self.bad(path, f"must be at least {_number(minimum)}, got {_shown(value)}", "raise it")
            return None
        if maximum is not None and value > maximum:
            self.bad(
                path,
                f"must be at most {_number(maximum)}, got {_shown(value)}",
                f"lower it ({why})" if why else "lower it",
            )
            return None
        return value

    def string_map(self, value: object, path: str) -> dict[str, str]:
        if not isinstance(value, dict):
            self.bad(path, f"expected a mapping, got {_kind(value)}", "write NAME: value pairs")
            return {}
        out: dict[str, str] = {}
        for key, item in value.items():
            if not self.string_key(key, path):
                continue
            if isinstance(item, str):
                if self.no_nul(item, _join(path, key)):
                    out[key] = item
            else:
                shown = _shown(item)
                self.bad(
                    _join(path, key),
                    f"expected a string, got {_kind(item)} {shown}",
                    f'quote it: {key}: "{shown}"',
                )
                # Checked further as if quoted, so one mistake gives one message.
                out[key] = str(item)
        return out

    def no_nul(self, value: str, path: str) -> bool:
        """Whether ``value`` is free of NUL characters (no path, name or value holds one;
        the OS refuses them in paths) and of lone surrogates (JSON's ``"\\ud800"``: no text
        encoding can write one); a problem if not."""
        if "\0" in value:
            self.bad(path, f"{_shown(value)} holds a NUL character (\\0)", "remove it")
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.bad(path, "the text holds a lone surrogate (\\ud800-\\udfff)", "remove it")
            return False
        return True

    def string_key(self, key: object, path: str) -> TypeGuard[str]:
        """Whether ``key`` (of the mapping at ``path``) is a string; a problem if not: YAML
        reads ``1:``, ``1.5:``, ``true:``/``yes:``/``on:`` and ``~:`` as other types."""
        if isinstance(key, str):
            return True
        if isinstance(key, bool):
            fix = "quote it (YAML reads true, yes, on, false, no and off unquoted as booleans)"
        elif key is None:
            fix = "quote it (YAML reads ~, null and an empty key unquoted as null)"
        else:
            fix = f'quote it: "{_shown(key)}"'
        self.bad(
            _join(path, str(key)),
            f"the key {_shown(key)} is {_kind(key)}: keys must be strings",
            fix,
        )
        return False


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages stay one readable line."""
    if isinstance(value, int) and value.bit_length() > 128:  # repr may refuse (> 4300 digits)
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _kind(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "an integer", float: "a number", type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)


def parse_document(data: Any, expanded: set[str], *, lattice: bool = False) -> RawManifest:
    """Check the shape of every entry; keep the well-formed ones and every problem.

    Every section is optional, but a manifest must give the host something to do: actors,
    capabilities, or a lattice to join (its section, or ``lattice``: one given on the
    command line)."""
    fields = _Fields(expanded)
    raw = RawManifest()
    if data is None:
        fields.bad("", "the manifest is empty", _NOTHING_TO_DO)
        top = None
    else:
        top = fields.mapping(data, "", _TOP, set())
    if top is not None and not (
        lattice or "lattice" in top or top.get("actors") or top.get("capabilities")
    ):
        fields.bad(
            "",
            "the manifest gives the host nothing to do (no actors, no capabilities, no lattice)",
            _NOTHING_TO_DO,
        )
    if top is not None:
        if "labels" in top:
            raw.labels = fields.string_map(top["labels"], "labels")
        if "lattice" in top:
            raw.lattice = _lattice(fields, top["lattice"])
        if "trust" in top:
            raw.trust = _trust(fields, top["trust"])
        if "registry" in top:
            raw.registry = _registry(fields, top["registry"])
        for name, reader in (
            ("actors", _actor),
            ("capabilities", _capability),
            ("bindings", _binding),
        ):
            items = top.get(name)
            if items is None:  # absent, or written with nothing under it: no entries
                continue
            if not isinstance(items, list):
                fields.bad(name, f"expected a list, got {_kind(items)}", "write a YAML list")
                continue
            for index, item in enumerate(items):
                entry = reader(fields, item, index)
                if entry is not None:
                    getattr(raw, name).append(entry)
    raw.problems.extend(fields.problems)
    return raw


def _lattice(fields: _Fields, item: object) -> RawLattice | None:
    """``lattice: {url, namespace?, labels?, rpc_timeout?, credentials?, host_key?,
    trusted_hosts?}``."""
    entry = fields.mapping(item, "lattice", _LATTICE_KEYS, {"url"})
    if entry is None:
        return None
    url = fields.string(entry["url"], "lattice.url") if "url" in entry else None
    if url is not None:
        url = url.strip()
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in _NATS_SCHEMES or not rest.strip("/"):
            fields.bad(
                "lattice.url",
                f"{url!r} is not a NATS URL",
                "write it as nats://HOST:PORT (for example nats://127.0.0.1:4222)",
                url,
            )
            url = None
    namespace = None
    if "namespace" in entry:
        namespace = fields.string(entry["namespace"], "lattice.namespace")
        if namespace is not None:
            namespace = namespace.strip()
            if not all(_SUBJECT_TOKEN.fullmatch(part) for part in namespace.split(".")):
                fields.bad(
                    "lattice.namespace",
                    f"{namespace!r} cannot be used in a NATS subject",
                    "use letters, digits, '-' or '_' (no '*', '>', white space or empty parts)",
                    namespace,
                )
                namespace = None
    labels = fields.string_map(entry["labels"], "lattice.labels") if "labels" in entry else {}
    rpc_timeout = None
    if "rpc_timeout" in entry:
        rpc_timeout = fields.number(
            entry["rpc_timeout"], "lattice.rpc_timeout", integer=False, minimum=0.01
        )
    credentials = None
    if "credentials" in entry:
        credentials = fields.string(entry["credentials"], "lattice.credentials")
    host_key = fields.string(entry["host_key"], "lattice.host_key") if "host_key" in entry else None
    host_token = None
    if "host_token" in entry:
        host_token = fields.string(entry["host_token"], "lattice.host_token")
    trusted = None
    if "trusted_hosts" in entry:
        trusted = _keys(fields, entry["trusted_hosts"], "lattice.trusted_hosts", _HOST_IDS)
    if url is None:
        return None
    return RawLattice(
        url, namespace, labels, rpc_timeout, credentials, host_key, trusted, host_token
    )


# (what a listed key must be, its kinds, the fix): for the key lists of lattice and trust.
_KeyRule = tuple[str, tuple[KeyKind, ...], str]
_HOST_IDS: _KeyRule = (
    "host id",
    ("server",),
    "give the public server key (N…) of a host, as `wascc ctl get hosts` shows it",
)
_ISSUERS: _KeyRule = (
    "account key",
    ("account",),
    "give the public account key (A…) that signs the modules, as `wascc claims inspect` shows",
)
_CONTROLLERS: _KeyRule = (
    "controller key",
    ("account", "user"),
    "give the public key (A… or U…) that `wascc ctl --signer` signs with",
)


def _keys(fields: _Fields, item: object, path: str, rule: _KeyRule) -> tuple[str, ...] | None:
    """A list of public keys of the kinds ``rule`` allows."""
    what, kinds, fix = rule
    if not isinstance(item, list):
        fields.bad(
            path, f"expected a list of {what}s, got {_kind(item)}", "write [KEY1, KEY2]", item
        )
        return None
    keys: list[str] = []
    for index, value in enumerate(item):
        entry_path = f"{path}[{index}]"
        text = fields.string(value, entry_path)
        if text is None:
            continue
        if not any(is_public_key(text.strip(), kind) for kind in kinds):
            fields.bad(entry_path, f"{text!r} is not {with_article(what)}", fix, text)
            continue
        keys.append(text.strip())
    return tuple(keys)


def _trust(fields: _Fields, item: object) -> RawTrust | None:
    """``trust: {issuers?, lattice_account?, hosts?, controllers?, insecure_lattice?,
    clock_skew?, replay_window?}``."""
    entry = fields.mapping(item, "trust", _TRUST_KEYS, set())
    if entry is None:
        return None
    issuers = (
        _keys(fields, entry["issuers"], "trust.issuers", _ISSUERS) if "issuers" in entry else None
    )
    account = None
    if "lattice_account" in entry:
        account = fields.string(entry["lattice_account"], "trust.lattice_account")
    hosts = _keys(fields, entry.get("hosts", []), "trust.hosts", _HOST_IDS) or ()
    controllers = _keys(fields, entry.get("controllers", []), "trust.controllers", _CONTROLLERS)
    insecure = fields.boolean(
        entry.get("insecure_lattice", False), "trust.insecure_lattice", default=False
    )
    numbers: dict[str, float | None] = {}
    for key, minimum in (("clock_skew", 0.0), ("replay_window", 0.1)):
        numbers[key] = (
            fields.number(entry[key], f"trust.{key}", integer=False, minimum=minimum)
            if key in entry
            else None
        )
    return RawTrust(
        issuers,
        account.strip() if account else None,
        hosts,
        controllers or (),
        insecure,
        numbers["clock_skew"],
        numbers["replay_window"],
    )


def _registry(fields: _Fields, item: object) -> RawRegistry | None:
    """``registry: {allow_latest?, insecure?}``."""
    entry = fields.mapping(item, "registry", _REGISTRY_KEYS, set())
    if entry is None:
        return None
    flags = {
        key: fields.boolean(entry.get(key, False), f"registry.{key}", default=False)
        for key in sorted(_REGISTRY_KEYS)
    }
    return RawRegistry(**flags)


def _actor(fields: _Fields, item: object, index: int) -> RawActor | None:
    path = f"actors[{index}]"
    if isinstance(item, str):
        return RawActor(index, item, {}) if fields.string(item, path) else None
    entry = fields.mapping(item, path, _ACTOR_KEYS, {"path"})
    if entry is None or "path" not in entry:
        return None
    module = fields.string(entry["path"], f"{path}.path")
    settings = _settings(fields, entry, path)
    if "calls_actors" in entry:
        where = f"{path}.calls_actors"
        settings["calls_actors"] = fields.boolean(entry["calls_actors"], where, default=True)
    return RawActor(index, module, settings) if module else None


def _settings(fields: _Fields, entry: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A module's settings as written: the numbers checked against ``ACTOR_RANGES``; a
    ``wasi`` entry kept as written (``host.wasi.read_grants`` checks it against the disk)."""
    settings: dict[str, Any] = {}
    for key, (integer, minimum, maximum, why) in ACTOR_RANGES.items():
        if key in entry:
            value = fields.number(
                entry[key],
                f"{path}.{key}",
                integer=integer,
                minimum=minimum,
                maximum=maximum,
                why=why,
            )
            if value is not None:
                settings[key] = value
    if "wasi" in entry:
        settings["wasi"] = entry["wasi"]
    return settings


def _capability(fields: _Fields, item: object, index: int) -> RawCapability | None:
    path = f"capabilities[{index}]"
    entry = fields.mapping(item, path, _CAPABILITY_KEYS, {"path"})
    if entry is None or "path" not in entry:
        return None
    name = fields.string(entry["path"], f"{path}.path")
    binding = "default"
    if "binding_name" in entry:
        binding = fields.string(entry["binding_name"], f"{path}.binding_name") or "default"
    config: dict[str, Any] = {}
    if "config" in entry:
        given = entry["config"]
        if isinstance(given, dict):
            config = {k: v for k, v in given.items() if fields.string_key(k, f"{path}.config")}
        else:
            fields.bad(
                f"{path}.config", f"expected a mapping, got {_kind(given)}", "write key: value"
            )
    settings = _settings(fields, entry, path)
    if "contract" in entry:
        contract = fields.string(entry["contract"], f"{path}.contract")
        if contract:
            settings["contract"] = contract.strip()
    return RawCapability(index, name, binding.strip(), config, settings) if name else None


def _binding(fields: _Fields, item: object, index: int) -> RawBinding | None:
    path = f"bindings[{index}]"
    entry = fields.mapping(item, path, _BINDING_KEYS, {"actor", "capability"})
    if entry is None or not {"actor", "capability"} <= set(entry):
        return None
    actor = fields.string(entry["actor"], f"{path}.actor")
    capability = fields.string(entry["capability"], f"{path}.capability")
    binding = "default"
    if "binding" in entry:
        binding = fields.string(entry["binding"], f"{path}.binding") or "default"
    values = fields.string_map(entry["values"], f"{path}.values") if "values" in entry else {}
    if actor is None or capability is None:
        return None
    return RawBinding(index, actor.strip(), capability.strip(), binding.strip(), values)
