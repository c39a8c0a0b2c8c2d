"""Degraded MiniLM builds for the quality gate's end-to-end tests (built once per session)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from tether.recipe.schema import ParityThresholds, Quantization

# Low enough that the build writes the degraded model: the promotion gate must catch it.
LOW_PARITY = ParityThresholds(min_mean=0.5, min=0.3)


def _build(tmp_root: Path, label: str, **changes: object) -> Path:
    from tests.real_models import minilm_recipe
    from tether.recipe import build

    recipe = replace(minilm_recipe(), parity=LOW_PARITY, **changes)
    return build(recipe, tmp_root / label).out_dir


@pytest.fixture(scope="session")
def quality_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="tether-quality-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pertensor_build(quality_root: Path) -> Path:
    """MiniLM with per-tensor int8 (mean cosine ~0.96 to fp32): same contract, worse int8."""
    return _build(quality_root, "pertensor", quantization=Quantization(per_channel=False))


@pytest.fixture(scope="session")
def cls_build(quality_root: Path) -> Path:
    """MiniLM with CLS pooling: a different contract under the same profile id."""
    return _build(quality_root, "cls", pooling="cls")
