"""The `tether` command line: a thin layer that parses arguments, calls the library, prints.

Each command group lives in its own module and exports ``COMMANDS``; this module only
assembles them and turns every known error into one line with its fix and an exit code.
"""

from __future__ import annotations

import importlib
import sys

import click

from tether import __version__
from tether.errors import TetherError, shorten

# Stage -> command -> the module of tether.cli that defines it (and lists it in COMMANDS):
# the one list of commands. `tether --help` shows them by stage, in this order, and
# `tether CMD` imports only CMD's module, so a no-op `tether fetch` stays fast
# (tests/test_cli_map.py).
COMMAND_MAP: dict[str, dict[str, str]] = {
    "Set up": {"init": "bundle", "key": "keys"},
    "Build": {"build": "build"},
    "Release": {
        "release": "releases",
        "sign": "keys",
        "list": "releases",
        "show": "releases",
        "download": "releases",
        "mirror": "mirror",
    },
    "Promote & pin": {
        "eval": "quality",
        "notes": "quality",
        "promote": "releases",
        "pin": "pins",
        "revert": "quality",
        "withdraw": "releases",
    },
    "Fetch & check": {"fetch": "fetching", "verify": "fetching", "audit": "fetching"},
    "Ship & run": {"bundle": "bundle", "resolve": "profiles", "embed": "profiles"},
    "Names & versions": {"version": "versions", "name": "versions"},
}

_HOMES = {command: module for stage in COMMAND_MAP.values() for command, module in stage.items()}


def _commands_of(module_name: str) -> dict[str, click.Command]:
    module = importlib.import_module(f"tether.cli.{module_name}")
    return {command.name: command for command in module.COMMANDS if command.name}


_UNUSABLE_HINT = "check the paths and values given (run with --debug to see where it failed)"


class _TetherGroup(click.Group):
    """Loads commands lazily; turns TetherError into `error: <problem>; <fix>` + exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *_HOMES]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        home = _HOMES.get(cmd_name)
        return _commands_of(home).get(cmd_name) if home else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # One section per stage; names padded to one width so the sections line up.
        width = max(map(len, _HOMES))
        limit = formatter.width - 6 - width
        for stage, commands in COMMAND_MAP.items():
            rows = []
            for name in commands:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name.ljust(width), command.get_short_help_str(limit)))
            if rows:
                with formatter.section(stage):
                    formatter.write_dl(rows)

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
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own exits (--help, usage errors: Exit is a RuntimeError)
        except (OSError, UnicodeError, ValueError, RuntimeError) as exc:
            # Input the OS or Python refuses (a name too long, a NUL byte, ~nouser): still one
            # line, never a traceback (tests/test_cli_fuzz.py::test_os_refusals_are_one_line).
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {shorten(exc)}; {_UNUSABLE_HINT}", err=True)
            ctx.exit(2)


@click.group(cls=_TetherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tether")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """tether: one exact, verified, reproducible local model.

    \b
    Pipeline:  build -> release -> pin -> fetch/verify/audit -> bundle -> embed
    Stores:    a folder (default), oci://host/repo, s3://bucket/prefix,
               github://owner/repo, hf://org/name
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:  # otherwise warnings reach stderr through logging's last-resort handler
        import logging

        logging.basicConfig(
            level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
