"""Safety of names and relative paths that come from manifests, stores and users."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePosixPath

from tether.errors import InvalidNameError, ManifestError, shorten
from tether.names import FETCH_STATE_DIR, PREPARED_FILE, TEMP_SUFFIX

# fullmatch, not match with ``$``: ``$`` also matches before a final newline ("a\n").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NAME_MAX = 128
_CONTROL_NAMES = {"\t": "a tab", "\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}


def _control(text: str) -> str | None:
    """The words for the first control character in ``text`` (``a tab``), None when none."""
    char = next((c for c in text if ord(c) < 32), None)
    if char is None:
        return None
    return _CONTROL_NAMES.get(char, f"a control character ({char!r})")


def _why_unsafe(path: str) -> str | None:
    """Why ``path`` is not a plain relative POSIX path inside its folder, None when it is."""
    # Each reason names the real problem: a tab is not an escape (tests/test_parsers_fuzz.py).
    if not path:
        return "it is empty"
    control = _control(path)
    if control is not None:
        return f"it contains {control}"
    if "\\" in path:
        return "it contains a backslash"
    if path.startswith("/") or PurePosixPath(path).is_absolute():
        return "it is absolute"
    if len(path) > 1 and path[1] == ":":
        return "it starts with a drive letter"
    parts = path.split("/")
    if ".." in parts:
        return "it escapes the release folder ('..')"
    if "." in parts or "" in parts:
        return "it has an empty or '.' segment"
    return None


def check_relative_path(path: str, *, where: str) -> str:
    """Return ``path`` if it is a plain relative POSIX path that stays inside its folder.

    Refuses absolute paths, drive letters, backslashes, control characters, ``..`` and ``.``
    segments and empty segments, so a manifest cannot make tether write or read outside the
    release folder.
    """
    if not isinstance(path, str):
        raise ManifestError(f"{where}: file path {path!r} is not a string")
    reason = _why_unsafe(path)
    if reason is not None:
        raise ManifestError(
            f"{where}: unsafe file path {shorten(path)} ({reason})",
            "the file list was tampered with or badly generated; do not use this release",
        )
    return path


def _why_bad_name(name: str) -> str:
    if not name:
        return "it is empty"
    if len(name) > _NAME_MAX:
        return f"it is {len(name)} characters long, over {_NAME_MAX}"
    control = _control(name)
    if control is not None:
        return f"it contains {control}"
    if "\\" in name:
        return "it contains a backslash"
    if "/" in name:
        return "it contains a slash"
    if not (name[0].isascii() and name[0].isalnum()):
        return f"it starts with {name[0]!r}, not a letter or digit"
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
    if bad is not None:
        return f"it contains {bad!r}"
    return "it contains '..'"


def check_name(name: str) -> str:
    """Return ``name`` if it is usable as a release group name and a folder name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        reason = _why_bad_name(name) if isinstance(name, str) else "it is not a string"
        raise InvalidNameError(
            f"invalid name {shorten(name)}: {reason}",
            "a name starts with a letter or digit and holds only letters, digits, '.', '-', '_'",
        )
    return name


# --- a release's file listing: names tether keeps for itself, collisions ------------------

_LISTING_HINT = "the file list was tampered with or badly generated; do not use this release"
#: The fix when the folder being released breaks a rule of check_release_paths.
PUBLISH_HINT = "rename or remove that file in the folder you release"


def reserved_reason(path: str) -> str | None:
    """Why ``path`` names tether's own state rather than a release file, None when it does not.

    Fetch keeps its state in ``<dest>/.tether/``, writes ``.prepared.json`` last into a
    profile folder and downloads into ``*.tether-part``: a release file of such a name could
    pass for tether's own records (tests/spine/test_crafted_releases.py).
    """
    for segment in path.split("/"):
        if segment.startswith(FETCH_STATE_DIR):
            return f"{FETCH_STATE_DIR!r} starts the name of tether's state folder"
        if segment == PREPARED_FILE or segment.startswith(PREPARED_FILE + "."):
            return f"{PREPARED_FILE} is tether's record of a complete profile folder"
        if segment.endswith(TEMP_SUFFIX):
            return f"{TEMP_SUFFIX!r} ends the names of tether's unverified downloads"
    return None


def _folded(path: str) -> str:
    """The form two names share when a case-insensitive or normalising filesystem (macOS,
    Windows) would store them as one file."""
    return unicodedata.normalize("NFC", path).lower()


def check_release_paths(paths: Iterable[str], *, where: str, hint: str | None = None) -> list[str]:
    """Return ``paths`` sorted if they can all be files of one release folder.

    Raises ManifestError naming the first problem: a path that is unsafe
    (check_relative_path), that names tether's own state (reserved_reason), that is listed
    twice or names the same file as another on a case-insensitive filesystem, or that is
    both a file and a folder (``a`` and ``a/b``). Fetch and every store check listings with
    it; ``tether release`` should check the folder it publishes (``hint``: the fix there).
    """
    hint = _LISTING_HINT if hint is None else hint
    listed = list(paths)
    bad = next((path for path in listed if not isinstance(path, str)), None)
    if bad is not None:
        raise ManifestError(f"{where}: file path {bad!r} is not a string", hint)
    listed.sort()
    files: dict[str, str] = {}
    for index, path in enumerate(listed):
        reason = _why_unsafe(path)
        if reason is not None:
            raise ManifestError(f"{where}: unsafe file path {shorten(path)} ({reason})", hint)
        reason = reserved_reason(path)
        if reason is not None:
            raise ManifestError(f"{where}: file path {shorten(path)} is reserved ({reason})", hint)
        if index and listed[index - 1] == path:  # sorted: a path listed twice is adjacent
            raise ManifestError(f"{where}: {shorten(path)} is listed twice", hint)
        other = files.setdefault(_folded(path), path)
        if other != path:
            raise ManifestError(
                f"{where}: {shorten(other)} and {shorten(path)} name the same file on "
                "case-insensitive filesystems",
                hint,
            )
    for path in listed:
        parts = _folded(path).split("/")
        for end in range(1, len(parts)):
            folder = files.get("/".join(parts[:end]))
            if folder is not None:
                raise ManifestError(
                    f"{where}: {shorten(folder)} is both a file and a folder (of {shorten(path)})",
                    hint,
                )
    return listed
