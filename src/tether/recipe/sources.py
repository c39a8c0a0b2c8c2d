"""Where a checkpoint comes from: a Hugging Face repo at a commit, or a local folder.

Either way the result is a local folder plus the revision actually used: the commit of
the snapshot that was downloaded (never looked up afterwards, never a branch), or the
digest of the folder's files.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tether.errors import IntegrityError, MissingDependencyError, SourceNotFoundError
from tether.hashing import listing_digest, sha256_files
from tether.names import README_FILE
from tether.recipe.schema import HfSource, PathSource, Prebuilt, Source

# What a build reads from a Hub repo: configs, tokenizer, safetensors weights, model card.
# Other formats some repos carry (onnx/, openvino/, pickled .bin, tf/flax/rust weights)
# are large and unused, so they are not downloaded.
HF_ALLOW_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.model", README_FILE]
HF_IGNORE_PATTERNS = ["onnx/*", "openvino/*", "*/onnx/*"]

# Folders that hold tool state, not checkpoint content (git, `hf download --local-dir`).
EXCLUDED_DIRS = frozenset({".git", ".cache", "__pycache__"})

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ResolvedSource:
    """A checkpoint on local disk and the facts the MANIFEST records about it."""

    folder: Path
    model: str  # repo id or configured name
    revision: str  # 40-hex commit, or sha256:<tree digest>
    type: str  # "hf" or "path"


def resolve_source(source: Source) -> ResolvedSource:
    """Make the checkpoint available locally (downloading it for ``hf``) and pin what it is."""
    if isinstance(source, HfSource):
        return _resolve_hf(source)
    return _resolve_path(source)


# --- path ---------------------------------------------------------------------------------


def _resolve_path(source: PathSource) -> ResolvedSource:
    folder = source.path
    if not folder.is_dir():
        raise SourceNotFoundError(
            f"source folder {folder} does not exist",
            "fix [source] path in the recipe (relative paths start at the recipe's folder)",
        )
    digest = folder_digest(folder)
    if source.revision is not None and digest != source.revision:
        raise IntegrityError(
            f"source folder {folder} has revision {digest}, the recipe pins {source.revision}",
            "the checkpoint's files changed: restore them, or update [source] revision "
            "deliberately",
        )
    return ResolvedSource(folder=folder, model=source.model, revision=digest, type="path")


def folder_files(folder: Path) -> Iterator[str]:
    """Relative POSIX paths of a checkpoint folder's files (links to files are followed)."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        for name in names:
            path = Path(root, name)
            if path.is_file():  # follows links: a Hub snapshot is links into blobs/
                yield path.relative_to(folder).as_posix()


def folder_digest(folder: Path) -> str:
    """``sha256:<hex>`` over the sorted ``<sha256>  <path>`` lines of the folder's files.

    The same text ``sha256sum`` prints, so ``find . -type f | LC_ALL=C sort | xargs
    sha256sum | sha256sum`` reproduces it (without the excluded tool folders).
    """
    rels = sorted(folder_files(folder))
    digests = sha256_files([folder / rel for rel in rels])
    return listing_digest({rel: digests[folder / rel] for rel in rels})


# --- Hugging Face -------------------------------------------------------------------------


def hf_cache_dir() -> Path:
    """The Hub cache as the environment names it now (huggingface_hub reads it at import)."""
    env = os.environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return Path(os.path.expandvars(env[key])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hf_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as set now, not at huggingface_hub's import."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(key, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    return False


def _resolve_hf(source: HfSource) -> ResolvedSource:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:
        raise MissingDependencyError(f"the hf source needs huggingface_hub ({exc})") from exc

    where = f"{source.repo}@{source.revision}"
    cache = hf_cache_dir()
    offline = hf_offline()

    allow, ignore = (
        (prebuilt_patterns(source.prebuilt), None)
        if source.prebuilt
        else (HF_ALLOW_PATTERNS, HF_IGNORE_PATTERNS)
    )

    def download(local_only: bool) -> str:
        return snapshot_download(
            source.repo,
            revision=source.revision,
            cache_dir=cache,
            local_files_only=local_only,
            allow_patterns=allow,
            ignore_patterns=ignore,
        )

    try:
        if source.prebuilt and not offline:
            # A mirror lists the commit online (one request; cached blobs are not fetched
            # again): a snapshot an earlier build cached lacks onnx/, and a local-only
            # lookup returns any snapshot folder without checking the patterns.
            folder = download(local_only=False)
        else:
            try:
                # A commit never changes: a complete cached snapshot needs no network at
                # all (huggingface_hub would otherwise list the repo tree online first).
                folder = download(local_only=True)
            except LocalEntryNotFoundError:
                if offline:
                    raise
                folder = download(local_only=False)
    except LocalEntryNotFoundError as exc:
        mode = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        raise SourceNotFoundError(
            f"{where} is not in the Hugging Face cache {cache} and {mode}",
            "download it once with network access (unset HF_HUB_OFFLINE), point HF_HUB_CACHE "
            "at a cache that holds it, or check the revision",
        ) from exc
    except RevisionNotFoundError as exc:
        raise SourceNotFoundError(
            f"{source.repo} has no commit {source.revision}",
            "copy the full commit hash from the repo's history on the Hub",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise SourceNotFoundError(
            f"no Hugging Face repo {source.repo} (or it is private or gated)",
            "check [source] repo; for a private repo log in (`hf auth login` or HF_TOKEN)",
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        raise SourceNotFoundError(
            f"downloading {where} failed: {_one_line(exc)}",
            "check the network and retry; builds resume from the Hugging Face cache",
        ) from exc
    snapshot = Path(folder)
    if snapshot.name != source.revision:
        # Record what was downloaded, never what was asked for (guild recorded `main`).
        raise IntegrityError(
            f"asked for {where} but the Hugging Face cache returned snapshot {snapshot.name}",
            "clear the repo from the Hugging Face cache and build again",
        )
    verify_hf_blobs(snapshot)
    return ResolvedSource(folder=snapshot, model=source.repo, revision=snapshot.name, type="hf")


def prebuilt_patterns(prebuilt: Prebuilt) -> list[str]:
    """What a mirror downloads: the configs, the tokenizer and each variant's ONNX files.

    Every variant is listed (the recipe may use fewer): a pattern that matches nothing
    costs nothing, and the cache stays complete for a later recipe that uses both.
    """
    patterns = ["*.json", README_FILE]
    for entry in prebuilt.files:
        patterns.append(entry.file)
        if entry.external_data is None:
            patterns.append(f"{entry.file}_data*")  # onnx's sidecar names: _data, _data_1, ...
        else:
            patterns += entry.external_data
    return patterns


def verify_hf_blobs(snapshot: Path) -> None:
    """Check cached files against the digests their blob names carry.

    huggingface_hub does not verify downloads; its cache names each blob by its ETag,
    which is the sha256 for LFS files and the git blob sha1 for the others, so a
    corrupted or truncated blob is detectable without the network.
    """
    bad = []
    for rel in sorted(folder_files(snapshot)):
        path = snapshot / rel
        if not path.is_symlink():
            continue  # copies (no symlink support): nothing to check against
        blob = Path(os.readlink(path)).name
        if _HEX64.match(blob):
            actual = sha256_files([path])[path]
        elif _HEX40.match(blob):
            actual = git_blob_sha1(path)
        else:
            continue
        if actual != blob:
            bad.append(rel)
    if bad:
        raise IntegrityError(
            f"Hugging Face cache files of {snapshot} are corrupted: {', '.join(bad)}",
            "delete the repo from the Hugging Face cache (hf cache delete) and download again",
        )


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file's content (what the Hub reports for non-LFS files)."""
    data = path.read_bytes()  # non-LFS files are small (configs, tokenizers)
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "") or type(exc).__name__
