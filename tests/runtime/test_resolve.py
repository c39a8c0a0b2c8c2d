"""Resolution order, the trail of candidates, variant choice and logging (fake folders)."""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path

import pytest

import tether
from tests.runtime.helpers import PROFILE_ID, make_fake_folder, profile_dict
from tether.errors import (
    InvalidNameError,
    InvalidVariantError,
    ProfileIncompleteError,
    ProfileNotFoundError,
    RuntimeOptionError,
)
from tether.runtime import cpu
from tether.runtime.resolution import candidates, resolve, user_models_dir


@pytest.fixture
def int8_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (True, "test CPU with AVX2"))


@pytest.fixture
def fp32_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (False, "test CPU, no AVX2"))


def sources(result_or_error: object) -> list[tuple[str, str, str]]:
    return [(e.source, e.variant, e.reason) for e in result_or_error.trail]  # type: ignore[attr-defined]


# --- order ------------------------------------------------------------------------------------


def test_candidate_order_and_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_runtime: Path
) -> None:
    monkeypatch.setenv("MYAPP_MODELS", str(tmp_path / "app-env"))
    monkeypatch.setenv("TETHER_MODELS_DIR", str(tmp_path / "tether-env"))
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "meipass"), raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "dist" / "app"))
    found = candidates(
        PROFILE_ID, path=tmp_path / "explicit", env_var="MYAPP_MODELS", app_name="myapp"
    )
    assert [(c.source, c.folder) for c in found] == [
        ("path", tmp_path / "explicit" / PROFILE_ID),
        ("env:MYAPP_MODELS", tmp_path / "app-env" / PROFILE_ID),
        ("env:TETHER_MODELS_DIR", tmp_path / "tether-env" / PROFILE_ID),
        ("user-data", tmp_path / "xdg-data" / "myapp" / "models" / PROFILE_ID),
        ("bundle:_MEIPASS", tmp_path / "meipass" / PROFILE_ID),
        ("bundle:_MEIPASS", tmp_path / "meipass" / "embedding_models" / PROFILE_ID),
        ("bundle:_MEIPASS", tmp_path / "meipass" / "data" / "embedding_models" / PROFILE_ID),
        ("bundle:executable", tmp_path / "dist" / PROFILE_ID),
        ("bundle:executable", tmp_path / "dist" / "embedding_models" / PROFILE_ID),
        ("bundle:executable", tmp_path / "dist" / "data" / "embedding_models" / PROFILE_ID),
        ("project-data", isolated_runtime / "data" / "embedding_models" / PROFILE_ID),
    ]


def test_plain_python_has_no_bundle_candidates() -> None:
    assert [c.source for c in candidates(PROFILE_ID)] == ["user-data", "project-data"]


def test_explicit_path_may_be_the_profile_folder_itself(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / "anywhere" / "named-freely")
    assert candidates(PROFILE_ID, path=folder)[0].folder == folder
    assert resolve(PROFILE_ID, path=folder, variant="fp32").folder == folder
    root = tmp_path / "root"
    make_fake_folder(root / PROFILE_ID)
    assert resolve(PROFILE_ID, path=root, variant="fp32").folder == root / PROFILE_ID


def test_each_place_wins_when_the_ones_before_are_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_runtime: Path, int8_cpu: None
) -> None:
    monkeypatch.setenv("TETHER_MODELS_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "meipass"), raising=False)
    places = {
        "path": tmp_path / "explicit" / PROFILE_ID,
        "env:TETHER_MODELS_DIR": tmp_path / "env" / PROFILE_ID,
        "user-data": user_models_dir("tether") / PROFILE_ID,
        "bundle:_MEIPASS": tmp_path / "meipass" / "embedding_models" / PROFILE_ID,
        "project-data": isolated_runtime / "data" / "embedding_models" / PROFILE_ID,
    }
    for folder in places.values():
        make_fake_folder(folder)
    for source, folder in places.items():
        result = resolve(PROFILE_ID, path=tmp_path / "explicit")
        assert (result.source, result.folder, result.variant) == (source, folder, "int8")
        (folder / "tokenizer.json").unlink()  # break it: the next place must win
    with pytest.raises(ProfileIncompleteError) as caught:
        resolve(PROFILE_ID, path=tmp_path / "explicit")
    rejected = {(e.source, e.reason) for e in caught.value.trail if e.folder in places.values()}
    assert rejected == {(source, "missing_tokenizer") for source in places}


def test_frozen_executable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "dist" / "app.exe"))
    make_fake_folder(tmp_path / "dist" / "embedding_models" / PROFILE_ID)
    result = resolve(PROFILE_ID, variant="fp32")
    assert result.source == "bundle:executable"


# --- the trail ----------------------------------------------------------------------------------


def test_trail_records_every_candidate_and_reason(tmp_path: Path, int8_cpu: None) -> None:
    broken = make_fake_folder(tmp_path / "explicit" / PROFILE_ID)
    (broken / "onnx/model_quantized.onnx").write_bytes(b"")
    make_fake_folder(user_models_dir() / PROFILE_ID)
    result = resolve(PROFILE_ID, path=tmp_path / "explicit")
    assert sources(result) == [
        ("path", "int8", "zero_byte"),
        ("user-data", "int8", "complete"),
        ("project-data", "int8", ""),  # not checked: an earlier candidate won
    ]
    text = result.explain()
    assert "variant int8 (auto: int8 preferred, test CPU with AVX2)" in text
    assert "rejected: zero-byte file: onnx/model_quantized.onnx" in text
    assert "complete: chosen" in text and "not checked" in text
    assert f"model id {PROFILE_ID}-384d-int8-mlen256" in text
    assert result.model_id == f"{PROFILE_ID}-384d-int8-mlen256"


def test_nothing_anywhere_is_an_error_with_the_trail_and_the_fix() -> None:
    with pytest.raises(ProfileIncompleteError) as caught:
        resolve(PROFILE_ID, variant="int8")
    error = caught.value
    assert isinstance(error, ProfileNotFoundError) and isinstance(error, FileNotFoundError)
    assert error.reason == "not_found"
    assert [e.reason for e in error.trail] == ["not_found", "not_found"]
    assert len(error.problems) == 2 and "user-data" in error.problems[0]
    assert "tether fetch" in error.hint
    assert error.exit_code == 2


def test_incomplete_everywhere_says_incomplete(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / "x" / PROFILE_ID)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ProfileIncompleteError) as caught:
        resolve(PROFILE_ID, path=folder, variant="fp32")
    assert caught.value.reason == "incomplete"
    assert "tokenizer.json is missing" in caught.value.problems[0]


def test_contract_expectations(tmp_path: Path) -> None:
    make_fake_folder(tmp_path / "a" / PROFILE_ID)
    make_fake_folder(tmp_path / "b" / PROFILE_ID, profile=profile_dict(dim=768))
    os.environ["TETHER_MODELS_DIR"] = str(tmp_path / "b")  # removed by monkeypatch's cleanup
    try:
        result = resolve(PROFILE_ID, path=tmp_path / "a", variant="fp32", expect={"dim": 768})
    finally:
        del os.environ["TETHER_MODELS_DIR"]
    assert result.source == "env:TETHER_MODELS_DIR"
    assert sources(result)[0] == ("path", "fp32", "contract_differs")
    with pytest.raises(RuntimeOptionError):
        resolve(PROFILE_ID, expect={"dims": 768})


def test_profile_id_must_be_a_safe_name() -> None:
    with pytest.raises(InvalidNameError):
        resolve("../etc")


# --- variant choice -------------------------------------------------------------------------------


def test_auto_takes_int8_on_a_suitable_cpu_and_fp32_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (True, "fast int8"))
    assert resolve(PROFILE_ID, path=folder).variant == "int8"
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (False, "no AVX2"))
    result = resolve(PROFILE_ID, path=folder)
    assert result.variant == "fp32"
    assert result.variant_reason == "auto: fp32 preferred, no AVX2"


def test_explicit_variant_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, int8_cpu: None
) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    assert resolve(PROFILE_ID, path=folder, variant="fp32").variant == "fp32"
    monkeypatch.setenv("TETHER_VARIANT", "fp32")
    assert resolve(PROFILE_ID, path=folder).variant == "fp32"
    assert resolve(PROFILE_ID, path=folder, variant="auto").variant == "fp32"
    assert resolve(PROFILE_ID, path=folder, variant="int8").variant == "int8"  # the call wins
    monkeypatch.setenv("TETHER_VARIANT", "int4")
    with pytest.raises(InvalidVariantError, match="TETHER_VARIANT"):
        resolve(PROFILE_ID, path=folder)
    with pytest.raises(InvalidVariantError):
        resolve(PROFILE_ID, path=folder, variant="fp16")


def test_auto_keeps_the_preferred_variant_from_a_later_folder(
    tmp_path: Path, int8_cpu: None
) -> None:
    # int8 vectors stay comparable only with int8: a folder further down with int8 beats
    # an earlier folder that has only fp32.
    make_fake_folder(tmp_path / "first" / PROFILE_ID, variants=("fp32",))
    make_fake_folder(user_models_dir() / PROFILE_ID, variants=("int8",))
    result = resolve(PROFILE_ID, path=tmp_path / "first")
    assert (result.source, result.variant) == ("user-data", "int8")
    assert sources(result)[0] == ("path", "int8", "only_other_variant")


def test_auto_falls_back_to_the_other_variant_when_nothing_has_the_preferred(
    tmp_path: Path, int8_cpu: None
) -> None:
    make_fake_folder(tmp_path / "first" / PROFILE_ID, variants=("fp32",))
    result = resolve(PROFILE_ID, path=tmp_path / "first")
    assert (result.source, result.variant) == ("path", "fp32")
    assert result.variant_reason.endswith("no folder has int8 complete")
    assert sources(result) == [
        ("path", "int8", "only_other_variant"),
        ("user-data", "int8", "not_found"),
        ("project-data", "int8", "not_found"),
        ("path", "fp32", "complete"),  # absent folders are not listed again for fp32
    ]


def test_explicit_variant_does_not_fall_back(tmp_path: Path) -> None:
    make_fake_folder(tmp_path / PROFILE_ID, variants=("fp32",))
    with pytest.raises(ProfileIncompleteError, match=r"\(int8\)"):
        resolve(PROFILE_ID, path=tmp_path, variant="int8")


# --- logging and speed ----------------------------------------------------------------------------


def test_rejections_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = make_fake_folder(tmp_path / "x" / PROFILE_ID)
    (broken / "onnx/model.onnx").unlink()
    make_fake_folder(user_models_dir() / PROFILE_ID)
    with caplog.at_level(logging.DEBUG, logger="tether.resolve"):
        resolve(PROFILE_ID, path=broken, variant="fp32")
    by_level = {(r.levelname, r.name) for r in caplog.records}
    assert ("WARNING", "tether.resolve") in by_level and ("INFO", "tether.resolve") in by_level
    warning = next(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert str(broken) in warning and "model file for the variant is missing" in warning
    caplog.clear()
    with (
        caplog.at_level(logging.DEBUG, logger="tether.resolve"),
        pytest.raises(ProfileIncompleteError),
    ):
        resolve("other-profile-v1", variant="fp32")
    assert caplog.records and all(r.levelname == "DEBUG" for r in caplog.records)  # just absent


def test_resolving_a_complete_profile_takes_at_most_2_ms(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    resolve(PROFILE_ID, path=folder)  # first call pays one-time imports (numpy cpu features)
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        resolve(PROFILE_ID, path=folder)
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) <= 0.002


def test_facade_resolve_and_light_import(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    assert tether.resolve(PROFILE_ID, path=folder, variant="fp32").folder == folder
