"""Text -> token ids with the release's tokenizer.json, truncated at the profile's max_length.

Padding is left to the embedder, which pads each batch to its own longest text (or not at
all when texts run one at a time); the tokenizer only tells it the pad id and side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from tether.errors import ManifestError, RuntimeOptionError


@dataclass(frozen=True)
class Encoded:
    """One text's token ids and token type ids, unpadded."""

    ids: np.ndarray  # int64, shape (n,)
    type_ids: np.ndarray  # int64, shape (n,)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class TextTokenizer:
    """A tokenizers.Tokenizer with truncation forced to the profile's max_length."""

    def __init__(self, path: Path, max_length: int) -> None:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ManifestError(
                f"{path} cannot be loaded as a tokenizer ({exc})",
                "repair it: tether fetch --repair",
            ) from exc
        truncation = tokenizer.truncation or {}
        # The profile's max_length is the contract; the file's own setting must not win.
        tokenizer.enable_truncation(
            max_length,
            strategy=truncation.get("strategy", "longest_first"),
            direction=truncation.get("direction", "right"),
        )
        padding = tokenizer.padding or {}
        pad_token_id = tokenizer.token_to_id(str(padding.get("pad_token", "[PAD]")))
        self.pad_id = int(padding.get("pad_id", pad_token_id if pad_token_id is not None else 0))
        self.pad_type_id = int(padding.get("pad_type_id", 0))
        self.pad_left = str(padding.get("direction", "right")).lower() == "left"
        tokenizer.no_padding()
        self.max_length = max_length
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Token ids of each text (special tokens added, at most max_length ids each)."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise RuntimeOptionError(
                    f"text {index} is a {type(text).__name__}, not a str",
                    "pass a list of strings",
                )
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return [
            Encoded(np.array(e.ids, dtype=np.int64), np.array(e.type_ids, dtype=np.int64))
            for e in encodings
        ]
