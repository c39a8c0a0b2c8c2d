"""`tether notes` lists the consuming repo's commits between two releases (issue 16).

A real git repository in a temp folder is the project: commits, a release, more commits,
another release; each release records the commit it was made from (MANIFEST.txt Build
``commit``) and the notes list exactly the commits in between, or say in one line why not.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import write_random
from tether.cli import main
from tether.manifest import source_commit
from tether.names import GITHUB_SHA_ENV
from tether.spine import read_manifest
from tether.stores import open_store


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits by a fixed author; no CI commit variable from the machine running the tests."""
    monkeypatch.delenv(GITHUB_SHA_ENV, raising=False)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(key, raising=False)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test Author")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # no signing or hooks of the user's


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, subject: str) -> str:
    """A commit changing a file of the repo; its full id."""
    (repo / "app.py").write_text(f"# {subject}\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", subject)
    return git(repo, "rev-parse", "HEAD")


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    git(folder, "init", "-q")
    return folder


def release(project: Path, store: Path, version: str, seed: int) -> None:
    """A GGUF export released from ``project`` (the consuming repo)."""
    artifact = project.parent / f"export-{seed}"
    write_random(artifact / "model.gguf", 50_000, seed=seed)
    cli(
        "release",
        "--from",
        str(artifact),
        "--name",
        "phi3-gguf",
        "--version",
        version,
        "--store",
        str(store),
        "--project",
        str(project),
    )


def commits_section(notes: str) -> list[str]:
    section = notes.split("## Commits\n\n", 1)[1]
    return section.split("\n\n", 1)[0].splitlines()


def test_notes_list_exactly_the_commits_between_two_releases(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    commit(repo, "start the app")
    first = commit(repo, "use phi3 q4_k_m")
    release(repo, store, "2.0.0", seed=1)
    subjects = ["tune the prompt", "retrain on new data"]
    between = [commit(repo, subject) for subject in subjects]
    release(repo, store, "2.0.1", seed=2)
    commit(repo, "after the release")  # HEAD moves on: not part of the notes

    opened = open_store(str(store))
    assert read_manifest(opened, "phi3-gguf", "2.0.0")[0].fact("Build", "commit") == first
    assert read_manifest(opened, "phi3-gguf", "2.0.1")[0].fact("Build", "commit") == between[-1]

    common = ["--name", "phi3-gguf", "--store", str(store), "--project", str(repo)]
    lines = commits_section(cli("notes", "2.0.1", *common))
    listed = [line.removeprefix("- ").split(" ", 1) for line in lines]
    assert [said for _, said in listed] == subjects[::-1]  # newest first, as git log
    for (short, _), full in zip(listed, between[::-1], strict=True):
        assert len(short) >= 7 and full.startswith(short)
    notes = cli("notes", "2.0.1", *common)
    assert "- commit:" not in notes  # the range is the section, not a fact diff


def test_repo_option_and_the_reasons_when_commits_cannot_be_listed(
    repo: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    common = ["--name", "phi3-gguf", "--store", str(store), "--project", str(repo)]
    commit(repo, "one")
    release(repo, store, "1.0.0", seed=1)
    release(repo, store, "1.0.1", seed=2)  # no commit in between
    assert commits_section(cli("notes", "1.0.1", *common))[0].startswith(
        "- none: both releases were made from commit"
    )
    commit(repo, "two")
    release(repo, store, "1.0.2", seed=3)

    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    said = commits_section(cli("notes", "1.0.2", *common, "--repo", str(elsewhere)))
    assert said == [f"- not listed: {elsewhere} is not a git work tree (pass --repo DIR)"]

    other = tmp_path / "other-repo"
    other.mkdir()
    git(other, "init", "-q")
    commit(other, "unrelated")
    said = commits_section(cli("notes", "1.0.2", *common, "--repo", str(other)))
    assert len(said) == 1 and said[0].startswith("- not listed: commit ")
    assert f"is not in {other}" in said[0]

    # The same repo, by --repo, from a project folder elsewhere.
    said = commits_section(
        cli(
            "notes",
            "1.0.2",
            "--name",
            "phi3-gguf",
            "--store",
            str(store),
            "--project",
            str(elsewhere),
            "--repo",
            str(repo),
        )
    )
    assert len(said) == 1 and said[0].endswith(" two")


def test_a_release_outside_a_git_work_tree_records_no_commit(tmp_path: Path) -> None:
    store = tmp_path / "store"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert source_commit(plain) is None
    release(plain, store, "1.0.0", seed=1)
    release(plain, store, "1.0.1", seed=2)
    manifest, _ = read_manifest(open_store(str(store)), "phi3-gguf", "1.0.1")
    assert "commit" not in manifest.sections["Build"]
    notes = cli(
        "notes", "1.0.1", "--name", "phi3-gguf", "--store", str(store), "--project", str(plain)
    )
    assert commits_section(notes) == [
        "- not listed: model-v1.0.0 and model-v1.0.1 recorded no source commit (released "
        "outside a git work tree, or by a tether that did not record it)"
    ]


def test_github_sha_wins_over_the_work_tree(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a workflow the checkout may be detached or merged: $GITHUB_SHA is the commit."""
    first = commit(repo, "one")
    commit(repo, "two")
    monkeypatch.setenv(GITHUB_SHA_ENV, first.upper())
    assert source_commit(repo) == first
    monkeypatch.setenv(GITHUB_SHA_ENV, "--output=/tmp/x")  # not a commit id: ignored
    assert source_commit(repo) == git(repo, "rev-parse", "HEAD")


def test_git_missing_means_no_commit(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit(repo, "one")
    monkeypatch.setenv("PATH", os.devnull)
    assert source_commit(repo) is None


def test_notes_against_a_later_release_say_the_range_runs_backwards(
    repo: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    commit(repo, "first")
    release(repo, store, "2.0.0", seed=1)
    commit(repo, "second")
    release(repo, store, "2.0.1", seed=2)
    common = ["--name", "phi3-gguf", "--store", str(store), "--project", str(repo)]
    lines = commits_section(cli("notes", "2.0.0", "--compare-with", "2.0.1", *common))
    assert len(lines) == 1 and "none in this direction" in lines[0], lines
