"""tether build: the recipe's checkpoint -> release files (ONNX fp32 + int8, provenance).

The build toolchain (torch, transformers, onnx) is imported only when a build runs, so
``tether --help`` stays fast and a runtime-only install still has every other command.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from tether.cli.options import project_option, store_option
from tether.project import Project


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.command("build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the built files (replaced only when the build succeeds). "
    "Default: build/<name> in the project; with --verify-against, a temporary folder.",
)
@click.option(
    "--run-url",
    metavar="URL",
    help="CI run URL to record in MANIFEST.txt (default: GitHub Actions / GitLab CI "
    "from the environment, else 'local').",
)
@click.option(
    "--verify-against",
    "verify_version",
    metavar="VERSION",
    help="Rebuild, then compare every file with release VERSION in the store and name "
    "each one that differs (exit 1).",
)
@store_option
@project_option
def build_command(
    out_dir: Path | None,
    run_url: str | None,
    verify_version: str | None,
    store: str | None,
    project_dir: Path,
) -> None:
    """Build the release files from the recipe (tether.toml or [tool.tether]).

    \b
    Stages, each shown on stderr with its time:
      source       download the hf revision (or digest the local folder)
      checkpoint   read pooling / normalize / max_length defaults
      tokenizer    tokenizer.json truncating at max_length, padding to the longest
      export fp32  onnx/model.onnx, checked against the checkpoint in torch
      int8         onnx/model_quantized.onnx, gated on cosine parity with fp32
      metadata     profile.json, probe.json, README.md, draft MANIFEST.txt

    The folder can then be published with `tether release --from DIR`. Needs the
    build extra: pip install torch==2.13.0 'tether[build]'.
    """
    from tether.recipe import build, load_recipe, require_toolchain

    project = Project.load(project_dir)
    recipe = load_recipe(project.dir)
    require_toolchain()
    if verify_version is None:
        target = out_dir or project.dir / "build" / recipe.name
        result = build(recipe, target, run_url=run_url, progress=_say)
        click.echo(str(result.out_dir))
        return

    from tether.recipe.verify import raise_on_problems, verify_against
    from tether.spine import read_manifest
    from tether.versioning import normalize_version, release_tag

    opened = project.open_store(store)
    version = normalize_version(verify_version)
    read_manifest(opened, recipe.name, version)  # fail before a minutes-long build
    with contextlib.ExitStack() as stack:
        if out_dir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tether-verify-"))
            out_dir = Path(tmp) / recipe.name
        result = build(recipe, out_dir, run_url=run_url, progress=_say)
        report = verify_against(opened, recipe.name, version, result.out_dir, result.manifest)
    raise_on_problems(report)
    for note in report.notes:
        _say(f"note: {note}")
    click.echo(
        f"rebuild matches {recipe.name} {release_tag(version)}: "
        f"{len(report.identical)} files identical"
    )


@contextlib.contextmanager
def build_for_release(project: Project, run_url: str | None) -> Iterator[Path]:
    """Build the project's recipe into a temporary folder (for `tether release`)."""
    from tether.recipe import build, load_recipe, require_toolchain

    recipe = load_recipe(project.dir)
    require_toolchain()
    with tempfile.TemporaryDirectory(prefix="tether-build-") as tmp:
        result = build(recipe, Path(tmp) / recipe.name, run_url=run_url, progress=_say)
        yield result.out_dir


COMMANDS = [build_command]
