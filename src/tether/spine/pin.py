"""`.model-version`: the one line in a consuming repo that says which release it ships.

The file holds a semver without prefix and a newline (``1.0.1\\n``). A ``v1.0.1`` typed by
a user is normalised before it is written, so no tool ever builds ``model-vv1.0.1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tether.atomic import write_atomic
from tether.errors import InvalidVersionError, PinNotFoundError, ReleaseNotFoundError
from tether.names import PIN_FILE
from tether.versioning import normalize_version, parse_version

if TYPE_CHECKING:
    from tether.spine.release import ReleaseInfo
    from tether.stores.base import Store

# The store-facing functions import tether.spine.release and tether.spine.trust when called: reading
# the pin is on the start-up path of a no-op `tether fetch`, which must stay light.


def pin_path(project_dir: Path) -> Path:
    return Path(project_dir) / PIN_FILE


def read_pin(project_dir: Path) -> str | None:
    """The pinned version, None when the project has no .model-version."""
    path = pin_path(project_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
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
    store: Store, name: str, version: str, project_dir: Path, *, allow_downgrade: bool = False
) -> ReleaseInfo:
    """Pin a release the store has and has not withdrawn.

    ``allow_downgrade``: lowering the pin is on purpose; it is recorded so that rollback
    protection lets fetch take the lower version (tether.spine.trust).
    """
    from tether.spine.release import release_info, require_usable
    from tether.spine.trust import note_pin_change

    info = require_usable(release_info(store, name, version))
    note_pin_change(project_dir, name, info.version, deliberate=allow_downgrade)
    write_pin(project_dir, info.version)
    return info


def previous_promoted(store: Store, name: str, current: str) -> ReleaseInfo:
    """The highest promoted release below ``current``."""
    from tether.spine.release import PROMOTED, latest, list_releases

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
