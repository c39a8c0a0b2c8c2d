"""Reading releases: their MANIFEST, their state, the list of them.

State (pre-release on publish, then promoted, or withdrawn and kept as a record) lives in
the release's mutable record as ``state.json`` with its full history (tether.spine.release
writes it). Everything here only reads, so the compatibility guard, pinning, fetching and
signing build on it without depending on publishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.errors import ManifestError, ReleaseNotFoundError, ReleaseWithdrawnError
from tether.hashing import sha256_bytes
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest
from tether.names import STATE_RECORD
from tether.spine.states import PRE_RELEASE, WITHDRAWN, parse_state
from tether.stores.base import Store, read_bytes
from tether.versioning import normalize_version, parse_version, release_tag


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    version: str
    state: str = PRE_RELEASE
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return release_tag(self.version)


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


def release_digests(manifest: Manifest, manifest_raw: bytes) -> dict[str, str]:
    """Every file of a release with its sha256: the MANIFEST's listing plus MANIFEST.txt
    (what a release's model.sig signs)."""
    return {**manifest.files, MANIFEST_FILE: sha256_bytes(manifest_raw)}


def release_info(store: Store, name: str, version: str) -> ReleaseInfo:
    """State and history of a published release."""
    version = normalize_version(version)
    if version not in {str(parse_version(v)) for v in store.versions(name)}:
        raise ReleaseNotFoundError(f"{store.url} has no release {name} {release_tag(version)}")
    raw = store.read_record(name, version, STATE_RECORD)
    state, history = parse_state(raw, where=f"{name} {release_tag(version)}")
    return ReleaseInfo(name, version, state, history)


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
