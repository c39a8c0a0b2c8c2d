"""Mirror a prebuilt ONNX repo: upstream's model files as they are, checked, with the contract.

``[source] prebuilt = "onnx"`` (docs/recipe.md). No torch, no transformers, no onnx:
onnxruntime reads each model (its inputs, its output and width, its external data), the
tokenizers library the tokenizer, plain JSON reads (tether.recipe.st_config) the
sentence-transformers files. What a mirror needs on top of tether's runtime is
huggingface_hub (for ``type = "hf"``), nothing else; tests/recipe/test_mirror_onnx.py
runs a mirror where importing torch, transformers or onnx fails.

The ONNX files and their sidecars are copied byte for byte under their upstream paths
(an external-data model names its sidecars relative to itself, so paths must not change).
The pipeline (tether.recipe.pipeline) then measures and records them like a build's.
"""

from __future__ import annotations

import json
import mmap
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, SourceNotFoundError
from tether.names import EXTERNAL_DATA_KEY, HF_CONFIG_FILE, TOKENIZER_FILE
from tether.recipe.export import INPUT_ORDER, OUTPUT_NAME, Checkpoint
from tether.recipe.schema import Recipe
from tether.recipe.sources import folder_files
from tether.recipe.st_config import read_sentence_transformers

# Operators that only a quantized graph has; the first group quantizes activations per
# call (the runtime then runs one text at a time: scales cover the whole batch).
_DYNAMIC_OPS = (b"DynamicQuantizeLinear", b"DynamicQuantizeMatMul", b"MatMulIntegerToFloat")
_STATIC_OPS = (b"QuantizeLinear", b"QLinearMatMul", b"QLinearConv")
_ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")
MIRROR_EXPORTER = "none: upstream ONNX files mirrored as they are"


@dataclass(frozen=True)
class UpstreamVariant:
    """One variant's upstream ONNX file and the sidecars that go with it."""

    variant: str
    file: str
    external_data: tuple[str, ...]
    quantization: dict[str, Any] | None  # int8: what the graph shows; fp32: None

    @property
    def files(self) -> tuple[str, ...]:
        return (self.file, *self.external_data)


@dataclass(frozen=True)
class Upstream:
    """What a prebuilt repo holds, as tether will record it."""

    folder: Path
    variants: tuple[UpstreamVariant, ...]
    inputs: tuple[str, ...]
    output: str
    dim: int  # the model's output width (before any [profile] dim truncation)
    checkpoint: Checkpoint  # the sentence-transformers facts, for resolve_settings

    def variant(self, name: str) -> UpstreamVariant:
        return next(entry for entry in self.variants if entry.variant == name)


def inspect_upstream(folder: Path, recipe: Recipe) -> Upstream:
    """Check the files the recipe's variants need and read what the repo says about itself."""
    prebuilt = recipe.source.prebuilt
    assert prebuilt is not None
    where = f"prebuilt source {folder}"
    listing = sorted(folder_files(folder))
    if TOKENIZER_FILE not in listing:
        raise SourceNotFoundError(
            f"{where} has no {TOKENIZER_FILE}",
            "tether needs the fast tokenizer file at the repo's root; pick a revision with it",
        )
    variants = []
    for variant in recipe.variants:
        entry = prebuilt.file(variant)
        if entry.file not in listing:
            onnx = [rel for rel in listing if rel.endswith(".onnx")]
            raise SourceNotFoundError(
                f"{where} has no {entry.file} for the {variant} variant "
                f"(ONNX files there: {', '.join(onnx) or 'none'})",
                f"map it in [source.files] ({variant} = ...), or leave {variant} out of "
                "[export] variants",
            )
        if entry.external_data is None:
            sidecars = tuple(rel for rel in listing if rel.startswith(entry.file + "_data"))
        else:
            missing = [rel for rel in entry.external_data if rel not in listing]
            if missing:
                raise SourceNotFoundError(
                    f"{where} has no {', '.join(missing)} ({variant} external_data)",
                    "fix [source.files] external_data to the sidecar names the repo has",
                )
            sidecars = entry.external_data
        quantization = _quantization(folder / entry.file) if variant == "int8" else None
        variants.append(UpstreamVariant(variant, entry.file, sidecars, quantization))
    inputs, output, dim = _model_io(folder / prebuilt.file("fp32").file, where)
    return Upstream(
        folder=folder,
        variants=tuple(variants),
        inputs=inputs,
        output=output,
        dim=dim,
        checkpoint=_checkpoint(folder, dim, where),
    )


def copy_upstream(upstream: Upstream, work: Path) -> list[str]:
    """Copy every variant's files into ``work`` under their upstream paths (bytes as is)."""
    copied = []
    for entry in upstream.variants:
        for rel in entry.files:
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upstream.folder / rel, target)  # follows the cache's blob links
            copied.append(rel)
    return copied


def profile_variants(upstream: Upstream) -> dict[str, Any]:
    """profile.json's ``variants``: the upstream paths, sidecars and int8 quantization."""
    variants: dict[str, Any] = {}
    for entry in upstream.variants:
        spec: dict[str, Any] = {"file": entry.file}
        if entry.quantization is not None:
            spec["quantization"] = entry.quantization
        if entry.external_data:
            sidecars = list(entry.external_data)
            spec[EXTERNAL_DATA_KEY] = sidecars[0] if len(sidecars) == 1 else sidecars
        variants[entry.variant] = spec
    return variants


def describe_files(upstream: Upstream) -> str:
    """e.g. ``fp32 onnx/model.onnx (+1 sidecar), int8 onnx/model_quantized.onnx``."""
    parts = []
    for entry in upstream.variants:
        extra = len(entry.external_data)
        plural = "s" if extra > 1 else ""
        parts.append(
            f"{entry.variant} {entry.file}" + (f" (+{extra} sidecar{plural})" if extra else "")
        )
    return ", ".join(parts)


def describe_quantization(upstream: Upstream) -> str:
    entry = next((e for e in upstream.variants if e.quantization is not None), None)
    if entry is None:
        return "none"
    return f"upstream's {entry.file}, {entry.quantization['method']} int8"


# --- reading the upstream files -----------------------------------------------------------


def _model_io(model_file: Path, where: str) -> tuple[tuple[str, ...], str, int]:
    """(inputs in tether's order, the hidden-state output, its width) of an ONNX model."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ConfigError(
            f"{where}: {model_file.name} does not load in onnxruntime: "
            + " ".join(str(exc).split())[:300],
            "is the file complete, with its external-data sidecars beside it?",
        ) from exc
    inputs = {node.name: node.type for node in session.get_inputs()}
    unknown = [name for name in inputs if name not in INPUT_ORDER]
    if unknown or "input_ids" not in inputs:
        raise ConfigError(
            f"{where}: {model_file.name} wants inputs {', '.join(inputs)}; tether feeds "
            f"{', '.join(INPUT_ORDER)}",
            "mirror an export whose inputs are the tokenizer's only",
        )
    not_int64 = [name for name, kind in inputs.items() if kind != "tensor(int64)"]
    if not_int64:
        raise ConfigError(
            f"{where}: {model_file.name} input {not_int64[0]} is {inputs[not_int64[0]]}, "
            "not tensor(int64)",
            "mirror an export with int64 token inputs (optimum's and transformers.js' are)",
        )
    outputs = {node.name: node for node in session.get_outputs()}
    # The same choice as the parity code's: the hidden states by name, else the first output.
    name = OUTPUT_NAME if OUTPUT_NAME in outputs else next(iter(outputs))
    if len(outputs[name].shape or ()) != 3:
        raise ConfigError(
            f"{where}: {model_file.name} output {name} is not token-level "
            f"(shape {outputs[name].shape}); tether pools last_hidden_state itself",
            "mirror an export with a (batch, sequence, hidden) last_hidden_state output",
        )
    width = outputs[name].shape[-1] if outputs[name].shape else None
    ordered = tuple(n for n in INPUT_ORDER if n in inputs)
    if not isinstance(width, int):  # a symbolic width: ask the model
        feed = {n: np.ones((1, 2), dtype=np.int64) for n in ordered}
        if "token_type_ids" in feed:
            feed["token_type_ids"][:] = 0
        width = int(session.run([name], feed)[0].shape[-1])
    return ordered, name, width


def _quantization(model_file: Path) -> dict[str, Any]:
    """The int8 file's quantization as its graph shows it (operator names in the protobuf).

    Only the model file is read (memory-mapped): sidecars hold tensors, not operators.
    """
    with (
        open(model_file, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        if any(data.find(op) >= 0 for op in _DYNAMIC_OPS):
            method = "dynamic"
        elif any(data.find(op) >= 0 for op in _STATIC_OPS):
            method = "static"
        else:
            raise ConfigError(
                f"{model_file.name} has no quantization operators: it is not an int8 model",
                "map int8 in [source.files] to the repo's quantized file, or leave int8 out "
                "of [export] variants",
            )
    return {"method": method, "origin": "upstream"}


def _checkpoint(folder: Path, dim: int, where: str) -> Checkpoint:
    """The repo's facts in the form the build's resolve_settings reads."""
    config: dict[str, Any] = {}
    path = folder / HF_CONFIG_FILE
    if path.is_file():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: {HF_CONFIG_FILE} is not valid JSON ({exc})") from exc
        if not isinstance(config, dict):
            raise ConfigError(f"{where}: {HF_CONFIG_FILE} is not a JSON object")
    model_type = str(config.get("model_type", "onnx"))
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and model_type in _ROBERTA_LIKE:
        positions -= int(config.get("pad_token_id", 1)) + 1  # positions start after padding_idx
    st = read_sentence_transformers(folder)
    return Checkpoint(
        folder=folder,
        model_type=model_type,
        hidden_size=dim,
        max_positions=positions if isinstance(positions, int) else None,
        pooling=st.pooling,
        pooling_problem=st.pooling_problem,
        normalize=st.normalize,
        max_length=st.max_length,
        has_vocab=False,
        prompts=st.prompts,
        default_prompt_name=st.default_prompt_name,
    )
