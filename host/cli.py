"""The ``wascc`` command: the one place that imports every part of the project.

Subcommands: ``keys`` and ``claims`` (from ``keys.cli``), and ``demo``. Later: ``up``,
``call``, ``validate``, ``ctl``. Errors are one clear line and exit code 1; usage errors 2.
"""

from __future__ import annotations

import click

from host.demo import demo
from keys.cli import claims_group, keys_group

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wascc-py", prog_name="wascc")
def main() -> None:
    """wascc-py: run signed WebAssembly actors (waSCC 0.14 compatible)."""


main.add_command(keys_group, "keys")
main.add_command(claims_group, "claims")
main.add_command(demo, "demo")


if __name__ == "__main__":
    main()
