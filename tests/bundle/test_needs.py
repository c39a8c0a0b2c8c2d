"""The modules a loaded app needs are derived from tether's code, and cover its import graph.

grimp (the graph import-linter checks) is the independent witness: every module of the
runtime package, and everything they import, must be in what the PyInstaller hook, the
Nuitka options and the built-app audit ask for. A new runtime module, or a new import of a
primitive from the runtime, fails here if the derivation ever stops seeing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

from tether.bundle.needs import NATIVE_MODULES, derive_needs, runtime_needs
from tether.bundle.nuitka import nuitka_options


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tether", include_external_packages=True, cache_dir=None)


def test_needs_cover_the_runtime_and_everything_it_imports(graph: grimp.ImportGraph) -> None:
    needs = runtime_needs()
    runtime = {m for m in graph.modules if m == "tether.runtime" or m.startswith("tether.runtime.")}
    upstream = set().union(*(graph.find_upstream_modules(m) for m in runtime))
    ours = {m for m in runtime | upstream if m.split(".")[0] == "tether"}
    assert ours <= set(needs.modules), sorted(ours - set(needs.modules))
    external = {m.split(".")[0] for m in upstream} - {"tether", "__future__"}
    third_party = {m for m in external if m not in sys.stdlib_module_names}
    assert (
        third_party == set(needs.packages) == {"numpy", "onnxruntime", "platformdirs", "tokenizers"}
    )
    assert set(NATIVE_MODULES) <= set(needs.packages)
    # the facade and the lazy door on the way, but never the rooms an app does not load
    assert {"tether", "tether.runtime", "tether.doors", "tether.errors"} <= set(needs.modules)
    assert not [m for m in needs.modules if m.startswith(("tether.stores", "tether.spine"))]


def test_a_new_runtime_module_is_covered_the_day_it_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime package is walked on disk and every import parsed, function-local ones
    too: a module file added beside the others is needed with what it imports."""
    package = tmp_path / "zzapp"
    (package / "runtime").mkdir(parents=True)
    (package / "__init__.py").write_text("from zzapp import errors\n")
    (package / "errors.py").write_text("")
    (package / "hashing.py").write_text("import numpy\n")
    (package / "stores.py").write_text("import boto3\n")
    (package / "runtime" / "__init__.py").write_text("")
    (package / "runtime" / "old.py").write_text("from . import new\n")
    (package / "runtime" / "new.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zzapp import stores\n"
        "def f():\n    from ..hashing import x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    needs = derive_needs("zzapp", "zzapp.runtime")
    assert needs.modules == (
        "zzapp",
        "zzapp.errors",
        "zzapp.hashing",
        "zzapp.runtime",
        "zzapp.runtime.new",
        "zzapp.runtime.old",
    )
    assert needs.packages == ("numpy",)  # stores (boto3) only under TYPE_CHECKING


def test_nuitka_options_include_every_needed_module_and_the_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "build" / "tether-bundle"
    (bundle / "embedding_models" / "p").mkdir(parents=True)
    (bundle / "tether-bundle.json").write_text(
        '{"schema": 1, "tether": "0", "profiles": [], "assets": [{"name": "tiktoken_cache",'
        ' "source": "x", "sha256": "0", "files": {}}]}'
    )
    options = nuitka_options(bundle, cwd=tmp_path)
    included = {o.split("=", 1)[1] for o in options if o.startswith("--include-module=")}
    needs = runtime_needs()
    assert included == set(needs.modules) | set(needs.packages)
    assert "--nofollow-import-to=onnxruntime.transformers" in options
    assert options[-3:] == [
        "--include-data-dir=build/tether-bundle/embedding_models=embedding_models",
        "--include-data-files=build/tether-bundle/tether-bundle.json=tether-bundle.json",
        "--include-raw-dir=build/tether-bundle/tiktoken_cache=tiktoken_cache",
    ]
