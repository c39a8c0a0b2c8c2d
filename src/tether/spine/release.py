"""Releases: publish a folder as an immutable ``model-v<semver>``, and change its state.

State (pre-release on publish, then promoted, or withdrawn and kept as a record) lives in
the release's mutable record as ``state.json`` with its full history, so a state change
never touches the release's files. Reading releases is tether.spine.catalog's.
"""

from __future__ import annotations

import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import tether
from tether.errors import (
    ConfigError,
    ManifestError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    TetherError,
)
from tether.hashing import list_files, listing_digest, sha256_bytes
from tether.manifest import (
    MANIFEST_FILE,
    PROVENANCE_FILE,
    Manifest,
    build_timestamp,
    check_folder,
    ci_run_url,
    commit_fact,
    hash_payload,
    parse_manifest,
    render_manifest,
    seal,
)
from tether.model_card import (
    CARD_SECTION,
    TRANSFORMERS,
    CardOptions,
    artifact_kind,
    card_metadata,
    generic_card,
    read_hf_config,
)
from tether.names import (
    CI_ENV,
    CI_WORKSPACE_ENVS,
    COMPAT_MIN_COSINE,
    HF_CONFIG_FILE,
    PROFILE_FILE,
    README_FILE,
    SIGNATURE_FILE,
    STATE_RECORD,
)
from tether.paths import PUBLISH_HINT, check_name, check_release_paths
from tether.profile import read_profile
from tether.spine.catalog import ReleaseInfo, release_info, require_usable
from tether.spine.compatibility import check_folder_compatible
from tether.spine.states import PRE_RELEASE, PROMOTED, WITHDRAWN, parse_state, render_state
from tether.stores.base import Store
from tether.versioning import next_version, normalize_version, parse_version, release_tag

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
    card: CardOptions | None = None,
    project_dir: Path | None = None,
) -> ReleaseInfo:
    """Publish the files of ``source_dir`` as release ``version`` of ``name``.

    A draft MANIFEST.txt in the folder (written by ``tether build``) supplies the provenance
    facts and must still match the files; otherwise tether records the folder's own digest
    as its source, and the commit of ``project_dir`` (the consuming repo; default: the
    current folder). ``version`` None takes the next patch after the highest of the store's
    versions and ``floor`` (the current pin). A profile folder must keep the contract of
    the name's previous release (tether.spine.compatibility; probe cosine >= ``compat_min_cosine``).
    ``card``: a folder tether did not build, without README.md, gets a model card for its
    kind (GGUF, transformers/vLLM, ...), a release file like the others; what ``card`` says
    is recorded in MANIFEST.txt's Card section (built or not) for ``tether notes --card``.
    In CI (``CI=true``), a folder store inside the job's workspace is refused.
    """
    refuse_workspace_store(store)
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ReleaseNotFoundError(
            f"{source_dir} is not a folder", "pass the folder of built files: --from DIR"
        )
    check_release_paths(list_files(source_dir), where=str(source_dir), hint=PUBLISH_HINT)
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
        raise ReleaseExistsError(
            f"{store.url} already has {name} {release_tag(version)}",
            _exists_hint(store, name, version),
        )
    if existing and (source_dir / PROFILE_FILE).is_file():
        # a profile id is a promise that vectors stay comparable
        check_folder_compatible(store, name, source_dir, min_cosine=compat_min_cosine)

    sections = (
        draft.sections if draft else _default_sections(source_dir, payload, run_url, project_dir)
    )
    generated: str | None = None
    if card is not None and card.facts():  # for `tether notes --card`, built or not
        sections = {**sections, CARD_SECTION: card.facts()}
    if draft is None and card is not None and README_FILE not in payload:
        generated = _generated_card(source_dir, payload, name, version, sections, card)
        payload = {**payload, README_FILE: sha256_bytes(generated.encode("utf-8"))}
    manifest, provenance = seal(Manifest(name, version, payload, sections))
    with tempfile.TemporaryDirectory(prefix="tether-release-") as tmp:
        (Path(tmp) / MANIFEST_FILE).write_text(render_manifest(manifest), encoding="utf-8")
        (Path(tmp) / PROVENANCE_FILE).write_text(provenance, encoding="utf-8")
        files = {rel: source_dir / rel for rel in payload}
        files[MANIFEST_FILE] = Path(tmp) / MANIFEST_FILE
        files[PROVENANCE_FILE] = Path(tmp) / PROVENANCE_FILE
        if generated is not None:
            files[README_FILE] = Path(tmp) / README_FILE
            files[README_FILE].write_text(generated, encoding="utf-8")
        store.publish(name, version, files)
    return _record_state(store, name, version, PRE_RELEASE, event="published")


def _exists_hint(store: Store, name: str, version: str) -> str:
    """Releases never change; a release published by a run killed before it signed it is
    there, unsigned (tests/spine/test_kill_publish.py)."""
    hint = ReleaseExistsError.default_hint
    try:
        unsigned = store.read_record(name, version, SIGNATURE_FILE) is None
    except TetherError:
        return hint
    if unsigned:
        hint += f"; if this one should be signed: tether sign {version} --signing-key KEY"
    return hint


# --- CI: a release must outlive the job ----------------------------------------------------


def refuse_workspace_store(store: Store) -> None:
    """With ``CI`` set (GitHub Actions, GitLab CI and most others set CI=true), refuse to
    publish to a folder store inside the job's workspace: it is deleted when the job ends,
    and the release with it (the default ./releases, when no store is configured).

    The workspace is ``$GITHUB_WORKSPACE``, ``$CI_PROJECT_DIR`` and the git checkout that
    holds the current folder; a folder outside them (a mounted share, a temp folder) is the
    user's choice (tests/spine/test_pin_hardening.py::test_ci_refuses_a_workspace_store).
    """
    if os.environ.get(CI_ENV, "").strip().lower() in ("", "0", "false", "no"):
        return
    root = _folder_store_root(store)
    if root is None:
        return
    for workspace in ci_workspaces():
        if root == workspace or workspace in root.parents:
            raise ConfigError(
                f"refusing to publish to {root}: it is inside the CI workspace {workspace}, "
                "which is deleted when the job ends, and the release with it",
                "publish to a store that outlives the job: --store, $TETHER_STORE or store = "
                "in tether.toml set to oci://..., s3://... or a folder outside the workspace",
            )


def ci_workspaces() -> list[Path]:
    """The folders a CI job's checkout occupies: the CI's own variables, and the git work
    tree holding the current folder (a test's temp project outside it is not one)."""
    found = [Path(os.environ[k]) for k in CI_WORKSPACE_ENVS if os.environ.get(k, "").strip()]
    here = Path.cwd().resolve()
    found += [d for d in (here, *here.parents) if (d / ".git").exists()][:1]
    return [Path(os.path.realpath(p.expanduser())) for p in found]


def _folder_store_root(store: Store) -> Path | None:
    parsed = urlparse(store.url)
    if parsed.scheme != "file":
        return None
    return Path(os.path.realpath(url2pathname(parsed.path)))  # file:///C:/... on Windows too


def _read_draft(source_dir: Path) -> Manifest | None:
    path = source_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    draft = parse_manifest(path.read_bytes(), where=str(path))
    check_folder(source_dir, draft, where=str(source_dir))
    return draft


def _default_name(source_dir: Path, draft: Manifest | None) -> str:
    if (source_dir / PROFILE_FILE).is_file():
        profile_id = read_profile(source_dir).profile_id
        if profile_id:
            return profile_id
    if draft is not None:
        return draft.name
    return source_dir.absolute().name


def _default_sections(
    source_dir: Path, payload: dict[str, str], run_url: str | None, project_dir: Path | None
) -> dict[str, dict[str, str]]:
    """Facts for a folder tether did not build: what it is, and when and where it was
    released (``commit``: the consuming repo's, for `tether notes`)."""
    build = {
        "timestamp": build_timestamp(),
        "workflow": ci_run_url(run_url),
        **commit_fact(project_dir),
    }
    return {
        "Tooling": {"python": platform.python_version(), "tether": tether.__version__},
        "Source": {
            "model": source_dir.absolute().name,
            "revision": listing_digest(payload),
        },
        "Build": build,
    }


def _generated_card(
    source_dir: Path,
    payload: dict[str, str],
    name: str,
    version: str,
    sections: dict[str, dict[str, str]],
    card: CardOptions,
) -> str:
    """README.md for a folder that has none: its kind's card (tests/quality/test_cards.py)."""
    kind = artifact_kind(payload)
    config = None
    if kind == TRANSFORMERS:
        config = read_hf_config((source_dir / HF_CONFIG_FILE).read_bytes())
    metadata = card_metadata(kind, payload, card, config=config)
    sizes = {rel: (source_dir / rel).stat().st_size for rel in payload}
    return generic_card(
        metadata,
        name=name,
        title=f"{name} {release_tag(version)}",
        sizes=sizes,
        build=sections.get("Build", {}),
        tether_version=tether.__version__,
    )


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
    _, history = parse_state(raw, where=f"{name} {release_tag(version)}")
    entry = {"event": event, "state": state, "at": _now()}
    entry.update({k: v for k, v in details.items() if v})
    history.append(entry)
    store.write_record(name, version, STATE_RECORD, render_state(state, history))
    return ReleaseInfo(name, version, state, history)


def _now() -> str:
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
