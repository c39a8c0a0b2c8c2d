"""tether release / list / show / promote / withdraw / download: releases in a store."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tether import spine as releases
from tether.cli.keys import echo_signed, sign_release, signer_from_option
from tether.cli.options import (
    ByteProgress,
    card_from_options,
    card_options,
    human_size,
    into_option,
    name_option,
    open_project,
    project_option,
    signing_key_option,
    store_option,
    streams_option,
)
from tether.model_card import CardOptions
from tether.project import Project
from tether.spine import download_release, read_pin
from tether.stores import Store
from tether.versioning import release_tag


@click.command("release")
@click.option(
    "--from",
    "source_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Publish this folder of already-built files (else: build from the recipe first).",
)
@click.option(
    "--version",
    "version",
    metavar="X.Y.Z",
    help="Version to publish (v1.0.1 is read as 1.0.1). Default: the next patch after the "
    "highest of .model-version and the store's versions.",
)
@click.option(
    "--run-url", metavar="URL", help="CI run URL to record (default: detected, or local)."
)
@signing_key_option(old="--sign")
@card_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (name, version, tag, store, state, signer) instead of text: "
    "for scripts and CI.",
)
@store_option
@name_option
@project_option
def release_command(
    source_dir: Path | None,
    version: str | None,
    run_url: str | None,
    signing_key: str | None,
    base_model: str | None,
    pipeline_tag: str | None,
    card_tags: tuple[str, ...],
    license_id: str | None,
    as_json: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Publish an immutable release model-v<version> to the store.

    The release gets a MANIFEST.txt (sha256 of every file, tooling, source, build facts)
    and provenance.intoto.json. A version that exists is refused: releases never change.
    A --from folder tether did not build, with no README.md, gets a model card for its
    kind (GGUF, transformers/vLLM) as a release file; the card flags say what it states.
    """
    card = card_from_options(base_model, pipeline_tag, card_tags, license_id)
    project = Project.load(project_dir)
    opened = project.open_store(store)
    releases.refuse_workspace_store(opened)  # before a build, not after it
    name = name or project.configured_name()
    signer = signer_from_option(signing_key)  # a bad key fails before publishing
    if source_dir is None:
        from tether.cli.build import build_for_release

        with build_for_release(project, run_url) as built:
            info = _publish(project, opened, built, name, version, run_url, card)
    else:
        info = _publish(project, opened, source_dir, name, version, run_url, card)
    signed = None
    if signer is not None:
        signed = sign_release(opened, info.name, info.version, signer, check_files=False)
    if as_json:
        fields = {
            "name": info.name,
            "version": info.version,
            "tag": info.tag,
            "store": opened.url,
            "state": info.state,
            "signer": signed.signer if signed else None,
        }
        click.echo(json.dumps(fields))
        return
    click.echo(f"published {info.name} {info.tag} to {opened.url} ({info.state})")
    if signed is not None:
        echo_signed(signed)


def _publish(
    project: Project,
    opened: Store,
    source_dir: Path,
    name: str | None,
    version: str | None,
    run_url: str | None,
    card: CardOptions,
) -> releases.ReleaseInfo:
    return releases.publish_release(
        opened,
        source_dir,
        name=name,
        version=version,
        floor=None if version else _pinned_floor(project, name),
        run_url=run_url,
        compat_min_cosine=_compat_min_cosine(project),
        card=card,
        project_dir=project.dir,
    )


def _pinned_floor(project: Project, name: str | None) -> str | None:
    """The pin a default next version must pass: ``name``'s line (a bare pin is the
    project's one model's). None with named pins and no name given or configured: the name
    then comes from the folder, and the store's versions alone set the next
    (tests/spine/test_named_pins.py::test_release_from_a_folder_beside_several_pins)."""
    pins = releases.read_pins(project.dir)
    if pins is None or (name is None and pins.bare is None):
        return None
    return pins.version(name, bare_for=project.configured_name())


def _compat_min_cosine(project: Project) -> float:
    from tether.quality import gate_settings  # [gate] probe_min_cosine

    return gate_settings(project).probe_min_cosine


@click.command("list")
@store_option
@name_option
@project_option
def list_command(store: str | None, name: str | None, project_dir: Path) -> None:
    """List the releases in the store with their states (* marks the pinned one)."""
    project, opened, name = open_project(project_dir, store, name)
    pinned = read_pin(project.dir, name)
    infos = releases.list_releases(opened, name)
    if not infos:
        click.echo(f"no releases of {name} in {opened.url}")
        return
    for info in infos:
        mark = "*" if info.version == pinned else " "
        click.echo(f"{mark} {info.tag:<24} {info.state}")


@click.command("show")
@click.argument("version")
@store_option
@name_option
@project_option
def show_command(version: str, store: str | None, name: str | None, project_dir: Path) -> None:
    """Show a release: state and history, files with sizes, provenance facts."""
    _, opened, name = open_project(project_dir, store, name)
    info = releases.release_info(opened, name, version)
    manifest, _ = releases.read_manifest(opened, name, info.version)
    sizes = opened.files(name, info.version)
    click.echo(f"{name} {info.tag} in {opened.url}")
    for fact in getattr(opened, "facts", list)():  # a backend's own (github: immutable releases)
        click.echo(fact)
    click.echo(f"state: {info.state}")
    for event in info.history:
        extra = "".join(f" {k}={v}" for k, v in event.items() if k not in ("event", "at", "state"))
        click.echo(f"  {event.get('at', '?')} {event.get('event', '?')}{extra}")
    click.echo("files:")
    for rel, digest in sorted(manifest.files.items()):
        click.echo(f"  {digest[:12]}  {human_size(sizes.get(rel, 0)):>10}  {rel}")
    for title, facts in manifest.sections.items():
        click.echo(f"{title.lower()}:")
        for key, value in facts.items():
            click.echo(f"  {key}: {value}")


@click.command("promote")
@click.argument("version")
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, path_type=Path),
    help="BEIR-layout evaluation set (default: [gate] dataset, else tether's bundled set).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote and pin even if the gate fails (loud; recorded in the release's history).",
)
@click.option("--reason", help="Why --force was needed; kept in the release's history.")
@click.option("--no-pin", is_flag=True, help="Mark promoted only; leave .model-version alone.")
@store_option
@name_option
@project_option
def promote_command(
    version: str,
    dataset: Path | None,
    force: bool,
    reason: str | None,
    no_pin: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Run the quality gate against the pinned release; on pass, mark VERSION promoted and
    pin it in .model-version. On fail, print the numbers and change nothing (exit 1).

    The gate ([gate] in the recipe): no metric (nDCG@10, Recall@10/100, MRR@10 on the
    evaluation set, per variant) drops more than 1 point vs the pinned release, and int8
    parity as the build recorded it meets the default [parity] thresholds. A release that
    breaks the profile contract of the pinned one is refused even with --force.
    """
    from tether.quality import promote_release, stderr_progress

    project, opened, name = open_project(project_dir, store, name)
    promotion = promote_release(
        opened,
        name,
        version,
        project=project,
        dataset_dir=dataset,
        force=force,
        reason=reason,
        pin=not no_pin,
        progress=stderr_progress,
        report=click.echo,
    )
    info = promotion.info
    if promotion.forced:
        failed = len(promotion.outcome.result.failures)
        click.echo(
            f"WARNING: promoting {name} {info.tag} DESPITE {failed} failed gate check(s) "
            f"(--force: {promotion.reason})",
            err=True,
        )
    click.echo(f"{name} {info.tag} is {info.state}")
    if promotion.pin_file is not None:
        click.echo(f"pinned {name} {info.tag} in {promotion.pin_file}")


@click.command("withdraw")
@click.argument("version")
@click.option("--reason", required=True, help="Why; kept in the release's record.")
@store_option
@name_option
@project_option
def withdraw_command(
    version: str, reason: str, store: str | None, name: str | None, project_dir: Path
) -> None:
    """Withdraw a release: it stays readable as a record but cannot be pinned or fetched."""
    _, opened, name = open_project(project_dir, store, name)
    info = releases.withdraw(opened, name, version, reason=reason)
    click.echo(f"{name} {info.tag} is {info.state}")


@click.command("download")
@click.argument("version")
@into_option
@streams_option
@store_option
@name_option
@project_option
def download_command(
    version: str,
    into: Path,
    streams: int | None,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Download every file of a release, verified against its MANIFEST, into a new folder."""
    _, opened, name = open_project(project_dir, store, name)
    progress = ByteProgress(f"downloading {name} {version}")
    try:
        folder = download_release(opened, name, version, into, progress=progress, streams=streams)
    finally:
        progress.close()
    click.echo(f"downloaded {name} {release_tag(version)} to {folder}")


COMMANDS = [
    release_command,
    list_command,
    show_command,
    promote_command,
    withdraw_command,
    download_command,
]
