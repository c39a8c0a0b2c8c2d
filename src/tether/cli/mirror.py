"""tether mirror: copy releases between two stores, verified, skipping what is there."""

from __future__ import annotations

from pathlib import Path

import click

from tether.cli.options import ByteProgress, name_option, project_option
from tether.errors import IntegrityError
from tether.spine import Progress, mirror_stores
from tether.versioning import release_tag


@click.command("mirror")
@click.argument("src", metavar="SRC")
@click.argument("dest", metavar="DEST")
@click.argument("versions", nargs=-1, metavar="[VERSION]...")
@name_option
@project_option
def mirror_command(
    src: str, dest: str, versions: tuple[str, ...], name: str | None, project_dir: Path
) -> None:
    """Copy releases from store SRC to store DEST (any of: folder, oci://, s3://).

    \b
    Every file is verified against its MANIFEST while it is copied. Versions DEST already
    has are skipped when identical and reported as a conflict (exit 1) when DEST holds a
    different release under the same version; nothing in DEST is ever overwritten. Records
    (state: promoted, withdrawn, ...) are copied too. Default: all versions of --name, else
    of the project's model, else of every model in SRC.

    \b
    Example: tether mirror ./releases oci://ghcr.io/acme/models --name minilm 1.0.1
    """
    bars: list[ByteProgress] = []

    def progress(model: str, version: str) -> Progress:
        bar = ByteProgress(f"copying {model} {release_tag(version)}")
        bars.append(bar)
        return bar

    def report(line: str) -> None:
        for bar in bars:
            bar.close()
        bars.clear()
        click.echo(line)

    try:
        result = mirror_stores(
            src,
            dest,
            versions,
            project_dir=project_dir,
            name=name,
            report=report,
            progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    click.echo(
        f"mirrored {result.src} -> {result.dest}: {len(result.copied)} copied, "
        f"{len(result.skipped)} already there, {len(result.records)} records written"
    )
    if result.conflicts:
        raise IntegrityError(
            f"{len(result.conflicts)} version(s) differ between SRC and DEST",
            "releases are immutable: publish the SRC release under a new version, or find out "
            "which copy is right",
            problems=result.conflicts,
        )


COMMANDS = [mirror_command]
