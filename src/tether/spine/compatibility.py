"""The profile compatibility guard (``tether release`` and ``promote``).

A profile id is a promise that vectors stay comparable, so a new release under it must keep
dim (and the native width it truncates), pooling, normalize, max_length, the tokenizer
bytes, the prompts and the default prompt name, and each variant's quantization settings;
and every variant both releases have must embed the probe texts like the previous
release's same variant (cosine >= ``COMPAT_MIN_COSINE``): fp32 against fp32, int8 against
int8, so a lossier int8 under the same id is refused as a pooling change is.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from tether.errors import ProfileCompatibilityError
from tether.names import COMPAT_MIN_COSINE, PROBE_FILE, PROFILE_FILE
from tether.profile import CONTRACT_KEYS as PROFILE_CONTRACT_KEYS
from tether.profile import Profile, read_profile
from tether.runtime import probe_from_data, read_probe_file
from tether.spine.catalog import ReleaseInfo, list_releases, read_manifest
from tether.spine.states import WITHDRAWN
from tether.stores.base import Store, read_bytes
from tether.versioning import parse_version, release_tag

# profile.json fields that must stay equal under one profile id (the contract less the id),
# and the value an older profile.json means by leaving one out (so a release made before
# the field existed compares equal).
CONTRACT_KEYS = tuple(key for key in PROFILE_CONTRACT_KEYS if key != "profile_id")
_ABSENT: dict[str, Any] = {"native_dim": None, "prompts": {}, "default_prompt_name": None}


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
    where = f"{rel} of {name} {release_tag(version)}"
    if rel == PROFILE_FILE:  # validated by the one reader of profile.json
        return dict(Profile.from_bytes(raw, where=where).raw)
    if rel == PROBE_FILE:  # and by the one reader of probe.json
        return dict(probe_from_data(_json(raw, where), where=where).raw)
    return _json(raw, where)


def _json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProfileCompatibilityError(f"{where} is not valid JSON ({exc})") from exc


def compatibility_problems(
    new_profile: dict[str, Any],
    new_probe: dict[str, Any] | None,
    old_profile: dict[str, Any],
    old_probe: dict[str, Any] | None,
    *,
    min_cosine: float = COMPAT_MIN_COSINE,
) -> list[str]:
    """What differs between two releases of one profile id (empty: compatible)."""

    def field(profile: dict[str, Any], key: str) -> Any:
        return profile.get(key, _ABSENT.get(key))

    problems = [
        f"{key} {field(old_profile, key)!r} -> {field(new_profile, key)!r}"
        for key in CONTRACT_KEYS
        if field(old_profile, key) != field(new_profile, key)
    ]
    if problems:
        return problems  # probe vectors of different contracts say nothing more
    old_variants, new_variants = _variants(old_profile), _variants(new_profile)
    for variant in sorted(set(old_variants) & set(new_variants)):
        before, after = old_variants[variant], new_variants[variant]
        if before.get("quantization") != after.get("quantization"):
            problems.append(
                f"{variant} quantization {before.get('quantization')!r} -> "
                f"{after.get('quantization')!r}"
            )
    if not new_probe or not old_probe:
        return problems
    old, new = probe_from_data(old_probe), probe_from_data(new_probe)
    for variant in [v for v in new.vectors if v in old.vectors]:  # fp32 first, as written
        old_vectors = dict(zip(old.texts, old.vectors[variant], strict=True))
        worst: tuple[float, str] | None = None
        for text, vector in zip(new.texts, new.vectors[variant], strict=True):
            if text in old_vectors:
                cos = _cosine(vector, old_vectors[text])
                if worst is None or cos < worst[0]:
                    worst = (cos, text)
        if worst is not None and worst[0] < min_cosine:
            problems.append(
                f"probe vectors moved: cosine {worst[0]:.4f} < {min_cosine:g} on "
                f"{worst[1][:40]!r} ({variant} vs the previous {variant})"
            )
    return problems


def _variants(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    variants = profile.get("variants")
    if not isinstance(variants, dict):
        return {}
    return {k: v for k, v in variants.items() if isinstance(v, dict)}


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
    new_probe = dict(read_probe_file(probe_path).raw) if probe_path.is_file() else None
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
