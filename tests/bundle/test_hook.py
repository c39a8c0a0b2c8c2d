"""What tether's PyInstaller hook collects and when it refuses, without building an app."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

from tests.bundle.helpers import PROFILE_ID, make_project
from tether.bundle.create import create_bundle
from tether.bundle.hooks import get_hook_dirs
from tether.bundle.pyinstaller import (
    BUNDLE_ENV,
    HookError,
    plan_collection,
    require_runtime,
    runtime_problems,
)
from tether.spine import fetch_release
from tether.stores.file import FileStore

PROFILE = f"embedding_models/{PROFILE_ID}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FileStore]:
    monkeypatch.delenv(BUNDLE_ENV, raising=False)
    store = FileStore(tmp_path / "store")
    folder = make_project(tmp_path, store)
    return folder, store


def test_hook_dir_is_registered_for_pyinstaller() -> None:
    (hook_dir,) = get_hook_dirs()
    assert (Path(hook_dir) / "hook-tether.py").is_file()
    points = importlib.metadata.entry_points(group="pyinstaller40", name="hook-dirs")
    assert "tether.bundle.hooks:get_hook_dirs" in {p.value for p in points}


def test_plan_collects_every_verified_file_into_the_app_data_root(
    project: tuple[Path, FileStore],
) -> None:
    folder, store = project
    create_bundle(store, PROFILE_ID, "1.0.0", folder / "build" / "tether-bundle", variants="int8")
    plan = plan_collection(None, cwd=folder)  # found at the default build/tether-bundle
    assert plan.found_by == "default build/tether-bundle"
    assert plan.profiles == [PROFILE]
    dests = {(Path(src).name, dest) for src, dest in plan.datas}
    assert dests == {
        ("tether-bundle.json", "."),
        (".prepared.json", PROFILE),
        ("MANIFEST.txt", PROFILE),
        ("provenance.intoto.json", PROFILE),
        ("profile.json", PROFILE),
        ("tokenizer.json", PROFILE),
        ("model_quantized.onnx", f"{PROFILE}/onnx"),
    }
    assert (f"{PROFILE}/onnx/model_quantized.onnx") in {entry[0] for entry in plan.toc()}


def test_lookup_order_config_then_env_then_defaults(
    project: tuple[Path, FileStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, store = project
    assert plan_collection(None, cwd=folder).root is None  # no model: nothing to collect
    fetch_release(store, PROFILE_ID, "1.0.0", folder / "data" / "embedding_models")
    plan = plan_collection(None, cwd=folder)
    assert (plan.found_by, plan.root) == ("project data/embedding_models", folder / "data")
    assert not any(Path(src).name.endswith(".lock") for src, _ in plan.datas)

    create_bundle(store, PROFILE_ID, "1.0.0", folder / "elsewhere", variants="fp32")
    monkeypatch.setenv(BUNDLE_ENV, "elsewhere")
    assert plan_collection(None, cwd=folder).found_by == f"${BUNDLE_ENV}"
    create_bundle(store, PROFILE_ID, "1.0.0", folder / "configured", variants="fp32")
    assert plan_collection("configured", cwd=folder).root == folder / "configured"

    monkeypatch.setenv(BUNDLE_ENV, "missing")
    with pytest.raises(HookError, match=r"\$TETHER_BUNDLE_DIR names .*missing, which is not"):
        plan_collection(None, cwd=folder)


def test_a_bundle_that_does_not_verify_stops_the_build(project: tuple[Path, FileStore]) -> None:
    folder, store = project
    bundle = folder / "build" / "tether-bundle"
    create_bundle(store, PROFILE_ID, "1.0.0", bundle, variants="int8")
    model = bundle / PROFILE / "onnx" / "model_quantized.onnx"
    with open(model, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(HookError) as info:
        plan_collection(None, cwd=folder)
    message = str(info.value)
    assert message.startswith("ERROR: tether: the model bundle (default build/tether-bundle")
    assert "refusing to build an app with a broken model" in message
    assert f"truncated: {PROFILE}/onnx/model_quantized.onnx (100 bytes" in message

    shutil.rmtree(bundle)  # a half-fetched project folder is refused the same way
    models = folder / "data" / "embedding_models"
    fetch_release(store, PROFILE_ID, "1.0.0", models)
    (models / PROFILE_ID / "tokenizer.json").write_bytes(b"")
    with pytest.raises(HookError, match=f"empty: {PROFILE}/tokenizer.json"):
        plan_collection(None, cwd=folder)


def test_model_files_without_the_runtime_stop_the_build(project: tuple[Path, FileStore]) -> None:
    folder, store = project
    create_bundle(store, PROFILE_ID, "1.0.0", folder / "build" / "tether-bundle", variants="int8")
    plan = plan_collection(None, cwd=folder)
    require_runtime(plan, [], {"onnxruntime": "SourceModule"})  # all there: fine
    with pytest.raises(HookError) as info:
        require_runtime(plan, ["onnxruntime"])
    assert str(info.value) == (
        f"ERROR: tether: the app would bundle model files ({PROFILE} from {plan.root}) but not "
        "the runtime that loads them: onnxruntime is excluded (--exclude-module onnxruntime). "
        "Collect onnxruntime, tokenizers and numpy (remove the exclusion, install them), or "
        "build without the model (unset $TETHER_BUNDLE_DIR)"
    )
    assert runtime_problems(["onnxruntime.capi"]) == [
        "onnxruntime is excluded (--exclude-module onnxruntime.capi)"
    ]
    assert runtime_problems([], {"tokenizers": "ExcludedModule"}) == [
        "tokenizers is excluded from the module graph"
    ]
    assert runtime_problems([], {"numpy": "MissingModule"}) == [
        "numpy is not installed in the build environment"
    ]
    require_runtime(plan_collection(None, cwd=folder / "nothing"), ["onnxruntime"])  # no model
