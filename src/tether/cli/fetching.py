"""tether fetch / verify / audit: the pinned release in a local profile folder."""

from __future__ import annotations

from pathlib import Path

import click

from tether.cli.options import (
    ByteProgress,
    name_option,
    open_project,
    project_option,
    signature_options,
    store_option,
)
from tether.errors import IntegrityError
from tether.names import DEFAULT_PROFILES_DIR
from tether.paths import check_name
from tether.prepared import VARIANT_CHOICES, already_prepared
from tether.project import Project
from tether.spine import read_pin, require_pin
from tether.versioning import release_tag

# tether.spine.fetch, .verify and .trust are imported inside the commands: a no-op

DEFAULT_DEST = Path(DEFAULT_PROFILES_DIR)

dest_option = click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DEST,
    show_default=True,
    help="Root folder of profile folders; the release goes into DEST/<name>/.",
)


@click.command("fetch")
@click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    default="both",
    show_default=True,
    help="Model variants to fetch (generic artifacts: every file).",
)
@dest_option
@store_option
@name_option
@project_option
def fetch_command(
    variant: str, dest: Path, store: str | None, name: str | None, project_dir: Path
) -> None:
    """Fetch the pinned release into DEST/<name>/, verified, or change nothing.

    Each file is checked against the release's MANIFEST before it is activated. Already
    prepared for the same pin: nothing is read. A new pin: stale files are removed.
    """
    project = Project.load(project_dir)
    version = require_pin(project.dir)
    known = name or project.configured_name()
    if known and "trust" not in project.settings:  # with [trust], fetch_release decides
        folder = project.dir / dest / check_name(known)
        if already_prepared(folder, known, release_tag(version), variant) is not None:
            click.echo(f"{folder} already holds {known} {release_tag(version)}")
            return

    from tether.spine import fetch_release, load_trust

    project, opened, name = open_project(project_dir, store, name)
    progress = ByteProgress(f"fetching {name} {release_tag(version)}")
    try:
        result = fetch_release(
            opened,
            name,
            version,
            project.dir / dest,
            variants=variant,
            progress=progress,
            trust=load_trust(project.dir),
        )
    finally:
        progress.close()
    tag = release_tag(version)
    if not result.changed:
        click.echo(f"{result.folder} already holds {name} {tag}")
        return
    click.echo(
        f"fetched {name} {tag} into {result.folder}: {len(result.downloaded)} downloaded, "
        f"{len(result.reused)} reused, {len(result.removed)} stale removed"
    )


@click.command("verify")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@signature_options(
    "FOLDER/model.sig; FOLDER may also be a downloaded release or any folder signed with "
    "model_signing"
)
@project_option
def verify_command(
    folder: Path, signature: bool, keys: tuple[Path, ...], project_dir: Path
) -> None:
    """Re-hash a profile folder against its .prepared.json and MANIFEST.txt.

    Exits 1 listing each missing, extra, empty or mismatched file.
    """
    from tether.spine import signature_policy, verify_profile, verify_signed

    if signature or keys:
        click.echo(verify_signed(folder, signature_policy(project_dir, keys)))
        return
    prepared = verify_profile(folder)
    click.echo(f"{folder}: {len(prepared.files)} files of {prepared.release} verified")


@click.command("audit")
@dest_option
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Audit a bundle or a built app (e.g. dist/app) instead: which release it embeds, "
    "whether its files match that release's MANIFEST, where the provenance is. Needs no "
    "store and no project.",
)
@store_option
@name_option
@project_option
def audit_command(
    dest: Path, bundle_dir: Path | None, store: str | None, name: str | None, project_dir: Path
) -> None:
    """Check that pin, store release, its MANIFEST and the local profile folder agree."""
    if bundle_dir is not None:
        from tether.cli.bundle import audit_bundle_dir

        audit_bundle_dir(bundle_dir)
        return
    from tether.spine import audit, load_trust

    project, opened, name = open_project(project_dir, store, name)
    report = audit(
        opened,
        name,
        read_pin(project.dir),
        project.dir / dest / name,
        trust=load_trust(project.dir),
    )
    for passed, line in report.checks:
        click.echo(f"{'ok ' if passed else 'BAD'} {line}")
    if not report.ok:
        raise IntegrityError(
            "audit found disagreements (lines marked BAD)", "re-fetch: tether fetch"
        )


COMMANDS = [fetch_command, verify_command, audit_command]
