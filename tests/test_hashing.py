from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import write_random
from tether.hashing import list_files, sha256_file, sha256_files, tree_digest


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
