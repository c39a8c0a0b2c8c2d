"""The `tether` command line: a thin layer that parses arguments, calls the library, prints.

Each command group lives in its own module and exports ``COMMANDS``; this module only
assembles them and turns every known error into one line with its fix and an exit code.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from tether import __version__
from tether.errors import TetherError

# Modules under tether.cli that contribute commands (each exports COMMANDS).
_COMMAND_MODULES = [
    "versions",
    "releases",
    "pins",
    "fetching",
    "profiles",
]


class _TetherGroup(click.Group):
    """Turns TetherError into `error: <problem>; <fix>` and its exit code (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TetherError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc.one_line()}", err=True)
            for problem in getattr(exc, "problems", []):
                click.echo(f"  {problem}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_TetherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tether")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """tether: one exact, verified, reproducible local model.

    \b
    Pipeline:  build -> release -> pin -> fetch/verify/audit -> bundle -> embed
    Stores:    a folder (default), oci://host/repo, s3://bucket/prefix
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


for _module_name in _COMMAND_MODULES:
    _module = importlib.import_module(f"tether.cli.{_module_name}")
    for _command in _module.COMMANDS:
        main.add_command(_command)
