"""The onnxruntime session: CPU only, explicit thread counts, inputs matched to the model.

Threads: onnxruntime's default intra-op pool takes every core. tether sets the count
explicitly, and for models run one text at a time uses one intra-op thread per concurrent
``run`` (several Python threads share one session; ``run`` releases the GIL), which beats
splitting each tiny run across cores.

Telemetry: onnxruntime's own (a device id file under ~/.cache/Microsoft, a ProcessInfo event)
is switched off before its import unless TETHER_ORT_TELEMETRY=1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tether.errors import ManifestError
from tether.names import ORT_DISABLE_TELEMETRY_ENV, ORT_TELEMETRY_ENV

# Read by onnxruntime when it is imported, so set first (tests/runtime/test_telemetry.py).
if os.environ.get(ORT_TELEMETRY_ENV) != "1":
    os.environ.setdefault(ORT_DISABLE_TELEMETRY_ENV, "1")

import onnxruntime as ort  # after the telemetry switch above

#: Inputs tether knows how to fill from a tokenizer's output.
FEEDABLE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


@dataclass(frozen=True)
class ModelIO:
    """What a session needs fed and what it returns."""

    inputs: dict[str, type]  # input name -> numpy integer dtype
    output: str
    hidden_size: int | None  # the output's last dimension when the model fixes it


def create_session(model_path: Path, *, intra_op_threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # EXTENDED holds the transformer fusions (attention, layer norm, GELU); ALL adds only
    # layout transforms for convolutions and ~10 ms to every cold start.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3  # errors only: no warnings about unused initializers
    try:
        # External-data sidecars (<file>_data) are found next to the model by onnxruntime.
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf classes
        raise ManifestError(
            f"{model_path} cannot be loaded by onnxruntime {ort.__version__} ({exc})",
            "run `tether verify` on the profile folder and repair it: tether fetch --repair",
        ) from exc


def model_io(session: ort.InferenceSession, output: str) -> ModelIO:
    """Check the model's inputs and output against what tether can feed and the profile."""
    inputs: dict[str, type] = {}
    for node in session.get_inputs():
        if node.name not in FEEDABLE_INPUTS or node.type not in _INT_TYPES:
            raise ManifestError(
                f"the model wants input {node.name!r} ({node.type}); tether feeds "
                f"{', '.join(FEEDABLE_INPUTS)} as int64/int32",
                "export the model with tokenizer inputs only",
            )
        inputs[node.name] = _INT_TYPES[node.type]
    if "input_ids" not in inputs:
        raise ManifestError("the model has no input_ids input", "export a text model")
    outputs = {node.name: node for node in session.get_outputs()}
    if output not in outputs:
        raise ManifestError(
            f"profile.json names output {output!r}; the model has {', '.join(outputs)}",
            "the profile and model do not belong together: repair it with tether fetch --repair",
        )
    last = outputs[output].shape[-1] if outputs[output].shape else None
    return ModelIO(inputs, output, last if isinstance(last, int) else None)
