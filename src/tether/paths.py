"""Safety of names and relative paths that come from manifests, stores and users."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from tether.errors import InvalidNameError, ManifestError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_relative_path(path: str, *, where: str) -> str:
    """Return ``path`` if it is a plain relative POSIX path that stays inside its folder.

    Refuses absolute paths, drive letters, backslashes, ``..`` and ``.`` segments and empty
    segments, so a manifest cannot make tether write or read outside the release folder.
    """
    bad = (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(ord(char) < 32 for char in path)
        or (len(path) > 1 and path[1] == ":")
        or any(part in ("", ".", "..") for part in path.split("/"))
    )
    if bad or PurePosixPath(path).is_absolute():
        raise ManifestError(
            f"{where}: unsafe file path {path!r} (absolute, or escapes the release folder)",
            "the file list was tampered with or badly generated; do not use this release",
        )
    return path


def check_name(name: str) -> str:
    """Return ``name`` if it is usable as a release group name and a folder name."""
    if not _NAME.match(name) or ".." in name:
        raise InvalidNameError(
            f"invalid name {name!r}",
            "a name starts with a letter or digit and holds only letters, digits, '.', '-', '_'",
        )
    return name
