"""The build recipe: upstream checkpoint at a pinned revision -> ONNX fp32 + int8 + provenance.

    schema     tether.toml / [tool.tether], validated: ``load_recipe(project)``
    pipeline   ``build(recipe, out_dir)``: the release files and a draft MANIFEST.txt;
               ``build_project(project)`` for `tether build`
    mirror     ``[source] prebuilt = "onnx"``: upstream's ONNX files as they are, no torch
               (``build`` dispatches; mirror_onnx reads them, loader_files writes the
               config files other loaders need, for built releases too)
    verify     ``rebuild_and_compare(project, store, version)`` for `tether build --compare-with`

Other rooms use only the names below; the modules behind them are private to the recipe.
Importing this package needs only the standard library: each name loads its module on
first use, and torch, transformers and onnx are imported when a build runs (they come with
``pip install 'tether[build]'``; tests/recipe/test_recipe_schema.py pins this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.recipe.pipeline import (
        BuildResult,
        Progress,
        build,
        build_project,
        require_toolchain,
    )
    from tether.recipe.schema import (
        HfSource,
        ParityThresholds,
        PathSource,
        Prebuilt,
        PrebuiltFile,
        Quantization,
        Recipe,
        load_recipe,
        recipe_from_table,
    )
    from tether.recipe.verify import VerifyReport, rebuild_and_compare, verify_against

_EXPORTS = {
    "BuildResult": "pipeline",
    "HfSource": "schema",
    "ParityThresholds": "schema",
    "PathSource": "schema",
    "Prebuilt": "schema",
    "PrebuiltFile": "schema",
    "Progress": "pipeline",
    "Quantization": "schema",
    "Recipe": "schema",
    "VerifyReport": "verify",
    "build": "pipeline",
    "build_project": "pipeline",
    "load_recipe": "schema",
    "rebuild_and_compare": "verify",
    "recipe_from_table": "schema",
    "require_toolchain": "pipeline",
    "verify_against": "verify",
}
__all__ = [
    "BuildResult",
    "HfSource",
    "ParityThresholds",
    "PathSource",
    "Prebuilt",
    "PrebuiltFile",
    "Progress",
    "Quantization",
    "Recipe",
    "VerifyReport",
    "build",
    "build_project",
    "load_recipe",
    "rebuild_and_compare",
    "recipe_from_table",
    "require_toolchain",
    "verify_against",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
