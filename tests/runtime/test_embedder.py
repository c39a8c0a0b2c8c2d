"""The Embedder on a tiny real model: shapes, order, truncation, memory cap, options, probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tether
from tests.runtime.helpers import (
    PROFILE_ID,
    TINY_DIM,
    TINY_MAX_LENGTH,
    prepare_folder,
    replace_file,
    sample_texts,
)
from tether.errors import (
    InvalidVariantError,
    ManifestError,
    ProbeMismatchError,
    ProfileIncompleteError,
    RuntimeOptionError,
)
from tether.runtime.embedder import Embedder


class RecordingSession:
    """Wraps an onnxruntime session and records the shape of every input it is fed."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.shapes: list[tuple[int, ...]] = []

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.shapes.append(feed["input_ids"].shape)
        return self.session.run(outputs, feed)  # type: ignore[attr-defined]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_embed_shapes_order_and_unit_length(tiny_folder: Path, variant: str) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant=variant)
    texts = sample_texts(20)
    vectors = embedder.embed(texts)
    assert vectors.shape == (20, TINY_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # input order, whatever the internal length sorting
    assert np.array_equal(vectors[3], embedder.embed_one(texts[3]))
    assert np.array_equal(embedder.embed(texts[::-1]), vectors[::-1])
    assert embedder.embed([]).shape == (0, TINY_DIM)
    assert embedder.model_id == f"{PROFILE_ID}-{TINY_DIM}d-{variant}-mlen{TINY_MAX_LENGTH}"
    assert embedder.batching == ("per_text" if variant == "int8" else "length_batches")


def test_fp32_matches_the_torch_reference(tiny_folder: Path) -> None:
    # probe.json's fp32 vectors were computed with torch, independently of tether
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant="fp32")
    assert embedder.self_test(min_cosine=0.99999) > 0.99999


def test_long_texts_are_truncated_at_max_length(tiny_folder: Path) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant="fp32")
    words = ["model", "vector", "search", "memory", "cache", "profile", "release", "version"] * 10
    base = " ".join(words[:60])  # well past 32 tokens
    longer = " ".join(words[:60] + ["river"] * 100)
    assert np.array_equal(embedder.embed_one(base), embedder.embed_one(longer))
    shorter = " ".join(words[:5])
    assert not np.array_equal(embedder.embed_one(base), embedder.embed_one(shorter))


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_memory_cap_bounds_every_run(tiny_folder: Path, variant: str) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant=variant, max_batch_tokens=64)
    recorder = RecordingSession(embedder._session)
    embedder._session = recorder  # type: ignore[assignment]
    megabyte = "memory " * 150_000  # a 1 MB paste
    texts = [megabyte, *sample_texts(100), megabyte]
    vectors = embedder.embed(texts)
    assert np.array_equal(vectors[0], vectors[-1])
    assert max(rows * width for rows, width in recorder.shapes) <= 64
    assert max(width for _, width in recorder.shapes) == TINY_MAX_LENGTH
    if variant == "int8":
        assert {rows for rows, _ in recorder.shapes} == {1}  # each text alone


def test_from_folder_takes_a_build_output_as_it_is(tiny_release: Path, tiny_folder: Path) -> None:
    """A release folder without .prepared.json (what tether.load refuses) embeds exactly
    like the fetched profile folder of the same release."""
    texts = sample_texts(5)
    assert not (tiny_release / ".prepared.json").exists()
    with (
        Embedder.from_folder(tiny_release, "int8") as direct,
        tether.load(PROFILE_ID, path=tiny_folder, variant="int8") as loaded,
    ):
        assert direct.folder == tiny_release and direct.variant == "int8"
        np.testing.assert_array_equal(direct.embed(texts), loaded.embed(texts))
    with pytest.raises(InvalidVariantError, match="no int4 variant"):
        Embedder.from_folder(tiny_release, "int4")


def test_bad_options(tiny_folder: Path) -> None:
    with pytest.raises(RuntimeOptionError, match="below the profile's max_length"):
        tether.load(PROFILE_ID, path=tiny_folder, max_batch_tokens=TINY_MAX_LENGTH - 1)
    with pytest.raises(RuntimeOptionError, match="threads"):
        tether.load(PROFILE_ID, path=tiny_folder, threads=0)
    embedder = tether.load(PROFILE_ID, path=tiny_folder)
    with pytest.raises(RuntimeOptionError, match="got one str") as caught:
        embedder.embed("one string")
    assert "embed_one" in caught.value.hint
    with pytest.raises(RuntimeOptionError, match="text 1 is a int"):
        embedder.embed(["ok", 5])  # type: ignore[list-item]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_thread_count_does_not_change_vectors(tiny_folder: Path, variant: str) -> None:
    texts = sample_texts(60, seed=3)
    one = tether.load(PROFILE_ID, path=tiny_folder, variant=variant, threads=1).embed(texts)
    with tether.load(PROFILE_ID, path=tiny_folder, variant=variant, threads=3) as three:
        assert np.array_equal(three.embed(texts), one)


def test_external_data_sidecar_loads(tiny_release: Path, tmp_path: Path) -> None:
    import onnx

    release = tmp_path / "release"
    for path in tiny_release.rglob("*"):
        if path.is_file():
            (release / path.relative_to(tiny_release)).parent.mkdir(parents=True, exist_ok=True)
            (release / path.relative_to(tiny_release)).write_bytes(path.read_bytes())
    model = onnx.load(str(release / "onnx/model.onnx"))
    (release / "onnx/model.onnx").unlink()
    onnx.save_model(
        model,
        str(release / "onnx/model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=0,
    )
    folder = prepare_folder(release, tmp_path / "models" / PROFILE_ID)
    assert (folder / "onnx/model.onnx_data").stat().st_size > 50_000
    reference = prepare_folder(tiny_release, tmp_path / "plain" / PROFILE_ID)
    texts = sample_texts(10)
    with_sidecar = tether.load(PROFILE_ID, path=folder, variant="fp32").embed(texts)
    plain = tether.load(PROFILE_ID, path=reference, variant="fp32").embed(texts)
    assert np.array_equal(with_sidecar, plain)
    replace_file(folder / "onnx/model.onnx_data", b"")
    with pytest.raises(ProfileIncompleteError) as caught:
        tether.load(PROFILE_ID, path=folder, variant="fp32")
    assert caught.value.trail[0].reason == "zero_byte"


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_probe_self_test_passes_at_load(tiny_folder: Path, variant: str) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant=variant, probe=True)
    assert embedder.self_test() >= (0.999 if variant == "fp32" else 0.98)


def test_probe_mismatch_is_a_typed_error(tiny_folder: Path) -> None:
    probe = json.loads((tiny_folder / "probe.json").read_text())
    probe["fp32"][2] = [-x for x in probe["fp32"][2]]
    text = json.dumps(probe)  # and record its new size, so the folder stays complete
    replace_file(tiny_folder / "probe.json", text.encode())
    record = json.loads((tiny_folder / ".prepared.json").read_text())
    record["files"]["probe.json"]["size"] = len(text.encode())
    replace_file(tiny_folder / ".prepared.json", json.dumps(record).encode())
    with pytest.raises(ProbeMismatchError) as caught:
        tether.load(PROFILE_ID, path=tiny_folder, variant="fp32", probe=True)
    error = caught.value
    assert error.reason == "probe_mismatch" and error.exit_code == 1
    assert error.worst_cosine is not None and error.worst_cosine < 0
    assert len(error.problems) == 1 and error.problems[0].startswith("probe 2:")


def test_probe_json_missing_rejects_the_folder_only_when_asked(
    tiny_release: Path, tmp_path: Path
) -> None:
    folder = prepare_folder(tiny_release, tmp_path / "models" / PROFILE_ID)
    (folder / "probe.json").unlink()
    tether.load(PROFILE_ID, path=folder)  # no self-test: probe.json is not needed
    with pytest.raises(ProfileIncompleteError) as caught:
        tether.load(PROFILE_ID, path=folder, probe=True)
    assert caught.value.trail[0].reason == "missing_probe"


def test_model_and_profile_that_do_not_belong_together(tiny_folder: Path) -> None:
    profile = json.loads((tiny_folder / "profile.json").read_text())
    profile["dim"] = 64
    text = json.dumps(profile).encode()
    replace_file(tiny_folder / "profile.json", text)
    record = json.loads((tiny_folder / ".prepared.json").read_text())
    record["files"]["profile.json"]["size"] = len(text)
    replace_file(tiny_folder / ".prepared.json", json.dumps(record).encode())
    with pytest.raises(ManifestError, match="outputs 32 values per token"):
        tether.load(PROFILE_ID, path=tiny_folder)


def test_stamps_on_the_embedder(tiny_folder: Path) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder, variant="int8")
    vector = embedder.embed_one("a stored memory")
    stamped = embedder.stamp(vector)
    assert stamped.model_id == embedder.model_id
    assert embedder.vector_problem(vector, stamped.model_id) is None
    other = tether.load(PROFILE_ID, path=tiny_folder, variant="fp32")
    assert other.vector_problem(vector, stamped.model_id) == "stamp_differs"
    assert other.stale([stamped, (other.model_id, other.embed_one("x"))]) == [0]


def test_embedder_class_is_on_the_facade(tiny_folder: Path) -> None:
    embedder = tether.load(PROFILE_ID, path=tiny_folder)
    assert isinstance(embedder, tether.Embedder) and tether.Embedder is Embedder
    assert "per_text" in repr(embedder) or "length_batches" in repr(embedder)
    assert embedder.resolution.trail[0].status == "chosen"
