"""Reading a manifest file within bounds, so that no content can hang or crash ``wascc``.

A manifest is small and flat, so anything far beyond that is refused as a ``Problem`` before
the rest of the host ever walks the data:

* ``MAX_BYTES``: a file larger than 1 MiB is not read at all (real manifests are a few KiB;
  this also stops ``/dev/zero`` given as the manifest).
* ``MAX_DEPTH``: collections nested deeper than 64 levels (real manifests nest about 5), in
  the text or once aliases are expanded; deeper data would overflow Python's stack in the
  parsers and in every later walk.
* ``MAX_VALUES``: more than 100,000 values once YAML aliases are expanded. An anchor and a
  few aliases (``<<: *defaults`` merges) cost a few values each, so ordinary use fits; a
  "billion laughs" alias bomb (each level repeating the previous one) passes the budget
  within its first levels and is refused at once, before it is expanded.

YAML is read with PyYAML's ``SafeLoader``, counting as it composes: each node's size and
height (with aliases expanded) is computed once from its children's, so the count costs one
step per node written, whatever the expansion. JSON is scanned for its nesting depth before
``json.loads`` (whose C parser recurses), and its values are counted after.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from wascc.host.manifest_schema import Problem

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "read_document"]

MAX_BYTES = 2**20
MAX_DEPTH = 64
MAX_VALUES = 100_000

_TOO_DEEP = f"collections are nested deeper than {MAX_DEPTH} levels"
_FLATTEN = "flatten it (a manifest needs a few levels)"
# A JSON string (skipped: brackets in it do not nest) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _Refused(Exception):
    """The document goes beyond a bound; ``problem`` says which, where, and the fix."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _line(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses documents nested deeper than ``MAX_DEPTH`` or expanding
    (through aliases) to more than ``MAX_VALUES`` values, and recursive aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0  # collections open around the node being composed
        self._values = 0  # values composed so far, aliases expanded
        # id(node) -> (values, levels) with aliases expanded; set once a node is complete.
        self._measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing it as soon as the document goes beyond a bound."""
        alias = self.check_event(yaml.AliasEvent)
        event = self._next_event()
        where = _line(event.start_mark)
        if alias:
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._measured:
                raise _Refused(
                    Problem(
                        where,
                        f"alias *{event.anchor} refers to the collection it is part of",
                        "write the value out (a manifest cannot contain itself)",
                    )
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(Problem(where, _TOO_DEEP, _FLATTEN))
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        if alias:  # what the alias names counts again, in full, where it is used
            self._values += self._measured[id(node)][0]
        else:
            self._values += 1
            self._measure(node, where)
        if self._values > MAX_VALUES:
            raise _Refused(
                Problem(
                    where,
                    f"the manifest has more than {MAX_VALUES:,} values once aliases are "
                    "expanded (an alias repeats all of what its anchor names)",
                    "shorten it, or use fewer aliases of large collections",
                )
            )
        return node

    def _next_event(self) -> Any:
        """The event the parser hands out next (typed: the stubs leave ``peek_event`` bare)."""
        return self.peek_event()  # type: ignore[no-untyped-call]

    def _measure(self, node: yaml.Node, where: str) -> None:
        """Record the size and height of a node just composed (its children are measured:
        each was composed, or is an alias of a node composed, before it)."""
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        measured = [self._measured[id(child)] for child in children]
        levels = 1 + max((height for _, height in measured), default=0)
        if levels > MAX_DEPTH:
            raise _Refused(Problem(where, f"{_TOO_DEEP} once aliases are expanded", _FLATTEN))
        self._measured[id(node)] = (1 + sum(size for size, _ in measured), levels)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct one node; a scalar Python cannot hold (an integer of more than 4300
        digits, a date like 2024-13-45) is a problem at its line, not a traceback."""
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            text = node.value if isinstance(node, yaml.ScalarNode) else ""
            shown = text if len(text) <= 40 else f"{text[:37]}..."
            raise _Refused(
                Problem(
                    _line(node.start_mark),
                    f"cannot read the value {shown!r}: {str(exc).split(';')[0]}",
                    "quote it to make it a string, or correct it",
                )
            ) from None


def read_document(file: Path) -> tuple[Any, list[Problem]]:
    """The file's data: ``.yaml``/``.yml`` or no extension is YAML, anything else JSON
    (docs/manifest.md); or the problems that stop it from being read (beyond a bound of the
    module docstring)."""
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, [Problem("", f"cannot read the manifest: {exc.strerror}", "check the path")]
    if len(raw) > MAX_BYTES:
        return None, [
            Problem(
                "",
                f"the manifest is larger than {MAX_BYTES // 2**20} MiB",
                "give the manifest itself (a few KiB), not another file",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem("", "the manifest is not UTF-8 text", "save it as UTF-8")]
    try:
        if file.suffix.lower() in ("", ".yaml", ".yml"):
            return _yaml(text)
        return _json(text)
    except _Refused as refused:
        return None, [refused.problem]
    except RecursionError:  # not expected within the bounds: still one line, never a trace
        return None, [Problem("", _TOO_DEEP, _FLATTEN)]


def _yaml(text: str) -> tuple[Any, list[Problem]]:
    loader = None
    try:
        loader = _BoundedLoader(text)  # refuses control characters (ReaderError) right here
        return loader.get_single_data(), []
    except yaml.reader.ReaderError as exc:  # a control character, anywhere in the text
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        reason = f"control character U+{code:04X} is not allowed"
        fix = f'remove it, or write it escaped in a double-quoted string ("\\u{code:04x}")'
        return None, [Problem(f"line {line}", f"not valid YAML: {reason}", fix)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _line(mark) or "YAML"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(where, f"not valid YAML: {reason}", "fix the syntax")]
    finally:
        if loader is not None:
            loader.dispose()


def _json(text: str) -> tuple[Any, list[Problem]]:
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise _Refused(Problem(f"line {line}", _TOO_DEEP, _FLATTEN))
        elif token in ("]", "}"):
            depth -= 1
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(f"line {exc.lineno}", f"not valid JSON: {exc.msg}", "fix the syntax")]
    except ValueError as exc:  # an integer of more than 4300 digits
        reason = str(exc).split(";")[0]
        return None, [Problem("", f"not valid JSON: {reason}", "write a smaller number")]
    if _count(data) > MAX_VALUES:
        raise _Refused(
            Problem("", f"the manifest has more than {MAX_VALUES:,} values", "shorten it")
        )
    return data, []


def _count(data: Any) -> int:
    """How many values ``data`` holds (containers included), counting no further than
    ``MAX_VALUES + 1``."""
    count, pending = 0, [data]
    while pending and count <= MAX_VALUES:
        value = pending.pop()
        count += 1
        if isinstance(value, dict):
            pending.extend(value.values())
            count += len(value)  # the keys
        elif isinstance(value, list):
            pending.extend(value)
    return count
