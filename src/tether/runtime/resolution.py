"""Runtime resolution: which profile folder and which variant serve a profile id, and why.

Candidates, in order (the first complete one wins):

1. ``path`` given by the caller (a profile folder, or a root holding ``<profile_id>/``)
2. the environment: the app's own variable (``env_var``), then ``$TETHER_MODELS_DIR``
3. the user's app-data folder: ``platformdirs.user_data_dir(app_name)/<app_subdir>/<profile_id>``
   (``app_subdir`` defaults to ``models``; an app with its own layout names its folder, e.g.
   ``embedding_models``, so its users' files stay where they are)
4. bundled folders: PyInstaller's ``sys._MEIPASS`` and, in a frozen app, the executable's
   folder (each as ``<root>/<id>``, ``<root>/embedding_models/<id>`` and
   ``<root>/data/embedding_models/<id>``), then the project's ``data/embedding_models/<id>``
   (where ``tether fetch`` puts it by default)

The check of each candidate is stat-only (see tether.profile); :func:`tether.load` then
loads the chosen one, and a candidate whose model or tokenizer does not load, whose output
is not finite or whose probe self-test fails is rejected too and the search goes on
(:func:`resolve_usable`), so an app falls back to its bundled copy. The variant is searched for
across all candidates before the next-best variant is tried: an app whose stored vectors are
int8 keeps getting int8 from a lower-priority folder rather than silently switching to fp32
(whose vectors are not comparable) because a higher-priority folder lacks the int8 file.

This module is named ``resolution`` rather than ``resolve`` so that importing it cannot
replace the ``tether.resolve`` function of the package facade.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from tether.errors import (
    ManifestError,
    ModelOutputError,
    NotAnEmbeddingProfileError,
    ProbeMismatchError,
    ProfileIncompleteError,
    RuntimeOptionError,
    TetherError,
    shorten,
)
from tether.names import (
    BUNDLE_MODELS_DIR,
    DEFAULT_APP_MODELS_DIR,
    DEFAULT_APP_NAME,
    DEFAULT_PROFILES_DIR,
    MODELS_ENV,
    PREPARED_FILE,
    PROFILE_FILE,
)
from tether.paths import check_name, check_relative_path
from tether.prepared import Prepared
from tether.profile import REASONS, Profile, ProfileFolder, Rejection, check_expect
from tether.runtime.cpu import preferred_variants, requested_variant

log = logging.getLogger("tether.resolve")
T = TypeVar("T")

#: What loading a complete candidate may raise that rejects it rather than the call.
LOAD_FAILURES = (ManifestError, ProbeMismatchError, ModelOutputError)

_BUNDLE_LAYOUTS = ("", BUNDLE_MODELS_DIR, DEFAULT_PROFILES_DIR)


@dataclass(frozen=True)
class Candidate:
    source: str  # "path", "env:NAME", "user-data", "bundle:_MEIPASS", "bundle:executable", ...
    folder: Path


@dataclass(frozen=True)
class TrailEntry:
    """One look at one candidate folder for one variant."""

    source: str
    folder: Path
    variant: str
    status: str  # "chosen", "rejected" or "not checked"
    rejection: Rejection | None = None

    @property
    def reason(self) -> str:
        """The rejection reason code; "complete" when chosen, "" when not checked."""
        if self.rejection is not None:
            return self.rejection.reason
        return "complete" if self.status == "chosen" else ""

    def line(self) -> str:
        if self.status == "chosen":
            outcome = "complete: chosen"
        elif self.rejection is not None:
            outcome = f"rejected: {self.rejection}"
        else:
            outcome = "not checked (an earlier candidate won)"
        return f"{self.source:<22} {self.folder} [{self.variant}] {outcome}"


@dataclass(frozen=True)
class Resolution:
    """The folder and variant chosen for a profile id, with every candidate looked at."""

    profile_id: str
    folder: Path
    variant: str
    source: str
    profile: Profile
    prepared: Prepared
    variant_reason: str
    trail: tuple[TrailEntry, ...]

    @property
    def model_id(self) -> str:
        return self.profile.model_id(self.variant)

    def explain(self) -> str:
        lines = [
            f"profile {self.profile_id}: variant {self.variant} ({self.variant_reason})",
            *(f"  {n}. {entry.line()}" for n, entry in enumerate(self.trail, 1)),
            f"-> {self.folder}",
            f"   {self.prepared.name} {self.prepared.release} from {self.prepared.store}",
            f"   model id {self.model_id}",
        ]
        return "\n".join(lines)


def user_models_dir(
    app_name: str = DEFAULT_APP_NAME, app_subdir: str = DEFAULT_APP_MODELS_DIR
) -> Path:
    """``<user app-data>/<app_subdir>``: the per-user root that holds ``<profile_id>/`` folders."""
    try:
        check_relative_path(app_subdir, where="app_subdir")
    except (ManifestError, TypeError) as exc:
        raise RuntimeOptionError(
            f"app_subdir {shorten(str(app_subdir))} is not a relative folder inside the "
            "app's data folder",
            "use a plain relative path such as models or embedding_models",
        ) from exc
    try:
        return Path(platformdirs.user_data_dir(app_name, appauthor=False)) / app_subdir
    except ValueError as exc:  # platformdirs refuses "..": tests/test_cli_fuzz.py
        raise RuntimeOptionError(
            f"app_name {shorten(app_name)} cannot name a user data folder ({exc})",
            "use the app's name, e.g. myapp",
        ) from None


def _as_profile_folder(path: Path, profile_id: str) -> Path:
    """``path`` itself when it is a profile folder, else ``path/<profile_id>`` (a root)."""
    if path.name == profile_id or _exists(path / PREPARED_FILE) or _exists(path / PROFILE_FILE):
        return path
    return path / profile_id


def _exists(path: Path) -> bool:
    """``path.exists()``, False where stat fails (a name too long, a NUL byte in a variable):
    such a folder is then rejected with its reason (tests/runtime/test_hardening.py)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _frozen() -> bool:
    """True in a PyInstaller/cx_Freeze (sys.frozen) or Nuitka (__compiled__) executable."""
    main = sys.modules.get("__main__")
    return bool(getattr(sys, "frozen", False)) or hasattr(main, "__compiled__")


def bundle_roots() -> list[tuple[str, Path]]:
    """(source, root) of folders an app bundle may carry profiles in."""
    roots: list[tuple[str, Path]] = []
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        roots.append(("bundle:_MEIPASS", Path(meipass)))
    if _frozen():
        roots.append(("bundle:executable", Path(sys.executable).resolve().parent))
    return roots


def candidates(
    profile_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    env_var: str | None = None,
    app_name: str = DEFAULT_APP_NAME,
    project_dir: str | os.PathLike[str] | None = None,
    app_subdir: str = DEFAULT_APP_MODELS_DIR,
) -> list[Candidate]:
    """The candidate folders for ``profile_id``, in the order they are tried (no I/O but stat)."""
    found: list[Candidate] = []
    if path is not None:
        found.append(Candidate("path", _as_profile_folder(Path(path).absolute(), profile_id)))
    for name in dict.fromkeys(n for n in (env_var, MODELS_ENV) if n):
        value = os.environ.get(name)
        if value:
            folder = _as_profile_folder(Path(value).absolute(), profile_id)
            found.append(Candidate(f"env:{name}", folder))
    found.append(Candidate("user-data", user_models_dir(app_name, app_subdir) / profile_id))
    for source, root in bundle_roots():
        found.extend(Candidate(source, root / sub / profile_id) for sub in _BUNDLE_LAYOUTS)
    project = Path(project_dir).absolute() if project_dir is not None else Path.cwd()
    found.append(Candidate("project-data", project / DEFAULT_PROFILES_DIR / profile_id))
    seen: set[str] = set()
    unique = []
    for candidate in found:  # one folder reached two ways is looked at once
        key = os.path.normcase(os.path.abspath(candidate.folder))
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return unique


def resolve(
    profile_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    env_var: str | None = None,
    app_name: str = DEFAULT_APP_NAME,
    project_dir: str | os.PathLike[str] | None = None,
    expect: Mapping[str, Any] | None = None,
    need_probe: bool = False,
    app_subdir: str = DEFAULT_APP_MODELS_DIR,
) -> Resolution:
    """The first complete profile folder for ``profile_id`` and the variant to run.

    ``variant``: "auto" (default, or $TETHER_VARIANT), "fp32" or "int8". ``expect``: contract
    fields the app relies on (e.g. ``{"dim": 384}``); a folder whose profile.json differs is
    rejected. ``app_subdir``: the folder under the user's app-data folder that holds the
    profiles (default ``models``). Raises ProfileIncompleteError, listing every candidate
    and its rejection, when no folder is complete.
    """
    return resolve_usable(
        profile_id,
        lambda resolution: resolution,
        path=path,
        variant=variant,
        env_var=env_var,
        app_name=app_name,
        project_dir=project_dir,
        expect=expect,
        need_probe=need_probe,
        app_subdir=app_subdir,
    )


def resolve_usable(
    profile_id: str,
    use: Callable[[Resolution], T],
    *,
    path: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    env_var: str | None = None,
    app_name: str = DEFAULT_APP_NAME,
    project_dir: str | os.PathLike[str] | None = None,
    expect: Mapping[str, Any] | None = None,
    need_probe: bool = False,
    app_subdir: str = DEFAULT_APP_MODELS_DIR,
) -> T:
    """What ``use`` returns for the first complete candidate it accepts (as :func:`resolve`).

    ``use`` (tether.load's: load the tokenizer and model, run the probe) raising one of
    ``LOAD_FAILURES`` rejects that candidate, with the reason in the trail, and the search
    goes on. When no candidate is usable, the first such failure is raised (it says what is
    broken); when none was even complete, ProfileIncompleteError with the trail.
    """
    check_name(profile_id)
    check_expect(expect or {})
    requested, _ = requested_variant(variant)
    order, why = preferred_variants(requested)
    found = candidates(
        profile_id,
        path=path,
        env_var=env_var,
        app_name=app_name,
        project_dir=project_dir,
        app_subdir=app_subdir,
    )
    opened: dict[int, ProfileFolder] = {}
    trail: list[TrailEntry] = []
    first_failure: TetherError | None = None
    for attempt, wanted in enumerate(order):
        for index, candidate in enumerate(found):
            folder = opened.get(index)
            if folder is None:
                folder = opened[index] = ProfileFolder.open(candidate.folder, profile_id, expect)
            elif attempt and folder.rejection is not None:
                continue  # rejected as a whole for the first variant already: no repeat
            rejection = folder.check(wanted, need_probe=need_probe)
            if rejection is not None:
                trail.append(
                    TrailEntry(candidate.source, candidate.folder, wanted, "rejected", rejection)
                )
                continue
            unchecked = tuple(
                TrailEntry(later.source, later.folder, wanted, "not checked")
                for number, later in enumerate(found[index + 1 :], index + 1)
                if number not in opened or opened[number].rejection is None
            )
            chosen = TrailEntry(candidate.source, candidate.folder, wanted, "chosen")
            reason = why if attempt == 0 else f"{why}; no folder has {order[0]} complete"
            assert folder.profile is not None and folder.prepared is not None
            result = Resolution(
                profile_id=profile_id,
                folder=candidate.folder,
                variant=wanted,
                source=candidate.source,
                profile=folder.profile,
                prepared=folder.prepared,
                variant_reason=reason,
                trail=(*trail, chosen, *unchecked),
            )
            try:
                value = use(result)
            except LOAD_FAILURES as exc:
                rejection = Rejection(_failure_reason(exc), " ".join(exc.message.split()))
                trail.append(
                    TrailEntry(candidate.source, candidate.folder, wanted, "rejected", rejection)
                )
                first_failure = first_failure or exc
                continue
            _log_resolution(result)
            return value
    _log_trail(profile_id, trail, logging.ERROR)
    if first_failure is not None:
        raise first_failure
    other_kind = _other_kind(opened.values())
    if other_kind is not None:  # fetched, complete, but a GGUF (...) release: say so
        from tether.model_card import KIND_LABELS, KIND_RUNTIMES  # the failure path only

        raise NotAnEmbeddingProfileError(
            f"{profile_id} is {KIND_LABELS[other_kind]}, not an embedding profile",
            "tether embed and tether.load run embedding profiles (a release with "
            f"profile.json, made by tether build); run this one with {KIND_RUNTIMES[other_kind]}",
            reason="not_embedding",
            trail=trail,
            problems=[entry.line() for entry in trail],
        )
    everywhere_absent = all(entry.reason == "not_found" for entry in trail)
    raise ProfileIncompleteError(
        f"no complete profile folder for {profile_id} ({' or '.join(order)})",
        reason="not_found" if everywhere_absent else "incomplete",
        trail=trail,
        problems=[entry.line() for entry in trail],
    )


def _other_kind(folders: Iterable[ProfileFolder]) -> str | None:
    """The kind of the first candidate that is a whole fetched release without profile.json
    (a GGUF or transformers release: tests/quality/test_cards.py), else None."""
    for folder in folders:
        prepared = folder.prepared
        if prepared is not None and PROFILE_FILE not in prepared.files:
            from tether.model_card import artifact_kind  # the failure path only

            return artifact_kind(prepared.files)
    return None


def _failure_reason(exc: TetherError) -> str:
    """The trail's reason code for a candidate that was complete but failed to load."""
    if isinstance(exc, ModelOutputError):
        return "bad_output"
    if isinstance(exc, ProbeMismatchError):
        return exc.reason if exc.reason in REASONS else "probe_mismatch"
    return "unloadable"


def _log_resolution(result: Resolution) -> None:
    _log_trail(result.profile_id, [e for e in result.trail if e.status == "rejected"])
    log.info(
        "%s: using %s [%s] from %s (%s)",
        result.profile_id,
        result.folder,
        result.variant,
        result.source,
        result.variant_reason,
    )


def _log_trail(profile_id: str, trail: list[TrailEntry], level: int = logging.WARNING) -> None:
    """Absent folders at debug level; a folder that exists but was refused is news."""
    for entry in trail:
        if entry.status != "rejected":
            continue
        quiet = entry.reason == "not_found" and entry.source != "path"
        log.log(logging.DEBUG if quiet else level, "%s: %s", profile_id, entry.line())
