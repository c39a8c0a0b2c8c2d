"""`tether init`: a starter recipe, pin and (optionally) the CI that builds, pins and ships.

The CI files are generated, not hand-copied: they call only tether commands (plus
checkout, setup-python, pip and the app's PyInstaller build), pin this very tether version,
and are checked by tests against the same CLI. Existing files are kept unless ``force``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

from tether import __version__
from tether.atomic import write_atomic
from tether.errors import ConfigError, TetherError
from tether.names import PIN_FILE
from tether.paths import check_name
from tether.prepared import VARIANT_CHOICES
from tether.project import RECIPE_FILE
from tether.spine import read_pin
from tether.versioning import normalize_version, parse_version

log = logging.getLogger(__name__)

CI_CHOICES = ("github", "gitlab")
DEFAULT_PROFILE_ID = "local-text-retrieval-v1"
DEFAULT_SOURCE_REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION_PLACEHOLDER = "REPLACE-WITH-THE-40-HEX-COMMIT"
PYTHON_VERSION = "3.11"
#: The PyInstaller tether's hook is tested with (tests/bundle).
PYINSTALLER_VERSION = "6.22.3"
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


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # existed, not replaced (no --force)


def init_project(project_dir: Path, options: InitOptions, *, force: bool = False) -> InitResult:
    """Write tether.toml, .model-version and the chosen CI files into ``project_dir``."""
    project_dir = Path(project_dir)
    values = template_values(options)
    files: dict[str, str] = {
        RECIPE_FILE: render(RECIPE_FILE, values),  # the template has the same name
        PIN_FILE: f"{values['PIN']}\n",
    }
    if options.ci is not None:
        if options.ci not in CI_CHOICES:
            raise ConfigError(f"unknown CI {options.ci!r}", f"choose {' or '.join(CI_CHOICES)}")
        for template, target in CI_FILES[options.ci].items():
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
        old = read_pin(path.parent)
    except TetherError:  # a malformed pin is replaced
        return False
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
    return {
        "TETHER_VERSION": __version__,
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
        "TORCH_VERSION": torch_pin(),
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
