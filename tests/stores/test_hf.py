"""The hf:// store beyond the shared contract: the release as the Hub's client sees it (read
straight from olah), tags that stay on their release commit, the race lost at the tag,
tags tether did not make, the token, the URL grammar, and the opt-in live test.

Writes go through tests/hf_write_server.py into the git repository olah serves; reads
through olah (behind the write server's pass-through unless a test reads olah directly).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.factories import write_random
from tests.store_harness import HfStandIn, StoreHarness
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreURLError,
)
from tether.names import HF_RECORD_BRANCH
from tether.spine import fetch_release, promote, publish_release, withdraw
from tether.stores import open_store
from tether.stores.hf import HfLocation, HfStore, parse_hf_url


def _store(harness: StoreHarness) -> HfStore:
    store = harness.store
    assert isinstance(store, HfStore)
    return store


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_snapshot_download_from_olah_gives_exactly_the_release(
    harness: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path, tmp_path: Path
) -> None:
    from huggingface_hub import snapshot_download

    store = _store(harness)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    (artifact_dir / "extra.txt").write_text("only in 1.1.0\n")
    publish_release(store, artifact_dir, name="demo", version="1.1.0")
    got = {}
    for version in ("1.0.0", "1.1.0"):
        folder = Path(
            snapshot_download(
                store.repo,
                revision=f"model-v{version}",
                endpoint=hf_standin.olah.url,  # olah itself, no pass-through
                cache_dir=str(tmp_path / "hf-cache"),
            )
        )
        got[version] = {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*")
            if p.is_file()
        }
    assert set(got["1.0.0"]) == set(store.files("demo", "1.0.0"))
    assert set(got["1.0.0"]) == {
        "model.gguf",
        "Modelfile",
        "MANIFEST.txt",
        "provenance.intoto.json",
    }
    assert set(got["1.1.0"]) == set(got["1.0.0"]) | {"extra.txt"}
    model = hashlib.sha256((artifact_dir / "model.gguf").read_bytes()).hexdigest()
    assert got["1.0.0"]["model.gguf"] == model
    # the model went the LFS way (batch + PUT), as the Hub stores it; Modelfile as a blob
    repo = hf_standin.repo_dir(store.repo)
    assert _git(repo, "show", "model-v1.0.0:model.gguf") == (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{model}\nsize 300000"
    )
    assert _git(repo, "show", "model-v1.0.0:Modelfile") == "FROM ./model.gguf"
    assert any(
        method == "PUT" and path.endswith(model) for method, path in hf_standin.writer.requests
    )


def test_state_changes_leave_tag_and_release_commit(
    harness: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path
) -> None:
    store = _store(harness)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    repo = hf_standin.repo_dir(store.repo)
    tagged = _git(repo, "rev-parse", "model-v1.0.0^{commit}")
    main = _git(repo, "rev-parse", "main")
    assert tagged == main
    promote(store, "demo", "1.0.0")
    withdraw(store, "demo", "1.0.0", reason="recall")
    assert _git(repo, "rev-parse", "model-v1.0.0^{commit}") == tagged
    assert _git(repo, "rev-parse", "main") == main  # the record went to its own branch
    records = _git(repo, "ls-tree", "-r", "--name-only", HF_RECORD_BRANCH).splitlines()
    assert "records/demo/model-v1.0.0/state.json" in records
    assert "claims/model-v1.0.0/demo.json" in records
    # the release commit holds the release's files and nothing else (no .gitattributes)
    assert sorted(_git(repo, "ls-tree", "-r", "--name-only", tagged).splitlines()) == sorted(
        store.files("demo", "1.0.0")
    )


class _Overtaken(HfStore):
    """A publisher that another publisher overtakes at the last step: between its commit and
    its tag, someone tags another commit with the same version (without tether's claim)."""

    rival: str = ""

    def _commit_release(self, name, version, files, where):  # type: ignore[no-untyped-def]
        ours = super()._commit_release(name, version, files, where)
        parent = _git(self.repo_path, "rev-parse", f"{ours}^")
        self.api.create_tag(self.repo, tag=f"model-v{version}", revision=parent)
        type(self).rival = parent
        return ours


def test_race_lost_at_the_tag_names_both_commits(
    harness: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path
) -> None:
    plain = _store(harness)
    store = _Overtaken(plain.url, plain.location, plain.endpoint, plain.token)
    store.repo_path = hf_standin.repo_dir(plain.repo)  # type: ignore[attr-defined]
    with pytest.raises(ReleaseExistsError, match="another publisher won the race") as caught:
        publish_release(store, artifact_dir, name="demo", version="1.0.0")
    ours = _git(hf_standin.repo_dir(plain.repo), "rev-parse", "main")
    assert _Overtaken.rival[:12] in str(caught.value)
    assert ours[:12] in str(caught.value)
    # our claim is gone and the rival's tag (no tether claim) is no release of demo
    assert plain.versions("demo") == []
    records = _git(
        hf_standin.repo_dir(plain.repo), "ls-tree", "-r", "--name-only", HF_RECORD_BRANCH
    )
    assert "claims/model-v1.0.0" not in records


def test_refuses_a_tag_tether_did_not_make(
    harness: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path
) -> None:
    store = _store(harness)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    store.api.create_tag(store.repo, tag="model-v2.0.0", revision="main")  # by hand
    with pytest.raises(ReleaseExistsError, match=r"tag model-v2\.0\.0 exists \(not made by tether"):
        publish_release(store, artifact_dir, name="demo", version="2.0.0")
    assert store.versions("demo") == ["1.0.0"]


def test_a_fresh_store_reads_a_release(
    harness: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.0")
    fresh = open_store(harness.url)  # another process's view: nothing cached
    result = fetch_release(fresh, "demo", "1.0.0", tmp_path / "models")
    assert (result.folder / "model.gguf").read_bytes() == (artifact_dir / "model.gguf").read_bytes()


def test_wrong_token_is_an_auth_error(
    harness: StoreHarness, artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(StoreAuthError, match="refused creating the repository") as caught:
        publish_release(open_store(harness.url), artifact_dir, name="demo", version="1.0.0")
    assert "HF_TOKEN" in caught.value.hint


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("hf://org/name", HfLocation("model", "org/name", "main")),
        ("hf://models/org/name", HfLocation("model", "org/name", "main")),
        ("hf://datasets/org/name@dev", HfLocation("dataset", "org/name", "dev")),
        ("hf://spaces/org/my-space", HfLocation("space", "org/my-space", "main")),
        (
            "hf://org/phi3-avro-vllm-v2.0.0@refs%2Fpr%2F1",
            HfLocation("model", "org/phi3-avro-vllm-v2.0.0", "refs/pr/1"),
        ),
    ],
)
def test_url_grammar(url: str, location: HfLocation) -> None:
    assert parse_hf_url(url) == location


@pytest.mark.parametrize(
    "url",
    [
        "hf://name",
        "hf://a/b/c/d",
        "hf://org/na me",
        "hf://org/name?endpoint=x",
        "hf://org/name@tether-records",
    ],
)
def test_url_grammar_refuses(url: str) -> None:
    with pytest.raises(StoreURLError):
        parse_hf_url(url)


# the shared harness, but only its hf kind, for the tests above
@pytest.fixture
def harness(harness_hf: StoreHarness) -> StoreHarness:
    return harness_hf


@pytest.mark.live_hf
def test_live_hf_round_trip(artifact_dir: Path, tmp_path: Path) -> None:
    """Deselected unless TETHER_LIVE_HF_REPO=org/name (a scratch repository) and HF_TOKEN
    (write access) are set; then it must pass, and fails with the reason."""
    from huggingface_hub import snapshot_download

    repo = os.environ.get("TETHER_LIVE_HF_REPO", "")
    if not os.environ.get("HF_TOKEN"):
        pytest.fail("TETHER_LIVE_HF_REPO is set but HF_TOKEN is not")
    store = open_store(f"hf://{repo}")
    version = f"0.0.{int.from_bytes(os.urandom(3), 'big')}"
    publish_release(store, artifact_dir, name="demo", version=version)
    result = fetch_release(store, "demo", version, tmp_path / "models")
    assert (result.folder / "model.gguf").read_bytes() == (artifact_dir / "model.gguf").read_bytes()
    folder = Path(
        snapshot_download(repo, revision=f"model-v{version}", cache_dir=str(tmp_path / "c"))
    )
    assert {p.name for p in folder.iterdir()} == set(store.files("demo", version))
    promote(store, "demo", version)
    with pytest.raises(ReleaseExistsError):
        publish_release(store, artifact_dir, name="demo", version=version)
    print(f"live: published {version} to {repo}")


def test_cli_release_list_show(harness: StoreHarness, artifact_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tether.cli import main

    project = tmp_path / "project"
    project.mkdir()
    common = ["--store", harness.url, "--name", "demo", "--project", str(project)]
    runner = CliRunner()
    done = runner.invoke(
        main, ["release", "--from", str(artifact_dir), "--version", "1.0.0", *common]
    )
    assert done.exit_code == 0, done.output
    listed = runner.invoke(main, ["list", *common])
    assert listed.exit_code == 0, listed.output
    assert "1.0.0" in listed.output
    shown = runner.invoke(main, ["show", "1.0.0", *common])
    assert shown.exit_code == 0, shown.output
    assert "pre-release" in shown.output
    again = runner.invoke(
        main, ["release", "--from", str(artifact_dir), "--version", "1.0.0", *common]
    )
    assert again.exit_code != 0
    assert "already has demo model-v1.0.0" in again.output


def test_a_moved_tag_is_refused_before_download(
    harness: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    """Someone moves the tag to a commit with another model.gguf and the old MANIFEST.txt:
    the tree's LFS sha256 differs from MANIFEST.txt, refused before a byte is fetched."""
    from huggingface_hub import CommitOperationAdd

    store = _store(harness)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    swapped = tmp_path / "swapped.gguf"
    write_random(swapped, 300_000, seed=9)
    commit = store.api.create_commit(
        store.repo,
        operations=[CommitOperationAdd(path_in_repo="model.gguf", path_or_fileobj=str(swapped))],
        commit_message="swap",
    )
    store.api.delete_tag(store.repo, tag="model-v1.0.0")
    store.api.create_tag(store.repo, tag="model-v1.0.0", revision=commit.oid)
    with pytest.raises(IntegrityError, match=r"model\.gguf in commit .* does not match MANIFEST"):
        fetch_release(open_store(harness.url), "demo", "1.0.0", tmp_path / "models")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("model.gguf"))


def test_mirror_into_hf_and_onto_a_branch(
    harness: StoreHarness, harness_file: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path
) -> None:
    from tether.spine.mirroring import mirror

    publish_release(harness_file.store, artifact_dir, name="demo", version="1.0.0")
    withdraw(harness_file.store, "demo", "1.0.0", reason="recall")
    on_branch = open_store(f"{harness.url}@releases")  # created from main on first publish
    mirror(harness_file.store, on_branch)
    assert on_branch.versions("demo") == ["1.0.0"]
    assert on_branch.read_record("demo", "1.0.0", "state.json") == harness_file.store.read_record(
        "demo", "1.0.0", "state.json"
    )
    repo = hf_standin.repo_dir(_store(harness).repo)
    assert _git(repo, "rev-parse", "model-v1.0.0^{commit}") == _git(repo, "rev-parse", "releases")


def test_a_claim_left_by_a_dead_publisher_blocks_with_the_fix(
    harness: StoreHarness, artifact_dir: Path
) -> None:
    from huggingface_hub import CommitOperationAdd

    store = _store(harness)
    publish_release(store, artifact_dir, name="demo", version="1.0.0")  # makes the branches
    store.api.create_commit(
        store.repo,
        operations=[
            CommitOperationAdd(path_in_repo="claims/model-v1.0.1/demo.json", path_or_fileobj=b"{}")
        ],
        commit_message="a publisher that died after claiming",
        revision=HF_RECORD_BRANCH,
    )
    with pytest.raises(ReleaseExistsError, match="claimed by demo") as caught:
        publish_release(store, artifact_dir, name="demo", version="1.0.1")
    assert "claims/model-v1.0.1/demo.json" in caught.value.hint
    assert store.versions("demo") == ["1.0.0"]  # a claim without a tag is no release
    with pytest.raises(ReleaseNotFoundError):
        store.write_record("demo", "1.0.1", "state.json", b"{}")
    assert store.read_record("demo", "1.0.1", "state.json") is None
