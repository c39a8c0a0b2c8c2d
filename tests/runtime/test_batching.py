"""Grouping texts into runs: token budget, size cap, length order, balanced shares."""

from __future__ import annotations

import random

from tether.runtime.batching import interleaved_shares, length_batches


def test_length_batches_respect_the_budget_and_cover_everything() -> None:
    rng = random.Random(1)
    lengths = [rng.randint(1, 256) for _ in range(500)]
    batches = length_batches(lengths, max_batch_tokens=1024, max_batch_size=16)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) * max(lengths[i] for i in batch) <= 1024
    order = [lengths[i] for b in batches for i in b]
    assert order == sorted(order)  # sorted by length: little padding


def test_a_text_at_the_budget_runs_alone() -> None:
    assert length_batches([256, 256, 3], max_batch_tokens=256) == [[2], [0], [1]]
    assert length_batches([], max_batch_tokens=256) == []


def test_interleaved_shares_balance_tokens() -> None:
    lengths = list(range(1, 101))
    shares = interleaved_shares(lengths, 2)
    assert sorted(shares[0] + shares[1]) == list(range(100))
    totals = [sum(lengths[i] for i in share) for share in shares]
    assert abs(totals[0] - totals[1]) <= 100
    assert interleaved_shares([5], 4) == [[0]]
