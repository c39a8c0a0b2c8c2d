"""A tiny randomly initialised BERT checkpoint the tests generate, and recipe helpers.

The checkpoint has the files of a sentence-transformers model (config, safetensors,
tokenizer.json with a fixed-length padding like MiniLM's, vocab.txt, modules.json,
1_Pooling, sentence_bert_config.json), with 2 layers of width 32: a build takes seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.real_models` when run without the root conftest
    sys.path.insert(0, str(ROOT))

TINY_REPO = "tether-tests/tiny-bert"

_WORDS = [
    "the",
    "a",
    "an",
    "is",
    "of",
    "and",
    "to",
    "in",
    "for",
    "on",
    "with",
    "it",
    "this",
    "that",
    "be",
    "are",
    "was",
    "as",
    "at",
    "by",
    "from",
    "or",
    "not",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "cat",
    "weather",
    "rain",
    "sun",
    "model",
    "vector",
    "search",
    "text",
    "hello",
    "world",
    "code",
    "python",
    "data",
    "file",
    "error",
    "time",
    "day",
    "good",
    "new",
    "first",
    "last",
    "long",
    "short",
]


def make_tiny_checkpoint(folder: Path, *, seed: int = 0, max_seq_length: int = 32) -> Path:
    """Write a tiny BERT checkpoint in sentence-transformers layout to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:/()")
    vocab = specials + _WORDS + chars + [f"##{c}" for c in chars]
    vocab = list(dict.fromkeys(vocab))
    ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.enable_truncation(max_length=16)  # the trap: fixed, shorter than the model's
    tokenizer.enable_padding(length=16, pad_id=0, pad_token="[PAD]")
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "pad_token": "[PAD]", "model_max_length": 64}),
        encoding="utf-8",
    )

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
    )
    BertModel(config, add_pooling_layer=False).eval().save_pretrained(folder)

    (folder / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        ),
        encoding="utf-8",
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}),
        encoding="utf-8",
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint_shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint, generated once per session (do not modify: copy it)."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "checkpoint")


@pytest.fixture
def tiny_checkpoint(tiny_checkpoint_shared: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint that a test may change."""
    return Path(shutil.copytree(tiny_checkpoint_shared, tmp_path / "checkpoint"))


def recipe_table(checkpoint: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A settings table for ``checkpoint`` (path source); ``sections`` add or override keys."""
    table: dict[str, Any] = {
        "profile": {"id": "tiny-profile-v1"},
        "source": {"type": "path", "path": str(checkpoint), "model": TINY_REPO},
    }
    for name, values in sections.items():
        table[name] = {**table.get(name, {}), **values}
    return table


@pytest.fixture
def make_recipe() -> Callable[..., Any]:
    """``make_recipe(checkpoint, profile={...}, parity={...}, ...)`` -> a Recipe."""
    from tether.recipe import recipe_from_table

    def make(checkpoint: Path, **sections: dict[str, Any]) -> Any:
        table = recipe_table(checkpoint, **sections)
        return recipe_from_table(table, base_dir=checkpoint.parent, where="tether.toml")

    return make


@pytest.fixture
def clean_build_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CI or reproducible-build variables leaking in from the machine running tests."""
    for key in (
        "SOURCE_DATE_EPOCH",
        "GITHUB_RUN_ID",
        "GITHUB_REPOSITORY",
        "GITHUB_SERVER_URL",
        "CI_JOB_URL",
        "HF_HUB_OFFLINE",
    ):
        monkeypatch.delenv(key, raising=False)
