"""tether pin: write .model-version."""

from __future__ import annotations

from pathlib import Path

import click

from tether.cli.options import name_option, open_project, project_option, store_option
from tether.errors import TetherError
from tether.names import PIN_FILE
from tether.spine import pin_release, previous_promoted, require_pin


@click.command("pin")
@click.argument("version", required=False)
@click.option(
    "--previous", is_flag=True, help="Pin back to the previous promoted release before the pin."
)
@click.option(
    "--allow-downgrade",
    is_flag=True,
    help="Lower the pin on purpose: recorded, so rollback protection lets fetch take it.",
)
@store_option
@name_option
@project_option
def pin_command(
    version: str | None,
    previous: bool,
    allow_downgrade: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Pin VERSION (a release the store has and has not withdrawn) in .model-version."""
    if bool(version) == previous:
        raise TetherError("give either VERSION or --previous", "e.g. tether pin 1.0.1")
    project, opened, name = open_project(project_dir, store, name)
    if previous:
        version = previous_promoted(opened, name, require_pin(project.dir)).version
    assert version is not None
    info = pin_release(
        opened, name, version, project.dir, allow_downgrade=previous or allow_downgrade
    )
    click.echo(f"pinned {name} {info.tag} ({info.state}) in {project.dir / PIN_FILE}")


COMMANDS = [pin_command]
