"""WASI grants: what a module may see of the machine, given by the operator and nothing more.

A module that imports WASI gets, by default, no directory, no environment variable, no
argument, and its standard output and error go nowhere. A manifest's ``wasi`` entry under an
actor (or a wasm provider) grants each of those explicitly::

    wasi:
      dirs: [{host: ./in, guest: /data, mode: ro}]   # mode: ro (default) or rw
      env: {GREETING: hello}
      args: [--verbose]
      stdout: log                                    # log or none (default)
      stderr: log

wasmtime enforces them: a path is resolved inside the preopened directory it starts in, so
``..`` out of it, absolute paths and symlinks that point outside are refused, and a directory
granted ``ro`` refuses every write. ``read_grants`` checks an entry as written; ``WasiGrants``
is what a running module is given.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import wasmtime

from wascc.keys.suggest import did_you_mean

__all__ = ["DirGrant", "GrantProblem", "OutputSink", "WasiGrants", "read_grants"]

Mode = Literal["ro", "rw"]
Output = Literal["log", "none"]
OutputSink = Callable[[str, bytes], None]
"""Where granted output goes: ``(stream, data)`` with ``stream`` "stdout" or "stderr"."""

_KEYS: Final = ("dirs", "env", "args", "stdout", "stderr")
_DIR_KEYS: Final = ("host", "guest", "mode")
_MODES: Final = ("ro", "rw")
_OUTPUTS: Final = ("log", "none")


@dataclass(frozen=True)
class DirGrant:
    """A host directory (absolute) the module sees at ``guest``; ``ro`` refuses writes."""

    host: Path
    guest: str
    mode: Mode = "ro"

    def describe(self) -> dict[str, str]:
        return {"host": str(self.host), "guest": self.guest, "mode": self.mode}


@dataclass(frozen=True)
class WasiGrants:
    """Everything a WASI module is granted. The default grants nothing."""

    dirs: tuple[DirGrant, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    stdout: Output = "none"
    stderr: Output = "none"

    @property
    def empty(self) -> bool:
        """Whether nothing is granted."""
        return self == WasiGrants()

    def config(self, sink: OutputSink | None) -> wasmtime.WasiConfig:
        """A fresh ``WasiConfig`` with exactly these grants (one per instance: a store takes
        ownership of it). Output granted as ``log`` goes to ``sink``; without a sink, nowhere.
        """
        config = wasmtime.WasiConfig()
        for grant in self.dirs:
            # fs_mutable=False: wasmtime refuses every write under a read-only grant.
            config.preopen_dir(str(grant.host), grant.guest, grant.mode == "rw")
        if self.env:
            config.env = [list(pair) for pair in self.env]
        if self.args:
            config.argv = list(self.args)
        if sink is not None:
            if self.stdout == "log":
                config.stdout_custom = _forward(sink, "stdout")
            if self.stderr == "log":
                config.stderr_custom = _forward(sink, "stderr")
        return config

    def describe(self) -> dict[str, Any]:
        """The grants as JSON-ready data (``/inventory``, ``wascc ctl get actors``)."""
        return {
            "dirs": [grant.describe() for grant in self.dirs],
            "env": dict(self.env),
            "args": list(self.args),
            "stdout": self.stdout,
            "stderr": self.stderr,
        }

    def summary(self) -> str:
        """One short line: ``/data ro, /out rw, 2 env, 1 arg, stdout→log``; ``-`` if none."""
        return summarize(self.describe())


def summarize(described: Mapping[str, Any] | None) -> str:
    """``WasiGrants.summary`` of a ``describe()`` (as ``/inventory`` carries it)."""
    if not described:
        return "-"
    parts = [f"{d['guest']} {d['mode']}" for d in described.get("dirs", ())]
    for key, noun in (("env", "env"), ("args", "arg")):
        count = len(described.get(key) or ())
        if count:
            parts.append(f"{count} {noun}" + ("s" if count > 1 and noun == "arg" else ""))
    parts.extend(f"{s}→log" for s in ("stdout", "stderr") if described.get(s) == "log")
    return ", ".join(parts) or "-"


def _forward(sink: OutputSink, stream: str) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        # Never raise into wasmtime: the module's write would fail with an I/O error.
        with contextlib.suppress(Exception):
            sink(stream, data)

    return write


@dataclass(frozen=True)
class GrantProblem:
    """What is wrong with one part of a ``wasi`` entry: ``where`` is relative to it
    (``dirs[0].host``), ``fix`` says what to do."""

    where: str
    message: str
    fix: str


@dataclass
class _Reader:
    base: Path
    reserved: Mapping[Path, str]
    problems: list[GrantProblem] = field(default_factory=list)

    def bad(self, where: str, message: str, fix: str) -> None:
        self.problems.append(GrantProblem(where, message, fix))

    def keys(self, value: Mapping[Any, Any], where: str, allowed: tuple[str, ...]) -> bool:
        ok = True
        for key in value:
            if key not in allowed:
                ok = False
                self.bad(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key {key!r}{did_you_mean(str(key), allowed)}",
                    f"a wasi grant takes only {', '.join(allowed)}",
                )
        return ok

    def dirs(self, value: object) -> tuple[DirGrant, ...]:
        if not isinstance(value, list):
            self.bad("dirs", f"expected a list, got {_kind(value)}", _DIR_FIX)
            return ()
        grants: list[DirGrant] = []
        for index, item in enumerate(value):
            grant = self.dir(item, f"dirs[{index}]")
            if grant is None:
                continue
            twin = next((g for g in grants if g.guest == grant.guest), None)
            if twin is not None:
                self.bad(
                    f"dirs[{index}].guest",
                    f"{grant.guest} is granted twice",
                    "give each directory its own guest path",
                )
                continue
            grants.append(grant)
        return tuple(grants)

    def dir(self, item: object, where: str) -> DirGrant | None:
        if not isinstance(item, dict):
            self.bad(where, f"expected a mapping, got {_kind(item)}", _DIR_FIX)
            return None
        if not self.keys(item, where, _DIR_KEYS):
            return None
        missing = [key for key in ("host", "guest") if key not in item]
        if missing:
            self.bad(where, f"missing {' and '.join(missing)}", _DIR_FIX)
            return None
        host_text, guest, mode = item["host"], item["guest"], item.get("mode", "ro")
        ok = True
        if not isinstance(host_text, str) or not host_text or "\0" in host_text:
            self.bad(
                f"{where}.host", f"expected a directory path, got {_kind(host_text)}", _DIR_FIX
            )
            ok = False
        if not isinstance(guest, str) or not guest.startswith("/") or "\0" in guest:
            self.bad(
                f"{where}.guest",
                f"expected an absolute guest path such as /data, got {_shown(guest)}",
                "write the path the module opens, starting with /",
            )
            ok = False
        elif posixpath.normpath(guest) != guest or guest == "/":
            self.bad(
                f"{where}.guest",
                f"{guest} is not a plain guest path",
                f"write it as {posixpath.normpath(guest)!r} (no '..', '.', '//' or trailing "
                "slash), and not / itself",
            )
            ok = False
        if mode not in _MODES:
            self.bad(
                f"{where}.mode",
                f"mode is {_shown(mode)}, not ro or rw",
                "write ro (read-only, the default) or rw (read-write)",
            )
            ok = False
        if not ok:
            return None
        assert isinstance(host_text, str)
        assert isinstance(guest, str)
        host = self.directory(host_text, f"{where}.host")
        return None if host is None else DirGrant(host, guest, mode)

    def directory(self, text: str, where: str) -> Path | None:
        path = Path(text)
        with contextlib.suppress(RuntimeError):  # no such user: stays as written
            path = path.expanduser()
        path = (self.base / path).resolve()
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a directory"
            self.bad(
                where,
                f"{path} {what}",
                "create the directory first, or fix the path (relative paths start at the "
                "manifest's directory)",
            )
            return None
        for reserved, purpose in self.reserved.items():
            used = reserved.resolve()
            if path == used or used.is_relative_to(path) or path.is_relative_to(used):
                self.bad(
                    where,
                    f"{path} would give the module {purpose} ({used})",
                    "grant a directory of its own, outside the host's files",
                )
                return None
        return path

    def env(self, value: object) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict):
            self.bad("env", f"expected a mapping NAME: value, got {_kind(value)}", _ENV_FIX)
            return ()
        pairs: list[tuple[str, str]] = []
        for name, text in value.items():
            where = f"env.{name}"
            if not isinstance(name, str) or not name or "=" in name or "\0" in name:
                self.bad("env", f"{_shown(name)} is not a variable name", _ENV_FIX)
            elif not isinstance(text, str) or "\0" in text:
                self.bad(where, f"expected text, got {_kind(text)}", "quote the value")
            else:
                pairs.append((name, text))
        return tuple(pairs)

    def args(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(
            isinstance(arg, str) and "\0" not in arg for arg in value
        ):
            self.bad("args", f"expected a list of text, got {_shown(value)}", "write [a, b]")
            return ()
        return tuple(value)

    def output(self, value: object, key: str) -> Output:
        if value == "log":
            return "log"
        if value != "none":
            self.bad(
                key,
                f"{key} is {_shown(value)}, not log or none",
                "write log (the module's log) or none (discarded, the default)",
            )
        return "none"


_DIR_FIX: Final = "write {host: ./dir, guest: /data, mode: ro}"
_ENV_FIX: Final = "write env: {NAME: value}"


def read_grants(
    value: object, base: Path, reserved: Mapping[Path, str] | None = None
) -> tuple[WasiGrants | None, list[GrantProblem]]:
    """Check a ``wasi`` entry as written; host paths are relative to ``base``. A directory
    that is, holds or lies inside a path of ``reserved`` (path → what it is to the host,
    e.g. "the host's data directory") is refused. ``(grants, [])`` or ``(None, problems)``."""
    reader = _Reader(base, reserved or {})
    if not isinstance(value, dict):
        reader.bad("", f"expected a mapping, got {_kind(value)}", f"wasi takes {', '.join(_KEYS)}")
        return None, reader.problems
    reader.keys(value, "", _KEYS)
    grants = WasiGrants(
        dirs=reader.dirs(value["dirs"]) if "dirs" in value else (),
        env=reader.env(value["env"]) if "env" in value else (),
        args=reader.args(value["args"]) if "args" in value else (),
        stdout=reader.output(value.get("stdout", "none"), "stdout"),
        stderr=reader.output(value.get("stderr", "none"), "stderr"),
    )
    if reader.problems:
        return None, reader.problems
    return grants, []


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
