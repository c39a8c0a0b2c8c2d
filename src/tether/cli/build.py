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

from tether.cli.options import (
    compare_with_option,
    out_dir_option,
    project_option,
    store_option,
)
from tether.project import Project


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.command("build")
@out_dir_option(
    "Folder for the built files (replaced only when the build succeeds). "
    "Default: build/<name> in the project; with --compare-with, a temporary folder."
)
@click.option(
    "--run-url",
    metavar="URL",
    help="CI run URL to record in MANIFEST.txt (default: GitHub Actions / GitLab CI "
    "from the environment, else 'local').",
)
@compare_with_option(
    "Rebuild, then compare every file with release VERSION in the store and name "
    "each one that differs (exit 1).",
    old="--verify-against",
)
@store_option
@project_option
def build_command(
    out_dir: Path | None,
    run_url: str | None,
    compare_with: str | None,
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
    from tether.recipe import build_project, rebuild_and_compare
    from tether.versioning import release_tag

    project = Project.load(project_dir)
    if compare_with is None:
        result = build_project(project, out_dir=out_dir, run_url=run_url, progress=_say)
        click.echo(str(result.out_dir))
        return
    report = rebuild_and_compare(
        project,
        project.open_store(store),
        compare_with,
        out_dir=out_dir,
        run_url=run_url,
        progress=_say,
    )
    for note in report.notes:
        _say(f"note: {note}")
    click.echo(
        f"rebuild matches {report.name} {release_tag(report.version)}: "
        f"{len(report.identical)} files identical"
    )


@contextlib.contextmanager
def build_for_release(project: Project, run_url: str | None) -> Iterator[Path]:
    """Build the project's recipe into a temporary folder (for `tether release`)."""
    from tether.recipe import build_project

    with tempfile.TemporaryDirectory(prefix="tether-build-") as tmp:
        out_dir = Path(tmp) / "release"  # the folder's name is not recorded anywhere
        yield build_project(project, out_dir=out_dir, run_url=run_url, progress=_say).out_dir


COMMANDS = [build_command]
