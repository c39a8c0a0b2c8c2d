from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ManifestError
from tether.prepared import PREPARED_FILE, Prepared, PreparedFile, read_prepared, write_prepared


def test_round_trip(tmp_path: Path) -> None:
    record = Prepared(
        store="file:///s",
        name="p",
        release="model-v1.0.1",
        manifest_sha256="a" * 64,
        variants=["int8"],
        files={"onnx/model_quantized.onnx": PreparedFile(10, "b" * 64)},
    )
    write_prepared(tmp_path, record)
    assert read_prepared(tmp_path) == record
    assert record.version == "1.0.1"
    assert [p.name for p in tmp_path.iterdir()] == [PREPARED_FILE]  # no temp file left


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "malformed"),
        ('{"schema": 2}', "unknown .prepared.json schema"),
        ('{"schema": 1, "store": "s"}', "malformed"),
        (
            '{"schema": 1, "store": "s", "name": "p", "release": "model-v1.0.0",'
            ' "manifest_sha256": "x", "variants": [],'
            ' "files": {"../x": {"size": 1, "sha256": "y"}}}',
            "unsafe file path",
        ),
        *(
            (
                '{"schema": 1, "store": "s", "name": "p", "release": "model-v1.0.0",'
                ' "manifest_sha256": "x", "variants": [],'
                f' "files": {{"a": {{"size": {size}, "sha256": "y"}}}}}}',
                "not a byte count",
            )
            for size in ("1.5", "-1", "true", '"12"', "1e400", "NaN")
        ),
        ("\ufeff{}", "malformed"),
    ],
)
def test_malformed_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / PREPARED_FILE).write_text(text)
    with pytest.raises(ManifestError, match=problem):
        read_prepared(tmp_path)


def test_absent_is_none(tmp_path: Path) -> None:
    assert read_prepared(tmp_path) is None


def test_unreadable_is_refused(tmp_path: Path) -> None:
    (tmp_path / PREPARED_FILE).write_bytes(b'\xff\xfe{"schema": 1}')
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_prepared(tmp_path)
    (tmp_path / PREPARED_FILE).unlink()
    (tmp_path / PREPARED_FILE).mkdir()
    with pytest.raises(ManifestError, match="cannot be read"):
        read_prepared(tmp_path)
