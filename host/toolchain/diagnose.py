"""What is wrong with a module meant as a waPC actor, told in terms of the toolchain that made it.

The host refuses an unfit module when it loads it, in the host's words ("does not export
__guest_call"); by then the actor has been signed and deployed. ``check_actor_module`` reads
the module's imports and exports (section headers only, nothing is compiled) and names the
usual build mistakes with their fix, so that ``wascc validate``, ``wascc up``, ``wascc claims
sign`` and ``wascc build`` can say them before anything runs:

* a WASI command module: a program with a ``main`` (it exports ``_start`` or imports WASI)
  and no ``__guest_call``: built for ``wasm32-wasi`` instead of as a freestanding actor;
* no ``__guest_call``: the linker dropped the exports (no ``-Wl,--no-entry``, or no export
  attribute);
* AssemblyScript's ``env.abort``: built without ``--use abort=...``;
* imports from a module the host does not provide (only ``wapc``, and WASI, which the host
  links with nothing granted);
* no exported ``memory``.

A module that exports ``__guest_call`` *and* ``_start`` and imports WASI is what TinyGo
builds, and the host runs its ``_start`` before the first call; a C or Rust program built that
way fails there instead. That case gets a note (``severe=False``), not a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from wascc.keys.errors import NotAModule
from wascc.keys.wasm import ModuleBytes, exports, iter_sections

__all__ = [
    "MistakeKind",
    "ModuleProblem",
    "check_actor_module",
    "imports",
    "imports_wasi",
    "is_wasm_file",
    "start_trap_hint",
]

WASI_MODULES: Final = ("wasi_snapshot_preview1", "wasi_unstable")
_MAGIC: Final = b"\0asm"
_IMPORT_SECTION: Final = 2
_FUNC, _TABLE, _MEMORY, _GLOBAL, _TAG = range(5)

FREESTANDING: Final = (
    "build a freestanding waPC actor instead: compile for wasm32-freestanding without libc "
    "and link with -Wl,--no-entry (zig cc -target wasm32-freestanding -nostdlib "
    "-Wl,--no-entry ...), exporting __guest_call; or start from `wascc new actor NAME` and "
    "build with `wascc build`"
)
EXPORT_FIX: Final = (
    'export it: in C, __attribute__((export_name("__guest_call"))) and link with '
    "-Wl,--no-entry (without it the linker keeps only _start's code and drops the exports); "
    "in AssemblyScript, `export function __guest_call` in the entry file; or build with "
    "`wascc build`"
)
ABORT_FIX: Final = (
    "build with `--use abort=assembly/index/abort`, a function of the entry file that stores "
    "the message with __guest_error (the template of `wascc new actor NAME --lang "
    "assemblyscript` has one), or with `wascc build`"
)


MistakeKind = Literal[
    "unreadable",  # not a file, not wasm, or damaged
    "wasi-command",  # a program (main, _start), not an actor
    "no-guest-call",  # the exports were dropped
    "env-abort",  # AssemblyScript without --use abort=...
    "foreign-imports",  # imports the host does not provide
    "no-memory",  # the linear memory is not exported
    "start-may-trap",  # _start and WASI beside __guest_call: TinyGo, or a C/Rust program
]


@dataclass(frozen=True)
class ModuleProblem:
    """One build mistake: ``message`` names the file and what is wrong, ``fix`` what to do.
    ``severe``: the host will refuse (or fail to start) the module; else a note."""

    kind: MistakeKind
    message: str
    fix: str
    severe: bool = True

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


def is_wasm_file(path: Path) -> bool:
    """Whether ``path`` is a readable file that starts as a wasm module does (``\\0asm``),
    whatever its name."""
    try:
        with path.open("rb") as stream:
            return stream.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def check_actor_module(module: ModuleBytes | Path, label: str) -> list[ModuleProblem]:
    """The build mistakes in ``module`` (its bytes, or the file), each naming ``label``.

    Empty for a fit waPC actor. A module that cannot be read as wasm at all gives one
    problem saying so (the claims check says it too, with the file)."""
    try:
        data = module.read_bytes() if isinstance(module, Path) else module
        imported = imports(data, path=label)
        exported = dict(exports(data, path=label))
    except OSError as exc:
        return [
            ModuleProblem("unreadable", f"cannot read {label}: {exc.strerror}", "check the path")
        ]
    except NotAModule as exc:
        return [ModuleProblem("unreadable", str(exc), "give the compiled .wasm file")]
    problems: list[ModuleProblem] = []
    wasi = [f"{module}.{name}" for module, name in imported if module in WASI_MODULES]
    guest_call = exported.get("__guest_call") == "func"
    start = exported.get("_start") == "func"
    if not guest_call and (start or wasi):
        why = "exports _start" if start else f"imports WASI ({_some(wasi)})"
        problems.append(
            ModuleProblem(
                "wasi-command",
                f"{label} is a WASI command module: it {why} and exports no __guest_call, so "
                "it is a program with a main function, not a waPC actor (signed, it would "
                "fail to start or to answer any call)",
                FREESTANDING,
            )
        )
    elif not guest_call:
        problems.append(
            ModuleProblem(
                "no-guest-call",
                f"{label} exports no __guest_call function, so it is not a waPC actor (the "
                "host calls every operation through it)",
                EXPORT_FIX,
            )
        )
    if ("env", "abort") in imported:
        problems.append(
            ModuleProblem(
                "env-abort",
                f"{label} imports env.abort, AssemblyScript's default abort handler, which a "
                "waPC host does not provide",
                ABORT_FIX,
            )
        )
    foreign = [
        f"{module}.{name}"
        for module, name in imported
        if module != "wapc" and module not in WASI_MODULES and (module, name) != ("env", "abort")
    ]
    if foreign:
        problems.append(
            ModuleProblem(
                "foreign-imports",
                f"{label} imports {_some(foreign)}, which this host does not provide: an actor "
                "may import only the waPC functions (module 'wapc') and WASI "
                "('wasi_snapshot_preview1', 'wasi_unstable')",
                "rebuild it without those imports (in C, every function must be defined in "
                "the actor or come from wapc.h: a freestanding actor has no libc)",
            )
        )
    if exported.get("memory") != "memory":
        problems.append(
            ModuleProblem(
                "no-memory",
                f"{label} does not export its linear memory as `memory`, which waPC needs",
                "export it (linkers do by default; in AssemblyScript, do not pass --importMemory)",
            )
        )
    if guest_call and start and wasi:
        problems.append(start_trap_hint(label, severe=False))
    return problems


def imports_wasi(module: ModuleBytes) -> bool:
    """Whether the module imports any WASI function (False if it cannot be read)."""
    try:
        return any(name in WASI_MODULES for name, _ in imports(module))
    except NotAModule:
        return False


def start_trap_hint(label: str, *, severe: bool = True) -> ModuleProblem:
    """What a module that exports ``_start`` and imports WASI most likely is when it traps
    while running ``_start``: a WASI command module (a C or Rust program), not an actor."""
    return ModuleProblem(
        "start-may-trap",
        f"{label} exports _start and imports WASI, like a WASI command module: the host runs "
        "its _start once before the first call (TinyGo actors register their handlers there), "
        "and the _start of a C or Rust program runs its main, which traps or exits",
        f"if it traps while running _start, {FREESTANDING}",
        severe=severe,
    )


def _some(names: list[str], most: int = 4) -> str:
    """``a, b, c`` or ``a, b, c, d and 7 more``."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def imports(module: ModuleBytes, *, path: str | None = None) -> list[tuple[str, str]]:
    """The ``(module, name)`` of every import, in order; ``NotAModule`` if the import
    section is damaged."""
    view = memoryview(module)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    result: list[tuple[str, str]] = []
    for section in iter_sections(view, path=path):
        if section.id != _IMPORT_SECTION:
            continue
        reader = _Reader(view, section.data_start, section.end, path)
        for _ in range(reader.uleb()):
            result.append((reader.name(), reader.name()))
            reader.skip_descriptor()
    return result


class _Reader:
    """A cursor over one section's payload; running past its end raises ``NotAModule``."""

    def __init__(self, view: memoryview, pos: int, end: int, path: str | None) -> None:
        self.view, self.pos, self.end, self.path = view, pos, end, path

    def _damaged(self) -> NotAModule:
        return NotAModule(
            f"the import section is damaged at offset {self.pos}; pass the compiled .wasm file",
            path=self.path,
        )

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self._damaged()
        value = self.view[self.pos]
        self.pos += 1
        return int(value)

    def uleb(self) -> int:
        """An unsigned LEB128 of up to 64 bits (memory64 limits use them)."""
        result = shift = 0
        for _ in range(10):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
        raise self._damaged()

    def name(self) -> str:
        length = self.uleb()
        if self.pos + length > self.end:
            raise self._damaged()
        text = bytes(self.view[self.pos : self.pos + length]).decode("utf-8", "replace")
        self.pos += length
        return text

    def skip_descriptor(self) -> None:
        kind = self.byte()
        if kind == _FUNC:
            self.uleb()  # type index
        elif kind == _TABLE:
            self.skip_value_type()
            self.skip_limits()
        elif kind == _MEMORY:
            self.skip_limits()
        elif kind == _GLOBAL:
            self.skip_value_type()
            self.byte()  # mutability
        elif kind == _TAG:
            self.byte()  # attribute
            self.uleb()  # type index
        else:
            raise self._damaged()

    def skip_value_type(self) -> None:
        # (ref null? ht) of the function-references proposal carries a heap type after it.
        if self.byte() in (0x63, 0x64):
            self.sleb()

    def sleb(self) -> None:
        for _ in range(10):
            if not self.byte() & 0x80:
                return
        raise self._damaged()

    def skip_limits(self) -> None:
        flags = self.byte()
        self.uleb()  # minimum
        if flags & 1:
            self.uleb()  # maximum
