"""``wascc up ACTOR.wasm``: one signed actor and the providers its claims ask for, no manifest.

The actor's claims decide what runs, each bound with its defaults under the binding
``default``:

==================  ==========================================================
``wascc:http_server``  the HTTP server on ``--http PORT`` (8080), address 127.0.0.1
``wascc:keyvalue``     a key-value store in memory (gone when the host stops)
``wascc:logging``      logging, to the host's log
``wascc:extras``       built into the host (GUIDs, random numbers, sequences)
``wascc:messaging``    NATS at ``--nats URL``; refused without it
==================  ==========================================================

The module may be in a registry (``oci://...``): it is pulled through the data directory's
cache (``RegistryAccess``) and checked exactly like a file. Any other capability is
refused: a manifest says which provider serves it. The result is
the ``Manifest`` that the equivalent manifest file would give, made by the same checks
(``host.manifest_check.Checker``), so that trust, limits, the admin endpoint and shutdown
behave exactly as with a manifest.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wascc.host.errors import ManifestError
from wascc.host.manifest import Manifest, Problem
from wascc.host.manifest_check import (
    EXTRAS,
    HTTP_SERVER,
    ActorEntry,
    BindingEntry,
    Checker,
    RegistryAccess,
)
from wascc.host.manifest_schema import RawBinding
from wascc.host.oci.reference import Reference
from wascc.host.toolchain.diagnose import check_actor_module, is_wasm_file
from wascc.keys.errors import ClaimsError
from wascc.keys.wasm import find_token

__all__ = [
    "DEFAULT_HTTP_PORT",
    "QUICK_CONTRACTS",
    "SingleActorInvalid",
    "describe_providers",
    "is_wasm_file",
    "single_actor_manifest",
]

DEFAULT_HTTP_PORT: Final = 8080
KEYVALUE: Final = "wascc:keyvalue"
LOGGING: Final = "wascc:logging"
MESSAGING: Final = "wascc:messaging"
QUICK_CONTRACTS: Final = (HTTP_SERVER, KEYVALUE, LOGGING, EXTRAS, MESSAGING)
"""The capabilities ``wascc up ACTOR.wasm`` provides."""

_BINDING: Final = re.compile(r"bindings\[(\d+)\]")


class SingleActorInvalid(ManifestError):
    """The module cannot run alone: ``problems`` lists why, each with its fix."""

    def __init__(self, file: Path | Reference, problems: list[str]) -> None:
        self.file = file
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"cannot run {file}:\n{lines}")


@dataclass(frozen=True)
class _Provided:
    """How the host provides one contract: a provider, its binding values, and the
    command-line option that set them (named in problems)."""

    contract: str
    provider: str
    values: Mapping[str, str]
    option: str


def single_actor_manifest(
    file: Path | Reference,
    *,
    http_port: int = DEFAULT_HTTP_PORT,
    nats: str | None = None,
    reserved_ports: Mapping[int, str] | None = None,
    lattice: bool = False,
    issuers: Collection[str] | None = None,
    registry: RegistryAccess | None = None,
) -> Manifest:
    """The manifest that runs the signed actor in ``file`` (or pulled from the registry
    ``file`` names, with ``registry``) with the providers its claims ask for;
    ``SingleActorInvalid`` lists every reason it cannot (a build mistake, no signature, a
    capability this mode cannot provide, a port taken, a pull refused)."""
    if isinstance(file, Reference):
        checker = Checker(
            Path.cwd(),
            dict(reserved_ports or {}),
            lattice=lattice,
            issuers=None if issuers is None else tuple(issuers),
            registry=registry,
        )
        actor = checker.actor(0, str(file), {})
        if actor is None:
            raise SingleActorInvalid(file, _rendered(checker.problems, []))
        return _with_providers(checker, file, actor, actor.path, http_port=http_port, nats=nats)
    severe = [p for p in check_actor_module(file, str(file)) if p.severe]
    if severe:
        raise SingleActorInvalid(file, [str(problem) for problem in severe])
    try:
        unsigned = find_token(file.read_bytes(), path=str(file)) is None
    except (OSError, ClaimsError):
        unsigned = False  # the claims check below says what is wrong
    if unsigned:
        raise SingleActorInvalid(
            file,
            [
                f"{file} is not signed, and `wascc up` runs signed actors only; sign it with "
                f"`wascc claims sign {file} --name NAME --cap CONTRACT` (which writes "
                f"{file.with_name(file.stem + '_s.wasm')}), or, in a project made by `wascc "
                "new`, build it with `wascc build --sign`",
            ],
        )
    checker = Checker(
        file.resolve().parent,
        dict(reserved_ports or {}),
        lattice=lattice,
        issuers=None if issuers is None else tuple(issuers),
    )
    actor = checker.actor(0, str(file.resolve()), {})
    if actor is None:
        raise SingleActorInvalid(file, _rendered(checker.problems, []))
    return _with_providers(checker, file, actor, file, http_port=http_port, nats=nats)


def _with_providers(
    checker: Checker,
    file: Path | Reference,
    actor: ActorEntry,
    manifest_file: Path,
    *,
    http_port: int,
    nats: str | None,
) -> Manifest:
    """The manifest of ``actor`` with the providers its claims ask for, checked."""
    provided = _providers(file, actor, http_port, nats)
    capabilities = []
    for index, entry in enumerate(provided):
        capability = checker.capability(index, entry.provider, "default", {})
        if capability is not None:
            capabilities.append(capability)
    checker.served = {(c.contract_id, c.binding): c for c in capabilities}
    loaded = set(checker.served)
    bindings: list[BindingEntry] = []
    for index, entry in enumerate(provided):
        raw = RawBinding(index, actor.claims.subject, entry.contract, "default", entry.values)
        binding = checker.binding(raw, [actor], loaded)
        if binding is not None:
            bindings.append(binding)
    checker.ports(bindings)
    if checker.problems:
        raise SingleActorInvalid(file, _rendered(checker.problems, provided))
    return Manifest(
        manifest_file,
        {},
        (actor,),
        tuple(capabilities),
        tuple(bindings),
        notes=tuple(note.removeprefix("actors[0]: ") for note in checker.notes),
    )


def describe_providers(manifest: Manifest) -> list[str]:
    """One line per capability the single actor of ``manifest`` gets, for the terminal."""
    lines = []
    for binding in manifest.bindings:
        values = binding.values
        if binding.contract_id == HTTP_SERVER:
            port = values["PORT"]
            where = "any free port" if port == "0" else f"http://{values['ADDRESS']}:{port}"
            lines.append(f"{HTTP_SERVER} on {where}")
        elif binding.contract_id == KEYVALUE:
            lines.append(f"{KEYVALUE} in memory (emptied when the host stops)")
        elif binding.contract_id == MESSAGING:
            lines.append(f"{MESSAGING} through NATS at {values['URL']}")
        else:
            lines.append(binding.contract_id)
    if any(EXTRAS in actor.claims.caps for actor in manifest.actors):
        lines.append(f"{EXTRAS} (built into the host)")
    return lines


def _providers(
    file: Path | Reference, actor: ActorEntry, http_port: int, nats: str | None
) -> list[_Provided]:
    """The providers for the actor's claims (in the order claimed); ``SingleActorInvalid``
    for a capability this mode cannot provide."""
    provided: list[_Provided] = []
    problems: list[str] = []
    for contract in actor.claims.caps:
        if contract == HTTP_SERVER:
            values = {"PORT": str(http_port), "ADDRESS": "127.0.0.1"}
            provided.append(_Provided(contract, "http_server", values, "--http"))
        elif contract == KEYVALUE:
            provided.append(_Provided(contract, "keyvalue", {"BACKEND": "memory"}, ""))
        elif contract == LOGGING:
            provided.append(_Provided(contract, "logging", {}, ""))
        elif contract == MESSAGING and nats:
            provided.append(_Provided(contract, "messaging", {"URL": nats}, "--nats"))
        elif contract == MESSAGING:
            problems.append(
                f"actor {actor.label} claims {MESSAGING}, which needs a NATS server: give its "
                "URL with --nats (for example --nats nats://127.0.0.1:4222)"
            )
        elif contract != EXTRAS:  # the host binds extras itself to actors that claim it
            problems.append(
                f"actor {actor.label} claims {contract}, which `wascc up ACTOR.wasm` does not "
                f"provide (it provides {', '.join(QUICK_CONTRACTS)}); run it from a manifest "
                "whose capabilities load a provider for it, or re-sign it without that "
                "capability"
            )
    if problems:
        raise SingleActorInvalid(file, problems)
    return provided


def _rendered(problems: list[Problem], provided: list[_Provided]) -> list[str]:
    """The checker's problems as lines: the manifest entry a problem names becomes the
    command-line option that made it (``--http`` for the HTTP binding's port)."""
    lines = []
    for problem in problems:
        match = _BINDING.match(problem.path)
        option = provided[int(match.group(1))].option if match else ""
        text = problem.message + (f"; {problem.fix}" if problem.fix else "")
        lines.append(f"{option}: {text}" if option else text)
    return lines
