"""tether eval / revert / notes: measure a release, undo a promotion, say what changed.

(`tether promote`, which runs the gate, lives with the other state changes in releases.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tether.cli.options import name_option, open_project, project_option, store_option
from tether.errors import TetherError
from tether.versioning import normalize_version, release_tag


@click.command("eval")
@click.option(
    "--candidate",
    metavar="VERSION",
    default="pinned",
    show_default=True,
    help="Release to evaluate: a version, or 'pinned'.",
)
@click.option(
    "--baseline",
    metavar="VERSION",
    help="Release to compare with: a version, 'pinned' or 'previous' (the promoted release "
    "below the candidate). Default: the pin, when the candidate is not the pinned one.",
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
    baseline: str | None,
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
    from tether.quality import (
        deltas,
        evaluate_model,
        evaluate_release,
        format_table,
        gate_settings,
        load_dataset,
        stderr_progress,
        write_eval,
    )
    from tether.spine import previous_promoted, require_pin

    settings = gate_settings(project_dir)
    data = load_dataset(dataset or settings.dataset)
    click.echo(f"evaluating on {data.describe()}", err=True)
    if folder is not None and baseline is None:  # a build folder alone: no store needed
        body = evaluate_model(folder, data, progress=stderr_progress)
        click.echo(json.dumps(body, indent=2) if as_json else format_table(body))
        return

    project, opened, name = open_project(project_dir, store, name)

    def which(value: str, below: str | None = None) -> str:
        if value == "pinned":
            return require_pin(project.dir)
        if value == "previous":
            if below is None:
                raise TetherError("--baseline previous needs a released candidate")
            return previous_promoted(opened, name, below).version
        return normalize_version(value)

    cand_version = None if folder is not None else which(candidate)
    base_version = None
    if baseline is not None and baseline != "none":
        base_version = which(baseline, cand_version)
    elif baseline is None and folder is None:
        pinned = require_pin(project.dir) if candidate != "pinned" else None
        base_version = pinned if pinned != cand_version else None

    if folder is not None:
        cand = evaluate_model(folder, data, progress=stderr_progress)
        cand_label = str(folder)
    else:
        assert cand_version is not None
        cand = evaluate_release(
            opened, name, cand_version, data, progress=stderr_progress, reuse=not fresh
        )
        cand_label = cand_version
    base = None
    if base_version is not None:
        base = evaluate_release(
            opened, name, base_version, data, progress=stderr_progress, reuse=not fresh
        )
        if fresh or opened.read_record(name, base_version, EVAL_RECORD) is None:
            write_eval(opened, name, base_version, base)
        cand = {**cand, "baseline": {"version": base_version, "deltas": deltas(cand, base)}}
    if cand_version is not None:
        write_eval(opened, name, cand_version, cand)
    if as_json:
        click.echo(json.dumps(cand, indent=2))
        return
    click.echo(format_table(cand, base, labels=(cand_label, base_version or "baseline")))
    if cand_version is not None:
        click.echo(f"wrote {EVAL_RECORD} to the record of {name} {release_tag(cand_version)}")


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
    from tether.names import PIN_FILE
    from tether.spine import pin_release, previous_promoted, require_pin
    from tether import spine as releases

    project, opened, name = open_project(project_dir, store, name)
    current = require_pin(project.dir)
    previous = previous_promoted(opened, name, current)
    # pin first: if it fails, nothing was withdrawn
    pin_release(opened, name, previous.version, project.dir, allow_downgrade=True)
    why = reason.strip() if reason and reason.strip() else f"reverted to {previous.tag}"
    withdrawn = releases.withdraw(opened, name, current, reason=why)
    click.echo(f"pinned {name} {previous.tag} in {project.dir / PIN_FILE}")
    click.echo(f"{name} {withdrawn.tag} is {withdrawn.state}: {why}")


@click.command("notes")
@click.argument("version")
@click.option(
    "--against", metavar="VERSION", help="Compare with this release (default: the one below)."
)
@click.option(
    "--card",
    is_flag=True,
    help="Print the Hugging Face model card (README.md with model-index eval results) instead.",
)
@click.option(
    "--license", "license_id", metavar="ID", help="License for the card (e.g. apache-2.0)."
)
@store_option
@name_option
@project_option
def notes_command(
    version: str,
    against: str | None,
    card: bool,
    license_id: str | None,
    store: str | None,
    name: str | None,
    project_dir: Path,
) -> None:
    """Release notes for VERSION against the previous release: files changed, tool
    versions changed, evaluation deltas."""
    from tether.quality import model_card, release_notes
    from tether.spine import previous_release

    _, opened, name = open_project(project_dir, store, name)
    version = normalize_version(version)
    if card:
        click.echo(model_card(opened, name, version, license=license_id), nl=False)
        return
    if against is None:
        prev = previous_release(opened, name, below=version)
        previous = prev.version if prev else None
    else:
        previous = normalize_version(against)
    click.echo(release_notes(opened, name, version, previous), nl=False)


COMMANDS = [eval_command, revert_command, notes_command]
