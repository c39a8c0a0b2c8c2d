"""A built app's own self-test: ``app --tether-self-test`` loads the model and checks it.

The app opts in with one call before its own argument parsing::

    tether.runtime.self_test_if_asked("local-text-retrieval-v1")

Without the flag it returns and the app runs as usual. With it, the app loads the profile
the way it would (its own ``load`` options), runs the release's probe (probe.json's texts
against their reference vectors), prints one JSON line (``{"tether_self_test": "ok", ...}``
or ``"failed"`` with the error and its hint) and exits 0 or 1. ``tether audit --bundle DIR
--self-test`` runs it offline with an empty HOME: the proof that the frozen app, not only
its files, can load the model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from tether.errors import TetherError
from tether.names import SELF_TEST_FLAG, SELF_TEST_KEY


def self_test_if_asked(
    profile_id: str, argv: Sequence[str] | None = None, **load_options: Any
) -> None:
    """Run :func:`self_test` and exit when ``argv`` (default ``sys.argv[1:]``) holds the flag."""
    args = sys.argv[1:] if argv is None else list(argv)
    if SELF_TEST_FLAG in args:
        sys.exit(self_test(profile_id, **load_options))


def self_test(profile_id: str, **load_options: Any) -> int:
    """Load ``profile_id`` with the probe on, print the JSON result line; the exit code."""
    from tether.runtime.embedder import load  # numpy and onnxruntime: only when asked

    try:
        with load(profile_id, **load_options) as embedder:
            cosine = embedder.self_test()
            vector = embedder.embed_one(profile_id)
            resolution = embedder.resolution
            result = {
                SELF_TEST_KEY: "ok",
                "profile": profile_id,
                "release": resolution.prepared.release,
                "source": resolution.source,
                "folder": str(resolution.folder),
                "variant": embedder.variant,
                "dim": int(vector.shape[-1]),
                "probe_min_cosine": round(float(cosine), 6),
            }
    except TetherError as exc:
        failed = {SELF_TEST_KEY: "failed", "profile": profile_id, "error": exc.message}
        _print({**failed, "hint": exc.hint})
        return 1
    _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)
