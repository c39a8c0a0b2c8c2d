"""The sentence-transformers files of a checkpoint (st_config), and how a recipe overrides
what they say about prompts and the output dimension (plain files: no model, no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ConfigError
from tether.recipe import recipe_from_table
from tether.recipe.export import Checkpoint
from tether.recipe.pipeline import resolve_settings
from tether.recipe.st_config import SentenceTransformersSettings, read_sentence_transformers

MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]


def write(folder: Path, rel: str, data: Any) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.fixture
def st_folder(tmp_path: Path) -> Path:
    write(tmp_path, "modules.json", MODULES)
    write(tmp_path, "1_Pooling/config.json", {"pooling_mode_mean_tokens": True})
    write(tmp_path, "sentence_bert_config.json", {"max_seq_length": 512})
    write(
        tmp_path,
        "config_sentence_transformers.json",
        {"prompts": {"query": "query: ", "document": None}, "default_prompt_name": "query"},
    )
    return tmp_path


def test_reads_every_sentence_transformers_file(st_folder: Path) -> None:
    assert read_sentence_transformers(st_folder) == SentenceTransformersSettings(
        pooling="mean",
        normalize=True,
        max_length=512,
        prompts={"query": "query: ", "document": ""},  # null reads as "", as ST reads it
        default_prompt_name="query",
    )


def test_a_folder_that_says_nothing(tmp_path: Path) -> None:
    assert read_sentence_transformers(tmp_path) == SentenceTransformersSettings()


@pytest.mark.parametrize(
    ("rel", "data", "words"),
    [
        ("modules.json", "{not json", "modules.json is not valid JSON"),
        ("modules.json", {"a": 1}, "modules.json is not a JSON list"),
        ("sentence_bert_config.json", {"max_seq_length": "512"}, "is not a token count"),
        ("config_sentence_transformers.json", {"prompts": ["q"]}, "must map names to strings"),
        (
            "config_sentence_transformers.json",
            {"prompts": {"query": "q: "}, "default_prompt_name": "passage"},
            "default_prompt_name 'passage' is not one of its prompts",
        ),
    ],
)
def test_malformed_files_are_one_line_errors(
    st_folder: Path, rel: str, data: Any, words: str
) -> None:
    write(st_folder, rel, data)
    with pytest.raises(ConfigError, match=words) as caught:
        read_sentence_transformers(st_folder)
    assert "\n" not in caught.value.one_line()


def test_poolings_tether_cannot_reproduce_are_named(st_folder: Path) -> None:
    write(st_folder, "1_Pooling/config.json", {"pooling_mode": "mean", "include_prompt": False})
    settings = read_sentence_transformers(st_folder)
    assert settings.pooling is None and "excludes prompt tokens" in str(settings.pooling_problem)
    write(st_folder, "modules.json", [*MODULES, {"path": "3_Dense", "type": "x.Dense"}])
    with pytest.raises(ConfigError, match="module 'Dense'"):
        read_sentence_transformers(st_folder)


def checkpoint(**changes: Any) -> Checkpoint:
    values: dict[str, Any] = {
        "folder": Path("/ckpt"),
        "model_type": "bert",
        "hidden_size": 768,
        "max_positions": 512,
        "pooling": "mean",
        "pooling_problem": None,
        "normalize": True,
        "max_length": 512,
        "has_vocab": True,
        "prompts": {"query": "query: ", "document": "passage: ", "empty": ""},
        "default_prompt_name": "query",
    }
    return Checkpoint(**{**values, **changes})


def recipe(**profile: Any) -> Any:
    table = {
        "profile": {"id": "p-v1", **profile},
        "source": {"type": "path", "path": "/ckpt"},
    }
    return recipe_from_table(table, base_dir=Path("/"))


def test_prompts_and_dim_come_from_the_checkpoint_unless_the_recipe_says() -> None:
    settings = resolve_settings(recipe(), checkpoint())
    # an empty prompt changes nothing: left out, so the stamp is a prompt-less one
    assert settings.prompts == {"query": "query: ", "document": "passage: "}
    assert settings.default_prompt_name == "query"
    assert (settings.dim, settings.native_dim) == (768, None)
    assert (
        resolve_settings(recipe(), checkpoint(prompts={}, default_prompt_name=None)).prompts == {}
    )

    own = resolve_settings(recipe(prompts={"query": "search_query: "}, dim=256), checkpoint())
    assert own.prompts == {"query": "search_query: "} and own.default_prompt_name == "query"
    assert (own.dim, own.native_dim) == (256, 768)
    assert own.contract_fields() == {
        "native_dim": 768,
        "prompts": {"query": "search_query: "},
        "default_prompt_name": "query",
    }
    # "" turns the checkpoint's default prompt off
    assert (
        resolve_settings(recipe(default_prompt_name=""), checkpoint()).default_prompt_name is None
    )
    # the recipe's own prompts without the checkpoint's default name: no default
    kept = resolve_settings(recipe(prompts={"doc": "d: "}), checkpoint())
    assert kept.default_prompt_name is None


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        ({"dim": 1024}, "dim 1024 exceeds the model's output width 768"),
        ({"default_prompt_name": "passage"}, "default_prompt_name 'passage' is not one of"),
    ],
)
def test_recipe_overrides_that_cannot_hold(profile: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        resolve_settings(recipe(**profile), checkpoint())


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        ({"prompts": {"query": 1}}, "prompts must be a table"),
        ({"prompts": {"q": "q: "}, "default_prompt_name": "query"}, "is not one of"),
        ({"dim": 0}, "dim must be a whole number"),
        ({"dims": 256}, "unknown key 'dims' in \\[profile\\] \\(did you mean 'dim'"),
    ],
)
def test_profile_table_keys_are_validated(profile: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        recipe(**profile)
