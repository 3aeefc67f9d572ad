"""Checking what a manifest's entries refer to, before anything starts.

Actor files must exist and carry valid signed claims; an actor given as an ``oci://``
reference is pulled (``host.oci``: digests checked, cached in the data directory) and its
bytes then go through exactly the checks a file's do; capabilities must name a provider that
can be imported and take the given ``config``; bindings must name a listed actor (by public
key or by module path), a contract its claims list, and a provider the manifest loads; HTTP
bindings need distinct, valid ports. A contract id that looks like a typo of a known one gets a
did-you-mean, and so does a binding value that its provider does not declare (see
``host.typing.Provider``: ``binding_values``). Every problem is collected, none stops the others.

With a lattice (the manifest's ``lattice`` section or ``wascc up --lattice``) a binding may
name an actor that runs on another host (by its public key) or a capability that no provider
of this manifest serves (another host loads it). Those are accepted here with a note: the
remote actor's claims are checked against the binding when ``wascc up`` starts (looked up in
the lattice's inventory), and a remote provider receives the binding whenever it joins.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wascc.host.actor import ActorSettings
from wascc.host.capabilities import (
    BUILTIN_CONTRACTS,
    ProviderLookupError,
    ProviderSpec,
    contract_hint,
    declared_values,
    resolve_provider,
)
from wascc.host.engine import Limits
from wascc.host.errors import NotAnActor, NotAProvider, ProviderError
from wascc.host.generations import HOST_VALUE_PREFIX, generic
from wascc.host.manifest_schema import Problem, RawBinding, RawRegistry
from wascc.host.oci.credentials import Credentials
from wascc.host.oci.errors import OciError
from wascc.host.oci.reference import Reference, is_reference
from wascc.host.toolchain.diagnose import check_actor_module, imports_wasi, is_wasm_file
from wascc.host.typing import RESERVED_VALUE_PREFIX, BindingValue
from wascc.host.wasi import WasiGrants, read_grants
from wascc.host.wasm_provider import read_descriptor
from wascc.keys.claims import Claims, validate_module
from wascc.keys.creds import CredentialsError, load_creds_file
from wascc.keys.errors import WasccError, WrongKeyKind
from wascc.keys.nkeys import KeyKind, KeyPair, is_public_key
from wascc.keys.store import load_key_of
from wascc.keys.suggest import did_you_mean
from wascc.keys.vouch import read_voucher

if TYPE_CHECKING:
    from wascc.host.oci.store import ModuleStore, Pulled

__all__ = [
    "EXTRAS",
    "HTTP_SERVER",
    "ActorEntry",
    "BindingEntry",
    "CapabilityEntry",
    "Checker",
    "RegistryAccess",
]

EXTRAS = "wascc:extras"
HTTP_SERVER = "wascc:http_server"
_MIB = 2**20
RESERVED_VALUE_PREFIXES = (RESERVED_VALUE_PREFIX, HOST_VALUE_PREFIX)


@dataclass(frozen=True)
class RegistryAccess:
    """How ``oci://`` modules are pulled: into the cache of ``data_dir``, with
    ``credentials`` (None: each registry's are looked up). ``insecure`` and ``allow_latest``
    None: the manifest's ``registry`` section decides (else no)."""

    data_dir: Path
    insecure: bool | None = None
    allow_latest: bool | None = None
    credentials: Credentials | None = field(default=None, repr=False)

    def under(self, section: RawRegistry | None) -> RegistryAccess:
        """These options, the ones not given taken from the manifest's ``section``."""
        section = section or RawRegistry()
        return dataclasses.replace(
            self,
            insecure=section.insecure if self.insecure is None else self.insecure,
            allow_latest=section.allow_latest if self.allow_latest is None else self.allow_latest,
        )

    def store(self) -> ModuleStore:
        """The store that pulls with these options."""
        # Here, not at the top: the HTTP client is imported only when a module is pulled.
        from wascc.host.oci.store import ModuleStore  # noqa: PLC0415

        return ModuleStore(
            self.data_dir,
            insecure=bool(self.insecure),
            credentials=self.credentials,
            allow_latest=bool(self.allow_latest),
        )


@dataclass(frozen=True)
class ActorEntry:
    """An actor to load: its signed module, its claims (already verified) and its settings.

    From a registry: ``reference`` as written, ``digest`` the manifest digest it resolved
    to, ``module`` the verified bytes (``path`` is then the module's file in the cache)."""

    index: int
    path: Path
    claims: Claims
    settings: ActorSettings
    reference: str | None = None
    digest: str | None = None
    module: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """``name (key)``, as every message names an actor."""
        return f"{self.claims.name or self.claims.subject} ({self.claims.subject})"


@dataclass(frozen=True)
class WasmModule:
    """A provider written in wasm, as a capabilities entry gives it: its signed module (from
    a file or a registry), verified claims (``prov: true``) and settings, and the contract
    it serves (the entry's ``contract``, else its ``GetCapabilityDescriptor`` answer)."""

    path: Path
    claims: Claims
    settings: ActorSettings
    contract_id: str
    module: bytes = field(repr=False, compare=False)
    reference: str | None = None
    digest: str | None = None

    @property
    def label(self) -> str:
        return f"{self.claims.name or self.claims.subject} ({self.claims.subject})"


@dataclass(frozen=True)
class CapabilityEntry:
    """A provider to load under ``binding``: a class (``spec``) built with ``config``, or a
    module (``wasm``)."""

    index: int
    name: str
    binding: str
    config: Mapping[str, Any]
    spec: ProviderSpec | None
    wasm: WasmModule | None = None

    @property
    def contract_id(self) -> str:
        """The contract the provider serves."""
        if self.wasm is not None:
            return self.wasm.contract_id
        assert self.spec is not None
        return self.spec.contract_id


@dataclass(frozen=True)
class BindingEntry:
    """A binding to set: ``actor`` is the actor's public key, whatever the file used."""

    index: int
    actor: str
    actor_label: str
    contract_id: str
    binding: str
    values: Mapping[str, str]
    remote_actor: bool = False  # the actor runs on another host of the lattice
    remote_provider: bool = False  # no provider of this manifest serves it: another host's


@dataclass
class Checker:
    """Resolves raw entries against the file system, the claims and the provider registry.

    ``lattice``: whether the host joins a lattice, where bindings may name remote actors and
    providers (each one adds a line to ``notes``)."""

    base: Path
    reserved_ports: Mapping[int, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    lattice: bool = False
    notes: list[str] = field(default_factory=list)
    # The manifest's providers by (contract, binding): their classes check binding values.
    served: dict[tuple[str, str], CapabilityEntry] = field(default_factory=dict)
    # The accounts that may sign the actors (trust.issuers or --trust-issuer; None: any).
    issuers: Collection[str] | None = None
    # How oci:// actors are pulled (None: they cannot be, and each is a problem).
    registry: RegistryAccess | None = None
    # Paths the host itself uses (its data directory, key files): no WASI grant may reach them.
    reserved_dirs: Mapping[Path, str] = field(default_factory=dict)
    _store: ModuleStore | None = field(default=None, init=False, repr=False)

    def _bad(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix))

    def resolve(self, text: str) -> Path:
        """A path from the manifest, relative to the manifest's directory (``~user`` of no
        user stays as written: reading it then fails with a problem naming the path)."""
        path = Path(text)
        with contextlib.suppress(RuntimeError):  # pathlib's word for "no such user/home"
            path = path.expanduser()
        return (self.base / path).resolve()

    def lattice_credentials(self, text: str) -> str | None:
        """The absolute path of the lattice's ``.creds`` file, once read and checked."""
        file = self.resolve(text)
        try:
            load_creds_file(file)
        except CredentialsError as exc:
            self._bad(
                "lattice.credentials",
                f"the NATS credentials file {exc}",
                "give the path of the host's NATS user .creds file (relative paths start at "
                "the manifest's directory)",
            )
            return None
        return str(file)

    def _key(
        self, path: str, text: str, kinds: tuple[KeyKind, ...], what: str, fix: str
    ) -> KeyPair | None:
        """The key pair ``text`` names (a seed, a ``.nk`` file relative to the manifest, or a
        saved key's name) of one of ``kinds``; a problem at ``path`` otherwise."""
        try:
            return load_key_of(text, kinds, base=self.base)
        except WrongKeyKind as exc:
            self._bad(path, str(exc), fix)
        except WasccError as exc:
            self._bad(
                path,
                f"cannot use it as {what}: {exc}",
                f"give its seed, its .nk file or its name in `wascc keys list`; {fix}",
            )
        return None

    def host_key(self, text: str) -> str | None:
        """The seed of the server key ``lattice.host_key`` names."""
        fix = "make one with `wascc keys gen server --save NAME` and give NAME"
        pair = self._key("lattice.host_key", text, ("server",), "the host key", fix)
        return pair.seed if pair is not None else None

    def lattice_account(self, text: str) -> tuple[str, str | None] | None:
        """``trust.lattice_account`` as ``(public key, seed)``: a public key (A…) gives no
        seed; a seed, ``.nk`` file or saved name gives both, and the host then vouches for
        its own key with it."""
        if is_public_key(text, "account"):
            return text, None
        fix = "make one with `wascc keys gen account --save lattice` and give lattice"
        pair = self._key("trust.lattice_account", text, ("account",), "the lattice's account", fix)
        return (pair.public_key, pair.seed) if pair is not None else None

    def host_token(self, text: str) -> str | None:
        """The voucher in the file ``lattice.host_token`` names, once verified."""
        file = self.resolve(text)
        try:
            token = file.read_text(encoding="ascii").strip()
            read_voucher(token, path=str(file))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not a token (not ASCII)"
            self._bad(
                "lattice.host_token",
                f"cannot read {file}: {reason}",
                "give the file `wascc keys vouch` wrote (relative paths start at the "
                "manifest's directory)",
            )
            return None
        except WasccError as exc:
            self._bad("lattice.host_token", str(exc), "")
            return None
        return token

    def actor(self, index: int, text: str, settings: Mapping[str, Any]) -> ActorEntry | None:
        """Read one actor's module (a file, or an ``oci://`` reference pulled into the
        cache), check that it is built as a waPC actor (``host.toolchain.diagnose``: a note
        for what may still run), then verify its claims."""
        path = f"actors[{index}]"
        loaded = self.module(path, text)
        if loaded is None:
            return None
        module, file, shown, pulled = loaded
        resign = "re-sign it with `wascc claims sign`" + (
            " and push it again" if pulled is not None else ""
        )
        try:
            claims = validate_module(module, path=shown, trusted_issuers=self.issuers)
        except WasccError as exc:
            self._bad(path, str(exc), resign)
            return None
        if claims.provider:
            self._bad(path, f"{shown} {NotAnActor.WHY}", NotAnActor.FIX)
            return None
        actor_settings = self.settings(path, settings, module)
        if actor_settings is None:
            return None
        if pulled is None:
            return ActorEntry(index, file, claims, actor_settings)
        return ActorEntry(
            index, file, claims, actor_settings, text, pulled.manifest_digest, pulled.data
        )

    def settings(
        self, path: str, settings: Mapping[str, Any], module: bytes
    ) -> ActorSettings | None:
        """A module's ``ActorSettings`` from its entry's settings (limits, instances, WASI
        grants); problems at ``path``."""
        changes: dict[str, Any] = {}
        if "memory_mb" in settings:
            changes["memory_bytes"] = int(settings["memory_mb"] * _MIB)
        if "deadline" in settings:
            changes["deadline"] = float(settings["deadline"])
        if "fuel" in settings:
            changes["fuel"] = int(settings["fuel"])
        try:
            # Unset limits keep the host's defaults (``Limits()``); None means "no override".
            limits = dataclasses.replace(Limits(), **changes) if changes else None
        except ValueError as exc:
            self._bad(path, str(exc), "fix the limits")
            return None
        grants = WasiGrants()
        if "wasi" in settings:
            read, problems = read_grants(settings["wasi"], self.base, self.reserved_dirs)
            for problem in problems:
                where = f"{path}.wasi.{problem.where}" if problem.where else f"{path}.wasi"
                self._bad(where, problem.message, problem.fix)
            if read is None:
                return None
            grants = read
            if not grants.empty and not imports_wasi(module):
                self.notes.append(
                    f"{path}: the module imports no WASI, so its wasi grants give it nothing"
                )
        defaults = ActorSettings()
        return ActorSettings(
            max_instances=settings.get("max_instances", defaults.max_instances),
            max_queue=settings.get("max_queue", defaults.max_queue),
            limits=limits,
            wasi=grants,
            calls_actors=settings.get("calls_actors", defaults.calls_actors),
        )

    def pull(self, path: str, text: str) -> Pulled | None:
        """The verified module the reference ``text`` names (from the registry, or from the
        cache when pinned or when the registry is down); a problem at ``path`` otherwise."""
        if self.registry is None:
            self._bad(
                path,
                f"{text} is in a registry, and no module cache was given to pull it into",
                "load the manifest with a data directory (RegistryAccess), as `wascc up` does",
            )
            return None
        if self._store is None:
            self._store = self.registry.store()
        try:
            return self._store.pull(text)
        except OciError as exc:
            self._bad(path, str(exc))
            return None

    def capability(
        self,
        index: int,
        name: str,
        binding: str,
        config: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
    ) -> CapabilityEntry | None:
        """Resolve one capability: a provider class (its config checked), or a provider
        written in wasm (a ``.wasm`` file or an ``oci://`` reference, with its settings)."""
        path = f"capabilities[{index}]"
        settings = settings or {}
        if is_reference(name) or name.endswith(".wasm") or is_wasm_file(self.resolve(name)):
            return self._wasm_capability(index, name, binding, config, settings)
        for key in sorted(settings):
            self._bad(
                f"{path}.{key}",
                f"{key} is a setting of a provider written in wasm, and {name} is not one",
                "remove it (a native provider's own settings go under config:)",
            )
        try:
            spec = resolve_provider(name)
        except ProviderLookupError as exc:
            self._bad(f"{path}.path", exc.message, exc.fix)
            return None
        if generic(spec.contract_id) == EXTRAS:
            self._bad(
                f"{path}.path", f"{spec.contract_id} is built into the host", "remove this entry"
            )
            return None
        for problem in spec.check_config(config):
            key, _, message = problem.partition(": ")
            self._bad(f"{path}.config.{key}", message, "fix the provider's config")
        return CapabilityEntry(index, name, binding, dict(config), spec)

    def _wasm_capability(
        self,
        index: int,
        name: str,
        binding: str,
        config: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> CapabilityEntry | None:
        """A provider module: read (or pulled), built as waPC wants, signed with
        ``prov: true``, its settings and grants checked, and the contract it serves known."""
        path = f"capabilities[{index}]"
        if config:
            self._bad(
                f"{path}.config",
                "a provider written in wasm takes no config",
                "give it what it needs as binding values, or as wasi grants",
            )
        loaded = self.module(f"{path}.path", name)
        if loaded is None:
            return None
        module, file, shown, pulled = loaded
        try:
            claims = validate_module(module, path=shown, trusted_issuers=self.issuers)
        except WasccError as exc:
            self._bad(f"{path}.path", str(exc), "re-sign it with `wascc claims sign --provider`")
            return None
        if not claims.provider:
            self._bad(f"{path}.path", f"{shown} {NotAProvider.WHY}", NotAProvider.FIX)
            return None
        module_settings = self.settings(path, settings, module)
        if module_settings is None:
            return None
        contract = self._served_contract(path, shown, module, claims, settings.get("contract"))
        if contract is None:
            return None
        if generic(contract) == EXTRAS:
            self._bad(f"{path}.contract", f"{contract} is built into the host", "remove this entry")
            return None
        wasm = WasmModule(
            file,
            claims,
            module_settings,
            contract,
            module,
            name if pulled is not None else None,
            pulled.manifest_digest if pulled is not None else None,
        )
        return CapabilityEntry(index, name, binding, {}, None, wasm)

    def _served_contract(
        self, path: str, shown: str, module: bytes, claims: Claims, given: str | None
    ) -> str | None:
        """The contract a provider module serves: its ``GetCapabilityDescriptor`` answer,
        which the entry's ``contract`` (if given) must agree with, or which it stands in for
        when the module gives none."""
        try:
            descriptor = read_descriptor(module, claims.hash, shown)
        except ProviderError as exc:
            if given:
                return given
            self._bad(f"{path}.contract", str(exc))
            return None
        except WasccError as exc:
            self._bad(f"{path}.path", f"cannot ask {shown} which contract it serves: {exc}")
            return None
        if descriptor is None:
            if given:
                return given
            self._bad(
                f"{path}.contract",
                f"{shown} does not say which contract it serves (it does not answer "
                "GetCapabilityDescriptor)",
                "give it: contract: acme:payments",
            )
            return None
        if given and given != descriptor.id:
            self._bad(
                f"{path}.contract",
                f"{shown} serves {descriptor.id}, not {given}",
                f"write contract: {descriptor.id}, or remove it",
            )
            return None
        return descriptor.id

    def module(self, path: str, text: str) -> tuple[bytes, Path, str, Pulled | None] | None:
        """A module's bytes, its file, how to name it, and what was pulled if it came from a
        registry (an ``oci://`` reference), checked as waPC wants it built; a problem at
        ``path`` otherwise."""
        pulled = None
        if is_reference(text):
            pulled = self.pull(path, text)
            if pulled is None:
                return None
            module, file, shown = pulled.data, pulled.path, text
        else:
            file = self.resolve(text)
            shown = str(file)
            try:
                module = file.read_bytes()
            except OSError as exc:
                self._bad(
                    path,
                    f"cannot read {file}: {exc.strerror}",
                    "check the path (relative paths start at the manifest's directory)",
                )
                return None
        # Before the claims: re-signing a module built wrong does not help, rebuilding does.
        diagnosed = check_actor_module(module, shown)
        severe = [problem for problem in diagnosed if problem.severe]
        if severe:
            # An entry shows one problem: any further build mistakes follow its fix.
            first, *others = severe
            self._bad(path, first.message, "; ".join([first.fix, *(f"also, {o}" for o in others)]))
            return None
        self.notes.extend(f"{path}: {problem}" for problem in diagnosed)
        return module, file, shown, pulled

    def binding(
        self, raw: RawBinding, actors: list[ActorEntry], providers: set[tuple[str, str]]
    ) -> BindingEntry | None:
        """Check one binding against the manifest's actors and providers (and, with a
        lattice, accept a remote actor or provider with a note)."""
        index, contract, binding, values = raw.index, raw.capability, raw.binding, raw.values
        path = f"bindings[{index}]"
        if not self._known_contract(path, contract, {c for c, _ in providers}):
            return None
        remote_actor = self._remote_actor(raw.actor, actors)
        if remote_actor:
            actor = None
            key = label = raw.actor
        else:
            actor = self._find_actor(raw.actor, actors, f"{path}.actor")
            if actor is None:
                return None
            key, label = actor.claims.subject, actor.label
            caps = actor.claims.caps
            if contract not in caps:
                self._bad(
                    f"{path}.capability",
                    f"actor {label} does not claim {contract} (its claims list: "
                    f"{', '.join(caps) or 'nothing'})",
                    f"re-sign it with --cap {contract}, or remove this binding",
                )
                return None
        if generic(contract) == EXTRAS and remote_actor:
            self._bad(
                f"{path}.capability",
                f"{contract} is built into each host: only the host running actor {key} binds it",
                "remove this binding",
            )
            return None
        remote_provider = generic(contract) != EXTRAS and (contract, binding) not in providers
        if remote_provider and not self.lattice:
            self._bad(
                f"{path}.capability",
                f"no capability in this manifest serves {contract} with binding_name {binding!r}",
                f"add a capability for {contract} (binding_name {binding!r}) to capabilities, "
                "or join a lattice where another host loads it (a lattice section or --lattice)",
            )
            return None
        declared = self._declared_values(contract, binding)
        if declared is not None and not self._value_names(path, contract, declared, values):
            return None
        if generic(contract) == HTTP_SERVER and not self._http_values(path, values, label):
            return None
        if not self._provider_values(
            path, self.served.get((contract, binding)), values, key, label
        ):
            return None
        if remote_actor:
            self.notes.append(
                f"{path}: actor {key} is not in this manifest: it must run on another host of "
                f"the lattice; its claims are checked for {contract} when `wascc up` starts"
            )
        if remote_provider:
            self.notes.append(
                f"{path}: no provider of this manifest serves {contract} (binding "
                f"{binding!r}): another host of the lattice must load it; it receives the "
                "binding when it joins"
            )
        return BindingEntry(
            index, key, label, contract, binding, values, remote_actor, remote_provider
        )

    def _known_contract(self, path: str, contract: str, loaded: set[str]) -> bool:
        """Whether ``contract`` may be bound: one the host or a capability of the manifest
        serves, or (with a lattice) one another host may serve, unless it looks like a typo
        of a known one. A problem naming the likely contract otherwise."""
        known = BUILTIN_CONTRACTS | loaded
        if contract in known:
            return True
        hint = contract_hint(contract, known)
        if self.lattice and not hint:
            return True
        listed = ", ".join(sorted(known))
        self._bad(
            f"{path}.capability",
            f"no capability in this manifest serves {contract}{hint}",
            f"correct the contract id (known here: {listed})"
            if hint
            else f"add a capability whose provider serves {contract}, or join a lattice where "
            f"another host loads it (a lattice section or --lattice); known here: {listed}",
        )
        return False

    def _declared_values(self, contract: str, binding: str) -> tuple[BindingValue, ...] | None:
        """The binding values the provider that gets the binding declares, if it is known
        here and declares them (a remote provider is another host's business)."""
        entry = self.served.get((contract, binding))
        if entry is not None:
            return entry.spec.binding_values if entry.spec is not None else None
        if generic(contract) == EXTRAS:
            # Imported here: the host package does not depend on the providers at import.
            from wascc.providers.extras import ExtrasProvider  # noqa: PLC0415

            return declared_values(ExtrasProvider)
        return None

    def _value_names(
        self,
        path: str,
        contract: str,
        declared: tuple[BindingValue, ...],
        values: Mapping[str, str],
    ) -> bool:
        """Whether every key of ``values`` is one the provider declares (or the host's own,
        ``__wascc_*``); a problem with a did-you-mean for each other key."""
        names = [value.name for value in declared]
        unknown = [
            key
            for key in values
            if key not in names and not key.startswith(RESERVED_VALUE_PREFIXES)
        ]
        for key in unknown:
            self._bad(
                f"{path}.values.{key}",
                f"{contract} has no binding value {key!r}{did_you_mean(key, names)}",
                f"use one of {', '.join(names)}, or remove it"
                if names
                else f"remove it ({contract} takes no values)",
            )
        return not unknown

    def _remote_actor(self, ref: str, actors: list[ActorEntry]) -> bool:
        """Whether ``ref`` names an actor of another host: only with a lattice, and only by
        public key (a path names a module of this manifest)."""
        return (
            self.lattice
            and ref.startswith("M")
            and is_public_key(ref)
            and all(actor.claims.subject != ref for actor in actors)
        )

    def _find_actor(self, ref: str, actors: list[ActorEntry], path: str) -> ActorEntry | None:
        if is_reference(ref):
            return self._find_pulled(ref, actors, path)
        if is_public_key(ref) and ref.startswith("M"):
            for actor in actors:
                if actor.claims.subject == ref:
                    return actor
            self._bad(
                path,
                f"no actor of this manifest has the key {ref}",
                "add its module to actors, correct the key, or join a lattice where another "
                "host runs it (a lattice section or --lattice)",
            )
            return None
        file = self.resolve(ref)
        for actor in actors:
            if actor.path == file:
                return actor
        self._bad(
            path,
            f"{ref!r} is neither an actor's public key nor the path of one of the "
            "manifest's actors",
            "use the key from `wascc claims inspect` or the same path as in actors",
        )
        return None

    def _find_pulled(self, ref: str, actors: list[ActorEntry], path: str) -> ActorEntry | None:
        """The actor listed by the same ``oci://`` reference (spelt alike once parsed)."""
        try:
            wanted = str(Reference.parse(ref))
        except OciError as exc:
            self._bad(path, str(exc))
            return None
        for actor in actors:
            if actor.reference is not None and str(Reference.parse(actor.reference)) == wanted:
                return actor
        self._bad(
            path,
            f"{ref} is not the reference of one of the manifest's actors",
            "write it as in actors, or use the actor's key from `wascc claims inspect`",
        )
        return None

    def _provider_values(
        self,
        path: str,
        entry: CapabilityEntry | None,
        values: Mapping[str, str],
        actor: str,
        label: str,
    ) -> bool:
        """The values as the provider of this manifest that gets them reads them, if its class
        can check them offline (``check_values``, see ``host.typing.Provider``)."""
        spec = entry.spec if entry is not None else None
        check = getattr(spec.cls, "check_values", None) if spec is not None else None
        if not callable(check):
            return True
        try:
            check(values, actor=actor, label=label, binding=entry.binding if entry else "")
        except WasccError as exc:
            self._bad(f"{path}.values", str(exc), "")
            return False
        # A provider class may be anyone's code: whatever else it raises is a problem too,
        # never a traceback from `wascc validate`.
        except Exception as exc:
            self._bad(
                f"{path}.values",
                f"{spec.cls.__name__ if spec else 'the provider'} refused the values: "
                f"{type(exc).__name__}: {exc}",
                "fix the binding's values",
            )
            return False
        return True

    def _http_values(self, path: str, values: Mapping[str, str], label: str) -> bool:
        """PORT present and valid; the rest of the values as the HTTP provider reads them."""
        # Imported here: the host package does not depend on the providers package at import.
        from wascc.providers.http import HttpSettings  # noqa: PLC0415

        port = values.get("PORT")
        if port is None:
            self._bad(
                f"{path}.values", "an HTTP binding needs a PORT value", 'add values: {PORT: "8080"}'
            )
            return False
        if not (port.strip().isascii() and port.strip().isdigit()) or int(port) > 65535:
            self._bad(
                f"{path}.values.PORT",
                f"{port!r} is not a TCP port",
                "use a number from 1 to 65535 (0: any free port)",
            )
            return False
        try:
            HttpSettings.from_values(values, actor=label)
        except WasccError as exc:
            self._bad(f"{path}.values", str(exc), "")
            return False
        return True

    def ports(self, bindings: list[BindingEntry]) -> None:
        """No two HTTP bindings (nor ``reserved_ports``, e.g. the admin endpoint) share a port."""
        taken = [("127.0.0.1", port, owner) for port, owner in self.reserved_ports.items()]
        for entry in bindings:
            if generic(entry.contract_id) != HTTP_SERVER or entry.remote_provider:
                continue  # another host's HTTP server listens on its own ports
            port = int(entry.values["PORT"])
            if port == 0:  # any free port: never a clash
                continue
            address = entry.values.get("ADDRESS", "").strip() or "127.0.0.1"
            clash = next(
                (
                    owner
                    for other, used, owner in taken
                    if used == port and (other == address or "0.0.0.0" in (other, address))
                ),
                None,
            )
            if clash is not None:
                self._bad(
                    f"bindings[{entry.index}].values.PORT",
                    f"port {port} is already used by {clash}",
                    "give each HTTP binding its own PORT",
                )
            else:
                taken.append(
                    (address, port, f"bindings[{entry.index}] (actor {entry.actor_label})")
                )
