"""The CLI of the spine: one-line errors with their fix, exit codes, the whole flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.factories import NAME
from tests.factories import make_small_release as make_profile_release
from tether.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args], capture_output=True, text=True, check=False
    )


def test_flow_through_cli(project_dir: Path, tmp_path: Path) -> None:
    build = make_profile_release(tmp_path / "build", seed=1)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "published local-text-retrieval-v1 model-v1.0.0" in ok("release", "--from", str(build))
    assert "model-v1.0.1" in ok("release", "--from", str(build))  # next patch, no --version
    ok("promote", "1.0.0")
    assert "pinned local-text-retrieval-v1 model-v1.0.0 (promoted)" in ok("pin", "v1.0.0")
    assert (project_dir / ".model-version").read_text() == "1.0.0\n"
    listing = ok("list")
    assert "* model-v1.0.0" in listing and "promoted" in listing
    assert "fetched" in ok("fetch", "--variant", "int8")
    assert "already holds" in ok("fetch", "--variant", "int8")
    folder = project_dir / "data" / "embedding_models" / NAME
    assert "verified" in ok("verify", str(folder))
    assert "BAD" not in ok("audit")
    shown = ok("show", "1.0.0")
    assert "state: promoted" in shown and "onnx/model_quantized.onnx" in shown

    (folder / "onnx" / "model_quantized.onnx").write_bytes(b"x")
    result = runner.invoke(main, ["verify", str(folder)])
    assert result.exit_code == 1
    assert "mismatch: onnx/model_quantized.onnx" in result.output
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1 and "BAD files" in result.output


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["pin", "1.0"], 2, "error: invalid version"),
        (
            ["pin", "9.9.9"],
            2,
            "has no release local-text-retrieval-v1 model-v9.9.9; run `tether list`",
        ),
        (["release", "--from", "build", "--version", "1.0.0"], 2, "already has"),
        (["release", "--from", "build", "--version", "vfoo.bar.baz"], 2, "invalid version"),
        (["release", "--from", "missing-dir"], 2, "is not a folder"),
        (["fetch"], 2, "no .model-version"),
        (["show", "1.0.0", "--name", "../etc"], 2, "invalid name '../etc'"),
        (["list", "--store", "ftp://host/x"], 2, "unknown store URL scheme 'ftp'"),
        (["withdraw", "1.0.0", "--reason", " "], 2, "needs a reason"),
    ],
)
def test_errors_are_one_line_with_fix(
    project_dir: Path, args: list[str], exit_code: int, message: str
) -> None:
    make_profile_release(project_dir / "build", seed=1)
    assert run("release", "--from", "build", "--version", "1.0.0").returncode == 0
    result = run(*args)
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert ";" in lines[0]  # the fix follows the problem
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(project_dir: Path) -> None:
    result = run("--debug", "pin", "1.0")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_every_command_has_help() -> None:
    runner = CliRunner()

    def walk(command: click.Command, path: list[str]) -> None:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])  # type: ignore[arg-type]

    walk(main, [])
    names = set(main.list_commands(click.Context(main)))
    assert {"release", "pin", "fetch", "verify", "audit", "version", "name"} <= names
