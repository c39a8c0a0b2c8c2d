"""Builds of a tiny random BERT: files, ONNX shape, quantization, gates, reproducibility."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tether.errors import ConfigError, IntegrityError, QualityGateError, SourceNotFoundError
from tether.manifest import check_folder, parse_manifest
from tether.recipe import build
from tether.recipe.sources import folder_digest

pytestmark = pytest.mark.usefixtures("clean_build_env")

RELEASE_FILES = [
    "1_Pooling/config.json",  # the loader files (tether.recipe.loader_files)
    "MANIFEST.txt",
    "README.md",
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "onnx/model.onnx",
    "onnx/model_quantized.onnx",
    "probe.json",
    "profile.json",
    "provenance.intoto.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
]
TOOLING_KEYS = [
    "python",
    "tether",
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
    "tokenizers",
    "huggingface_hub",
]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_build(tiny_checkpoint_shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One default build of the tiny checkpoint, shared by the read-only tests below."""
    from tether.recipe import recipe_from_table

    table = {
        "profile": {"id": "tiny-profile-v1"},
        "source": {
            "type": "path",
            "path": str(tiny_checkpoint_shared),
            "model": "tether-tests/tiny-bert",
        },
    }
    recipe = recipe_from_table(table, base_dir=Path("/"))
    with pytest.MonkeyPatch.context() as env:  # module scope: runs before clean_build_env
        for key in ("SOURCE_DATE_EPOCH", "GITHUB_RUN_ID", "CI_JOB_URL"):
            env.delenv(key, raising=False)
        return build(recipe, tmp_path_factory.mktemp("tiny-build") / "out")


# --- what a build writes ------------------------------------------------------------------


def test_build_writes_the_release_files(tiny_build: Any) -> None:
    out = tiny_build.out_dir
    assert sorted(_files(out)) == RELEASE_FILES
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_profile_json_is_the_contract(tiny_build: Any) -> None:
    profile = json.loads((tiny_build.out_dir / "profile.json").read_text())
    tokenizer = (tiny_build.out_dir / "tokenizer.json").read_bytes()
    import hashlib

    assert profile == {
        "profile_id": "tiny-profile-v1",
        "dim": 32,
        "pooling": "mean",
        "normalize": True,
        "max_length": 32,
        "tokenizer_sha256": hashlib.sha256(tokenizer).hexdigest(),
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "last_hidden_state",
        "variants": {
            "fp32": {"file": "onnx/model.onnx"},
            "int8": {
                "file": "onnx/model_quantized.onnx",
                "quantization": {"method": "dynamic", "weights": "QInt8", "per_channel": True},
            },
        },
    }
    assert list(profile) == list(tiny_build.profile)


def test_tokenizer_is_normalised_to_max_length_and_longest_padding(tiny_build: Any) -> None:
    from tokenizers import Tokenizer

    data = json.loads((tiny_build.out_dir / "tokenizer.json").read_text())
    assert data["truncation"]["max_length"] == 32  # the checkpoint shipped 16
    assert data["padding"]["strategy"] == "BatchLongest"
    assert data["padding"]["pad_token"] == "[PAD]" and data["padding"]["pad_id"] == 0
    tokenizer = Tokenizer.from_file(str(tiny_build.out_dir / "tokenizer.json"))
    short, long = tokenizer.encode_batch(["hello", "the quick brown fox " * 20])
    assert len(short.ids) == len(long.ids) == 32
    assert sum(short.attention_mask) == 3  # [CLS] hello [SEP], then padding


def test_onnx_inputs_outputs_and_dynamic_axes(tiny_build: Any) -> None:
    import onnx
    import onnxruntime as ort

    for rel in ("onnx/model.onnx", "onnx/model_quantized.onnx"):
        model = onnx.load(str(tiny_build.out_dir / rel))
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
        names = [i.name for i in model.graph.input]
        assert names == ["input_ids", "attention_mask", "token_type_ids"]
        assert [o.name for o in model.graph.output] == ["last_hidden_state"]
        dims = [
            d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim
        ]
        assert dims == ["batch", "sequence", 32]
        # nothing path- or time-dependent survives
        assert not model.metadata_props and not model.doc_string
        assert not any(n.doc_string or n.metadata_props for n in model.graph.node)

        session = ort.InferenceSession(str(tiny_build.out_dir / rel))
        for batch, length in ((1, 3), (5, 29)):
            feed = {n: np.ones((batch, length), dtype=np.int64) for n in names}
            (hidden,) = session.run(None, feed)
            assert hidden.shape == (batch, length, 32)


def test_int8_is_quantized_per_channel(tiny_build: Any) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(tiny_build.out_dir / "onnx/model_quantized.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert "DynamicQuantizeLinear" in ops and ops & {"MatMulInteger", "DynamicQuantizeMatMul"}
    scales = [
        numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("_scale")
    ]
    assert any(s.ndim == 1 and s.size > 1 for s in scales)  # one scale per output channel
    fp32 = (tiny_build.out_dir / "onnx/model.onnx").stat().st_size
    assert (tiny_build.out_dir / "onnx/model_quantized.onnx").stat().st_size < fp32


def test_probe_json_holds_each_variants_vectors(tiny_build: Any) -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from tether.recipe.parity import encode, pool, probe_texts

    probe = json.loads((tiny_build.out_dir / "probe.json").read_text())
    assert probe["texts"] == probe_texts() and probe["batch_size"] == 1
    assert probe["profile_id"] == "tiny-profile-v1"
    assert set(probe["min_cosine"]) == {"fp32", "int8"}
    tokenizer = Tokenizer.from_file(str(tiny_build.out_dir / "tokenizer.json"))
    for variant, rel in (("fp32", "onnx/model.onnx"), ("int8", "onnx/model_quantized.onnx")):
        vectors = np.asarray(probe[variant])
        assert vectors.shape == (len(probe_texts()), 32)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)
        # what the runtime does: one text, pool, normalise
        session = ort.InferenceSession(str(tiny_build.out_dir / rel))
        feed = encode(
            tokenizer, [probe["texts"][0]], ("input_ids", "attention_mask", "token_type_ids")
        )
        (hidden,) = session.run(None, feed)
        vector = pool(hidden, feed["attention_mask"], "mean")[0]
        vector /= np.linalg.norm(vector)
        assert float(vector @ vectors[0]) > 0.999999


def test_draft_manifest_carries_the_provenance(
    tiny_build: Any, tiny_checkpoint_shared: Path
) -> None:
    out = tiny_build.out_dir
    manifest = parse_manifest((out / "MANIFEST.txt").read_text())
    assert manifest.version is None and manifest.name == "tiny-profile-v1"
    assert manifest == tiny_build.manifest
    check_folder(out, manifest, where=str(out))  # what `tether release --from` checks
    assert list(manifest.sections) == ["Tooling", "Source", "Build"]
    assert set(TOOLING_KEYS) <= set(manifest.sections["Tooling"])
    assert manifest.sections["Source"] == {
        "model": "tether-tests/tiny-bert",
        "revision": folder_digest(tiny_checkpoint_shared),
    }
    build_facts = manifest.sections["Build"]
    assert build_facts["workflow"] == "local"
    assert build_facts["recipe"] == tiny_build.recipe_digest
    assert build_facts["recipe"].startswith("sha256:") and len(build_facts["recipe"]) == 71
    assert build_facts["quantization"] == "dynamic int8, weights QInt8, per-channel"
    assert build_facts["parity"].startswith("int8 vs fp32 cosine mean ")
    assert (
        build_facts["parity_thresholds"]
        == "int8 mean >= 0.985, int8 min >= 0.93, fp32 min >= 0.9999"
    )
    assert "opset 18" in build_facts["exporter"]
    datetime.strptime(build_facts["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    provenance = json.loads((out / "provenance.intoto.json").read_text())
    subjects = {s["name"] for s in provenance["subject"]}
    assert {"onnx/model.onnx", "onnx/model_quantized.onnx", "profile.json"} <= subjects


def test_recipe_digest_is_of_the_recipe_as_used(tiny_build: Any) -> None:
    used = json.loads(tiny_build.recipe_json)
    assert used["profile"] == {
        "id": "tiny-profile-v1",
        "pooling": "mean",
        "normalize": True,
        "max_length": 32,
    }
    assert used["source"]["revision"] == tiny_build.source.revision
    assert "path" not in used["source"]  # where the folder sits does not change the bytes


def test_parity_numbers_and_timings_are_reported(tiny_build: Any) -> None:
    assert tiny_build.parity["fp32"].min > 0.9999 and tiny_build.parity["fp32"].count >= 200
    assert tiny_build.parity["int8"].mean > 0.985
    assert {"source", "export fp32", "parity int8", "total"} <= set(tiny_build.timings)


def test_probe_json_records_the_parity_as_numbers(tiny_build: Any) -> None:
    """The promotion gate reads these numbers (tether.quality.gate), never the MANIFEST line."""
    from tether.quality import recorded_parity

    probe = json.loads((tiny_build.out_dir / "probe.json").read_text())
    int8 = tiny_build.parity["int8"]
    assert probe["parity"] == {
        "fp32": tiny_build.parity["fp32"].as_record(),
        "int8": {
            "reference": "fp32",
            "mean": int8.mean,
            "min": int8.min,
            "texts": int8.count,
            "batch_size": int8.batch_size,
        },
    }
    parity = recorded_parity(probe, {})
    assert parity is not None and (parity.mean, parity.min) == (int8.mean, int8.min)


# --- reproducibility and provenance -------------------------------------------------------


def test_two_builds_are_byte_identical(
    tiny_checkpoint: Path,
    make_recipe: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795294800")
    recipe = make_recipe(tiny_checkpoint)
    first = _files(build(recipe, tmp_path / "one").out_dir)
    second = _files(build(recipe, tmp_path / "two").out_dir)
    assert first.keys() == second.keys()
    assert [rel for rel in first if first[rel] != second[rel]] == []  # MANIFEST included


def test_source_date_epoch_and_ci_url_are_recorded(
    tiny_checkpoint: Path,
    make_recipe: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = datetime(2026, 11, 21, 21, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(moment.timestamp())))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    result = build(make_recipe(tiny_checkpoint, export={"variants": ["fp32"]}), tmp_path / "out")
    facts = result.manifest.sections["Build"]
    assert facts["timestamp"] == "2026-11-21T21:00:00Z"
    assert facts["workflow"] == "https://github.com/acme/app/actions/runs/42"
    assert facts["quantization"] == "none" and "parity" not in facts
    assert not (result.out_dir / "onnx/model_quantized.onnx").exists()
    assert list(result.profile["variants"]) == ["fp32"]

    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example.com/acme/app/-/jobs/7")
    monkeypatch.delenv("GITHUB_RUN_ID")
    again = build(make_recipe(tiny_checkpoint, export={"variants": ["fp32"]}), tmp_path / "gl")
    assert again.manifest.sections["Build"]["workflow"].endswith("/-/jobs/7")
    explicit = build(
        make_recipe(tiny_checkpoint, export={"variants": ["fp32"]}),
        tmp_path / "ex",
        run_url="https://ci.example.com/run/1",
    )
    assert explicit.manifest.sections["Build"]["workflow"] == "https://ci.example.com/run/1"


def test_bad_source_date_epoch_is_refused(
    tiny_checkpoint: Path,
    make_recipe: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        build(make_recipe(tiny_checkpoint), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- pooling ------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["cls", "last"])
def test_other_poolings(
    pooling: str, tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    recipe = make_recipe(
        tiny_checkpoint, profile={"pooling": pooling, "normalize": False, "max_length": 24}
    )
    result = build(recipe, tmp_path / "out")
    assert (result.profile["pooling"], result.profile["normalize"]) == (pooling, False)
    assert result.profile["max_length"] == 24
    vectors = np.asarray(json.loads((result.out_dir / "probe.json").read_text())["fp32"])
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1)  # not normalised


def test_pool_functions() -> None:
    from tether.recipe.parity import pool

    hidden = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    assert pool(hidden, mask, "cls").tolist() == [[0, 1], [6, 7]]
    assert pool(hidden, mask, "last").tolist() == [[2, 3], [10, 11]]
    assert pool(hidden, mask, "mean").tolist() == [[1, 2], [8, 9]]


def test_parity_set_is_varied_and_long_enough() -> None:
    from tether.recipe.parity import parity_texts, probe_texts

    texts = parity_texts()
    assert len(texts) >= 200 and len(set(texts)) == len(texts)
    assert sum(len(t) > 1500 for t in texts) >= 5  # beyond 256 tokens
    assert any("http" in t for t in texts) and any("def " in t for t in texts)
    assert any("\u4e00" <= c <= "\u9fff" for t in texts for c in t)  # CJK
    assert any(ord(c) > 0x1F000 for t in texts for c in t)  # emoji
    assert set(probe_texts()) <= set(texts)


# --- refusals: one-line errors, nothing written -------------------------------------------


def _assert_untouched(out: Path, before: dict[str, bytes] | None) -> None:
    if before is None:
        assert not out.exists()
    else:
        assert _files(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _previous_build(out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True)
    (out / "MANIFEST.txt").write_text("# earlier build\n")
    (out / "profile.json").write_text("{}\n")
    return _files(out)


def test_parity_gate_failure_writes_nothing(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = _previous_build(out)
    recipe = make_recipe(tiny_checkpoint, parity={"min_mean": 1.0, "min": 1.0})
    with pytest.raises(QualityGateError) as caught:
        build(recipe, out)
    assert caught.value.exit_code == 1
    message = caught.value.one_line()
    assert "int8 parity gate failed" in message and "mean" in message and "\n" not in message
    _assert_untouched(out, before)


def test_missing_tokenizer_is_refused(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    (tiny_checkpoint / "tokenizer.json").unlink()
    with pytest.raises(SourceNotFoundError, match=r"has no tokenizer\.json") as caught:
        build(make_recipe(tiny_checkpoint), tmp_path / "out")
    assert "\n" not in caught.value.one_line()
    _assert_untouched(tmp_path / "out", None)


def test_pickled_weights_only_are_refused(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    (tiny_checkpoint / "model.safetensors").rename(tiny_checkpoint / "pytorch_model.bin")
    with pytest.raises(SourceNotFoundError, match="does not unpickle"):
        build(make_recipe(tiny_checkpoint), tmp_path / "out")


def test_unsupported_checkpoint_pooling_needs_an_explicit_choice(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    (tiny_checkpoint / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_max_tokens": True})
    )
    with pytest.raises(ConfigError, match="pooling_mode_max_tokens"):
        build(make_recipe(tiny_checkpoint), tmp_path / "out")
    _assert_untouched(tmp_path / "out", None)


def test_unsupported_sentence_transformers_module_is_refused(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    modules = json.loads((tiny_checkpoint / "modules.json").read_text())
    modules.append(
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (tiny_checkpoint / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="'Dense'"):
        build(make_recipe(tiny_checkpoint), tmp_path / "out")


def test_max_length_beyond_the_models_positions(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="exceeds the model's 64 positions"):
        build(make_recipe(tiny_checkpoint, profile={"max_length": 100}), tmp_path / "out")


def test_path_source_pin_must_match(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    pinned = folder_digest(tiny_checkpoint)
    (tiny_checkpoint / "README.md").write_text("changed\n")
    recipe = make_recipe(tiny_checkpoint, source={"revision": pinned})
    with pytest.raises(IntegrityError, match="the recipe pins"):
        build(recipe, tmp_path / "out")


def test_missing_source_folder(make_recipe: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        build(make_recipe(tmp_path / "nowhere"), tmp_path / "out")


def test_foreign_output_folder_is_not_replaced(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match="not a tether build"):
        build(make_recipe(tiny_checkpoint), out)
    _assert_untouched(out, {"notes.txt": b"mine\n"})


def test_earlier_build_is_replaced(
    tiny_checkpoint: Path, make_recipe: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _previous_build(out)
    result = build(make_recipe(tiny_checkpoint, export={"variants": ["fp32"]}), out)
    assert json.loads((out / "profile.json").read_text()) == result.profile
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
