"""`tether fetch`: the pinned release into the project's profile folder, or nothing to do.

Most runs are no-ops (the folder already holds the pin), so this module decides that from
the pin, the recipe and the folder's stat-only record; its imports stay light, and the
store, the transaction (tether.spine.fetch) and the trust policy load only when they are
needed (benchmarks/verify_speed.py). A no-op still refuses a withdrawn pin: a folder store's
state record is one small file read without opening the store; a remote store is asked
once, and when it cannot be reached the no-op warns and succeeds (it must work offline).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tether.errors import PinNotFoundError
from tether.names import DEFAULT_PROFILES_DIR, PIN_FILE, STATE_RECORD, TRUST_TABLE
from tether.project import Project
from tether.spine.layout import (
    FetchResult,
    Progress,
    already_fetched,
    refuse_withdrawn,
    still_usable,
    sweep_dead,
    unchecked,
)
from tether.spine.pin import Pins, read_pins
from tether.stores.folder_layout import folder_root, read_plain, record_rel, release_rel


def fetch_pinned(
    project_dir: Path | str = ".",
    *,
    store: str | None = None,
    name: str | None = None,
    profiles_dir: Path | str = DEFAULT_PROFILES_DIR,
    variants: str = "both",
    progress: Callable[[str, str], Progress | None] | None = None,
    repair: bool = False,
    streams: int | None = None,
) -> FetchResult:
    """:func:`fetch_pins` for one model: ``name``, or the project's one pinned model (with
    several named pins leaving it out is refused: say which)."""
    (result,) = _fetch(
        project_dir, store, name, profiles_dir, variants, progress, repair, streams, every=False
    )
    return result


def fetch_pins(
    project_dir: Path | str = ".",
    *,
    store: str | None = None,
    name: str | None = None,
    profiles_dir: Path | str = DEFAULT_PROFILES_DIR,
    variants: str = "both",
    progress: Callable[[str, str], Progress | None] | None = None,
    repair: bool = False,
    streams: int | None = None,
) -> list[FetchResult]:
    """`tether fetch`: make ``<project>/<profiles_dir>/<name>/`` hold ``name``'s pinned
    release, verified; without ``name``, every pinned model, each into its own folder (a
    single-model pin: the one model). Each no-op stays as light as one
    (tests/spine/test_named_pins.py::test_a_noop_fetch_of_named_pins_stays_light).

    ``progress(name, version)`` may return a byte-progress callback, asked for only when
    there is something to fetch. With a [trust] policy fetch checks the signature.
    ``repair``: re-hash every file and replace whatever does not match, even when the
    folder already holds the pin. ``streams``: as for fetch_release.
    """
    return _fetch(
        project_dir, store, name, profiles_dir, variants, progress, repair, streams, every=True
    )


def _fetch(
    project_dir: Path | str,
    store: str | None,
    name: str | None,
    profiles_dir: Path | str,
    variants: str,
    progress: Callable[[str, str], Progress | None] | None,
    repair: bool,
    streams: int | None,
    *,
    every: bool,
) -> list[FetchResult]:
    """The one body of both: ``every`` lets a missing ``name`` mean every named pin."""
    project = Project.load(project_dir)
    pins = read_pins(project.dir)
    if pins is None:
        raise PinNotFoundError(f"no {PIN_FILE} in {project.dir.absolute()}")
    names: list[str | None] = [name]
    if name is None and pins.bare is None and (every or len(pins.names) == 1):
        names = list(pins.names)
    return [
        _fetch_one(project, pins, store, each, profiles_dir, variants, progress, repair, streams)
        for each in names
    ]


def _fetch_one(
    project: Project,
    pins: Pins,
    store: str | None,
    name: str | None,
    profiles_dir: Path | str,
    variants: str,
    progress: Callable[[str, str], Progress | None] | None,
    repair: bool,
    streams: int | None,
) -> FetchResult:
    version = pins.require(name)  # a bare pin answers for any name: the one model's
    dest_root = project.dir / profiles_dir
    trust, accepts = None, None
    if project.table(TRUST_TABLE) is not None:
        from tether.spine.trust import fetch_guard, load_trust  # only a project that has [trust]

        trust = load_trust(project)
        accepts = fetch_guard(trust, dest_root).accepts_prepared
    known = name or project.configured_name()
    if known is not None and not repair:
        done = already_fetched(dest_root, known, version, variants, accepts)
        if done is not None:
            sweep_dead(dest_root, known)  # a dead fetch's leftovers, if any
            return _still_usable(project, store, done)

    from tether.spine.fetch import fetch_release  # there is work: the store and the transaction

    opened = project.open_store(store)
    name = project.release_name(name, opened)
    return fetch_release(
        opened,
        name,
        version,
        dest_root,
        variants=variants,
        progress=progress(name, version) if progress else None,
        trust=trust,
        repair=repair,
        streams=streams,
    )


def _still_usable(project: Project, store: str | None, done: FetchResult) -> FetchResult:
    """The no-op's one question to the store: was the release withdrawn since?"""
    url = project.store_url(store)
    root = folder_root(url)
    if root is None:  # a remote store: its client, and one request
        return still_usable(project.open_store(store), done)
    name, version = done.prepared.name, done.prepared.version
    if not (root / release_rel(name, version)).is_dir():
        return unchecked(done, f"{url} has no such release now")
    where = f"the state record of {name} {done.prepared.release} in {url}"
    refuse_withdrawn(read_plain(root, record_rel(name, version, STATE_RECORD), where=where), done)
    return done
