"""What a checkpoint's sentence-transformers files say: the one reader of those files.

``read_sentence_transformers(folder)`` reads ``modules.json`` (the module pipeline),
the Pooling module's ``config.json`` (``1_Pooling/`` by default), ``sentence_bert_config.json``
(``max_seq_length``) and ``config_sentence_transformers.json`` (``prompts``,
``default_prompt_name``). Each value is None where the folder does not say; a malformed
file is a one-line ConfigError. Plain JSON reads: no torch, no sentence-transformers, so
the build and the mirror (which has no torch) share it.

A module tether's runtime cannot reproduce (Dense, a max or weighted pooling, a pooling
that excludes the prompt tokens) is reported, not guessed around: an unsupported module
is refused outright (the vectors would differ), a pooling tether cannot do is named in
``pooling_problem`` so a recipe that sets ``[profile] pooling`` itself can still build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.names import (
    HF_CONFIG_FILE,
    ST_BERT_CONFIG_FILE,
    ST_CONFIG_FILE,
    ST_MODULES_FILE,
    ST_POOLING_DIR,
)

# sentence-transformers modules whose effect tether's runtime reproduces.
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "last",
}
_POOLING_UNSUPPORTED = (
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
)


@dataclass(frozen=True)
class SentenceTransformersSettings:
    """The profile facts a checkpoint's sentence-transformers files carry (None: not said)."""

    pooling: str | None = None  # mean, cls or last
    normalize: bool | None = None  # a Normalize module in modules.json
    max_length: int | None = None  # sentence_bert_config.json max_seq_length
    prompts: dict[str, str] = field(default_factory=dict)  # name -> text prepended to the input
    default_prompt_name: str | None = None  # a key of prompts, applied when none is asked
    pooling_problem: str | None = None  # why the files' pooling cannot be reproduced, if so


def read_sentence_transformers(folder: Path) -> SentenceTransformersSettings:
    """The sentence-transformers settings in ``folder``; ConfigError on a malformed file."""
    folder = Path(folder)
    where = f"checkpoint {folder}"
    pooling, problem, normalize = _pooling(folder, where)
    bert = _read_json(folder / ST_BERT_CONFIG_FILE, where, dict)
    max_length = bert.get("max_seq_length") if bert else None
    if max_length is not None and (
        not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2
    ):
        raise ConfigError(
            f"{where}: {ST_BERT_CONFIG_FILE} max_seq_length {max_length!r} is not a token count",
            "fix the file, or set [profile] max_length in the recipe",
        )
    prompts, default = _prompts(folder, where)
    return SentenceTransformersSettings(
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
        prompts=prompts,
        default_prompt_name=default,
        pooling_problem=problem,
    )


def _pooling(folder: Path, where: str) -> tuple[str | None, str | None, bool | None]:
    """(pooling, why it cannot be used, normalize) from modules.json and the Pooling config."""
    modules = _read_json(folder / ST_MODULES_FILE, where, list)
    if modules is None:
        # No pipeline file: sentence-transformers would build Transformer + mean pooling
        # itself; say only what a Pooling folder, if any, says, and nothing of normalize.
        if not (folder / ST_POOLING_DIR / HF_CONFIG_FILE).is_file():
            return None, None, None
        pooling, problem = _pooling_config(folder / ST_POOLING_DIR, where)
        return pooling, problem, None
    pooling: str | None = None
    problem: str | None = None
    normalize = False
    for module in modules:
        if not isinstance(module, dict):
            raise ConfigError(f"{where}: {ST_MODULES_FILE} lists {module!r}, not a module")
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in SUPPORTED_MODULES:
            raise ConfigError(
                f"{where}: sentence-transformers module {kind!r} ({module.get('path')}) "
                "is not supported",
                "tether runs transformer + pooling (+ normalize) only; this model's "
                "vectors would differ from sentence-transformers'",
            )
        if kind == "Normalize":
            normalize = True
        if kind == "Pooling":
            path = module.get("path") or ST_POOLING_DIR
            pooling, problem = _pooling_config(folder / str(path), where, required=True)
    return pooling, problem, normalize


def _pooling_config(
    folder: Path, where: str, *, required: bool = False
) -> tuple[str | None, str | None]:
    cfg = _read_json(folder / HF_CONFIG_FILE, where, dict)
    if cfg is None:
        if required:
            raise ConfigError(
                f"{where}: {ST_MODULES_FILE} names a Pooling module in {folder.name}/, "
                f"which has no {HF_CONFIG_FILE}",
                "use a complete checkpoint, or set [profile] pooling in the recipe",
            )
        return None, None
    modes = [name for flag, name in _POOLING_FLAGS.items() if cfg.get(flag)]
    if isinstance(cfg.get("pooling_mode"), str):  # newer configs name the mode
        modes = [cfg["pooling_mode"].replace("lasttoken", "last")]
    other = [flag for flag in _POOLING_UNSUPPORTED if cfg.get(flag)]
    if cfg.get("include_prompt") is False:
        return None, "its pooling excludes prompt tokens (include_prompt = false)"
    if len(modes) == 1 and not other and modes[0] in _POOLING_FLAGS.values():
        return modes[0], None
    return None, f"its pooling ({', '.join(modes + other) or 'none'}) is not mean/cls/last"


def _prompts(folder: Path, where: str) -> tuple[dict[str, str], str | None]:
    config = _read_json(folder / ST_CONFIG_FILE, where, dict) or {}
    raw = config.get("prompts") or {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in raw.items()
    ):
        raise ConfigError(
            f"{where}: {ST_CONFIG_FILE} 'prompts' must map names to strings",
            "fix the file, or set [profile] prompts in the recipe",
        )
    # sentence-transformers reads a null prompt as the empty one.
    prompts = {name: text or "" for name, text in raw.items()}
    default = config.get("default_prompt_name")
    if default is not None and (not isinstance(default, str) or default not in prompts):
        raise ConfigError(
            f"{where}: {ST_CONFIG_FILE} default_prompt_name {default!r} is not one of its "
            f"prompts ({', '.join(sorted(prompts)) or 'none'})",
            "fix the file, or set [profile] default_prompt_name in the recipe",
        )
    return prompts, default


def _read_json(path: Path, where: str, kind: type) -> Any:
    """The file's JSON of type ``kind``, or None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path.name} cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{where}: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(data, kind):
        raise ConfigError(f"{where}: {path.name} is not a JSON {kind.__name__}")
    return data
