"""Model cards per kind, and releases that are not embedding profiles (issue 16).

Each card is released to a real folder store through the CLI or the library, read back
from the store and loaded with ``huggingface_hub.ModelCard``, whose parsed metadata is
what the Hub shows. ``ModelCard.validate`` asks the Hub over the network: not used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from huggingface_hub import ModelCard

from tests.factories import make_small_release, write_random
from tether.cli import main
from tether.errors import (
    ConfigError,
    EvaluationError,
    NotAnEmbeddingProfileError,
    ProfileIncompleteError,
)
from tether.manifest import Manifest, write_release_metadata
from tether.model_card import CardOptions, front_matter_license
from tether.names import EVAL_RECORD, MANIFEST_FILE, README_FILE
from tether.quality import evaluate_release, load_dataset, model_card, release_notes
from tether.spine import fetch_release, publish_release, read_manifest
from tether.stores import open_store
from tether.stores.base import read_bytes

PHI3 = "microsoft/Phi-3-mini-4k-instruct"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_STEPS = ("tether embed", "tether eval", "sentence-embeddings", "feature-extraction")


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


def gguf_folder(root: Path, quant: str = "Q4_K_M", seed: int = 1) -> Path:
    """An Ollama export as avro-finetune ships it: a GGUF file and its Modelfile."""
    folder = root / f"gguf-{seed}"
    write_random(folder / f"phi3-avro-{quant}.gguf", 200_000, seed=seed)
    (folder / "Modelfile").write_text(f"FROM ./phi3-avro-{quant}.gguf\n")
    return folder


def vllm_folder(root: Path, architecture: str = "Phi3ForCausalLM") -> Path:
    """A transformers/vLLM export: config.json, safetensors weights, tokenizer."""
    folder = root / f"vllm-{architecture}"
    folder.mkdir(parents=True)
    config = {"architectures": [architecture], "model_type": "phi3", "hidden_size": 32}
    (folder / "config.json").write_text(json.dumps(config))
    write_random(folder / "model.safetensors", 150_000, seed=3)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    return folder


def built_embedding_folder(root: Path) -> Path:
    """A profile folder as `tether build` leaves it: a draft MANIFEST.txt naming the
    upstream model and the recipe, and a README.md carrying upstream's license."""
    folder = make_small_release(root / "built")
    (folder / README_FILE).write_text("---\nlicense: apache-2.0\n---\n\n# built\n")
    sections = {
        "Tooling": {"tether": "0.1.0"},
        "Source": {"model": MINILM, "revision": "a" * 40},
        "Build": {"timestamp": "2026-01-01T00:00:00Z", "workflow": "local", "recipe": "sha256:1"},
    }
    write_release_metadata(folder, Manifest("local-text-retrieval-v1", None, {}, sections))
    return folder


def card_of(store_url: str, name: str, version: str) -> tuple[ModelCard, str]:
    """The release's README.md as stored, parsed as the Hub parses it."""
    text = read_bytes(open_store(store_url), name, version, README_FILE).decode("utf-8")
    return ModelCard(text), text


def metadata(card: ModelCard) -> dict[str, Any]:
    return card.data.to_dict()


# --- cards per kind ----------------------------------------------------------------------


def test_gguf_release_gets_a_gguf_card(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    folder = gguf_folder(tmp_path)
    cli(
        "release",
        "--from",
        str(folder),
        "--name",
        "phi3-gguf",
        "--version",
        "2.0.0",
        "--base-model",
        PHI3,
        "--license",
        "mit",
        "--store",
        store,
        "--project",
        str(tmp_path),
    )
    assert not (folder / README_FILE).exists()  # the user's folder is left as it was
    card, text = card_of(store, "phi3-gguf", "2.0.0")
    data = metadata(card)
    assert data["library_name"] == "gguf"
    assert data["pipeline_tag"] == "text-generation"
    assert data["base_model"] == PHI3
    assert data["base_model_relation"] == "quantized"
    assert data["license"] == "mit"
    assert {"gguf", "q4_k_m"} <= set(data["tags"])
    assert "ollama create phi3-gguf -f Modelfile" in text
    assert not any(step in text for step in EMBEDDING_STEPS)
    manifest, _ = read_manifest(open_store(store), "phi3-gguf", "2.0.0")
    assert README_FILE in manifest.files  # a release file, verified like the others

    # notes --card renders the same metadata from what the release recorded, with state
    again = ModelCard(cli("notes", "2.0.0", "--card", "--name", "phi3-gguf", "--store", store))
    assert metadata(again) == data
    assert "(state: pre-release)" in again.text


@pytest.mark.parametrize(
    ("architecture", "task"),
    [
        ("Phi3ForCausalLM", "text-generation"),
        ("BertForSequenceClassification", "text-classification"),
    ],
)
def test_vllm_release_gets_a_transformers_card(
    tmp_path: Path, architecture: str, task: str
) -> None:
    store = open_store(str(tmp_path / "store"))
    folder = vllm_folder(tmp_path, architecture)
    options = CardOptions(base_model=PHI3, license="mit", tags=("vllm",))
    publish_release(store, folder, name="phi3-vllm", version="2.0.0", card=options)
    card, text = card_of(store.url, "phi3-vllm", "2.0.0")
    data = metadata(card)
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == task  # config.json's architecture says the task
    assert data["base_model"] == PHI3
    assert "base_model_relation" not in data  # fine-tune or merge: tether cannot tell
    assert data["license"] == "mit"
    assert "vllm" in data["tags"]
    assert "vllm serve" in text
    assert not any(step in text for step in EMBEDDING_STEPS)


def test_no_base_model_is_ever_guessed(tmp_path: Path) -> None:
    """avro's bug: `base_model: vllm`. Without a flag or a recipe there is no base_model."""
    store = open_store(str(tmp_path / "store"))
    folder = vllm_folder(tmp_path)
    renamed = folder.rename(tmp_path / "vllm")  # a folder named like a guess
    publish_release(store, renamed, name="vllm", version="1.0.0", card=CardOptions())
    card, _ = card_of(store.url, "vllm", "1.0.0")
    assert card.data.base_model is None and card.data.license is None
    noted = ModelCard(model_card(store, "vllm", "1.0.0"))
    assert noted.data.base_model is None
    assert noted.data.library_name == "transformers"


def test_embedding_card_from_notes_has_model_index(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    folder = built_embedding_folder(tmp_path)
    info = publish_release(store, folder, version="1.0.0", card=CardOptions(tags=("retrieval",)))
    assert read_bytes(store, info.name, "1.0.0", README_FILE) == (folder / README_FILE).read_bytes()
    metrics = {"ndcg@10": 0.61, "recall@10": 0.72, "recall@100": 0.93, "mrr@10": 0.55}
    evaluation = {
        "schema": 1,
        "dataset": {"name": "tether-bundled", "sha256": "sha256:" + "0" * 64},
        "variants": {"fp32": metrics, "int8": {k: v - 0.01 for k, v in metrics.items()}},
    }
    store.write_record(info.name, "1.0.0", EVAL_RECORD, json.dumps(evaluation).encode())
    card = ModelCard(model_card(store, info.name, "1.0.0"))
    data = metadata(card)
    assert data["library_name"] == "onnx"
    assert data["pipeline_tag"] == "feature-extraction"
    assert data["base_model"] == MINILM  # the recipe's source, recorded by the build
    assert data["license"] == "apache-2.0"  # upstream's, via the build's README.md
    assert {"onnx", "sentence-embeddings", "int8", "retrieval"} <= set(data["tags"])
    results = {(r.task_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("Retrieval (fp32)", "ndcg_at_10")] == pytest.approx(100 * metrics["ndcg@10"])
    assert results[("Retrieval (int8)", "mrr_at_10")] == pytest.approx(100 * 0.54)
    assert card.data.eval_results[0].dataset_revision == "000000000000"  # a string, not 0
    # flags win over the record
    flagged = ModelCard(model_card(store, info.name, "1.0.0", card=CardOptions(license="mit")))
    assert flagged.data.license == "mit"


def test_a_folder_with_its_own_readme_keeps_it(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    folder = gguf_folder(tmp_path)
    (folder / README_FILE).write_text("# my own card\n")
    publish_release(store, folder, name="m", version="1.0.0", card=CardOptions(base_model=PHI3))
    assert read_bytes(store, "m", "1.0.0", README_FILE) == b"# my own card\n"
    manifest, _ = read_manifest(store, "m", "1.0.0")
    assert manifest.sections["Card"] == {"base_model": PHI3}  # still recorded, for notes --card
    assert ModelCard(model_card(store, "m", "1.0.0")).data.base_model == PHI3


def test_library_release_without_card_options_adds_no_file(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    publish_release(store, gguf_folder(tmp_path), name="m", version="1.0.0")
    assert README_FILE not in store.files("m", "1.0.0")


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--base-model", "not a repo id", {"base_model": "not a repo id"}),
        ("--license", "Apache 2.0", {"license": "Apache 2.0"}),
        ("--pipeline-tag", "Text Generation", {"pipeline_tag": "Text Generation"}),
        ("--card-tag", "two words", {"tags": ("two words",)}),
    ],
)
def test_bad_card_flags_are_one_line_errors_and_publish_nothing(
    tmp_path: Path, flag: str, value: str, field: dict[str, Any]
) -> None:
    store = tmp_path / "store"
    args = ["--from", str(gguf_folder(tmp_path)), "--name", "m", "--version", "1.0.0"]
    output = cli("release", *args, flag, value, "--store", str(store), code=2)
    assert output.startswith(f"error: {flag} {value!r}") and "Traceback" not in output
    assert not (store / "m").exists()
    with pytest.raises(ConfigError):
        CardOptions(**field)


# --- releases that are not embedding profiles --------------------------------------------


def test_embed_on_a_fetched_gguf_release_says_what_it_is(tmp_path: Path) -> None:
    import tether

    store = open_store(str(tmp_path / "store"))
    publish_release(store, gguf_folder(tmp_path), name="phi3-gguf", version="2.0.0")
    models = tmp_path / "models"
    fetch_release(store, "phi3-gguf", "2.0.0", models)
    output = cli("embed", "--profile", "phi3-gguf", "--path", str(models), "hello", code=2)
    assert "error: phi3-gguf is a GGUF release, not an embedding profile" in output
    assert "llama.cpp or Ollama" in output
    assert "fetch the pinned release" not in output  # it is fetched: no such advice
    with pytest.raises(NotAnEmbeddingProfileError) as raised:
        tether.load("phi3-gguf", path=models)
    assert isinstance(raised.value, ProfileIncompleteError)  # apps' fallbacks still catch it
    assert raised.value.reason == "not_embedding"


def test_embed_on_a_missing_profile_still_asks_for_a_fetch(tmp_path: Path) -> None:
    output = cli("embed", "--profile", "absent", "--path", str(tmp_path / "none"), "hi", code=2)
    assert "fetch the pinned release" in output and "not an embedding profile" not in output


def test_eval_refuses_a_gguf_release_before_downloading_it(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    publish_release(store, gguf_folder(tmp_path), name="phi3-gguf", version="2.0.0")
    # Only MANIFEST.txt is left in the store: a download would fail on the missing files.
    release_dir = store_dir / "phi3-gguf" / "model-v2.0.0"
    for path in release_dir.iterdir():
        if path.name != MANIFEST_FILE:
            path.unlink()
    with pytest.raises(EvaluationError, match="is a GGUF release, not an embedding profile"):
        evaluate_release(store, "phi3-gguf", "2.0.0", load_dataset())
    output = cli(
        "eval",
        "--candidate",
        "2.0.0",
        "--name",
        "phi3-gguf",
        "--store",
        str(store_dir),
        "--project",
        str(tmp_path),
        code=2,
    )
    assert "phi3-gguf model-v2.0.0 is a GGUF release, not an embedding profile" in output
    assert "downloading" not in output and "evaluating on" not in output
    assert store.read_record("phi3-gguf", "2.0.0", EVAL_RECORD) is None


def test_notes_of_generic_releases_suggest_no_embedding_steps(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    first = gguf_folder(tmp_path, seed=1)
    publish_release(store, first, name="phi3-gguf", version="2.0.0", card=CardOptions())
    second = gguf_folder(tmp_path, seed=2)
    publish_release(store, second, name="phi3-gguf", version="2.0.1", card=CardOptions())
    notes = release_notes(store, "phi3-gguf", "2.0.1", repo=tmp_path)
    assert "- changed `phi3-avro-Q4_K_M.gguf`" in notes
    assert "## Evaluation" not in notes and "tether eval" not in notes


@pytest.mark.parametrize(
    ("upstream", "license_id"),
    [("MIT", "mit"), ("'Apache-2.0'", "apache-2.0"), ("see LICENSE", None), ("", None)],
)
def test_upstream_license_is_read_as_a_hub_id_or_dropped(
    upstream: str, license_id: str | None
) -> None:
    # The user typed none of these: an odd upstream value must not fail a build or notes.
    assert front_matter_license(f"---\nlicense: {upstream}\n---\n\n# m\n") == license_id
