"""The `tether` command line: a thin layer that parses arguments, calls the library, prints.

Each command group lives in its own module and exports ``COMMANDS``; this module only
assembles them and turns every known error into one line with its fix and an exit code.
"""

from __future__ import annotations

import importlib
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
    "build",
    "mirror",
    "bundle",
    "keys",
    "quality",
]


# Command name -> its module, so that running one command imports only its module (a
# no-op `tether fetch` must stay fast). Commands not listed are found by scanning.
_COMMAND_HOMES = {
    "version": "versions",
    "name": "versions",
    "release": "releases",
    "list": "releases",
    "show": "releases",
    "promote": "releases",
    "withdraw": "releases",
    "download": "releases",
    "pin": "pins",
    "fetch": "fetching",
    "verify": "fetching",
    "audit": "fetching",
    "bundle": "bundle",
    "init": "bundle",
    "key": "keys",
    "sign": "keys",
    "build": "build",
    "mirror": "mirror",
    "eval": "quality",
    "revert": "quality",
    "notes": "quality",
}


def _commands_of(module_name: str) -> dict[str, click.Command]:
    module = importlib.import_module(f"tether.cli.{module_name}")
    return {command.name: command for command in module.COMMANDS if command.name}


class _TetherGroup(click.Group):
    """Loads commands lazily; turns TetherError into `error: <problem>; <fix>` + exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands)
        for module_name in _COMMAND_MODULES:
            names |= set(_commands_of(module_name))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        home = _COMMAND_HOMES.get(cmd_name)
        for module_name in [home] if home else _COMMAND_MODULES:
            command = _commands_of(module_name).get(cmd_name)
            if command is not None:
                return command
        return None

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
    if debug:  # otherwise warnings reach stderr through logging's last-resort handler
        import logging

        logging.basicConfig(
            level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
