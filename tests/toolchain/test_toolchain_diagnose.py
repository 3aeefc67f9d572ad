"""Build mistakes named with their fix: in ``check_actor_module``, ``wascc validate``,
``wascc up`` (with a manifest and with ACTOR.wasm) and ``wascc claims sign``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from tests.conftest import FIXTURES, Signer, module_path
from tests.process.process_support import free_port
from tests.toolchain.conftest import Run
from tests.toolchain.mistakes import (
    ENV_ABORT,
    FOREIGN_IMPORT,
    NO_GUEST_CALL,
    START_TRAPS,
    WASI_COMMAND,
)
from wascc.host.toolchain.diagnose import check_actor_module, imports
from wascc.keys.claims import sign_module


@dataclass(frozen=True)
class Mistake:
    """A module built wrong, the kind of mistake, what the message says, what the fix says."""

    module: bytes
    kind: str
    says: str
    fix: str

    def told_in(self, text: str) -> bool:
        """Whether ``text`` (a command's output) says the mistake and its fix."""
        return self.says in text and self.fix in text


MISTAKES = [
    pytest.param(
        Mistake(WASI_COMMAND, "wasi-command", "is a WASI command module", "-Wl,--no-entry"),
        id="wasi-command",
    ),
    pytest.param(
        Mistake(
            NO_GUEST_CALL, "no-guest-call", "exports no __guest_call function", "-Wl,--no-entry"
        ),
        id="no-guest-call",
    ),
    pytest.param(
        Mistake(
            ENV_ABORT,
            "env-abort",
            "imports env.abort, AssemblyScript's default abort handler",
            "--use abort=assembly/index/abort",
        ),
        id="env-abort",
    ),
]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_check_actor_module_names_the_file_and_the_fix(mistake: Mistake) -> None:
    """Each mistake is found, severe, and told with the file's name and the fix."""
    problems = check_actor_module(mistake.module, "broken.wasm")
    assert [p.kind for p in problems] == [mistake.kind]
    (problem,) = problems
    assert problem.severe
    assert problem.message.startswith("broken.wasm ")
    assert mistake.told_in(str(problem))


def test_foreign_imports_are_named() -> None:
    """An import from a module the host does not provide is named, module and function."""
    (problem,) = check_actor_module(FOREIGN_IMPORT, "x.wasm")
    assert problem.kind == "foreign-imports"
    assert "x.wasm imports env.printf, which this host does not provide" in problem.message


def test_a_module_that_exports_start_beside_guest_call_gets_a_note() -> None:
    """``_start`` + WASI + ``__guest_call`` is how TinyGo builds actors: a note, not a refusal."""
    (problem,) = check_actor_module(START_TRAPS, "maybe.wasm")
    assert (problem.kind, problem.severe) == ("start-may-trap", False)
    assert "if it traps while running _start" in problem.fix


@pytest.mark.parametrize("name", ["echo", "logger", "fixtures/wasi", "fixtures/hostcall"])
def test_fit_actors_have_no_problems(name: str) -> None:
    """The sample actors, and a waPC actor that imports WASI, pass (the host links WASI)."""
    assert check_actor_module(module_path(name), name) == []


def test_a_file_that_is_not_wasm_is_one_unreadable_problem(tmp_path: Path) -> None:
    """Not wasm at all, or not there: one problem saying so, never an exception."""
    (tmp_path / "x.wasm").write_bytes(b"hello")
    assert [p.kind for p in check_actor_module(tmp_path / "x.wasm", "x.wasm")] == ["unreadable"]
    assert [p.kind for p in check_actor_module(tmp_path / "no.wasm", "no")] == ["unreadable"]


@pytest.mark.parametrize(
    "module",
    [ENV_ABORT, START_TRAPS, WASI_COMMAND, *(p.read_bytes() for p in sorted(FIXTURES.glob("*")))],
)
def test_imports_reads_what_wasmtime_reads(module: bytes) -> None:
    """The import section walker agrees with wasmtime on every import, in order."""
    expected = [(i.module, i.name) for i in wasmtime.Module(wasmtime.Engine(), module).imports]
    assert imports(module) == expected


def test_imports_reads_tables_memories_and_globals() -> None:
    """Every import kind's descriptor is skipped correctly (the names after it still read)."""
    module = bytes(
        wasmtime.wat2wasm(
            """(module
              (import "a" "table" (table 1 10 funcref))
              (import "b" "memory" (memory 1 2))
              (import "c" "global" (global (mut i32)))
              (import "d" "func" (func (param i32))))"""
        )
    )
    assert imports(module) == [("a", "table"), ("b", "memory"), ("c", "global"), ("d", "func")]


# Through the commands ---------------------------------------------------------------------


def _signed(tmp_path: Path, signer: Signer, module: bytes, name: str = "broken") -> Path:
    """``module`` signed (signing works on any module: that is the trouble) into tmp."""
    path = tmp_path / f"{name}_s.wasm"
    signed = sign_module(
        module,
        issuer=signer.account,
        subject=signer.module_key(name),
        name=name,
        caps=["wascc:http_server"],
    )
    path.write_bytes(signed)
    return path


def _manifest(tmp_path: Path, actor: Path, port: int) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(
        f"actors: [{actor.name}]\n"
        "capabilities: [{path: http_server}]\n"
        f"bindings:\n  - {{actor: {actor.name}, capability: wascc:http_server, "
        f'values: {{PORT: "{port}"}}}}\n'
    )
    return path


@pytest.mark.parametrize("mistake", MISTAKES)
def test_validate_names_the_module_and_the_fix(
    wascc: Run, tmp_path: Path, signer: Signer, mistake: Mistake
) -> None:
    """``wascc validate`` refuses the manifest (exit 2) naming the actor's file and the fix."""
    actor = _signed(tmp_path, signer, mistake.module)
    done = wascc("validate", str(_manifest(tmp_path, actor, free_port())))
    assert done.returncode == 2, done
    assert f"actors[0]: {actor} " in done.stderr, done
    assert mistake.told_in(done.stderr), done


@pytest.mark.parametrize("mistake", MISTAKES)
def test_up_names_the_module_and_the_fix(
    wascc: Run, tmp_path: Path, signer: Signer, mistake: Mistake
) -> None:
    """``wascc up`` refuses it before starting anything, with a manifest and as ACTOR.wasm."""
    actor = _signed(tmp_path, signer, mistake.module)
    for args in (["up", str(_manifest(tmp_path, actor, free_port()))], ["up", actor.name]):
        done = wascc(*args, "--data-dir", "data")
        assert done.returncode == 2, done
        assert mistake.told_in(done.stderr), done
        assert actor.name in done.stderr, done
        assert "host ready" not in done.stdout


def test_validate_notes_a_start_beside_guest_call(
    wascc: Run, tmp_path: Path, signer: Signer
) -> None:
    """``_start`` + WASI + ``__guest_call`` validates (TinyGo actors look like that), with a
    note that says what to do if its ``_start`` traps."""
    actor = _signed(tmp_path, signer, START_TRAPS, name="program")
    done = wascc("validate", str(_manifest(tmp_path, actor, free_port())))
    assert done.returncode == 0, done
    assert f"actors[0]: {actor} exports _start and imports WASI" in done.stdout, done
    assert "if it traps while running _start" in done.stdout


def test_up_explains_a_trap_in_start(wascc: Run, tmp_path: Path, signer: Signer) -> None:
    """A module that traps in ``_start`` fails to start (exit 1), and the hint says it looks
    like a WASI command module and how to build a freestanding actor."""
    actor = _signed(tmp_path, signer, START_TRAPS, name="program")
    done = wascc("up", actor.name, "--http", str(free_port()), "--data-dir", "data")
    assert done.returncode == 1, done
    assert "trapped while starting" in done.stderr, done
    assert f"Hint: {actor.resolve()} exports _start and imports WASI" in done.stderr, done
    assert "-Wl,--no-entry" in done.stderr


@pytest.mark.parametrize("mistake", MISTAKES)
def test_claims_sign_warns_and_signs(wascc: Run, tmp_path: Path, mistake: Mistake) -> None:
    """``wascc claims sign`` still signs (as before) but warns with the mistake and the fix."""
    (tmp_path / "broken.wasm").write_bytes(mistake.module)
    done = wascc("claims", "sign", "broken.wasm", "--name", "broken", "-q")
    assert done.returncode == 0, done
    assert (tmp_path / "broken_s.wasm").is_file()
    assert "Warning: broken.wasm " in done.stderr, done
    assert mistake.told_in(done.stderr), done


def test_claims_sign_says_nothing_about_a_fit_actor(wascc: Run, tmp_path: Path) -> None:
    """No warning for a module built right."""
    (tmp_path / "echo.wasm").write_bytes(module_path("echo").read_bytes())
    done = wascc("claims", "sign", "echo.wasm", "--name", "echo", "-q")
    assert done.returncode == 0, done
    assert "Warning" not in done.stderr, done
