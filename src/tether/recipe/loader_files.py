"""The files other loaders look for beside a release's model, generated from profile.json.

A release folder loads as it is in fastembed (``specific_model_path``), sentence-transformers
(``backend="onnx"``, or its torch backend when the weights sit beside it), optimum's
``ORTModelForFeatureExtraction`` (``subfolder="onnx"``) and transformers.js. What each needs
(measured, FINDINGS.md): ``config.json`` and ``tokenizer_config.json`` for all of them,
``special_tokens_map.json`` for fastembed's special tokens, and the sentence-transformers
pipeline files. Everything that decides a vector (pooling, normalize, max_length, prompts,
the output dimension) is written from the profile, never copied from upstream, so the
files cannot disagree with the contract tether's runtime follows:

    tokenizer_config.json           upstream's, with model_max_length = profile max_length
                                    (MiniLM's says 512: longer texts drift to cosine 0.96)
    special_tokens_map.json         upstream's, else the tokens tokenizer_config names
    config.json                     upstream's transformers config (else the width only)
    modules.json                    Transformer, Pooling (+ Normalize when normalize)
    sentence_bert_config.json       max_seq_length = max_length
    1_Pooling/config.json           the profile's pooling over the model's width
    config_sentence_transformers.json   prompts, default_prompt_name, truncate_dim
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tether.atomic import write_atomic
from tether.errors import ConfigError
from tether.names import (
    HF_CONFIG_FILE,
    SPECIAL_TOKENS_FILE,
    ST_BERT_CONFIG_FILE,
    ST_CONFIG_FILE,
    ST_MODULES_FILE,
    ST_NORMALIZE_DIR,
    ST_POOLING_DIR,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
)

# transformers' special-token keys, in the order its own special_tokens_map.json uses.
SPECIAL_TOKEN_KEYS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
_ST_MODULE = "sentence_transformers.models."


def write_loader_files(folder: Path, profile: dict[str, Any], *, upstream: Path) -> list[str]:
    """Write the loader files into ``folder`` (a build's work folder); their paths, sorted.

    ``profile`` is the profile.json being written; ``upstream`` the source folder whose
    config.json, tokenizer_config.json and special_tokens_map.json are the starting point.
    """
    folder = Path(folder)
    upstream = Path(upstream)
    width = int(profile.get("native_dim") or profile["dim"])
    max_length = int(profile["max_length"])
    files: dict[str, Any] = {}

    tokenizer_config = _read(upstream / TOKENIZER_CONFIG_FILE) or {}
    tokenizer_config["model_max_length"] = max_length
    pad = _pad_token(folder / TOKENIZER_FILE)
    if pad is not None:
        tokenizer_config.setdefault("pad_token", pad)
    tokenizer_config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
    files[TOKENIZER_CONFIG_FILE] = tokenizer_config

    special = _read(upstream / SPECIAL_TOKENS_FILE)
    if special is None:
        special = {
            key: tokenizer_config[key] for key in SPECIAL_TOKEN_KEYS if key in tokenizer_config
        }
    files[SPECIAL_TOKENS_FILE] = special

    config = _read(upstream / HF_CONFIG_FILE)
    files[HF_CONFIG_FILE] = config if config is not None else {"hidden_size": width}

    modules = [
        {"idx": 0, "name": "0", "path": "", "type": _ST_MODULE + "Transformer"},
        {"idx": 1, "name": "1", "path": ST_POOLING_DIR, "type": _ST_MODULE + "Pooling"},
    ]
    if profile.get("normalize", True):
        modules.append(
            {"idx": 2, "name": "2", "path": ST_NORMALIZE_DIR, "type": _ST_MODULE + "Normalize"}
        )
    files[ST_MODULES_FILE] = modules
    files[ST_BERT_CONFIG_FILE] = {"max_seq_length": max_length, "do_lower_case": False}
    files[f"{ST_POOLING_DIR}/{HF_CONFIG_FILE}"] = _pooling_config(profile["pooling"], width)

    st_config: dict[str, Any] = {
        "model_type": "SentenceTransformer",
        "prompts": dict(profile.get("prompts") or {}),
        "default_prompt_name": profile.get("default_prompt_name"),
        "similarity_fn_name": "cosine",
    }
    if profile.get("native_dim"):
        # sentence-transformers truncates after Normalize; the cosine is the same as
        # tether's re-normalised vector (a positive multiple of it).
        st_config["truncate_dim"] = int(profile["dim"])
    files[ST_CONFIG_FILE] = st_config

    for rel, data in files.items():
        # replaced, never written through: the folder may hold hard links to a release
        # (tests/recipe/test_loaders.py links the shared mirror)
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(folder / rel, text.encode("utf-8"))
    return sorted(files)


def _pooling_config(pooling: str, width: int) -> dict[str, Any]:
    return {
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": pooling == "last",
        "include_prompt": True,  # tether pools over the prompt's tokens too
    }


def _pad_token(tokenizer_file: Path) -> str | None:
    """The pad token tokenizer.json's padding names (the normalised file always has one)."""
    data = _read(tokenizer_file)
    padding = (data or {}).get("padding")
    token = padding.get("pad_token") if isinstance(padding, dict) else None
    return token if isinstance(token, str) else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})", "fix or remove the file") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object", "fix or remove the file")
    return data
