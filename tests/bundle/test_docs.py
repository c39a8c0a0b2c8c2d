"""docs/shipping.md: its Nuitka example lays the bundle out where the runtime finds it, and
every tether command line in it parses with the CLI."""

from __future__ import annotations

import re
import shlex
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import tether
from tests.bundle.helpers import PROFILE_ID, make_project
from tests.bundle.test_init import parse_tether, tether_lines
from tether.cli import main
from tether.stores.file import FileStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "shipping.md"
# What Nuitka's --include-data-dir leaves out (nuitka/freezer/IncludedDataFiles.py)
NUITKA_IGNORED_SUFFIXES = (".py", ".pyw", ".pyc", ".pyo", ".pyi", ".so", ".pyd", ".dll", ".dylib")
NUITKA_IGNORED_DIRS = ("__pycache__", "site-packages")
NUITKA_IGNORED_FILES = ("py.typed", ".DS_Store")


def sh_blocks(text: str) -> list[list[str]]:
    """Each ```sh block as logical lines (continuations joined)."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [
        [ln.strip() for ln in b.replace("\\\n", " ").splitlines() if ln.strip()] for b in blocks
    ]


def nuitka_block() -> list[str]:
    (block,) = [b for b in sh_blocks(DOC.read_text()) if any("-m nuitka" in ln for ln in b)]
    return block


def expand(command: str) -> list[str]:
    """The command's words, each ``$(tether ...)`` replaced by what that command prints."""
    words = []
    for word in shlex.split(command.replace("$(", "$( ").replace(")", " )")):
        words.append(word)
    out: list[str] = []
    inner: list[str] | None = None
    for word in words:
        if word == "$(":
            inner = []
        elif word == ")" and inner is not None:
            assert inner[0] == "tether", inner
            result = CliRunner().invoke(main, inner[1:])
            assert result.exit_code == 0, result.output
            out += result.output.split()
            inner = None
        elif inner is not None:
            inner.append(word)
        else:
            out.append(word)
    return out


def nuitka_layout(command: str, project: Path) -> Path:
    """Lay files out as the Nuitka command's data options would; the .dist folder."""
    words = expand(command)
    out = next(w.split("=", 1)[1] for w in words if w.startswith("--output-dir="))
    script = next(w for w in words if w.endswith(".py"))
    dist = project / out / f"{Path(script).stem}.dist"
    for word in words:
        option, _, value = word.partition("=")
        if option not in ("--include-data-dir", "--include-data-files", "--include-raw-dir"):
            continue
        source, dest = value.split("=")
        source_path = project / source
        if option == "--include-data-files":
            (dist / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_path, dist / dest)  # Nuitka copies with permissions
            continue
        for path in sorted(source_path.rglob("*")):
            rel = path.relative_to(source_path)
            if not path.is_file() or any(p in NUITKA_IGNORED_DIRS for p in rel.parts):
                continue
            if path.name in NUITKA_IGNORED_FILES or path.name.endswith(NUITKA_IGNORED_SUFFIXES):
                continue
            (dist / dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dist / dest / rel)
    return dist


def test_nuitka_example_verifies_audits_and_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("TETHER_STORE", "TETHER_BUNDLE_DIR", "TETHER_MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    project = make_project(tmp_path, FileStore(tmp_path / "store"))
    monkeypatch.chdir(project)
    runner = CliRunner()
    assert runner.invoke(main, ["bundle"]).exit_code == 0  # into build/tether-bundle
    block = nuitka_block()
    dist = nuitka_layout(next(ln for ln in block if "-m nuitka" in ln), project)

    for args in tether_lines([ln for ln in block if ln.startswith("tether ")]):
        # no executable in a laid-out folder: the self-test runs in test_nuitka_app.py
        result = runner.invoke(main, [a for a in args if a != "--self-test"])
        assert result.exit_code == 0, result.output
    for path in dist.rglob("*"):  # readable by whoever runs the app
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path

    # a standalone binary in dist/app.dist: the runtime's "executable's folder" candidate
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setattr(sys, "executable", str(dist / "app.bin"))
    monkeypatch.setattr(sys.modules["__main__"], "__compiled__", object(), raising=False)
    monkeypatch.chdir(tmp_path)
    found = tether.resolve(PROFILE_ID, variant="int8")
    assert (found.source, found.folder) == (
        "bundle:executable",
        dist / "embedding_models" / PROFILE_ID,
    )


def test_every_tether_line_in_the_doc_parses() -> None:
    lines = [ln for block in sh_blocks(DOC.read_text()) for ln in block]
    lines = [ln.split(" #")[0].replace("<40-hex commit>", "0" * 40) for ln in lines]
    commands = tether_lines([ln for ln in lines if ln.startswith("tether ")])
    assert len(commands) == 9  # 2: the Go path (tether init --app-kind)
    for args in commands:
        parse_tether(args)
