"""End to end on real MiniLM builds: eval, gated promote, forced promote, revert, guard."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from tests.real_models import PROFILE_ID, build_minilm
from tether.cli import main
from tether.quality.evaluate import EVAL_RECORD, read_eval
from tether.spine import PROMOTED, WITHDRAWN, read_pin, release_info
from tether.stores.file import FileStore


def test_gate_promote_force_revert_guard(
    project_dir: Path,
    tmp_path: Path,
    minilm_build: Path,
    pertensor_build: Path,
    cls_build: Path,
) -> None:
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    good = build_minilm(tmp_path / "good")
    store = FileStore(project_dir / "releases")
    cli("release", "--from", str(good), "--version", "1.0.0")
    first = cli("promote", "1.0.0")
    assert "first promotion" in first and "ok   int8 parity" in first
    assert read_pin(project_dir) == "1.0.0"

    # the same model again: the gate evaluates both and passes
    cli("release", "--from", str(good), "--version", "1.1.0")
    started = time.perf_counter()
    passed = cli("promote", "1.1.0")
    print(f"gate with two evaluations: {time.perf_counter() - started:.1f} s")
    print(passed)
    assert "FAIL" not in passed and read_pin(project_dir) == "1.1.0"
    record = read_eval(store, PROFILE_ID, "1.1.0")
    assert record is not None and record["baseline"]["version"] == "1.0.0"
    fp32, int8 = record["variants"]["fp32"], record["variants"]["int8"]
    assert fp32["ndcg@10"] > 0.8 and int8["ndcg@10"] > 0.8
    assert record["int8_vs_fp32"]["mean_cosine"] > 0.985
    assert record["baseline"]["deltas"]["fp32"]["ndcg@10"] == 0.0

    # tether eval: both, deltas, agreement; from the records (same dataset bytes)
    shown = cli("eval", "--candidate", "1.1.0", "--compare-with", "1.0.0")
    assert "fp32    ndcg@10" in shown and "+0.00" in shown and "int8 vs fp32 (1.1.0)" in shown

    # per-tensor int8 under the same profile id: its int8 vectors move, the guard refuses it
    refused = cli("release", "--from", str(pertensor_build), "--version", "1.2.0", code=1)
    assert "int8 vs the previous int8" in refused, refused
    assert "1.2.0" not in store.versions(PROFILE_ID)

    # a stricter [gate] in the project: the same model now fails int8 parity at promote
    with (project_dir / "tether.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[gate]\nint8_min_mean = 0.9999\n")
    cli("release", "--from", str(good), "--version", "1.2.0")
    refused = cli("promote", "1.2.0", code=1)
    print(refused)
    assert "FAIL int8 parity" in refused and "failed the promotion gate" in refused
    assert read_pin(project_dir) == "1.1.0"
    assert release_info(store, PROFILE_ID, "1.2.0").state == "pre-release"
    assert store.read_record(PROFILE_ID, "1.2.0", EVAL_RECORD) is not None  # numbers kept

    # --force: loud, recorded
    cli("promote", "1.2.0", "--force", code=1)  # a reason is required
    forced = runner.invoke(main, ["promote", "1.2.0", "--force", "--reason", "hotfix"])
    assert forced.exit_code == 0, forced.output
    assert "WARNING: promoting" in forced.output and read_pin(project_dir) == "1.2.0"
    entry = release_info(store, PROFILE_ID, "1.2.0").history[-1]
    assert entry["forced"] is True and entry["reason"] == "hotfix"
    assert entry["gate"]["passed"] is False and "int8 parity" in entry["gate"]["failed"][0]

    # revert: back to 1.1.0, 1.2.0 withdrawn with the reason, still readable
    cli("revert", "--reason", "int8 parity too low")
    assert read_pin(project_dir) == "1.1.0"
    info = release_info(store, PROFILE_ID, "1.2.0")
    assert info.state == WITHDRAWN and info.history[-1]["reason"] == "int8 parity too low"
    assert release_info(store, PROFILE_ID, "1.1.0").state == PROMOTED
    assert "state: withdrawn" in cli("show", "1.2.0")

    # CLS pooling under the same profile id: refused at release, nothing published
    refused = cli("release", "--from", str(cls_build), "--version", "1.3.0", code=1)
    assert "pooling 'mean' -> 'cls'" in refused and "local-text-retrieval-v2" in refused
    assert "1.3.0" not in store.versions(PROFILE_ID)

    notes = cli("notes", "1.1.0")
    assert "compared with: model-v1.0.0" in notes and "- no file changed" in notes
    card = cli("notes", "1.1.0", "--card")
    assert "model-index:" in card and "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert "license: apache-2.0" in card  # from the checkpoint's card, via the build's
    assert (good / "README.md").read_text().startswith("---\nbase_model: sentence-transformers/")
    assert json.loads(store.read_record(PROFILE_ID, "1.1.0", EVAL_RECORD))["schema"] == 1
