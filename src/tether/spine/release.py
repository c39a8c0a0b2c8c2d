"""Releases: publish a folder as an immutable ``model-v<semver>``, and track its state.

State (pre-release on publish, then promoted, or withdrawn and kept as a record) lives in
the release's mutable record as ``state.json`` with its full history, so a state change
never touches the release's files.
"""

from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tether
from tether.errors import (
    ManifestError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    ReleaseWithdrawnError,
    TetherError,
)
from tether.hashing import listing_digest
from tether.manifest import (
    MANIFEST_FILE,
    PROVENANCE_FILE,
    Manifest,
    build_timestamp,
    check_folder,
    ci_run_url,
    hash_payload,
    parse_manifest,
    render_manifest,
    seal,
)
from tether.names import COMPAT_MIN_COSINE, PROFILE_FILE, STATE_RECORD
from tether.paths import check_name
from tether.stores.base import Store, read_bytes
from tether.versioning import next_version, normalize_version, parse_version, release_tag

PRE_RELEASE, PROMOTED, WITHDRAWN = "pre-release", "promoted", "withdrawn"


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    version: str
    state: str = PRE_RELEASE
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return release_tag(self.version)


# --- publishing ---------------------------------------------------------------------------


def publish_release(
    store: Store,
    source_dir: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    floor: str | None = None,
    run_url: str | None = None,
    compat_min_cosine: float = COMPAT_MIN_COSINE,
) -> ReleaseInfo:
    """Publish the files of ``source_dir`` as release ``version`` of ``name``.

    A draft MANIFEST.txt in the folder (written by ``tether build``) supplies the provenance
    facts and must still match the files; otherwise tether records the folder's own digest
    as its source. ``version`` None takes the next patch after the highest of the store's
    versions and ``floor`` (the current pin). A profile folder must keep the contract of
    the name's previous release (tether.spine.compatibility; probe cosine >= ``compat_min_cosine``).
    """
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ReleaseNotFoundError(
            f"{source_dir} is not a folder", "pass the folder of built files: --from DIR"
        )
    payload = hash_payload(source_dir)
    if not payload:
        raise ManifestError(f"{source_dir} holds no files to release", "build the model first")
    draft = _read_draft(source_dir)
    name = check_name(name or _default_name(source_dir, draft))
    existing = store.versions(name)
    if version is None:
        version = str(next_version(existing, floor))
    version = normalize_version(version)
    if version in {str(parse_version(v)) for v in existing}:
        raise ReleaseExistsError(f"{store.url} already has {name} {release_tag(version)}")
    if existing and (source_dir / PROFILE_FILE).is_file():
        # --- quality: a profile id is a promise that vectors stay comparable
        from tether.spine.compatibility import check_folder_compatible

        check_folder_compatible(store, name, source_dir, min_cosine=compat_min_cosine)

    sections = draft.sections if draft else _default_sections(source_dir, payload, run_url)
    manifest, provenance = seal(Manifest(name, version, payload, sections))
    with tempfile.TemporaryDirectory(prefix="tether-release-") as tmp:
        (Path(tmp) / MANIFEST_FILE).write_text(render_manifest(manifest), encoding="utf-8")
        (Path(tmp) / PROVENANCE_FILE).write_text(provenance, encoding="utf-8")
        files = {rel: source_dir / rel for rel in payload}
        files[MANIFEST_FILE] = Path(tmp) / MANIFEST_FILE
        files[PROVENANCE_FILE] = Path(tmp) / PROVENANCE_FILE
        store.publish(name, version, files)
    return _record_state(store, name, version, PRE_RELEASE, event="published")


def _read_draft(source_dir: Path) -> Manifest | None:
    path = source_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    draft = parse_manifest(path.read_text(encoding="utf-8"), where=str(path))
    check_folder(source_dir, draft, where=str(source_dir))
    return draft


def _default_name(source_dir: Path, draft: Manifest | None) -> str:
    profile = source_dir / PROFILE_FILE
    if profile.is_file():
        try:
            profile_id = json.loads(profile.read_text(encoding="utf-8")).get("profile_id")
        except (ValueError, AttributeError) as exc:
            raise ManifestError(f"{profile} is not valid JSON: {exc}") from exc
        if isinstance(profile_id, str) and profile_id:
            return profile_id
    if draft is not None:
        return draft.name
    return source_dir.absolute().name


def _default_sections(
    source_dir: Path, payload: dict[str, str], run_url: str | None
) -> dict[str, dict[str, str]]:
    """Facts for a folder tether did not build: what it is, and when and where it was released."""
    return {
        "Tooling": {"python": platform.python_version(), "tether": tether.__version__},
        "Source": {
            "model": source_dir.absolute().name,
            "revision": listing_digest(payload),
        },
        "Build": {"timestamp": build_timestamp(), "workflow": ci_run_url(run_url)},
    }


# --- reading ------------------------------------------------------------------------------


def read_manifest(store: Store, name: str, version: str) -> tuple[Manifest, bytes]:
    """A release's parsed MANIFEST.txt and its raw bytes."""
    raw = read_bytes(store, name, version, MANIFEST_FILE)
    where = f"{name} {release_tag(version)} {MANIFEST_FILE}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{where} is not UTF-8 text") from exc
    manifest = parse_manifest(text, where=where)
    if manifest.name != name or manifest.version != normalize_version(version):
        raise ManifestError(
            f"{where} describes {manifest.name} {manifest.label}, not {release_tag(version)}",
            "the store was tampered with: do not use this release",
        )
    return manifest, raw


def release_info(store: Store, name: str, version: str) -> ReleaseInfo:
    """State and history of a published release."""
    version = normalize_version(version)
    if version not in {str(parse_version(v)) for v in store.versions(name)}:
        raise ReleaseNotFoundError(f"{store.url} has no release {name} {release_tag(version)}")
    raw = store.read_record(name, version, STATE_RECORD)
    if raw is None:  # published, state not yet written: a pre-release
        return ReleaseInfo(name, version)
    try:
        data = json.loads(raw)
        return ReleaseInfo(name, version, str(data["state"]), list(data.get("history", [])))
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"state record of {name} {release_tag(version)} is malformed") from exc


def list_releases(store: Store, name: str) -> list[ReleaseInfo]:
    """All releases of ``name``, oldest version first."""
    versions = sorted(parse_version(v) for v in store.versions(name))
    return [release_info(store, name, str(v)) for v in versions]


def latest(releases: list[ReleaseInfo], state: str | None = None) -> ReleaseInfo | None:
    """The highest version (by semver precedence), optionally only those in ``state``."""
    eligible = [r for r in releases if state is None or r.state == state]
    return max(eligible, key=lambda r: parse_version(r.version), default=None)


def require_usable(info: ReleaseInfo) -> ReleaseInfo:
    """Refuse a withdrawn release (it stays readable as a record, never pinned or fetched)."""
    if info.state == WITHDRAWN:
        reason = next((h.get("reason") for h in reversed(info.history) if h.get("reason")), None)
        raise ReleaseWithdrawnError(
            f"{info.name} {info.tag} was withdrawn" + (f": {reason}" if reason else "")
        )
    return info


# --- state changes ------------------------------------------------------------------------


def promote(
    store: Store,
    name: str,
    version: str,
    *,
    forced: bool = False,
    reason: str | None = None,
    gate: dict[str, Any] | None = None,
) -> ReleaseInfo:
    """Mark promoted; ``gate`` (tether.quality.gate's outcome) and a forced promotion's ``reason``
    go into the history entry."""
    info = require_usable(release_info(store, name, version))
    if info.state == PROMOTED and not forced:
        return info
    details = {"forced": forced, "reason": reason, "gate": gate}
    return _record_state(store, name, info.version, PROMOTED, event="promoted", **details)


def withdraw(store: Store, name: str, version: str, *, reason: str) -> ReleaseInfo:
    info = release_info(store, name, version)
    if info.state == WITHDRAWN:
        return info
    if not reason.strip():
        raise TetherError("a withdrawal needs a reason", "pass --reason 'what is wrong with it'")
    return _record_state(store, name, info.version, WITHDRAWN, event="withdrawn", reason=reason)


def _record_state(
    store: Store, name: str, version: str, state: str, *, event: str, **details: Any
) -> ReleaseInfo:
    raw = store.read_record(name, version, STATE_RECORD)
    history = json.loads(raw).get("history", []) if raw else []
    entry = {"event": event, "state": state, "at": _now()}
    entry.update({k: v for k, v in details.items() if v})
    history.append(entry)
    data = {"state": state, "history": history}
    store.write_record(name, version, STATE_RECORD, (json.dumps(data, indent=2) + "\n").encode())
    return ReleaseInfo(name, version, state, history)


def _now() -> str:
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
