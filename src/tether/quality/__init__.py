"""Quality: measure a release on an evaluation set, gate its promotion, write its notes.

    evaluate    retrieval metrics (nDCG@10, recall, MRR) of a release or folder
    comparison  which baseline, and the EVAL.json records a comparison reuses and writes
    gate        the promotion gate's [gate] settings and checks (parity read as numbers)
    promotion   promote a release through the gate (or forced, on the record); revert
    notes       release notes and the model card

Other rooms use only the names below; the modules behind them are private to quality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.quality.comparison import (
        Evaluation,
        choose_baseline,
        compare_releases,
        evaluate_candidate,
    )
    from tether.quality.evaluate import (
        deltas,
        evaluate_model,
        evaluate_release,
        format_table,
        load_dataset,
        stderr_progress,
        write_eval,
    )
    from tether.quality.gate import GateSettings, RecordedParity, gate_settings, recorded_parity
    from tether.quality.notes import model_card, release_notes
    from tether.quality.promotion import (
        GateOutcome,
        Promotion,
        Revert,
        evaluate_gate,
        promote_release,
        revert_release,
    )

_EXPORTS = {
    "Evaluation": "comparison",
    "GateOutcome": "promotion",
    "GateSettings": "gate",
    "Promotion": "promotion",
    "RecordedParity": "gate",
    "Revert": "promotion",
    "choose_baseline": "comparison",
    "compare_releases": "comparison",
    "deltas": "evaluate",
    "evaluate_candidate": "comparison",
    "evaluate_gate": "promotion",
    "evaluate_model": "evaluate",
    "evaluate_release": "evaluate",
    "format_table": "evaluate",
    "gate_settings": "gate",
    "load_dataset": "evaluate",
    "model_card": "notes",
    "promote_release": "promotion",
    "recorded_parity": "gate",
    "release_notes": "notes",
    "revert_release": "promotion",
    "stderr_progress": "evaluate",
    "write_eval": "evaluate",
}
__all__ = [
    "Evaluation",
    "GateOutcome",
    "GateSettings",
    "Promotion",
    "RecordedParity",
    "Revert",
    "choose_baseline",
    "compare_releases",
    "deltas",
    "evaluate_candidate",
    "evaluate_gate",
    "evaluate_model",
    "evaluate_release",
    "format_table",
    "gate_settings",
    "load_dataset",
    "model_card",
    "promote_release",
    "recorded_parity",
    "release_notes",
    "revert_release",
    "stderr_progress",
    "write_eval",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
