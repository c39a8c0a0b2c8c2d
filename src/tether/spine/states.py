"""A release's state record (state.json, beside the release): its one reader and writer.

Light on purpose: a no-op fetch reads it to refuse a withdrawn pin (tether.spine.layout),
so it needs nothing but json.
"""

from __future__ import annotations

import json
from typing import Any

from tether.errors import ManifestError

PRE_RELEASE, PROMOTED, WITHDRAWN = "pre-release", "promoted", "withdrawn"


def parse_state(raw: bytes | None, *, where: str) -> tuple[str, list[dict[str, Any]]]:
    """(state, history) of a state record; no record yet is a pre-release."""
    if raw is None:
        return PRE_RELEASE, []
    try:
        data = json.loads(raw)
        state, history = str(data["state"]), list(data.get("history") or [])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ManifestError(f"state record of {where} is malformed") from exc
    return state, [event for event in history if isinstance(event, dict)]


def render_state(state: str, history: list[dict[str, Any]]) -> bytes:
    return (json.dumps({"state": state, "history": history}, indent=2) + "\n").encode()
