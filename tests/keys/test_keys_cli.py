"""`wascc keys` and `wascc claims` end to end: output, saved keys, and friendly failures."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
import wasmtime
from click.testing import CliRunner, Result

from wascc.keys.claims import WELL_KNOWN_CAPABILITIES, sign_module
from wascc.keys.cli import claims_group, keys_group, main
from wascc.keys.jwt import MAX_DATE, encode_token
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key
from wascc.keys.wasm import TOKEN_SECTIONS, find_token, iter_sections, module_hash, strip_token

REPO = Path(__file__).resolve().parents[2]
AddSection = Callable[[bytes, str, bytes], bytes]


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


def test_sign_gives_a_call_alias_and_refuses_one_hosts_would(actor_file: Path) -> None:
    """--call-alias is signed into the claims; one shaped like a contract id is a usage
    error (hosts would refuse to register it)."""
    result = run("claims", "sign", str(actor_file), "--name", "p", "--call-alias", "acme/ponger")
    assert result.exit_code == 0, result.output
    _, record = _inspect_json(actor_file.with_name("actor_s.wasm"))
    assert record["call_alias"] == "acme/ponger"
    refused = run("claims", "sign", str(actor_file), "--name", "p", "--call-alias", "acme:x")
    assert refused.exit_code == 2
    assert "'acme:x' cannot be a call alias" in refused.output


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
    assert "Kind  actor\n" in result.stdout
    assert "Signature valid  yes" in result.stdout


def test_inspect_text_names_a_provider(actor_file: Path) -> None:
    """The provider flag shows in text form too, not only in -o json."""
    run("claims", "sign", str(actor_file), "--name", "kv", "--provider")
    result = run("claims", "inspect", str(actor_file.with_name("actor_s.wasm")))
    assert result.exit_code == 0
    assert "Kind  capability provider (prov: true)" in result.stdout
    assert "Module  V" in result.stdout


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
    """`python -m wascc.keys.cli keys gen account -o json` works as a real process."""
    env = {
        **os.environ,
        "WASCC_KEYS": str(tmp_path / "keys"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "wascc.keys.cli", "keys", "gen", "account",
         "-o", "json", "--save", "acct"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["public_key"].startswith("A")
    assert (tmp_path / "keys" / "acct.nk").exists()


@pytest.mark.parametrize(
    "names",
    [("jwt", "jwt"), ("jwt", "wasmcloud_jwt"), ("wasmcloud_jwt", "wasmcloud_jwt")],
    ids="+".join,
)
def test_ambiguous_module_is_refused_then_repaired(
    actor_file: Path, tmp_path: Path, add_section: AddSection, names: tuple[str, str]
) -> None:
    """Inspect refuses a module with two claims sections in one line; signing it repairs it."""
    assert run("claims", "sign", str(actor_file), "--name", "demo", "-l").exit_code == 0
    signed = (tmp_path / "actor_s.wasm").read_bytes()
    own = find_token(signed)
    assert own is not None
    wider = sign_module(
        actor_file.read_bytes(),
        issuer=KeyPair.generate("account"),
        subject=KeyPair.generate("module"),
        name="demo",
        caps=WELL_KNOWN_CAPABILITIES,
    )
    module = add_section(strip_token(signed), names[0], own.encode())
    module = add_section(module, names[1], (find_token(wider) or "").encode())
    ambiguous = tmp_path / "ambiguous.wasm"
    ambiguous.write_bytes(module)
    for fmt in ("text", "json"):
        result = run("claims", "inspect", str(ambiguous), "-o", fmt)
        _assert_friendly_failure(
            result, str(ambiguous), "2 claims sections", "sign it once with `wascc claims sign`"
        )
        assert result.stdout == ""

    repaired = tmp_path / "repaired.wasm"
    result = run("claims", "sign", str(ambiguous), "--name", "demo", "-l", "-o", str(repaired))
    assert result.exit_code == 0, result.output
    code, record = _inspect_json(repaired)
    assert code == 0
    assert record["capabilities"] == ["wascc:logging"]
    data = repaired.read_bytes()
    assert [s.name for s in iter_sections(data) if s.name in TOKEN_SECTIONS] == ["jwt"]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("value", [10**30, -(10**30), -1, MAX_DATE + 1], ids=str)
@pytest.mark.parametrize("field", ["exp", "iat", "nbf"])
def test_inspect_impossible_date(
    *,
    actor_wasm: bytes,
    tmp_path: Path,
    add_section: AddSection,
    field: str,
    value: int,
    fmt: str,
) -> None:
    """Inspecting a validly signed token with a date of year 10000 or more, or before 1970,
    fails with one Error line naming the claim, not a traceback."""
    account, module_key = KeyPair.generate("account"), KeyPair.generate("module")
    claims: dict[str, Any] = {
        "jti": "j",
        "iat": 1_700_000_000,
        "iss": account.public_key,
        "sub": module_key.public_key,
        "wascap": {"name": "late", "hash": module_hash(actor_wasm), "prov": False},
    }
    claims[field] = value
    path = tmp_path / "late.wasm"
    path.write_bytes(add_section(actor_wasm, "jwt", encode_token(claims, account).encode()))
    result = run("claims", "inspect", str(path), "-o", fmt)
    _assert_friendly_failure(result, f"the claim '{field}' is ", "end of year 9999")
    assert "0" * 40 not in result.output  # a gigantic number is cut short


@pytest.mark.parametrize("option", ["--expires-in", "--not-before-in"])
@pytest.mark.parametrize("days", [str(10**30), "2932897"])
def test_sign_refuses_days_past_9999(
    actor_file: Path, keys_dir: Path, option: str, days: str
) -> None:
    """Days reaching past the year 9999 are a usage error (exit 2) before any key is made."""
    result = run("claims", "sign", str(actor_file), "--name", "x", option, days)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"Invalid value for '{option}'" in result.stderr
    assert "past the end of year 9999" in result.stderr
    assert not keys_dir.exists()
    assert not actor_file.with_name("actor_s.wasm").exists()


def test_sign_up_to_the_end_of_9999(actor_file: Path) -> None:
    """The largest lifetime accepted signs a module that inspects with a year-9999 expiry."""
    most = (MAX_DATE - int(time.time())) // 86400 - 1  # a day's margin for the clock
    result = run("claims", "sign", str(actor_file), "--name", "x", "--expires-in", str(most))
    assert result.exit_code == 0, result.output
    shown = run("claims", "inspect", str(actor_file.with_name("actor_s.wasm")))
    assert shown.exit_code == 0
    assert "Expires  9999-12-" in shown.stdout
