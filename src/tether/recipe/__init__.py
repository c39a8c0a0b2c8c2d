"""The build recipe: upstream checkpoint at a pinned revision -> ONNX fp32 + int8 + provenance.

``load_recipe(project_dir)`` reads and validates ``tether.toml`` / ``[tool.tether]``;
``build(recipe, out_dir)`` writes the release files and a draft MANIFEST.txt. Importing
this package needs only the standard library: torch, transformers and onnx are imported
when a build runs (they come with ``pip install 'tether[build]'``).
"""

from __future__ import annotations

from tether.recipe.build import BuildResult, Progress, build, require_toolchain
from tether.recipe.schema import (
    HfSource,
    ParityThresholds,
    PathSource,
    Quantization,
    Recipe,
    load_recipe,
    recipe_from_table,
)

__all__ = [
    "BuildResult",
    "HfSource",
    "ParityThresholds",
    "PathSource",
    "Progress",
    "Quantization",
    "Recipe",
    "build",
    "load_recipe",
    "recipe_from_table",
    "require_toolchain",
]
