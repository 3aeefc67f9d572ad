"""The command-line side of modules that may come from a registry: the ``FILE|oci://REF``
argument, ``--insecure`` and ``--allow-latest``, the data directory whose cache pulled
modules go to, and pulling one module for a command (``wascc up``, ``update``, ``ctl``,
``push``, ``pull``). Importing it loads neither oras nor the host: quick commands stay quick.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wascc.host.oci.errors import ReferenceInvalid
from wascc.host.oci.reference import Reference, is_reference

if TYPE_CHECKING:
    from wascc.host.manifest import RegistryAccess
    from wascc.host.oci.store import Pulled

__all__ = [
    "DATA_ENV",
    "ModuleOrReference",
    "default_data_dir",
    "pull_module",
    "registry_access",
    "registry_options",
]

F = TypeVar("F", bound=Callable[..., Any])

DATA_ENV = "WASCC_DATA"


class ModuleOrReference(click.ParamType[Path | Reference, Any]):
    """A file (checked as ``path`` checks it) or an ``oci://`` reference, parsed: a usage
    error naming what is wrong with it."""

    name = "FILE|oci://REF"

    def __init__(self, path: click.Path) -> None:
        self.path = path

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path | Reference:
        if isinstance(value, Path | Reference):
            return value
        text = str(value)
        if is_reference(text):
            try:
                return Reference.parse(text)
            except ReferenceInvalid as exc:
                self.fail(str(exc), param, ctx)
        converted = self.path.convert(value, param, ctx)
        return converted if isinstance(converted, Path) else Path(os.fsdecode(converted))


def registry_options(function: F) -> F:
    """``--insecure`` and ``--allow-latest``: how a command pulls ``oci://`` modules."""
    function = click.option(
        "--allow-latest",
        is_flag=True,
        default=None,
        help="Accept oci:// references to :latest (or no tag) without a digest, though they "
        "may change at any push [default: the manifest's registry.allow_latest, else no].",
    )(function)
    return click.option(
        "--insecure",
        is_flag=True,
        default=None,
        help="Pull oci:// modules over plain HTTP (a local test registry) [default: the "
        "manifest's registry.insecure, else TLS].",
    )(function)


def default_data_dir() -> Path:
    """Where a host keeps data and caches: ``$WASCC_DATA``, else ``~/.wascc/data`` (``up``,
    ``push`` and ``pull`` share it, so that a pulled module is in the cache ``up`` reads)."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".wascc" / "data"


def registry_access(
    data_dir: Path | None, insecure: bool | None, allow_latest: bool | None
) -> RegistryAccess:
    """How ``oci://`` modules are pulled: into the cache of ``data_dir`` (default: the data
    directory), the flags not given left to the manifest."""
    # The manifest's checks load the engine: only a command that pulls needs them.
    from wascc.host.manifest import RegistryAccess  # noqa: PLC0415

    return RegistryAccess(data_dir or default_data_dir(), insecure, allow_latest)


def pull_module(
    reference: Reference, *, data_dir: Path | None, insecure: bool | None, allow_latest: bool | None
) -> Pulled:
    """The verified module ``reference`` names, through the data directory's cache: what a
    command sends to a host (which verifies it again). ``OciError`` names the fix."""
    return registry_access(data_dir, insecure, allow_latest).store().pull(reference)
