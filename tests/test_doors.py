"""Each room's door (its __init__) exports what other rooms use, and loads it lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import tether

LAZY_DOORS = [
    "tether",
    "tether.spine",
    "tether.quality",
    "tether.runtime",
    "tether.recipe",
    "tether.bundle",
]


@pytest.mark.parametrize("package", LAZY_DOORS)
def test_every_exported_name_resolves_and_is_listed(package: str) -> None:
    door = importlib.import_module(package)
    exports = door._EXPORTS
    assert set(exports) <= set(door.__all__)
    for name in exports:
        assert getattr(door, name) is not None, f"{package}.{name}"


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tether.nope  # noqa: B018


def _modules_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_import_tether_loads_no_room() -> None:
    loaded = _modules_after("import tether")
    rooms = [m for m in loaded if m.startswith(("tether.spine", "tether.stores", "tether.runtime"))]
    assert rooms == []
    assert "numpy" not in loaded and "click" not in loaded


def test_a_spine_name_loads_only_its_module() -> None:
    loaded = _modules_after("import tether; tether.read_pin")
    assert "tether.spine.pin" in loaded
    assert "tether.spine.fetch" not in loaded and "numpy" not in loaded
