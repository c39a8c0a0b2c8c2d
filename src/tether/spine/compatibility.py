"""The profile compatibility guard (``tether release`` and ``promote``).

A profile id is a promise that vectors stay comparable, so a new release under it must keep
dim, pooling, normalize, max_length and the tokenizer bytes, and embed the probe texts like
the previous release (cosine >= ``COMPAT_MIN_COSINE``).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from tether.errors import ProfileCompatibilityError
from tether.names import COMPAT_MIN_COSINE, PROBE_FILE, PROFILE_FILE
from tether.profile import Profile, read_profile
from tether.spine.catalog import ReleaseInfo, list_releases, read_manifest
from tether.spine.states import WITHDRAWN
from tether.stores.base import Store, read_bytes
from tether.versioning import parse_version, release_tag

CONTRACT_KEYS = ("dim", "pooling", "normalize", "max_length", "tokenizer_sha256")


def previous_release(store: Store, name: str, below: str | None = None) -> ReleaseInfo | None:
    """The highest release of ``name`` not withdrawn (below ``below`` when given)."""
    found = [
        r
        for r in list_releases(store, name)
        if r.state != WITHDRAWN
        and (below is None or parse_version(r.version) < parse_version(below))
    ]
    return max(found, key=lambda r: parse_version(r.version), default=None)


def release_json(store: Store, name: str, version: str, rel: str) -> dict[str, Any] | None:
    """A JSON file of a release, checked against its MANIFEST digest (None when absent)."""
    manifest, _ = read_manifest(store, name, version)
    digest = manifest.files.get(rel)
    if digest is None:
        return None
    raw = read_bytes(store, name, version, rel)
    if hashlib.sha256(raw).hexdigest() != digest:
        raise ProfileCompatibilityError(
            f"{name} {release_tag(version)} {rel} does not match its MANIFEST digest",
            "the store was tampered with: do not use this release",
        )
    if rel == PROFILE_FILE:  # validated by the one reader of profile.json
        return dict(Profile.from_bytes(raw, where=f"{rel} of {name} {release_tag(version)}").raw)
    return json.loads(raw)


def compatibility_problems(
    new_profile: dict[str, Any],
    new_probe: dict[str, Any] | None,
    old_profile: dict[str, Any],
    old_probe: dict[str, Any] | None,
    *,
    min_cosine: float = COMPAT_MIN_COSINE,
) -> list[str]:
    """What differs between two releases of one profile id (empty: compatible)."""
    problems = [
        f"{key} {old_profile.get(key)!r} -> {new_profile.get(key)!r}"
        for key in CONTRACT_KEYS
        if old_profile.get(key) != new_profile.get(key)
    ]
    if problems or not new_probe or not old_probe:
        return problems  # probe vectors of different contracts say nothing more
    worst: tuple[float, str] | None = None
    old_vectors = dict(zip(old_probe.get("texts", []), old_probe.get("fp32", []), strict=False))
    for text, vector in zip(new_probe.get("texts", []), new_probe.get("fp32", []), strict=False):
        if text in old_vectors:
            cos = _cosine(vector, old_vectors[text])
            if worst is None or cos < worst[0]:
                worst = (cos, text)
    if worst is not None and worst[0] < min_cosine:
        problems.append(
            f"probe vectors moved: cosine {worst[0]:.4f} < {min_cosine:g} on {worst[1][:40]!r}"
        )
    return problems


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0


def check_compatible(
    store: Store,
    name: str,
    new_profile: dict[str, Any],
    new_probe: dict[str, Any] | None,
    previous: ReleaseInfo,
    *,
    min_cosine: float = COMPAT_MIN_COSINE,
    action: str = "release",
) -> None:
    """Refuse (ProfileCompatibilityError) a model that breaks ``previous``'s contract."""
    old_profile = release_json(store, name, previous.version, PROFILE_FILE)
    if old_profile is None:
        return  # the previous release was not an embedding profile: no contract to keep
    old_probe = release_json(store, name, previous.version, PROBE_FILE)
    problems = compatibility_problems(
        new_profile, new_probe, old_profile, old_probe, min_cosine=min_cosine
    )
    if problems:
        profile_id = new_profile.get("profile_id") or name
        raise ProfileCompatibilityError(
            f"refusing to {action} under profile id {profile_id!r}: it is not compatible with "
            f"{previous.tag} ({'; '.join(problems)})",
            f"stored vectors would silently stop being comparable: bump the profile id "
            f"([profile] id = {bump_profile_id(profile_id)!r}) and re-embed",
        )


def check_folder_compatible(
    store: Store, name: str, folder: Path, *, min_cosine: float = COMPAT_MIN_COSINE
) -> None:
    """The guard for publishing ``folder`` under ``name`` (tether.spine.release.publish_release)."""
    profile_path = Path(folder) / PROFILE_FILE
    if not profile_path.is_file():
        return
    previous = previous_release(store, name)
    if previous is None:
        return
    new_profile = dict(read_profile(Path(folder)).raw)
    probe_path = Path(folder) / PROBE_FILE
    new_probe = json.loads(probe_path.read_text(encoding="utf-8")) if probe_path.is_file() else None
    check_compatible(store, name, new_profile, new_probe, previous, min_cosine=min_cosine)


def check_release_compatible(
    store: Store,
    name: str,
    version: str,
    against: ReleaseInfo,
    *,
    min_cosine: float = COMPAT_MIN_COSINE,
) -> None:
    """The guard for promoting a published release over ``against`` (the pinned one)."""
    profile = release_json(store, name, version, PROFILE_FILE)
    if profile is None:
        return
    probe = release_json(store, name, version, PROBE_FILE)
    check_compatible(store, name, profile, probe, against, min_cosine=min_cosine, action="promote")


def bump_profile_id(profile_id: str) -> str:
    """local-text-retrieval-v1 -> local-text-retrieval-v2; anything else gets -v2."""
    found = re.fullmatch(r"(.*-v)(\d+)", profile_id)
    return f"{found.group(1)}{int(found.group(2)) + 1}" if found else f"{profile_id}-v2"
