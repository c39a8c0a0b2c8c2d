"""Package doors that import their room's modules on first use (PEP 562).

A door lists what other rooms may use; looking a name up imports only the module that
defines it, so `import tether` and a no-op `tether fetch` stay light
(tests/runtime/test_runtime_imports.py and tests/test_doors.py pin this).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_door(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name -> the submodule that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__
