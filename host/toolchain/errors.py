"""The toolchain's one error: a project, template or build step that cannot go on."""

from __future__ import annotations

from wascc.host.errors import WasccError

__all__ = ["ToolchainError"]


class ToolchainError(WasccError):
    """``wascc new`` or ``wascc build`` cannot go on; the message names the file or tool and
    the fix."""
