"""The documentation stays inside the repository: its links resolve, and nothing points out.

Every link in README.md and docs/*.md is relative and names a file of the repository (and, with
``#anchor``, a heading of that file, as GitHub makes anchors from headings). No file tracked by
git names the private spec the project was built from, or cites its numbered sections: the
project documents itself, in docs/.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])

# Written in pieces, so that this file does not name what it looks for.
FORBIDDEN = ("/work/" + "shared", "../" + "shared", "wire-" + "format.md", "spec " + "§")

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target) and ![alt](target), with an optional "title".
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose(text: str) -> str:
    """The text without code blocks, code spans and comments, where links are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", _COMMENT.sub("", text)))


def links(page: Path) -> list[str]:
    """Every link target of ``page``, as written."""
    text = _prose(page.read_text(encoding="utf-8"))
    found = _INLINE_LINK.findall(text) + _REFERENCE.findall(text) + _AUTOLINK.findall(text)
    return [target.strip() for target in found]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``: lower case, punctuation dropped,
    spaces as hyphens; a repeated heading gets ``-1``, ``-2``, ..."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(text):
        words = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
        slug = words.replace(" ", "-")
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_pages_exist() -> None:
    """The README and the documentation pages are where other files link to them."""
    for name in (
        "README.md",
        "abi.md",
        "contracts.md",
        "actor-c.md",
        "actor-assemblyscript.md",
        "providers.md",
        "manifest.md",
        "lattice.md",
        "deployment.md",
        "dashboard.md",
    ):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_are_relative(page: Path) -> None:
    """No link leaves the repository: no scheme (http:, https:, file:), no absolute path."""
    outside = [t for t in links(page) if _SCHEME.match(t) or t.startswith(("/", "//"))]
    assert not outside, f"{_name(page)} links outside the repository: {outside}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_resolve(page: Path) -> None:
    """Every relative link names a file of the repository, and its anchor a heading there."""
    broken = []
    for target in links(page):
        if _SCHEME.match(target):
            continue  # reported by test_links_are_relative
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_relative_to(ROOT) or not file.exists():
            broken.append(f"{target} (no file {file})")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target} (no heading #{anchor} in {_name(file)})")
    assert not broken, f"{_name(page)} has broken links: {broken}"


def test_every_page_is_in_the_index() -> None:
    """docs/README.md links every page of docs/, so that a reader can find each one."""
    listed = {(DOCS / target.partition("#")[0]).resolve() for target in links(DOCS / "README.md")}
    missing = [_name(p) for p in DOCS.glob("*.md") if p.name != "README.md" and p not in listed]
    assert not missing, f"docs/README.md does not list {missing}"


def test_anchors_follow_github() -> None:
    """The anchor rule the link check relies on: ``## wascc:logging`` is ``#wascclogging``."""
    assert {"wascclogging", "writing-a-provider-in-python"} <= anchors(DOCS / "providers.md")


def _tracked_files() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no tracked files to check")
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    )
    return [ROOT / name for name in listing.stdout.decode("utf-8").split("\0") if name]


def test_no_tracked_file_points_outside() -> None:
    """No file tracked by git (this one included) names or cites the spec outside the
    repository."""
    offenders = []
    for file in [*_tracked_files(), *PAGES]:
        if not file.is_file():  # deleted in the working tree, not yet in the index
            continue
        data = file.read_bytes()
        offenders += [f"{_name(file)}: {word}" for word in FORBIDDEN if word.encode() in data]
    assert not offenders, "files point outside the repository:\n" + "\n".join(offenders)
