"""Checkpoint -> ``onnx/model.onnx`` + normalised ``tokenizer.json``.

Exporter: ``torch.onnx.export(dynamo=False)`` (the TorchScript tracer) with eager
attention. Why not the dynamo exporter: it needs onnxscript (two more pinned packages),
takes ~2.5x longer on MiniLM, and writes absolute source paths and line numbers into node
metadata; the tracer's graph is path-free, and both give fp32 vectors within 1e-7 of the
checkpoint. Why eager attention: the traced SDPA path adds ~60 shape/Where nodes for the
same result. docs/recipe.md has the full reasoning and what to do when the tracer goes.

torch, transformers and onnx are imported inside functions: importing tether must not
need the build toolchain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigError, SourceNotFoundError
from tether.names import (
    HF_CONFIG_FILE,
    SPECIAL_TOKENS_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
)
from tether.recipe.st_config import read_sentence_transformers

if TYPE_CHECKING:
    import onnx
    import torch

OUTPUT_NAME = "last_hidden_state"
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")
EXPORTER = "torch.onnx.export (TorchScript tracer), eager attention"
# Beyond this, protobuf cannot hold the model in one file: weights go to a sidecar.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000

# --- the checkpoint -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint folder says about itself (plain JSON reads, no torch)."""

    folder: Path
    model_type: str
    hidden_size: int
    max_positions: int | None  # usable positions (RoBERTa-likes reserve pad_token_id + 1)
    pooling: str | None  # from sentence-transformers files; None when they say nothing
    pooling_problem: str | None  # why the checkpoint's pooling cannot be used, if so
    normalize: bool | None
    max_length: int | None
    has_vocab: bool
    prompts: dict[str, str] = field(default_factory=dict)  # config_sentence_transformers.json
    default_prompt_name: str | None = None


def inspect_checkpoint(folder: Path) -> Checkpoint:
    """Check the files a build needs and read the defaults the checkpoint carries."""
    where = f"checkpoint {folder}"
    config = _read_json(folder / HF_CONFIG_FILE, where, required=True)
    if not (folder / TOKENIZER_FILE).is_file():
        raise SourceNotFoundError(
            f"{where} has no tokenizer.json",
            "tether needs the fast tokenizer file: save it with transformers "
            "(AutoTokenizer.from_pretrained(...).save_pretrained(folder)) or pick a "
            "revision that has it",
        )
    if not any(
        (folder / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json")
    ):
        pickled = (folder / "pytorch_model.bin").is_file()
        raise SourceNotFoundError(
            f"{where} has no model.safetensors"
            + (" (only pytorch_model.bin, which tether does not unpickle)" if pickled else ""),
            "use a revision with safetensors weights, or convert the weights to safetensors",
        )
    hidden = config.get("hidden_size") or config.get("dim") or config.get("d_model")
    if not isinstance(hidden, int):
        raise ConfigError(f"{where}: config.json has no hidden_size", "is this a text encoder?")
    model_type = str(config.get("model_type", "unknown"))
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(config.get("pad_token_id", 1)) + 1  # positions start after padding_idx
    st = read_sentence_transformers(folder)
    return Checkpoint(
        folder=folder,
        model_type=model_type,
        hidden_size=hidden,
        max_positions=positions if isinstance(positions, int) else None,
        pooling=st.pooling,
        pooling_problem=st.pooling_problem,
        normalize=st.normalize,
        max_length=st.max_length,
        prompts=st.prompts,
        default_prompt_name=st.default_prompt_name,
        has_vocab=(folder / VOCAB_FILE).is_file(),
    )


def _read_json(path: Path, where: str, required: bool, kind: type = dict) -> Any:
    if not path.is_file():
        if required:
            raise SourceNotFoundError(f"{where} has no {path.name}", "is this a model folder?")
        return kind()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(data, kind):
        raise ConfigError(f"{where}: {path.name} is not a JSON {kind.__name__}")
    return data


# --- tokenizer ----------------------------------------------------------------------------


def normalise_tokenizer(folder: Path, max_length: int) -> bytes:
    """tokenizer.json with truncation at ``max_length`` and padding to the batch's longest.

    Only the ``truncation`` and ``padding`` entries change; their form comes from the
    tokenizers library itself so the runtime parses them. The shipped MiniLM tokenizer
    pads and truncates to a fixed 128, which costs min cosine 0.70 against the reference.
    """
    from tokenizers import Tokenizer

    raw = (folder / TOKENIZER_FILE).read_text(encoding="utf-8")
    where = f"checkpoint {folder}: tokenizer.json"
    try:
        data = json.loads(raw)
        tokenizer = Tokenizer.from_str(raw)
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ConfigError(f"{where} does not load: {exc}") from exc
    pad_id, pad_token, pad_type_id = _pad_token(folder, data, tokenizer, where)
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first", direction="right")
    tokenizer.enable_padding(
        direction="right", pad_id=pad_id, pad_type_id=pad_type_id, pad_token=pad_token
    )
    settings = json.loads(tokenizer.to_str())
    data["truncation"] = settings["truncation"]
    data["padding"] = settings["padding"]
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    Tokenizer.from_str(text)  # what we write must load
    return text.encode("utf-8")


def _pad_token(
    folder: Path, data: dict[str, Any], tokenizer: Any, where: str
) -> tuple[int, str, int]:
    padding = data.get("padding")
    if isinstance(padding, dict) and isinstance(padding.get("pad_token"), str):
        return int(padding["pad_id"]), padding["pad_token"], int(padding.get("pad_type_id", 0))
    for name in (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_FILE):
        path = folder / name
        if not path.is_file():
            continue
        token = json.loads(path.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str) and tokenizer.token_to_id(token) is not None:
            return tokenizer.token_to_id(token), token, 0
    raise ConfigError(
        f"{where} names no padding token",
        "set pad_token in tokenizer_config.json or a padding section in tokenizer.json",
    )


# --- ONNX export --------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """The fp32 export: its files and its interface."""

    model_file: Path
    data_file: Path | None  # external-data sidecar for models over ~1.8 GB
    inputs: tuple[str, ...]
    dim: int


def load_torch_model(folder: Path) -> torch.nn.Module:
    """The checkpoint in torch, float32, eval mode, eager attention; safetensors only."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(
            folder,
            attn_implementation="eager",
            dtype=torch.float32,
            use_safetensors=True,
            trust_remote_code=False,  # never run code shipped with a checkpoint
            local_files_only=True,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"checkpoint {folder} does not load with transformers: "
            + " ".join(str(exc).split())[:300],
            "tether builds encoder models transformers.AutoModel can load without remote code",
        ) from exc
    return model.eval()


def model_inputs(model: torch.nn.Module) -> tuple[str, ...]:
    """The inputs the model takes, of input_ids / attention_mask / token_type_ids."""
    import inspect

    params = inspect.signature(model.forward).parameters
    inputs = tuple(name for name in INPUT_ORDER if name in params)
    if inputs[:2] != ("input_ids", "attention_mask"):
        raise ConfigError(
            f"{type(model).__name__}.forward takes {list(params)[:5]}, not input_ids and "
            "attention_mask",
            "tether builds text encoders",
        )
    return inputs


def export_onnx(model: torch.nn.Module, out_file: Path, *, opset: int, scratch: Path) -> Exported:
    """Export ``model`` to ``out_file`` with dynamic batch and sequence axes, path-free."""
    import onnx
    import torch

    inputs = model_inputs(model)
    wrapper = _wrap(model, inputs).eval()
    # Two rows, the second padded: traced with padding so the mask path is the one recorded.
    ids = (torch.arange(32, dtype=torch.int64).reshape(2, 16) % 90) + 10
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    example = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, OUTPUT_NAME)}
    scratch.mkdir(parents=True, exist_ok=True)
    traced = scratch / "traced.onnx"
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            wrapper,
            tuple(example[name] for name in inputs),
            str(traced),
            dynamo=False,
            input_names=list(inputs),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load(str(traced))  # pulls external data in, if the tracer wrote any
    graph_inputs = tuple(i.name for i in proto.graph.input)
    outputs = [o.name for o in proto.graph.output]
    if outputs != [OUTPUT_NAME] or set(graph_inputs) - set(inputs):
        raise ConfigError(f"export gave inputs {graph_inputs}, outputs {outputs}")
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    dim = dims[-1].dim_value if dims else 0
    clean_onnx(proto)
    data_file = save_onnx(proto, out_file)
    return Exported(model_file=out_file, data_file=data_file, inputs=graph_inputs, dim=dim)


def _wrap(model: torch.nn.Module, inputs: tuple[str, ...]) -> torch.nn.Module:
    """Fixed positional inputs and one tensor out, as the tracer needs."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            given = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                given["token_type_ids"] = token_type_ids
            return self.model(**{k: v for k, v in given.items() if k in inputs}).last_hidden_state

    return Wrapper()


def clean_onnx(model: onnx.ModelProto) -> None:
    """Drop doc strings and metadata: they may hold paths, line numbers or times."""
    model.doc_string = ""
    del model.metadata_props[:]
    _clean_graph(model.graph)
    for function in model.functions:
        function.doc_string = ""
        del function.metadata_props[:]
        for node in function.node:
            _clean_node(node)


def _clean_graph(graph: onnx.GraphProto) -> None:
    graph.doc_string = ""
    del graph.metadata_props[:]
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.doc_string = ""
        del value.metadata_props[:]
    for tensor in graph.initializer:
        tensor.doc_string = ""
        del tensor.metadata_props[:]
    for node in graph.node:
        _clean_node(node)


def _clean_node(node: onnx.NodeProto) -> None:
    node.doc_string = ""
    del node.metadata_props[:]
    for attribute in node.attribute:
        attribute.doc_string = ""
        if attribute.HasField("g"):
            _clean_graph(attribute.g)
        for subgraph in attribute.graphs:
            _clean_graph(subgraph)


def save_onnx(model: onnx.ModelProto, out_file: Path) -> Path | None:
    """Write ``model``; weights go to ``<file>_data`` only when one file cannot hold them."""
    import onnx

    out_file.parent.mkdir(parents=True, exist_ok=True)
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    if size < EXTERNAL_DATA_THRESHOLD:
        onnx.save_model(model, str(out_file))
        return None
    data_name = f"{out_file.name}_data"
    onnx.save_model(
        model,
        str(out_file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return out_file.parent / data_name


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's expected warnings (deprecation of the tracer, trace notes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)
