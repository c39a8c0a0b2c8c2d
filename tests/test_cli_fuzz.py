"""The CLI on fuzzed arguments: an error is one line and an exit code, never a traceback.

Every command that takes a user string (a version, tag, name, profile id, variant, app
name, folder) is invoked through click's CliRunner in a project folder whose folder store
(``./releases``) holds one tiny release, ``m`` 1.0.0. An outcome is fine when the command
succeeds or exits (SystemExit: a TetherError's one line, or click's usage error); any other
exception, or "Traceback" in the output, fails the test.

Arguments the OS or Python refuses before tether's own checks (a name too long for the
filesystem, a NUL byte, ``~nosuchuser``), listed in OS_REFUSALS, must end the same way:
one ``error:`` line and exit 2, through the CLI's last-resort handler.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.test_parsers_fuzz import ADVERSARIAL_TEXT, HUGE_DIGITS
from tether.cli import main
from tether.names import DEFAULT_STORE_DIR, PIN_FILE

FUZZ = settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG = "1.0.0-" + "a" * 100_000  # a pasted log line, say


def make_project(project: Path) -> Path:
    """A project folder with nothing but a folder store holding release m 1.0.0."""
    (project / "artifact").mkdir(parents=True)
    (project / "artifact" / "model.bin").write_bytes(b"tiny model bytes")
    old = Path.cwd()
    os.chdir(project)
    try:
        args = ["release", "--from", "artifact", "--version", "1.0.0", "--name", "m"]
        result = CliRunner().invoke(main, args, env=_env(project))
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert (project / DEFAULT_STORE_DIR / "m").is_dir()
    return project


@pytest.fixture(scope="module")
def cli_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fuzzed commands' project, shared: whatever they change stays for the next."""
    return make_project(tmp_path_factory.mktemp("cli-fuzz") / "project")


@pytest.fixture
def fresh_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own project (the fuzzing publishes releases of other names)."""
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def in_project(cli_project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(cli_project)
    yield cli_project


def _env(project: Path) -> dict[str, str | None]:
    """No TETHER_* of the developer's, and a private user data folder."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("TETHER_")}
    env["XDG_DATA_HOME"] = str(project.parent / "xdg-data")
    return env


def run(project: Path, args: list[str]) -> Result:
    return CliRunner().invoke(main, args, env=_env(project), catch_exceptions=True)


def assert_no_crash(result: Result, args: list[str]) -> None:
    shown = [a if len(a) <= 60 else f"{a[:60]}...({len(a)})" for a in args]
    exception = result.exception
    assert exception is None or isinstance(exception, SystemExit), (
        f"tether {shown} raised {type(exception).__name__}: {str(exception)[:300]}"
    )
    assert "Traceback" not in result.output, f"tether {shown} printed a traceback"


# --- the arguments ------------------------------------------------------------------------------

_SEMVERISH = st.builds(
    lambda v, a, b, c, pre: f"{v}{a}.{b}.{c}{pre}",
    st.sampled_from(["", "v"]),
    *(st.integers(0, 10**6),) * 3,
    st.sampled_from(["", "-rc.1", "+build.5", "-" + "a" * 200, "-01"]),
)
ARGS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    st.sampled_from(ADVERSARIAL_TEXT),
    st.sampled_from(["1.0.0", "v1.0.0", "m", "model-v1.0.0", LONG, "-x", "--", "~", "a\udcffb"]),
    _SEMVERISH,
)


def _argv_can_hold(text: str) -> bool:
    """No NUL, and no surrogate but the \\udc80-\\udcff that undecodable argv bytes become."""
    return "\x00" not in text and all(
        not ("\ud800" <= c <= "\udfff") or "\udc80" <= c <= "\udcff" for c in text
    )


PARTS = st.sampled_from(["major", "minor", "patch", "prerelease"])
VARIANTS = st.one_of(st.sampled_from(["fp32", "int8", "both", "auto"]), ARGS)
STAMP = st.one_of(st.just("20250914-132416"), ARGS)

COMMANDS = st.one_of(
    st.builds(lambda v: ["pin", v], ARGS),
    st.builds(lambda v, n: ["pin", v, "--name", n], ARGS, ARGS),
    st.builds(lambda v: ["pin", v, "--allow-downgrade"], ARGS),
    st.builds(lambda v: ["release", "--from", "artifact", "--version", v, "--name", "m"], ARGS),
    st.builds(lambda n: ["release", "--from", "artifact", "--version", "2.0.0", "--name", n], ARGS),
    st.builds(lambda t: ["version", "parse", t], ARGS),
    st.builds(lambda t: ["version", "parse", "--semver", "--json", t], ARGS),
    st.builds(
        lambda v, p, label: ["version", "bump", v, "--part", p, "--label", label], ARGS, PARTS, ARGS
    ),
    st.builds(lambda v: ["version", "tag", v], ARGS),
    st.builds(lambda n: ["name", "parse", n], ARGS),
    st.builds(lambda n: ["name", "parse", "--json", n], ARGS),
    st.builds(lambda names: ["name", "latest", *names], st.lists(ARGS, min_size=1, max_size=3)),
    st.builds(
        lambda b, c, t, f: [
            "name",
            "build",
            "--base",
            b,
            "--config",
            c,
            "--trained-at",
            t,
            "--format",
            f,
        ],
        ARGS,
        ARGS,
        STAMP,
        ARGS,
    ),
    st.builds(
        lambda e, t: [
            "name",
            "build",
            "--base",
            "b",
            "--config",
            "c",
            "--trained-at",
            "20250914-132416",
            "--format",
            "f",
            "--exported-at",
            e,
            "--tag",
            t,
        ],
        STAMP,
        ARGS,
    ),
    st.builds(lambda v: ["fetch", "--variant", v], VARIANTS),
    st.builds(lambda n: ["fetch", "--name", n], ARGS),
    # what no argv can hold in a click.Path option is a known crash (below), not fuzzed here
    st.builds(lambda d: ["fetch", "--profiles-dir", d], ARGS.filter(_argv_can_hold)),
    st.builds(lambda p: ["resolve", p], ARGS),
    st.builds(lambda p, v: ["resolve", p, "--explain", "--variant", v], ARGS, VARIANTS),
    st.builds(lambda a: ["resolve", "m", "--app-name", a], ARGS),
    st.builds(lambda s: ["resolve", "m", "--app-subdir", s], ARGS),
    st.builds(lambda p: ["embed", "--profile", p, "some text"], ARGS),
    st.builds(lambda a, t: ["embed", "--profile", "m", "--app-name", a, t], ARGS, ARGS),
    st.builds(lambda v: ["show", v], ARGS),
    st.builds(lambda n: ["list", "--name", n], ARGS),
    st.builds(lambda v: ["notes", v], ARGS),
    st.builds(lambda v: ["download", v, "--into", "downloaded"], ARGS),
    st.builds(lambda n: ["audit", "--name", n], ARGS),
)


@FUZZ
@given(args=COMMANDS)
@example(args=["pin", LONG])
@example(args=["release", "--from", "artifact", "--version", LONG, "--name", "m"])
@example(args=["pin", "1." + HUGE_DIGITS + ".0"])
@example(args=["version", "bump", "1.0.0-rc." + "9" * 5000])
@example(args=["resolve", "m", "--app-name", ".."])  # platformdirs raised ValueError
@example(args=["fetch", "--profiles-dir", "x" * 5000])  # the lock raised OSError
def test_fuzzed_arguments_never_crash(in_project: Path, args: list[str]) -> None:
    assert_no_crash(run(in_project, args), args)


@pytest.mark.parametrize(
    "args",
    [
        ["pin", LONG],
        ["pin", "1.0.0-" + "a" * 200],  # parses, but its tag would be too long for a store
        ["release", "--from", "artifact", "--version", LONG, "--name", "m"],
        ["release", "--from", "artifact", "--version", "1.0.0-" + "a" * 200, "--name", "m"],
        ["version", "tag", "1.0.0-" + "a" * 200],
    ],
)
def test_a_long_version_is_a_one_line_error(fresh_project: Path, args: list[str]) -> None:
    result = run(fresh_project, args)
    assert_no_crash(result, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 500, lines
    releases = {entry.name for entry in (fresh_project / DEFAULT_STORE_DIR / "m").iterdir()}
    assert releases <= {"model-v1.0.0", "model-v1.0.0.record"}, releases  # nothing published


def test_pinning_the_release_still_works(fresh_project: Path) -> None:
    result = run(fresh_project, ["pin", "v1.0.0"])
    assert result.exit_code == 0, result.output
    assert (fresh_project / PIN_FILE).read_text() == "1.0.0\n"


# Arguments the OS or Python refuses (found by this fuzzing): each must end in one line.
OS_REFUSALS = [
    pytest.param(["list", "--store", "~nosuchuser/releases"], id="store-unknown-user"),
    pytest.param(["list", "--store", "x" * 5000], id="store-name-too-long"),
    pytest.param(["pin", "1.0.0", "--store", "/" + "x" * 5000], id="pin-store-too-long"),
    pytest.param(
        ["release", "--from", "x" * 5000, "--version", "9.9.9", "--name", "m"],
        id="release-from-too-long",
    ),
    pytest.param(["init", "--project", "x" * 5000], id="init-project-too-long"),
    pytest.param(["init", "--project", "a\udcffb"], id="init-project-undecodable"),
    pytest.param(["verify", "a\x00b"], id="verify-folder-nul"),
    pytest.param(["pin", "1.0.0", "--project", "a\x00b"], id="project-nul"),
    pytest.param(["download", "1.0.0", "--into", "a\x00b"], id="download-into-nul"),
    pytest.param(["fetch", "--profiles-dir", "a\x00b"], id="profiles-dir-nul"),
    pytest.param(["fetch", "--profiles-dir", "\ud800"], id="profiles-dir-surrogate"),
    pytest.param(["mirror", "releases", "x" * 5000], id="mirror-dest-too-long"),
    pytest.param(["bundle", "--dest", "x" * 5000], id="bundle-dest-too-long"),
]


@pytest.mark.parametrize("args", OS_REFUSALS)
def test_os_refusals_are_one_line(fresh_project: Path, args: list[str]) -> None:
    assert run(fresh_project, ["pin", "1.0.0"]).exit_code == 0  # bundle needs one
    result = run(fresh_project, args)
    assert_no_crash(result, args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.stderr
