"""Did-you-mean suggestions for names users type: contract ids, binding values, manifest keys.

One rule everywhere, so a typo is answered the same way wherever it is made: a choice equal
to the word but for case wins (``Port`` → ``PORT``), else the closest by ``difflib`` with
case ignored (``wascc:httpserver`` → ``wascc:http_server``), else nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["CONTRACT_CUTOFF", "closest", "did_you_mean"]

# difflib's default cut-off: below it, a "suggestion" is more often a distraction than a help.
_CUTOFF = 0.6
CONTRACT_CUTOFF = 0.85
"""The cut-off for contract ids: they share their namespace ("wascc:"), which lifts every
pair's similarity, so below this a near miss is as likely another contract (wascc:graphdb is
0.64 similar to wascc:extras)."""


def closest(word: str, choices: Iterable[str], *, cutoff: float = _CUTOFF) -> str | None:
    """The choice ``word`` most likely misspells, or ``None`` (no choice is close, or
    ``word`` is itself a choice). ``cutoff``: the least similarity (0 to 1) that counts as
    close; raise it where a near miss may be a deliberate other name (contract ids share
    their ``wascc:`` prefix, so ``wascc:graphdb`` is 0.64 similar to ``wascc:extras``)."""
    options = list(dict.fromkeys(choices))
    if word in options:
        return None
    folded = word.casefold()
    by_folded: dict[str, str] = {}
    for option in options:
        by_folded.setdefault(option.casefold(), option)
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=cutoff)
    return by_folded[close[0]] if close else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = _CUTOFF) -> str:
    """``" (did you mean X?)"`` for the choice ``word`` most likely misspells (``closest``),
    else ``""``: ready to append to a message."""
    match = closest(word, choices, cutoff=cutoff)
    return f" (did you mean {match}?)" if match is not None else ""
