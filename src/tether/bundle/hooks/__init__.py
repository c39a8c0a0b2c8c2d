"""PyInstaller hooks shipped with tether (found through the ``pyinstaller40`` entry point)."""

from __future__ import annotations

from pathlib import Path


def get_hook_dirs() -> list[str]:
    """Folders holding tether's hooks: PyInstaller's ``pyinstaller40`` / ``hook-dirs`` API."""
    return [str(Path(__file__).resolve().parent)]
