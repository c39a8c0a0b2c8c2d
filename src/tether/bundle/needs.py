"""What an app that calls ``tether.load()`` needs at run time, derived from tether's code.

tether imports its runtime lazily (``tether.load`` -> the runtime door -> its modules, via
``importlib``), which freezers that follow only static imports miss: Nuitka built apps that
crashed with ``No module named 'tether.runtime'``. So the list is not written by hand: every
module of the runtime package (walked on disk, so a new one is covered the day it lands), the
doors on the way, and every tether module those import, function-local imports included
(parsed with ``ast``), plus the third-party packages they import. The PyInstaller hook, the
Nuitka options and the built-app audit all read it from here (tests/bundle/test_needs.py
holds it to grimp's import graph).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

TOP = "tether"
RUNTIME_PACKAGE = "tether.runtime"
#: Third-party packages with native code a loaded app needs, and the extension module that
#: proves each is really in a build (a package folder without it fails at first use).
NATIVE_MODULES = {
    "onnxruntime": "onnxruntime.capi.onnxruntime_pybind11_state",
    "tokenizers": "tokenizers.tokenizers",
    "numpy": "numpy._core._multiarray_umath",
}


@dataclass(frozen=True)
class RuntimeNeeds:
    modules: tuple[str, ...]  # tether's own modules, sorted
    packages: tuple[str, ...]  # third-party top-level packages, sorted


@functools.cache
def runtime_needs() -> RuntimeNeeds:
    """The tether modules and third-party packages ``tether.load(...).embed(...)`` imports."""
    return derive_needs(TOP, RUNTIME_PACKAGE)


def derive_needs(top: str, runtime_package: str) -> RuntimeNeeds:
    """``top``'s modules that ``runtime_package`` (every module of it) needs, and the rest."""
    start = [top, runtime_package, *_submodules(runtime_package)]
    seen: set[str] = set()
    packages: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in _imports_of(name):
            if imported.split(".")[0] == top:
                if name == top and imported != runtime_package and not _is_primitive(imported):
                    continue  # the facade's other rooms (stores, spine) load only when used
                todo += [m for m in _with_parents(imported) if _is_module(m)]
            elif imported.split(".")[0] not in (*sys.stdlib_module_names, "__future__"):
                packages.add(imported.split(".")[0])
    return RuntimeNeeds(tuple(sorted(seen)), tuple(sorted(packages)))


def _submodules(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations is not None
    return [
        f"{package}.{info.name}" for info in pkgutil.iter_modules(spec.submodule_search_locations)
    ]


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _is_primitive(name: str) -> bool:
    """A flat module of tether (errors, doors, names...), not a room (a package)."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is None


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' doors."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imports_of(name: str) -> set[str]:
    """Every module ``name``'s source imports, anywhere in the file; TYPE_CHECKING blocks
    are skipped (they never run)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return set()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    package = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # `from tether.runtime import stamps` imports the module tether.runtime.stamps
            found.update(f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}"))
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo += node.orelse
            continue
        nodes.append(node)
        todo += ast.iter_child_nodes(node)
    return nodes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
