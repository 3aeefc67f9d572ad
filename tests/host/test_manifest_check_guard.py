"""The manifest check turns what a provider's own code raises into problems."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Signer
from wascc.host.manifest import ManifestInvalid, load_manifest

PROVIDER = """
class Picky:
    contract_id = "wascc:keyvalue"

    @classmethod
    def check_values(cls, values, *, actor, label, binding):
        int(values["LIMIT"])  # a ValueError (or KeyError), not a WasccError

    async def start(self, host): pass
    async def stop(self): pass
    async def bind_actor(self, actor, binding, values): pass
    async def remove_actor(self, actor, binding): pass
    async def handle(self, actor, binding, operation, payload): return b""
"""


@pytest.fixture
def picky(tmp_path: Path) -> Iterator[None]:
    """The module ``picky_provider`` (class ``Picky``) importable for the test."""
    (tmp_path / "picky_provider.py").write_text(PROVIDER)
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("picky_provider", None)


def test_an_exception_from_a_providers_check_values_is_a_problem(
    tmp_path: Path, signer: Signer, picky: None
) -> None:
    """A ValueError from a provider class's ``check_values`` is a problem at the binding's
    values naming the class, never a traceback."""
    (tmp_path / "kv_s.wasm").write_bytes(signer.sign("kvcounter", caps=["wascc:keyvalue"]))
    file = tmp_path / "m.yaml"
    file.write_text(
        "actors: [kv_s.wasm]\ncapabilities: [{path: 'picky_provider:Picky'}]\nbindings:\n"
        "  - {actor: kv_s.wasm, capability: wascc:keyvalue, values: {LIMIT: many}}\n"
    )
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(file)
    [problem] = caught.value.problems
    assert problem.path == "bindings[0].values"
    assert problem.message == (
        "Picky refused the values: ValueError: invalid literal for int() with base 10: 'many'"
    )
    assert problem.fix == "fix the binding's values"


def test_a_home_path_of_no_user_is_a_problem(tmp_path: Path) -> None:
    """An actor path ``~user/...`` of no such user is a "cannot read" problem naming it."""
    file = tmp_path / "m.yaml"
    file.write_text("actors: ['~no-such-user-here/a.wasm']\ncapabilities: []\nbindings: []\n")
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(file)
    [problem] = caught.value.problems
    assert problem.path == "actors[0]"
    assert problem.message.startswith(f"cannot read {tmp_path.resolve()}/~no-such-user-here/")
