"""No side doors around the pin: a deliberate downgrade is one step, taken once per dest root;
`tether init --force` never lowers a pin; CI never publishes into a workspace it deletes.

Small signed releases in a folder store; a pin edited by hand is played by write_pin.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import NAME, KeyPair, make_small_release
from tether.cli import main
from tether.errors import ConfigError, RollbackError
from tether.names import DOWNGRADE_FILE, PREPARED_FILE
from tether.spine import (
    fetch_release,
    pin_release,
    promote,
    publish_release,
    read_pin,
    refuse_workspace_store,
    sign_release,
    write_pin,
)
from tether.spine.rollback import highest_verified
from tether.stores.file import FileStore

VERSIONS = ("1.0.0", "1.0.1", "1.0.2")


@pytest.fixture
def signed_store(tmp_path: Path, release_key: KeyPair) -> FileStore:
    store = FileStore(tmp_path / "store")
    for seed, version in enumerate(VERSIONS, start=1):
        publish_release(
            store, make_small_release(tmp_path / f"build-{version}", seed=seed), version=version
        )
        sign_release(store, NAME, version, release_key.signer, check_files=False)
        promote(store, NAME, version)
    return store


def trusted_project(project_dir: Path, store: FileStore, key: KeyPair) -> Path:
    shutil.copy(key.public, project_dir / "release.pub")
    (project_dir / "tether.toml").write_text(
        f'store = "{store.root}"\n[trust]\nkeys = ["release.pub"]\n'
    )
    return project_dir


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def fetched(project_dir: Path) -> str:
    prepared = project_dir / "data" / "embedding_models" / NAME / PREPARED_FILE
    return str(json.loads(prepared.read_text())["release"])


# --- a deliberate downgrade is one step ---------------------------------------------------


def test_hand_edited_downgrade_after_a_deliberate_one_is_refused(
    signed_store: FileStore, release_key: KeyPair, project_dir: Path
) -> None:
    trusted_project(project_dir, signed_store, release_key)
    models = project_dir / "data" / "embedding_models"
    assert run("pin", "1.0.1")[0] == 0
    assert run("fetch", "--variant", "int8")[0] == 0
    code, output = run("pin", "--previous")  # deliberate: 1.0.1 -> 1.0.0, recorded
    assert (
        code == 0
        and f"recorded the deliberate downgrade in {project_dir / DOWNGRADE_FILE}" in output
    )
    assert run("fetch", "--variant", "int8")[0] == 0
    assert highest_verified(models, NAME) == "1.0.0"

    # The PR flow: the pin raised by hand (the record stays), fetched ...
    write_pin(project_dir, "1.0.1")
    assert run("fetch", "--variant", "int8")[0] == 0
    assert highest_verified(models, NAME) == "1.0.1"
    # ... and lowered by hand again: the old record does not allow 1.0.0 a second time.
    write_pin(project_dir, "1.0.0")
    code, output = run("fetch", "--variant", "int8")
    assert code == 1, output
    assert "refusing local-text-retrieval-v1 model-v1.0.0" in output
    assert "since it took the deliberate downgrade to model-v1.0.0" in output
    assert "tether pin 1.0.1, then tether pin 1.0.0 --allow-downgrade" in output
    assert fetched(project_dir) == "model-v1.0.1"

    # The fix it names works, with the pin still at 1.0.0: a new deliberate step.
    assert run("pin", "1.0.1")[0] == 0
    assert run("pin", "1.0.0", "--allow-downgrade")[0] == 0
    assert run("fetch", "--variant", "int8")[0] == 0
    assert fetched(project_dir) == "model-v1.0.0"


def test_the_step_is_checked_against_each_dest_root(
    signed_store: FileStore, release_key: KeyPair, tmp_path: Path
) -> None:
    project = tmp_path / "app"
    project.mkdir()
    policy = replace(release_key.policy, project_dir=project)

    def fetch(version: str, root: str) -> None:
        fetch_release(signed_store, NAME, version, tmp_path / root, variants="int8", trust=policy)

    fetch("1.0.2", "ahead")  # verified more than the step knows of
    fetch("1.0.1", "at-top")
    pin_release(signed_store, NAME, "1.0.1", project)
    pin_release(signed_store, NAME, "1.0.0", project, allow_downgrade=True)
    record = json.loads((project / DOWNGRADE_FILE).read_text())
    assert (record["from"], record["to"]) == ("1.0.1", "1.0.0") and record["id"]

    with pytest.raises(RollbackError, match=r"above the deliberate step model-v1\.0\.1 -> "):
        fetch("1.0.0", "ahead")
    fetch("1.0.0", "at-top")  # exactly the step
    fetch("1.0.0", "fresh")  # a root that verified nothing has nothing to protect
    assert highest_verified(tmp_path / "ahead", NAME) == "1.0.2"
    assert highest_verified(tmp_path / "at-top", NAME) == "1.0.0"

    # The record allows its own version only.
    fetch("1.0.2", "other")
    with pytest.raises(RollbackError, match="not lowered on purpose"):
        fetch("1.0.1", "other")

    # Two deliberate steps down (1.0.2 -> 1.0.1 -> 1.0.0) are one step 1.0.2 -> 1.0.0.
    pin_release(signed_store, NAME, "1.0.2", project)
    assert not (project / DOWNGRADE_FILE).exists()  # pinning forward clears the record
    pin_release(signed_store, NAME, "1.0.1", project, allow_downgrade=True)
    pin_release(signed_store, NAME, "1.0.0", project, allow_downgrade=True)
    record = json.loads((project / DOWNGRADE_FILE).read_text())
    assert (record["from"], record["to"]) == ("1.0.2", "1.0.0")
    fetch("1.0.0", "ahead")
    assert highest_verified(tmp_path / "ahead", NAME) == "1.0.0"


def test_a_record_from_before_steps_had_ids_still_works_once(
    signed_store: FileStore, release_key: KeyPair, tmp_path: Path
) -> None:
    project = tmp_path / "app"
    project.mkdir()
    policy = replace(release_key.policy, project_dir=project)
    root = tmp_path / "models"
    fetch_release(signed_store, NAME, "1.0.1", root, variants="int8", trust=policy)
    (project / DOWNGRADE_FILE).write_text(
        json.dumps({"schema": 1, "name": NAME, "from": "1.0.1", "to": "1.0.0", "at": "x"})
    )
    fetch_release(signed_store, NAME, "1.0.0", root, variants="int8", trust=policy)
    fetch_release(signed_store, NAME, "1.0.1", root, variants="int8", trust=policy)
    with pytest.raises(RollbackError, match="allows that step once"):
        fetch_release(signed_store, NAME, "1.0.0", root, variants="int8", trust=policy)


# --- tether init --force ------------------------------------------------------------------


def test_init_force_never_lowers_the_pin(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / ".model-version").write_text("2.3.4\n")
    with caplog.at_level(logging.WARNING, logger="tether.bundle.init"):
        code, output = run("init", "--project", str(tmp_path), "--force", "--pin", "1.2.0")
    assert code == 0, output
    assert read_pin(tmp_path) == "2.3.4"
    assert f"kept  {tmp_path / '.model-version'}" in output
    (warning,) = [r.getMessage() for r in caplog.records]  # on stderr, with how to, on purpose
    assert "--force never lowers the pin" in warning and "tether pin 1.2.0 --allow-down" in warning
    assert run("init", "--project", str(tmp_path), "--force", "--pin", "v2.4.0")[0] == 0
    assert read_pin(tmp_path) == "2.4.0"  # raising it is fine
    (tmp_path / ".model-version").write_text("not a version\n")
    assert run("init", "--project", str(tmp_path), "--force")[0] == 0
    assert read_pin(tmp_path) == "1.0.0"  # a malformed pin is replaced


# --- CI never publishes into the workspace it deletes --------------------------------------


def test_ci_refuses_a_workspace_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project_dir: Path
) -> None:
    build = make_small_release(tmp_path / "build")
    workspace = tmp_path / "ws"
    (workspace / "app").mkdir(parents=True)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    monkeypatch.delenv("CI_PROJECT_DIR", raising=False)
    with pytest.raises(ConfigError, match=r"inside the CI workspace .*ws, which is deleted") as err:
        publish_release(FileStore(workspace / "app" / "releases"), build)
    assert "--store, $TETHER_STORE or store = in tether.toml" in (err.value.hint or "")
    assert not (workspace / "app" / "releases").exists()  # refused before anything was written

    publish_release(FileStore(tmp_path / "outside"), build)  # a folder outside it is fine
    monkeypatch.setenv("CI", "false")
    publish_release(FileStore(workspace / "app" / "releases"), build)

    # GitLab's variable; and the git checkout holding the current folder counts as well.
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("GITHUB_WORKSPACE")
    monkeypatch.setenv("CI_PROJECT_DIR", str(workspace))
    with pytest.raises(ConfigError):
        publish_release(FileStore(workspace / "elsewhere"), build)
    monkeypatch.delenv("CI_PROJECT_DIR")
    (project_dir / ".git").mkdir()
    (project_dir / "sub").mkdir()
    monkeypatch.chdir(project_dir / "sub")
    with pytest.raises(ConfigError, match="inside the CI workspace"):
        publish_release(FileStore(project_dir / "releases"), build)

    class Remote:
        url = "oci://registry.example/models"

    refuse_workspace_store(Remote())  # type: ignore[arg-type]  # not a folder: not checked


def test_generated_workflow_refuses_the_default_store_in_ci(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build-model.yml's own `tether release` line, as the job runs it with TETHER_STORE
    unset (`${{ vars.TETHER_STORE }}` is empty) in its checkout."""
    import yaml

    (project_dir / ".git").mkdir()
    assert run("init", "--ci", "github")[0] == 0
    workflow = yaml.safe_load((project_dir / ".github/workflows/build-model.yml").read_text())
    steps = workflow["jobs"]["build-model"]["steps"]
    (script,) = [s["run"] for s in steps if s.get("id") == "release"]
    line = next(ln.strip() for ln in script.splitlines() if "tether release" in ln)
    args = shlex.split(line.split(">")[0])[1:]
    assert args == ["release", "--from", "build/model", "--version", "$VERSION", "--json"]
    make_small_release(project_dir / "build" / "model")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project_dir))
    monkeypatch.setenv("TETHER_STORE", "")
    code, output = run(*[a.replace("$VERSION", "1.0.0") for a in args])
    assert code == 2, output
    assert "refusing to publish to" in output and "inside the CI workspace" in output
    assert not (project_dir / "releases").exists()
