"""``oci://`` actors wherever a module is taken, as a user runs ``wascc``: a manifest's actors
(pinned and by tag) served over HTTP, restarted from the cache with the registry down, shown
by ``/inventory``; ``wascc up oci://…``; ``wascc update oci://…``; and every refusal as one
problem at the actor's entry (or one ``Error:`` line), never a traceback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import Signer, module_path
from tests.oci.conftest import Registry
from tests.process.process_support import WasccProcess, run_wascc
from wascc.host.oci.mediatypes import WASCC_LAYER
from wascc.host.oci.store import ModuleStore
from wascc.keys.nkeys import KeyPair

HTTP = "wascc:http_server"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``: the status and body (error statuses too)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def up(started: list[WasccProcess], env: dict[str, str], cwd: Path, *args: str) -> WasccProcess:
    """``wascc up ARGS --data-dir data``, ready."""
    process = WasccProcess(("up", *args, "--data-dir", "data"), env, cwd)
    started.append(process)
    process.wait_ready()
    return process


def push(registry: Registry, module: bytes, tag: str, tmp_path: Path) -> str:
    """Push ``module`` as ``actors/NAME:TAG`` (``tag`` is ``NAME:TAG``); the pinned reference."""
    ref = registry.ref(f"actors/{tag}")
    digest = ModuleStore(tmp_path / "pusher", insecure=True).push(module, ref)
    return registry.ref(f"actors/{tag.partition(':')[0]}@{digest}")


def inventory(process: WasccProcess) -> dict[str, dict[str, object]]:
    """The host's ``/inventory`` actors by name."""
    status, body = get(f"http://{process.admin()}/inventory", process.auth())
    assert status == 200, body
    return {actor["name"]: actor for actor in json.loads(body)["actors"]}


MANIFEST = """
registry: {{insecure: true}}
actors:
  - {pinned}
  - path: {tagged}
    max_instances: 2
capabilities:
  - path: http_server
bindings:
  - actor: {pinned}
    capability: wascc:http_server
    values: {{PORT: "0"}}
  - actor: {twin_key}
    capability: wascc:http_server
    values: {{PORT: "0"}}
"""


def test_manifest_runs_pinned_and_tagged_actors_and_restarts_from_the_cache(
    registry: Registry,
    signer: Signer,
    tmp_path: Path,
    env: dict[str, str],
    wascc: list[WasccProcess],
) -> None:
    """A manifest of an actor pinned by digest (bound by its reference) and one by tag
    serves both over HTTP; /inventory shows each reference and digest; with the registry
    stopped, a restarted host starts both from the cache (the tag as resolved before)."""
    pinned = push(registry, signer.sign("echo", caps=[HTTP], rev=1), "echo:0.1.0", tmp_path)
    twin = signer.sign("echo", name="twin", caps=[HTTP], rev=1)
    twin_pin = push(registry, twin, "twin:1.0", tmp_path)
    tagged = registry.ref("actors/twin:1.0")
    manifest = tmp_path / "oci.yaml"
    manifest.write_text(MANIFEST.format(pinned=pinned, tagged=tagged, twin_key=signer.key("twin")))
    for attempt in ("registry up", "registry down"):
        host = up(wascc, env, tmp_path, str(manifest), "--admin", "127.0.0.1:0")
        urls = host.urls()
        assert set(urls) == {"echo", "twin"}, (attempt, host.stdout)
        for url in urls.values():
            status, _ = get(f"{url}/hello")
            assert status == 200, attempt
        actors = inventory(host)
        assert actors["echo"]["source"] == {
            "reference": pinned,
            "digest": pinned.partition("@")[2],
        }
        assert actors["twin"]["source"] == {
            "reference": tagged,
            "digest": twin_pin.partition("@")[2],
        }
        host.signal()
        assert host.wait() == 0, host.stderr
        registry.stop()
    assert "served from the cache" in host.stderr  # the tag, resolved when last pulled


def test_a_file_actor_has_no_source(
    signer: Signer, tmp_path: Path, env: dict[str, str], wascc: list[WasccProcess]
) -> None:
    """An actor loaded from a file shows source null in /inventory."""
    module = tmp_path / "echo_s.wasm"
    module.write_bytes(signer.sign("echo", caps=[HTTP], rev=1))
    host = up(wascc, env, tmp_path, str(module), "--http", "0", "--admin", "127.0.0.1:0")
    assert inventory(host)["echo"]["source"] is None


def validate(env: dict[str, str], cwd: Path, text: str, *args: str) -> tuple[int, str]:
    """``wascc validate`` of a manifest of ``text`` (data dir ``data``): status and output."""
    manifest = cwd / "check.yaml"
    manifest.write_text(text)
    result = run_wascc("validate", str(manifest), "--data-dir", "data", *args, env=env, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout + result.stderr


def test_a_floating_tag_is_refused_unless_allowed(
    registry: Registry, signer: Signer, tmp_path: Path, env: dict[str, str]
) -> None:
    """:latest without a digest is a problem at actors[0] naming --allow-latest; the flag
    or the manifest's registry.allow_latest accepts it."""
    push(registry, signer.sign("echo", caps=[HTTP], rev=1), "echo:latest", tmp_path)
    latest = registry.ref("actors/echo:latest")
    status, output = validate(env, tmp_path, f"actors: [{latest}]\n", "--insecure")
    assert status == 2
    assert "actors[0]: " in output
    assert "--allow-latest" in output
    status, output = validate(
        env, tmp_path, f"actors: [{latest}]\n", "--insecure", "--allow-latest"
    )
    assert status == 0, output
    allowed = f"registry: {{allow_latest: true, insecure: true}}\nactors: [{latest}]\n"
    status, output = validate(env, tmp_path, allowed)
    assert status == 0, output
    assert "1 actors" in output


def test_plain_http_needs_insecure(
    registry: Registry, signer: Signer, tmp_path: Path, env: dict[str, str]
) -> None:
    """Without --insecure (or registry.insecure) a plain-HTTP registry is a problem at the
    actor's entry, not a traceback."""
    ref = push(registry, signer.sign("echo", caps=[HTTP], rev=1), "echo:0.1.0", tmp_path)
    status, output = validate(env, tmp_path, f"actors: [{ref}]\n")
    assert status == 2
    assert "actors[0]: " in output
    assert ref.partition("@")[0].removeprefix("oci://") in output
    assert "--insecure" in output


def test_an_unsigned_module_is_refused_at_its_entry(
    registry: Registry, tmp_path: Path, env: dict[str, str]
) -> None:
    """A module pushed unsigned (by another tool) is a problem at actors[0] saying to sign it."""
    unsigned = module_path("echo").read_bytes()
    registry.push_raw(registry.ref("actors/raw:1"), [(WASCC_LAYER, unsigned)])
    text = f"registry: {{insecure: true}}\nactors: [{registry.ref('actors/raw:1')}]\n"
    status, output = validate(env, tmp_path, text)
    assert status == 2
    assert "actors[0]: " in output
    assert "wascc claims sign" in output


def test_an_untrusted_issuer_is_refused(
    registry: Registry, signer: Signer, tmp_path: Path, env: dict[str, str]
) -> None:
    """`wascc up --trust-issuer OTHER` refuses the pulled module as it would a file's."""
    ref = push(registry, signer.sign("echo", caps=[HTTP], rev=1), "echo:0.1.0", tmp_path)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"registry: {{insecure: true}}\nactors: [{ref}]\ncapabilities: [{{path: http_server}}]\n"
        f"bindings: [{{actor: {ref}, capability: {HTTP}, values: {{PORT: '0'}}}}]\n"
    )
    other = KeyPair.generate("account").public_key
    result = run_wascc(
        "up", str(manifest), "--data-dir", "data", "--trust-issuer", other, env=env, cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout
    assert "actors[0]: " in result.stderr
    assert signer.account.public_key in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_registry_for_a_capability_is_one_problem(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A provider module given as oci:// is pulled as an actor's is: a registry nobody
    listens on, nothing cached, is one problem at its entry (see test_oci_provider.py for one
    that is pulled and runs)."""
    text = "capabilities: [{path: 'oci://127.0.0.1:1/providers/kv:1.0'}]\n"
    status, output = validate(env, tmp_path, text, "--insecure")
    assert status == 2
    assert "capabilities[0].path: " in output
    assert "oci://127.0.0.1:1/providers/kv:1.0" in output


def test_an_unreachable_registry_without_cache_is_one_problem(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A registry nobody listens on, nothing cached: one problem at actors[0]."""
    status, output = validate(env, tmp_path, "actors: ['oci://127.0.0.1:1/actors/echo:1.0']\n")
    assert status == 2
    assert "actors[0]: " in output
    assert "oci://127.0.0.1:1/actors/echo:1.0" in output


def test_up_a_reference_serves_http(
    registry: Registry,
    signer: Signer,
    tmp_path: Path,
    env: dict[str, str],
    wascc: list[WasccProcess],
) -> None:
    """`wascc up oci://… --http 0 --insecure` runs the pulled actor as a file would."""
    ref = push(registry, signer.sign("echo", caps=[HTTP], rev=1), "echo:0.1.0", tmp_path)
    tagged = registry.ref("actors/echo:0.1.0")
    host = up(wascc, env, tmp_path, tagged, "--http", "0", "--insecure")
    assert f"{tagged}: actor echo" in host.stdout
    assert ref.partition("@")[2] in host.stdout
    status, _ = get(f"{host.urls()['echo']}/hello")
    assert status == 200


def test_up_a_bad_reference_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    """A malformed reference is one usage error naming the right form."""
    result = run_wascc("up", "oci://127.0.0.1:5000/Echo", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "oci://REGISTRY[:PORT]/REPOSITORY:TAG" in result.stderr
    assert "Traceback" not in result.stderr


def test_update_from_a_reference(
    registry: Registry,
    signer: Signer,
    tmp_path: Path,
    env: dict[str, str],
    wascc: list[WasccProcess],
) -> None:
    """`wascc update oci://… --host-admin` pulls, verifies and sends the new revision."""
    module = tmp_path / "echo_s.wasm"
    module.write_bytes(signer.sign("echo", caps=[HTTP], rev=1))
    host = up(wascc, env, tmp_path, str(module), "--http", "0", "--admin", "127.0.0.1:0")
    push(registry, signer.sign("echo", caps=[HTTP], rev=2), "echo:0.2.0", tmp_path)
    result = run_wascc(
        "update", registry.ref("actors/echo:0.2.0"), "--insecure",
        "--host-admin", host.admin(), "--data-dir", "data",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rev 1 -> 2" in result.stdout
    assert inventory(host)["echo"]["claims"]["rev"] == 2  # type: ignore[index]
    missing = run_wascc(
        "update", registry.ref("actors/echo:9.9"), "--insecure",
        "--host-admin", host.admin(), "--data-dir", "data",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: ")
    assert "actors/echo:9.9" in missing.stderr
