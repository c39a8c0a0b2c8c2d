"""A real Nuitka standalone app, built by the generated workflow's own Linux steps.

`tether init --ci github --builder nuitka` writes release.yml; its build job's steps run
here as written (bash -eo pipefail, in the project), minus the pip installs (the venv is the
environment) and the steps for other OSes: fetch, audit, bundle, verify, the Nuitka build
with `$(tether bundle nuitka-args)`, `tether audit --bundle dist/app.dist --self-test`, the
archive. The app then runs offline with an empty HOME and a clean environment and must give
the library's vectors. The old documented command (data options only) builds an app that
crashes with `No module named 'tether.runtime'`; the audit must say so, and must fail a copy
of the good build whose onnxruntime native module is gone. One real build of each (~5-7 min
and ~1-2 min on 2 cores), once per session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import tether
from tests.bundle.test_pyinstaller_app import APP, TEXTS, isolated
from tests.real_models import PROFILE_ID, cached_minilm_build
from tether.cli import main
from tether.spine import publish_release
from tether.stores.file import FileStore

PROFILE = f"embedding_models/{PROFILE_ID}"
NUITKA = [sys.executable, "-m", "nuitka"]
OLD_COMMAND = [  # docs/shipping.md before: data options only
    "--include-data-dir=build/tether-bundle/embedding_models=embedding_models",
    "--include-data-files=build/tether-bundle/tether-bundle.json=tether-bundle.json",
]


def build_steps(workflow: Path) -> list[dict[str, Any]]:
    """The build job's steps that run on Linux, `${{ runner.os }}` read as Linux."""
    data = yaml.safe_load(workflow.read_text())
    steps = []
    for step in data["jobs"]["build"]["steps"]:
        condition = step.get("if", "")
        if "run" not in step or ("runner.os" in condition and "'Linux'" not in condition):
            continue
        steps.append({**step, "run": step["run"].replace("${{ runner.os }}", "Linux")})
    return steps


def runnable(script: str) -> str:
    """A step's script without the pip installs: the test's venv already holds the pins."""
    lines = [ln for ln in script.splitlines() if "pip install" not in ln]
    return "\n".join(lines)


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    clean["TETHER_BUNDLE_DIR"] = "build/tether-bundle"
    return clean


@pytest.fixture(scope="module")
def nuitka_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The project after the generated workflow's Linux steps; each step's output by name."""
    root = tmp_path_factory.mktemp("nuitka")
    store = FileStore(root / "store")
    publish_release(store, cached_minilm_build(), version="1.0.0")
    project = root / "project"
    project.mkdir()
    result = CliRunner().invoke(
        main, ["init", "--project", str(project), "--ci", "github", "--builder", "nuitka"]
    )
    assert result.exit_code == 0, result.output
    (project / "tether.toml").write_text(
        f'store = "{store.url}"\n\n[profile]\nid = "{PROFILE_ID}"\n\n[bundle]\nvariant = "int8"\n'
    )
    shutil.copy(APP, project / "app.py")
    outputs = {}
    for step in build_steps(project / ".github" / "workflows" / "release.yml"):
        script = runnable(step["run"]).replace("--variant both", "--variant int8")
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=project,
            env=env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        outputs[step["name"]] = done.stdout + done.stderr
        assert done.returncode == 0, f"{step['name']}:\n{(done.stdout + done.stderr)[-4000:]}"
    return project, outputs


def test_the_workflow_builds_a_nuitka_app_that_passes_the_audit(
    nuitka_project: tuple[Path, dict[str, str]],
) -> None:
    project, outputs = nuitka_project
    assert list(outputs) == [
        "Install tether (pinned), nuitka and the app's requirements",
        "Install patchelf (Nuitka's standalone builds on Linux need it; gcc is there)",
        "Fetch the release .model-version pins, each file verified",
        "Audit pin -> store release -> MANIFEST -> local folder",
        "Bundle the model for the app",
        "Verify the bundle",
        "Build the app on ${{ runner.os }} with nuitka",
        "Audit the built app and run its self-test offline (the gate)",
        "Archive the app",
    ]
    audit = outputs["Audit the built app and run its self-test offline (the gate)"]
    assert "ok  app: dist/app.dist (Nuitka standalone, executable app.bin)" in audit
    assert re.search(r"ok  runtime: tether's \d+ runtime modules are in the build", audit)
    assert "ok  onnxruntime: onnxruntime/capi/onnxruntime_pybind11_state" in audit
    assert "ok  tokenizers: tokenizers/tokenizers" in audit
    assert f"ok  resolves: {PROFILE_ID} [int8] from {PROFILE} (next to the executable)" in audit
    assert f"ok  self-test: {PROFILE_ID} model-v1.0.0 [int8] from bundle:executable" in audit
    assert "BAD" not in audit
    assert (project / "app-Linux.zip").stat().st_size > 10 << 20


def test_the_nuitka_app_embeds_offline_like_the_library(
    nuitka_project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, _ = nuitka_project
    dist = project / "dist" / "app.dist"
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    result = subprocess.run(
        [*isolated(), str(dist / "app.bin"), *TEXTS],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_DATA_HOME": str(home / "data")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["source"], out["release"], out["variant"]) == (
        "bundle:executable",
        "model-v1.0.0",
        "int8",
    )
    with tether.load(PROFILE_ID, path=dist / PROFILE, variant="int8") as embedder:
        expected = embedder.embed(TEXTS)
    np.testing.assert_array_equal(np.asarray(out["vectors"], dtype=np.float32), expected)
    assert not (home / "data" / "tether").exists()
    # what an empty HOME holds afterwards: nothing but onnxruntime's telemetry id, if anything
    left = {p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()}
    assert {p for p in left if not p.startswith(".cache/Microsoft/DeveloperTools/")} == set()


def audit(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "--bundle", str(folder), *args])
    return result.exit_code, result.output


def test_a_copy_without_onnxruntimes_native_module_fails_the_audit(
    nuitka_project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, _ = nuitka_project
    broken = tmp_path / "app.dist"
    shutil.copytree(project / "dist" / "app.dist", broken, symlinks=True)
    (native,) = (broken / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*")
    native.unlink()
    code, out = audit(broken)
    assert code == 1
    assert (
        "BAD onnxruntime: its native module onnxruntime.capi.onnxruntime_pybind11_state is not "
        "in the build" in out
    )
    assert re.search(r"ok  files: \d+ match the release's MANIFEST.txt", out)  # the model is fine
    result = CliRunner().invoke(main, ["bundle", "verify", str(broken)])
    assert result.exit_code == 1 and "onnxruntime_pybind11_state is not in the build" in (
        result.output
    )


def test_the_old_documented_command_builds_an_app_the_audit_fails(
    nuitka_project: tuple[Path, dict[str, str]],
) -> None:
    project, _ = nuitka_project
    done = subprocess.run(
        [*NUITKA, "--standalone", "--output-dir=dist-old", *OLD_COMMAND, "app.py"],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    dist = project / "dist-old" / "app.dist"
    run = subprocess.run(
        [str(dist / "app.bin")], cwd=project, capture_output=True, text=True, check=False
    )
    assert "No module named 'tether.runtime" in run.stderr  # the crash the issue reported
    code, out = audit(dist, "--self-test")
    assert code == 1
    assert re.search(r"ok  files: \d+ match the release's MANIFEST.txt", out)  # files alone pass
    missing = re.search(r"BAD runtime: (\d+) of tether's \d+ runtime modules are not in the", out)
    assert missing is not None and int(missing.group(1)) >= 10  # the lazily imported rooms
    assert re.search(r"not in the build \((tether\.[a-z_.]+, ){7}tether\.[a-z_.]+, \.\.\.\)", out)
    assert "build with $(tether bundle nuitka-args)" in out
    for package in ("onnxruntime", "tokenizers", "numpy"):
        assert f"BAD {package}: not in the build" in out
    assert "BAD self-test: app.bin --tether-self-test exited 1 without a result line" in out
