"""A candidate against its baseline: which baseline, and the EVAL.json records both keep.

`tether eval` and the promotion gate compare the same way (tests/quality/test_comparison.py):
each release's numbers come from its record when that is for the same dataset bytes, else
are computed on a verified download; the candidate's record then holds its numbers with the
deltas to the baseline, and a baseline without a record gets one, a cache for next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import TetherError
from tether.names import EVAL_RECORD
from tether.project import Project
from tether.quality.evaluate import (
    Dataset,
    Progress,
    deltas,
    evaluate_model,
    evaluate_release,
    format_table,
    load_dataset,
    write_eval,
)
from tether.quality.gate import gate_settings
from tether.spine import previous_promoted, read_pin, require_pin
from tether.stores.base import Store
from tether.versioning import normalize_version

#: What a baseline may be besides a version (None, the default: the pin, unless it is the
#: candidate).
BASELINE_CHOICES = ("pinned", "previous", "none")


def choose_baseline(
    store: Store, name: str, project_dir: Path, choice: str | None, *, candidate: str | None
) -> str | None:
    """The version to compare ``candidate`` with (None: nothing to compare with).

    ``choice``: a version, ``pinned`` (the pin, required), ``previous`` (the promoted
    release below the candidate), ``none``, or None: the pin when there is one and it is
    not the candidate, which is what the promotion gate compares with.
    ``candidate`` is None for a build folder, which has no release below it.
    """
    if choice is None:
        pinned = read_pin(project_dir, name)  # named pins: this model's line
        return pinned if pinned != candidate else None
    if choice == "none":
        return None
    if choice == "pinned":
        return require_pin(project_dir, name)
    if choice == "previous":
        if candidate is None:
            raise TetherError(
                "the baseline 'previous' needs a released candidate, not a folder",
                "name the baseline's version, or 'pinned'",
            )
        return previous_promoted(store, name, candidate).version
    return normalize_version(choice)


def compare_releases(
    store: Store,
    name: str,
    candidate: str,
    baseline: str | None,
    dataset: Dataset,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(candidate's EVAL.json body, baseline's) on ``dataset``; the candidate's is written
    to its record, with its deltas to ``baseline`` when there is one.

    ``fresh``: recompute even when a record has the numbers (and rewrite the baseline's).
    """
    body = evaluate_release(store, name, candidate, dataset, progress=progress, reuse=not fresh)
    base = None
    if baseline is not None:
        base = _baseline_eval(store, name, baseline, dataset, fresh=fresh, progress=progress)
        body = _with_deltas(body, baseline, base)
    write_eval(store, name, candidate, body)
    return body, base


def _baseline_eval(
    store: Store,
    name: str,
    version: str,
    dataset: Dataset,
    *,
    fresh: bool,
    progress: Progress | None,
) -> dict[str, Any]:
    body = evaluate_release(store, name, version, dataset, progress=progress, reuse=not fresh)
    if fresh or store.read_record(name, version, EVAL_RECORD) is None:
        write_eval(store, name, version, body)  # a cache for the next comparison
    return body


def _with_deltas(body: dict[str, Any], baseline: str, base: dict[str, Any]) -> dict[str, Any]:
    return {**body, "baseline": {"version": baseline, "deltas": deltas(body, base)}}


@dataclass(frozen=True)
class Evaluation:
    """What `tether eval` measured: the candidate's EVAL.json body and its baseline's."""

    dataset: Dataset
    body: dict[str, Any]  # with "baseline" deltas when there was a baseline
    baseline: dict[str, Any] | None = None
    labels: tuple[str, str] = ("candidate", "baseline")  # the table's column titles
    name: str | None = None
    version: str | None = None  # the release whose record now holds ``body``; None: a folder

    def table(self) -> str:
        return format_table(self.body, self.baseline, labels=self.labels)


def evaluate_candidate(
    project: Project,
    *,
    store_url: str | None = None,
    name: str | None = None,
    candidate: str = "pinned",
    baseline: str | None = None,
    folder: Path | None = None,
    dataset_dir: Path | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
) -> Evaluation:
    """`tether eval`: a release (a version or ``pinned``), or a build ``folder``, measured on
    ``dataset_dir`` (default: ``[gate] dataset``, else the bundled set) and compared with
    ``baseline`` (see :func:`choose_baseline`).

    The store (``store_url``, else the project's) and ``name`` are looked up only when a
    release is involved: a folder with no baseline needs no store and writes no record.
    """
    settings = gate_settings(project)
    data = load_dataset(dataset_dir or settings.dataset)
    if folder is not None and baseline is None:
        return Evaluation(data, evaluate_model(folder, data, progress=progress))

    opened = project.open_store(store_url)
    name = project.release_name(name, opened)
    version = None if folder is not None else _candidate_version(project.dir, name, candidate)
    base_version = choose_baseline(opened, name, project.dir, baseline, candidate=version)
    if version is not None:
        body, base = compare_releases(
            opened, name, version, base_version, data, fresh=fresh, progress=progress
        )
        labels = (version, base_version or "baseline")
        return Evaluation(data, body, base, labels, name, version)
    assert folder is not None
    body = evaluate_model(folder, data, progress=progress)
    base = None
    if base_version is not None:
        base = _baseline_eval(opened, name, base_version, data, fresh=fresh, progress=progress)
        body = _with_deltas(body, base_version, base)
    return Evaluation(data, body, base, (str(folder), base_version or "baseline"), name)


def _candidate_version(project_dir: Path, name: str, candidate: str) -> str:
    if candidate == "pinned":
        return require_pin(project_dir, name)
    return normalize_version(candidate)
