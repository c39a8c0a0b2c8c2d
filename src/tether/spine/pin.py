"""`.model-version`: the one line in a consuming repo that says which release it ships.

The file holds a semver without prefix and a newline (``1.0.1\\n``). A ``v1.0.1`` typed by
a user is normalised before it is written, so no tool ever builds ``model-vv1.0.1``.
"""

from __future__ import annotations

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
    """`tether pin`: pin ``version``, or with ``previous`` the highest promoted release
    below the pin; going back that way is a deliberate downgrade, recorded as one."""
    from tether.project import Project

    if bool(version) == previous:
        raise TetherError("give either VERSION or --previous", "e.g. tether pin 1.0.1")
    project = Project.load(project_dir)
    opened = project.open_store(store)
    name = project.release_name(name, opened)
    if previous:
        version = previous_promoted(opened, name, require_pin(project.dir)).version
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


def previous_promoted(store: Store, name: str, current: str) -> ReleaseInfo:
    """The highest promoted release below ``current``."""
    from tether.spine.catalog import latest, list_releases
    from tether.spine.states import PROMOTED

    below = [
        r for r in list_releases(store, name) if parse_version(r.version) < parse_version(current)
    ]
    found = latest(below, PROMOTED)
    if found is None:
        raise ReleaseNotFoundError(
            f"{store.url} has no promoted release of {name} below {current}",
            "pin a version explicitly: tether pin VERSION",
        )
    return found
