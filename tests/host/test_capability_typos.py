"""A contract id that no provider serves is answered with the known one it likely misspells:
in manifests, in the host's refusal to bind, and (as a warning) in `wascc claims sign`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Signer, module_path
from wascc.host import Host
from wascc.host.capabilities import BUILTIN_CONTRACTS, ProviderLookupError, resolve_provider
from wascc.host.errors import CapabilityNotClaimed
from wascc.host.generations import TWINS
from wascc.host.manifest import ManifestInvalid, Problem, load_manifest
from wascc.keys.claims import WASMCLOUD_CAPABILITIES
from wascc.keys.cli import main
from wascc.keys.suggest import closest, did_you_mean
from wascc.providers.http import HttpServerProvider

Write = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path, signer: Signer) -> Write:
    """``write(text)``: the manifest ``text`` next to ``echo_s.wasm``, signed for HTTP."""
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo", caps=["wascc:http_server"]))

    def write(text: str) -> Path:
        file = tmp_path / "m.yaml"
        file.write_text(text)
        return file

    return write


def problems(file: Path, **options: bool) -> dict[str, Problem]:
    """The problems of ``file`` by entry path (it must have some)."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(file, **options)  # type: ignore[arg-type]
    return {problem.path: problem for problem in caught.value.problems}


def bind(capability: str) -> str:
    """A manifest binding ``echo_s.wasm`` to ``capability``, with an HTTP provider loaded."""
    return (
        "actors: [echo_s.wasm]\ncapabilities: [{path: http_server}]\nbindings:\n"
        f"  - {{actor: echo_s.wasm, capability: '{capability}', values: {{PORT: '0'}}}}\n"
    )


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("Port", ["PORT", "ADDRESS"], " (did you mean PORT?)"),
        ("max_bdy", ["MAX_BODY", "PORT"], " (did you mean MAX_BODY?)"),
        ("PORT", ["PORT", "ADDRESS"], ""),
        ("HOST", ["PORT", "ADDRESS"], ""),
        ("anything", [], ""),
    ],
)
def test_did_you_mean(word: str, choices: list[str], expected: str) -> None:
    """The same case first, then the closest by spelling, else nothing; never the word."""
    assert did_you_mean(word, choices) == expected


def test_a_case_match_wins_over_a_closer_spelling() -> None:
    """``port`` means ``PORT`` even when another choice is spelt more like it."""
    assert closest("port", ["PORTS", "PORT"]) == "PORT"
    assert closest("wascc:graphdb", BUILTIN_CONTRACTS) == "wascc:extras"
    assert closest("wascc:graphdb", BUILTIN_CONTRACTS, cutoff=0.85) is None


def test_a_misspelt_contract_in_a_binding_suggests_the_known_one(write: Write) -> None:
    """``wascc:httpserver`` is refused at the binding's capability with the contract it
    misspells, not with "re-sign it with --cap wascc:httpserver"."""
    found = problems(write(bind("wascc:httpserver")))
    problem = found["bindings[0].capability"]
    assert problem.message == (
        "no capability in this manifest serves wascc:httpserver (did you mean wascc:http_server?)"
    )
    assert problem.fix.startswith("correct the contract id (known here: wascc:extras, ")
    assert "re-sign" not in problem.render("")


def test_a_misspelt_contract_is_refused_with_a_lattice_too(write: Write) -> None:
    """With a lattice, a contract close to a known one is still a typo, not another host's."""
    found = problems(write(bind("wascc:key_value")), lattice=True)
    assert "(did you mean wascc:keyvalue?)" in found["bindings[0].capability"].message


def test_an_unknown_contract_unlike_any_other(write: Write, signer: Signer, tmp_path: Path) -> None:
    """``acme:payments`` has no suggestion: without a lattice it is refused naming what to
    add; with one, another host may serve it (a note)."""
    signed = signer.sign("echo", caps=["wascc:http_server", "acme:payments"])
    (tmp_path / "echo_s.wasm").write_bytes(signed)
    text = bind("acme:payments").replace("values: {PORT: '0'}", "values: {}")
    problem = problems(write(text))["bindings[0].capability"]
    assert problem.message == "no capability in this manifest serves acme:payments"
    assert problem.fix.startswith("add a capability whose provider serves acme:payments, or")
    manifest = load_manifest(write(text), lattice=True)
    assert manifest.bindings[0].remote_provider
    assert any("acme:payments" in note for note in manifest.notes)


def test_a_known_contract_the_actor_does_not_claim_says_re_sign(write: Write) -> None:
    """A contract the manifest serves but the actor's claims lack still asks to re-sign."""
    text = bind("wascc:logging").replace("{path: http_server}", "{path: logging}")
    problem = problems(write(text))["bindings[0].capability"]
    assert "re-sign it with --cap wascc:logging" in problem.fix


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wascc:httpserver", "'wascc:httpserver' is not a built-in provider (did you mean "),
        ("httpserver", "'httpserver' is neither a built-in provider nor a Python import path "),
    ],
)
def test_a_misspelt_capability_path_suggests_the_built_in(name: str, expected: str) -> None:
    """A capability's ``path`` that misspells a built-in name or contract id says which."""
    with pytest.raises(ProviderLookupError) as caught:
        resolve_provider(name)
    assert caught.value.message.startswith(expected)
    assert caught.value.message.endswith("http_server?)")


@pytest.mark.parametrize("name", ["extras", "wascc:extras", "wasmcloud:extras"])
def test_the_built_in_extras_is_no_capability_path(name: str) -> None:
    """Extras is served by every host: listing it says so, instead of trying to import a
    Python module named ``wascc`` or ``wasmcloud``."""
    with pytest.raises(ProviderLookupError) as caught:
        resolve_provider(name)
    assert caught.value.message.startswith(f"{name} is built into the host")
    assert caught.value.fix.startswith("remove this entry")


def test_a_manifest_listing_extras_is_refused_at_the_entry(write: Write) -> None:
    text = "actors: [echo_s.wasm]\ncapabilities: [{path: 'wasmcloud:extras'}]\n"
    problem = problems(write(text))["capabilities[0].path"]
    assert problem.message.startswith("wasmcloud:extras is built into the host")


async def test_the_host_names_a_misspelt_contract_before_the_claims(
    signer: Signer, host: Host
) -> None:
    """set_binding to ``wascc:httpserver`` says no provider serves it and which one is meant,
    instead of asking to re-sign the actor for the typo."""
    await host.add_provider(HttpServerProvider())
    actor = await host.add_actor(signer.sign("echo", caps=["wascc:http_server"]))
    with pytest.raises(CapabilityNotClaimed) as caught:
        await host.set_binding(actor.subject, "wascc:httpserver", values={"PORT": "0"})
    message = str(caught.value)
    assert "no provider serves wascc:httpserver (did you mean wascc:http_server?)" in message
    assert message.endswith("correct the contract id")
    assert "re-sign" not in message


async def test_the_host_says_an_unknown_contract_has_no_provider(
    signer: Signer, host: Host
) -> None:
    """A contract unlike any known one: no provider serves it, and the claims lack it."""
    actor = await host.add_actor(signer.sign("echo"))
    with pytest.raises(CapabilityNotClaimed) as caught:
        await host.set_binding(actor.subject, "acme:payments")
    assert str(caught.value).endswith(
        "no provider serves acme:payments, and the actor's claims do not list it; add a "
        "provider for it, and re-sign with --cap acme:payments"
    )


def _sign(tmp_path: Path, *caps: str) -> tuple[int, str]:
    """`wascc claims sign` with ``--cap`` for each of ``caps``: exit code and stderr."""
    source = tmp_path / "echo.wasm"
    source.write_bytes(module_path("echo").read_bytes())
    args = ["claims", "sign", str(source), "--name", "echo"]
    for cap in caps:
        args += ["--cap", cap]
    result = CliRunner().invoke(main, args, prog_name="wascc", env={"WASCC_KEYS": str(tmp_path)})
    return result.exit_code, result.stderr


def test_claims_sign_warns_about_a_misspelt_contract(tmp_path: Path) -> None:
    """``--cap wascc:httpserver`` signs as given, with a warning naming the likely contract."""
    code, err = _sign(tmp_path, "wascc:httpserver")
    assert code == 0, err
    assert (
        "Warning: --cap wascc:httpserver is not a well-known contract (did you mean "
        "wascc:http_server?)"
    ) in err


@pytest.mark.parametrize(
    ("cap", "meant"),
    [
        ("wasmcloud:keyvalu", "wasmcloud:keyvalue"),
        ("wasmcloud:http_server", "wasmcloud:httpserver"),
    ],
)
def test_claims_sign_warns_about_a_misspelt_wasmcloud_contract(
    tmp_path: Path, cap: str, meant: str
) -> None:
    """The 0.18 contract ids are well known too: their typos are named like waSCC's."""
    code, err = _sign(tmp_path, cap)
    assert code == 0, err
    assert f"Warning: --cap {cap} is not a well-known contract (did you mean {meant}?)" in err


def test_the_wasmcloud_contracts_known_to_signing_are_the_ones_served() -> None:
    assert set(WASMCLOUD_CAPABILITIES) == set(TWINS)


@pytest.mark.parametrize(
    "cap", ["wascc:http_server", "acme:payments", "wascc:http_client", "wasmcloud:keyvalue"]
)
def test_claims_sign_stays_quiet_for_known_and_custom_contracts(tmp_path: Path, cap: str) -> None:
    """A well-known contract, or a custom one unlike any, signs without a warning."""
    code, err = _sign(tmp_path, cap)
    assert code == 0, err
    assert "Warning: --cap" not in err
