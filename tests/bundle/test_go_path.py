"""The release path without Python: `tether init --ci github` on a guild-shaped Go repo
writes a release.yml whose model step is a POSIX script (curl, sha256sum), run here with
dash against the GitHub stand-in (behind Prism), SeaweedFS (s3://) and a token-auth
registry (oci://): it fetches and verifies, refuses a tampered asset and a withdrawn
release, and the module then builds with the model embedded."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.bundle.test_init import COMMIT, load_yaml, schema_check, shell_lines
from tests.factories import make_small_release
from tests.store_harness import StoreHarness
from tether.bundle.init import InitOptions, init_project
from tether.cli import main
from tether.errors import ConfigError
from tether.hashing import sha256_file
from tether.manifest import parse_manifest
from tether.names import FETCH_SCRIPT
from tether.spine import publish_release, withdraw

INT8 = "onnx/model_quantized.onnx"
CREDENTIALS = (
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "TETHER_OCI_USERNAME",
    "TETHER_OCI_PASSWORD",
)
GO_MOD = "module github.com/example/guild\n\ngo 1.19\n"
GORELEASER = """version: 2
builds:
  - main: .
    binary: guild
    tags: [withembed]
    env: [CGO_ENABLED=0]
"""
MAIN_GO = """package main

import "fmt"

func main() { fmt.Println(len(model)) }
"""
EMBED_GO = f"""//go:build withembed

package main

import _ "embed"

//go:embed model/{INT8}
var model []byte
"""
NO_EMBED_GO = """//go:build !withembed

package main

var model []byte
"""


def guild(root: Path, *, goreleaser: bool = True) -> Path:
    """A guild-shaped repo: a Go module embedding the int8 model under tag withembed."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(GO_MOD)
    (root / "main.go").write_text(MAIN_GO)
    (root / "embed.go").write_text(EMBED_GO)
    (root / "noembed.go").write_text(NO_EMBED_GO)
    if goreleaser:
        (root / ".goreleaser.yaml").write_text(GORELEASER)
    return root


def init(project: Path, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["init", "--project", str(project), "--revision", COMMIT, *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def run_steps(workflow: dict) -> list[dict]:
    return list(workflow["jobs"]["release"]["steps"])


def test_a_go_repo_gets_a_release_workflow_without_python(tmp_path: Path) -> None:
    repo = guild(tmp_path / "guild")
    init(repo, "--ci", "github", "--go-tags", "withembed")  # the kind is detected
    path = repo / ".github" / "workflows" / "release.yml"
    schema_check(path, "vendor.github-workflows")
    workflow = load_yaml(path)
    assert workflow["on"]["push"]["tags"] == ["v*"]
    steps = run_steps(workflow)
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses == [
        "actions/checkout@v4",
        "actions/setup-go@v5",
        "goreleaser/goreleaser-action@v6",
    ]
    lines = [ln for s in steps if "run" in s for ln in shell_lines(s["run"])]
    assert lines == [f"sh {FETCH_SCRIPT} model"]  # the one shell step: no python, no tether
    fetch = steps[1]
    assert "github.repository" in fetch["env"]["TETHER_STORE"]
    assert fetch["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert (repo / FETCH_SCRIPT).read_text().startswith("#!/bin/sh\n")
    # build-model.yml still builds the model with Python, on the model's own schedule
    schema_check(repo / ".github" / "workflows" / "build-model.yml", "vendor.github-workflows")


def test_go_without_goreleaser_and_other_apps(tmp_path: Path) -> None:
    repo = guild(tmp_path / "plain", goreleaser=False)
    init(repo, "--ci", "github", "--go-tags", "withembed")
    path = repo / ".github" / "workflows" / "release.yml"
    schema_check(path, "vendor.github-workflows")
    runs = [s.get("run", "") for s in run_steps(load_yaml(path))]
    assert 'go build -tags "withembed" -o dist/guild .' in runs
    other = tmp_path / "other"
    other.mkdir()
    init(other, "--ci", "github", "--app-kind", "other", "--model-dir", "assets/model")
    path = other / ".github" / "workflows" / "release.yml"
    schema_check(path, "vendor.github-workflows")
    runs = [s["run"] for s in run_steps(load_yaml(path)) if "run" in s]
    assert runs == [f"sh {FETCH_SCRIPT} assets/model", "ls -R assets/model"]


def test_init_warns_when_the_app_kind_and_the_repo_disagree(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = guild(tmp_path / "guild")
    caplog.set_level(logging.WARNING, logger="tether.bundle.init")
    init_project(repo, InitOptions(ci="github", app_kind="python"))
    assert "has a go.mod (a Go app: --app-kind go)" in caplog.text
    assert "pip install" in (repo / ".github" / "workflows" / "release.yml").read_text()
    caplog.clear()
    empty = tmp_path / "empty"
    init_project(empty, InitOptions(ci="github", app_kind="go", go_tags="withembed"))
    assert "--app-kind go, but" in caplog.text and "has no go.mod" in caplog.text
    caplog.clear()
    init_project(repo, InitOptions(ci="github", go_tags="nosuchtag"), force=True)
    assert ".goreleaser.yaml does not mention build tag nosuchtag" in caplog.text
    with pytest.raises(ConfigError, match="GitHub Actions workflows only"):
        init_project(repo, InitOptions(ci="gitlab", app_kind="go"), force=True)
    with pytest.raises(ConfigError, match="--go-tags"):
        init_project(repo, InitOptions(go_tags="a b; rm"), force=True)


# --- the model step, run with dash against the stand-in ---------------------------------------


def fetch_step(repo: Path, harness: StoreHarness, **env: str) -> subprocess.CompletedProcess:
    """The workflow's model step as Actions runs it: `sh SCRIPT DIR` with the step's env."""
    steps = run_steps(load_yaml(repo / ".github/workflows/release.yml"))
    (step,) = [s for s in steps if FETCH_SCRIPT in s.get("run", "")]
    words = step["run"].split()
    assert words[:2] == ["sh", FETCH_SCRIPT]
    dash = shutil.which("dash")
    assert dash is not None, "apt-get install dash"
    return subprocess.run(
        [dash, *words[1:]],
        cwd=repo,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "TMPDIR": str(repo.parent),
            **{k: v for k, v in step["env"].items() if "${{" not in v},
            "TETHER_STORE": harness.url,  # what ${{ }} gives on Actions
            **{k: os.environ[k] for k in CREDENTIALS if k in os.environ},
            **env,
        },
        check=False,
    )


@pytest.fixture
def released(tmp_path: Path, harness_github: StoreHarness) -> tuple[Path, str]:
    """A guild repo with its workflows, pinned to release 1.0.0 of a github:// store."""
    repo = guild(tmp_path / "guild")
    init(repo, "--ci", "github", "--go-tags", "withembed")
    info = publish_release(
        harness_github.store, make_small_release(tmp_path / "b"), version="1.0.0"
    )
    (repo / ".model-version").write_text("1.0.0\n")
    return repo, info.name


def test_the_model_step_fetches_verifies_and_the_go_build_embeds_it(
    released: tuple[Path, str], harness_github: StoreHarness
) -> None:
    repo, _ = released
    done = fetch_step(repo, harness_github)
    assert done.returncode == 0, done.stderr
    assert "model-v1.0.0" in done.stdout and "verified against MANIFEST.txt" in done.stdout
    model = repo / "model"
    manifest = parse_manifest((model / "MANIFEST.txt").read_bytes(), where="test")
    assert manifest.version == "1.0.0" and INT8 in manifest.files
    got = {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
    assert got == {*manifest.files, "MANIFEST.txt"}
    for rel, digest in manifest.files.items():
        assert sha256_file(model / rel) == digest
    assert not (repo / "model.part").exists()
    # only the files asked for (the int8 model and what the app reads beside it)
    again = fetch_step(repo, harness_github, TETHER_FILES=f"{INT8} profile.json")
    assert again.returncode == 0, again.stderr
    got = {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
    assert got == {INT8, "profile.json", "MANIFEST.txt"}

    go = shutil.which("go")
    assert go is not None, "apt-get install golang-go (Debian's Go builds the embed test)"
    gocache = repo.parent / "gocache"
    built = subprocess.run(
        [go, "build", "-tags", "withembed", "-o", "guild-bin", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(repo.parent),
            "GOCACHE": str(gocache),
            "GOPATH": str(repo.parent / "gopath"),
            "GOFLAGS": "-mod=mod",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
        },
        check=False,
    )
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(repo / "guild-bin")], capture_output=True, text=True, check=True)
    assert int(ran.stdout) == (model / INT8).stat().st_size  # the model is in the binary


def test_the_model_step_refuses_a_tampered_asset(
    released: tuple[Path, str], harness_github: StoreHarness
) -> None:
    repo, name = released
    (repo / "model").mkdir()
    (repo / "model" / "keep").write_text("the last good model\n")
    harness_github.tamper(name, "1.0.0", INT8, b"not the model")
    done = fetch_step(repo, harness_github)
    assert done.returncode == 1
    assert f"{INT8} of model-v1.0.0 has sha256" in done.stderr
    assert "as MANIFEST.txt says" in done.stderr
    assert (repo / "model" / "keep").is_file()  # the folder is replaced only when all match
    assert not (repo / "model.part").exists()


def test_the_model_step_refuses_a_withdrawn_release_and_a_missing_one(
    released: tuple[Path, str], harness_github: StoreHarness
) -> None:
    repo, name = released
    withdraw(harness_github.store, name, "1.0.0", reason="bad int8 calibration")
    done = fetch_step(repo, harness_github)
    assert done.returncode == 1
    assert "model-v1.0.0 of" in done.stderr and "is withdrawn" in done.stderr
    assert not (repo / "model").exists()
    (repo / ".model-version").write_text("9.9.9\n")
    done = fetch_step(repo, harness_github)
    assert done.returncode == 1 and "has no release model-v9.9.9" in done.stderr
    (repo / ".model-version").write_text("latest\n")
    done = fetch_step(repo, harness_github)
    assert done.returncode == 1 and "not a version like 1.0.1" in done.stderr


@pytest.mark.parametrize("kind", ["s3", "oci_token"])
def test_the_model_step_reads_s3_and_oci_stores(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """s3:// (SeaweedFS, SigV4 by curl --aws-sigv4) and oci:// (a registry behind the
    bearer-token flow): fetch, then refuse a tampered file and a withdrawn release."""
    harness = request.getfixturevalue(f"harness_{kind}")
    repo = guild(tmp_path / "guild")
    init(repo, "--ci", "github")
    info = publish_release(harness.store, make_small_release(tmp_path / "b"), version="1.0.0")
    (repo / ".model-version").write_text("1.0.0\n")
    done = fetch_step(repo, harness)
    assert done.returncode == 0, done.stderr
    manifest = parse_manifest((repo / "model" / "MANIFEST.txt").read_bytes(), where="test")
    for rel, digest in manifest.files.items():
        assert sha256_file(repo / "model" / rel) == digest
    harness.tamper(info.name, "1.0.0", INT8, b"not the model")
    done = fetch_step(repo, harness)
    assert done.returncode == 1 and f"{INT8} of model-v1.0.0 has sha256" in done.stderr
    withdraw(harness.store, info.name, "1.0.0", reason="tampered")
    done = fetch_step(repo, harness)
    assert done.returncode == 1 and "is withdrawn" in done.stderr
    assert sha256_file(repo / "model" / INT8) == manifest.files[INT8]  # the good one stays


def test_the_model_step_names_the_stores_it_cannot_read(tmp_path: Path) -> None:
    repo = guild(tmp_path / "guild")
    init(repo, "--ci", "github")
    (repo / ".model-version").write_text("1.0.0\n")
    done = subprocess.run(
        ["dash", FETCH_SCRIPT],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "TETHER_STORE": "hf://org/model"},
        check=False,
    )
    assert done.returncode == 1
    assert "reads github://, s3:// and oci:// stores; use tether fetch" in done.stderr
    assert yaml.safe_load((repo / ".github/workflows/release.yml").read_text())
