"""Binding values: each provider declares the values it reads, and manifests refuse others."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import run_wascc, wascc_env
from wascc.host.capabilities import BUILTINS, resolve_provider
from wascc.host.errors import ProviderError
from wascc.host.manifest import Manifest, ManifestInvalid, Problem, load_manifest
from wascc.host.typing import REQUIRED, BindingValue
from wascc.keys.nkeys import KeyPair
from wascc.providers.extras import ExtrasProvider
from wascc.providers.http import HttpSettings
from wascc.providers.keyvalue import KeyValueSettings, MemoryKeyValueProvider
from wascc.providers.messaging import MessagingSettings

HTTP, KV, LOGGING, MESSAGING = (
    "wascc:http_server",
    "wascc:keyvalue",
    "wascc:logging",
    "wascc:messaging",
)
ALL = [HTTP, KV, LOGGING, MESSAGING, "wascc:extras"]

Write = Callable[[str], Path]

# A provider of someone else that declares its values, and one that declares none.
THIRD_PARTY = """
from wascc.host.typing import BindingValue

class _Base:
    async def start(self, host): pass
    async def stop(self): pass
    async def bind_actor(self, actor, binding, values): pass
    async def remove_actor(self, actor, binding): pass
    async def handle(self, actor, binding, operation, payload): return b""

class Declared(_Base):
    contract_id = "acme:payments"
    binding_values = (BindingValue("ACCOUNT", "the account to charge", "required"),)

class Silent(_Base):
    contract_id = "acme:payments"

class Garbled(_Base):
    contract_id = "acme:payments"
    binding_values = ["ACCOUNT"]
"""


@pytest.fixture
def write(tmp_path: Path, signer: Signer) -> Write:
    """``write(text)``: the manifest ``text`` next to ``all_s.wasm``, an actor signed with
    every contract these tests bind (and ``acme:payments``)."""
    (tmp_path / "all_s.wasm").write_bytes(signer.sign("echo", caps=[*ALL, "acme:payments"]))

    def write(text: str) -> Path:
        file = tmp_path / "m.yaml"
        file.write_text(text)
        return file

    return write


@pytest.fixture
def third_party(tmp_path: Path) -> Iterator[None]:
    """The module ``acme_provider`` importable for the test."""
    (tmp_path / "acme_provider.py").write_text(THIRD_PARTY)
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("acme_provider", None)


def binding(capability: str, values: str, provider: str | None = None) -> str:
    """A manifest binding ``all_s.wasm`` to ``capability`` with ``values`` (YAML)."""
    path = provider or capability.removeprefix("wascc:")
    capabilities = "[]" if capability == "wascc:extras" else f"[{{path: '{path}'}}]"
    return (
        f"actors: [all_s.wasm]\ncapabilities: {capabilities}\nbindings:\n"
        f"  - {{actor: all_s.wasm, capability: {capability}, values: {values}}}\n"
    )


def problems(file: Path, **options: bool) -> dict[str, Problem]:
    """The problems of ``file`` by entry path (it must have some)."""
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(file, **options)  # type: ignore[arg-type]
    return {problem.path: problem for problem in caught.value.problems}


def loaded(file: Path, **options: bool) -> Manifest:
    """``file`` loaded; a failure shows every problem."""
    return load_manifest(file, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_builtin_provider_declares_its_values(name: str) -> None:
    """Every built-in provider declares its binding values as BindingValue records: unique
    upper-case names, a one-line meaning and a default."""
    declared = resolve_provider(name).binding_values
    assert declared is not None
    names = [value.name for value in declared]
    assert len(names) == len(set(names))
    for value in declared:
        assert isinstance(value, BindingValue)
        assert value.name.isupper()
        assert not value.name.startswith("__")
        assert value.meaning
        assert "\n" not in value.meaning
        assert value.default


def test_the_declarations_hold_what_the_providers_read() -> None:
    """The names are the ones each provider documents, PORT alone is required, and extras
    and logging read none of their own."""
    names = {name: resolve_provider(name).binding_values for name in BUILTINS}
    assert [v.name for v in names["http_server"] or ()] == [
        "PORT",
        "ADDRESS",
        "MAX_BODY",
        "TIMEOUT",
        "MAX_CONCURRENT",
        "HEADER_TIMEOUT",
        "IDLE_TIMEOUT",
        "MAX_CONNECTIONS",
        "CORS",
        "ACCESS_LOG",
    ]
    assert {v.name for v in names["keyvalue"] or ()} == {
        "BACKEND",
        "PATH",
        "URL",
        "SYNCHRONOUS",
        "TIMEOUT",
    }
    assert {v.name for v in names["messaging"] or ()} == {
        "URL",
        "SUBSCRIPTION",
        "QUEUEGROUP_NAME",
        "CLIENT_JWT",
        "CLIENT_SEED",
        "CREDSFILE",
        "MAX_CONCURRENT",
        "PUBLISH_ONLY",
    }
    assert names["logging"] == ()
    assert ExtrasProvider.binding_values == ()
    required = [v.name for d in names.values() for v in d or () if v.default == REQUIRED]
    assert required == ["PORT"]
    assert MemoryKeyValueProvider.binding_values == names["keyvalue"]


def test_a_refused_value_is_described_by_its_declaration() -> None:
    """The parsers say what a value may be in the words of its declaration."""
    http = {v.name: v for v in resolve_provider("http_server").binding_values or ()}
    with pytest.raises(ProviderError) as caught:
        HttpSettings.from_values({"PORT": "99999"}, actor="a")
    assert f"PORT='99999' is not {http['PORT'].allowed}" in str(caught.value)
    kv = {v.name: v for v in resolve_provider("keyvalue").binding_values or ()}
    with pytest.raises(ProviderError) as caught:
        KeyValueSettings.from_values(
            {"SYNCHRONOUS": "off"}, actor="a", label="a", binding="b", data_dir=Path("/tmp")
        )
    assert f"SYNCHRONOUS='off' is not {kv['SYNCHRONOUS'].allowed}" in str(caught.value)
    messaging = {v.name: v for v in resolve_provider("messaging").binding_values or ()}
    with pytest.raises(ProviderError) as caught:
        MessagingSettings.from_values({"MAX_CONCURRENT": "0"}, label="a", binding="b")
    assert f"is not {messaging['MAX_CONCURRENT'].allowed}" in str(caught.value)


def test_unknown_http_values_are_refused_with_a_suggestion(write: Write) -> None:
    """``{HOST: "0.0.0.0", Port: "1"}`` is two problems, one per key: Port suggests PORT,
    HOST suggests nothing; both list the accepted values (and nothing claims PORT is
    missing: the typo is the problem)."""
    found = problems(write(binding(HTTP, '{HOST: "0.0.0.0", Port: "1"}')))
    assert set(found) == {"bindings[0].values.HOST", "bindings[0].values.Port"}
    port = found["bindings[0].values.Port"]
    assert port.message == "wascc:http_server has no binding value 'Port' (did you mean PORT?)"
    assert port.fix.startswith("use one of PORT, ADDRESS, MAX_BODY, TIMEOUT, ")
    assert port.fix.endswith("CORS, ACCESS_LOG, or remove it")
    host = found["bindings[0].values.HOST"]
    assert host.message == "wascc:http_server has no binding value 'HOST'"
    assert host.fix == port.fix


@pytest.mark.parametrize(
    ("capability", "values", "key", "suggestion"),
    [
        (KV, "{backend: memory}", "backend", "BACKEND"),
        (KV, "{TIMEOUTS: '2'}", "TIMEOUTS", "TIMEOUT"),
        (MESSAGING, "{PUBLISHONLY: 'true'}", "PUBLISHONLY", "PUBLISH_ONLY"),
        (MESSAGING, "{SUBSCRIPTIONS: a.b}", "SUBSCRIPTIONS", "SUBSCRIPTION"),
        (HTTP, "{PORT: '0', MAX_BOYD: '10'}", "MAX_BOYD", "MAX_BODY"),
    ],
)
def test_misspelt_values_get_a_did_you_mean(
    write: Write, capability: str, values: str, key: str, suggestion: str
) -> None:
    """Each provider's misspelt value names the binding, the key and the likely value."""
    found = problems(write(binding(capability, values)))
    problem = found[f"bindings[0].values.{key}"]
    assert problem.message == (
        f"{capability} has no binding value {key!r} (did you mean {suggestion}?)"
    )
    assert suggestion in problem.fix


@pytest.mark.parametrize("capability", [LOGGING, "wascc:extras"])
def test_providers_that_read_no_values_refuse_any(write: Write, capability: str) -> None:
    """Logging and extras declare no values: any value is refused, saying so."""
    found = problems(write(binding(capability, "{LEVEL: debug}")))
    problem = found["bindings[0].values.LEVEL"]
    assert problem.message == f"{capability} has no binding value 'LEVEL'"
    assert problem.fix == f"remove it ({capability} takes no values)"


def test_the_hosts_own_values_and_declared_ones_are_accepted(write: Write) -> None:
    """``__wascc_*`` keys (the host's own) pass for every provider, as do declared values."""
    text = binding(HTTP, "{PORT: '0', ADDRESS: 127.0.0.1, __wascc_name: x, __wascc_tags: t}")
    manifest = loaded(write(text))
    assert manifest.bindings[0].values["__wascc_name"] == "x"
    loaded(write(binding(LOGGING, "{__wascc_issuer: x}")))
    loaded(write(binding(KV, "{BACKEND: memory, TIMEOUT: '2'}")))
    loaded(write(binding(MESSAGING, "{PUBLISH_ONLY: 'true', SUBSCRIPTION: a.b}")))


def test_a_third_party_provider_declaring_values_is_checked(
    write: Write, third_party: None
) -> None:
    """A provider of someone else that declares its values gets the same check; one that
    declares none gets any values."""
    declared = binding("acme:payments", "{ACOUNT: x}", "acme_provider:Declared")
    problem = problems(write(declared))["bindings[0].values.ACOUNT"]
    assert problem.message == "acme:payments has no binding value 'ACOUNT' (did you mean ACCOUNT?)"
    assert problem.fix == "use one of ACCOUNT, or remove it"
    loaded(write(binding("acme:payments", "{ACCOUNT: x}", "acme_provider:Declared")))
    loaded(write(binding("acme:payments", "{ANYTHING: x}", "acme_provider:Silent")))


def test_a_malformed_declaration_is_a_capability_problem(write: Write, third_party: None) -> None:
    """``binding_values`` that are not BindingValue records are refused at the capability."""
    found = problems(write(binding("acme:payments", "{ACCOUNT: x}", "acme_provider:Garbled")))
    problem = found["capabilities[0].path"]
    assert "binding_values is not a sequence of BindingValue" in problem.message


def test_a_lattice_binding_of_a_remote_actor_is_checked_the_same(write: Write) -> None:
    """With a lattice, a binding of another host's actor to a provider of this manifest gets
    the same check; one to a provider of another host is that host's business."""
    remote = KeyPair.generate("module").public_key
    text = (
        "capabilities: [{path: http_server}]\nbindings:\n"
        f"  - {{actor: {remote}, capability: {HTTP}, values: {{Port: '1'}}}}\n"
        f"  - {{actor: {remote}, capability: {KV}, values: {{ANYTHING: x}}}}\n"
    )
    found = problems(write(text), lattice=True)
    assert set(found) == {"bindings[0].values.Port"}
    assert "(did you mean PORT?)" in found["bindings[0].values.Port"].message


def test_validate_prints_the_unknown_value(write: Write, tmp_path: Path) -> None:
    """``wascc validate`` exits 2 with one line naming the entry, the key and the fix."""
    file = write(binding(HTTP, '{Port: "8080"}'))
    result = run_wascc("validate", str(file), env=wascc_env(tmp_path / "keys"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        f"{file}: bindings[0].values.Port: wascc:http_server has no binding value 'Port' "
        "(did you mean PORT?); use one of PORT, ADDRESS"
    ) in result.stderr
