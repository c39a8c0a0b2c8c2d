"""tether fetch / verify / audit: the pinned release in a local profile folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tether.cli.options import (
    ByteProgress,
    name_option,
    profiles_dir_option,
    project_option,
    signature_options,
    store_option,
    streams_option,
)
from tether.errors import IntegrityError
from tether.prepared import VARIANT_CHOICES
from tether.spine import FetchResult, Progress, fetch_pins
from tether.versioning import release_tag

# fetch_pins' module is light and loads the store, the transaction and trust only when
# there is work; verify and audit import theirs inside the commands: a no-op `tether fetch`
# stays fast (tests/test_cli_map.py, benchmarks/verify_speed.py).


@click.command("fetch")
@click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    default="both",
    show_default=True,
    help="Model variants to fetch (generic artifacts: every file).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Re-hash every file, also when the folder already holds the pin, and replace "
    "whatever does not match (what `tether verify` found).",
)
@streams_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON, and progress as JSON lines on stderr (for CI logs).",
)
@profiles_dir_option
@store_option
@name_option
@project_option
def fetch_command(
    variant: str,
    repair: bool,
    streams: int | None,
    as_json: bool,
    profiles_dir: Path,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Fetch the pinned release into <profiles-dir>/<name>/, verified, or change nothing.
    Named pins without --name: every pinned model, each into its own folder.

    Each file is checked against the release's MANIFEST, and the new folder is swapped in
    whole. Already prepared for the same pin: no file is read (the store is asked only
    whether the release was withdrawn). A new pin: stale files are removed. Large files of
    a remote store arrive as parallel ranges, hashed in order as they land (--streams).
    On a terminal, progress over the whole release (bytes, rate, ETA) goes to stderr.
    """
    bars: list[ByteProgress] = []

    def progress(model: str, version: str) -> Progress:
        label = f"fetching {model} {release_tag(version)}"
        bars.append(ByteProgress(label, json_lines=as_json))
        return bars[-1]

    try:
        results = fetch_pins(
            project_dir,
            store=store,
            name=name,
            profiles_dir=profiles_dir,
            variants=variant,
            progress=progress,
            repair=repair,
            streams=streams,
        )
    finally:
        for bar in bars:
            bar.close()
    for warning in [w for result in results for w in result.warnings]:
        click.echo(f"warning: {warning}", err=True)
    if as_json:  # several named pins: a list, one object per model (docs/spine.md)
        shown = [result_json(r) for r in results]
        click.echo(json.dumps(shown[0] if len(shown) == 1 else shown, indent=2))
        return
    for result in results:
        _echo_fetched(result)


def _echo_fetched(result: FetchResult) -> None:
    held = f"{result.prepared.name} {result.prepared.release}"
    if not result.changed:
        if result.verified:
            files = len(result.prepared.files)
            click.echo(f"{result.folder} holds {held}: {files} files verified, nothing to repair")
        else:
            click.echo(f"{result.folder} already holds {held}")
        return
    resumed = f" ({len(result.resumed)} resumed)" if result.resumed else ""
    click.echo(
        f"{'repaired' if result.verified else 'fetched'} {held} into {result.folder}: "
        f"{len(result.downloaded)} downloaded{resumed}, {len(result.reused)} reused, "
        f"{len(result.removed)} stale removed"
    )


def result_json(result: FetchResult) -> dict[str, Any]:
    """What `tether fetch --json` prints."""
    return {
        "folder": str(result.folder),
        "name": result.prepared.name,
        "release": result.prepared.release,
        "changed": result.changed,
        "verified": result.verified,
        "downloaded": result.downloaded,
        "resumed": result.resumed,
        "reused": result.reused,
        "removed": result.removed,
        "warnings": list(result.warnings),
    }


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
    from tether.spine import verify_local

    click.echo(verify_local(folder, signature=signature, keys=keys, project_dir=project_dir))


@click.command("audit")
@profiles_dir_option
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(path_type=Path),
    help="Audit a bundle or a built app (e.g. dist/app) instead: which release it embeds, "
    "whether its files match that release's MANIFEST, where the provenance is, and (a built "
    "app) whether tether's runtime, onnxruntime and tokenizers are in it. Needs no "
    "store and no project.",
)
@click.option(
    "--self-test",
    is_flag=True,
    help="With --bundle: also run the app's `--tether-self-test` offline, with an empty HOME.",
)
@store_option
@name_option
@project_option
def audit_command(
    profiles_dir: Path,
    bundle_dir: Path | None,
    self_test: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Check that pin, store release, its MANIFEST and the local profile folder agree
    (named pins without --name: every pinned model, each line led by its name)."""
    if bundle_dir is not None:
        from tether.cli.bundle import audit_bundle_dir

        audit_bundle_dir(bundle_dir, self_test=self_test)
        return
    from tether.spine import audit_pinned

    report = audit_pinned(project_dir, store=store, name=name, profiles_dir=profiles_dir)
    for passed, line in report.checks:
        click.echo(f"{'ok ' if passed else 'BAD'} {line}")
    if not report.ok:
        raise IntegrityError(
            "audit found disagreements (lines marked BAD)", "repair: tether fetch --repair"
        )


COMMANDS = [fetch_command, verify_command, audit_command]
