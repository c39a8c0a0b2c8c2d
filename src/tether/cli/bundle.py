"""tether bundle [verify | digest] / tether init: ship the pinned model inside an app."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from tether.cli.options import (
    ByteProgress,
    name_option,
    out_dir_option,
    project_option,
    signature_options,
    store_option,
)
from tether.names import APP_KIND_CHOICES, DEFAULT_BUNDLE_DIR, DEFAULT_MODEL_DIR, RECIPE_FILE
from tether.prepared import VARIANT_CHOICES

DEFAULT_BUNDLE_DEST = Path(DEFAULT_BUNDLE_DIR)


@click.group("bundle", invoke_without_command=True)
@out_dir_option(
    "Bundle folder, replaced only when the new bundle verifies. Default: [bundle] dest "
    f"in tether.toml, else {DEFAULT_BUNDLE_DEST}.",
    old="--dest",
)
@click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    help="Model variants to ship. Default: [bundle] variant in tether.toml, else both.",
)
@store_option
@name_option
@project_option
@click.pass_context
def bundle_command(
    ctx: click.Context,
    out_dir: Path | None,
    variant: str | None,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Lay the pinned release (and declared assets) out for an app, verified.
    Named pins without --name: every pinned model, each in its own profile folder.

    \b
    OUT/embedding_models/<profile_id>/   the profile folder (.prepared.json, MANIFEST.txt)
    OUT/<asset>/                         each [[bundle.assets]] entry of tether.toml
    OUT/tether-bundle.json               the record `tether audit --bundle` reads

    The release is fetched and verified like `tether fetch` (files already in
    data/embedding_models/<name> are re-hashed instead of downloaded). tether's PyInstaller
    hook collects OUT ($TETHER_BUNDLE_DIR, default build/tether-bundle) into the app.
    """
    if ctx.invoked_subcommand is not None:
        given = [
            f"--{param.replace('_dir', '')}"
            for param in ("out_dir", "variant", "store", "name", "project_dir")
            if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} belong(s) to `tether bundle` itself, not to "
                f"`tether bundle {ctx.invoked_subcommand}`"
            )
        return
    from tether.bundle import bundle_project
    from tether.project import Project
    from tether.versioning import release_tag

    project = Project.load(project_dir)
    bars: list[ByteProgress] = []

    def progress(model: str, version: str) -> ByteProgress:
        bars.append(ByteProgress(f"bundling {model} {release_tag(version)}"))
        return bars[-1]

    try:
        result = bundle_project(
            project,
            project.open_store(store),
            name,
            dest=out_dir,
            variant=variant,
            progress_for=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    extra = f", {len(result.record.assets)} asset(s)" if result.record.assets else ""
    held = "; ".join(
        f"{p.name} {p.release} [{', '.join(p.variants) or 'all files'}]"
        for p in result.record.profiles
    )
    click.echo(
        f"bundled {held}{extra} into {result.dest}: {result.files} files verified "
        f"({len(result.downloaded)} downloaded, {len(result.reused)} reused)"
    )


@bundle_command.command("verify")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    help="Also require these variants to be bundled. Default: the bundled ones.",
)
@signature_options("each bundled profile's model.sig")
@project_option
def verify_command(
    folder: Path, variant: str | None, signature: bool, keys: tuple[Path, ...], project_dir: Path
) -> None:
    """Check a bundle, or the bundle inside a built app (e.g. dist/app).

    Every file the variants need must be present, non-empty, of the recorded size and
    match its digest in .prepared.json and MANIFEST.txt; assets must match the record and
    their declared sha256. Exits 1 naming each problem.
    """
    from tether.bundle import verify_bundle
    from tether.spine import signature_policy

    policy = signature_policy(project_dir, keys) if signature or keys else None
    checks = verify_bundle(folder, variant, signature=policy)
    for check in checks:
        for profile in check.profiles:
            assert profile.prepared is not None
            click.echo(
                f"{profile.folder}: {profile.prepared.name} {profile.prepared.release} "
                f"[{', '.join(profile.prepared.variants) or 'all files'}], "
                f"{len(profile.prepared.files)} files verified"
                + (f", signed by {profile.signer}" if profile.signer else "")
            )
        for asset, _ in check.assets:
            click.echo(f"{check.root / asset.path}: asset {asset.name}, {len(asset.files)} files")


@bundle_command.command("digest")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def digest_command(path: Path) -> None:
    """Print the sha256 to declare for a [[bundle.assets]] file or folder."""
    from tether.bundle import asset_digest

    click.echo(asset_digest(path))


@bundle_command.command("nuitka-args")
@click.option(
    "--bundle-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"The bundle to include. Default: [bundle] dest in tether.toml, else "
    f"{DEFAULT_BUNDLE_DEST}; --no-bundle for the runtime options only.",
)
@click.option("--no-bundle", is_flag=True, help="Only the options for tether's runtime.")
@project_option
def nuitka_args_command(bundle_dir: Path | None, no_bundle: bool, project_dir: Path) -> None:
    """Print the Nuitka options an app calling tether.load() needs, one per line.

    \b
    python -m nuitka --standalone --output-dir=dist $(tether bundle nuitka-args) app.py

    tether's runtime modules (imported lazily, which Nuitka does not follow), onnxruntime,
    tokenizers, numpy, platformdirs, and the bundle's data folders.
    """
    from tether.bundle import bundle_settings, nuitka_options
    from tether.project import Project

    if not no_bundle and bundle_dir is None:
        bundle_dir = bundle_settings(Project.load(project_dir)).dest
    for option in nuitka_options(None if no_bundle else bundle_dir):
        click.echo(option)


def audit_bundle_dir(folder: Path, *, self_test: bool = False) -> None:
    """`tether audit --bundle DIR`: print the bundle audit; IntegrityError (exit 1) if BAD."""
    from tether.bundle import audit_bundle
    from tether.errors import IntegrityError

    report = audit_bundle(folder, self_test=self_test)
    for passed, line in report.checks:
        click.echo(f"{'ok ' if passed else 'BAD'} {line}")
    if not report.ok:
        raise IntegrityError(
            f"the bundle in {folder} does not match what it claims (lines marked BAD)",
            "rebuild the app from a fresh bundle: tether bundle --out DIR",
        )


@click.command("init")
@click.option(
    "--ci",
    type=click.Choice(["github", "gitlab"]),
    help="Also write CI workflows: GitHub Actions (.github/workflows/build-model.yml, "
    "release.yml) or GitLab CI (.gitlab-ci.yml).",
)
@click.option("--profile-id", default="local-text-retrieval-v1", show_default=True)
@click.option(
    "--source-repo",
    default="sentence-transformers/all-MiniLM-L6-v2",
    show_default=True,
    help="Hugging Face repo to build from.",
)
@click.option("--revision", metavar="COMMIT", help="Its 40-hex commit (else a placeholder).")
@click.option("--pin", default="1.0.0", show_default=True, help="Starter .model-version.")
@click.option("--variant", type=click.Choice(VARIANT_CHOICES), default="both", show_default=True)
@click.option(
    "--app-script",
    "--app",
    "app_script",
    default="app.py",
    show_default=True,
    help="The Python app's entry script, relative to the project (--app: the old name).",
)
@click.option("--app-name", help="Built app's name (default: the script's name).")
@click.option("--branch", default="main", show_default=True, help="Branch builds run on.")
@click.option(
    "--builder",
    type=click.Choice(["pyinstaller", "nuitka"]),
    default="pyinstaller",
    show_default=True,
    help="What the release workflow builds the app with (on Linux, macOS and Windows).",
)
@click.option(
    "--app-kind",
    type=click.Choice(APP_KIND_CHOICES),
    help="What the app is built with (default: go when the project has a go.mod, else "
    "python). go and other get a release workflow whose model step needs no Python.",
)
@click.option("--go-tags", default="", help="Build tags for `go build -tags` (e.g. withembed).")
@click.option(
    "--model-dir",
    default=DEFAULT_MODEL_DIR,
    show_default=True,
    help="Where a go/other release workflow puts the verified model release.",
)
@click.option(
    "--tether-requirement",
    metavar="REQ",
    help="What the workflows pip install as tether (default: [ci] tether_requirement in "
    "tether.toml, else the tether running this).",
)
@click.option("--force", is_flag=True, help="Replace files that exist.")
@project_option
def init_command(
    ci: str | None,
    profile_id: str,
    source_repo: str,
    revision: str | None,
    pin: str,
    variant: str,
    app_script: str,
    app_name: str | None,
    branch: str,
    builder: str,
    app_kind: str | None,
    go_tags: str,
    model_dir: str,
    tether_requirement: str | None,
    force: bool,
    project_dir: Path,
) -> None:
    """Write a starter tether.toml and .model-version (and CI workflows with --ci).

    Files that exist are kept (and named) unless --force.
    """
    from tether.bundle import REVISION_PLACEHOLDER, InitOptions, init_project

    options = InitOptions(
        profile_id=profile_id,
        source_repo=source_repo,
        revision=revision,
        pin=pin,
        variant=variant,
        ci=ci,
        app_script=app_script,
        app_name=app_name,
        branch=branch,
        builder=builder,
        app_kind=app_kind,
        go_tags=go_tags,
        model_dir=model_dir,
        tether_requirement=tether_requirement,
    )
    result = init_project(project_dir, options, force=force)
    for path in result.written:
        click.echo(f"wrote {path}")
    for path in result.kept:
        why = "a higher pin: --force never lowers it" if force else "exists; --force replaces it"
        click.echo(f"kept  {path} ({why})")
    if revision is None and any(p.name == RECIPE_FILE for p in result.written):
        click.echo(f"next: replace {REVISION_PLACEHOLDER} in tether.toml with the commit to build")


COMMANDS = [bundle_command, init_command]
