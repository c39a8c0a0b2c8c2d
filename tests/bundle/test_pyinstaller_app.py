"""A real one-folder PyInstaller app with the MiniLM profile bundled, end to end.

The app is examples/app/app.py (it loads the profile with tether.load and prints vectors
and a similarity as JSON). It runs with no network (a fresh network namespace when
`unshare -n` works), no app-data folder (HOME and XDG_DATA_HOME are empty folders) and a
clean environment (only PATH), from an empty working folder, so the bundled copy is the
only one it can find. Then the same build with onnxruntime excluded, and with a truncated
bundled model, must fail with the hook's messages. One good build (~30 s) and two that stop
at the hook (~15 s each).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tether
from tests.real_models import PROFILE_ID, cached_minilm_build
from tether.cli import main
from tether.spine import publish_release
from tether.stores.file import FileStore

APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"
PROFILE = f"embedding_models/{PROFILE_ID}"
TEXTS = [
    "A cat sits on the mat.",
    "A kitten rests on a rug.",
    "Quarterly revenue grew by twelve percent " * 30,  # longer than max_length
]


def cli(*args: str, cwd: Path) -> str:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def minilm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A consuming repo pinned to a real MiniLM release, bundled (int8) by `tether bundle`."""
    root = tmp_path_factory.mktemp("pyi")
    store = FileStore(root / "store")
    publish_release(store, cached_minilm_build(), version="1.0.0")
    project = root / "project"
    project.mkdir()
    (project / "tether.toml").write_text(
        f'store = "{store.url}"\n\n[profile]\nid = "{PROFILE_ID}"\n\n[bundle]\nvariant = "int8"\n'
    )
    (project / ".model-version").write_text("1.0.0\n")
    shutil.copy(APP, project / "app.py")
    cli("bundle", cwd=project)  # into build/tether-bundle
    return project


def pyinstaller(project: Path, name: str, bundle: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_BUNDLE_DIR"] = str(bundle)
    work = project / "build" / f"pyi-{name}"
    args = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--onedir", "--name", name]
    args += ["--distpath", str(project / "dist"), "--workpath", str(work)]
    args += ["--specpath", str(work), *extra, str(project / "app.py")]
    return subprocess.run(
        args, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )


def isolated() -> list[str]:
    """`unshare -n` (a network namespace with only a down loopback) when it works here."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    except FileNotFoundError:
        return []
    return ["unshare", "-n"] if ok.returncode == 0 else []


@pytest.fixture(scope="session")
def built_app(minilm_project: Path) -> Path:
    result = pyinstaller(minilm_project, "app", minilm_project / "build" / "tether-bundle")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tether: bundling embedding_models/local-text-retrieval-v1" in result.stderr
    return minilm_project / "dist" / "app"


def test_bundled_app_embeds_offline_like_the_library(built_app: Path, tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    result = subprocess.run(
        [*isolated(), str(built_app / "app"), *TEXTS],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source"] == "bundle:_MEIPASS"
    assert out["release"] == "model-v1.0.0"
    assert out["variant"] == "int8"
    assert not (home / "data" / "tether").exists()  # no app-data folder was made or used

    bundled = built_app / "_internal" / PROFILE
    with tether.load(PROFILE_ID, path=bundled, variant=out["variant"]) as embedder:
        expected = embedder.embed(TEXTS)
    got = np.asarray(out["vectors"], dtype=np.float32)
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert out["similarity"] == pytest.approx(float(expected[0] @ expected[-1]), abs=1e-5)
    assert out["similarity"] < float(expected[0] @ expected[1])  # cat/kitten beat revenue


def test_built_app_verifies_and_audits(built_app: Path) -> None:
    assert "files verified" in cli("bundle", "verify", str(built_app), cwd=built_app)
    out = cli("audit", "--bundle", str(built_app), cwd=built_app)
    assert f"ok  release: {PROFILE_ID} model-v1.0.0 [int8]" in out
    assert "BAD" not in out and "provenance.intoto.json" in out
    assert not (built_app / "_internal" / "torch").exists()  # onnxruntime's torch edge cut


def test_build_without_onnxruntime_fails_with_the_hooks_message(minilm_project: Path) -> None:
    bundle = minilm_project / "build" / "tether-bundle"
    result = pyinstaller(minilm_project, "no-ort", bundle, "--exclude-module", "onnxruntime")
    assert result.returncode != 0
    assert (
        "ERROR: tether: the app would bundle model files (embedding_models/"
        "local-text-retrieval-v1" in result.stderr
    )
    assert "onnxruntime is excluded (--exclude-module onnxruntime)" in result.stderr
    assert not (minilm_project / "dist" / "no-ort").exists()


def test_build_with_a_truncated_model_fails_verification(minilm_project: Path) -> None:
    broken = minilm_project / "build" / "broken-bundle"
    shutil.copytree(minilm_project / "build" / "tether-bundle", broken)
    model = broken / PROFILE / "onnx" / "model_quantized.onnx"
    size = model.stat().st_size
    with open(model, "r+b") as handle:
        handle.truncate(size // 3)
    result = pyinstaller(minilm_project, "truncated", broken)
    assert result.returncode != 0
    assert "ERROR: tether: the model bundle ($TETHER_BUNDLE_DIR" in result.stderr
    assert "refusing to build an app with a broken model" in result.stderr
    assert f"truncated: {PROFILE}/onnx/model_quantized.onnx ({size // 3} bytes" in result.stderr
    assert not (minilm_project / "dist" / "truncated").exists()
