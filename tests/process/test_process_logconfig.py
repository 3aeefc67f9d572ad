"""Log output of the host process: JSON lines carry the invocation context, text stays short."""

from __future__ import annotations

import io
import json
import logging

import pytest

from wascc.host.invocation import Invocation, current_invocation
from wascc.host.logconfig import configure_logging


def test_json_lines_carry_invocation_fields(restore_root: None) -> None:
    """A JSON line names the invocation, its request, operation and actor key; a line made
    outside any call has none of these fields (not even empty ones)."""
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    log = logging.getLogger("wascc.test")
    log.info("outside %s", "a call")
    invocation = Invocation("system", "MACTOR", "HandleRequest", b"")
    token = current_invocation.set(invocation)
    try:
        log.warning("inside", extra={"actor_key": "MACTOR"})
    finally:
        current_invocation.reset(token)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert outside["message"] == "outside a call"
    assert set(outside) == {"time", "level", "logger", "message"}
    assert inside["level"] == "warning"
    assert inside["logger"] == "wascc.test"
    assert inside["invocation_id"] == inside["request_id"] == invocation.id
    assert (inside["operation"], inside["actor_key"]) == ("HandleRequest", "MACTOR")
    assert "actor" not in inside  # no running actor named it: its key is all there is
    assert inside["time"].endswith("Z")


def test_text_format_level_and_single_handler(restore_root: None) -> None:
    """Text lines show level and logger; configuring twice does not double lines."""
    stream = io.StringIO()
    configure_logging("warning", "text", stream)
    configure_logging("warning", "text", stream)
    log = logging.getLogger("wascc.test")
    log.info("hidden")
    log.error("shown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ERROR   wascc.test: shown" in lines[0]


def test_unknown_level_is_refused(restore_root: None) -> None:
    """A level name that logging does not know is a clear error."""
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud")
