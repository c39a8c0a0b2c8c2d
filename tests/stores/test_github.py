"""The github:// store beyond the shared contract: asset names, GitHub's publish order and
flags, the race's loser, digests checked before download, immutable releases, records in
the body, the real gh CLI, mirror, and the URL.

Exchanges go through Prism (GitHub's OpenAPI description) unless a test says why not:
statuses GitHub sends but its description does not list (401, a 422 on publishing a draft)
go to the stand-in directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.factories import write_random
from tests.github_server import Release
from tests.store_harness import (
    GITHUB_OWNER,
    GITHUB_TOKEN,
    GitHubStandIn,
    StoreHarness,
)
from tether.cli import main
from tether.errors import (
    IntegrityError,
    ManifestError,
    ReleaseExistsError,
    StoreAuthError,
    StoreUnavailableError,
    StoreURLError,
)
from tether.spine import fetch_release, promote, publish_release, read_manifest, withdraw
from tether.spine.mirroring import mirror
from tether.stores import open_store, select_store_url
from tether.stores.github import (
    GitHubStore,
    asset_name,
    body_records,
    open_github_store,
    release_path,
)


def _repo(harness: StoreHarness) -> str:
    store = harness.store
    assert isinstance(store, GitHubStore)
    return store.repo


def _releases(standin: GitHubStandIn, repo: str) -> list:
    return [r for r in standin.server.state.releases.values() if r.repo == repo]


# --- asset names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "asset"),
    [
        ("model.onnx", "model.onnx"),  # guild's flat files keep their names
        ("tokenizer.json", "tokenizer.json"),
        ("special_tokens_map.json", "special_tokens_map.json"),
        ("MANIFEST.txt", "MANIFEST.txt"),
        ("onnx/model.onnx", "onnx--model.onnx"),
        ("onnx/model_quantized.onnx", "onnx--model_quantized.onnx"),
        ("1_Pooling/config.json", "1_Pooling--config.json"),
        ("a/b/c-d.bin", "a--b--c-d.bin"),
    ],
)
def test_asset_names_are_flat_and_reverse_exactly(path: str, asset: str) -> None:
    assert asset_name(path) == asset
    assert release_path(asset) == path


@pytest.mark.parametrize(
    "path", ["a--b.bin", "dir-/x.bin", "dir/-x.bin", ".hidden", "my file.bin", "modèle.onnx"]
)
def test_names_github_would_change_are_refused_before_anything_is_created(
    harness_github: StoreHarness, github_standin: GitHubStandIn, tmp_path: Path, path: str
) -> None:
    folder = tmp_path / "odd"
    write_random(folder / "model.gguf", 100, seed=1)
    write_random(folder / path, 100, seed=2)
    with pytest.raises(ManifestError, match="cannot be a GitHub release asset name"):
        publish_release(harness_github.store, folder, name="demo", version="1.0.0")
    assert _releases(github_standin, _repo(harness_github)) == []


# --- publish: GitHub's order and flags ------------------------------------------------------


def test_publish_is_a_prerelease_never_latest_with_manifest_body(
    harness_github: StoreHarness, github_standin: GitHubStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "guild"
    write_random(folder / "model.onnx", 5000, seed=1)
    (folder / "vocab.txt").write_text("[PAD]\nhello\n")
    write_random(folder / "onnx/model_quantized.onnx", 3000, seed=2)
    publish_release(harness_github.store, folder, name="demo", version="1.0.0")
    [release] = _releases(github_standin, _repo(harness_github))
    assert (release.tag_name, release.draft, release.prerelease) == ("model-v1.0.0", False, True)
    assets = {github_standin.server.state.assets[i].name for i in release.assets}
    assert assets == {
        "MANIFEST.txt",
        "model.onnx",
        "vocab.txt",
        "onnx--model_quantized.onnx",
        "provenance.intoto.json",
    }
    _, raw = read_manifest(harness_github.store, "demo", "1.0.0")
    assert raw.decode() in release.body  # the notes show MANIFEST.txt
    assert release.name == "demo model-v1.0.0 (pre-release)"
    log = (github_standin.server.state.root / "access.log").read_text().splitlines()
    ours = [line for line in log if f"/{_repo(harness_github)}/" in line]
    # refuse-first checks, a draft, the assets (MANIFEST.txt last), then publish
    assert [line.split(" ")[0] for line in ours[:4]] == ["GET", "GET", "GET", "POST"]
    uploads = [i for i, line in enumerate(ours) if "/assets?name=" in line]
    assert ours[uploads[-1]].split("name=")[1].startswith("MANIFEST.txt")
    publish = next(i for i, line in enumerate(ours) if line.startswith("PATCH"))
    assert uploads[0] == 4 and publish > uploads[-1]


def test_an_existing_bare_tag_is_refused_before_anything_is_created(
    harness_github: StoreHarness, github_standin: GitHubStandIn, artifact_dir: Path
) -> None:
    github_standin.server.state.repo(_repo(harness_github)).tags["model-v1.0.0"] = "ab" * 20
    with pytest.raises(ReleaseExistsError, match=r"tag model-v1\.0\.0 exists"):
        publish_release(harness_github.store, artifact_dir, name="demo", version="1.0.0")
    assert _releases(github_standin, _repo(harness_github)) == []


def test_race_loser_on_githubs_422_deletes_its_draft(
    github_standin: GitHubStandIn, github_token: str, artifact_dir: Path
) -> None:
    """The other publisher publishes between our last check and our publish: GitHub answers
    422 already_exists, which its description does not list for update-release, so this
    test talks to the stand-in directly."""
    repo = "race422"
    state = github_standin.server.state
    store = open_store(f"github://{GITHUB_OWNER}/{repo}?api={github_standin.server.direct}")

    def sneak_in(release: Release, patch: dict) -> None:
        if patch.get("draft") is False:  # the other publisher's release, published just now
            state.before_patch = None
            rival = Release(
                state.next_id(),
                release.repo,
                release.tag_name,
                "rival",
                "",
                draft=True,
                prerelease=True,
                target_commitish="main",
                created_at=release.created_at,
            )
            state.releases[rival.id] = rival
            rival.draft = False
            state.repo(release.repo).tags[release.tag_name] = "cd" * 20

    state.before_patch = sneak_in
    try:
        with pytest.raises(ReleaseExistsError, match="another publisher won the race"):
            store.publish(
                "demo", "1.0.0", _sealed(artifact_dir, artifact_dir.parent / "sealed", "1.0.0")
            )
    finally:
        state.before_patch = None
    releases = _releases(github_standin, f"{GITHUB_OWNER}/{repo}")
    assert [(r.name, r.draft) for r in releases] == [("rival", False)]  # our draft is gone


def _sealed(folder: Path, out: Path, version: str) -> dict[str, Path]:
    """The files a publish of ``folder`` hands the store (a folder store builds them)."""
    sealed = open_store(str(out))
    publish_release(sealed, folder, name="demo", version=version)
    release = out / "demo" / f"model-v{version}"
    return {p.relative_to(release).as_posix(): p for p in release.rglob("*") if p.is_file()}


# --- downloads -------------------------------------------------------------------------------


def test_a_replaced_asset_is_refused_by_its_digest_before_download(
    harness_github: StoreHarness, github_standin: GitHubStandIn, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness_github.store, artifact_dir, name="demo", version="1.0.0")
    state = github_standin.server.state
    [release] = _releases(github_standin, _repo(harness_github))
    asset = next(state.assets[i] for i in release.assets if state.assets[i].name == "model.gguf")
    asset.path.write_bytes(b"replaced")  # what delete + upload of another file gives
    asset.size, asset.digest = 8, "sha256:" + hashlib.sha256(b"replaced").hexdigest()
    fresh = open_store(harness_github.url)
    log = state.root / "access.log"
    before = log.read_text().count(f"/_storage/{asset.id}")
    with pytest.raises(IntegrityError, match=r"model\.gguf .*GitHub's asset digest"):
        fetch_release(fresh, "demo", "1.0.0", tmp_path / "models")
    assert log.read_text().count(f"/_storage/{asset.id}") == before  # not a byte fetched


# --- immutable releases and the record -------------------------------------------------------


def test_immutable_releases_reported_and_state_changes_keep_assets(
    harness_github: StoreHarness, github_standin: GitHubStandIn, artifact_dir: Path, tmp_path: Path
) -> None:
    store = harness_github.store
    assert isinstance(store, GitHubStore)
    assert store.immutable_releases() is False
    assert "Enable release immutability" in store.facts()[0]
    github_standin.server.state.repo(store.repo).immutable = True
    assert store.immutable_releases() is True
    publish_release(store, artifact_dir, name="demo", version="1.0.0")  # draft, upload, publish
    [release] = _releases(github_standin, store.repo)
    assert release.immutable
    assets = list(release.assets)
    promote(store, "demo", "1.0.0")
    withdraw(store, "demo", "1.0.0", reason="recall dropped")
    assert release.assets == assets and release.prerelease  # never "latest" by itself
    assert release.name == "demo model-v1.0.0 (withdrawn)"
    state = json.loads(body_records(release.body)["state.json"])
    assert [e["event"] for e in state["history"]] == ["published", "promoted", "withdrawn"]
    project = tmp_path / "project"
    project.mkdir()
    shown = CliRunner().invoke(
        main,
        [
            "show",
            "1.0.0",
            "--store",
            harness_github.url,
            "--name",
            "demo",
            "--project",
            str(project),
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "immutable releases: on" in shown.output
    assert "state: withdrawn" in shown.output


def test_a_bad_token_is_an_auth_error_naming_its_source(
    github_standin: GitHubStandIn, github_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub's description lists no 401 for these endpoints: straight to the stand-in."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong")
    store = open_store(f"github://{GITHUB_OWNER}/any?api={github_standin.server.direct}")
    with pytest.raises(StoreAuthError, match=r"refused the token from \$GITHUB_TOKEN"):
        store.versions("demo")


# --- the real gh CLI, and mirror ---------------------------------------------------------------


def test_gh_release_download_gives_the_manifest_bytes(
    harness_github: StoreHarness, github_standin: GitHubStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "guild"
    write_random(folder / "model.onnx", 200_000, seed=4)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    write_random(folder / "onnx/model.onnx", 1000, seed=5)
    publish_release(harness_github.store, folder, name="demo", version="1.0.0")
    config = tmp_path / "gh-config"
    config.mkdir()
    env = {
        **os.environ,
        "GH_CONFIG_DIR": str(config),
        "GH_HOST": "github.localhost",  # gh speaks plain http to this host name
        "GH_ENTERPRISE_TOKEN": GITHUB_TOKEN,
        "GH_TOKEN": GITHUB_TOKEN,
        "GH_PROMPT_DISABLED": "1",
        "GH_NO_UPDATE_NOTIFIER": "1",
    }
    socket_path = str(github_standin.server.socket_path)
    subprocess.run(["gh", "config", "set", "http_unix_socket", socket_path], env=env, check=True)
    out = tmp_path / "download"
    done = subprocess.run(
        [
            "gh",
            "release",
            "download",
            "model-v1.0.0",
            "-R",
            f"github.localhost/{_repo(harness_github)}",
            "-D",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    manifest, _ = read_manifest(harness_github.store, "demo", "1.0.0")
    got = {
        release_path(p.name): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.iterdir()
        if p.name != "MANIFEST.txt"
    }
    assert got == manifest.files
    check = subprocess.run(  # what a guild maintainer runs in the download folder
        "grep -E '^[0-9a-f]{64}  [^/]*$' MANIFEST.txt | sha256sum -c",
        shell=True,
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "model.onnx: OK" in check.stdout, check.stdout + check.stderr


def test_mirror_to_and_from_github(
    harness_github: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    src = open_store(str(tmp_path / "src"))
    publish_release(src, artifact_dir, name="demo", version="1.0.0")
    promote(src, "demo", "1.0.0")
    there = mirror(src, harness_github.store)
    assert there.copied == ["demo model-v1.0.0"] and there.conflicts == []
    back = mirror(open_store(harness_github.url), open_store(str(tmp_path / "back")))
    assert back.copied == ["demo model-v1.0.0"]
    assert (
        read_manifest(open_store(str(tmp_path / "back")), "demo", "1.0.0")[1]
        == (read_manifest(src, "demo", "1.0.0")[1])
    )
    again = mirror(src, harness_github.store)
    assert again.skipped == ["demo model-v1.0.0"] and again.records == []


def test_prism_catches_what_github_would_not_send(
    harness_github: StoreHarness, github_standin: GitHubStandIn, artifact_dir: Path
) -> None:
    """The guard every github test runs behind: a response without a required field (and a
    malformed request) is a violation in Prism's log, and the client gets an error."""
    publish_release(harness_github.store, artifact_dir, name="demo", version="1.0.0")
    prism, state = github_standin.prism, github_standin.server.state
    seen = len(prism.violations())
    state.drop_field = "upload_url"
    try:
        with pytest.raises(StoreUnavailableError, match="HTTP 500"):
            open_store(harness_github.url).versions("demo")
    finally:
        state.drop_field = None
    bad = requests.post(
        f"{github_standin.api}/repos/{_repo(harness_github)}/releases",
        json={"tag_name": 5},
        headers={"Authorization": f"Bearer {GITHUB_TOKEN}"},
        timeout=30,
    )
    assert bad.status_code == 422
    deadline = time.monotonic() + 10
    while len(caught := prism.violations()[seen:]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # Prism writes its log a moment after it answers
    assert len(caught) == 2, caught
    prism.excused.update(caught)  # caused here on purpose; the harness checks for others


# --- the URL ---------------------------------------------------------------------------------


def test_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_GITHUB_API_URL", raising=False)
    plain = open_github_store("github://octo/models")
    assert (plain.client.api, plain.client.host, plain.repo) == (
        "https://api.github.com",
        "github.com",
        "octo/models",
    )
    ghes = open_github_store("github://ghe.example.com/octo/models.git")
    assert (ghes.client.api, ghes.repo) == ("https://ghe.example.com/api/v3", "octo/models")
    assert open_github_store("github://o/r?api=http://127.0.0.1:9/").client.api == (
        "http://127.0.0.1:9"
    )
    monkeypatch.setenv("TETHER_GITHUB_API_URL", "http://127.0.0.1:8")
    assert open_github_store("github://o/r").client.api == "http://127.0.0.1:8"
    for bad, why in (
        ("github://o", "does not name one repository"),
        ("github://a/b/c/d", "does not name one repository"),
        ("github://tok@o/r", "carries credentials"),  # the token would land in .prepared.json
        ("github://o/r?x=1", "unknown option 'x'"),
    ):
        with pytest.raises(StoreURLError, match=why):
            open_store(bad)


def test_a_github_actions_job_defaults_to_its_repositorys_releases(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("TETHER_STORE", "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(key, raising=False)
    assert select_store_url(None, None, tmp_path) == str(tmp_path / "releases")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/app")
    assert select_store_url(None, None, tmp_path) == str(tmp_path / "releases")  # not Actions
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    assert select_store_url(None, None, tmp_path) == "github://octo/app"
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://ghe.example.com/")
    assert select_store_url(None, None, tmp_path) == "github://ghe.example.com/octo/app"
    # what the project says still wins
    assert select_store_url(None, "oci://ghcr.io/octo/models", tmp_path) == (
        "oci://ghcr.io/octo/models"
    )
    monkeypatch.setenv("TETHER_STORE", "s3://bucket/models")
    assert select_store_url(None, None, tmp_path) == "s3://bucket/models"


# --- opt-in: github.com itself ---------------------------------------------------------------


@pytest.mark.live_github
def test_live_github_round_trip(artifact_dir: Path, tmp_path: Path) -> None:
    """Deselected unless TETHER_LIVE_GITHUB_REPO=owner/repo (a scratch repository) and a
    token with contents: write are set; then it must pass, and fails with the reason."""
    repo = os.environ.get("TETHER_LIVE_GITHUB_REPO", "")
    if not any(os.environ.get(k) for k in ("GITHUB_TOKEN", "GH_TOKEN")):
        pytest.fail("TETHER_LIVE_GITHUB_REPO is set but neither GITHUB_TOKEN nor GH_TOKEN is")
    store = open_store(f"github://{repo}")
    version = f"0.0.{int.from_bytes(os.urandom(3), 'big')}"
    publish_release(store, artifact_dir, name="demo", version=version)
    result = fetch_release(store, "demo", version, tmp_path / "models")
    assert (result.folder / "model.gguf").read_bytes() == (artifact_dir / "model.gguf").read_bytes()
    with pytest.raises(ReleaseExistsError):
        publish_release(store, artifact_dir, name="demo", version=version)
    print(f"live: published {version} to {repo}; immutable releases: {store.facts()}")
