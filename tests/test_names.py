"""Every file name and environment variable is spelled once, in tether.names."""

from __future__ import annotations

import ast
from pathlib import Path

import tether.names

SRC = Path(tether.names.__file__).parent


def _spelled_names() -> dict[str, str]:
    """The names' values that are unmistakably file names or variables (not plain words)."""
    values = {}
    for key, value in vars(tether.names).items():
        if key.isupper() and isinstance(value, str) and any(c in value for c in "._/"):
            values[value] = key
    return values


def test_no_module_spells_a_name_of_its_own() -> None:
    values = _spelled_names()
    copies = []
    for path in sorted(SRC.rglob("*.py")):
        if path == Path(tether.names.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in values:
                copies.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert copies == [], "use tether.names instead of: " + ", ".join(copies)
