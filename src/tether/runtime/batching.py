"""How texts are grouped into model runs: by length, under a token budget.

Batching is only a speed and memory matter; it never changes a vector (batch invariance):

* fp32: onnxruntime's fp32 kernels give a row bit-identical values whatever the other rows
  and padding (checked by tests/runtime/test_batch_invariance.py), so texts are sorted by
  length and packed into batches of at most ``max_batch_tokens`` padded tokens. Sorting
  keeps padding, and so wasted work, small.
* dynamically quantized int8: activation scales are computed over the whole input tensor,
  padding included, so a text's vector would depend on its batch mates. Each text runs
  alone (no padding, no mates); throughput comes from running texts concurrently, one
  intra-op thread each. See docs/runtime.md for the measurements behind this choice.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Padded tokens (batch rows x longest row) in one batched run (raised to the profile's
#: max_length when that is longer). Bounds activation memory: about 6 KiB per token for a
#: 384-wide model, plus heads x seq x 4 bytes of attention. Also the fastest setting
#: measured for MiniLM fp32 on 2 cores: 2048 tokens / 32 rows gave ~500 texts/s where
#: 8192 / 64 gave ~370 (one run, 1,000 texts of ~27 tokens, some of 256).
DEFAULT_MAX_BATCH_TOKENS = 2048
#: Rows in one run: past this, short texts gain no speed and only add latency.
DEFAULT_MAX_BATCH_SIZE = 32


def length_batches(
    lengths: Sequence[int], *, max_batch_tokens: int, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
) -> list[list[int]]:
    """Indices grouped into runs: sorted by length, each run's rows x longest <= the budget."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[index]  # ascending order: the newcomer is the longest
        if current and (
            (len(current) + 1) * longest > max_batch_tokens or len(current) >= max_batch_size
        ):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def interleaved_shares(lengths: Sequence[int], workers: int) -> list[list[int]]:
    """Indices dealt to ``workers`` in length order, so each share has a similar token total."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [share for share in (order[k::workers] for k in range(workers)) if share]
