"""The hf:// store beyond the shared contract: the release as the Hub's client sees it (read
straight from olah), tags that stay on their release commit, the race lost at the tag,
tags tether did not make, the token, the URL grammar, one repository per version
(``{version}`` in the name, listed from its index repository), and the opt-in live test.

Writes go through tests/hf_write_server.py into the git repository olah serves; reads
through olah (behind the write server's pass-through unless a test reads olah directly).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.factories import write_random
from tests.store_harness import HF_ORG, HfStandIn, StoreHarness
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StoreAuthError,
    StoreURLError,
)
from tether.names import HF_RECORD_BRANCH
from tether.spine import (
    PROMOTED,
    fetch_release,
    list_releases,
    promote,
    publish_release,
    withdraw,
)
from tether.stores import open_store
from tether.stores.hf import HfLocation, HfStore, HfVersionedStore, index_name, parse_hf_url


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
        (
            "hf://org/phi3-avro-vllm-v{version}",
            HfLocation("model", "org/phi3-avro-vllm-v{version}", "main"),
        ),
        (
            "hf://datasets/org/{version}-evals@dev",
            HfLocation("dataset", "org/{version}-evals", "dev"),
        ),
    ],
)
def test_url_grammar(url: str, location: HfLocation) -> None:
    assert parse_hf_url(url) == location


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("hf://name", "does not name one repository"),
        ("hf://a/b/c/d", "does not name one repository"),
        ("hf://org/na me", "does not name one repository"),
        ("hf://org/name?endpoint=x", "has options"),
        ("hf://org/name@tether-records", "cannot hold releases"),
        ("hf://org/-name", "does not name a valid repository"),
        ("hf://org/a--b", "does not name a valid repository"),
        ("hf://{version}/phi3", "outside the repository name"),
        ("hf://org-{version}/phi3", "outside the repository name"),
        ("hf://org/phi3@v{version}", "outside the repository name"),
        ("hf://org/phi3-{version}-{version}", "has 2 {version} placeholders"),
        ("hf://org/phi3-v{version}@b{version}", "has 2 {version} placeholders"),
        ("hf://org/phi3-{ver}", "a placeholder other than {version}"),
        ("hf://org/phi3-{version", "a placeholder other than {version}"),
        ("hf://org/v{version}", "is only {version}"),
        ("hf://org/phi3--v{version}", "does not name a valid repository"),
        (f"hf://org/{'p' * 95}-v{{version}}", "does not name a valid repository"),
    ],
)
def test_url_grammar_refuses(url: str, says: str) -> None:
    with pytest.raises(StoreURLError, match=re.escape(says)) as caught:
        parse_hf_url(url)
    assert "\n" not in caught.value.one_line() and caught.value.hint


@pytest.mark.parametrize(
    ("pattern", "index"),
    [
        ("phi3-avro-vllm-v{version}", "phi3-avro-vllm-releases"),
        ("phi3-avro-vllm-{version}", "phi3-avro-vllm-releases"),
        ("{version}-phi3", "phi3-releases"),
        ("phi3_{version}_gguf", "phi3-gguf-releases"),
        ("phi3v{version}", "phi3v-releases"),  # a v that belongs to the name stays
        ("v{version}", ""),
    ],
)
def test_index_repository_name(pattern: str, index: str) -> None:
    assert index_name(pattern) == index


# --- one repository per version -----------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_one_repository_per_version(
    harness_hf_versions: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path, tmp_path: Path
) -> None:
    """avro's layout: 2.0.0 and 2.0.1 each in a repository of its own, listed from the
    index, fetched, and read by huggingface_hub straight from olah."""
    from huggingface_hub import snapshot_download

    store = harness_hf_versions.store
    assert isinstance(store, HfVersionedStore)
    pattern = store.location.repo_id
    repo = {v: pattern.replace("{version}", v) for v in ("2.0.0", "2.0.1")}
    sources = {}
    for version, seed in (("2.0.0", 1), ("2.0.1", 5)):
        write_random(artifact_dir / "model.gguf", 300_000, seed=seed)
        publish_release(store, artifact_dir, name="demo", version=version)
        sources[version] = _tree(artifact_dir)
    fresh = open_store(harness_hf_versions.url)  # another process: nothing cached
    assert fresh.names() == ["demo"]
    assert sorted(fresh.versions("demo")) == ["2.0.0", "2.0.1"]
    for version in ("2.0.0", "2.0.1"):
        got = fetch_release(fresh, "demo", version, tmp_path / "models" / version)
        assert {rel: _tree(got.folder)[rel] for rel in sources[version]} == sources[version]
        folder = Path(
            snapshot_download(
                repo[version],
                revision=f"model-v{version}",
                endpoint=hf_standin.olah.url,  # olah itself, no pass-through
                cache_dir=str(tmp_path / "hf-cache"),
            )
        )
        files = _tree(folder)
        assert set(files) == set(fresh.files("demo", version))
        assert {rel: files[rel] for rel in sources[version]} == sources[version]
        # each repository holds its own version's tag and nothing else
        assert _git(hf_standin.repo_dir(repo[version]), "tag", "--list") == f"model-v{version}"
    index = hf_standin.repo_dir(f"{HF_ORG}/{index_name(pattern.split('/')[1])}")
    listed = _git(index, "ls-tree", "-r", "--name-only", HF_RECORD_BRANCH).split()
    assert sorted(p for p in listed if p != ".gitattributes") == [
        "claims/model-v2.0.0/demo.json",
        "claims/model-v2.0.1/demo.json",
    ]
    # the record lives in the version's own repository; the other one is untouched
    promote(fresh, "demo", "2.0.0")
    assert [
        (r.version, r.state) for r in list_releases(open_store(harness_hf_versions.url), "demo")
    ] == [
        ("2.0.0", PROMOTED),
        ("2.0.1", "pre-release"),
    ]
    records = _git(
        hf_standin.repo_dir(repo["2.0.0"]), "ls-tree", "-r", "--name-only", HF_RECORD_BRANCH
    )
    assert "records/demo/model-v2.0.0/state.json" in records.split()
    with pytest.raises(ReleaseExistsError, match=r"already has demo model-v2\.0\.0"):
        publish_release(fresh, artifact_dir, name="demo", version="2.0.0")


def test_per_version_refuses_a_version_that_makes_no_repository_id(
    harness_hf_versions: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from tether.cli import main

    store = harness_hf_versions.store
    for version in ("2.0.0-rc--1", f"2.0.0-{'r' * 90}"):
        with pytest.raises(StoreURLError, match="which is no Hub repository id") as caught:
            publish_release(store, artifact_dir, name="demo", version=version)
        assert "hf://org/name" in caught.value.hint
    project = tmp_path / "project"
    project.mkdir()
    done = CliRunner().invoke(
        main,
        [
            "release",
            "--from",
            str(artifact_dir),
            "--version",
            "2.0.0-rc--1",
            "--store",
            harness_hf_versions.url,
            "--name",
            "demo",
            "--project",
            str(project),
        ],
    )
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    error = [line for line in done.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "2.0.0-rc--1" in error[0] and "hf://org/name" in error[0]
    # refused before any write: no repository of the pattern, no index
    prefix = store.location.repo_id.split("/")[1].split("-v{version}")[0]
    assert not list((hf_standin.writer.mirrors / "models" / HF_ORG).glob(f"{prefix}*"))


def test_per_version_a_claim_without_its_release_is_no_version(
    harness_hf_versions: StoreHarness, artifact_dir: Path
) -> None:
    """A publisher that died after claiming 2.0.1 in the index: 2.0.1 is not listed, and
    publishing it is refused with the claim's file to delete."""
    from huggingface_hub import CommitOperationAdd

    store = harness_hf_versions.store
    assert isinstance(store, HfVersionedStore)
    publish_release(store, artifact_dir, name="demo", version="2.0.0")  # makes the index
    store.index.api.create_commit(
        store.index.repo,
        operations=[
            CommitOperationAdd(path_in_repo="claims/model-v2.0.1/demo.json", path_or_fileobj=b"{}")
        ],
        commit_message="a publisher that died after claiming",
        revision=HF_RECORD_BRANCH,
    )
    assert store.versions("demo") == ["2.0.0"]
    with pytest.raises(ReleaseExistsError, match="claimed by demo") as caught:
        publish_release(store, artifact_dir, name="demo", version="2.0.1")
    assert store.index.repo in str(caught.value)
    assert "claims/model-v2.0.1/demo.json" in caught.value.hint
    assert store.versions("demo") == ["2.0.0"]


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


def test_per_version_refuses_a_version_its_repository_already_holds(
    harness_hf_versions: StoreHarness, artifact_dir: Path
) -> None:
    """2.0.0 published straight to its repository (no index claim): not listed by the
    pattern, but readable through it, and never published over."""
    store = harness_hf_versions.store
    assert isinstance(store, HfVersionedStore)
    direct = open_store(store.store_for("2.0.0").url)
    publish_release(direct, artifact_dir, name="demo", version="2.0.0")
    assert store.versions("demo") == []
    assert store.files("demo", "2.0.0") == direct.files("demo", "2.0.0")
    with pytest.raises(ReleaseExistsError, match=r"tag model-v2\.0\.0 of .*-v2\.0\.0\)"):
        publish_release(store, artifact_dir, name="demo", version="2.0.0")
    assert store.versions("demo") == []  # the refused publish left no claim in the index


def test_a_card_the_hub_refuses_is_a_one_line_error_and_no_release(
    harness: StoreHarness, hf_standin: HfStandIn, artifact_dir: Path
) -> None:
    """create_commit asks the Hub (/api/validate-yaml) about a README.md first; a refused
    card is a StoreUnavailableError naming it, and the claim is gone."""
    from tether.errors import StoreUnavailableError

    store = _store(harness)
    (artifact_dir / "README.md").write_text("---\nlicense: [apache-2.0\n---\n# demo\n")
    with pytest.raises(StoreUnavailableError, match=r"refused the README\.md") as caught:
        publish_release(store, artifact_dir, name="demo", version="1.0.0")
    assert "\n" not in caught.value.one_line()
    assert "front matter" in caught.value.hint
    assert ("POST", "/api/validate-yaml") in hf_standin.writer.requests
    assert store.versions("demo") == []
    records = _git(
        hf_standin.repo_dir(store.repo), "ls-tree", "-r", "--name-only", HF_RECORD_BRANCH
    )
    assert "claims/" not in records
    (artifact_dir / "README.md").write_text("---\nlicense: apache-2.0\n---\n# demo\n")
    publish_release(store, artifact_dir, name="demo", version="1.0.0")
    assert "README.md" in store.files("demo", "1.0.0")


def test_per_version_a_publish_that_fails_after_its_tag_stays_listed(
    harness_hf_versions: StoreHarness, artifact_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after the version's repository was tagged: the index claim
    stays, so the release is listed and never published over; a failure before the tag
    takes the claim back (tests the two sides of HfVersionedStore.publish's cleanup)."""
    store = harness_hf_versions.store
    assert isinstance(store, HfVersionedStore)
    real_publish = HfStore.publish

    def tagged_then_dropped(self: HfStore, *args: object) -> None:
        real_publish(self, *args)  # type: ignore[arg-type]
        raise ConnectionError("connection reset after the tag was made")

    monkeypatch.setattr(HfStore, "publish", tagged_then_dropped)
    with pytest.raises(ConnectionError):
        publish_release(store, artifact_dir, name="demo", version="2.0.0")

    def dropped_before_the_tag(self: HfStore, *args: object) -> None:
        raise ConnectionError("connection reset before anything was committed")

    monkeypatch.setattr(HfStore, "publish", dropped_before_the_tag)
    with pytest.raises(ConnectionError):
        publish_release(store, artifact_dir, name="demo", version="2.0.1")
    monkeypatch.setattr(HfStore, "publish", real_publish)
    fresh = open_store(harness_hf_versions.url)
    assert fresh.versions("demo") == ["2.0.0"]
    with pytest.raises(ReleaseExistsError):
        publish_release(fresh, artifact_dir, name="demo", version="2.0.0")
    publish_release(fresh, artifact_dir, name="demo", version="2.0.1")  # its claim was taken back
    assert fresh.versions("demo") == ["2.0.0", "2.0.1"]
