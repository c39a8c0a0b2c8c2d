"""fp32 ONNX -> int8 ONNX with onnxruntime dynamic quantization.

Per-channel QInt8 weights by default: onnxruntime's defaults (per-tensor) cost MiniLM
mean cosine 0.956 / min 0.84 against fp32; per-channel keeps 0.99 / 0.94 at the same
size (FINDINGS.md). Activations are quantized at run time per batch, which is why the
parity gate measures in padded batches, not one text at a time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from tether.recipe.export import clean_onnx, save_onnx
from tether.recipe.schema import Quantization


def quantize_int8(
    fp32_file: Path, out_file: Path, settings: Quantization, *, scratch: Path
) -> Path | None:
    """Write the int8 model to ``out_file``; returns its external-data sidecar, if any."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    scratch.mkdir(parents=True, exist_ok=True)
    raw = scratch / "quantized.onnx"
    weight_type = {"QInt8": QuantType.QInt8, "QUInt8": QuantType.QUInt8}[settings.weights]
    large = fp32_file.with_name(f"{fp32_file.name}_data").exists()
    with _quiet():
        quantize_dynamic(
            model_input=fp32_file,
            model_output=raw,
            per_channel=settings.per_channel,
            reduce_range=False,  # reduce_range costs MiniLM min cosine 0.59
            weight_type=weight_type,
            use_external_data_format=large,
        )
    proto = onnx.load(str(raw))
    clean_onnx(proto)  # quantization adds an "onnx.infer" property; keep the file bare
    return save_onnx(proto, out_file)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide onnxruntime's 'consider pre-processing' advice, logged on the root logger.

    Pre-processing (symbolic shape inference + optimisation) changes the graph per
    onnxruntime version; the parity gate, not pre-processing, decides if int8 is good.
    """

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    drop = _Drop()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
