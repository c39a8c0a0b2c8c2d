"""Rollback protection (the TUF rollback attack) and the deliberate downgrades that pass it.

With a trust policy, each dest root remembers the highest version of each name it verified
as signed (``<dest>/.tether/<name>.verified.json``, see tether.spine.layout). A fetch of a
lower version is refused unless the pin was lowered on purpose: ``tether pin --previous``
or ``tether pin VERSION --allow-downgrade`` write ``.model-downgrade.json`` beside
.model-version (commit both); with named pins each model keeps its own step there.

That record describes one deliberate step, from version A down to version B, not a standing
permission. A dest root takes the step once: a fetch of B is allowed when the root has
verified nothing above A, and the root then remembers the record's id. Once it verified
something above B again (a pin raised by hand, say), the same record no longer lets it go
back to B; lowering the pin again is a new `tether pin` (tests/spine/test_pin_hardening.py).

This module keeps the state and says what the rule is; whether a breach stops the fetch
or only warns is the trust policy's call (tether.spine.trust). Pinning and trust both use
it, and neither uses the other for it.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tether.atomic import write_atomic
from tether.errors import ManifestError, RollbackError
from tether.names import DOWNGRADE_FILE, DOWNGRADES_KEPT
from tether.spine.layout import verified_path
from tether.versioning import normalize_version, parse_version, release_tag

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Downgrade:
    """One deliberate step of the pin, from ``old`` down to ``new`` (.model-downgrade.json)."""

    name: str | None  # None: a record written before records named their model
    old: str
    new: str
    id: str  # tells this step from an identical later one; a dest root takes each once


# --- what a dest root verified -------------------------------------------------------------


def _read_state(dest_root: Path, name: str) -> dict[str, Any] | None:
    path = verified_path(dest_root, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["highest"] = normalize_version(str(data["highest"]))
        taken = data.get("downgrades_taken", [])
        if not isinstance(taken, list) or not all(isinstance(t, str) for t in taken):
            raise TypeError("downgrades_taken is not a list of ids")
        return data
    except FileNotFoundError:
        return None
    # RecursionError: absurd nesting; OSError: a folder in its place (tests/test_parsers_fuzz.py)
    except (ValueError, KeyError, TypeError, RecursionError, OSError) as exc:
        # A damaged state must not silently disable the protection.
        raise ManifestError(
            f"{path} is malformed ({exc})",
            "delete it only if you know no downgrade happened; the next fetch rewrites it",
        ) from None


def highest_verified(dest_root: Path, name: str) -> str | None:
    """The highest version of ``name`` this dest root has verified, if any."""
    state = _read_state(dest_root, name)
    return None if state is None else str(state["highest"])


def check_rollback(
    dest_root: Path, name: str, version: str, project_dir: Path | None
) -> Downgrade | None:
    """Raise RollbackError when ``version`` is below what ``dest_root`` verified and the pin
    in ``project_dir`` was not lowered to it on purpose, in one step this root has not taken
    yet. Returns that deliberate step, or None when ``version`` lowers nothing."""
    state = _read_state(dest_root, name)
    if state is None or parse_version(version) >= parse_version(state["highest"]):
        return None
    highest = str(state["highest"])
    step = read_step(project_dir, name) if project_dir is not None else None
    refusal = f"refusing {name} {release_tag(version)}: {dest_root} already verified "
    # The fix must work with the pin already at `version` (lowered by hand), where
    # `tether pin VERSION --allow-downgrade` alone lowers nothing and records nothing.
    again = (
        f"if {release_tag(version)} is wanted on purpose: tether pin {highest}, then "
        f"tether pin {version} --allow-downgrade; otherwise the store may serve an old release"
    )
    if step is None or step.new != version or step.name not in (None, name):
        raise RollbackError(
            f"{refusal}{release_tag(highest)}, and the pin was not lowered on purpose", again
        )
    if step.id in state.get("downgrades_taken", []):
        # The side door: a pin raised and lowered again by hand after a deliberate downgrade
        # (tests/spine/test_pin_hardening.py::test_hand_edited_downgrade_after_a_deliberate_one)
        raise RollbackError(
            f"{refusal}{release_tag(highest)} since it took the deliberate downgrade to "
            f"{release_tag(version)} that {DOWNGRADE_FILE} records, which allows that step once",
            again,
        )
    if parse_version(highest) > parse_version(step.old):
        raise RollbackError(
            f"{refusal}{release_tag(highest)}, above the deliberate step "
            f"{release_tag(step.old)} -> {release_tag(step.new)} that {DOWNGRADE_FILE} records",
            again,
        )
    log.info(
        "deliberate downgrade of %s from %s to %s (recorded in %s)",
        name,
        release_tag(highest),
        release_tag(version),
        DOWNGRADE_FILE,
    )
    return step


def record_verified(
    dest_root: Path,
    name: str,
    version: str,
    *,
    signer: str | None,
    downgrade: Downgrade | None,
) -> None:
    """After activation: remember ``version`` as verified; only a ``downgrade`` the pin made
    on purpose lowers the record, and the root remembers that it took that step
    (tests/spine/test_trust.py::test_rollback_refused_unless_pin_lowered_on_purpose)."""
    state = _read_state(dest_root, name)
    highest = None if state is None else str(state["highest"])
    if (
        highest is not None
        and downgrade is None
        and parse_version(highest) >= parse_version(version)
    ):
        return
    taken = list(state.get("downgrades_taken", [])) if state is not None else []
    if downgrade is not None and downgrade.id not in taken:
        taken = [*taken, downgrade.id][-DOWNGRADES_KEPT:]
    data: dict[str, Any] = {
        "schema": 1,
        "name": name,
        "highest": version,
        "signer": signer,
        "at": _now(),
    }
    if downgrade is not None and highest is not None:
        data["lowered_from"] = highest
    if taken:
        data["downgrades_taken"] = taken
    write_atomic(verified_path(dest_root, name), (json.dumps(data, indent=2) + "\n").encode())


# --- deliberate downgrades (written by tether pin) ----------------------------------------
# One model: the file is one record ({"schema": 1, "name": ..., "from", "to", "id", "at"}),
# as ever. Named pins: each model keeps its own step; two or more are
# {"schema": 2, "steps": [record, ...]} sorted by name, and pinning one model never touches
# another's step (tests/spine/test_named_pins.py::test_downgrade_records_are_per_name).


def read_downgrade(project_dir: Path) -> dict[str, Any] | None:
    path = Path(project_dir) / DOWNGRADE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError, OSError) as exc:  # tests/test_parsers_fuzz.py
        raise ManifestError(
            f"{path} is not JSON ({exc})", "re-pin: tether pin --previous"
        ) from None
    return data if isinstance(data, dict) else None


def _records(project_dir: Path) -> list[dict[str, Any]]:
    """The step records .model-downgrade.json holds (of every model)."""
    record = read_downgrade(project_dir)
    if record is None:
        return []
    steps = record.get("steps") if "steps" in record else [record]
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise ManifestError(
            f"{Path(project_dir) / DOWNGRADE_FILE} does not record downgrades (steps is not "
            "a list of records)",
            "re-pin: tether pin VERSION --allow-downgrade",
        )
    return steps


def _step(record: dict[str, Any], project_dir: Path) -> Downgrade:
    name = record.get("name")
    try:
        if name is not None and not isinstance(name, str):
            raise TypeError("name is not a string")
        old, new = normalize_version(str(record["from"])), normalize_version(str(record["to"]))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ManifestError(
            f"{Path(project_dir) / DOWNGRADE_FILE} does not record a downgrade ({exc})",
            "re-pin: tether pin VERSION --allow-downgrade",
        ) from None
    # Records written before steps had ids: the step is named by its versions and time.
    step_id = str(record.get("id") or f"{old}->{new}@{record.get('at')}")
    return Downgrade(name, old, new, step_id)


def read_step(project_dir: Path, name: str | None = None) -> Downgrade | None:
    """The deliberate step .model-downgrade.json records for ``name`` (a record that names
    no model is anyone's), None without one; without ``name``, the first step."""
    steps = [_step(record, project_dir) for record in _records(project_dir)]
    mine = [s for s in steps if name is None or s.name == name]
    anyone = [s for s in steps if s.name is None]
    found = mine or anyone
    return found[0] if found else None


def lowers(old: str | None, new: str) -> bool:
    """Whether pinning ``new`` over ``old`` lowers the pin."""
    return old is not None and parse_version(new) < parse_version(old)


def note_pin_change(
    project_dir: Path, name: str, old: str | None, new: str, *, deliberate: bool
) -> None:
    """Before tether pin writes ``new`` over ``old`` for ``name``: a deliberate lowering is
    recorded (fetch then allows that step); any other change clears a record of another
    version. Other models' steps stay. Refusing a lowering that is not deliberate is the
    trust policy's (tether.spine.pin)."""
    new = normalize_version(new)
    try:
        records = _records(project_dir)
        step = read_step(project_dir, name)
    except ManifestError:  # a damaged record is replaced (or removed) right here
        records, step = [], None
    others = [r for r in records if r.get("name") not in (name, None)]
    if not lowers(old, new):
        if step is None or step.new != new:
            _write_records(project_dir, others)
        return
    if not deliberate:
        return
    assert old is not None  # lowers() said so
    top = old
    if step is not None and step.new == old and parse_version(step.old) > parse_version(old):
        # A second deliberate step down (A -> B, then B -> C) is the step A -> C, so a dest
        # root that last verified A may take it (tests/spine/test_pin_hardening.py).
        top = step.old
    data = {
        "schema": 1,
        "name": name,
        "from": top,
        "to": new,
        "id": secrets.token_hex(8),
        "at": _now(),
    }
    _write_records(project_dir, [*others, data])


def _write_records(project_dir: Path, records: list[dict[str, Any]]) -> None:
    path = Path(project_dir) / DOWNGRADE_FILE
    if not records:
        path.unlink(missing_ok=True)
        return
    records = sorted(records, key=lambda r: str(r.get("name")))
    data = records[0] if len(records) == 1 else {"schema": 2, "steps": records}
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def _now() -> str:
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
