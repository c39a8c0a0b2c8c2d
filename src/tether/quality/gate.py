"""The promotion gate: its ``[gate]`` settings and its checks.

Gate (``tether promote``): the candidate may not score more than ``max_drop`` (absolute,
default 0.01 = 1 point) below the pinned release on any gated metric of any variant both
have, and its int8 parity, as its build measured and recorded it (numbers in probe.json),
must meet the gate's parity thresholds (not the ones the build was allowed to lower).
Thresholds come from the recipe's ``[gate]`` table.

Running the gate on releases, with the compatibility guard (tether.spine.compatibility),
is tether.quality.promotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, ManifestError
from tether.names import (
    COMPAT_MIN_COSINE,
    GATE_TABLE,
    INT8_MIN_COSINE,
    INT8_MIN_MEAN_COSINE,
    MANIFEST_FILE,
    MAX_METRIC_DROP,
    PROBE_FILE,
    PROBE_PARITY_KEY,
)
from tether.project import Project
from tether.quality.evaluate import METRICS

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


def gate_settings(project: Project | Path | str = ".") -> GateSettings:
    """The recipe's ``[gate]`` table (defaults when there is none).

    ``project``: a Project, whose settings were read once for the whole command, or its
    folder (read now). A relative ``dataset`` is relative to the project's folder.
    """
    if not isinstance(project, Project):
        project = Project.load(project)
    gate = project.table(GATE_TABLE)
    gate = {} if gate is None else gate
    where = f"{project.where} [{GATE_TABLE}]"
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
        values["dataset"] = (project.settings_dir / gate["dataset"]).absolute()
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


@dataclass(frozen=True)
class RecordedParity:
    """The int8-vs-fp32 cosine a release's build measured on its parity texts."""

    mean: float
    min: float
    source: str  # the file it was read from


def recorded_parity(
    probe: dict[str, Any] | None, sections: dict[str, dict[str, str]]
) -> RecordedParity | None:
    """The int8 parity the build recorded: the numbers in probe.json's ``parity``; for a
    release built before probe.json held them, MANIFEST.txt's Build line; None when neither
    has it (not built by tether build). tests/quality/test_gate.py pins both readings."""
    record = (probe or {}).get(PROBE_PARITY_KEY)
    if record is None:
        return _parity_line(sections.get("Build", {}).get("parity"))
    int8 = record.get("int8") if isinstance(record, dict) else record
    if int8 is None:
        return None  # an fp32-only build
    numbers = [int8.get(key) for key in ("mean", "min")] if isinstance(int8, dict) else []
    if len(numbers) != 2 or not all(_is_number(n) for n in numbers):
        raise ManifestError(
            f"{PROBE_FILE}: {PROBE_PARITY_KEY}.int8 needs the numbers 'mean' and 'min', "
            f"got {int8!r}",
            "this probe.json was not written by tether build; rebuild the release",
        )
    return RecordedParity(float(numbers[0]), float(numbers[1]), PROBE_FILE)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parity_line(line: str | None) -> RecordedParity | None:
    """Releases built before probe.json held the numbers: "int8 vs fp32 cosine mean 0.99400
    min 0.97500 over 215 texts ..." (the line builds still write for people)."""
    words = (line or "").split()
    try:
        mean, low = (float(words[words.index(key) + 1]) for key in ("mean", "min"))
    except (ValueError, IndexError):
        return None
    return RecordedParity(mean, low, MANIFEST_FILE)


def run_gate(
    candidate_eval: dict[str, Any],
    baseline_eval: dict[str, Any] | None,
    parity: RecordedParity | None,
    settings: GateSettings,
    *,
    candidate: str,
    baseline: str | None,
) -> GateResult:
    """Every check of the gate, passed or not (the caller decides and prints).

    ``parity``: what :func:`recorded_parity` read from the candidate release.
    """
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
        if parity is None:  # not built by tether build: there is no measurement to judge
            result.checks.append(
                Check("int8 parity", True, f"not recorded in {PROBE_FILE} (not checked)")
            )
        else:
            mean, low = parity.mean, parity.min
            result.checks.append(
                Check(
                    "int8 parity",
                    mean >= settings.int8_min_mean and low >= settings.int8_min,
                    f"cosine mean {mean:.5f} min {low:.5f} as built (needs mean >= "
                    f"{settings.int8_min_mean:g}, min >= {settings.int8_min:g})",
                )
            )
    return result
