"""Quality: measure a release on an evaluation set, gate its promotion, write its notes.

    evaluate   retrieval metrics (nDCG@10, recall, MRR) of a release or folder
    gate       the promotion gate over a baseline, with the recipe's [gate] thresholds
    notes      release notes and the model card

Other rooms use only the names below; the modules behind them are private to quality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.quality.evaluate import (
        deltas,
        evaluate_model,
        evaluate_release,
        format_table,
        load_dataset,
        stderr_progress,
        write_eval,
    )
    from tether.quality.gate import evaluate_gate, gate_settings
    from tether.quality.notes import model_card, release_notes

_EXPORTS = {
    "deltas": "evaluate",
    "evaluate_gate": "gate",
    "evaluate_model": "evaluate",
    "evaluate_release": "evaluate",
    "format_table": "evaluate",
    "gate_settings": "gate",
    "load_dataset": "evaluate",
    "model_card": "notes",
    "release_notes": "notes",
    "stderr_progress": "evaluate",
    "write_eval": "evaluate",
}
__all__ = [
    "deltas",
    "evaluate_gate",
    "evaluate_model",
    "evaluate_release",
    "format_table",
    "gate_settings",
    "load_dataset",
    "model_card",
    "release_notes",
    "stderr_progress",
    "write_eval",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
