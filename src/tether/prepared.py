"""`.prepared.json`: the record, written last, that a profile folder holds a verified release.

Its presence means every file it lists was verified against the release's MANIFEST when it
was written; the runtime's completeness check is then stat-only (sizes), and
`tether verify` re-hashes. Example::

    {"schema": 1, "store": "file:///srv/releases", "name": "local-text-retrieval-v1",
     "release": "model-v1.0.1", "manifest_sha256": "...", "variants": ["int8"],
     "files": {"onnx/model_quantized.onnx": {"size": 23000000, "sha256": "..."}, ...}}

``files`` lists the release files fetched for the chosen variants; MANIFEST.txt itself sits
beside them, its digest being ``manifest_sha256``. ``variants`` is empty for a release
without profile.json (a generic artifact: every file is fetched).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tether.atomic import write_atomic
from tether.errors import ManifestError
from tether.names import PREPARED_FILE, PROFILE_FILE
from tether.paths import check_relative_path

#: What a profile folder can be prepared for: one variant, or every variant of the release.
VARIANT_CHOICES = ("fp32", "int8", "both")
SCHEMA = 1


@dataclass(frozen=True)
class PreparedFile:
    size: int
    sha256: str


@dataclass(frozen=True)
class Prepared:
    store: str
    name: str
    release: str  # "model-v1.0.1"
    manifest_sha256: str
    variants: list[str]
    files: dict[str, PreparedFile] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.release.removeprefix("model-v")

    def to_json(self) -> str:
        data = {
            "schema": SCHEMA,
            "store": self.store,
            "name": self.name,
            "release": self.release,
            "manifest_sha256": self.manifest_sha256,
            "variants": list(self.variants),
            "files": {
                path: {"size": f.size, "sha256": f.sha256} for path, f in sorted(self.files.items())
            },
        }
        return json.dumps(data, indent=2) + "\n"


def read_prepared(folder: Path) -> Prepared | None:
    """The folder's .prepared.json, None when absent; ManifestError when malformed."""
    path = Path(folder) / PREPARED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if data.get("schema") != SCHEMA:
            raise ManifestError(
                f"{path}: unknown .prepared.json schema {data.get('schema')!r}",
                "re-fetch with this version of tether: tether fetch",
            )
        files = {}
        for rel, entry in data["files"].items():
            check_relative_path(rel, where=str(path))
            files[rel] = PreparedFile(size=int(entry["size"]), sha256=str(entry["sha256"]))
        return Prepared(
            store=str(data["store"]),
            name=str(data["name"]),
            release=str(data["release"]),
            manifest_sha256=str(data["manifest_sha256"]),
            variants=[str(v) for v in data["variants"]],
            files=files,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(
            f"{path} is malformed ({exc.__class__.__name__}: {exc})",
            "re-fetch the profile: tether fetch",
        ) from exc


def write_prepared(folder: Path, prepared: Prepared) -> None:
    """Write .prepared.json atomically (temp file in the folder, fsync, rename)."""
    write_atomic(Path(folder) / PREPARED_FILE, prepared.to_json().encode("utf-8"))


def already_prepared(folder: Path, name: str, release: str, variants: str) -> Prepared | None:
    """The folder's record when it already holds ``release`` for ``variants``, else None.

    Stat-only (no hashing, no store): every listed file must exist with its recorded size.
    ``variants`` is fp32, int8, or both (every variant profile.json declares).
    """
    try:
        prepared = read_prepared(folder)
    except ManifestError:
        return None
    if prepared is None or prepared.name != name or prepared.release != release:
        return None
    wanted = [variants] if variants != "both" else _declared_variants(Path(folder))
    if prepared.variants != wanted:
        return None
    for rel, entry in prepared.files.items():
        try:
            if (Path(folder) / rel).stat().st_size != entry.size:
                return None
        except OSError:
            return None
    return prepared


def _declared_variants(folder: Path) -> list[str]:
    try:
        return sorted(json.loads((folder / PROFILE_FILE).read_text(encoding="utf-8"))["variants"])
    except FileNotFoundError:
        return []  # a generic artifact: no variants
    except (ValueError, KeyError, TypeError):
        return ["<unreadable profile.json>"]
