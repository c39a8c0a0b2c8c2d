"""tether pin: write .model-version (one model's pin, or with named pins each model's)."""

from __future__ import annotations

from pathlib import Path

import click

from tether.cli.options import name_option, project_option, store_option
from tether.spine import pin_models


@click.command("pin")
@click.argument("version", required=False)
@click.option(
    "--previous",
    is_flag=True,
    help="Pin back to the previous good release: the highest promoted one below the pin, "
    "else (none promoted) the last earlier pin in the git history of .model-version. "
    "Withdraws nothing.",
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
    """Pin VERSION (a release the store has and has not withdrawn) in .model-version.

    With --name, that model's line (named pins: one NAME VERSION line per model). Without
    it in a project of named pins: every pinned model (docs/spine.md, "Named pins").
    """
    for pinned in pin_models(
        project_dir,
        version,
        previous=previous,
        allow_downgrade=allow_downgrade,
        store=store,
        name=name,
    ):
        info = pinned.release
        click.echo(f"pinned {info.name} {info.tag} ({info.state}) in {pinned.path}")
        if pinned.downgrade is not None:
            click.echo(
                f"recorded the deliberate downgrade in {pinned.downgrade}: commit it with the pin"
            )


COMMANDS = [pin_command]
