"""A damaged candidate folder is a rejected candidate, never a crash, and never NaN vectors.

Two complete copies of the tiny release: the user's (app data), damaged in one way, and the
app's bundled one (``sys._MEIPASS``). ``tether.load`` must reject the first with the reason
in the trail and fall back to the bundled copy, as an app would want.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import tether
from tests.runtime.helpers import (
    PROFILE_ID,
    garble,
    poison_weights,
    prepare_folder,
    replace_file,
    sample_texts,
)
from tether.errors import (
    ManifestError,
    ModelOutputError,
    ProbeMismatchError,
    ProfileIncompleteError,
)
from tether.names import PREPARED_FILE, PROFILE_FILE, TOKENIZER_FILE
from tether.runtime.embedder import Embedder
from tether.runtime.resolution import resolve, user_models_dir


@pytest.fixture
def user_copy(tiny_release: Path) -> Path:
    """The user's complete copy (first in the order: app data)."""
    return prepare_folder(tiny_release, user_models_dir() / PROFILE_ID)


@pytest.fixture
def bundled_copy(tiny_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's bundled complete copy (after app data in the order)."""
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "meipass"), raising=False)
    return prepare_folder(tiny_release, tmp_path / "meipass" / PROFILE_ID)


def reasons(trail: tuple | list) -> list[tuple[str, str, str]]:
    return [(entry.source, entry.status, entry.reason) for entry in trail if entry.reason]


def model_file(folder: Path, variant: str = "fp32") -> Path:
    profile = json.loads((folder / PROFILE_FILE).read_text(encoding="utf-8"))
    return folder / profile["variants"][variant]["file"]


# --- unreadable records: rejected at resolution -------------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("prepared_not_utf8", "prepared_malformed"),  # tether.load raised UnicodeDecodeError
        ("prepared_deep", "prepared_malformed"),  # raised RecursionError
        ("prepared_folder", "prepared_malformed"),  # raised IsADirectoryError
        ("profile_not_utf8", "profile_malformed"),
        ("profile_folder", "profile_malformed"),
    ],
)
def test_load_falls_back_past_unreadable_records(
    user_copy: Path, bundled_copy: Path, damage: str, reason: str
) -> None:
    what, _, how = damage.partition("_")
    target = user_copy / (PREPARED_FILE if what == "prepared" else PROFILE_FILE)
    target.unlink()
    if how == "folder":
        target.mkdir()
    else:
        target.write_bytes(b"\xff\xfe{}" if how == "not" else b"[" * 100_000)
    embedder = tether.load(PROFILE_ID, variant="fp32")
    assert embedder.folder == bundled_copy
    assert reasons(embedder.resolution.trail) == [
        ("user-data", "rejected", reason),
        ("bundle:_MEIPASS", "chosen", "complete"),
    ]
    assert embedder.embed(["still works"]).shape == (1, 32)


def test_a_models_dir_whose_name_is_too_long_is_a_rejection(
    bundled_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_MODELS_DIR", "/" + "x" * 5000)  # stat: File name too long
    result = resolve(PROFILE_ID, variant="fp32")
    assert result.folder == bundled_copy
    assert result.trail[0].reason == "unreadable"


# --- complete but broken: rejected when loaded --------------------------------------------


@pytest.mark.parametrize("broken", ["model", "tokenizer"])
def test_load_falls_back_past_a_file_that_does_not_load(
    user_copy: Path, bundled_copy: Path, broken: str
) -> None:
    garble(model_file(user_copy) if broken == "model" else user_copy / TOKENIZER_FILE)
    assert resolve(PROFILE_ID, variant="fp32").folder == user_copy  # stat-only: complete
    embedder = tether.load(PROFILE_ID, variant="fp32")
    assert embedder.folder == bundled_copy
    assert reasons(embedder.resolution.trail) == [
        ("user-data", "rejected", "unloadable"),
        ("bundle:_MEIPASS", "chosen", "complete"),
    ]
    rejected = embedder.resolution.trail[0]
    expected = model_file(user_copy).name if broken == "model" else TOKENIZER_FILE
    assert expected in rejected.line() and "\n" not in rejected.line()


def test_the_only_candidate_that_does_not_load_raises_its_error(user_copy: Path) -> None:
    garble(model_file(user_copy))
    with pytest.raises(ManifestError, match="cannot be loaded by onnxruntime"):
        tether.load(PROFILE_ID, variant="fp32")


def test_auto_variant_keeps_looking_for_the_variant_before_the_next(
    user_copy: Path, bundled_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.runtime import cpu

    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (True, "test CPU"))
    garble(model_file(user_copy, "int8"))
    embedder = tether.load(PROFILE_ID)
    # int8 from the bundle, not fp32 from the user's copy: stored vectors stay comparable
    assert (embedder.folder, embedder.variant) == (bundled_copy, "int8")


def test_load_falls_back_past_a_failing_probe(user_copy: Path, bundled_copy: Path) -> None:
    probe = json.loads((user_copy / "probe.json").read_text())
    probe["fp32"] = [[-x for x in row] for row in probe["fp32"]]
    text = json.dumps(probe).encode()
    replace_file(user_copy / "probe.json", text)
    record = json.loads((user_copy / PREPARED_FILE).read_text())
    record["files"]["probe.json"]["size"] = len(text)
    replace_file(user_copy / PREPARED_FILE, json.dumps(record).encode())
    embedder = tether.load(PROFILE_ID, variant="fp32", probe=True)
    assert embedder.folder == bundled_copy
    assert reasons(embedder.resolution.trail)[0] == ("user-data", "rejected", "probe_mismatch")
    # an explicit path is only the first candidate: the bundled copy still serves
    chosen = tether.load(PROFILE_ID, path=user_copy, variant="fp32", probe=True)
    assert chosen.folder == bundled_copy
    assert reasons(chosen.resolution.trail)[0] == ("path", "rejected", "probe_mismatch")


# --- NaN vectors ------------------------------------------------------------------------------


def test_nan_weights_are_refused_by_embed_and_the_probe(user_copy: Path) -> None:
    poison_weights(model_file(user_copy))
    embedder = tether.load(PROFILE_ID, path=user_copy, variant="fp32")  # it loads...
    with pytest.raises(ModelOutputError) as caught:  # ...but its vectors are refused
        embedder.embed(sample_texts(3))
    assert str(model_file(user_copy)) in caught.value.message
    assert "tether verify" in caught.value.hint and caught.value.exit_code == 1
    with pytest.raises(ProbeMismatchError) as probed:
        embedder.self_test()
    assert probed.value.reason == "bad_output" and "tether fetch --repair" in probed.value.hint
    with pytest.raises(ProbeMismatchError):
        tether.load(PROFILE_ID, path=user_copy, variant="fp32", probe=True)


def test_load_with_probe_falls_back_past_nan_weights(user_copy: Path, bundled_copy: Path) -> None:
    poison_weights(model_file(user_copy))
    embedder = tether.load(PROFILE_ID, variant="fp32", probe=True)
    assert embedder.folder == bundled_copy
    assert reasons(embedder.resolution.trail)[0] == ("user-data", "rejected", "bad_output")
    assert np.isfinite(embedder.embed(sample_texts(5))).all()


def test_an_embedder_whose_probe_sees_nan_without_checking_itself(user_copy: Path) -> None:
    # run_probe checks vectors itself too: an embedder that does not (a wrapper, a fake)
    # must not pass the self-test with NaN, for which `nan < threshold` is False.
    from tether.runtime.probe import run_probe

    class Unchecked:
        def __init__(self, inner: Embedder) -> None:
            self.inner = inner
            self.folder, self.variant, self.dim = inner.folder, inner.variant, inner.dim
            self.model_id = inner.model_id

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.full((len(texts), self.dim), np.nan, dtype=np.float32)

    embedder = tether.load(PROFILE_ID, path=user_copy, variant="fp32")
    with pytest.raises(ProbeMismatchError) as caught:
        run_probe(Unchecked(embedder))
    assert caught.value.reason == "bad_output"


def test_a_probe_json_with_nan_references_is_refused(user_copy: Path) -> None:
    text = (user_copy / "probe.json").read_text()
    probe = json.loads(text)
    probe["fp32"][0][0] = float("nan")
    probe["min_cosine"] = {"fp32": float("nan")}
    data = json.dumps(probe).encode()
    replace_file(user_copy / "probe.json", data)
    embedder = tether.load(PROFILE_ID, path=user_copy, variant="fp32")
    with pytest.raises(ManifestError, match="finite"):
        embedder.self_test()


def test_profile_incomplete_error_still_lists_every_candidate(tmp_path: Path) -> None:
    with pytest.raises(ProfileIncompleteError) as caught:
        tether.load(PROFILE_ID, variant="fp32")
    assert {entry.reason for entry in caught.value.trail} == {"not_found"}
