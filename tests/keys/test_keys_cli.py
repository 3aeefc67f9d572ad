"""`wascc keys` and `wascc claims` end to end: output, saved keys, and friendly failures."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import wasmtime
from click.testing import CliRunner, Result

from keys.cli import claims_group, keys_group, main
from keys.nkeys import KeyPair
from keys.store import save_key
from keys.wasm import iter_sections

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    """Invoke the standalone `main` group in-process."""
    return CliRunner().invoke(main, list(args), prog_name="wascc")


def _assert_friendly_failure(result: Result, *needles: str) -> None:
    """Exit 1, one `Error:` line on stderr containing the needles, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[-1]


def _inspect_json(path: Path) -> tuple[int, dict[str, Any]]:
    result = run("claims", "inspect", str(path), "-o", "json")
    return result.exit_code, json.loads(result.stdout)


def test_keys_gen_json() -> None:
    """`keys gen account -o json` prints a matching account public key and seed."""
    result = run("keys", "gen", "account", "-o", "json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["kind"] == "account"
    assert record["seed"].startswith("SA")
    assert KeyPair.from_seed(record["seed"]).public_key == record["public_key"]


def test_keys_gen_text_and_save(keys_dir: Path) -> None:
    """`keys gen module --save NAME` prints both keys and writes NAME.nk with mode 0600."""
    result = run("keys", "gen", "module", "--save", "mine")
    assert result.exit_code == 0
    assert "Public Key: M" in result.stdout
    assert "Seed: SM" in result.stdout
    saved = keys_dir / "mine.nk"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    seed = result.stdout.split("Seed: ")[1].split()[0]
    assert saved.read_text().strip() == seed


def test_keys_list_hides_seeds_unless_asked() -> None:
    """`keys list` shows names and public keys; seeds only with --show-seeds."""
    pair = KeyPair.generate("server")
    run("keys", "gen", "account", "--save", "acct")
    save_key(pair, "host")
    listed = run("keys", "list")
    assert listed.exit_code == 0
    assert pair.public_key in listed.stdout
    assert "host" in listed.stdout
    assert pair.seed not in listed.output
    shown = run("keys", "list", "--show-seeds", "-o", "json")
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    assert rows["host"]["seed"] == pair.seed
    assert rows["acct"]["kind"] == "account"


def test_done_when_sign_inspect_and_tamper(actor_file: Path, tmp_path: Path) -> None:
    """Sign with -k -q, inspect shows both checks valid; one flipped code byte exits 1."""
    signed = run("claims", "sign", str(actor_file), "--name", "demo", "-k", "-q")
    assert signed.exit_code == 0, signed.output
    out = tmp_path / "actor_s.wasm"
    assert out.exists()
    code, record = _inspect_json(out)
    assert code == 0
    assert (record["hash_valid"], record["signature_valid"]) == (True, True)
    assert record["capabilities"] == ["wascc:keyvalue", "wascc:http_server"]
    assert record["name"] == "demo"
    assert record["can_be_used"] is True

    data = bytearray(out.read_bytes())
    code_section = next(s for s in iter_sections(data) if s.id == 10)
    data[code_section.end - 2] ^= 0x01
    out.write_bytes(data)
    code, record = _inspect_json(out)
    assert code == 1
    assert (record["hash_valid"], record["signature_valid"]) == (False, True)
    text = run("claims", "inspect", str(out))
    assert text.exit_code == 1
    assert "Hash valid  NO" in text.stdout
    assert "module was changed after it was signed" in text.stderr


def test_sign_reuses_account_and_module_keys(actor_file: Path, keys_dir: Path) -> None:
    """One account.nk serves every signing; each module name keeps its own module key."""
    first = run("claims", "sign", str(actor_file), "--name", "demo", "-o", str(actor_file) + "1")
    assert "Generated account key" in first.stderr
    assert str(keys_dir / "module_demo.nk") in first.stderr
    again = run("claims", "sign", str(actor_file), "--name", "demo", "-o", str(actor_file) + "2")
    run("claims", "sign", str(actor_file), "--name", "other", "-o", str(actor_file) + "3")
    assert "Using account key" in again.stderr
    assert "Using module key" in again.stderr
    subjects = [_inspect_json(Path(f"{actor_file}{n}"))[1]["module"] for n in (1, 2, 3)]
    accounts = {_inspect_json(Path(f"{actor_file}{n}"))[1]["account"] for n in (1, 2, 3)}
    assert subjects[0] == subjects[1] != subjects[2]
    assert len(accounts) == 1
    assert sorted(p.name for p in keys_dir.iterdir()) == [
        "account.nk",
        "module_demo.nk",
        "module_other.nk",
    ]


def test_sign_with_all_options(actor_file: Path, tmp_path: Path) -> None:
    """Explicit keys, caps, shortcuts, tags, rev, ver and expiry all land in the claims."""
    account, module = KeyPair.generate("account"), KeyPair.generate("module")
    seed_file = tmp_path / "module.nk"
    seed_file.write_text(module.seed)
    out = tmp_path / "out.wasm"
    result = run(
        "claims", "sign", str(actor_file), "-o", str(out), "--name", "full",
        "--cap", "acme:custom", "-k", "-l", "-g", "-z", "-q", "--cap", "wascc:keyvalue",
        "--tag", "x", "--tag", "y", "--rev", "7", "--ver", "2.0", "--expires-in", "2",
        "--issuer", account.seed, "--subject", str(seed_file),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert account.seed not in result.output
    _, record = _inspect_json(out)
    assert record["account"] == account.public_key
    assert record["module"] == module.public_key
    assert record["capabilities"] == [
        "acme:custom",
        "wascc:keyvalue",
        "wascc:http_server",
        "wascc:logging",
        "wascc:messaging",
        "wascc:extras",
    ]
    assert (record["tags"], record["revision"], record["version"]) == (["x", "y"], 7, "2.0")
    assert record["expires"] - record["issued_at"] == 2 * 86400


def test_sign_provider_uses_a_service_key(actor_file: Path, keys_dir: Path) -> None:
    """--provider signs with a generated service key saved as service_NAME.nk."""
    result = run("claims", "sign", str(actor_file), "--name", "kv", "--provider")
    assert result.exit_code == 0, result.output
    assert (keys_dir / "service_kv.nk").exists()
    _, record = _inspect_json(actor_file.with_name("actor_s.wasm"))
    assert record["module"].startswith("V")
    assert record["provider"] is True


def test_sign_warns_without_guest_call(tmp_path: Path) -> None:
    """A module exporting no __guest_call is signed with a warning: it is no waPC actor."""
    plain = tmp_path / "plain.wasm"
    plain.write_bytes(bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1))')))
    result = run("claims", "sign", str(plain), "--name", "plain")
    assert result.exit_code == 0
    assert "not a waPC actor" in result.stderr
    assert (tmp_path / "plain_s.wasm").exists()


def test_inspect_text(actor_file: Path) -> None:
    """Text inspect lists account, module, name, expiry and both checks."""
    run("claims", "sign", str(actor_file), "--name", "demo", "-q", "--rev", "1")
    result = run("claims", "inspect", str(actor_file.with_name("actor_s.wasm")))
    assert result.exit_code == 0
    for label in ("Account  A", "Module  M", "Name  demo", "Expires  never", "Revision  1"):
        assert label in result.stdout
    assert "Signature valid  yes" in result.stdout


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda p: p.write_text("hello, I am text\n"), ["input", "not a WebAssembly module"]),
        (lambda p: p.write_bytes(b"\0asm\x01\0\0\0\x01\x10abc"), ["input", "truncated module"]),
    ],
)
def test_bad_input_files(tmp_path: Path, make: Any, needles: list[str]) -> None:
    """Text files and truncated modules fail with one clear line for sign and inspect."""
    path = tmp_path / "input"
    make(path)
    _assert_friendly_failure(run("claims", "sign", str(path), "--name", "x"), *needles)
    _assert_friendly_failure(run("claims", "inspect", str(path)), *needles)


def test_unsigned_module_inspect(actor_file: Path) -> None:
    """Inspecting an unsigned module says how to sign it."""
    _assert_friendly_failure(run("claims", "inspect", str(actor_file)), "wascc claims sign")


def test_broken_seed_is_not_echoed(actor_file: Path) -> None:
    """A seed with a broken checksum fails with exit 1, and the seed is not printed."""
    seed = KeyPair.generate("account").seed
    broken = seed[:30] + ("A" if seed[30] != "A" else "B") + seed[31:]
    result = run("claims", "sign", str(actor_file), "--name", "x", "--issuer", broken)
    _assert_friendly_failure(result, "--issuer", "checksum")
    assert broken not in result.output


def test_module_seed_as_issuer(actor_file: Path) -> None:
    """A module seed given as --issuer is refused with the exact fix."""
    seed = KeyPair.generate("module").seed
    result = run("claims", "sign", str(actor_file), "--name", "x", "--issuer", seed)
    _assert_friendly_failure(result, "--issuer needs an account seed (SA…), got a module seed")
    assert seed not in result.output


def test_unreadable_paths(tmp_path: Path) -> None:
    """Missing files and directories given as modules fail with the OS reason."""
    missing = tmp_path / "missing.wasm"
    _assert_friendly_failure(run("claims", "sign", str(missing), "--name", "x"), "cannot read")
    _assert_friendly_failure(run("claims", "inspect", str(tmp_path)), "cannot read")


def test_output_in_missing_directory(actor_file: Path, tmp_path: Path) -> None:
    """An output path in a directory that does not exist fails with a hint."""
    out = tmp_path / "nope" / "x.wasm"
    result = run("claims", "sign", str(actor_file), "--name", "x", "-o", str(out))
    _assert_friendly_failure(result, "cannot write", "does the directory exist?")


def test_usage_errors_exit_2(actor_file: Path) -> None:
    """Missing --name and unknown kinds are usage errors: click's exit status 2."""
    assert run("claims", "sign", str(actor_file)).exit_code == 2
    assert run("keys", "gen", "wizard").exit_code == 2


def test_groups_mount_under_another_cli(actor_file: Path) -> None:
    """The exported groups work when mounted under the host's own click group."""

    @click.group()
    def host_main() -> None:
        """Stand-in for host.cli.main."""

    host_main.add_command(keys_group, "keys")
    host_main.add_command(claims_group, "claims")
    runner = CliRunner()
    assert runner.invoke(host_main, ["keys", "gen", "server", "-o", "json"]).exit_code == 0
    signed = runner.invoke(host_main, ["claims", "sign", str(actor_file), "--name", "d"])
    assert signed.exit_code == 0, signed.output


def test_runs_as_a_module(tmp_path: Path) -> None:
    """`python -m keys.cli keys gen account -o json` works as a real process."""
    env = {
        **os.environ,
        "WASCC_KEYS": str(tmp_path / "keys"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "keys.cli", "keys", "gen", "account", "-o", "json",
         "--save", "acct"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["public_key"].startswith("A")
    assert (tmp_path / "keys" / "acct.nk").exists()
