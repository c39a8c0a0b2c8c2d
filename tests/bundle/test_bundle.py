"""tether bundle / bundle verify / audit --bundle, on small profile-shaped releases."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.bundle.helpers import PROFILE_ID, make_project, make_small_release
from tests.factories import write_random
from tether.bundle import find_bundles, read_record, verify_bundle
from tether.bundle.audit import audit_bundle
from tether.cli import main
from tether.errors import IntegrityError
from tether.hashing import sha256_file
from tether.spine import fetch_release, publish_release
from tether.stores.file import FileStore

PROFILE = f"embedding_models/{PROFILE_ID}"


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture
def project(tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("TETHER_STORE", "TETHER_BUNDLE_DIR", "TETHER_MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    folder = make_project(tmp_path, store)
    monkeypatch.chdir(folder)
    return folder


def tether(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


def files_below(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_bundle_lays_out_the_pinned_release_where_the_runtime_looks(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tether("bundle", "--out", "build/b", "--variant", "int8").output
    assert f"bundled {PROFILE_ID} model-v1.0.0 [int8]" in out
    bundle = project / "build" / "b"
    assert files_below(bundle) == {
        "tether-bundle.json",
        f"{PROFILE}/.prepared.json",
        f"{PROFILE}/MANIFEST.txt",
        f"{PROFILE}/provenance.intoto.json",
        f"{PROFILE}/profile.json",
        f"{PROFILE}/tokenizer.json",
        f"{PROFILE}/onnx/model_quantized.onnx",
    }  # no fp32 model, no lock or rollback state, no staging leftovers
    assert not list(project.joinpath("build").glob(".*"))
    record = read_record(bundle)
    assert record is not None
    (entry,) = record.profiles
    assert (entry.path, entry.release, entry.variants) == (PROFILE, "model-v1.0.0", ["int8"])
    assert entry.store.startswith("file://")
    assert "verified" in tether("bundle", "verify", "build/b").output

    # the runtime's bundled-folder candidates include <_MEIPASS>/embedding_models/<id>
    from tether.runtime.resolution import candidates

    monkeypatch.setattr("sys._MEIPASS", str(bundle), raising=False)
    folders = [c.folder for c in candidates(PROFILE_ID)]
    assert bundle / PROFILE in folders


def test_bundle_verify_requires_the_variants_asked_for(project: Path) -> None:
    tether("bundle", "--out", "build/b", "--variant", "int8")
    result = tether("bundle", "verify", "build/b", "--variant", "fp32", code=1)
    assert f"missing: {PROFILE} variant fp32 (bundled: int8)" in result.output
    tether("bundle", "verify", "build/b", "--variant", "int8")


def test_bundle_verify_names_each_problem(project: Path) -> None:
    tether("bundle", "--out", "build/b")  # both variants: model.onnx has a sidecar
    folder = project / "build" / "b" / PROFILE
    model = folder / "onnx" / "model_quantized.onnx"
    size = model.stat().st_size
    with open(model, "r+b") as handle:
        handle.truncate(size // 2)
    (folder / "onnx" / "model.onnx_data").unlink()
    (folder / "tokenizer.json").write_bytes(b"")
    data = bytearray((folder / "onnx" / "model.onnx").read_bytes())
    data[10] ^= 0xFF
    (folder / "onnx" / "model.onnx").write_bytes(bytes(data))
    (folder / "notes.txt").write_text("left behind")

    result = tether("bundle", "verify", "build/b", code=1)
    lines = result.output.splitlines()
    assert lines[0].startswith("error: build/b does not verify (5 problem(s));")
    assert (
        f"  truncated: {PROFILE}/onnx/model_quantized.onnx ({size // 2} bytes, recorded {size})"
        in lines
    )
    assert f"  missing: {PROFILE}/onnx/model.onnx_data" in lines
    assert f"  empty: {PROFILE}/tokenizer.json" in lines
    assert any(line.startswith(f"  mismatch: {PROFILE}/onnx/model.onnx (sha256") for line in lines)
    assert f"  extra: {PROFILE}/notes.txt" in lines


def test_bundle_verify_checks_the_manifest_too(project: Path) -> None:
    """A file changed together with .prepared.json still differs from the signed-off MANIFEST."""
    tether("bundle", "--out", "build/b", "--variant", "int8")
    folder = project / "build" / "b" / PROFILE
    (folder / "tokenizer.json").write_text('{"version": "2.0"}')
    prepared = json.loads((folder / ".prepared.json").read_text())
    prepared["files"]["tokenizer.json"] = {
        "size": (folder / "tokenizer.json").stat().st_size,
        "sha256": sha256_file(folder / "tokenizer.json"),
    }
    (folder / ".prepared.json").write_text(json.dumps(prepared))
    result = tether("bundle", "verify", "build/b", code=1)
    assert f"mismatch: {PROFILE}/tokenizer.json is not the file MANIFEST.txt lists" in result.output

    (folder / "MANIFEST.txt").write_text((folder / "MANIFEST.txt").read_text() + "\n")
    result = tether("bundle", "verify", "build/b", code=1)
    assert f"mismatch: {PROFILE}/MANIFEST.txt is not the one that was fetched" in result.output


def test_rebundle_replaces_and_a_failure_keeps_the_previous_bundle(
    project: Path, store: FileStore, tmp_path: Path
) -> None:
    tether("bundle", "--out", "build/b", "--variant", "int8")
    publish_release(store, make_small_release(tmp_path / "b2", seed=7), version="1.0.1")
    tether("pin", "1.0.1")
    tether("bundle", "--out", "build/b", "--variant", "int8")
    assert read_record(project / "build" / "b").profiles[0].release == "model-v1.0.1"

    publish_release(store, make_small_release(tmp_path / "b3", seed=9), version="1.0.2")
    stored = store.root / PROFILE_ID / "model-v1.0.2" / "onnx" / "model_quantized.onnx"
    with open(stored, "r+b") as handle:
        handle.truncate(1000)
    tether("pin", "1.0.2")
    result = tether("bundle", "--out", "build/b", "--variant", "int8", code=1)
    assert "onnx/model_quantized.onnx" in result.output and "MANIFEST digest" in result.output
    checks = verify_bundle(project / "build" / "b")
    assert checks[0].profiles[0].prepared.release == "model-v1.0.1"
    assert not list((project / "build").glob(".*")), "staging folder left behind"


def test_bundle_refuses_to_replace_a_folder_that_is_not_a_bundle(project: Path) -> None:
    (project / "dist").mkdir()
    (project / "dist" / "keep.txt").write_text("mine")
    result = tether("bundle", "--out", "dist", code=2)
    assert "is not empty and is not a tether bundle" in result.output
    assert (project / "dist" / "keep.txt").read_text() == "mine"


def test_bundle_reuses_a_fetched_profile_but_rehashes_it(
    project: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = fetch_release(store, PROFILE_ID, "1.0.0", project / "data" / "embedding_models")
    out = tether("bundle", "--out", "build/b", "--variant", "int8").output
    assert "(0 downloaded," in out

    # a seed file changed after its fetch is not bundled: it is downloaded again
    model = fetched.folder / "onnx" / "model_quantized.onnx"
    write_random(model, model.stat().st_size, seed=42)
    out = tether("bundle", "--out", "build/b2", "--variant", "int8").output
    assert "(1 downloaded," in out
    bundled = project / "build" / "b2" / PROFILE / "onnx" / "model_quantized.onnx"
    assert sha256_file(bundled) != sha256_file(model)
    tether("bundle", "verify", "build/b2")


def test_a_release_named_otherwise_lands_in_its_profile_id_folder(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_release(store, make_small_release(tmp_path / "b"), name="minilm", version="1.0.0")
    project = tmp_path / "other"
    project.mkdir()
    (project / "tether.toml").write_text(f'store = "{store.url}"\nname = "minilm"\n')
    (project / ".model-version").write_text("1.0.0\n")
    monkeypatch.chdir(project)
    tether("bundle", "--out", "b", "--variant", "int8")
    record = read_record(project / "b")
    assert (record.profiles[0].path, record.profiles[0].name) == (PROFILE, "minilm")
    tether("bundle", "verify", "b")


def test_options_of_the_group_are_refused_with_a_subcommand(project: Path) -> None:
    tether("bundle", "--out", "build/b")
    result = tether("bundle", "--out", "x", "verify", "build/b", code=2)
    assert "--out belong(s) to `tether bundle` itself" in result.output


def test_nothing_to_verify_is_a_failure(tmp_path: Path) -> None:
    result = tether("bundle", "verify", str(tmp_path), code=1)
    assert "no tether bundle in" in result.output


# --- assets --------------------------------------------------------------------------------


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (a stand-in for a download site)."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_assets_are_fetched_hashed_bundled_and_recorded(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch, http_root: tuple[Path, str]
) -> None:
    site, base = http_root
    encoding = write_random(site / "o200k_base.tiktoken", 50_000, seed=3)
    cache = tmp_path / "app" / "data" / "stopwords"
    (cache / "en").mkdir(parents=True)
    (cache / "en" / "words.txt").write_text("the\nof\n")
    (cache / "README").write_text("stop words")
    digest = tether("bundle", "digest", str(cache)).output.strip()
    assert digest.startswith("sha256:")
    assert tether("bundle", "digest", str(encoding)).output.strip() == sha256_file(encoding)
    assets = f"""
[[bundle.assets]]
name = "tiktoken_cache"
url = "{base}/o200k_base.tiktoken"
file = "fb374d419588a4632f3f557e76b4b70aebbca790"
sha256 = "{sha256_file(encoding)}"

[[bundle.assets]]
name = "stopwords"
path = "data/stopwords"
sha256 = "{digest}"
"""
    project = make_project(tmp_path, store, extra_toml=assets)
    monkeypatch.chdir(project)
    out = tether("bundle", "--out", "build/b", "--variant", "int8").output
    assert "2 asset(s)" in out
    bundle = project / "build" / "b"
    cached = bundle / "tiktoken_cache" / "fb374d419588a4632f3f557e76b4b70aebbca790"
    assert cached.read_bytes() == encoding.read_bytes()
    assert (bundle / "stopwords" / "en" / "words.txt").read_text() == "the\nof\n"
    record = read_record(bundle)
    assert [(a.name, a.source) for a in record.assets] == [
        ("tiktoken_cache", f"{base}/o200k_base.tiktoken"),
        ("stopwords", "data/stopwords"),
    ]
    assert set(record.assets[1].files) == {"README", "en/words.txt"}
    tether("bundle", "verify", "build/b")

    # a changed asset fails verification, naming the file
    (bundle / "stopwords" / "README").write_text("stop wordz")
    result = tether("bundle", "verify", "build/b", code=1)
    assert "mismatch: stopwords/README" in result.output

    # a download that differs from the declared digest is refused; the old bundle stays
    encoding.write_bytes(b"changed upstream")
    result = tether("bundle", "--out", "build/b", code=1)
    assert "asset tiktoken_cache from" in result.output and "nothing was kept" in result.output
    assert cached.is_file()


def test_asset_declarations_are_checked(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app" / "data").mkdir(parents=True)
    (tmp_path / "app" / "data" / "f.bin").write_bytes(b"abc")
    project = make_project(
        tmp_path, store, extra_toml='\n[[bundle.assets]]\nname = "x"\npath = "data/f.bin"\n'
    )
    monkeypatch.chdir(project)
    result = tether("bundle", "--out", "b", code=2)
    assert "sha256 is missing" in result.output
    assert "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" in result.output
    (project / "tether.toml").write_text(
        (project / "tether.toml").read_text().replace('name = "x"', 'name = "embedding_models"')
    )
    assert "is taken" in tether("bundle", "--out", "b", code=2).output
    assert not (project / "b").exists()


# --- audit from a built app ---------------------------------------------------------------


def test_audit_bundle_of_a_built_app(project: Path) -> None:
    tether("bundle", "--out", "build/b", "--variant", "int8")
    internal = project / "dist" / "app" / "_internal"
    shutil.copytree(project / "build" / "b", internal)  # what the PyInstaller hook collects
    (internal / "libpython3.11.so").write_bytes(b"not ours")

    out = tether("audit", "--bundle", "dist/app").output
    assert "BAD" not in out
    assert f"ok  release: {PROFILE_ID} model-v1.0.0 [int8] in dist/app/_internal/{PROFILE}" in out
    assert "ok  store: file://" in out
    assert "ok  files: 4 match the release's MANIFEST.txt (sha256)" in out
    assert f"ok  provenance: dist/app/_internal/{PROFILE}/provenance.intoto.json" in out

    model = internal / PROFILE / "onnx" / "model_quantized.onnx"
    model.write_bytes(model.read_bytes()[:-1])
    result = tether("audit", "--bundle", "dist/app", code=1)
    assert "BAD files: 1 problem(s)" in result.output
    assert f"BAD   truncated: {PROFILE}/onnx/model_quantized.onnx" in result.output


def test_a_profile_folder_layout_without_record_verifies_and_audits(
    project: Path, store: FileStore
) -> None:
    """Nuitka's --include-data-dir of data/embedding_models: profile folders, lock files."""
    models = project / "data" / "embedding_models"
    fetch_release(store, PROFILE_ID, "1.0.0", models, variants="int8")
    assert any(p.name.endswith(".lock") for p in (models / ".tether").iterdir())
    app = project / "app.dist"
    shutil.copytree(models, app / "data" / "embedding_models")
    (found,) = find_bundles(app)
    assert found.record is None and found.root == app / "data"
    tether("bundle", "verify", "app.dist")
    report = audit_bundle(app)
    assert report.ok, report.checks
    assert any("no tether-bundle.json" in line for _, line in report.checks)


def test_verify_bundle_raises_integrity_error(project: Path) -> None:
    tether("bundle", "--out", "build/b", "--variant", "int8")
    (project / "build" / "b" / PROFILE / "profile.json").unlink()
    with pytest.raises(IntegrityError) as info:
        verify_bundle(project / "build" / "b")
    assert f"missing: {PROFILE}/profile.json" in info.value.problems


# --- signed releases ([trust] in the recipe) ------------------------------------------------


def test_bundle_checks_the_signature_and_ships_it(
    tmp_path: Path, store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.factories import KeyPair
    from tether.spine import sign_release

    key = KeyPair(tmp_path, "release")
    project = make_project(tmp_path, store, extra_toml=f'\n[trust]\nkeys = ["{key.public}"]\n')
    monkeypatch.chdir(project)
    result = tether("bundle", "--out", "b", "--variant", "int8", code=1)
    assert "unsigned" in result.output.lower()  # policy "require": an unsigned release is refused
    assert not (project / "b").exists()

    sign_release(store, PROFILE_ID, "1.0.0", key.signer)
    tether("bundle", "--out", "b", "--variant", "int8")
    assert (project / "b" / PROFILE / "model.sig").is_file()
    tether("bundle", "verify", "b")
    out = tether("audit", "--bundle", "b").output
    assert f"ok  signature: b/{PROFILE}/model.sig" in out
    assert "verified" in tether("verify", "--signature", str(project / "b" / PROFILE)).output
    assert "signed by key" in tether("bundle", "verify", "--signature", "b").output

    other = KeyPair(tmp_path, "other")
    refused = tether("bundle", "verify", "--trusted-key", str(other.public), "b", code=1)
    assert "is signed by key" in refused.output and "other.pub" in refused.output
    (project / "b" / PROFILE / "model.sig").unlink()
    tether("bundle", "verify", "b")  # the files are still the release's
    assert "model.sig" in tether("bundle", "verify", "--signature", "b", code=1).output
