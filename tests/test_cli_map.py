"""The CLI's shape: one command map, help by stage, lazy imports, one spelling per meaning."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tether.cli
from tether.cli import COMMAND_MAP, main

HOMES = {command: module for stage in COMMAND_MAP.values() for command, module in stage.items()}


def parse(args: list[str]) -> click.Context:
    """The innermost context of a tether command line, parsed but not run."""
    ctx = main.make_context("tether", list(args))
    command: click.Command = main
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]  # click < 9 keeps them apart
        if not rest:
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return ctx


def test_map_names_every_exported_command_once_and_nothing_else() -> None:
    exported = {}
    for info in pkgutil.iter_modules(tether.cli.__path__):
        module = importlib.import_module(f"tether.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert command.name not in exported, command.name
            exported[command.name] = info.name
    assert exported == HOMES
    assert sum(map(len, COMMAND_MAP.values())) == len(HOMES)  # no command in two stages


def test_help_lists_the_commands_by_stage_in_map_order() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed: dict[str, list[str]] = {}
    stage = None
    for line in result.output.splitlines():
        if line.endswith(":") and line[:-1] in COMMAND_MAP:
            stage = listed.setdefault(line[:-1], [])
        elif stage is not None and line.startswith("  "):
            stage.append(line.split()[0])
    assert listed == {name: list(commands) for name, commands in COMMAND_MAP.items()}


IMPORTS = """
import json, sys
from tether.cli import main
try:
    main({args!r}, standalone_mode=False)
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS.format(args=list(args))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.splitlines()[-1]))


def test_resolve_imports_only_its_module_no_store_and_no_spine() -> None:
    modules = imported_by("resolve", "--help")
    assert {m for m in modules if m.startswith("tether.cli.")} == {
        "tether.cli.profiles",
        "tether.cli.options",
    }
    assert not [m for m in modules if m.startswith(("tether.spine", "tether.stores"))]


def test_fetch_imports_no_runtime_numpy_onnxruntime_or_build_tools() -> None:
    modules = imported_by("fetch", "--help")
    assert {m for m in modules if m.startswith("tether.cli.")} == {
        "tether.cli.fetching",
        "tether.cli.options",
    }
    heavy = [
        "tether.runtime",
        "tether.recipe",
        "numpy",
        "onnxruntime",
        "torch",
        "transformers",
        "onnx",
    ]
    assert not [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in heavy)]


# Old spelling -> new, per command: each old one works for one release, hidden, with a note.
ALIASES = [
    (["fetch", "--dest", "x"], ["fetch", "--profiles-dir", "x"]),
    (["audit", "--dest", "x"], ["audit", "--profiles-dir", "x"]),
    (["bundle", "--dest", "x"], ["bundle", "--out", "x"]),
    (["download", "1.0.0", "--dest", "x"], ["download", "1.0.0", "--into", "x"]),
    (["release", "--sign", "k.pem"], ["release", "--signing-key", "k.pem"]),
    (["sign", "1.0.0", "--key", "k.pem"], ["sign", "1.0.0", "--signing-key", "k.pem"]),
    (
        ["verify", "--key", "a.pub", "--key", "b.pub", "f"],
        ["verify", "--trusted-key", "a.pub", "--trusted-key", "b.pub", "f"],
    ),
    (
        ["bundle", "verify", "--key", "a.pub", "f"],
        ["bundle", "verify", "--trusted-key", "a.pub", "f"],
    ),
    (["build", "--verify-against", "1.0.0"], ["build", "--compare-with", "1.0.0"]),
    (["eval", "--baseline", "previous"], ["eval", "--compare-with", "previous"]),
    (["notes", "1.0.1", "--against", "1.0.0"], ["notes", "1.0.1", "--compare-with", "1.0.0"]),
]


@pytest.mark.parametrize(("old", "new"), ALIASES, ids=lambda args: " ".join(args))
def test_old_spelling_still_works_hidden_with_a_note(
    old: list[str],
    new: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TETHER_SIGNING_KEY", raising=False)
    old_flag, new_flag = (
        next(a for a in args if a not in set(old) & set(new)) for args in (old, new)
    )
    new_ctx = parse(new)
    assert capsys.readouterr().err == ""
    old_ctx = parse(old)
    assert old_ctx.params == new_ctx.params
    assert (
        capsys.readouterr().err
        == f"note: {old_flag} is deprecated and goes in the next release; use {new_flag}\n"
    )
    shown = CliRunner().invoke(main, [*old[: old.index(old_flag)], "--help"]).output
    assert new_flag in shown and old_flag not in shown.replace(new_flag, "")


@pytest.mark.parametrize("command", [["release"], ["sign", "1.0.0"]])
def test_signing_key_env_var_still_fills_it_and_either_spelling_beats_it(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_SIGNING_KEY", "from-env.pem")
    assert parse(command).params["signing_key"] == "from-env.pem"
    old = "--sign" if command == ["release"] else "--key"
    for flag in (old, "--signing-key"):
        assert parse([*command, flag, "typed.pem"]).params["signing_key"] == "typed.pem"


def test_old_and_new_spelling_together_are_refused() -> None:
    for args in (
        ["fetch", "--dest", "a", "--profiles-dir", "b"],
        ["fetch", "--profiles-dir", "b", "--dest", "a"],
    ):
        with pytest.raises(click.UsageError, match="give --profiles-dir once"):
            parse(args)


def test_bundle_old_out_spelling_before_a_subcommand_is_refused_as_before(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bundle", "--dest", "x", "verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "--out belong(s) to `tether bundle` itself" in result.output
