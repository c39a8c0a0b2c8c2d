"""Publish -> pin -> fetch -> verify -> re-pin, on the real filesystem with large files."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from click.testing import CliRunner

import tether.spine.catalog
import tether.spine.fetch
import tether.spine.layout
from tests.factories import MB, NAME, flip_byte, write_random
from tests.factories import make_large_release as make_profile_release
from tether.cli import main
from tether.errors import (
    IntegrityError,
    InvalidVariantError,
    ManifestError,
    ProfileNotFoundError,
    ReleaseWithdrawnError,
    StoreUnavailableError,
)
from tether.hashing import list_files
from tether.locking import file_lock
from tether.names import FETCH_STATE_DIR
from tether.spine import (
    audit,
    download_release,
    fetch_release,
    pin_release,
    previous_promoted,
    promote,
    publish_release,
    read_pin,
    require_pin,
    verify_profile,
    withdraw,
    write_pin,
)
from tether.stores import open_store
from tether.stores.file import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


def test_publish_pin_fetch_verify_repin(store: FileStore, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    dest = project / "data" / "embedding_models"
    v1 = make_profile_release(tmp_path / "build1", seed=1)
    assert publish_release(store, v1).name == NAME  # name defaults to the profile id

    pin_release(store, NAME, "v1.0.0", project)
    assert (project / ".model-version").read_text() == "1.0.0\n"
    result = fetch_release(store, NAME, require_pin(project), dest)
    folder = dest / NAME
    assert result.changed and result.folder == folder
    assert result.prepared.variants == ["fp32", "int8"]
    assert (folder / "onnx" / "model.onnx").read_bytes() == (v1 / "onnx/model.onnx").read_bytes()
    assert verify_profile(folder).release == "model-v1.0.0"
    assert audit(store, NAME, read_pin(project), folder).ok

    # a new release drops vocab.txt and changes the int8 model; fp32 and its sidecar stay
    v2 = make_profile_release(tmp_path / "build2", seed=1, vocab=False)
    write_random(v2 / "onnx" / "model_quantized.onnx", 18 * MB, seed=999)
    publish_release(store, v2, version="1.0.1")
    pin_release(store, NAME, "1.0.1", project)
    result = fetch_release(store, NAME, require_pin(project), dest)
    assert result.removed == ["vocab.txt"]
    assert "onnx/model.onnx" in result.reused and "onnx/model.onnx_data" in result.reused
    assert result.downloaded == ["onnx/model_quantized.onnx"] or set(result.downloaded) >= {
        "onnx/model_quantized.onnx"
    }
    assert not (folder / "vocab.txt").exists()
    assert verify_profile(folder).release == "model-v1.0.1"

    # a variant change removes the other variant's model and its sidecar
    result = fetch_release(store, NAME, "1.0.1", dest, variants="int8")
    assert set(result.removed) == {"onnx/model.onnx", "onnx/model.onnx_data"}
    assert json.loads((folder / ".prepared.json").read_text())["variants"] == ["int8"]
    assert verify_profile(folder).variants == ["int8"]
    with pytest.raises(InvalidVariantError):
        fetch_release(store, NAME, "1.0.1", dest, variants="fp16")


def test_noop_fetch_reads_no_file_contents(
    store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    fetch_release(store, NAME, "1.0.0", dest)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a no-op fetch must not read or hash file contents")

    monkeypatch.setattr(tether.spine.fetch, "sha256_files", forbidden)
    monkeypatch.setattr(store, "open_file", forbidden)
    monkeypatch.setattr(store, "versions", forbidden)
    assert fetch_release(store, NAME, "1.0.0", dest).changed is False


def test_profile_folder_holds_only_the_release(store: FileStore, tmp_path: Path) -> None:
    """fetch keeps its lock, rollback record and downloads in progress in <dest>/.tether/,
    so the profile folder holds the release's files, MANIFEST.txt and .prepared.json only."""
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    state = dest / FETCH_STATE_DIR
    stale = state / f"{NAME}.999999999.tether-part" / "onnx"  # a fetch that died mid-way
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half")
    result = fetch_release(store, NAME, "1.0.0", dest, variants="int8")

    expected = set(result.prepared.files) | {"MANIFEST.txt", ".prepared.json"}
    assert set(list_files(result.folder)) == expected
    assert sorted(os.listdir(dest)) == [FETCH_STATE_DIR, NAME]
    assert os.listdir(state) == [f"{NAME}.lock"]  # the dead fetch's parts are gone


def test_noop_fetch_pinned_imports_no_store_transaction_or_signing(tmp_path: Path) -> None:
    """`tether fetch` with nothing to do stays light (benchmarks/verify_speed.py)."""
    store = FileStore(tmp_path / "store")
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    project = tmp_path / "app"
    write_pin(project, "1.0.0")
    fetch_release(store, NAME, "1.0.0", project / "data" / "embedding_models")
    probe = (
        "import json, sys\n"
        "from tether.spine import fetch_pinned\n"
        f"result = fetch_pinned({str(project)!r}, store={store.url!r}, name={NAME!r})\n"
        "print(json.dumps([result.changed, sorted(sys.modules)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    changed, modules = json.loads(done.stdout)
    assert changed is False
    heavy = ("tether.spine.fetch", "tether.spine.trust", "tether.stores.file", "tether.signing")
    assert [m for m in modules if m.startswith(heavy)] == []


def _fetch_in_child(url: str, dest: str, results: multiprocessing.Queue) -> None:
    try:
        fetch_release(open_store(url), NAME, "1.0.0", Path(dest))
        results.put("ok")
    except Exception as exc:
        results.put(f"error: {exc!r}")


def test_racing_fetchers_both_succeed(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_fetch_in_child, args=(store.url, str(dest), results)) for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert sorted(results.get(timeout=5) for _ in procs) == ["ok", "ok"]
    assert verify_profile(dest / NAME).release == "model-v1.0.0"
    leftovers = [p.name for p in (dest / NAME).rglob("*") if p.name.endswith(".tether-part")]
    assert leftovers == []


def test_truncated_store_file_keeps_previous_profile(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b1", seed=1))
    dest = tmp_path / "models"
    fetch_release(store, NAME, "1.0.0", dest)
    before = (dest / NAME / "onnx" / "model_quantized.onnx").read_bytes()

    publish_release(store, make_profile_release(tmp_path / "b2", seed=5))
    stored = store.root / NAME / "model-v1.0.1" / "onnx" / "model_quantized.onnx"
    with open(stored, "r+b") as handle:
        handle.truncate(5 * MB)
    with pytest.raises(IntegrityError, match=r"model_quantized\.onnx"):
        fetch_release(store, NAME, "1.0.1", dest)
    assert (dest / NAME / "onnx" / "model_quantized.onnx").read_bytes() == before
    assert verify_profile(dest / NAME).release == "model-v1.0.0"


def test_store_manifest_with_escaping_path_is_refused(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    manifest = store.root / NAME / "model-v1.0.0" / "MANIFEST.txt"
    text = manifest.read_text().replace("  vocab.txt", "  ../../escaped.txt")
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=re.escape("unsafe file path '../../escaped.txt'")):
        fetch_release(store, NAME, "1.0.0", tmp_path / "models")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "models" / NAME / ".prepared.json").exists()


def test_verify_lists_each_problem(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    folder = fetch_release(store, NAME, "1.0.0", dest).folder
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_bytes(b"")
    data = bytearray((folder / "onnx" / "model_quantized.onnx").read_bytes())
    data[100] ^= 0xFF
    (folder / "onnx" / "model_quantized.onnx").write_bytes(bytes(data))
    (folder / "notes.txt").write_text("left by someone")
    with pytest.raises(IntegrityError) as info:
        verify_profile(folder)
    problems = info.value.problems
    assert "missing: vocab.txt" in problems
    assert "empty: tokenizer.json" in problems
    assert any(p.startswith("mismatch: onnx/model_quantized.onnx") for p in problems)
    assert "extra: notes.txt" in problems
    assert len(problems) == 4
    assert not audit(store, NAME, "1.0.0", folder).ok

    # the stat-only completeness check sees the damage, so the next fetch repairs it
    result = fetch_release(store, NAME, "1.0.0", dest)
    assert result.changed and "notes.txt" in result.removed
    assert verify_profile(folder).release == "model-v1.0.0"


def test_withdrawn_release_cannot_be_pinned_or_fetched(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    withdraw(store, NAME, "1.0.0", reason="recall dropped")
    with pytest.raises(ReleaseWithdrawnError, match="recall dropped"):
        pin_release(store, NAME, "1.0.0", tmp_path)
    with pytest.raises(ReleaseWithdrawnError):
        fetch_release(store, NAME, "1.0.0", tmp_path / "models")
    assert not (tmp_path / ".model-version").exists()


def test_pin_previous_goes_to_previous_promoted(store: FileStore, tmp_path: Path) -> None:
    source = make_profile_release(tmp_path / "b", seed=1)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        publish_release(store, source, version=version)
    promote(store, NAME, "1.0.0")
    promote(store, NAME, "1.2.0")
    write_pin(tmp_path, "1.2.0")
    assert previous_promoted(store, NAME, "1.2.0").version == "1.0.0"  # 1.1.0 never promoted


def test_download_release_is_verified_copy(store: FileStore, tmp_path: Path) -> None:
    source = make_profile_release(tmp_path / "b", seed=1)
    publish_release(store, source)
    copy = download_release(store, NAME, "1.0.0", tmp_path / "copy")
    assert (copy / "onnx" / "model.onnx").read_bytes() == (source / "onnx/model.onnx").read_bytes()
    assert (copy / "MANIFEST.txt").is_file()
    with pytest.raises(IntegrityError, match="not empty"):
        download_release(store, NAME, "1.0.0", tmp_path / "copy")


def test_verify_without_prepared_record(tmp_path: Path) -> None:
    with pytest.raises(ProfileNotFoundError):
        verify_profile(tmp_path)


def test_release_refuses_changed_build_output(store: FileStore, tmp_path: Path) -> None:
    """A folder whose draft MANIFEST (from tether build) no longer matches is not published."""
    from tether.manifest import Manifest, write_release_metadata

    source = make_profile_release(tmp_path / "b", seed=1)
    write_release_metadata(source, Manifest(NAME, None, {}, {"Source": {"model": "m"}}))
    shutil.copy(source / "vocab.txt", source / "tokenizer.json")
    with pytest.raises(IntegrityError, match="does not match its MANIFEST"):
        publish_release(store, source)
    assert store.versions(NAME) == []


# --- a release may change its layout; a pin change activates in one step ----------------


def _layout_release(folder: Path, shape: str) -> Path:
    """A generic artifact whose ``sub`` is a folder ("dir"), a file ("file"), or a folder
    with another file in it ("dir2")."""
    shutil.rmtree(folder, ignore_errors=True)
    write_random(folder / "top.bin", 200_000, seed=7)
    if shape == "file":
        (folder / "sub").write_bytes(b"sub is a file now\n")
    else:
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "a.txt").write_text("a\n")
        if shape == "dir2":
            (folder / "sub" / "deeper").mkdir()
            (folder / "sub" / "deeper" / "b.txt").write_text("b\n")
    return folder


@pytest.mark.parametrize("kind", ["file", "oci", "s3"])
def test_folder_becomes_file_and_back(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """sub/ -> sub -> sub/ again: each pin change swaps the whole folder in one step."""
    store = request.getfixturevalue(f"harness_{kind}").store
    for version, shape in (("1.0.0", "dir"), ("1.1.0", "file"), ("1.2.0", "dir2")):
        publish_release(
            store, _layout_release(tmp_path / shape, shape), name="demo", version=version
        )
    dest = tmp_path / "models"
    folder = dest / "demo"
    assert fetch_release(store, "demo", "1.0.0", dest).changed
    assert (folder / "sub" / "a.txt").read_text() == "a\n"

    result = fetch_release(store, "demo", "1.1.0", dest)
    assert result.removed == ["sub/a.txt"] and result.reused == ["top.bin"]
    assert (folder / "sub").read_bytes() == b"sub is a file now\n"
    assert verify_profile(folder).release == "model-v1.1.0"

    result = fetch_release(store, "demo", "1.2.0", dest)
    assert result.removed == ["sub"]
    assert (folder / "sub" / "deeper" / "b.txt").read_text() == "b\n"
    assert verify_profile(folder).release == "model-v1.2.0"
    assert os.listdir(dest / FETCH_STATE_DIR) == ["demo.lock"]  # nothing left behind


def test_swap_without_atomic_exchange(
    store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the OS has no exchange, two renames; a fetch that died between them (no profile
    folder, the old one set aside) is undone by the next fetch before anything else."""
    monkeypatch.setattr(tether.spine.fetch, "_exchange", lambda a, b: False)
    for version, shape in (("1.0.0", "dir"), ("1.1.0", "file")):
        publish_release(
            store, _layout_release(tmp_path / shape, shape), name="demo", version=version
        )
    dest = tmp_path / "models"
    fetch_release(store, "demo", "1.0.0", dest)
    assert fetch_release(store, "demo", "1.1.0", dest).removed == ["sub/a.txt"]
    assert verify_profile(dest / "demo").release == "model-v1.1.0"

    aside = dest / FETCH_STATE_DIR / "demo.4242-0a0b0c0d.old.tether-part"
    os.rename(dest / "demo", aside)  # as if killed between the two renames
    fetch_release(store, "demo", "1.0.0", dest)
    assert verify_profile(dest / "demo").release == "model-v1.0.0"
    assert os.listdir(dest / FETCH_STATE_DIR) == ["demo.lock"]


def test_link_to_profile_folder_stays(store: FileStore, tmp_path: Path) -> None:
    """A profile folder that is the user's link to another disk: swapped at the target."""
    for version, shape in (("1.0.0", "dir"), ("1.1.0", "file")):
        publish_release(
            store, _layout_release(tmp_path / shape, shape), name="demo", version=version
        )
    elsewhere = tmp_path / "disk" / "demo-profile"
    elsewhere.mkdir(parents=True)
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "demo").symlink_to(elsewhere)
    fetch_release(store, "demo", "1.0.0", dest)
    fetch_release(store, "demo", "1.1.0", dest)
    assert (dest / "demo").is_symlink()
    assert verify_profile(elsewhere).release == "model-v1.1.0"


# --- interrupted runs: a dead fetch's partial download is resumed ------------------------


class _CountingStore:
    """Wraps a store and records each open_file's (path, start)."""

    def __init__(self, inner: FileStore) -> None:
        self._inner, self.starts = inner, []

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)

    def open_file(self, name: str, version: str, path: str, start: int = 0) -> BinaryIO:
        self.starts.append((path, start))
        return self._inner.open_file(name, version, path, start)


@pytest.mark.parametrize("good_prefix", [True, False])
def test_dead_fetchs_partial_download_is_resumed(
    store: FileStore, tmp_path: Path, good_prefix: bool
) -> None:
    source = write_random(tmp_path / "src" / "model.bin", 3 * MB, seed=4).parent
    publish_release(store, source, name="demo", version="1.0.0")
    dest = tmp_path / "models"
    dead = dest / FETCH_STATE_DIR / "demo.999999.tether-part"  # a fetch killed mid-file
    dead.mkdir(parents=True)
    prefix = (source / "model.bin").read_bytes()[: MB + 12345]
    (dead / "model.bin").write_bytes(prefix if good_prefix else b"\0" * len(prefix))

    counting = _CountingStore(store)
    result = fetch_release(counting, "demo", "1.0.0", dest)  # type: ignore[arg-type]
    assert (dest / "demo" / "model.bin").read_bytes() == (source / "model.bin").read_bytes()
    if good_prefix:  # its prefix hashed, the rest read from where it stopped
        assert result.resumed == ["model.bin"]
        assert ("model.bin", len(prefix)) in counting.starts
        assert ("model.bin", 0) not in counting.starts
    else:  # the whole did not match: downloaded again from byte 0
        assert ("model.bin", 0) in counting.starts
    assert os.listdir(dest / FETCH_STATE_DIR) == ["demo.lock"]


def test_verify_ignores_tethers_own_leftovers(store: FileStore, tmp_path: Path) -> None:
    """Names no release may have are tether's (a state folder, a dead write's temp file)."""
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    folder = fetch_release(store, NAME, "1.0.0", tmp_path / "models", variants="int8").folder
    (folder / ".tether").mkdir()
    (folder / ".tether" / "x.lock").write_text("")
    (folder / "onnx" / "model.onnx.1234.tether-part").write_bytes(b"half")
    (folder / ".prepared.json.ab12cd.tmp").write_text("{")
    assert verify_profile(folder).release == "model-v1.0.0"


# --- repair and honest hints --------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_repair_replaces_what_verify_found(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    project = tmp_path / "app"
    write_pin(project, "1.0.0")
    common = ("--store", store.url, "--name", NAME, "--project", str(project))
    assert _cli("fetch", "--variant", "int8", *common)[0] == 0
    folder = project / "data" / "embedding_models" / NAME
    flip_byte(folder / "onnx" / "model_quantized.onnx", 1000)  # same size: stat-only passes
    code, out, _ = _cli("fetch", "--variant", "int8", *common)
    assert code == 0 and "already holds" in out

    code, _, err = _cli("verify", str(folder))
    assert code == 1
    hint = err.splitlines()[0].rsplit("; ", 1)[1]
    assert hint.startswith("repair it: tether fetch --repair --profiles-dir ")
    code, out, _ = _cli(
        "fetch", "--variant", "int8", "--repair", *common, "--profiles-dir", str(folder.parent)
    )
    assert code == 0 and out.startswith("repaired") and "1 downloaded" in out, out
    assert verify_profile(folder).release == "model-v1.0.0"

    code, out, _ = _cli("fetch", "--variant", "int8", "--repair", *common)
    assert code == 0 and "files verified, nothing to repair" in out, out


def test_withdrawn_pin_fails_also_when_already_fetched(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    project = tmp_path / "app"
    write_pin(project, "1.0.0")
    common = ("--store", store.url, "--name", NAME, "--project", str(project))
    assert _cli("fetch", *common)[0] == 0
    withdraw(store, NAME, "1.0.0", reason="recall dropped")

    code, out, err = _cli("fetch", *common)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "was withdrawn: recall dropped" in err
    assert "tether pin --previous" in err
    with pytest.raises(ReleaseWithdrawnError):
        fetch_release(store, NAME, "1.0.0", project / "data" / "embedding_models")
    assert verify_profile(project / "data" / "embedding_models" / NAME)  # left as it was


def test_noop_with_remote_store_unreachable_warns(tmp_path: Path) -> None:
    """A no-op must work offline: the state could not be read, so it says so and succeeds."""
    store = FileStore(tmp_path / "store")
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    project = tmp_path / "app"
    write_pin(project, "1.0.0")
    fetch_release(store, NAME, "1.0.0", project / "data" / "embedding_models")
    url = "oci://127.0.0.1:9/models"  # nothing listens on port 9
    code, out, err = _cli("fetch", "--store", url, "--name", NAME, "--project", str(project))
    assert code == 0 and "already holds" in out
    assert err.startswith(f"warning: could not check whether {NAME} model-v1.0.0 was withdrawn")


def test_download_into_a_folder_holding_a_release_says_so(store: FileStore, tmp_path: Path) -> None:
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    copy = download_release(store, NAME, "1.0.0", tmp_path / "copy")
    with pytest.raises(IntegrityError) as info:
        download_release(store, NAME, "1.0.0", copy)
    assert info.value.one_line() == (
        f"{copy} is not empty: it already holds {NAME} model-v1.0.0; choose an empty --into folder"
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(IntegrityError, match=r"already holds 1 entry \(notes.txt\)"):
        download_release(store, NAME, "1.0.0", tmp_path / "other")


def test_noop_removes_dead_fetchs_leftovers_but_not_a_running_ones(
    store: FileStore, tmp_path: Path
) -> None:
    """A fetch killed after its swap leaves the old profile in .tether/: the next fetch,
    even a no-op, deletes it, unless a fetch of that name runs now (it holds the lock)."""
    publish_release(store, make_profile_release(tmp_path / "b", seed=1))
    dest = tmp_path / "models"
    fetch_release(store, NAME, "1.0.0", dest, variants="int8")
    state = dest / FETCH_STATE_DIR
    leftover = state / f"{NAME}.4242-0a0b0c0d.tether-part"
    shutil.copytree(dest / NAME, leftover)
    with file_lock(state / f"{NAME}.lock"):
        child = multiprocessing.get_context("spawn").Process(
            target=fetch_release, args=(store, NAME, "1.0.0", dest), kwargs={"variants": "int8"}
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0 and leftover.is_dir()  # someone holds the lock: left alone
    assert fetch_release(store, NAME, "1.0.0", dest, variants="int8").changed is False
    assert os.listdir(state) == [f"{NAME}.lock"]


class _BreakingStore:
    """Wraps a store; model.bin's stream breaks for good after ``after`` bytes."""

    def __init__(self, inner: FileStore, after: int) -> None:
        self._inner, self._after = inner, after

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)

    def open_file(self, name: str, version: str, path: str, start: int = 0) -> BinaryIO:
        stream = self._inner.open_file(name, version, path, start)
        if path != "model.bin":
            return stream
        if start >= self._after:
            stream.close()
            raise StoreUnavailableError("the connection is gone")
        return _Breaking(stream, self._after - start)  # type: ignore[return-value]


class _Breaking(io.RawIOBase):
    def __init__(self, inner: BinaryIO, left: int) -> None:
        super().__init__()
        self._inner, self._left = inner, left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            raise StoreUnavailableError("download of model.bin broke (connection reset)")
        n = self._inner.readinto(memoryview(buffer)[: self._left]) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def test_a_broken_download_is_resumed_by_the_next_fetch(store: FileStore, tmp_path: Path) -> None:
    source = write_random(tmp_path / "src" / "model.bin", 3 * MB, seed=6).parent
    publish_release(store, source, name="demo", version="1.0.0")
    dest = tmp_path / "models"
    broken = _BreakingStore(store, after=2 * MB)
    with pytest.raises(StoreUnavailableError):
        fetch_release(broken, "demo", "1.0.0", dest)  # type: ignore[arg-type]
    assert not (dest / "demo").exists()
    counting = _CountingStore(store)
    result = fetch_release(counting, "demo", "1.0.0", dest)  # type: ignore[arg-type]
    assert result.resumed == ["model.bin"] and ("model.bin", 2 * MB) in counting.starts
    assert verify_profile(dest / "demo").release == "model-v1.0.0"
