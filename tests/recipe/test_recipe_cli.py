"""`tether build`: progress, one-line errors, --compare-with (on the tiny checkpoint)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli import main

pytestmark = pytest.mark.usefixtures("clean_build_env")


def _write_recipe(project: Path, checkpoint: Path, extra: str = "") -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "tether.toml").write_text(
        f'[profile]\nid = "tiny-profile-v1"\n{extra}\n'
        f'[source]\ntype = "path"\npath = "{checkpoint.as_posix()}"\n'
        'model = "tether-tests/tiny-bert"\n',
        encoding="utf-8",
    )


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_build_shows_stages_and_prints_the_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint)
    code, out, err = _run("build", "--project", str(project))
    assert code == 0, err
    built = project / "build" / "tiny-profile-v1"
    assert out.strip() == str(built)
    assert (built / "MANIFEST.txt").is_file()
    stages = [
        line.split("]")[1].split(":")[0].strip()
        for line in err.splitlines()
        if line.startswith("[")
    ]
    assert stages == [
        "source",
        "checkpoint",
        "tokenizer",
        "export fp32",
        "check fp32",
        "quantize int8",
        "parity int8",
        "metadata",
    ]
    assert all(line.endswith(" s)") for line in err.splitlines() if line.startswith("["))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('pooling = "max"', "pooling 'max' is not supported"),
        ("max_length = 0", "max_length must be a whole number"),
    ],
)
def test_bad_recipe_exits_2_with_one_line(
    extra: str, expected: str, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint, extra)
    code, _, err = _run("build", "--project", str(project), "--out", str(tmp_path / "out"))
    assert code == 2
    assert expected in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_branch_revision_exits_2(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tether.toml").write_text(
        '[profile]\nid = "p-v1"\n[source]\ntype = "hf"\nrepo = "org/model"\nrevision = "main"\n'
    )
    code, _, err = _run("build", "--project", str(project))
    assert code == 2
    assert "branch or tag" in _one_error_line(err)
    assert not (project / "build").exists()


def test_parity_failure_exits_1(tiny_checkpoint: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint, "[parity]\nmin_mean = 1.0\n")
    code, _, err = _run("build", "--project", str(project))
    assert code == 1
    assert "int8 parity gate failed" in _one_error_line(err)
    assert not (project / "build" / "tiny-profile-v1").exists()


def test_missing_build_extra_names_the_install(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    code, _, err = _run("build", "--project", str(project))
    assert code == 2
    line = _one_error_line(err)
    assert "missing: torch" in line and "pip install" in line and "tether[build]" in line


def test_verify_against_passes_then_names_a_changed_file(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from tether.spine import publish_release
    from tether.stores import open_store

    project = tmp_path / "project"
    store_dir = tmp_path / "store"
    _write_recipe(project, tiny_checkpoint)
    code, out, err = _run("build", "--project", str(project))
    assert code == 0, err
    publish_release(open_store(str(store_dir)), Path(out.strip()), version="1.0.0")

    args = ("build", "--project", str(project), "--store", str(store_dir))
    code, out, err = _run(*args, "--compare-with", "v1.0.0", "--out", str(tmp_path / "re"))
    assert code == 0, err
    assert "rebuild matches tiny-profile-v1 model-v1.0.0" in out

    stored = store_dir / "tiny-profile-v1" / "model-v1.0.0" / "onnx" / "model_quantized.onnx"
    os.chmod(stored, 0o644)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    code, _, err = _run(*args, "--compare-with", "1.0.0")
    assert code == 1
    assert "rebuild does not match tiny-profile-v1 model-v1.0.0" in _one_error_line(err)
    assert "onnx/model_quantized.onnx: the stored file differs" in err


def test_verify_against_unknown_version_fails_before_building(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint)
    code, _, err = _run(
        "build",
        "--project",
        str(project),
        "--store",
        str(tmp_path / "s"),
        "--compare-with",
        "9.9.9",
    )
    assert code == 2
    _one_error_line(err)
    assert "[1/8]" not in err


def test_verify_report_names_rebuild_differences(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from tether.recipe.verify import verify_against
    from tether.spine import publish_release
    from tether.stores import open_store

    project = tmp_path / "project"
    _write_recipe(project, tiny_checkpoint)
    code, out, err = _run("build", "--project", str(project))
    assert code == 0, err
    built = Path(out.strip())
    store = open_store(str(tmp_path / "store"))
    publish_release(store, built, version="1.0.0")

    # probe.json may differ in its last digits on another CPU: compared as vectors
    rebuilt = Path(shutil.copytree(built, tmp_path / "rebuilt"))
    probe = json.loads((rebuilt / "probe.json").read_text())
    probe["fp32"][0][0] += 1e-7
    (rebuilt / "probe.json").write_text(json.dumps(probe))
    report = verify_against(store, "tiny-profile-v1", "1.0.0", rebuilt)
    assert report.ok and "probe.json" in report.identical
    assert any("vectors agree" in note for note in report.notes)

    probe["fp32"][0] = [-x for x in probe["fp32"][0]]
    (rebuilt / "probe.json").write_text(json.dumps(probe))
    (rebuilt / "extra.txt").write_text("new\n")
    (rebuilt / "vocab.txt").unlink()
    report = verify_against(store, "tiny-profile-v1", "1.0.0", rebuilt)
    assert report.problems == [
        "extra.txt: produced by the rebuild, not in the release",
        "probe.json: the rebuild differs from the release",
        "vocab.txt: in the release, not produced by the rebuild",
    ]

    # a changed source: the files that differ are named, the facts that explain it noted
    (tiny_checkpoint / "README.md").write_text("a new upstream commit\n")
    code, _, err = _run(
        "build",
        "--project",
        str(project),
        "--store",
        str(tmp_path / "store"),
        "--compare-with",
        "1.0.0",
    )
    assert code == 1
    assert "  README.md: the rebuild differs from the release" in err
    assert "note: Source revision: release sha256:" in err
    assert "note: recipe: release sha256:" in err
