"""The promotion gate.

Gate (``tether promote``): the candidate may not score more than ``max_drop`` (absolute,
default 0.01 = 1 point) below the pinned release on any gated metric of any variant both
have, and its int8 parity, as its build measured and recorded it in MANIFEST.txt, must meet
the gate's parity thresholds (not the ones the build was allowed to lower). Thresholds come
from the recipe's ``[gate]`` table.

The compatibility guard it also runs lives with publishing (tether.spine.compatibility).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.names import (
    COMPAT_MIN_COSINE,
    INT8_MIN_COSINE,
    INT8_MIN_MEAN_COSINE,
    MAX_METRIC_DROP,
    PROFILE_FILE,
)
from tether.project import read_settings
from tether.quality.evaluate import METRICS
from tether.spine import check_release_compatible, release_json
from tether.stores.base import Store
from tether.versioning import release_tag

_PARITY = re.compile(r"cosine mean ([0-9.]+) min ([0-9.]+)")


# --- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSettings:
    max_drop: float = MAX_METRIC_DROP
    metrics: tuple[str, ...] = METRICS
    int8_min_mean: float = INT8_MIN_MEAN_COSINE  # the build's default [parity] thresholds
    int8_min: float = INT8_MIN_COSINE
    probe_min_cosine: float = COMPAT_MIN_COSINE
    dataset: Path | None = None  # None: the bundled set

    def describe(self) -> str:
        return (
            f"no drop > {100 * self.max_drop:g} points in {', '.join(self.metrics)}; int8 "
            f"parity mean >= {self.int8_min_mean:g}, min >= {self.int8_min:g}"
        )


_GATE_KEYS = ("max_drop", "metrics", "int8_min_mean", "int8_min", "probe_min_cosine", "dataset")


def gate_settings(project_dir: Path | str = ".") -> GateSettings:
    """The recipe's ``[gate]`` table (defaults when there is none)."""
    table, path = read_settings(Path(project_dir))
    gate = table.get("gate", {})
    where = f"{path.name if path else 'recipe'} [gate]"
    if not isinstance(gate, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(gate) - set(_GATE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'", f"use {', '.join(_GATE_KEYS)}")
    defaults = GateSettings()
    values: dict[str, Any] = {}
    for key in ("max_drop", "int8_min_mean", "int8_min", "probe_min_cosine"):
        if key in gate:
            value = gate[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
            if not 0 <= value <= 1:
                raise ConfigError(
                    f"{where}: {key} = {value} is outside 0..1",
                    "metrics and cosines are fractions: max_drop = 0.01 is one point",
                )
            values[key] = float(value)
    if "metrics" in gate:
        metrics = gate["metrics"]
        if not isinstance(metrics, list) or not all(m in METRICS for m in metrics):
            raise ConfigError(f"{where}: metrics must be a list of {', '.join(METRICS)}")
        values["metrics"] = tuple(metrics)
    if "dataset" in gate:
        if not isinstance(gate["dataset"], str):
            raise ConfigError(f"{where}: dataset must be a folder path")
        base = path.parent if path else Path(project_dir)
        values["dataset"] = (base / gate["dataset"]).absolute()
    return GateSettings(**{**defaults.__dict__, **values})


# --- promotion gate -----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class GateResult:
    candidate: str
    baseline: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def lines(self) -> list[str]:
        return [f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]

    def as_record(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "passed": self.passed,
            "failed": [f"{c.name}: {c.detail}" for c in self.failures],
        }


def recorded_parity(sections: dict[str, dict[str, str]]) -> tuple[float, float] | None:
    """(mean, min) int8-vs-fp32 cosine the build measured, from MANIFEST.txt's Build section."""
    found = _PARITY.search(sections.get("Build", {}).get("parity", ""))
    return (float(found.group(1)), float(found.group(2))) if found else None


def run_gate(
    candidate_eval: dict[str, Any],
    baseline_eval: dict[str, Any] | None,
    sections: dict[str, dict[str, str]],
    settings: GateSettings,
    *,
    candidate: str,
    baseline: str | None,
) -> GateResult:
    """Every check of the gate, passed or not (the caller decides and prints)."""
    result = GateResult(candidate, baseline)
    if baseline_eval is not None:
        for variant, cand in candidate_eval.get("variants", {}).items():
            base = baseline_eval.get("variants", {}).get(variant)
            if not base:
                continue  # a variant the pinned release lacks has nothing to regress from
            for metric in settings.metrics:
                drop = base[metric] - cand[metric]
                result.checks.append(
                    Check(
                        f"{variant} {metric}",
                        drop <= settings.max_drop + 1e-9,
                        f"{100 * cand[metric]:.2f} vs {100 * base[metric]:.2f} "
                        f"({100 * (cand[metric] - base[metric]):+.2f} points, "
                        f"allowed -{100 * settings.max_drop:g})",
                    )
                )
    if "int8" in candidate_eval.get("variants", {}):
        parity = recorded_parity(sections)
        if parity is None:  # not built by tether build: there is no measurement to judge
            result.checks.append(
                Check("int8 parity", True, "not recorded in MANIFEST.txt (not checked)")
            )
        else:
            mean, low = parity
            result.checks.append(
                Check(
                    "int8 parity",
                    mean >= settings.int8_min_mean and low >= settings.int8_min,
                    f"cosine mean {mean:.5f} min {low:.5f} as built (needs mean >= "
                    f"{settings.int8_min_mean:g}, min >= {settings.int8_min:g})",
                )
            )
    return result


# --- promotion ----------------------------------------------------------------------------


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
        from tether.quality.evaluate import format_table

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
    progress: Any = None,
) -> GateOutcome:
    """Run the guard and the gate for promoting ``version`` over ``baseline`` (the pin).

    Changes nothing but the EVAL.json records (numbers, which are facts whatever the
    decision). Raises ProfileCompatibilityError when the contract is broken: --force
    does not override that, since it would corrupt every stored vector.
    """
    from tether.quality.evaluate import (
        EVAL_RECORD,
        deltas,
        evaluate_release,
        load_dataset,
        write_eval,
    )
    from tether.spine import read_manifest, release_info, require_usable

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
        cand = evaluate_release(store, name, info.version, dataset, progress=progress)
        base = evaluate_release(store, name, baseline, dataset, progress=progress)
        if store.read_record(name, baseline, EVAL_RECORD) is None:
            write_eval(store, name, baseline, base)  # a cache for the next comparison
        cand = {**cand, "baseline": {"version": baseline, "deltas": deltas(cand, base)}}
        write_eval(store, name, info.version, cand)
        outcome.candidate_eval, outcome.baseline_eval = cand, base
    if is_profile:
        outcome.result = run_gate(
            outcome.candidate_eval or {"variants": _declared(store, name, info.version)},
            outcome.baseline_eval,
            manifest.sections,
            settings,
            candidate=info.version,
            baseline=baseline,
        )
    return outcome


def _declared(store: Store, name: str, version: str) -> dict[str, Any]:
    """The variants a release declares (for the parity check when nothing was evaluated)."""
    profile = release_json(store, name, version, PROFILE_FILE) or {}
    return {v: {} for v in profile.get("variants", {})}
