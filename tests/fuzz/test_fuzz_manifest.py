"""Fuzz: manifests, the file ``wascc up`` and ``wascc validate`` are given.

``load_manifest`` returns a ``Manifest`` or raises ``ManifestInvalid`` listing every problem;
``parse_document`` (the shape check of the data a file holds) returns a ``RawManifest``
whose problems each render to one line, and never raises. Inputs: any text as a ``.yaml``
or a ``.json`` file; documents of the manifest's own shape whose entries name real signed
actors, unsigned and damaged modules, key and voucher files, built-in providers and binding
values, each entry possibly replaced by a near miss or by anything, written as YAML or
JSON, with ``${VAR}`` expansion on or off; and any nested data given to ``parse_document``.

Left out of the inputs: integers of more than 4300 digits in data given to ``parse_document``
directly (``str()`` refuses to write them); a file can no longer deliver one, the loader
refuses it first. Lone surrogates in paths and Unicode digits such as ``"²"`` in a ``PORT``
or ``MAX_CONCURRENT`` were found here and fixed; they stay as explicit examples.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import module_path
from tests.fuzz.fuzz_support import FUZZ, KEYS, raises_only, scaled
from wascc.host.manifest import Manifest, ManifestInvalid, load_manifest
from wascc.host.manifest_schema import Problem, RawManifest, parse_document
from wascc.keys.claims import sign_module
from wascc.keys.store import save_key
from wascc.keys.vouch import vouch

# Text that a manifest may hold where a path or a name belongs: control characters, NUL and
# a leading ~ included; lone surrogates left out (see the module docstring).
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=16) | st.sampled_from(
    ["~nouser-fuzz/x", "~", "a\0b", "\x1f", "\uffff"]
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_anything = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
"""Any value a manifest entry may hold by mistake (shallow: see the module docstring)."""

_PATHS = [
    "echo_s.wasm",
    "./kvcounter_s.wasm",
    "unsigned.wasm",
    "garbage.wasm",
    "adir",
    "missing.wasm",
    "../missing.wasm",
    "/dev/null",
    "",
]
_paths = st.sampled_from(_PATHS) | _text
_numbers = (
    st.integers(-2, 5)
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["4", "${N}", "${N:4}", "${MISSING}", "four"])
    | st.booleans()
    | st.none()
)


def _entry(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """An entry of the manifest's shape (misspelt keys and all), or anything at all."""
    keys = {**optional, "extra": _anything, "path ": _anything}
    shaped = st.fixed_dictionaries(required, optional=keys)
    loose = st.fixed_dictionaries({}, optional={**required, **keys})
    return shaped | shaped | loose | _anything


_actors = _paths | _entry(
    {"path": _paths},
    {key: _numbers for key in ("max_instances", "max_queue", "memory_mb", "deadline", "fuel")},
)
_capabilities = _entry(
    {
        "path": st.sampled_from(
            [
                "http_server",
                "keyvalue",
                "logging",
                "messaging",
                "extras",
                "wascc:keyvalue",
                "wascc:http_server",
                "ftp_server",
                "no_such_module_fuzz:Provider",
                "wascc.host.errors:WasccError",
            ]
        )
        | _text
    },
    {
        "binding_name": st.sampled_from(["default", "b", ""]) | _anything,
        "config": st.dictionaries(st.sampled_from(["port", "default_backend"]) | _text, _anything)
        | _anything,
    },
)


_value_texts = (
    st.sampled_from(
        [
            "0",
            "8080",
            "65536",
            "-1",
            " 80 ",
            "127.0.0.1",
            "0.0.0.0",
            "localhost",
            "example.com",
            "sqlite",
            "memory",
            "redis",
            "kv.sqlite3",
            "adir",
            "/dev/null",
            "redis://127.0.0.1:1",
            "nats://127.0.0.1:1,tls://h",
            "1.5",
            "nan",
            "1e400",
            "full",
            "a.b",
            "a b",
            "user.creds",
            "bad.creds",
            "~nouser-fuzz/user.creds",
            "creds/\0.creds",
            "${PORT}",
            "${PORT:0}",
            "${MISSING}",
            KEYS["user"].seed,
            "eyJhIjoxfQ.eyJhIjoxfQ.c2ln",
        ]
    )
    | _text
) | st.sampled_from(["²", "①", "٣"])
_values = st.dictionaries(
    st.sampled_from(["PORT", "ADDRESS", "BACKEND", "PATH", "URL", "TIMEOUT", "MAX_CONCURRENT"])
    | _text,
    _value_texts | _scalars,
    max_size=4,
)
_bindings = _entry(
    {
        "actor": st.sampled_from([*_PATHS, KEYS["module"].public_key]) | _text,
        "capability": st.sampled_from(
            [
                "wascc:http_server",
                "wascc:keyvalue",
                "wascc:logging",
                "wascc:extras",
                "wascc:messaging",
                "acme:payments",
            ]
        )
        | _text,
    },
    {"binding": st.sampled_from(["default", "b"]) | _anything, "values": _values | _anything},
)
_KEY_FILES = ["host.nk", "account.nk", "lattice", "missing.nk", "adir", "garbage.wasm"]
_KEY_ONLY = ["~nouser-fuzz/host.nk", "~/missing.nk", "keys/\0.nk", "a\0b"]
_key_refs = (
    st.sampled_from(
        [pair.public_key for pair in KEYS.values()]
        + [pair.seed for pair in KEYS.values()]
        + _KEY_FILES
        + _KEY_ONLY
    )
    | _text
)
_lattice = _entry(
    {"url": st.sampled_from(["nats://127.0.0.1:4222", "http://x", "nats://", "tls://h"]) | _text},
    {
        "namespace": st.sampled_from(["prod", "a.b", "a b", "*", ""]) | _anything,
        "labels": st.dictionaries(_text, _text | _scalars, max_size=2) | _anything,
        "rpc_timeout": _numbers,
        "credentials": st.sampled_from(["user.creds", "bad.creds", "missing.creds", "adir"])
        | _anything,
        "host_key": _key_refs | _anything,
        "host_token": st.sampled_from(["host.jwt", "bad.jwt", "garbage.wasm", "adir", "none"])
        | _anything,
        "trusted_hosts": st.lists(_key_refs, max_size=2) | _anything,
    },
)
_trust = _entry(
    {},
    {
        "issuers": st.lists(_key_refs, max_size=2) | _anything,
        "lattice_account": _key_refs | _anything,
        "hosts": st.lists(_key_refs, max_size=2) | _anything,
        "controllers": st.lists(_key_refs, max_size=2) | _anything,
        "insecure_lattice": st.booleans() | _anything,
        "clock_skew": _numbers,
        "replay_window": _numbers,
    },
)
documents = st.fixed_dictionaries(
    {
        "actors": st.lists(_actors, max_size=3) | _anything,
        "capabilities": st.lists(_capabilities, max_size=3) | _anything,
        "bindings": st.lists(_bindings, max_size=3) | _anything,
    },
    optional={
        "labels": st.dictionaries(_text, _text | _scalars, max_size=2) | _anything,
        "lattice": _lattice,
        "trust": _trust,
        "extra": _anything,
    },
)
"""Documents of the manifest's shape whose entries are right, near misses, or anything."""

_ENVIRON = {"PORT": "0", "N": "4"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory with what manifests refer to: signed, unsigned and damaged modules, a
    directory, key, voucher and credentials files, and (through ``WASCC_KEYS``) a keys
    directory holding a saved account key ``lattice``."""
    folder = tmp_path_factory.mktemp("manifests")
    for name, caps in (("echo", ["wascc:http_server"]), ("kvcounter", ["wascc:keyvalue"])):
        module = sign_module(
            module_path(name).read_bytes(),
            issuer=KEYS["account"],
            subject=KEYS["module"] if name == "echo" else KEYS["service"],
            name=name,
            caps=[*caps, "wascc:logging"],
            provider=name != "echo",
        )
        (folder / f"{name}_s.wasm").write_bytes(module)
    everything = sign_module(
        module_path("echo").read_bytes(),
        issuer=KEYS["account"],
        subject=KEYS["module"],
        name="everything",
        caps=[f"wascc:{contract}" for contract in _contracts],
    )
    (folder / "everything_s.wasm").write_bytes(everything)
    (folder / "unsigned.wasm").write_bytes(module_path("echo").read_bytes())
    (folder / "garbage.wasm").write_bytes(b"\0asm\x01\0\0\0\0\xff")
    (folder / "adir").mkdir()
    (folder / "host.nk").write_text(KEYS["server"].seed + "\n")
    (folder / "account.nk").write_text(KEYS["account"].seed + "\n")
    (folder / "host.jwt").write_text(vouch(KEYS["account"], KEYS["server"].public_key))
    (folder / "bad.jwt").write_text("a.b.c\n")
    user_jwt = "eyJhIjoxfQ.eyJhIjoxfQ.c2ln"
    (folder / "user.creds").write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{KEYS['user'].seed}\n------END USER NKEY SEED------\n"
    )
    (folder / "bad.creds").write_text("-----BEGIN NATS USER JWT-----\nx\n")
    keys = folder / "keys"
    save_key(KEYS["account"], "lattice", directory=keys)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WASCC_KEYS", str(keys))
        yield folder


def _load(file: Path, expand: bool) -> None:
    manifest, error = raises_only(
        lambda: load_manifest(file, expand=expand, environ=_ENVIRON), ManifestInvalid
    )
    if manifest is not None:
        assert isinstance(manifest, Manifest)
        assert all(entry.claims.subject for entry in manifest.actors)
        return
    assert isinstance(error, ManifestInvalid)
    assert error.problems
    assert all(isinstance(problem, Problem) for problem in error.problems)


@settings(FUZZ, max_examples=scaled(100))
@given(document=documents, as_yaml=st.booleans(), expand=st.booleans())
@example(
    document={
        "actors": ["echo_s.wasm"],
        "capabilities": [{"path": "http_server"}],
        "bindings": [
            {"actor": "echo_s.wasm", "capability": "wascc:http_server", "values": {"PORT": "0"}}
        ],
    },
    as_yaml=True,
    expand=False,
)
def test_load_manifest_documents(
    workdir: Path, document: dict[str, Any], as_yaml: bool, expand: bool
) -> None:
    """A document of the manifest's shape, its entries right, near misses or anything,
    loads to a Manifest or raises ManifestInvalid listing its problems."""
    file = workdir / ("fuzz.yaml" if as_yaml else "fuzz.json")
    text = yaml.safe_dump(document, allow_unicode=True) if as_yaml else json.dumps(document)
    file.write_text(text, encoding="utf-8")
    _load(file, expand)


_references = st.fixed_dictionaries(
    {
        "actors": st.just([]),
        "capabilities": st.just([]),
        "bindings": st.just([]),
        "lattice": st.fixed_dictionaries(
            {"url": st.just("nats://127.0.0.1:4222")},
            optional={
                "host_key": _key_refs | st.just("keys/\ud800.nk"),
                "host_token": st.sampled_from(["host.jwt", "bad.jwt", "account.nk", "adir"]),
                "credentials": st.sampled_from(["user.creds", "bad.creds", "host.jwt", "adir"]),
            },
        ),
        "trust": st.fixed_dictionaries(
            {},
            optional={
                "lattice_account": _key_refs | st.just("keys/\ud800.nk"),
                "issuers": st.lists(_key_refs, max_size=2),
                "controllers": st.lists(_key_refs, max_size=2),
            },
        ),
    },
)
"""Documents whose lattice and trust sections name keys (public keys, seeds, key files,
saved names, paths no file has or can have), vouchers and credentials."""


@settings(FUZZ, max_examples=scaled(40))
@given(document=_references)
@example(  # found: RuntimeError escaped keys.store for a ~user path of no user
    document={
        "actors": [],
        "capabilities": [],
        "bindings": [],
        "lattice": {"url": "nats://127.0.0.1:4222"},
        "trust": {"lattice_account": "~nouser-fuzz/host.nk"},
    }
)
@example(  # found: ValueError (embedded null byte) escaped keys.store
    document={
        "actors": [],
        "capabilities": [],
        "bindings": [],
        "lattice": {"url": "nats://127.0.0.1:4222", "host_key": "keys/\0.nk"},
        "trust": {},
    }
)
@example(  # found: UnicodeEncodeError escaped host.manifest_check for a lone surrogate
    document={
        "actors": ["\ud800.wasm"],
        "capabilities": [],
        "bindings": [{"actor": "\ud800", "capability": "wascc:logging"}],
        "lattice": {"url": "nats://127.0.0.1:4222", "credentials": "\udfff"},
        "trust": {},
    }
)
def test_load_manifest_key_references(workdir: Path, document: dict[str, Any]) -> None:
    """A manifest naming keys, vouchers and credentials by any means loads to a Manifest
    or raises ManifestInvalid."""
    file = workdir / "references.json"  # JSON: it spells lone surrogates, YAML cannot
    file.write_text(json.dumps(document), encoding="utf-8")
    _load(file, False)


_binding_values = st.dictionaries(
    st.sampled_from(
        [
            "PORT",
            "ADDRESS",
            "MAX_BODY",
            "TIMEOUT",
            "CORS",
            "BACKEND",
            "PATH",
            "URL",
            "SYNCHRONOUS",
            "SUBSCRIPTION",
            "QUEUEGROUP_NAME",
            "MAX_CONCURRENT",
            "CREDSFILE",
            "CLIENT_JWT",
            "CLIENT_SEED",
        ]
    ),
    _value_texts,
    max_size=4,
)
_contracts = ("http_server", "keyvalue", "logging", "messaging")


@settings(FUZZ, max_examples=scaled(50))
@given(
    bindings=st.lists(
        st.tuples(st.sampled_from(_contracts), st.sampled_from(["default", "b"]), _binding_values),
        min_size=1,
        max_size=3,
    )
)
def test_load_manifest_binding_values(
    workdir: Path, bindings: list[tuple[str, str, dict[str, str]]]
) -> None:
    """Bindings of a signed actor to every built-in provider, with any values, load to a
    Manifest or raise ManifestInvalid."""
    document = {
        "actors": ["everything_s.wasm"],
        "capabilities": [
            {"path": name, "binding_name": binding}
            for name in _contracts
            for binding in ("default", "b")
        ],
        "bindings": [
            {
                "actor": "everything_s.wasm",
                "capability": f"wascc:{contract}",
                "binding": binding,
                "values": values,
            }
            for contract, binding, values in bindings
        ],
    }
    file = workdir / "bindings.yaml"
    file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    _load(file, False)


def _alias_bomb(levels: int) -> str:
    """A few hundred bytes of YAML that expand to 9**levels values through aliases."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "labels: {" + ", ".join(lines) + "}\nactors: []\ncapabilities: []\nbindings: []\n"


@settings(FUZZ, max_examples=scaled(80))
@given(
    text=st.text(max_size=200)
    | st.sampled_from(["actors: [", "{", "actors: *a", "- a\n- b", "!!python/none ''"])
    | st.builds(
        "\n".join,
        st.lists(st.sampled_from(["actors: []", "capabilities: []", "bindings: []", "a: b"])),
    ),
    suffix=st.sampled_from([".yaml", ".json", ".yml", ""]),
)
@example(text="", suffix=".yaml")
@example(text="\ufeff", suffix=".json")
@example(text="actors: \x1f", suffix=".yaml")
@example(text="[" * 100_000, suffix=".yaml")
@example(text='{"actors": ' + "[" * 100_000, suffix=".json")
@example(text="labels: {a: " + "1" * 5000 + "}", suffix=".yaml")
@example(text='{"labels": {"a": ' + "1" * 5000 + "}}", suffix=".json")
@example(text="labels: {a: 0000-01-01}", suffix=".yaml")
@example(text=_alias_bomb(9), suffix=".yaml")
def test_load_manifest_any_text(workdir: Path, text: str, suffix: str) -> None:
    """Any text, as a YAML or a JSON file (control characters, nesting and alias bombs,
    numbers and dates Python cannot hold included), loads to a Manifest or raises
    ManifestInvalid."""
    file = workdir / f"any{suffix}"
    file.write_text(text, encoding="utf-8")
    _load(file, False)


_yaml_scalars = (
    _scalars
    | st.binary(max_size=8)
    | st.dates(min_value=datetime.date(1, 1, 1))
    | st.datetimes(min_value=datetime.datetime(1, 1, 1))
)
_yaml_data = st.recursive(
    _yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_yaml_scalars.filter(lambda v: not isinstance(v, bytes)) | _text, inner)
    ),
    max_leaves=10,
)


@settings(FUZZ, max_examples=scaled(100))
@given(data=documents | _yaml_data, expanded=st.sets(st.sampled_from(["actors[0]", "labels.a"])))
def test_parse_document_any_data(data: Any, expanded: set[str]) -> None:
    """Any data a YAML or JSON file can hold (dates, binary and non-string keys included)
    parses to a RawManifest whose problems each render to one line; it never raises."""
    raw, _ = raises_only(lambda: parse_document(data, expanded), ())
    assert isinstance(raw, RawManifest)
    for problem in raw.problems:
        line = problem.render("m.yaml")
        assert line.startswith("m.yaml")
