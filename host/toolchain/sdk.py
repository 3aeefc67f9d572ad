"""Where the actor SDK lives: the project templates and the C headers that ``wascc new`` and
``wascc build`` use.

One function knows the place: ``actors/`` beside the ``host`` package, which holds in the
source tree (``host/`` and ``actors/`` side by side) and in the wheel (``wascc/host`` and
``wascc/actors``) alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["include_dir", "sdk_root", "templates_dir"]


def sdk_root() -> Path:
    """The ``actors`` directory (``templates/`` and ``include/``) next to this package."""
    return Path(__file__).resolve().parents[2] / "actors"


def templates_dir(language: str) -> Path:
    """The project template of ``language`` (``c``, ``assemblyscript``)."""
    return sdk_root() / "templates" / language


def include_dir() -> Path:
    """The C headers of the waPC guest runtime (``wapc.h``, ``msgpack.h``, ``http.h``, and
    ``wasmcloud.h`` for actors in the wasmCloud 0.18 shapes)."""
    return sdk_root() / "include"
