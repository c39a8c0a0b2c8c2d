"""`tether version` and `tether name`: output, exit codes and one-line errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

import tether
from tether.errors import InvalidNameError, InvalidTagError, InvalidVersionError, TetherError


def _load_versions() -> ModuleType:
    try:
        from tether.cli import versions
    except ImportError:  # sibling CLI modules not written yet: load this one on its own
        path = Path(tether.__file__).parent / "cli" / "versions.py"
        spec = importlib.util.spec_from_file_location("_tether_cli_versions_alone", path)
        assert spec is not None and spec.loader is not None
        versions = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(versions)
    return versions


versions = _load_versions()
EXAMPLE = "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-20250915-124051"


def run(group: object, *args: str) -> Result:
    return CliRunner().invoke(group, list(args))  # type: ignore[arg-type]


def test_commands_export() -> None:
    assert [c.name for c in versions.COMMANDS] == ["version", "name"]


@pytest.mark.parametrize(
    ("tag", "version", "kind", "semver"),
    [
        ("v1.2.3", "1.2.3", "v", True),
        ("model-v1.0.0-rc.1", "1.0.0-rc.1", "model", True),
        ("export-v1.0.0", "1.0.0", "export", True),
        ("vfoo.bar.baz", "vfoo.bar.baz", "other", False),
        ("nightly", "nightly", "other", False),
    ],
)
def test_version_parse(tag: str, version: str, kind: str, semver: bool) -> None:
    result = run(versions.version, "parse", tag, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "tag": tag,
        "version": version,
        "kind": kind,
        "semver": semver,
    }
    plain = run(versions.version, "parse", tag)
    assert plain.exit_code == 0
    assert plain.stdout.splitlines() == [
        f"version: {version}",
        f"kind:    {kind}",
        f"semver:  {'yes' if semver else 'no'}",
    ]


@pytest.mark.parametrize("tag", ["vfoo.bar.baz", "v1.2", "model-vv1.0.0", "nightly"])
def test_version_parse_semver_required(tag: str) -> None:
    result = run(versions.version, "parse", "--semver", tag)
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidTagError)
    assert repr(tag) in str(result.exception)


def test_version_parse_refuses_unsafe_tag() -> None:
    result = run(versions.version, "parse", "refs/tags/v1.0.0")
    assert isinstance(result.exception, InvalidTagError)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["1.2.3"], "1.2.4"),
        (["v1.2.3", "--part", "minor"], "1.3.0"),
        (["1.2.3", "--part", "major"], "2.0.0"),
        (["1.2.3", "--part", "prerelease"], "1.2.4-rc.1"),
        (["1.2.4-rc.1", "--part", "prerelease"], "1.2.4-rc.2"),
        (["1.2.3", "--part", "prerelease", "--label", "beta"], "1.2.4-beta.1"),
        (["1.2.4-rc.2", "--part", "patch"], "1.2.4"),
    ],
)
def test_version_bump(args: list[str], expected: str) -> None:
    result = run(versions.version, "bump", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"


@pytest.mark.parametrize(
    "args",
    [
        ["1.2"],
        ["vv1.0.0"],
        ["1.0.0", "--part", "build"],
        ["1.0.0", "--part", "prerelease", "--label", ""],
    ],
)
def test_version_bump_refuses(args: list[str]) -> None:
    result = run(versions.version, "bump", *args)
    assert isinstance(result.exception, InvalidVersionError)


@pytest.mark.parametrize(
    ("version", "tag"), [("1.0.1", "model-v1.0.1"), ("v1.0.1", "model-v1.0.1")]
)
def test_version_tag(version: str, tag: str) -> None:
    result = run(versions.version, "tag", version)
    assert result.exit_code == 0
    assert result.stdout == tag + "\n"


@pytest.mark.parametrize("bad", ["model-v1.0.1", "vv1.0.1", "1.0"])
def test_version_tag_never_doubles_the_v(bad: str) -> None:
    result = run(versions.version, "tag", bad)
    assert isinstance(result.exception, InvalidVersionError)
    assert "vv" not in result.stdout


BUILD = [
    "build",
    "--base",
    "phi3mini4k",
    "--config",
    "minimal-r32-a64-e20",
    "--trained-at",
    "20250914-132416",
    "--format",
    "vllm",
]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--exported-at", "20250915-124051"], EXAMPLE),
        (["--exported-at", "20250915-124051", "--tag", "vfoo.bar.baz"], EXAMPLE),
        (
            ["--exported-at", "20250915-124051", "--tag", "v2.0.0"],
            "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v2.0.0",
        ),
        (["--tag", "model-v1.0.1"], "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v1.0.1"),
    ],
)
def test_name_build(extra: list[str], expected: str) -> None:
    result = run(versions.name, *BUILD, *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"


def test_name_build_defaults_to_now() -> None:
    result = run(versions.name, *BUILD)
    assert result.exit_code == 0
    assert result.stdout.startswith("phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-20")


@pytest.mark.parametrize(
    "override",
    [
        ("--trained-at", "20251399-250000"),
        ("--trained-at", "2025-09-14"),
        ("--format", "vllm-v2.0"),  # a near-version is never kept as a format
        ("--format", "vllm-20250915"),  # nor a date with no time
        ("--base", ""),
        ("--config", "a--b"),
    ],
)
def test_name_build_refuses(override: tuple[str, str]) -> None:
    args = BUILD[:]
    args[args.index(override[0]) + 1] = override[1]
    result = run(versions.name, *args, "--exported-at", "20250915-124051")
    assert isinstance(result.exception, InvalidNameError)


def test_name_build_refuses_bad_export_time() -> None:
    result = run(versions.name, *BUILD, "--exported-at", "20250230-000000")
    assert isinstance(result.exception, InvalidNameError)
    assert "--exported-at" in str(result.exception)


def test_name_parse() -> None:
    result = run(versions.name, "parse", EXAMPLE, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "name": EXAMPLE,
        "base": "phi3mini4k",
        "config": "minimal-r32-a64-e20",
        "trained_at": "2025-09-14T13:24:16+00:00",
        "format": "vllm",
        "exported_at": "2025-09-15T12:40:51+00:00",
        "version": None,
        "exporter_first": False,
        "archive": None,
    }
    plain = run(versions.name, "parse", EXAMPLE)
    assert plain.exit_code == 0
    assert "config:         minimal-r32-a64-e20" in plain.stdout.splitlines()
    assert "version:        -" in plain.stdout.splitlines()


def test_name_parse_refuses() -> None:
    result = run(versions.name, "parse", "vllm--v2.0.0")
    assert isinstance(result.exception, InvalidNameError)


STEM = "phi3mini4k-minimal-r32-a64-e20-20250915-132416"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            f"ollama-q4_k_m-{STEM}-v2.0.0.tar.gz",
            {
                "base": "phi3mini4k",
                "config": "minimal-r32-a64-e20",
                "trained_at": "2025-09-15T13:24:16+00:00",
                "format": "ollama-q4_k_m",
                "exported_at": None,
                "version": "2.0.0",
                "exporter_first": True,
                "archive": "tar.gz",
            },
        ),
        (
            "phi3mini4k-minimal-q4_k_m-gguf-v2.0.1",
            {
                "base": "phi3mini4k",
                "config": "minimal",
                "trained_at": None,
                "format": "q4_k_m-gguf",
                "exported_at": None,
                "version": "2.0.1",
                "exporter_first": False,
                "archive": None,
            },
        ),
    ],
)
def test_name_parse_new_forms(text: str, fields: dict[str, object]) -> None:
    result = run(versions.name, "parse", text, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": text, **fields}
    plain = run(versions.name, "parse", text).stdout.splitlines()
    assert f"exporter_first: {'yes' if fields['exporter_first'] else 'no'}" in plain
    assert f"archive:        {fields['archive'] or '-'}" in plain


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [
                *("--base", "phi3mini4k", "--config", "minimal-r32-a64-e20"),
                *("--trained-at", "20250915-132416", "--format", "ollama-q4_k_m"),
                *("--tag", "v2.0.0", "--exporter-first", "--archive", "tar.gz"),
            ],
            f"ollama-q4_k_m-{STEM}-v2.0.0.tar.gz",
        ),
        (
            [
                *("--base", "phi3mini4k", "--config", "minimal-r32-a64-e20"),
                *("--trained-at", "20250915-132416", "--format", "vllm"),
                *("--exported-at", "20250916-000000", "--exporter-first", "--archive", ".zip"),
            ],
            f"vllm-{STEM}-20250916-000000.zip",
        ),
        (
            [
                *("--base", "phi3mini4k", "--config", "minimal-r32-a64-e20"),
                *("--trained-at", "20250914-132416", "--format", "q4_k_m-gguf"),
                *("--exported-at", "20250915-125110"),
            ],
            "phi3mini4k-minimal-r32-a64-e20-20250914-132416-q4_k_m-gguf-20250915-125110",
        ),
        (
            # no --trained-at: avro's legacy name, which needs a semver tag and a known format
            [
                *("--base", "phi3mini4k", "--config", "minimal", "--format", "vllm"),
                "--tag",
                "v2.0.1",
            ],
            "phi3mini4k-minimal-vllm-v2.0.1",
        ),
    ],
)
def test_name_build_new_forms(args: list[str], expected: str) -> None:
    result = run(versions.name, "build", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"
    parsed = json.loads(run(versions.name, "parse", expected, "--json").stdout)
    assert parsed["name"] == expected and parsed["base"] == "phi3mini4k"


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--format", "vllm", "--tag", "nightly"], "needs a version; tag 'nightly'"),
        (["--format", "custom", "--tag", "v2.0.1"], "invalid format 'custom'"),
        (["--format", "vllm", "--tag", "v2.0.1", "--archive", "rar"], "archive extension 'rar'"),
    ],
)
def test_name_build_new_forms_refused(args: list[str], why: str) -> None:
    result = run(versions.name, "build", "--base", "phi3", "--config", "avro", *args)
    assert isinstance(result.exception, InvalidNameError)
    assert why in str(result.exception)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("phi3-avro-vllm-custom-v2.0.0", "no known format before -v2.0.0"),
        ("vllm-adapter-20250915", "'20250915' is a date with no time"),
    ],
)
def test_name_parse_refusal_is_one_line_exit_2(text: str, why: str) -> None:
    from tether.cli import main

    result = CliRunner().invoke(main, ["name", "parse", text, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: invalid name {text!r}: ")
    assert why in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_name_latest_mixed_archive_and_plain() -> None:
    names = [
        f"vllm-{STEM}-v9.0.0.tar.gz",
        f"vllm-{STEM}-v10.0.0.tar.gz",
        "phi3mini4k-minimal-r32-a64-e20-20250915-132416-vllm-20250916-000000",
        "vllm-adapter-v99.0.0",  # refused, skipped
    ]
    result = run(versions.name, "latest", *names)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"vllm-{STEM}-v10.0.0.tar.gz\n"


def test_name_latest() -> None:
    names = [
        "zeta-cfg-20240101-000000-vllm-20240102-000000",
        "alpha-cfg-20250101-000000-vllm-20250102-000000",
        "README.md",
    ]
    result = run(versions.name, "latest", *names)
    assert result.exit_code == 0
    assert result.stdout == "alpha-cfg-20250101-000000-vllm-20250102-000000\n"
    assert isinstance(run(versions.name, "latest", "README.md").exception, InvalidNameError)
    assert run(versions.name, "latest").exit_code == 2  # click: NAME... is required


@pytest.mark.parametrize(
    "args",
    [
        ["version"],
        ["version", "parse"],
        ["version", "bump"],
        ["version", "tag"],
        ["name"],
        ["name", "build"],
        ["name", "parse"],
        ["name", "latest"],
    ],
)
def test_help(args: list[str]) -> None:
    group = versions.version if args[0] == "version" else versions.name
    result = run(group, *args[1:], "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_errors_are_tether_errors_not_tracebacks() -> None:
    result = run(versions.version, "bump", "01.0.0")
    assert isinstance(result.exception, TetherError)
    assert result.exception.hint


def test_through_main_one_line_error_exit_2() -> None:
    # Needs every module in tether.cli._COMMAND_MODULES; fails until they all exist.
    from tether.cli import main

    result = CliRunner().invoke(main, ["version", "parse", "--semver", "vfoo.bar.baz"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: tag 'vfoo.bar.baz' is not a semantic version tag")
    assert len(result.stderr.strip().splitlines()) == 1
    ok = CliRunner().invoke(main, ["version", "tag", "v1.0.1"])
    assert ok.exit_code == 0 and ok.stdout == "model-v1.0.1\n"
