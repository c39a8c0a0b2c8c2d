"""tether eval / revert / notes: measure a release, undo a promotion, say what changed.

(`tether promote`, which runs the gate, lives with the other state changes in releases.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tether.cli.options import (
    card_from_options,
    card_options,
    compare_with_option,
    name_option,
    open_project,
    project_option,
    store_option,
)
from tether.versioning import release_tag


@click.command("eval")
@click.option(
    "--candidate",
    metavar="VERSION",
    default="pinned",
    show_default=True,
    help="Release to evaluate: a version, or 'pinned'.",
)
@compare_with_option(
    "Baseline release to compare with: a version, 'pinned', 'previous' (the promoted "
    "release below the candidate) or 'none'. Default: the pin, when the candidate is not "
    "the pinned one.",
    old="--baseline",
)
@click.option(
    "--folder",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Evaluate this built (unreleased) folder instead of a release.",
)
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, path_type=Path),
    help="BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/test.tsv). Default: [gate] "
    "dataset, else tether's bundled set.",
)
@click.option("--fresh", is_flag=True, help="Recompute even when EVAL.json has the numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print the EVAL.json body instead.")
@store_option
@name_option
@project_option
def eval_command(
    candidate: str,
    compare_with: str | None,
    folder: Path | None,
    dataset: Path | None,
    fresh: bool,
    as_json: bool,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Retrieval quality (nDCG@10, Recall@10/100, MRR@10) of each variant, the deltas to a
    baseline, and int8-vs-fp32 agreement. Writes EVAL.json into the candidate's record."""
    from tether.names import EVAL_RECORD
    from tether.project import Project
    from tether.quality import evaluate_candidate, stderr_progress

    evaluation = evaluate_candidate(
        Project.load(project_dir),
        store_url=store,
        name=name,
        candidate=candidate,
        baseline=compare_with,
        folder=folder,
        dataset_dir=dataset,
        fresh=fresh,
        progress=stderr_progress,
    )
    if as_json:
        click.echo(json.dumps(evaluation.body, indent=2))
        return
    click.echo(evaluation.table())
    if evaluation.version is not None:
        click.echo(
            f"wrote {EVAL_RECORD} to the record of {evaluation.name} "
            f"{release_tag(evaluation.version)}"
        )


@click.command("revert")
@click.option("--reason", help="Why; kept in the withdrawn release's record.")
@store_option
@name_option
@project_option
def revert_command(
    reason: str | None, store: str | None, name: str | None, project_dir: Path
) -> None:
    """Pin back to the previous promoted release and withdraw the pinned one (it stays
    readable as a record, but can no longer be pinned or fetched)."""
    from tether.quality import revert_release

    project, opened, name = open_project(project_dir, store, name)
    revert = revert_release(opened, name, project=project, reason=reason)
    click.echo(f"pinned {name} {revert.pinned.tag} in {revert.pin_file}")
    click.echo(f"{name} {revert.withdrawn.tag} is {revert.withdrawn.state}: {revert.reason}")


@click.command("notes")
@click.argument("version")
@compare_with_option("Release to compare with (default: the one below VERSION).", old="--against")
@click.option(
    "--card",
    is_flag=True,
    help="Print the Hugging Face model card (README.md with model-index eval results) instead.",
)
@card_options
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Git work tree whose commits between the two releases are listed. Default: the "
    "project folder.",
)
@store_option
@name_option
@project_option
def notes_command(
    version: str,
    compare_with: str | None,
    card: bool,
    base_model: str | None,
    pipeline_tag: str | None,
    card_tags: tuple[str, ...],
    license_id: str | None,
    repo: Path | None,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Release notes for VERSION against the previous release: files changed, the
    project's commits in between, tool versions changed, evaluation deltas."""
    from tether.quality import model_card, release_notes

    project, opened, name = open_project(project_dir, store, name)
    if card:
        options = card_from_options(base_model, pipeline_tag, card_tags, license_id)
        click.echo(model_card(opened, name, version, card=options), nl=False)
        return
    notes = release_notes(opened, name, version, compare_with, repo=repo or project.dir)
    click.echo(notes, nl=False)


COMMANDS = [eval_command, revert_command, notes_command]
