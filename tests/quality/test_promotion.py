"""The library verbs behind promote, revert and eval, on small fake releases.

The releases carry EVAL.json records for the bundled dataset, so the gate reuses those
numbers instead of embedding anything, and probe.json parity numbers, so the int8 check
has a measurement to judge.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import NAME, make_small_release
from tether.errors import PinNotFoundError, PromotionGateError, TetherError
from tether.project import Project
from tether.quality import (
    choose_baseline,
    compare_releases,
    evaluate_candidate,
    load_dataset,
    promote_release,
    promotion,
    revert_release,
    write_eval,
)
from tether.spine import (
    PROMOTED,
    WITHDRAWN,
    pin_release,
    promote,
    publish_release,
    read_pin,
    release_info,
)
from tether.stores.file import FileStore

DATASET = load_dataset()  # the bundled set: only its digest and counts are used


def numbers(ndcg: float) -> dict:
    values = {"ndcg@10": ndcg, "recall@10": 0.9, "recall@100": 1.0, "mrr@10": 0.8}
    return {"dataset": DATASET.as_record(), "variants": {"fp32": values, "int8": dict(values)}}


@pytest.fixture
def store(project_dir: Path) -> FileStore:
    return FileStore(project_dir / "releases")


def release(
    store: FileStore, tmp_path: Path, version: str, *, int8_mean: float, ndcg: float = 0.9
) -> None:
    """A fake profile release whose build recorded ``int8_mean`` parity, with its numbers."""
    folder = make_small_release(tmp_path / version, seed=1)
    parity = {"int8": {"reference": "fp32", "mean": int8_mean, "min": 0.95}}
    (folder / "probe.json").write_text(json.dumps({"texts": [], "parity": parity}))
    publish_release(store, folder, version=version)
    write_eval(store, NAME, version, numbers(ndcg))


@pytest.fixture
def pinned(store: FileStore, tmp_path: Path, project_dir: Path) -> Project:
    """1.0.0 promoted and pinned; 1.1.0 published, its build's int8 parity too low."""
    release(store, tmp_path, "1.0.0", int8_mean=0.99)
    promote(store, NAME, "1.0.0")
    pin_release(store, NAME, "1.0.0", project_dir)
    release(store, tmp_path, "1.1.0", int8_mean=0.95)
    return Project.load(project_dir)


def test_a_failed_gate_refuses_and_changes_nothing(store: FileStore, pinned: Project) -> None:
    reports: list[str] = []
    with pytest.raises(PromotionGateError, match="failed the promotion gate: int8 parity"):
        promote_release(store, NAME, "1.1.0", project=pinned, report=reports.append)
    (report,) = reports  # the report comes before the decision
    assert "FAIL int8 parity: cosine mean 0.95000" in report and "ok   fp32 ndcg@10" in report
    assert release_info(store, NAME, "1.1.0").state == "pre-release"
    assert read_pin(pinned.dir) == "1.0.0"
    record = json.loads(store.read_record(NAME, "1.1.0", "EVAL.json"))
    assert record["baseline"] == {
        "version": "1.0.0",
        "deltas": {v: dict.fromkeys(numbers(0)["variants"]["fp32"], 0.0) for v in ("fp32", "int8")},
    }


def test_a_forced_promotion_needs_a_reason_and_is_recorded(
    store: FileStore, pinned: Project
) -> None:
    with pytest.raises(PromotionGateError, match="--force needs a reason"):
        promote_release(store, NAME, "1.1.0", project=pinned, force=True, reason="  ")
    assert release_info(store, NAME, "1.1.0").state == "pre-release"

    promotion = promote_release(store, NAME, "1.1.0", project=pinned, force=True, reason="fix")
    assert promotion.forced and promotion.reason == "fix"
    assert promotion.info.state == PROMOTED
    entry = release_info(store, NAME, "1.1.0").history[-1]
    assert entry["forced"] is True and entry["reason"] == "fix"
    assert entry["gate"]["passed"] is False and entry["gate"]["baseline"] == "1.0.0"
    assert entry["gate"]["failed"][0].startswith("int8 parity: cosine mean 0.95000")
    assert promotion.pin_file == pinned.dir / ".model-version"
    assert read_pin(pinned.dir) == "1.1.0"


def test_a_passing_gate_promotes_without_force_and_pins_only_when_asked(
    store: FileStore, pinned: Project, tmp_path: Path
) -> None:
    release(store, tmp_path, "1.2.0", int8_mean=0.99, ndcg=0.895)  # -0.5 points: allowed
    promotion = promote_release(store, NAME, "1.2.0", project=pinned, pin=False)
    assert not promotion.forced and promotion.reason is None
    assert promotion.outcome.result.passed and promotion.pin_file is None
    assert read_pin(pinned.dir) == "1.0.0"
    entry = release_info(store, NAME, "1.2.0").history[-1]
    assert entry["gate"]["passed"] is True and "forced" not in entry and "reason" not in entry


def test_choose_baseline(store: FileStore, pinned: Project, project_dir: Path) -> None:
    def choose(choice: str | None, candidate: str | None = "1.1.0") -> str | None:
        return choose_baseline(store, NAME, project_dir, choice, candidate=candidate)

    assert choose(None) == "1.0.0"  # the pin: what the gate compares with
    assert choose(None, "1.0.0") is None  # the candidate is the pin
    assert choose("none") is None
    assert choose("pinned", "1.0.0") == "1.0.0"  # asked for: even the candidate itself
    assert choose("previous") == "1.0.0"  # the promoted release below the candidate
    assert choose("v1.1.0") == "1.1.0"
    with pytest.raises(TetherError, match="needs a released candidate"):
        choose("previous", None)
    (project_dir / ".model-version").unlink()
    assert choose(None) is None  # nothing pinned: nothing to compare with
    with pytest.raises(PinNotFoundError):
        choose("pinned")


def test_compare_releases_reuses_the_records(store: FileStore, pinned: Project) -> None:
    before = store.read_record(NAME, "1.0.0", "EVAL.json")
    body, base = compare_releases(store, NAME, "1.1.0", "1.0.0", DATASET)
    assert base == json.loads(before)
    assert body["baseline"]["version"] == "1.0.0"
    assert json.loads(store.read_record(NAME, "1.1.0", "EVAL.json")) == body
    assert store.read_record(NAME, "1.0.0", "EVAL.json") == before  # kept, not rewritten


def test_evaluate_candidate_compares_with_the_pin_by_default(pinned: Project) -> None:
    evaluation = evaluate_candidate(pinned, candidate="1.1.0")
    assert (evaluation.version, evaluation.name) == ("1.1.0", NAME)
    assert evaluation.labels == ("1.1.0", "1.0.0") and evaluation.baseline is not None
    assert "fp32    ndcg@10" in evaluation.table()
    alone = evaluate_candidate(pinned)  # the pinned release: no baseline
    assert (alone.version, alone.baseline, alone.labels) == ("1.0.0", None, ("1.0.0", "baseline"))


def test_revert_withdraws_nothing_when_the_pin_cannot_be_written(
    store: FileStore, pinned: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    promote(store, NAME, "1.1.0")
    pin_release(store, NAME, "1.1.0", pinned.dir)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("read-only project")

    monkeypatch.setattr(promotion, "pin_release", fail)
    with pytest.raises(OSError, match="read-only project"):
        revert_release(store, NAME, project=pinned)
    assert release_info(store, NAME, "1.1.0").state == PROMOTED
    monkeypatch.setattr(promotion, "pin_release", pin_release)
    revert = revert_release(store, NAME, project=pinned)
    assert (revert.pinned.version, revert.withdrawn.state) == ("1.0.0", WITHDRAWN)
    assert revert.reason == "reverted to model-v1.0.0" and read_pin(pinned.dir) == "1.0.0"
