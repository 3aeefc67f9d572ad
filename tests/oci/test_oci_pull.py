"""Push and pull against a real registry: byte-identical round trips, the three layouts,
and every refusal (tampering, wrong pins, unsigned modules, other artifacts, floating tags,
unknown names); the cache serves pinned pulls and falls back for tags when offline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.conftest import Signer, module_path
from tests.oci.conftest import Registry
from wascc.host.oci import (
    ArtifactNotFound,
    DigestMismatch,
    FloatingTagRefused,
    ModuleInvalid,
    ModuleStore,
    NotAWasmArtifact,
    Reference,
    ReferenceInvalid,
    RegistryRefused,
    RegistryUnreachable,
    mediatypes,
)
from wascc.host.oci.cache import sha256_digest
from wascc.host.oci.registry import MAX_MODULE_BYTES

SAMPLE_TAG = "actors/echo:0.1.0"


def _store(data_dir: Path, *, allow_latest: bool = False) -> ModuleStore:
    return ModuleStore(data_dir, insecure=True, timeout=5.0, allow_latest=allow_latest)


def test_push_then_pull_is_byte_identical(
    registry: Registry, signed_echo: bytes, tmp_path: Path
) -> None:
    """What comes back is what went up, by tag and by the pushed digest, with the wasm-to-oci
    media types and the claims as annotations."""
    ref = registry.ref(SAMPLE_TAG)
    digest = _store(tmp_path / "pusher").push(signed_echo, ref)
    puller = _store(tmp_path / "puller")
    by_tag = puller.pull(ref)
    assert by_tag.data == signed_echo
    assert by_tag.path.read_bytes() == signed_echo
    assert (by_tag.manifest_digest, by_tag.from_cache) == (digest, False)
    assert by_tag.layer_digest == sha256_digest(signed_echo)
    assert by_tag.media_type == mediatypes.WASCC_LAYER
    pinned = puller.pull(f"oci://{registry.host}/actors/echo@{digest}")
    assert (pinned.data, pinned.from_cache) == (signed_echo, True)
    manifest = json.loads(registry.blob_file(digest).read_bytes())
    assert manifest["config"]["mediaType"] == mediatypes.WASCC_CONFIG
    assert manifest["annotations"][mediatypes.ANNOTATION_TITLE] == "echo"
    assert manifest["annotations"][mediatypes.ANNOTATION_REV] == "3"
    assert manifest["annotations"][mediatypes.ANNOTATION_KEY].startswith("M")


@pytest.mark.parametrize(
    ("layer", "config"),
    [
        (mediatypes.CNCF_LAYER, mediatypes.CNCF_CONFIG),
        (mediatypes.WASMCLOUD_LAYER, "application/vnd.wasmcloud.actor.archive.config"),
    ],
    ids=["cncf", "wasmcloud"],
)
def test_other_tools_layouts_pull(
    registry: Registry, signed_echo: bytes, data_dir: Path, layer: str, config: str
) -> None:
    """A module in the CNCF Wasm artifact layout or in wasmCloud's pulls as well."""
    ref = registry.ref("other/echo:1.0.0")
    digest = registry.push_raw(ref, [(layer, signed_echo)], config=(config, b"{}"))
    pulled = _store(data_dir).pull(f"{ref}@{digest}")
    assert (pulled.data, pulled.media_type) == (signed_echo, layer)


def test_a_tampered_blob_is_refused(registry: Registry, signed_echo: bytes, data_dir: Path) -> None:
    """A layer changed in the registry's storage does not hash to its digest: refused, and
    nothing is cached."""
    ref = registry.ref(SAMPLE_TAG)
    _store(data_dir / "pusher").push(signed_echo, ref)
    blob = registry.blob_file(sha256_digest(signed_echo))
    tampered = bytearray(blob.read_bytes())
    tampered[100] ^= 0xFF
    blob.write_bytes(bytes(tampered))
    store = _store(data_dir / "puller")
    with pytest.raises(DigestMismatch, match=r"manifest names .* push the module again") as info:
        store.pull(ref)
    assert str(Reference.parse(ref)) in str(info.value)
    assert not (data_dir / "puller" / "oci" / "blobs").exists()


def test_a_pin_that_does_not_match_the_manifest_is_refused(
    registry: Registry, signed_echo: bytes, signer: Signer, data_dir: Path
) -> None:
    """The registry serves another manifest under the pinned digest (its storage was
    changed): the manifest's own digest decides, and it does not match the pin."""
    ref = registry.ref(SAMPLE_TAG)
    store = _store(data_dir / "pusher")
    pinned = store.push(signed_echo, ref)
    other = store.push(signer.sign("echo", rev=4), registry.ref("actors/echo:0.2.0"))
    registry.blob_file(pinned).write_bytes(registry.blob_file(other).read_bytes())
    with pytest.raises(DigestMismatch, match=f"has the digest {other}, not the pinned {pinned}"):
        _store(data_dir / "puller").pull(f"{ref}@{pinned}")


def test_an_unknown_digest_is_not_found(registry: Registry, data_dir: Path) -> None:
    """A pin to a manifest the repository does not have: not found, with the fix."""
    with pytest.raises(ArtifactNotFound, match="no such manifest"):
        _store(data_dir).pull(registry.ref(f"actors/echo@sha256:{'0' * 64}"))


def test_an_unsigned_module_is_refused_at_push_and_at_pull(
    registry: Registry, data_dir: Path
) -> None:
    """A registry only ever holds signed actors: push refuses an unsigned module; one pushed
    by another tool is refused at pull and never reaches the cache."""
    unsigned = module_path("echo").read_bytes()
    ref = registry.ref("unsigned/echo:1.0.0")
    with pytest.raises(ModuleInvalid, match="claims sign"):
        _store(data_dir).push(unsigned, ref)
    digest = registry.push_raw(ref, [(mediatypes.WASCC_LAYER, unsigned)])
    with pytest.raises(ModuleInvalid, match="not a valid signed actor"):
        _store(data_dir).pull(ref)
    with pytest.raises(ModuleInvalid):
        _store(data_dir).pull(f"{ref}@{digest}")
    assert not (data_dir / "oci" / "blobs").exists()


def test_a_tampered_signed_module_is_refused_at_pull(
    registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """A module changed after signing (its digest recomputed to match) fails its claims'
    hash check."""
    changed = bytearray(signed_echo)
    changed[20] ^= 0x01
    ref = registry.ref("changed/echo:1.0.0")
    registry.push_raw(ref, [(mediatypes.WASCC_LAYER, bytes(changed))])
    with pytest.raises(ModuleInvalid):
        _store(data_dir).pull(ref)


def test_an_artifact_without_a_wasm_layer_is_refused(
    registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """An image (a tar layer) is no module: the error names the media types found."""
    ref = registry.ref("images/app:1.0")
    registry.push_raw(ref, [("application/vnd.oci.image.layer.v1.tar", signed_echo)])
    with pytest.raises(NotAWasmArtifact) as info:
        _store(data_dir).pull(ref)
    message = str(info.value)
    assert f"oci://{registry.host}/images/app:1.0 is not a wasm artifact" in message
    assert "layer application/vnd.oci.image.layer.v1.tar" in message
    assert "config application/vnd.oci.image.config.v1+json" in message


def test_two_wasm_layers_are_refused(
    registry: Registry, signed_echo: bytes, signer: Signer, data_dir: Path
) -> None:
    """Which of two modules would run is not for the host to guess."""
    ref = registry.ref("twice/echo:1.0")
    second = signer.sign("echo", rev=9)
    registry.push_raw(ref, [(mediatypes.WASCC_LAYER, signed_echo), (mediatypes.CNCF_LAYER, second)])
    with pytest.raises(NotAWasmArtifact, match="several wasm layers"):
        _store(data_dir).pull(ref)


@pytest.mark.parametrize("path", ["actors/echo:latest", "actors/echo"])
def test_a_floating_tag_is_refused_unless_allowed(
    registry: Registry, signed_echo: bytes, data_dir: Path, path: str
) -> None:
    """:latest, or no tag at all, is refused with the fix; allowed, it pulls."""
    _store(data_dir).push(signed_echo, registry.ref("actors/echo:latest"))
    with pytest.raises(FloatingTagRefused, match="--allow-latest"):
        _store(data_dir).pull(registry.ref(path))
    assert _store(data_dir, allow_latest=True).pull(registry.ref(path)).data == signed_echo


def test_unknown_repository_and_tag(registry: Registry, signed_echo: bytes, data_dir: Path) -> None:
    """A repository or a tag the registry does not have: not found, naming the reference."""
    _store(data_dir).push(signed_echo, registry.ref(SAMPLE_TAG))
    for path in ("actors/missing:0.1.0", "actors/echo:9.9.9"):
        with pytest.raises(ArtifactNotFound, match=f"{registry.ref(path)}: .* no such manifest"):
            _store(data_dir).pull(registry.ref(path))


def test_push_needs_a_tag(registry: Registry, signed_echo: bytes, data_dir: Path) -> None:
    """The registry computes the digest: a push names a tag, not a digest."""
    with pytest.raises(ReferenceInvalid, match="a push names a tag"):
        _store(data_dir).push(signed_echo, registry.ref(f"actors/echo@sha256:{'1' * 64}"))


def test_a_pinned_pull_is_served_from_the_cache_without_the_registry(
    registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """Once pulled, a pinned module needs no registry: it is stopped, and the pull works."""
    ref = registry.ref(SAMPLE_TAG)
    digest = _store(data_dir / "pusher").push(signed_echo, ref)
    pinned = f"oci://{registry.host}/actors/echo@{digest}"
    assert not _store(data_dir).pull(pinned).from_cache
    registry.stop()
    again = _store(data_dir).pull(pinned)
    assert (again.data, again.from_cache, again.manifest_digest) == (signed_echo, True, digest)


def test_a_tag_pull_falls_back_to_the_cache_when_the_registry_is_down(
    registry: Registry, signed_echo: bytes, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The registry unreachable, a tag resolves to the digest it resolved to last, with a
    warning naming the reference and that digest."""
    ref = registry.ref(SAMPLE_TAG)
    digest = _store(data_dir).push(signed_echo, ref)
    registry.stop()
    with caplog.at_level(logging.WARNING, logger="wascc.oci"):
        pulled = _store(data_dir).pull(ref)
    assert (pulled.data, pulled.from_cache, pulled.manifest_digest) == (signed_echo, True, digest)
    warning = next(r.getMessage() for r in caplog.records if r.name == "wascc.oci")
    assert ref in warning
    assert digest in warning


def test_a_tag_never_pulled_fails_when_the_registry_is_down(
    registry: Registry, data_dir: Path
) -> None:
    """Nothing cached: the registry's outage is the error, with the fix."""
    registry.stop()
    with pytest.raises(RegistryUnreachable, match=r"cannot reach the registry .* runs"):
        _store(data_dir).pull(registry.ref(SAMPLE_TAG))


def test_a_changed_cache_file_is_not_served(
    registry: Registry, signed_echo: bytes, data_dir: Path
) -> None:
    """A cached module that no longer hashes to its digest is dropped and fetched again."""
    ref = registry.ref(SAMPLE_TAG)
    digest = _store(data_dir).push(signed_echo, ref)
    pinned = f"oci://{registry.host}/actors/echo@{digest}"
    cached = _store(data_dir).pull(pinned)
    cached.path.write_bytes(b"\0asm changed")
    again = _store(data_dir).pull(pinned)
    assert (again.data, again.from_cache) == (signed_echo, False)
    registry.stop()
    cached.path.write_bytes(b"\0asm changed")
    with pytest.raises(RegistryUnreachable):
        _store(data_dir).pull(pinned)


def test_the_cache_is_private(registry: Registry, signed_echo: bytes, data_dir: Path) -> None:
    """Directories 0700 and files 0600, like the rest of the data directory."""
    _store(data_dir).push(signed_echo, registry.ref(SAMPLE_TAG))
    _store(data_dir).pull(registry.ref(SAMPLE_TAG))
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_a_module_larger_than_the_host_accepts_is_not_downloaded(registry: Registry) -> None:
    """A manifest may name any size: beyond MAX_MODULE_BYTES the blob is refused before a
    byte of it is read."""
    refused = pytest.raises(RegistryRefused, match="more than the 268435456 this host accepts")
    with registry.client(registry.ref("big/echo:1.0")) as client, refused:
        client.blob("sha256:" + "0" * 64, MAX_MODULE_BYTES + 1)
