"""The bundle layout, its record (``tether-bundle.json``), and finding bundles in a built app.

A bundle is a folder that mirrors what an application carries in its data root (PyInstaller's
``sys._MEIPASS``, a Nuitka standalone folder, a plain install dir)::

    <bundle>/
      tether-bundle.json                    the record: which releases and assets, from where
      embedding_models/<profile_id>/        a profile folder, as `tether fetch` makes it:
        .prepared.json  MANIFEST.txt  provenance.intoto.json  profile.json  tokenizer.json
        onnx/model_quantized.onnx ...
      <asset name>/...                      extra offline assets (e.g. a tiktoken cache)

``embedding_models/<profile_id>`` is one of the runtime's bundled-folder candidates, so the
bundle's contents are copied into the app's data root as they are. The record is bookkeeping
for audits; what each profile folder holds is checked against its own .prepared.json and
MANIFEST.txt, and each asset against the sha256 the recipe declares.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import ManifestError
from tether.names import BUNDLE_MODELS_DIR as MODELS_DIR
from tether.names import BUNDLE_RECORD_FILE as RECORD_FILE
from tether.paths import check_name, check_relative_path
from tether.prepared import PREPARED_FILE, PreparedFile

SCHEMA = 1
#: Names a bundled asset may not take: they are the bundle's own entries.
RESERVED_NAMES = frozenset({MODELS_DIR, RECORD_FILE, "data"})
#: How deep below a built app's folder to look for bundles (dist/app/_internal/... is 2).
SEARCH_DEPTH = 5


@dataclass(frozen=True)
class BundledProfile:
    """One profile folder in the bundle and the release it holds."""

    path: str  # "embedding_models/local-text-retrieval-v1"
    name: str  # release group name in the store
    profile_id: str | None  # None for a generic artifact (no profile.json)
    release: str  # "model-v1.0.1"
    store: str
    variants: list[str]
    manifest_sha256: str

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "profile_id": self.profile_id,
            "release": self.release,
            "store": self.store,
            "variants": list(self.variants),
            "manifest_sha256": self.manifest_sha256,
        }


@dataclass(frozen=True)
class BundledAsset:
    """An extra offline asset: a folder ``<name>/`` with the files it declares."""

    name: str
    source: str  # the URL or project-relative path it came from
    sha256: str  # as declared: hex for one file, sha256:<tree digest> for a folder
    files: dict[str, PreparedFile] = field(default_factory=dict)  # relative to <name>/

    @property
    def path(self) -> str:
        return self.name

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "path": self.path,
            "source": self.source,
            "sha256": self.sha256,
            "files": {
                rel: {"size": f.size, "sha256": f.sha256} for rel, f in sorted(self.files.items())
            },
        }


@dataclass(frozen=True)
class BundleRecord:
    tether: str
    profiles: list[BundledProfile] = field(default_factory=list)
    assets: list[BundledAsset] = field(default_factory=list)

    def to_json(self) -> str:
        data = {
            "schema": SCHEMA,
            "tether": self.tether,
            "profiles": [p.to_dict() for p in self.profiles],
            "assets": [a.to_dict() for a in self.assets],
        }
        return json.dumps(data, indent=2) + "\n"


def read_record(root: Path) -> BundleRecord | None:
    """The bundle's record, None when absent; ManifestError when malformed or unsafe."""
    path = Path(root) / RECORD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    hint = "rebuild the bundle: tether bundle --out DIR"
    try:
        data = json.loads(text)
        if data.get("schema") != SCHEMA:
            raise ManifestError(f"{path}: unknown bundle schema {data.get('schema')!r}", hint)
        profiles = []
        for entry in data["profiles"]:
            check_relative_path(entry["path"], where=str(path))
            profiles.append(
                BundledProfile(
                    path=str(entry["path"]),
                    name=str(entry["name"]),
                    profile_id=None if entry["profile_id"] is None else str(entry["profile_id"]),
                    release=str(entry["release"]),
                    store=str(entry["store"]),
                    variants=[str(v) for v in entry["variants"]],
                    manifest_sha256=str(entry["manifest_sha256"]),
                )
            )
        assets = []
        for entry in data["assets"]:
            name = check_name(str(entry["name"]))
            files = {}
            for rel, info in entry["files"].items():
                check_relative_path(rel, where=str(path))
                files[rel] = PreparedFile(size=int(info["size"]), sha256=str(info["sha256"]))
            assets.append(
                BundledAsset(
                    name=name, source=str(entry["source"]), sha256=str(entry["sha256"]), files=files
                )
            )
        return BundleRecord(tether=str(data["tether"]), profiles=profiles, assets=assets)
    except ManifestError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{path} is malformed ({exc.__class__.__name__}: {exc})", hint) from exc


@dataclass(frozen=True)
class FoundBundle:
    """A bundle root inside a folder: with its record, or only profile folders (no record)."""

    root: Path
    record: BundleRecord | None
    profile_dirs: list[Path]  # every <root>/embedding_models/<x>/ folder


def find_bundles(folder: Path, *, depth: int = SEARCH_DEPTH) -> list[FoundBundle]:
    """Bundle roots at or below ``folder``: a bundle dir itself, or a built app holding one.

    A root is a folder with ``tether-bundle.json`` or an ``embedding_models/`` folder with at
    least one prepared profile (Nuitka's ``--include-data-dir`` of ``data/embedding_models``
    or a hand-written spec carry no record).
    """
    folder = Path(folder)
    if folder.name == MODELS_DIR:  # given the models folder itself: its parent is the root
        folder = folder.parent
    base = len(folder.parts)
    roots: list[Path] = []
    for current, dirs, names in os.walk(folder):
        here = Path(current)
        if RECORD_FILE in names or (
            MODELS_DIR in dirs
            and any(
                (here / MODELS_DIR / sub / PREPARED_FILE).is_file()
                for sub in _subdirs(here / MODELS_DIR)
            )
        ):
            roots.append(here)
        if here.name == MODELS_DIR or len(here.parts) - base >= depth:
            dirs[:] = []  # never into profile folders, never too deep
        else:
            dirs.sort()
    found = []
    for root in sorted(roots):
        models = root / MODELS_DIR
        profile_dirs = [models / sub for sub in _subdirs(models)]
        found.append(FoundBundle(root, read_record(root), profile_dirs))
    return found


def _subdirs(folder: Path) -> list[str]:
    try:
        return sorted(
            e.name for e in os.scandir(folder) if e.is_dir() and not is_state_file(e.name)
        )
    except OSError:
        return []


def is_state_file(name: str) -> bool:
    """Dotfiles beside profile folders are `tether fetch`'s state (``.<name>.lock``, rollback
    records), not content: never bundled, never reported."""
    return name.startswith(".")
