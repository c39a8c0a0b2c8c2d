from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tether.errors import IntegrityError, ManifestError
from tether.manifest import (
    PROVENANCE_FILE,
    Manifest,
    build_timestamp,
    check_folder,
    ci_run_url,
    parse_manifest,
    render_manifest,
    render_provenance,
    write_release_metadata,
)

GOLDEN = Path(__file__).parent / "golden" / "MANIFEST.txt"
D1, D2 = "a" * 64, "b" * 64


def test_golden_round_trip() -> None:
    text = GOLDEN.read_text()
    manifest = parse_manifest(text)
    assert manifest.name == "local-text-retrieval-v1"
    assert manifest.version == "1.0.1"
    assert manifest.files["vocab.txt"] == "5" * 64
    assert manifest.fact("Source", "revision") == "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
    assert manifest.fact("Build", "quantization") == "dynamic int8, weights QInt8, per-channel"
    assert render_manifest(manifest) == text


def _manifest_with(file_lines: str) -> str:
    return f"# demo model-v1.0.0 provenance\n\n## Files (SHA256)\n{file_lines}\n"


@pytest.mark.parametrize(
    ("file_lines", "problem"),
    [
        ("", "no '## Files"),
        ("onnx/model.onnx", "not '<64 lowercase hex"),  # missing digest
        (f"{D1.upper()}  a.bin", "not '<64 lowercase hex"),
        (f"{D1[:63]}  a.bin", "not '<64 lowercase hex"),
        (f"{D1}0  a.bin", "not '<64 lowercase hex"),
        (f"{D1} a.bin", "not '<64 lowercase hex"),  # one space: not sha256sum format
        (f"{D1}  a.bin\n{D2}  a.bin", "listed twice"),
        (f"{D1}  ../evil.bin", "unsafe file path"),
        (f"{D1}  onnx/../../evil.bin", "unsafe file path"),
        (f"{D1}  /etc/passwd", "unsafe file path"),
        (f"{D1}  C:/evil.bin", "unsafe file path"),
        (f"{D1}  onnx\\evil.bin", "unsafe file path"),
        (f"{D1}  ./a.bin", "unsafe file path"),
    ],
)
def test_parser_refuses(file_lines: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem.replace("(", r"\(")):
        parse_manifest(_manifest_with(file_lines))


@pytest.mark.parametrize(
    "header",
    ["", "# demo model-vv1.0.0", "demo model-v1.0.0 provenance", "# demo 1.0.0 provenance"],
)
def test_parser_refuses_bad_header(header: str) -> None:
    with pytest.raises(ManifestError, match="first line"):
        parse_manifest(f"{header}\n\n## Files (SHA256)\n{D1}  a.bin\n")


def test_write_release_metadata_passes_sha256sum(tmp_path: Path) -> None:
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"weights" * 1000)
    (tmp_path / "tokenizer.json").write_text("{}")
    sections = {"Source": {"model": "org/m", "revision": "a" * 40}, "Build": {"workflow": "local"}}
    manifest = write_release_metadata(tmp_path, Manifest("demo", "1.0.0", {}, sections))
    assert set(manifest.files) == {"onnx/model.onnx", "tokenizer.json", PROVENANCE_FILE}
    if shutil.which("sha256sum"):
        out = subprocess.run(
            "grep -E '^[0-9a-f]{64}  ' MANIFEST.txt | sha256sum -c",
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.count(": OK") == 3
    statement = json.loads((tmp_path / PROVENANCE_FILE).read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects == {k: v for k, v in manifest.files.items() if k != PROVENANCE_FILE}
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps == [{"uri": "https://huggingface.co/org/m", "digest": {"gitCommit": "a" * 40}}]
    # SLSA: builder.id is a URI, also for a build on a developer's machine
    builder = statement["predicate"]["runDetails"]["builder"]["id"]
    assert urlparse(builder).scheme in {"https", "urn"}, builder


def test_provenance_uris_for_a_local_folder_source_and_a_ci_run() -> None:
    sections = {
        "Source": {"model": "my model", "revision": "sha256:" + "b" * 64},
        "Build": {"workflow": "https://ci.example/runs/7"},
    }
    statement = json.loads(render_provenance(Manifest("demo", "1.0.0", {}, sections)))
    (dep,) = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dep == {"uri": "urn:tether:source:my%20model", "digest": {"sha256": "b" * 64}}
    assert statement["predicate"]["runDetails"]["builder"]["id"] == "https://ci.example/runs/7"


def test_check_folder_names_each_problem(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"b")
    manifest = write_release_metadata(tmp_path, Manifest("demo", None, {}, {}))
    (tmp_path / "a.bin").write_bytes(b"A")
    (tmp_path / "b.bin").unlink()
    (tmp_path / "c.bin").write_bytes(b"c")
    with pytest.raises(IntegrityError) as info:
        check_folder(tmp_path, manifest, where="build")
    assert info.value.problems == ["missing: b.bin", "not in MANIFEST: c.bin", "changed: a.bin"]


def test_build_facts_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_timestamp() == "2023-11-14T22:13:20Z"
    for key in ("GITHUB_RUN_ID", "GITHUB_REPOSITORY", "CI_JOB_URL"):
        monkeypatch.delenv(key, raising=False)
    assert ci_run_url() == "local"
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/jobs/9")
    assert ci_run_url() == "https://gitlab.example/jobs/9"
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    assert ci_run_url() == "https://github.com/o/r/actions/runs/42"
    assert ci_run_url("https://ci/run/1") == "https://ci/run/1"
