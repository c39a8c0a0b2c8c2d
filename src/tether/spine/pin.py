"""`.model-version`: the one line in a consuming repo that says which release it ships.

The file holds a semver without prefix and a newline (``1.0.1\\n``). A ``v1.0.1`` typed by
a user is normalised before it is written, so no tool ever builds ``model-vv1.0.1``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.atomic import write_atomic
from tether.errors import InvalidVersionError, PinNotFoundError, ReleaseNotFoundError, TetherError
from tether.names import DOWNGRADE_FILE, PIN_FILE
from tether.versioning import normalize_version, parse_version

if TYPE_CHECKING:
    from tether.project import Project
    from tether.spine.catalog import ReleaseInfo
    from tether.stores.base import Store

# The store-facing functions import the catalog, rollback, trust and the project when called:
# reading the pin is on the start-up path of a no-op `tether fetch`, which must stay light.


def pin_path(project_dir: Path) -> Path:
    return Path(project_dir) / PIN_FILE


def read_pin(project_dir: Path) -> str | None:
    """The pinned version, None when the project has no .model-version."""
    path = pin_path(project_dir)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:  # tests/test_parsers_fuzz.py: any bytes
        raise PinNotFoundError(
            f"{path} cannot be read as text ({exc})", "write one with: tether pin VERSION"
        ) from None
    if text.startswith("\ufeff"):  # saved by an editor "with BOM"; say so, not "not a number"
        raise PinNotFoundError(
            f"{path} starts with a byte-order mark", "rewrite it: tether pin VERSION"
        )
    try:
        return normalize_version(text.strip())
    except InvalidVersionError as exc:
        raise PinNotFoundError(
            f"{path} does not hold a version ({exc.message})",
            "write one with: tether pin VERSION",
        ) from None


def require_pin(project_dir: Path) -> str:
    version = read_pin(project_dir)
    if version is None:
        raise PinNotFoundError(f"no {PIN_FILE} in {Path(project_dir).absolute()}")
    return version


def write_pin(project_dir: Path, version: str) -> str:
    """Write ``version`` (normalised) to .model-version atomically; returns what was written."""
    version = normalize_version(version)
    write_atomic(pin_path(project_dir), f"{version}\n".encode())
    return version


def pin_release(
    store: Store,
    name: str,
    version: str,
    project: Project | Path | str,
    *,
    allow_downgrade: bool = False,
) -> ReleaseInfo:
    """Pin a release the store has and has not withdrawn.

    ``allow_downgrade``: lowering the pin is on purpose; it is recorded so that rollback
    protection lets fetch take the lower version (tether.spine.rollback). Lowering it
    otherwise is refused when the project's [trust] policy requires signatures.
    ``project``: its folder, or a loaded Project (whose recipe is then not read again).
    """
    from tether.project import Project
    from tether.spine.catalog import release_info, require_usable
    from tether.spine.rollback import lowers, note_pin_change
    from tether.spine.trust import refuse_lowered_pin

    project_dir = project.dir if isinstance(project, Project) else Path(project)
    info = require_usable(release_info(store, name, version))
    old = _current_pin(project_dir)
    if old is not None and lowers(old, info.version) and not allow_downgrade:
        refuse_lowered_pin(project, name, old, info.version)
    note_pin_change(project_dir, name, old, info.version, deliberate=allow_downgrade)
    write_pin(project_dir, info.version)
    return info


@dataclass(frozen=True)
class Pinned:
    release: ReleaseInfo
    path: Path  # the .model-version written
    downgrade: Path | None = None  # .model-downgrade.json, when this pin recorded a step down


def pin_version(
    project_dir: Path | str = ".",
    version: str | None = None,
    *,
    previous: bool = False,
    allow_downgrade: bool = False,
    store: str | None = None,
    name: str | None = None,
) -> Pinned:
    """`tether pin`: pin ``version``, or with ``previous`` the previous good release
    (:func:`previous_promoted`); going back that way is a deliberate downgrade, recorded as
    one. It never withdraws anything (that is `tether revert`)."""
    from tether.project import Project

    if bool(version) == previous:
        raise TetherError("give either VERSION or --previous", "e.g. tether pin 1.0.1")
    project = Project.load(project_dir)
    opened = project.open_store(store)
    name = project.release_name(name, opened)
    if previous:
        current = require_pin(project.dir)
        version = previous_promoted(opened, name, current, project_dir=project.dir).version
    assert version is not None
    old = _current_pin(project.dir)
    info = pin_release(opened, name, version, project, allow_downgrade=previous or allow_downgrade)
    lowered = old is not None and parse_version(info.version) < parse_version(old)
    record = project.dir / DOWNGRADE_FILE
    return Pinned(info, pin_path(project.dir), record if lowered and record.is_file() else None)


def _current_pin(project_dir: Path) -> str | None:
    try:
        return read_pin(project_dir)
    except PinNotFoundError:  # a malformed pin is being replaced: nothing to compare
        return None


def previous_promoted(
    store: Store, name: str, current: str, *, project_dir: Path | None = None
) -> ReleaseInfo:
    """The previous good release below ``current``: the highest promoted one; when none below
    it is promoted (guild's flow pins pre-releases and never promotes) and ``project_dir``
    is given, the latest earlier pin in the git history of its .model-version that the
    store still has and has not withdrawn."""
    from tether.spine.catalog import latest, list_releases
    from tether.spine.states import PROMOTED, WITHDRAWN

    releases = list_releases(store, name)
    below = [r for r in releases if parse_version(r.version) < parse_version(current)]
    found = latest(below, PROMOTED)
    if found is not None:
        return found
    usable = {r.version: r for r in below if r.state != WITHDRAWN}
    if project_dir is not None:
        for version in pinned_before(project_dir):
            if version in usable:
                return usable[version]
    where = " or earlier pin in git history" if project_dir is not None else ""
    raise ReleaseNotFoundError(
        f"{store.url} has no promoted release{where} of {name} below {current}",
        "pin a version explicitly: tether pin VERSION --allow-downgrade",
    )


_LOG_PATCH = ("--format=", "-p", "--unified=0", "--", PIN_FILE)  # each pin as a "+X.Y.Z" line


def pinned_before(project_dir: Path) -> list[str]:
    """The versions .model-version held in git history, newest first, each once (none when
    the project is not a git checkout or git is missing)."""
    git = shutil.which("git")
    if git is None:
        return []
    try:
        done = subprocess.run(
            [git, "-C", str(project_dir), "log", "--no-color", "--no-ext-diff", *_LOG_PATCH],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    found: list[str] = []
    for line in done.stdout.splitlines():
        if not line.startswith("+") or line.startswith("+++"):
            continue
        try:
            version = normalize_version(line[1:].strip())
        except (InvalidVersionError, ValueError):
            continue
        if version not in found:
            found.append(version)
    return found
