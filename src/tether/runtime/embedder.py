"""The Embedder: texts in, one float32 vector per text out, in input order.

Vectors are a pure function of (release, variant, text): neither the batch a text comes in,
its position, nor the thread count changes a single bit (see tether.runtime.batching).
Imports onnxruntime, tokenizers, numpy and the standard library only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tether.errors import InvalidVariantError, ManifestError, ModelOutputError, RuntimeOptionError
from tether.names import DEFAULT_APP_MODELS_DIR, DEFAULT_APP_NAME, TOKENIZER_FILE
from tether.prepared import Prepared
from tether.profile import Profile, read_profile
from tether.runtime import stamps
from tether.runtime.batching import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    interleaved_shares,
    length_batches,
)
from tether.runtime.pooling import l2_normalize, pool
from tether.runtime.probe import run_probe
from tether.runtime.resolution import Resolution, resolve_usable
from tether.runtime.session import ModelIO, create_session, model_io
from tether.runtime.tokenizer import Encoded, TextTokenizer

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

#: Texts tokenized and held at once: bounds the memory of token ids for huge inputs.
CHUNK_TEXTS = 4096
#: The prompt names embed_query / embed_documents look for, in order, as
#: sentence-transformers' encode_query / encode_document do (else the default prompt).
QUERY_PROMPT_NAMES = ("query",)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Embedder:
    """Embeds texts with one resolved profile folder and variant.

    Usually made by :func:`tether.load`. ``threads``: CPU threads to use (default: all this
    process may use). ``max_batch_tokens``: the most padded tokens in one model run, which
    bounds memory whatever the input (a 1 MB paste is truncated to max_length tokens first).
    """

    def __init__(
        self,
        resolution: Resolution,
        *,
        threads: int | None = None,
        max_batch_tokens: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> None:
        profile = resolution.profile
        self.resolution = resolution
        self.threads = _positive("threads", threads if threads is not None else available_cpus())
        self.max_batch_tokens = _positive(
            "max_batch_tokens",
            max_batch_tokens
            if max_batch_tokens is not None
            else max(DEFAULT_MAX_BATCH_TOKENS, profile.max_length),
        )
        if self.max_batch_tokens < profile.max_length:
            raise RuntimeOptionError(
                f"max_batch_tokens={self.max_batch_tokens} is below the profile's max_length "
                f"{profile.max_length}: one long text would not fit",
                f"use max_batch_tokens >= {profile.max_length}",
            )
        self.max_batch_size = _positive("max_batch_size", max_batch_size)
        spec = profile.variants[resolution.variant]
        #: "per_text" (dynamically quantized: each text alone) or "length_batches".
        self.batching = "per_text" if spec.dynamic_quantization else "length_batches"
        # One text per run: parallel runs with one thread each. Batches: threads per run.
        self._workers = self.threads if self.batching == "per_text" else 1
        folder = resolution.folder
        #: The ONNX file this embedder runs (named in errors about its output).
        self.model_path = folder / spec.file
        self._tokenizer = TextTokenizer(folder / TOKENIZER_FILE, profile.max_length)
        self._session = create_session(
            self.model_path,
            intra_op_threads=1 if self.batching == "per_text" else self.threads,
        )
        self._io: ModelIO = model_io(self._session, profile.output)
        if self._io.hidden_size is not None and self._io.hidden_size != profile.model_dim:
            width = profile.native_dim or profile.dim
            said = f"native_dim {width}" if profile.native_dim else f"dim {width}"
            raise ManifestError(
                f"{folder / spec.file} outputs {self._io.hidden_size} values per token, "
                f"profile.json says {said}",
                "the profile and model do not belong together: tether fetch --repair",
            )
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @classmethod
    def from_folder(cls, folder: Path | str, variant: str, **options: Any) -> Embedder:
        """An Embedder on exactly ``folder``, taken as it is: a build output or a
        `tether download` folder, which lack the .prepared.json :func:`tether.load`
        requires. Nothing here re-hashes the files; verify the folder first."""
        folder = Path(folder)
        profile = read_profile(folder)
        if variant not in profile.variants:
            raise InvalidVariantError(
                f"{folder} has no {variant} variant",
                f"choose one of: {', '.join(sorted(profile.variants))}",
            )
        prepared = Prepared(str(folder), profile.profile_id, "unreleased", "", [variant])
        resolution = Resolution(
            profile.profile_id, folder, variant, "folder", profile, prepared, "asked for", ()
        )
        return cls(resolution, **options)

    # --- what this embedder is ---------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self.resolution.profile

    @property
    def variant(self) -> str:
        return self.resolution.variant

    @property
    def folder(self) -> Path:
        return self.resolution.folder

    @property
    def dim(self) -> int:
        return self.profile.dim

    @property
    def max_length(self) -> int:
        return self.profile.max_length

    @property
    def model_id(self) -> str:
        """Stamp for stored vectors, e.g. ``local-text-retrieval-v1-384d-int8-mlen256``."""
        return self.profile.model_id(self.variant)

    def __repr__(self) -> str:
        return (
            f"Embedder({self.model_id!r}, folder={str(self.folder)!r}, threads={self.threads}, "
            f"batching={self.batching!r})"
        )

    # --- embedding ---------------------------------------------------------------------

    def embed(self, texts: Sequence[str], *, prompt: str | None = None) -> np.ndarray:
        """A (len(texts), dim) float32 array, row i the vector of texts[i].

        ``prompt``: the name of one of the profile's prompts, whose text is prepended to
        every input before tokenizing (sentence-transformers' ``prompt_name``); None
        applies the profile's ``default_prompt_name``, if it has one.
        """
        if isinstance(texts, str):
            raise RuntimeOptionError(
                "embed takes a list of texts, got one str", "use embed_one(text) for one text"
            )
        prefix = self.profile.prompt_text(prompt)
        texts = [prefix + text for text in texts] if prefix else list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), CHUNK_TEXTS):
            encoded = self._tokenizer.encode(texts[start : start + CHUNK_TEXTS])
            self._embed_encoded(encoded, out[start : start + len(encoded)])
        self._refuse_non_finite(out)
        if self.profile.normalize:
            l2_normalize(out)
        return out

    def _refuse_non_finite(self, out: np.ndarray) -> None:
        """ModelOutputError when a vector holds NaN or infinity: damaged weights of the same
        size pass the stat-only check, load, and give NaN (tests/runtime/test_hardening.py)."""
        finite = np.isfinite(out).all(axis=1)
        if finite.all():
            return
        bad = np.flatnonzero(~finite)
        raise ModelOutputError(
            f"{self.model_path} gives NaN or infinite values for {len(bad)} of {len(out)} "
            f"texts (the first is text {int(bad[0])})"
        )

    def embed_one(self, text: str, *, prompt: str | None = None) -> np.ndarray:
        """The (dim,) float32 vector of one text."""
        return self.embed([text], prompt=prompt)[0]

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """``embed`` with the profile's query prompt (sentence-transformers' encode_query)."""
        return self.embed(texts, prompt=self.prompt_for("query"))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``embed`` with the profile's document prompt (encode_document's: "document",
        "passage" or "corpus", the first the profile has)."""
        return self.embed(texts, prompt=self.prompt_for("document"))

    def prompt_for(self, role: str) -> str | None:
        """The prompt name ``role`` (query or document) uses: None means the default prompt."""
        names = {"query": QUERY_PROMPT_NAMES, "document": DOCUMENT_PROMPT_NAMES}.get(role)
        if names is None:
            raise RuntimeOptionError(f"no such role {role!r}", "use query or document")
        return next((name for name in names if name in self.profile.prompts), None)

    def _embed_encoded(self, encoded: list[Encoded], out: np.ndarray) -> None:
        lengths = [len(e) for e in encoded]
        # A share is the list of runs (each a list of text indices) one thread performs.
        if self.batching == "per_text":
            shares = [[[i] for i in share] for share in interleaved_shares(lengths, self._workers)]
        else:  # one share: the batches run one after another, each on all threads
            batches = length_batches(
                lengths, max_batch_tokens=self.max_batch_tokens, max_batch_size=self.max_batch_size
            )
            shares = [batches] if batches else []

        def work(share: list[list[int]]) -> None:
            for group in share:
                out[group] = self._run([encoded[i] for i in group])

        if len(shares) <= 1:
            for share in shares:
                work(share)
            return
        futures = [self._pool().submit(work, share) for share in shares[1:]]
        work(shares[0])  # the calling thread takes a share too
        for future in futures:
            future.result()

    def _run(self, rows: list[Encoded]) -> np.ndarray:
        """One model run over ``rows`` padded to the longest: pooled (len(rows), dim)."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._tokenizer.pad_id, dtype=np.int64)
        type_ids = np.full((len(rows), width), self._tokenizer.pad_type_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            n = len(row)
            span = slice(width - n, width) if self._tokenizer.pad_left else slice(0, n)
            ids[r, span] = row.ids
            type_ids[r, span] = row.type_ids
            mask[r, span] = 1
        columns = {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}
        feed = {
            name: columns[name].astype(dtype, copy=False) for name, dtype in self._io.inputs.items()
        }
        hidden = self._session.run([self._io.output], feed)[0]
        # Matryoshka: the first dim values; re-normalised with the rest in embed().
        return pool(hidden, mask, self.profile.pooling)[:, : self.dim]

    def _pool(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor  # ~8 ms: not on the cold-start path

        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=max(1, self._workers - 1), thread_name_prefix="tether-embed"
                )
            return self._executor

    # --- stamps ------------------------------------------------------------------------

    def stamp(self, vector: Any) -> stamps.StampedVector:
        """``vector`` with this embedder's model id, to store beside it."""
        return stamps.stamp(vector, model_id=self.model_id, dim=self.dim)

    def vector_problem(self, vector: Any, stamp: str | None) -> str | None:
        """None when a stored vector is current for this embedder, else why it is stale."""
        return stamps.vector_problem(vector, stamp, model_id=self.model_id, dim=self.dim)

    def stale(self, stored: Sequence[tuple[str | None, Any]] | Sequence[Any]) -> list[int]:
        """Indices of stored (stamp, vector) pairs or StampedVectors to embed again."""
        return stamps.stale(stored, model_id=self.model_id, dim=self.dim)

    # --- self-test and lifetime --------------------------------------------------------

    def self_test(self, min_cosine: float | None = None) -> float:
        """Embed probe.json's texts and compare with its reference vectors (see probe.py)."""
        return run_probe(self, min_cosine=min_cosine)

    def close(self) -> None:
        """Stop the worker threads (the session is freed with the object)."""
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RuntimeOptionError(f"{name} must be a positive integer, got {value!r}")
    return value


def load(
    profile_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    app_name: str = DEFAULT_APP_NAME,
    env_var: str | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    expect: Mapping[str, Any] | None = None,
    threads: int | None = None,
    max_batch_tokens: int | None = None,
    probe: bool = False,
    app_subdir: str = DEFAULT_APP_MODELS_DIR,
) -> Embedder:
    """An Embedder for the best complete profile folder of ``profile_id``.

    Looks in ``path``, then ``$env_var`` / ``$TETHER_MODELS_DIR``, the user's app-data folder
    for ``app_name`` (its ``app_subdir``, default ``models``), bundled folders and
    ``<project_dir>/data/embedding_models``; picks the variant (``auto``: int8 where the
    CPU suits it). ``embedder.resolution.explain()`` says why. Raises
    ProfileIncompleteError with the trail when no folder is complete.

    ``probe=True`` runs the self-test against the release's probe.json before returning.

    A complete folder whose tokenizer or model does not load, or whose self-test fails, is
    rejected (its reason in the trail) and the next complete one is tried; when none is
    usable the first failure is raised: ManifestError, or ProbeMismatchError (reason
    ``probe_mismatch``) when the vectors disagree (tests/runtime/test_hardening.py).
    """

    def use(resolution: Resolution) -> Embedder:
        embedder = Embedder(resolution, threads=threads, max_batch_tokens=max_batch_tokens)
        if probe:
            try:
                embedder.self_test()
            except BaseException:
                embedder.close()
                raise
        return embedder

    return resolve_usable(
        profile_id,
        use,
        path=path,
        variant=variant,
        env_var=env_var,
        app_name=app_name,
        project_dir=project_dir,
        expect=expect,
        need_probe=probe,
        app_subdir=app_subdir,
    )
