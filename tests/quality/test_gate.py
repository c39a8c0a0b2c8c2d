"""The promotion gate, the compatibility guard, revert and notes, on small fake releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import NAME
from tests.factories import make_small_release as make_profile_release
from tether.cli import main
from tether.errors import ConfigError, ManifestError, ProfileCompatibilityError
from tether.project import Project
from tether.quality.evaluate import write_eval
from tether.quality.gate import (
    GateSettings,
    RecordedParity,
    gate_settings,
    recorded_parity,
    run_gate,
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
from tether.spine.compatibility import bump_profile_id, compatibility_problems
from tether.stores.file import FileStore

PROFILE = {
    "dim": 384,
    "pooling": "mean",
    "normalize": True,
    "max_length": 256,
    "tokenizer_sha256": "ab" * 32,
}


def evals(ndcg: float, variants: tuple[str, ...] = ("fp32", "int8")) -> dict:
    values = {"ndcg@10": ndcg, "recall@10": 0.9, "recall@100": 1.0, "mrr@10": 0.8}
    return {
        "dataset": {"name": "t", "sha256": "sha256:x", "queries": 1, "passages": 2},
        "variants": {v: dict(values) for v in variants},
    }


BUILT = RecordedParity(mean=0.994, min=0.975, source="probe.json")


def test_gate_passes_within_one_point_and_fails_beyond() -> None:
    ok = run_gate(evals(0.905), evals(0.91), BUILT, GateSettings(), candidate="2", baseline="1")
    assert ok.passed and len(ok.checks) == 4 * 2 + 1
    bad = run_gate(evals(0.89), evals(0.91), BUILT, GateSettings(), candidate="2", baseline="1")
    assert not bad.passed
    assert [c.name for c in bad.failures] == ["fp32 ndcg@10", "int8 ndcg@10"]
    assert "89.00 vs 91.00 (-2.00 points, allowed -1)" in bad.failures[0].detail
    loose = GateSettings(max_drop=0.05)
    assert run_gate(evals(0.89), evals(0.91), BUILT, loose, candidate="2", baseline="1").passed


def test_gate_checks_recorded_int8_parity_against_default_thresholds() -> None:
    lowered = RecordedParity(mean=0.956, min=0.901, source="probe.json")
    result = run_gate(evals(0.9), None, lowered, GateSettings(), candidate="1", baseline=None)
    assert [c.name for c in result.failures] == ["int8 parity"]
    assert "mean 0.95600 min 0.90100 as built (needs mean >= 0.985" in result.failures[0].detail
    fp32_only = run_gate(
        evals(0.9, ("fp32",)), None, lowered, GateSettings(), candidate="1", baseline=None
    )
    assert fp32_only.passed
    unrecorded = run_gate(evals(0.9), None, None, GateSettings(), candidate="1", baseline=None)
    assert unrecorded.passed and "not recorded" in unrecorded.checks[0].detail


def test_recorded_parity_reads_the_numbers_probe_json_holds() -> None:
    numbers = {"parity": {"int8": {"reference": "fp32", "mean": 0.9941, "min": 0.9752}}}
    line = {"Build": {"parity": "int8 vs fp32 cosine mean 0.10000 min 0.10000 over 215 texts"}}
    # the numbers win over the human line of MANIFEST.txt, which is never parsed for them
    assert recorded_parity(numbers, line) == RecordedParity(0.9941, 0.9752, "probe.json")
    # a release built before probe.json held the numbers: its MANIFEST line still reads
    assert recorded_parity({"texts": []}, line) == RecordedParity(0.1, 0.1, "MANIFEST.txt")
    assert recorded_parity(None, {}) is None  # not built by tether build
    assert recorded_parity({"parity": {"fp32": {"mean": 1.0, "min": 1.0}}}, {}) is None
    with pytest.raises(ManifestError, match=r"parity\.int8 needs the numbers"):
        recorded_parity({"parity": {"int8": {"mean": "0.99", "min": 0.9}}}, {})


def test_gate_settings_from_recipe(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(
        '[gate]\nmax_drop = 0.02\nmetrics = ["ndcg@10"]\ndataset = "evalset"\n'
    )
    settings = gate_settings(tmp_path)
    assert settings.max_drop == 0.02 and settings.metrics == ("ndcg@10",)
    assert settings.dataset == tmp_path / "evalset"
    (tmp_path / "tether.toml").write_text("[gate]\nmax_drop = 1.5\n")
    with pytest.raises(ConfigError, match=r"outside 0\.\.1"):
        gate_settings(tmp_path)
    (tmp_path / "tether.toml").write_text("[gate]\nmax_dorp = 0.1\n")
    with pytest.raises(ConfigError, match="unknown key 'max_dorp'"):
        gate_settings(tmp_path)
    assert gate_settings(tmp_path / "none") == GateSettings()
    # a Project's settings, read once by the command, are not read again
    read_once = Project(tmp_path / "gone", {"gate": {"max_drop": 0.03}})
    assert gate_settings(read_once).max_drop == 0.03


def test_compatibility_problems_name_the_difference() -> None:
    assert compatibility_problems(PROFILE, None, PROFILE, None) == []
    changed = {**PROFILE, "pooling": "cls", "max_length": 128}
    assert compatibility_problems(changed, None, PROFILE, None) == [
        "pooling 'mean' -> 'cls'",
        "max_length 256 -> 128",
    ]
    probe = {"texts": ["a", "b"], "fp32": [[1.0, 0.0], [0.0, 1.0]]}
    moved = {"texts": ["a", "b"], "fp32": [[1.0, 0.0], [0.3, 1.0]]}
    assert compatibility_problems(PROFILE, probe, PROFILE, probe) == []
    (problem,) = compatibility_problems(PROFILE, moved, PROFILE, probe)
    assert problem == "probe vectors moved: cosine 0.9578 < 0.99 on 'b' (fp32 vs the previous fp32)"


INT8 = {"method": "dynamic", "weights": "QInt8", "per_channel": True}
VARIANTS = {"fp32": {"file": "onnx/model.onnx"}, "int8": {"file": "q.onnx", "quantization": INT8}}


def _probe(int8_b: list[float]) -> dict:
    return {
        "texts": ["a", "b"],
        "fp32": [[1.0, 0.0], [0.0, 1.0]],
        "int8": [[1.0, 0.0], int8_b],
    }


def test_the_guard_compares_every_variants_probes() -> None:
    profile = {**PROFILE, "variants": VARIANTS}
    old = _probe([0.0, 1.0])
    assert compatibility_problems(profile, _probe([0.05, 1.0]), profile, old) == []
    # fp32 identical, int8 moved to cosine 0.95: refused with the number and the variant
    (problem,) = compatibility_problems(profile, _probe([0.33, 1.0]), profile, old)
    assert problem == "probe vectors moved: cosine 0.9496 < 0.99 on 'b' (int8 vs the previous int8)"
    # an older release without int8 references: nothing to compare int8 with
    fp32_only = {"texts": old["texts"], "fp32": old["fp32"]}
    assert compatibility_problems(profile, _probe([0.33, 1.0]), profile, fp32_only) == []


def test_the_guard_compares_quantization_prompts_and_dim() -> None:
    profile = {**PROFILE, "variants": VARIANTS}
    per_tensor = {
        **VARIANTS,
        "int8": {**VARIANTS["int8"], "quantization": {**INT8, "per_channel": False}},
    }
    assert compatibility_problems({**profile, "variants": per_tensor}, None, profile, None) == [
        "int8 quantization {'method': 'dynamic', 'weights': 'QInt8', 'per_channel': True} -> "
        "{'method': 'dynamic', 'weights': 'QInt8', 'per_channel': False}"
    ]
    prompted = {**profile, "prompts": {"query": "query: "}, "default_prompt_name": "query"}
    assert compatibility_problems(prompted, None, profile, None) == [
        "prompts {} -> {'query': 'query: '}",
        "default_prompt_name None -> 'query'",
    ]
    reworded = {**prompted, "prompts": {"query": "search_query: "}}
    assert compatibility_problems(reworded, None, prompted, None) == [
        "prompts {'query': 'query: '} -> {'query': 'search_query: '}"
    ]
    truncated = {**profile, "dim": 256, "native_dim": 384}
    assert compatibility_problems(truncated, None, profile, None) == [
        "dim 384 -> 256",
        "native_dim None -> 384",
    ]
    # fields a release made before they existed leaves out mean their defaults
    explicit = {**profile, "prompts": {}, "default_prompt_name": None, "native_dim": None}
    assert compatibility_problems(explicit, None, profile, None) == []


def test_release_refuses_a_changed_prompt_int8_or_dim(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    prompts = {"prompts": {"query": "query: "}}
    _release(store, tmp_path / "b1", "1.0.0", **prompts)
    cases = {
        "prompts {'query': 'query: '} -> {'query': 'q: '}": {"prompts": {"query": "q: "}},
        "dim 384 -> 256; native_dim None -> 384": {**prompts, "dim": 256, "native_dim": 384},
    }
    for number, (expected, change) in enumerate(cases.items(), 2):
        with pytest.raises(ProfileCompatibilityError) as caught:
            _release(store, tmp_path / f"b{number}", f"1.{number}.0", **change)
        assert f"not compatible with model-v1.0.0 ({expected})" in caught.value.one_line()
    folder = tmp_path / "int8"
    make_profile_release(folder, seed=1)
    data = json.loads((folder / "profile.json").read_text())
    data.update(PROFILE, **prompts)
    int8 = data["variants"].setdefault("int8", {"file": "onnx/model_quantized.onnx"})
    int8["quantization"] = {**INT8, "per_channel": False}
    (folder / "profile.json").write_text(json.dumps(data))
    with pytest.raises(ProfileCompatibilityError, match="int8 quantization"):
        publish_release(store, folder, version="1.5.0")
    assert store.versions(NAME) == ["1.0.0"]


def test_bump_profile_id() -> None:
    assert bump_profile_id("local-text-retrieval-v1") == "local-text-retrieval-v2"
    assert bump_profile_id("my-model") == "my-model-v2"


def _release(store: FileStore, folder: Path, version: str, **profile: object) -> None:
    make_profile_release(folder, seed=1)
    data = json.loads((folder / "profile.json").read_text())
    data.update(PROFILE)
    data.update(profile)
    (folder / "profile.json").write_text(json.dumps(data))
    publish_release(store, folder, version=version)


def test_release_refuses_an_incompatible_profile(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    _release(store, tmp_path / "b1", "1.0.0")
    _release(store, tmp_path / "b2", "1.0.1")  # same contract: fine
    with pytest.raises(ProfileCompatibilityError) as caught:
        _release(store, tmp_path / "b3", "1.1.0", max_length=128)
    message = caught.value.one_line()
    assert "not compatible with model-v1.0.1 (max_length 256 -> 128)" in message
    assert "local-text-retrieval-v2" in message
    assert store.versions(NAME) == ["1.0.0", "1.0.1"] or sorted(store.versions(NAME)) == [
        "1.0.0",
        "1.0.1",
    ]


def test_revert_and_notes_cli(project_dir: Path, tmp_path: Path) -> None:
    store = FileStore(project_dir / "releases")
    for version in ("1.0.0", "1.1.0"):
        _release(store, tmp_path / version, version)
        promote(store, NAME, version)
    pin_release(store, NAME, "1.1.0", project_dir)
    write_eval(store, NAME, "1.0.0", evals(0.91))
    write_eval(store, NAME, "1.1.0", evals(0.88))
    runner = CliRunner()

    notes = runner.invoke(main, ["notes", "1.1.0"], catch_exceptions=False).output
    assert "compared with: model-v1.0.0" in notes and "- no file changed" in notes
    assert "| fp32 | ndcg@10 | 91.00 | 88.00 | -3.00 |" in notes
    card = runner.invoke(main, ["notes", "1.1.0", "--card", "--license", "apache-2.0"]).output
    assert card.startswith("---\nlibrary_name: onnx\n") and "license: apache-2.0" in card
    assert "base_model:" not in card  # a hand-made folder names no upstream: none guessed
    assert "model-index:" in card and "- type: ndcg_at_10\n      value: 88.00" in card

    result = runner.invoke(main, ["revert", "--reason", "recall dropped"])
    assert result.exit_code == 0, result.output
    assert "pinned local-text-retrieval-v1 model-v1.0.0" in result.output
    assert read_pin(project_dir) == "1.0.0"
    info = release_info(store, NAME, "1.1.0")
    assert info.state == WITHDRAWN and info.history[-1]["reason"] == "recall dropped"
    assert release_info(store, NAME, "1.0.0").state == PROMOTED
    # nothing promoted below 1.0.0: a one-line error with the fix
    result = runner.invoke(main, ["revert"])
    assert result.exit_code == 2 and "no promoted release" in result.output


def test_first_promotion_of_a_fake_profile_needs_no_evaluation(project_dir: Path) -> None:
    store = FileStore(project_dir / "releases")
    make_profile_release(project_dir / "build", seed=1)
    publish_release(store, project_dir / "build", version="1.0.0")
    result = CliRunner().invoke(main, ["promote", "1.0.0"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "first promotion" in result.output and read_pin(project_dir) == "1.0.0"


def test_promote_refuses_a_contract_break_even_with_force(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written by an older tether (no release guard) still cannot promote it."""
    import tether.spine.release

    store = FileStore(project_dir / "releases")
    _release(store, tmp_path / "a", "1.0.0")
    promote(store, NAME, "1.0.0")
    pin_release(store, NAME, "1.0.0", project_dir)
    monkeypatch.setattr(tether.spine.release, "check_folder_compatible", lambda *a, **k: None)
    _release(store, tmp_path / "b", "1.1.0", normalize=False)
    result = CliRunner().invoke(main, ["promote", "1.1.0", "--force", "--reason", "x"])
    assert result.exit_code == 1
    assert "refusing to promote under profile id 'local-text-retrieval-v1'" in result.output
    assert "normalize True -> False" in result.output
    assert read_pin(project_dir) == "1.0.0"
    assert release_info(store, NAME, "1.1.0").state == "pre-release"
