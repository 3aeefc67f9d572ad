"""WASI grants at run time, through a probe actor that does exactly what a test asks with WASI:
nothing is visible without a grant; each kind of grant works; every way out of a granted
directory (``..``, absolute paths, symbolic links pointing out) and every write into a
read-only one is refused by the sandbox, not by the module's good manners."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.conftest import Signer
from wascc.host import Host
from wascc.host.actor import ActorSettings
from wascc.host.errors import GuestError
from wascc.host.wasi import DirGrant, WasiGrants

pack = msgpack.packb


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


class Probe:
    """The probe actor running under some grants."""

    def __init__(self, host: Host, key: str) -> None:
        self.host, self.key = host, key

    async def __call__(self, operation: str, request: object = None) -> Any:
        payload = b"" if request is None else pack(request)
        return unpack(await self.host.call_actor(self.key, operation, payload) or pack(None))

    async def refused(self, operation: str, request: object) -> str:
        with pytest.raises(GuestError) as failed:
            await self(operation, request)
        return str(failed.value.guest_error)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/ (to be granted ro) with a file, a link inside and links pointing out; out/ (rw);
    and a secret next to them that no grant covers."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "hello.txt").write_text("hello, world\n")
    (tmp_path / "secret.txt").write_text("the host's secret\n")
    (tmp_path / "in" / "inner").symlink_to("hello.txt")
    (tmp_path / "in" / "up").symlink_to("../secret.txt")
    (tmp_path / "in" / "abs").symlink_to(tmp_path / "secret.txt")
    return tmp_path


async def _probe(host: Host, signer: Signer, grants: WasiGrants) -> Probe:
    claims = await host.add_actor(
        signer.sign("wasiprobe", name="probe"), settings=ActorSettings(wasi=grants)
    )
    return Probe(host, claims.subject)


def _granted(tree: Path, **more: Any) -> WasiGrants:
    dirs = (DirGrant(tree / "in", "/in", "ro"), DirGrant(tree / "out", "/out", "rw"))
    return WasiGrants(dirs=dirs, **more)


async def test_without_grants_a_module_sees_nothing(
    host: Host, signer: Signer, tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = await _probe(host, signer, WasiGrants())
    assert await probe("Preopens") == []
    assert await probe("Env") == {}
    assert await probe("Args") == []
    assert "no granted directory holds /in/hello.txt" in await probe.refused(
        "Read", {"path": "/in/hello.txt"}
    )
    with caplog.at_level(logging.DEBUG, logger="wascc.actor.probe"):
        await probe("Print", {"stdout": "nobody hears this\n", "stderr": "nor this\n"})
    assert [r for r in caplog.records if r.name == "wascc.actor.probe"] == []
    assert "wasi" not in host.inventory()["actors"][0]


async def test_granted_directories_are_read_and_written_as_granted(
    host: Host, signer: Signer, tree: Path
) -> None:
    probe = await _probe(host, signer, _granted(tree))
    assert sorted(await probe("Preopens")) == ["/in", "/out"]
    assert await probe("Read", {"path": "/in/hello.txt"}) == b"hello, world\n"
    assert await probe("List", {"path": "/in"}) == ["abs", "hello.txt", "inner", "up"]
    assert await probe("Write", {"path": "/out/result.txt", "data": b"42\n"}) == {"written": 3}
    assert (tree / "out" / "result.txt").read_bytes() == b"42\n"
    await probe("Mkdir", {"path": "/out/sub"})
    assert (tree / "out" / "sub").is_dir()
    await probe("Remove", {"path": "/out/result.txt"})
    assert not (tree / "out" / "result.txt").exists()
    # A link that stays inside the granted directory is followed.
    assert await probe("Read", {"path": "/in/inner"}) == b"hello, world\n"


async def test_a_read_only_directory_refuses_every_write(
    host: Host, signer: Signer, tree: Path
) -> None:
    probe = await _probe(host, signer, _granted(tree))
    for operation, request in (
        ("Write", {"path": "/in/new.txt", "data": b"x"}),
        ("Write", {"path": "/in/hello.txt", "data": b"overwritten"}),
        ("Mkdir", {"path": "/in/sub"}),
        ("Remove", {"path": "/in/hello.txt"}),
    ):
        error = await probe.refused(operation, request)
        assert "(errno " in error, error
    assert sorted(p.name for p in (tree / "in").iterdir()) == ["abs", "hello.txt", "inner", "up"]
    assert (tree / "in" / "hello.txt").read_text() == "hello, world\n"


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("Read", {"path": "/in/../secret.txt"}),
        ("Read", {"path": "/out/../../secret.txt"}),
        ("Read", {"path": "/in/up"}),
        ("Read", {"path": "/in/abs"}),
        ("ReadAt", {"fd": 3, "path": "../secret.txt"}),
        ("ReadAt", {"fd": 3, "path": "/etc/passwd"}),
        ("Write", {"path": "/out/../escaped.txt", "data": b"x"}),
        ("List", {"path": "/in/.."}),
    ],
    ids=[
        "dot-dot",
        "dot-dot-from-rw",
        "relative-link-out",
        "absolute-link-out",
        "dot-dot-on-raw-fd",
        "absolute-on-raw-fd",
        "write-out",
        "list-parent",
    ],
)
async def test_no_path_leaves_a_granted_directory(
    host: Host, signer: Signer, tree: Path, operation: str, request_: dict[str, Any]
) -> None:
    probe = await _probe(host, signer, _granted(tree))
    error = await probe.refused(operation, request_)
    # Refused by the sandbox (a WASI errno), not by the probe's own lookup of preopens.
    assert "(errno " in error, error
    assert "the host's secret" not in error
    assert not (tree / "escaped.txt").exists()


async def test_environment_and_arguments_are_exactly_the_granted_ones(
    host: Host, signer: Signer
) -> None:
    probe = await _probe(
        host,
        signer,
        WasiGrants(env=(("GREETING", "hello"), ("EMPTY", "")), args=("--fast", "two words")),
    )
    assert await probe("Env") == {"GREETING": "hello", "EMPTY": ""}
    assert await probe("Args") == ["--fast", "two words"]


async def test_output_granted_to_the_log_reaches_the_actors_logger(
    host: Host, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    probe = await _probe(host, signer, WasiGrants(stdout="log", stderr="log"))
    with caplog.at_level(logging.INFO, logger="wascc.actor.probe"):
        await probe("Print", {"stdout": "processed 3 files\n", "stderr": "1 was empty\n"})
    lines = [
        (r.levelno, r.getMessage(), getattr(r, "actor", None))
        for r in caplog.records
        if r.name == "wascc.actor.probe"
    ]
    assert lines == [
        (logging.INFO, "processed 3 files", "probe"),
        (logging.WARNING, "1 was empty", "probe"),
    ]


async def test_the_inventory_shows_what_an_actor_was_granted(
    host: Host, signer: Signer, tree: Path
) -> None:
    await _probe(host, signer, _granted(tree, env=(("A", "b"),), stdout="log"))
    (actor,) = host.inventory()["actors"]
    assert actor["wasi"] == {
        "dirs": [
            {"host": str(tree / "in"), "guest": "/in", "mode": "ro"},
            {"host": str(tree / "out"), "guest": "/out", "mode": "rw"},
        ],
        "env": {"A": "b"},
        "args": [],
        "stdout": "log",
        "stderr": "none",
    }
