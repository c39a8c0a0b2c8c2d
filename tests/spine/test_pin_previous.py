"""Pins in guild's style: pre-releases pinned, never promoted. `tether pin --previous` goes
back to the previous pin in the git history of .model-version (the highest promoted
release when there is one) and withdraws nothing; `tether revert` withdraws because that
is what it is asked to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import NAME, make_small_release
from tether.cli import main
from tether.spine import promote, publish_release, read_pin, release_info, withdraw
from tether.stores.file import FileStore

VERSIONS = ("1.0.0", "1.0.1", "1.0.2", "1.0.3")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def git(project: Path, *args: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(project.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    """Four pre-releases, none promoted (guild's model releases)."""
    store = FileStore(tmp_path / "store")
    for seed, version in enumerate(VERSIONS, start=1):
        publish_release(
            store, make_small_release(tmp_path / f"b{version}", seed=seed), version=version
        )
    return store


def pinned_in_git(project: Path, store: FileStore, pins: list[str]) -> None:
    """A git checkout whose .model-version went through ``pins``, one commit each."""
    (project / "tether.toml").write_text(f'store = "{store.root}"\nname = "{NAME}"\n')
    git(project, "init", "-q")
    git(project, "add", "tether.toml")
    for pin in pins:
        (project / ".model-version").write_text(f"{pin}\n")
        git(project, "add", ".model-version")
        git(project, "commit", "-q", "-m", f"pin {pin}")


def test_pin_previous_takes_the_previous_pin_in_git_history(
    store: FileStore, project_dir: Path
) -> None:
    pinned_in_git(project_dir, store, ["1.0.0", "1.0.2", "1.0.3"])  # 1.0.1 never shipped
    code, out = run("pin", "--previous")
    assert code == 0, out
    assert read_pin(project_dir) == "1.0.2"
    assert "recorded the deliberate downgrade" in out
    # nothing withdrawn: pin --previous only moves the pin
    assert {release_info(store, NAME, v).state for v in VERSIONS} == {"pre-release"}


def test_pin_previous_skips_a_withdrawn_earlier_pin(store: FileStore, project_dir: Path) -> None:
    pinned_in_git(project_dir, store, ["1.0.0", "1.0.2", "1.0.3"])
    withdraw(store, NAME, "1.0.2", reason="broke search")
    assert run("pin", "--previous")[0] == 0
    assert read_pin(project_dir) == "1.0.0"


def test_a_promoted_release_below_the_pin_wins_over_history(
    store: FileStore, project_dir: Path
) -> None:
    pinned_in_git(project_dir, store, ["1.0.0", "1.0.2", "1.0.3"])
    promote(store, NAME, "1.0.1")
    assert run("pin", "--previous")[0] == 0
    assert read_pin(project_dir) == "1.0.1"


def test_pin_previous_without_history_says_how_to_go_back(
    store: FileStore, project_dir: Path
) -> None:
    (project_dir / "tether.toml").write_text(f'store = "{store.root}"\nname = "{NAME}"\n')
    (project_dir / ".model-version").write_text("1.0.3\n")  # not a git checkout
    code, out = run("pin", "--previous")
    assert code != 0
    assert "no promoted release or earlier pin in git history" in out
    assert "tether pin VERSION --allow-downgrade" in out
    assert read_pin(project_dir) == "1.0.3"


def test_revert_in_a_pre_release_flow_pins_back_and_withdraws_the_pin(
    store: FileStore, project_dir: Path
) -> None:
    pinned_in_git(project_dir, store, ["1.0.1", "1.0.3"])
    code, out = run("revert", "--reason", "int8 recall dropped")
    assert code == 0, out
    assert read_pin(project_dir) == "1.0.1"
    assert release_info(store, NAME, "1.0.3").state == "withdrawn"  # revert was asked to
    assert release_info(store, NAME, "1.0.2").state == "pre-release"
