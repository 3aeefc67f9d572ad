"""The data pipeline example end to end, as `make pipeline` runs it (examples/pipeline.sh:
build, sign, `wascc up examples/pipeline.yaml`), over real HTTP: an upload goes through the
blob store (a provider written in wasm) into its granted directory, the wordcount actor (a
WASI module) reads it through its own read-only grant, and the result is kept in key-value."""

from __future__ import annotations

import json
import signal
import sys
import urllib.request
from pathlib import Path

from tests.process.process_support import ROOT, WasccProcess, wascc_env
from tests.process.test_process_up import get


def _put(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def _fnv1a64(data: bytes) -> str:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    return f"{value:016x}"


def test_an_upload_is_stored_counted_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "pipeline-data"
    env = {
        **wascc_env(tmp_path / "keys"),
        "WASCC_DATA": str(tmp_path / "host-data"),
        "PIPELINE_DATA": str(data),
        "PIPELINE_PORT": "0",
        "PY": sys.executable,
    }
    process = WasccProcess(
        (), env, tmp_path, command=("sh", str(ROOT / "examples" / "pipeline.sh"))
    )
    try:
        process.wait_ready(timeout=120)  # builds the three modules if they are not built
        url = process.urls()["pipeline"]
        # Several 64 KiB chunks, and words across chunk boundaries.
        text = ("lorem ipsum dolor sit amet\n" * 9000 + "the end").encode()
        status, body = _put(f"{url}/files/essay.txt", text)
        expected = {
            "name": "essay.txt",
            "bytes": len(text),
            "words": len(text.split()),
            "lines": text.count(b"\n"),
            "checksum": _fnv1a64(text),
        }
        assert (status, json.loads(body)) == (201, expected)
        assert get(f"{url}/files/essay.txt/count") == (
            200,
            json.dumps(expected, separators=(",", ":")).encode(),
        )
        assert get(f"{url}/files/essay.txt") == (200, text)
        assert get(f"{url}/files") == (200, b'["essay.txt"]')
        assert get(f"{url}/files/other.txt/count")[0] == 404
        # The blob store wrote into its granted directory, in the binding's space.
        assert (data / "blobs" / "pipeline" / "uploads" / "essay.txt").read_bytes() == text
        assert "wascc.provider.blobstore" in process.stderr  # its log line, on its own logger
        process.signal(signal.SIGTERM)
        assert process.wait() == 0, process.stderr
    finally:
        process.kill()
