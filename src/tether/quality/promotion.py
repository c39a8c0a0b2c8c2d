"""Promote a release through the gate, or revert the last promotion.

The decisions of `tether promote` and `tether revert`, so that a Python caller gets exactly
what the CLI does: the guard, then the gate against the pin; a failed gate refuses unless
forced with a reason, and a forced promotion is recorded as such in the release's history
(tests/quality/test_gate.py pins both). Revert pins the previous promoted release first and
only then withdraws the pinned one, so a pin that cannot be written withdraws nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import PromotionGateError
from tether.names import PIN_FILE, PROBE_FILE, PROFILE_FILE
from tether.project import Project
from tether.quality.comparison import choose_baseline, compare_releases
from tether.quality.evaluate import Progress, format_table, load_dataset
from tether.quality.gate import GateResult, GateSettings, gate_settings, recorded_parity, run_gate
from tether.spine import (
    ReleaseInfo,
    check_release_compatible,
    pin_release,
    previous_promoted,
    promote,
    read_manifest,
    release_info,
    release_json,
    require_pin,
    require_usable,
    withdraw,
)
from tether.stores.base import Store
from tether.versioning import normalize_version, release_tag

# --- the gate on releases -------------------------------------------------------------------


@dataclass
class GateOutcome:
    """What `tether promote` decides on: the checks, and the numbers they came from."""

    name: str
    candidate: str
    baseline: str | None
    result: GateResult
    candidate_eval: dict[str, Any] | None = None
    baseline_eval: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = list(self.notes)
        if self.candidate_eval is not None:
            lines.append(
                format_table(
                    self.candidate_eval,
                    self.baseline_eval,
                    labels=(self.candidate, self.baseline or "baseline"),
                )
            )
        lines.append(f"gate for {self.name} {release_tag(self.candidate)}:")
        lines.extend(self.result.lines() or ["  (no checks apply)"])
        return "\n".join(lines)


def evaluate_gate(
    store: Store,
    name: str,
    version: str,
    baseline: str | None,
    settings: GateSettings,
    *,
    dataset_dir: Path | None = None,
    progress: Progress | None = None,
) -> GateOutcome:
    """Run the guard and the gate for promoting ``version`` over ``baseline`` (the pin).

    Changes nothing but the EVAL.json records (numbers, which are facts whatever the
    decision). Raises ProfileCompatibilityError when the contract is broken: --force
    does not override that, since it would corrupt every stored vector.
    """
    info = require_usable(release_info(store, name, version))
    manifest, _ = read_manifest(store, name, info.version)
    if baseline == info.version:
        baseline = None  # promoting the pinned release: nothing to regress from
    outcome = GateOutcome(name, info.version, baseline, GateResult(info.version, baseline))
    is_profile = PROFILE_FILE in manifest.files
    if baseline is not None and is_profile:
        pinned = release_info(store, name, baseline)
        check_release_compatible(
            store, name, info.version, pinned, min_cosine=settings.probe_min_cosine
        )
    if not is_profile:
        outcome.notes.append(f"{release_tag(info.version)} has no profile.json: no retrieval gate")
    elif baseline is None:
        outcome.notes.append("no pinned release to compare with: first promotion")
    else:
        dataset = load_dataset(dataset_dir or settings.dataset)
        outcome.candidate_eval, outcome.baseline_eval = compare_releases(
            store, name, info.version, baseline, dataset, progress=progress
        )
    if is_profile:
        probe = release_json(store, name, info.version, PROBE_FILE)  # checked against MANIFEST
        outcome.result = run_gate(
            outcome.candidate_eval or {"variants": _declared(store, name, info.version)},
            outcome.baseline_eval,
            recorded_parity(probe, manifest.sections),
            settings,
            candidate=info.version,
            baseline=baseline,
        )
    return outcome


def _declared(store: Store, name: str, version: str) -> dict[str, Any]:
    """The variants a release declares (for the parity check when nothing was evaluated)."""
    profile = release_json(store, name, version, PROFILE_FILE) or {}
    return {v: {} for v in profile.get("variants", {})}


# --- promote ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """A release promoted: through the gate, or ``forced`` past its failed checks."""

    outcome: GateOutcome
    info: ReleaseInfo  # the release, now promoted
    forced: bool  # promoted although the gate failed (recorded in its history)
    reason: str | None
    pin_file: Path | None  # the .model-version written; None when asked not to pin


def promote_release(
    store: Store,
    name: str,
    version: str,
    *,
    project: Project,
    dataset_dir: Path | None = None,
    force: bool = False,
    reason: str | None = None,
    pin: bool = True,
    progress: Progress | None = None,
    report: Callable[[str], None] | None = None,
) -> Promotion:
    """`tether promote`: the guard and the gate for ``version`` over the project's pin; on
    pass, or with ``force`` and a ``reason``, mark it promoted and (``pin``) pin it.

    ``report`` gets the gate's table and checks before the decision, pass or fail. A refusal
    changes nothing but the EVAL.json records: PromotionGateError when the gate fails without
    ``force`` (or ``force`` comes without a reason), ProfileCompatibilityError when the
    profile contract breaks, forced or not.
    """
    if force and not (reason and reason.strip()):
        raise PromotionGateError(
            "--force needs a reason", "pass --reason 'why this release must ship anyway'"
        )
    settings = gate_settings(project)
    baseline = choose_baseline(store, name, project.dir, None, candidate=normalize_version(version))
    outcome = evaluate_gate(
        store, name, version, baseline, settings, dataset_dir=dataset_dir, progress=progress
    )
    if report is not None:
        report(outcome.report())
    result = outcome.result
    if not result.passed and not force:
        failed = "; ".join(f"{c.name} {c.detail}" for c in result.failures)
        raise PromotionGateError(
            f"{name} {release_tag(outcome.candidate)} failed the promotion gate: {failed}"
        )
    forced = not result.passed  # only reached with force: loud, and on the record
    kept_reason = reason if force else None
    info = promote(
        store, name, outcome.candidate, forced=forced, reason=kept_reason, gate=result.as_record()
    )
    pin_file = None
    if pin:
        pin_release(store, name, info.version, project)
        pin_file = project.dir / PIN_FILE
    return Promotion(outcome, info, forced, kept_reason, pin_file)


# --- revert -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revert:
    """The pin moved back to ``pinned``; ``withdrawn`` was the pinned release."""

    pinned: ReleaseInfo
    withdrawn: ReleaseInfo
    reason: str  # as recorded in the withdrawn release's history
    pin_file: Path


def revert_release(
    store: Store, name: str, *, project: Project, reason: str | None = None
) -> Revert:
    """`tether revert`: pin the highest promoted release below the pin (a deliberate
    downgrade), then withdraw the pinned one with ``reason`` (default: "reverted to ...")."""
    current = require_pin(project.dir, name)  # named pins: this model's line only
    previous = previous_promoted(store, name, current, project_dir=project.dir)
    # pin first: if it fails, nothing was withdrawn
    pin_release(store, name, previous.version, project, allow_downgrade=True)
    why = reason.strip() if reason and reason.strip() else f"reverted to {previous.tag}"
    withdrawn = withdraw(store, name, current, reason=why)
    return Revert(previous, withdrawn, why, project.dir / PIN_FILE)
