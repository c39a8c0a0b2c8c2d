"""The Store contract, run against every backend in STORE_KINDS (see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from tests.factories import write_random
from tests.store_harness import StoreHarness
from tether.errors import IntegrityError, ReleaseExistsError, ReleaseNotFoundError
from tether.spine import (
    PROMOTED,
    WITHDRAWN,
    fetch_release,
    list_releases,
    promote,
    publish_release,
    read_manifest,
    release_info,
    withdraw,
)
from tether.stores import open_store
from tether.stores.base import read_bytes


def _release_files(harness: StoreHarness, name: str, version: str) -> dict[str, str]:
    store = harness.store
    return {
        rel: hashlib.sha256(read_bytes(store, name, version, rel)).hexdigest()
        for rel in store.files(name, version)
    }


def test_publish_list_read(harness: StoreHarness, artifact_dir: Path) -> None:
    info = publish_release(harness.store, artifact_dir, name="demo", version="v1.0.0")
    assert (info.version, info.state) == ("1.0.0", "pre-release")
    assert harness.store.names() == ["demo"]
    assert harness.store.versions("demo") == ["1.0.0"]
    sizes = harness.store.files("demo", "1.0.0")
    assert sizes["model.gguf"] == 300_000
    assert set(sizes) == {"model.gguf", "Modelfile", "MANIFEST.txt", "provenance.intoto.json"}
    whole = read_bytes(harness.store, "demo", "1.0.0", "model.gguf")
    assert whole == (artifact_dir / "model.gguf").read_bytes()
    with harness.store.open_file("demo", "1.0.0", "model.gguf", start=299_000) as stream:
        assert stream.read() == whole[299_000:]
    with harness.store.open_file("demo", "1.0.0", "model.gguf", start=300_000) as stream:
        assert stream.read() == b""  # resuming a file that was complete
    manifest, _ = read_manifest(harness.store, "demo", "1.0.0")
    assert manifest.files["model.gguf"] == hashlib.sha256(whole).hexdigest()


def test_missing_release_and_file(harness: StoreHarness, artifact_dir: Path) -> None:
    with pytest.raises(ReleaseNotFoundError):
        harness.store.files("demo", "9.9.9")
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.0")
    with pytest.raises(FileNotFoundError):  # ReleaseNotFoundError is a FileNotFoundError
        read_bytes(harness.store, "demo", "1.0.0", "nope.bin")


def test_next_version_is_patch_after_highest(harness: StoreHarness, artifact_dir: Path) -> None:
    publish_release(harness.store, artifact_dir, name="demo", version="1.2.0")
    assert publish_release(harness.store, artifact_dir, name="demo").version == "1.2.1"
    # the pin (floor) is above the store: the next version goes past it, no collision
    assert publish_release(harness.store, artifact_dir, name="demo", floor="2.0.0").version == (
        "2.0.1"
    )


def test_refuses_overwrite_and_keeps_winner(
    harness: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.0")
    before = _release_files(harness, "demo", "1.0.0")
    other = tmp_path / "other"
    write_random(other / "model.gguf", 1000, seed=7)
    with pytest.raises(ReleaseExistsError, match=r"already has demo model-v1\.0\.0"):
        publish_release(harness.store, other, name="demo", version="1.0.0")
    assert _release_files(harness, "demo", "1.0.0") == before


def _publish_in_child(url: str, folder: str, results: multiprocessing.Queue) -> None:
    try:
        publish_release(open_store(url), Path(folder), name="demo", version="1.0.0")
        results.put("won")
    except ReleaseExistsError:
        results.put("refused")
    except Exception as exc:  # surfaced in the parent's assertion
        results.put(f"error: {exc!r}")


def test_racing_publishers_exactly_one_wins(harness: StoreHarness, tmp_path: Path) -> None:
    folders = []
    for seed in (1, 2):
        folder = tmp_path / f"candidate{seed}"
        write_random(folder / "model.gguf", 8 << 20, seed=seed)
        folders.append(folder)
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_publish_in_child, args=(harness.url, str(f), results)) for f in folders
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["refused", "won"]
    # the winner's files are intact: exactly one candidate's bytes, matching the MANIFEST
    manifest, _ = read_manifest(harness.store, "demo", "1.0.0")
    stored = _release_files(harness, "demo", "1.0.0")
    assert {rel: stored[rel] for rel in manifest.files} == manifest.files
    candidates = {hashlib.sha256((f / "model.gguf").read_bytes()).hexdigest() for f in folders}
    assert stored["model.gguf"] in candidates


def test_state_changes_keep_files(harness: StoreHarness, artifact_dir: Path) -> None:
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.0")
    publish_release(harness.store, artifact_dir, name="demo", version="1.1.0")
    before = _release_files(harness, "demo", "1.0.0")
    assert promote(harness.store, "demo", "1.0.0").state == PROMOTED
    assert withdraw(harness.store, "demo", "1.0.0", reason="bad recall").state == WITHDRAWN
    info = release_info(harness.store, "demo", "1.0.0")
    assert [e["event"] for e in info.history] == ["published", "promoted", "withdrawn"]
    assert info.history[-1]["reason"] == "bad recall"
    assert _release_files(harness, "demo", "1.0.0") == before  # a record, still readable
    assert [(r.version, r.state) for r in list_releases(harness.store, "demo")] == [
        ("1.0.0", WITHDRAWN),
        ("1.1.0", "pre-release"),
    ]


def test_fetch_verifies_and_refuses_tampered(
    harness: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.0")
    result = fetch_release(harness.store, "demo", "1.0.0", tmp_path / "models")
    assert (result.folder / "model.gguf").read_bytes() == (artifact_dir / "model.gguf").read_bytes()

    write_random(artifact_dir / "model.gguf", 300_000, seed=2)  # 1.0.1 has a new model
    publish_release(harness.store, artifact_dir, name="demo", version="1.0.1")
    data = bytearray((artifact_dir / "model.gguf").read_bytes())
    data[1234] ^= 0x01
    harness.tamper("demo", "1.0.1", "model.gguf", bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.gguf .*does not match"):
        fetch_release(harness.store, "demo", "1.0.1", tmp_path / "models")
    prepared = json.loads((result.folder / ".prepared.json").read_text())
    assert prepared["release"] == "model-v1.0.0"  # nothing of 1.0.1 was activated
    assert (
        hashlib.sha256((result.folder / "model.gguf").read_bytes()).hexdigest()
        == (prepared["files"]["model.gguf"]["sha256"])
    )
    assert not [p for p in result.folder.rglob("*") if p.name.endswith(".tether-part")]


class _DroppingStore:
    """Wraps a store; the first read of model.gguf breaks off after ``after`` bytes."""

    def __init__(self, inner: object, after: int) -> None:
        self._inner, self._after, self.starts = inner, after, []

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)

    def open_file(self, name: str, version: str, path: str, start: int = 0) -> BinaryIO:
        self.starts.append((path, start))
        stream = self._inner.open_file(name, version, path, start)  # type: ignore[attr-defined]
        if start == 0 and path == "model.gguf":
            return cast(BinaryIO, _Dropping(stream, self._after))
        return stream


class _Dropping(io.RawIOBase):
    def __init__(self, inner: BinaryIO, after: int) -> None:
        super().__init__()
        self._inner, self._left = inner, after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            raise ConnectionError("connection reset by peer")
        n = self._inner.readinto(memoryview(buffer)[: self._left])
        self._left -= n
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def test_fetch_resumes_with_ranged_read(harness: StoreHarness, tmp_path: Path) -> None:
    folder = tmp_path / "big"
    write_random(folder / "model.gguf", 3 << 20, seed=3)
    publish_release(harness.store, folder, name="demo", version="1.0.0")
    dropping = _DroppingStore(harness.store, after=1 << 20)
    result = fetch_release(dropping, "demo", "1.0.0", tmp_path / "models")  # type: ignore[arg-type]
    assert ("model.gguf", 1 << 20) in dropping.starts  # resumed where it broke, not from 0
    assert (result.folder / "model.gguf").read_bytes() == (folder / "model.gguf").read_bytes()


def test_publish_refuses_a_file_changed_after_sealing(
    harness: StoreHarness, artifact_dir: Path, tmp_path: Path
) -> None:
    sealed = open_store(str(tmp_path / "sealed"))  # MANIFEST.txt and its files, as publish sends
    publish_release(sealed, artifact_dir, name="demo", version="1.0.0")
    folder = tmp_path / "sealed" / "demo" / "model-v1.0.0"
    files = {rel: folder / rel for rel in sealed.files("demo", "1.0.0")}
    write_random(files["model.gguf"], 300_000, seed=3)  # changed after the MANIFEST was made
    with pytest.raises(IntegrityError, match=r"model\.gguf"):
        harness.store.publish("demo", "1.0.0", files)
    assert harness.store.versions("demo") == []  # nothing of it was published
