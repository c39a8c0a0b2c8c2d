"""`.prepared.json`: the record, written last, that a profile folder holds a verified release.

Its presence means every file it lists was verified against the release's MANIFEST when it
was written; the runtime's completeness check is then stat-only (sizes), and
`tether verify` re-hashes. Example::

    {"schema": 1, "store": "file:///srv/releases", "name": "local-text-retrieval-v1",
     "release": "model-v1.0.1", "manifest_sha256": "...", "variants": ["int8"],
     "files": {"onnx/model_quantized.onnx": {"size": 23000000, "sha256": "..."}, ...}}

``files`` lists the release files fetched for the chosen variants; MANIFEST.txt itself sits
beside them, its digest being ``manifest_sha256``. ``variants`` is empty for a release
without profile.json (a generic artifact: every file is fetched). Whether a folder already
holds a release needs profile.json too, so that check is ``tether.profile.already_prepared``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tether.atomic import write_atomic
from tether.errors import ManifestError, shorten
from tether.names import PREPARED_FILE
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
    """The folder's .prepared.json, None when absent; ManifestError when malformed or unreadable."""
    path = Path(folder) / PREPARED_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a folder in its place, no permission, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError(f"{path} cannot be read ({reason})", _REFETCH_HINT) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
        if data.get("schema") != SCHEMA:
            raise ManifestError(
                f"{path}: unknown .prepared.json schema {shorten(repr(data.get('schema')))}",
                "rewrite it with this version of tether: tether fetch --repair",
            )
        files = {}
        for rel, entry in data["files"].items():
            check_relative_path(rel, where=str(path))
            size = entry["size"]
            # write_prepared writes ints; a float, bool or negative size would break the
            # stat-only check (tests/test_prepared.py::test_malformed_is_refused).
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ManifestError(
                    f"{path}: size of {rel} is {shorten(repr(size))}, not a byte count",
                    _REFETCH_HINT,
                )
            files[rel] = PreparedFile(size=size, sha256=str(entry["sha256"]))
        return Prepared(
            store=str(data["store"]),
            name=str(data["name"]),
            release=str(data["release"]),
            manifest_sha256=str(data["manifest_sha256"]),
            variants=[str(v) for v in data["variants"]],
            files=files,
        )
    except ManifestError:
        raise
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})", _REFETCH_HINT
        ) from exc
    # RecursionError: absurdly deep nesting (tests/test_parsers_fuzz.py).
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ManifestError(
            f"{path} is malformed ({exc.__class__.__name__}: {exc})", _REFETCH_HINT
        ) from exc


_REFETCH_HINT = "repair it: tether fetch --repair"


def write_prepared(folder: Path, prepared: Prepared) -> None:
    """Write .prepared.json atomically (temp file in the folder, fsync, rename)."""
    write_atomic(Path(folder) / PREPARED_FILE, prepared.to_json().encode("utf-8"))
