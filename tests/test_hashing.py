from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import pytest

from tests.factories import write_random
from tether.hashing import copy_hashing, list_files, sha256_file, sha256_files, tree_digest


def test_parallel_digests_match_hashlib(tmp_path: Path) -> None:
    paths = [write_random(tmp_path / f"f{i}.bin", (3 << 20) + i, seed=i) for i in range(5)]
    paths.append(tmp_path / "empty.bin")
    paths[-1].write_bytes(b"")
    expected = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert sha256_files(paths) == expected
    assert sha256_files(paths, workers=1) == expected
    seen: list[int] = []
    assert sha256_file(paths[0], progress=seen.append) == expected[paths[0]]
    assert sum(seen) == paths[0].stat().st_size


def test_tree_digest_changes_with_names_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    assert list_files(tmp_path) == ["b.txt", "sub/a.txt"]
    first = tree_digest(tmp_path)
    assert first.startswith("sha256:") and len(first) == 7 + 64
    assert tree_digest(tmp_path) == first
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")
    renamed = tree_digest(tmp_path)
    assert renamed != first
    (tmp_path / "c.txt").write_text("B")
    assert tree_digest(tmp_path) not in (first, renamed)


def test_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("x")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(ValueError, match="symbolic link"):
        list_files(tmp_path)


class _Breaking(io.RawIOBase):
    """Gives ``data`` in reads of ``step`` bytes, then raises ConnectionError once at ``at``."""

    def __init__(self, data: bytes, step: int, at: int | None = None) -> None:
        super().__init__()
        self._data, self._step, self._at, self.position = data, step, at, 0

    def readinto(self, buffer: Any) -> int:
        if self._at is not None and self.position >= self._at:
            self._at = None
            raise ConnectionError("reset")
        chunk = self._data[self.position : self.position + min(self._step, len(buffer))]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


def test_copy_hashing_copies_and_hashes_the_same_bytes(tmp_path: Path) -> None:
    data = random.Random(5).randbytes((20 << 20) + 123)  # more chunks than buffers
    digest, seen = hashlib.sha256(), []
    with open(tmp_path / "out", "wb") as target:
        copy_hashing(_Breaking(data, 700_000), target, digest, seen.append)
    assert (tmp_path / "out").read_bytes() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)


def test_copy_hashing_after_a_break_has_hashed_what_was_written(tmp_path: Path) -> None:
    data = random.Random(6).randbytes(9 << 20)
    source = _Breaking(data, 1 << 20, at=5 << 20)
    digest = hashlib.sha256()
    with open(tmp_path / "out", "wb") as target:
        with pytest.raises(ConnectionError):
            copy_hashing(source, target, digest)
        assert target.tell() == 5 << 20
        assert digest.copy().hexdigest() == hashlib.sha256(data[: 5 << 20]).hexdigest()
        copy_hashing(source, target, digest)  # resume: same digest, same file
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "out").read_bytes() == data
