"""The recipe schema: tether.toml / [tool.tether], defaults, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.recipe import HfSource, PathSource, load_recipe, recipe_from_table

COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"

MINIMAL_HF = f"""
[profile]
id = "local-text-retrieval-v1"

[source]
type = "hf"
repo = "sentence-transformers/all-MiniLM-L6-v2"
revision = "{COMMIT}"
"""


def _table(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {
        "profile": {"id": "p-v1"},
        "source": {"type": "hf", "repo": "org/model", "revision": COMMIT},
    }
    table.update(overrides)
    return table


def _error(table: dict[str, object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        recipe_from_table(table, base_dir=Path("/project"), where="tether.toml")
    line = caught.value.one_line()
    assert "\n" not in line and caught.value.hint, line
    return caught.value


def test_minimal_recipe_takes_defaults(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(MINIMAL_HF, encoding="utf-8")
    recipe = load_recipe(tmp_path)
    assert recipe.profile_id == recipe.name == "local-text-retrieval-v1"
    assert recipe.store is None
    assert recipe.source == HfSource(repo="sentence-transformers/all-MiniLM-L6-v2", revision=COMMIT)
    assert (recipe.pooling, recipe.normalize, recipe.max_length) == (None, None, None)
    assert recipe.opset == 18 and recipe.variants == ("fp32", "int8")
    assert recipe.quantization.as_profile() == {
        "method": "dynamic",
        "weights": "QInt8",
        "per_channel": True,
    }
    assert (recipe.parity.min_mean, recipe.parity.min) == (0.985, 0.93)
    assert recipe.origin == tmp_path / "tether.toml"


def test_pyproject_tool_table_and_full_schema(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        """
[project]
name = "app"

[tool.tether]
name = "minilm"
store = "oci://registry.example.com/models"

[tool.tether.profile]
id = "local-text-retrieval-v1"
pooling = "cls"
normalize = false
max_length = 128

[tool.tether.source]
type = "path"
path = "models/minilm"

[tool.tether.export]
opset = 17
variants = ["int8", "fp32"]

[tool.tether.quantization]
weights = "QUInt8"
per_channel = false

[tool.tether.parity]
min_mean = 0.99
min = 0.95
""",
        encoding="utf-8",
    )
    recipe = load_recipe(tmp_path)
    assert recipe.name == "minilm" and recipe.store == "oci://registry.example.com/models"
    assert (recipe.pooling, recipe.normalize, recipe.max_length) == ("cls", False, 128)
    assert recipe.source == PathSource(path=tmp_path / "models" / "minilm", model="minilm")
    assert recipe.opset == 17 and recipe.variants == ("fp32", "int8")
    assert recipe.quantization.describe() == "dynamic int8, weights QUInt8, per-tensor"
    assert recipe.parity.describe() == "int8 mean >= 0.99, int8 min >= 0.95, fp32 min >= 0.9999"


def test_no_recipe_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no build recipe"):
        load_recipe(tmp_path)


@pytest.mark.parametrize(
    ("revision", "reason"),
    [
        ("main", "branch or tag"),
        ("v1.0", "branch or tag"),
        ("c9745ed", "abbreviated"),
        (COMMIT.upper(), "uppercase"),
        (None, "missing"),
    ],
)
def test_hf_revision_must_be_a_full_commit(revision: str | None, reason: str) -> None:
    source = {"type": "hf", "repo": "org/model"}
    if revision is not None:
        source["revision"] = revision
    error = _error(_table(source=source))
    assert reason in error.message
    assert "revision" in error.message


def test_unknown_pooling_is_refused() -> None:
    error = _error(_table(profile={"id": "p-v1", "pooling": "max"}))
    assert "pooling 'max' is not supported" in error.message
    assert "mean, cls, last" in error.hint


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (_table(profile={}), "[profile] id is missing"),
        (_table(profile={"id": "bad name!"}), "not a valid name"),
        (_table(source=None), "[source] is missing"),
        (_table(source={"repo": "org/m"}), "[source] type is missing"),
        (_table(source={"type": "s3"}), "[source] type 's3' is not supported"),
        (_table(source={"type": "hf", "repo": "../x", "revision": COMMIT}), "not a Hugging Face"),
        (_table(source={"type": "path"}), "[source] path is missing"),
        (
            _table(source={"type": "path", "path": "m", "revision": "abc"}),
            "must be sha256:<64 hex>",
        ),
        (_table(quantization={"weigths": "QInt8"}), "did you mean 'weights'"),
        (_table(quantization={"weights": "QInt4"}), "weights 'QInt4'"),
        (_table(quantization={"method": "static"}), "method 'static'"),
        (_table(quantisation={}), "did you mean 'quantization'"),
        (_table(export={"variants": ["int8"]}), "must include fp32"),
        (_table(export={"variants": ["fp16"]}), "variants 'fp16'"),
        (_table(export={"opset": 9}), "from 14 to 20"),
        (_table(profile={"id": "p", "max_length": "256"}), "whole number"),
        (_table(profile={"id": "p", "normalize": 1}), "true or false"),
        (_table(parity={"min": 2}), "between -1 and 1"),
        (_table(profile="p"), "must be a table"),
    ],
)
def test_bad_recipes_name_the_key(table: dict[str, object], expected: str) -> None:
    assert expected in _error(table).message


def test_foreign_top_level_keys_are_left_to_other_components() -> None:
    recipe = recipe_from_table(_table(bundle={"x": 1}), base_dir=Path("/p"))
    assert recipe.profile_id == "p-v1"


def test_importing_tether_recipe_and_cli_needs_no_build_toolchain() -> None:
    code = (
        "import sys, tether, tether.cli, tether.cli.build, tether.recipe; "
        "heavy = [m for m in ('torch', 'transformers', 'onnx', 'huggingface_hub') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
