"""The consuming repo's git, read-only: the one place tether runs ``git``.

Provenance records the commit a release was made from (``tether.manifest``), notes list
the commits between two releases (``tether.quality.notes``) and ``tether pin --previous``
reads the pin's history (``tether.spine.pin``). All of it is optional information: a
missing git, a folder that is not a work tree, an unknown commit or a hung git give None,
never an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

#: A git commit id: SHA-1, or SHA-256 in a repository made with --object-format=sha256.
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GIT_TIMEOUT = 60  # seconds: `git log -p` of a long history; a rev-parse takes milliseconds


def run_git(repo: Path | str, *args: str) -> str | None:
    """git's stdout in ``repo``, None when git is missing or the command fails."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(repo), *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def head_commit(repo: Path | str) -> str | None:
    """The commit checked out in ``repo``, None outside a git work tree."""
    out = run_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    commit = out.strip() if out else ""
    return commit if COMMIT_ID.fullmatch(commit) else None


def git_available() -> bool:
    return shutil.which("git") is not None
