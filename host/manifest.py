"""The manifest: which actors, providers and bindings a host process runs (docs/manifest.md).

The waSCC 0.14 format, with extensions::

    labels: {sample: demo}                     # optional
    lattice:                                   # optional: join a lattice of hosts over NATS
      url: nats://127.0.0.1:4222               #   (--lattice, --namespace, --label and
      namespace: prod                          #   --rpc-timeout override these)
      labels: {zone: a}                        #   host labels, added to the ones above
      rpc_timeout: 2                           #   seconds a call to another host may take
      credentials: ./host.creds                #   NATS user credentials (--lattice-creds)
      host_key: ./host.nk                      #   this host's server key (--host-key)
      host_token: ./host.jwt                   #   its voucher from the lattice's account
      trusted_hosts: [NAB...]                  #   hosts trusted by name (like trust.hosts)
    trust:                                     # optional: whom the host trusts (the flags
      issuers: [AAB...]                        #   --trust-issuer ... override these); the
      lattice_account: AAB...                  #   accounts that may sign actors; the
      hosts: [NAB...]                          #   lattice's anchor (or its seed, file, name:
      controllers: [UAB...]                    #   the host then vouches for itself); hosts
      insecure_lattice: false                  #   and ctl keys trusted by name; any host
      clock_skew: 5                            #   (experiments); seconds clocks may differ;
      replay_window: 7                         #   seconds a lattice token lives (skew + RPC)
    registry:                                  # optional: how oci:// actors are pulled
      allow_latest: false                      #   :latest (or no tag) without a digest
      insecure: false                          #   plain HTTP (--allow-latest, --insecure)
    actors:                                    # actors, capabilities, bindings: each optional
      - ./echo_s.wasm                          # a signed module, relative to this file
      - oci://127.0.0.1:5000/hello:0.1.0       # or one in a registry (pinned: ...@sha256:HEX)
      - path: ./kvcounter_s.wasm               # or a mapping with per-actor settings:
        max_instances: 4                       #   instances serving calls at once
        max_queue: 1024                        #   calls waiting for an instance
        memory_mb: 64                          #   linear memory per instance
        deadline: 2.5                          #   seconds per call
        fuel: 100000000                        #   instructions per call
        calls_actors: true                     #   false: calls to actors refused
    capabilities:
      - path: http_server                      # built-in: http_server, logging, keyvalue,
      - path: keyvalue                         #   messaging; or package.module:Class
        binding_name: default                  # optional
        config: {}                             # optional: the provider's constructor keywords
    bindings:
      - actor: ./echo_s.wasm                   # an actor's public key, path or reference
        capability: wascc:http_server
        binding: default                       # optional
        values: {PORT: "8080"}                 # optional, all strings; only names the
                                               #   provider declares (binding_values)

Every section is optional (a host may only join a lattice), but a manifest with no actors,
no capabilities and no lattice gives the host nothing to do and is refused.

``load_manifest`` reads (within the bounds of ``host.manifest_loader``: 1 MiB, 64 levels,
100,000 values with aliases expanded), expands (``${VAR}``, ``${VAR:default}`` with
``expand_env``) and checks everything before anything starts (the per-actor ranges are
``host.manifest_schema.ACTOR_RANGES``); ``ManifestInvalid`` lists every problem at once,
each with the file, the entry path and the fix.

With a lattice, a binding may name an actor of another host (by key) or a capability that
another host loads; such bindings are accepted with a line in ``Manifest.notes`` and checked
against the lattice when ``wascc up`` starts (``host.server``).

An ``oci://`` actor is pulled while the manifest is checked (``registry``: a
``RegistryAccess`` with the data directory whose cache keeps it): the digests, then the
claims and the trust policy, exactly as for a file; a pinned reference (or a tag pulled
before, when the registry is down) is served from the cache.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from wascc.host.errors import ManifestError
from wascc.host.generations import TWIN_OF, generic
from wascc.host.manifest_check import (
    EXTRAS,
    ActorEntry,
    BindingEntry,
    CapabilityEntry,
    Checker,
    RegistryAccess,
)
from wascc.host.manifest_loader import read_document
from wascc.host.manifest_schema import (
    Problem,
    RawLattice,
    RawRegistry,
    RawTrust,
    expand_env,
    parse_document,
)
from wascc.keys.store import keys_dir

__all__ = [
    "ActorEntry",
    "BindingEntry",
    "CapabilityEntry",
    "Manifest",
    "ManifestInvalid",
    "Problem",
    "RawLattice",
    "RawRegistry",
    "RawTrust",
    "RegistryAccess",
    "in_file_order",
    "load_manifest",
]


class ManifestInvalid(ManifestError):
    """The manifest has problems; ``problems`` lists them all, ``file`` names the manifest."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        count = len(problems)
        lines = "\n".join(f"  {p.render(file)}" for p in problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{file} has {count} {noun}:\n{lines}")


@dataclass(frozen=True)
class Manifest:
    """A checked manifest, ready to apply in order: labels, actors, capabilities, bindings."""

    file: Path
    labels: Mapping[str, str]
    actors: tuple[ActorEntry, ...]
    capabilities: tuple[CapabilityEntry, ...]
    bindings: tuple[BindingEntry, ...]
    lattice: RawLattice | None = None  # the ``lattice`` section, if any
    trust: RawTrust | None = None  # the ``trust`` section, if any (keys resolved)
    notes: tuple[str, ...] = ()  # what is checked only at start-up (remote actors/providers)
    registry: RawRegistry | None = None  # the ``registry`` section, if any

    def extras_bindings(self) -> tuple[BindingEntry, ...]:
        """Bindings to ``wascc:extras`` (or ``wasmcloud:extras``): the host sets those itself
        for actors that claim it."""
        return tuple(b for b in self.bindings if generic(b.contract_id) == EXTRAS)


def _served(capabilities: list[CapabilityEntry]) -> dict[tuple[str, str], CapabilityEntry]:
    """The capability serving each (contract, binding): a ``wascc:*`` provider serves its
    ``wasmcloud:*`` twin too, unless a capability of its own does."""
    served = {(c.contract_id, c.binding): c for c in capabilities}
    for entry in capabilities:
        twin = TWIN_OF.get(entry.contract_id)
        if twin is not None:
            served.setdefault((twin, entry.binding), entry)
    return served


def load_manifest(
    file: Path,
    *,
    expand: bool = False,
    environ: Mapping[str, str] | None = None,
    reserved_ports: Mapping[int, str] | None = None,
    lattice: bool = False,
    trusted_issuers: Collection[str] | None = None,
    registry: RegistryAccess | None = None,
    reserved_dirs: Mapping[Path, str] | None = None,
) -> Manifest:
    """Read and check ``file``; ``ManifestInvalid`` lists every problem found.

    ``expand`` replaces ``${VAR}``/``${VAR:default}`` from ``environ`` (default: the process
    environment). ``reserved_ports`` are ports something else of the process listens on
    (the admin endpoint), which no HTTP binding may take. ``lattice``: the host joins a
    lattice given on the command line (as if the file had a ``lattice`` section), so bindings
    may name remote actors and providers. ``trusted_issuers`` (``--trust-issuer``) replaces
    the manifest's ``trust.issuers``: the actors must be signed by one of them.
    ``registry``: how ``oci://`` actors are pulled (its unset options from the manifest's
    ``registry`` section); None: such an actor is a problem. Pulling is blocking network
    I/O: call this off the event loop. ``reserved_dirs``: paths of the host's own (path →
    what it is) that no WASI grant may reach, on top of the data directory (``registry``'s)
    and the saved keys.
    """
    shown = str(file)
    data, problems = read_document(file)
    if problems:
        raise ManifestInvalid(shown, problems)
    expanded: set[str] = set()
    if expand:
        data, expanded, problems = expand_env(data, environ)
    raw = parse_document(data, expanded, lattice=lattice)
    problems = [*problems, *raw.problems]
    checker = Checker(
        file.resolve().parent,
        dict(reserved_ports or {}),
        lattice=lattice or raw.lattice is not None,
        registry=registry.under(raw.registry) if registry is not None else None,
        reserved_dirs=_host_paths(registry, reserved_dirs),
    )
    lattice_section = _checked_lattice(raw.lattice, checker)
    trust_section = _checked_trust(raw.trust, checker, trusted_issuers)
    actors: list[ActorEntry] = []
    for raw_actor in raw.actors:
        actor = checker.actor(raw_actor.index, raw_actor.path, raw_actor.settings)
        if actor is None:
            continue
        twin = next((a for a in actors if a.claims.subject == actor.claims.subject), None)
        if twin is not None:
            checker.problems.append(
                Problem(
                    f"actors[{actor.index}]",
                    f"actor {actor.label} is already listed as actors[{twin.index}]",
                    "list each actor once (max_instances runs more instances of it)",
                )
            )
            continue
        actors.append(actor)
    capabilities: list[CapabilityEntry] = []
    for raw_cap in raw.capabilities:
        cap = checker.capability(
            raw_cap.index, raw_cap.path, raw_cap.binding, raw_cap.config, raw_cap.settings
        )
        if cap is None:
            continue
        twin_cap = next(
            (
                c
                for c in capabilities
                if (c.contract_id, c.binding) == (cap.contract_id, cap.binding)
            ),
            None,
        )
        if twin_cap is not None:
            checker.problems.append(
                Problem(
                    f"capabilities[{cap.index}]",
                    f"{cap.contract_id} with binding_name {cap.binding!r} is already loaded by "
                    f"capabilities[{twin_cap.index}]",
                    "give one of them another binding_name",
                )
            )
            continue
        capabilities.append(cap)
    checker.served = _served(capabilities)
    loaded = set(checker.served)
    bindings: list[BindingEntry] = []
    seen: dict[tuple[str, str, str], int] = {}
    for rb in raw.bindings:
        entry = checker.binding(rb, actors, loaded)
        if entry is None:
            continue
        key = (entry.actor, entry.contract_id, entry.binding)
        if key in seen:
            checker.problems.append(
                Problem(
                    f"bindings[{entry.index}]",
                    f"actor {entry.actor_label} is already bound to {entry.contract_id} "
                    f"(binding {entry.binding!r}) by bindings[{seen[key]}]",
                    "remove one of them, or give it another binding",
                )
            )
            continue
        seen[key] = entry.index
        bindings.append(entry)
    checker.ports(bindings)
    problems.extend(checker.problems)
    if problems:
        raise ManifestInvalid(shown, in_file_order(problems))
    return Manifest(
        file,
        raw.labels,
        tuple(actors),
        tuple(capabilities),
        tuple(bindings),
        lattice_section,
        trust_section,
        tuple(checker.notes),
        raw.registry,
    )


def _host_paths(
    registry: RegistryAccess | None, given: Mapping[Path, str] | None
) -> dict[Path, str]:
    """What the host keeps on disk, out of every WASI grant's reach."""
    paths = {keys_dir(): "the host's saved keys"}
    if registry is not None:
        paths[registry.data_dir] = "the host's data directory"
    paths.update(given or {})
    return paths


def _checked_lattice(section: RawLattice | None, checker: Checker) -> RawLattice | None:
    """The lattice section with its files read and checked: the credentials path made
    absolute, the host key turned into its seed."""
    if section is not None and section.credentials is not None:
        section = dataclasses.replace(
            section, credentials=checker.lattice_credentials(section.credentials)
        )
    if section is not None and section.host_key is not None:
        section = dataclasses.replace(section, host_key=checker.host_key(section.host_key))
    if section is not None and section.host_token is not None:
        section = dataclasses.replace(section, host_token=checker.host_token(section.host_token))
    return section


def _checked_trust(
    section: RawTrust | None, checker: Checker, issuers: Collection[str] | None
) -> RawTrust | None:
    """The trust section with ``lattice_account`` resolved to its public key (and its seed,
    when a seed, file or saved name was given); the checker told which issuers may sign the
    actors (``issuers`` given, else the section's)."""
    if issuers is not None:
        checker.issuers = tuple(issuers)
    elif section is not None:
        checker.issuers = section.issuers
    if section is None or section.lattice_account is None:
        return section
    resolved = checker.lattice_account(section.lattice_account)
    public, seed = resolved if resolved is not None else (None, None)
    return dataclasses.replace(section, lattice_account=public, account_seed=seed)


_SECTIONS = {
    "": 0,
    "labels": 1,
    "lattice": 2,
    "trust": 3,
    "registry": 4,
    "actors": 5,
    "capabilities": 6,
    "bindings": 7,
}
_ENTRY = re.compile(r"([a-z]*)(?:\[(\d+)\])?")


def in_file_order(problems: list[Problem]) -> list[Problem]:
    """Sorted by section and entry, one problem per entry path: a value that is wrong
    (an unset variable) is reported once, not again by every check that reads it."""
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(problem.path, problem)

    def position(problem: Problem) -> tuple[int, int]:
        match = _ENTRY.match(problem.path)
        section, index = (match.group(1), match.group(2)) if match else ("", None)
        return _SECTIONS.get(section, 0), int(index or 0)

    return sorted(unique.values(), key=position)
