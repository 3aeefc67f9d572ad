"""docs/providers.md lists exactly the binding values each built-in provider declares.

Under each provider's heading (its contract id, ``## wascc:http_server``) the values are the
rows of its tables whose first cell is a name in backticks written in capitals (``PORT``);
lower-case names (a provider's ``config`` keywords) are not binding values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wascc.host.capabilities import BUILTINS, declared_values, resolve_provider
from wascc.host.typing import BindingValue
from wascc.providers.extras import ExtrasProvider

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_VALUE_CELL = re.compile(r"^`([A-Z][A-Z0-9_]*)`$")


def _declarations() -> dict[str, tuple[BindingValue, ...]]:
    """Each built-in contract and the values its provider declares."""
    out: dict[str, tuple[BindingValue, ...]] = {}
    for name, (_, contract) in BUILTINS.items():
        out[contract] = resolve_provider(name).binding_values or ()
    out[ExtrasProvider.contract_id] = declared_values(ExtrasProvider) or ()
    return out


DECLARED = _declarations()


def _sections(text: str) -> dict[str, list[str]]:
    """The lines under each level-2 heading (to the next heading of level 1 or 2), keyed by
    the heading's first word without backticks."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match and len(match.group(1)) <= 2:
            words = match.group(2).replace("`", "").split()
            current = sections.setdefault(words[0], []) if len(match.group(1)) == 2 else None
            continue
        if current is not None:
            current.append(line)
    return sections


def _listed(lines: list[str]) -> list[str]:
    """The binding values named in the first column of the tables among ``lines``."""
    names = []
    for line in lines:
        if not line.lstrip().startswith("|"):
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        match = _VALUE_CELL.match(first)
        if match:
            names.append(match.group(1))
    return names


@pytest.fixture(scope="module")
def sections() -> dict[str, list[str]]:
    """docs/providers.md, by provider heading."""
    return _sections(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("contract", sorted(DECLARED))
def test_the_doc_lists_exactly_the_declared_values(
    sections: dict[str, list[str]], contract: str
) -> None:
    """The values listed under the provider's heading are its declared ones, each once (a
    provider that declares none needs no heading, and lists none if it has one)."""
    declared = [value.name for value in DECLARED[contract]]
    if not declared and contract not in sections:
        return
    assert contract in sections, f"docs/providers.md has no heading '## {contract}'"
    listed = _listed(sections[contract])
    assert sorted(listed) == sorted(declared), (
        f"under '## {contract}': missing {sorted(set(declared) - set(listed))}, "
        f"not declared {sorted(set(listed) - set(declared))}"
    )
    assert len(listed) == len(set(listed)), f"under '## {contract}': a value is listed twice"


def test_the_parser_reads_headings_and_first_columns() -> None:
    """The reading rules themselves: a level-2 heading opens a section (backticks and words
    after the contract id aside), tables' capitalised first cells are values, and headings
    in code blocks or lower-case cells are not."""
    text = (
        "# Providers\n## `wascc:http_server` (HTTP)\n| value | meaning |\n|---|---|\n"
        "| `PORT` | port |\n| `max_bytes_in_flight` | config |\n```\n## not a heading\n```\n"
        "### Limits\n| `TIMEOUT` | s |\n## wascc:logging\nNo values.\n"
    )
    found = _sections(text)
    assert set(found) == {"wascc:http_server", "wascc:logging"}
    assert _listed(found["wascc:http_server"]) == ["PORT", "TIMEOUT"]
    assert _listed(found["wascc:logging"]) == []
