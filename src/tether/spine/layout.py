"""A dest root: the profile folders fetch makes, and the one folder it keeps its own state in.

    <dest>/
      <name>/                          a profile folder: the release's files, MANIFEST.txt,
                                       model.sig (signed releases), .prepared.json
      .tether/                         fetch's own state; never a profile folder, never bundled
        <name>.lock                    racing fetches of <name> take turns on it
        <name>.verified.json           rollback protection: the highest version verified
        <name>.<pid>-<id>.tether-part/ the next profile folder being built, laid out like
                                       <name>/; swapped with it in one step when complete
        <name>.<pid>-<id>.old.tether-part/  the previous one, moved aside for a moment
                                       where the OS has no atomic exchange

The next profile folder is built whole beside the current one, on its filesystem (files
that stay are hard-linked, the rest downloaded and verified, .prepared.json written last),
then exchanged with it atomically: whatever kills fetch, ``<name>/`` is the old complete
profile or the new one (tests/spine/test_kill_fetch.py). A folder that `tether verify` or a
bundle looks into holds only what the release put there
(tests/spine/test_fetch.py::test_profile_folder_holds_only_the_release). What a dead fetch
left in ``.tether/`` is reused (a partial download resumes) and removed by the next fetch of
that name, under the lock.

Light on purpose: a no-op `tether fetch` imports this module to see there is nothing to do.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tether.errors import (
    LockTimeoutError,
    ReleaseWithdrawnError,
    StoreAuthError,
    StoreUnavailableError,
)
from tether.names import (
    FETCH_STATE_DIR,
    LOCK_SUFFIX,
    OLD_PARTS_SUFFIX,
    PREPARED_FILE,
    STATE_RECORD,
    TEMP_SUFFIX,
    VERIFIED_SUFFIX,
)
from tether.paths import check_name
from tether.prepared import Prepared
from tether.profile import already_prepared
from tether.spine.states import WITHDRAWN, parse_state
from tether.versioning import release_tag

if TYPE_CHECKING:
    from tether.stores.base import Store

#: Called with (file, bytes of all files done so far, bytes of all files to download).
Progress = Callable[[str, int, int], None]

#: The fix for a pin whose release was withdrawn (tests/spine/test_fetch.py).
REPIN_HINT = (
    "pin another release: tether pin --previous, or tether pin VERSION "
    "(tether list shows their states)"
)

# <pid>, or <pid>-<hex> (a pid can repeat, in a container every run may be pid 1)
_PARTS_ID = re.compile(r"\d+(?:-[0-9a-f]+)?")


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    prepared: Prepared
    changed: bool
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: files whose download continued from the partial file a dead fetch left
    resumed: list[str] = field(default_factory=list)
    #: every file was re-hashed (``repair``), not only stat-checked
    verified: bool = False
    #: what could not be checked, e.g. the release's state with the store unreachable
    warnings: list[str] = field(default_factory=list)


def profile_folder(dest_root: Path, name: str) -> Path:
    return Path(dest_root) / check_name(name)


def state_dir(dest_root: Path) -> Path:
    return Path(dest_root) / FETCH_STATE_DIR


def lock_path(dest_root: Path, name: str) -> Path:
    return state_dir(dest_root) / f"{name}{LOCK_SUFFIX}"


def verified_path(dest_root: Path, name: str) -> Path:
    return state_dir(dest_root) / f"{name}{VERIFIED_SUFFIX}"


def new_parts_dir(state: Path, name: str) -> Path:
    """A fresh name in ``state`` for the next profile folder of ``name`` this process builds."""
    return Path(state) / f"{name}.{os.getpid()}-{os.urandom(4).hex()}{TEMP_SUFFIX}"


def old_parts_dir(parts: Path) -> Path:
    """Where the previous profile folder waits while ``parts`` is renamed into its place."""
    return parts.with_name(parts.name.removesuffix(TEMP_SUFFIX) + OLD_PARTS_SUFFIX)


def site(dest_root: Path, name: str) -> tuple[Path, Path]:
    """(the folder a fetch of ``name`` swaps, the state folder it builds in): the profile
    folder and ``<dest>/.tether/``, or, when the profile folder is the user's link to a folder
    elsewhere, that folder and a ``.tether/`` beside it (the link stays)."""
    folder = profile_folder(dest_root, name)
    live = Path(os.path.realpath(folder)) if folder.is_symlink() else folder
    return live, state_dir(live.parent)


def stale_parts(state: Path, name: str) -> list[Path]:
    """Parts folders of ``name`` in ``state`` left by fetches that died (call it holding the
    lock), previous profile folders moved aside first."""
    try:
        entries = sorted(os.scandir(state), key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    prefix = f"{name}."
    old, new = [], []
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        rest = entry.name[len(prefix) :]
        suffix = OLD_PARTS_SUFFIX if rest.endswith(OLD_PARTS_SUFFIX) else TEMP_SUFFIX
        # "a" never takes "a.b"'s: the middle is an id, never another name's tail
        if rest.endswith(suffix) and _PARTS_ID.fullmatch(rest[: -len(suffix)]):
            (old if suffix == OLD_PARTS_SUFFIX else new).append(Path(entry.path))
    return old + new


def already_fetched(
    dest_root: Path,
    name: str,
    version: str,
    variants: str,
    accepts: Callable[[Path], bool] | None = None,
) -> FetchResult | None:
    """The no-op check: the profile folder already holds ``version`` for ``variants``.

    Stat-only (tether.profile.already_prepared): no hashing, no store. ``accepts`` (the
    trust guard's) may refuse a prepared folder, e.g. one fetched before [trust] required
    signatures.
    """
    folder = profile_folder(dest_root, name)
    if accepts is not None and not accepts(folder):
        return None
    prepared = already_prepared(folder, name, release_tag(version), variants)
    return None if prepared is None else FetchResult(folder, prepared, changed=False)


def discard(path: Path) -> None:
    """Delete a folder fetch built or moved aside, its .prepared.json first: a folder cut
    short while it is deleted never passes for a complete one."""
    import shutil  # only with something to delete

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    with contextlib.suppress(OSError):  # none there, or no folder at all
        (path / PREPARED_FILE).unlink()
    shutil.rmtree(path, ignore_errors=True)


def sweep_dead(dest_root: Path, name: str) -> None:
    """Remove what dead fetches of ``name`` left in the state folder (a fetch killed after
    its swap leaves the old profile there). One directory read when there is nothing; a
    fetch that runs now holds the lock, and its folder is left alone."""
    _, state = site(dest_root, name)
    stale = stale_parts(state, name)
    if not stale:
        return
    from tether.locking import file_lock  # only with something to delete

    try:
        with file_lock(lock_path(dest_root, name), timeout=0):
            for path in stale_parts(state, name):
                discard(path)
    except LockTimeoutError:
        return  # a fetch of this name runs: it cleans up itself


def refuse_withdrawn(state_record: bytes | None, done: FetchResult) -> None:
    """Raise ReleaseWithdrawnError when the release ``done`` holds is withdrawn, by its state
    record (state.json: tether.spine.catalog.release_info reads the same, with the listing).

    A no-op fetch checks this too: a folder that holds a withdrawn pin must not look fine.
    """
    where = f"{done.prepared.name} {done.prepared.release}"
    state, history = parse_state(state_record, where=where)
    if state != WITHDRAWN:
        return
    reasons = [h.get("reason") for h in history if h.get("reason")]
    raise ReleaseWithdrawnError(
        f"{done.prepared.name} {done.prepared.release}, which {done.folder} holds, was withdrawn"
        + (f": {reasons[-1]}" if reasons else ""),
        REPIN_HINT,
    )


def still_usable(store: Store, done: FetchResult) -> FetchResult:
    """``done`` (a no-op), unless its release was withdrawn: one small record read.

    A store that cannot be reached (or refuses the credentials) leaves a warning instead:
    the folder was verified when it was fetched, and a no-op must work offline.
    """
    prepared = done.prepared
    try:
        record = store.read_record(prepared.name, prepared.version, STATE_RECORD)
    except (StoreUnavailableError, StoreAuthError) as exc:
        return unchecked(done, exc.message)
    refuse_withdrawn(record, done)
    return done


def unchecked(done: FetchResult, why: str) -> FetchResult:
    """``done`` with the warning that its release's state could not be read, and why."""
    line = f"could not check whether {done.prepared.name} {done.prepared.release} was withdrawn"
    return replace(done, warnings=[*done.warnings, f"{line} ({why})"])
