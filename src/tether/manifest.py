"""MANIFEST.txt and provenance.intoto.json: which bytes a release holds, and how they were made.

MANIFEST.txt is for people and for ``sha256sum``: its file section is exactly sha256sum
output (digest, two spaces, path), so that in a release folder::

    grep -E '^[0-9a-f]{64}  ' MANIFEST.txt | sha256sum -c

checks every file with no tether installed. The other sections are ``key: value`` facts
(Tooling, Source, Build). provenance.intoto.json states the same facts as an in-toto
Statement v1 with a SLSA provenance v1 predicate, the form signing tools consume.

MANIFEST.txt lists every file of the release but itself, provenance.intoto.json included,
so it is the one root every other file is checked against.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from tether.atomic import write_atomic
from tether.errors import IntegrityError, ManifestError, shorten
from tether.git import COMMIT_ID, head_commit
from tether.hashing import list_files, sha256_bytes, sha256_files
from tether.names import (
    GITHUB_REPOSITORY_ENV,
    GITHUB_SERVER_URL_ENV,
    GITHUB_SHA_ENV,
    MANIFEST_FILE,
    PROVENANCE_FILE,
    SOURCE_DATE_EPOCH_ENV,
)
from tether.paths import check_relative_path

FILES_HEADER = "## Files (SHA256)"
UNRELEASED = "unreleased"

_HEADER = re.compile(r"^# (?P<name>\S+) (?P<label>model-v\S+|unreleased) provenance$")
_FILE_LINE = re.compile(r"^(?P<digest>[0-9a-f]{64})  (?P<path>.+)$")
_SECTION = re.compile(r"^## (?P<title>\S.*)$")


@dataclass(frozen=True)
class Manifest:
    """The facts of one release (``version`` None: a build not yet released)."""

    name: str
    version: str | None
    files: dict[str, str]  # relative POSIX path -> sha256 hex
    sections: dict[str, dict[str, str]] = field(default_factory=dict)  # Tooling, Source, Build

    @property
    def label(self) -> str:
        return f"model-v{self.version}" if self.version else UNRELEASED

    def fact(self, section: str, key: str, default: str = "") -> str:
        return self.sections.get(section, {}).get(key, default)


def render_manifest(manifest: Manifest) -> str:
    lines = [f"# {manifest.name} {manifest.label} provenance", "", FILES_HEADER]
    lines += [f"{digest}  {path}" for path, digest in sorted(manifest.files.items())]
    for title, facts in manifest.sections.items():
        lines += ["", f"## {title}"]
        lines += [f"{key}: {value}" for key, value in facts.items()]
    return "\n".join(lines) + "\n"


def parse_manifest(text: str | bytes, *, where: str = MANIFEST_FILE) -> Manifest:
    """Parse MANIFEST.txt strictly: any malformed or unsafe line is a ManifestError.

    ``text`` may be the file's raw bytes: bytes that are not UTF-8 are a ManifestError too
    (callers that decode themselves get UnicodeDecodeError; tests/test_parsers_fuzz.py).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    # Lines end at \n (or \r\n) only, as for sha256sum -c: str.splitlines would also split
    # at \x85 or \u2028 inside a path (tests/test_parsers_fuzz.py, the round trip).
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        raise ManifestError(f"{where}: first line is not '# <name> model-v<version> provenance'")
    label = header["label"]
    version = None if label == UNRELEASED else label.removeprefix("model-v")
    files: dict[str, str] = {}
    sections: dict[str, dict[str, str]] = {}
    current: str | None = None
    seen_files_section = False
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        section = _SECTION.match(line)
        if section:
            current = section["title"]
            if current == FILES_HEADER[3:]:
                if seen_files_section:
                    raise ManifestError(f"{where}:{number}: a second file section")
                seen_files_section = True
            elif current in sections:
                raise ManifestError(f"{where}:{number}: section '{current}' appears twice")
            else:
                sections[current] = {}
            continue
        if current is None:
            raise ManifestError(f"{where}:{number}: text before the first section: {shorten(line)}")
        if current == FILES_HEADER[3:]:
            entry = _FILE_LINE.match(line)
            if entry is None:
                raise ManifestError(
                    f"{where}:{number}: not '<64 lowercase hex sha256>  <path>': {shorten(line)}"
                )
            path = check_relative_path(entry["path"], where=f"{where}:{number}")
            if path in files:
                raise ManifestError(f"{where}:{number}: {path} is listed twice")
            files[path] = entry["digest"]
        else:
            key, sep, value = line.partition(": ")
            if not sep or not key or key in sections[current]:
                raise ManifestError(
                    f"{where}:{number}: not a unique 'key: value' line: {shorten(line)}"
                )
            sections[current][key] = value
    if not files:
        raise ManifestError(f"{where}: no '{FILES_HEADER}' section with file digests")
    return Manifest(name=header["name"], version=version, files=files, sections=sections)


def _source_uri(model: str, revision: str) -> str:
    """SLSA wants URIs: a Hub repo id at a commit is its Hub address; a local folder a URN."""
    if not model or "://" in model:
        return model
    if re.fullmatch(r"[0-9a-f]{40}", revision) and re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        return f"https://huggingface.co/{model}"
    return f"urn:tether:source:{quote(model, safe='')}"


def _builder_uri(workflow: str) -> str:
    """The CI run's URL, or a URN for a build on a developer's machine (never bare "local")."""
    return workflow if "://" in workflow else f"urn:tether:builder:{quote(workflow, safe='')}"


def render_provenance(manifest: Manifest) -> str:
    """The manifest's facts as an in-toto Statement v1 with a SLSA provenance v1 predicate."""
    source = manifest.sections.get("Source", {})
    build = manifest.sections.get("Build", {})
    revision = source.get("revision", "")
    dependency: dict[str, object] = {"uri": _source_uri(source.get("model", ""), revision)}
    if revision.startswith("sha256:"):
        dependency["digest"] = {"sha256": revision.removeprefix("sha256:")}
    elif revision:
        dependency["digest"] = {"gitCommit": revision}
    workflow = build.get("workflow", "local")
    timestamp = build.get("timestamp", "")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": path, "digest": {"sha256": digest}}
            for path, digest in sorted(manifest.files.items())
            if path != PROVENANCE_FILE
        ],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://github.com/tether-models/tether/build/v1",
                "externalParameters": {
                    "name": manifest.name,
                    "version": manifest.version,
                    "recipe": build.get("recipe", ""),
                    "source": source,
                },
                "internalParameters": {
                    "tooling": manifest.sections.get("Tooling", {}),
                    "build": build,
                },
                "resolvedDependencies": [dependency] if dependency["uri"] else [],
            },
            "runDetails": {
                "builder": {"id": _builder_uri(workflow)},
                "metadata": {
                    "invocationId": workflow,
                    "startedOn": build.get("started", timestamp),
                    "finishedOn": build.get("finished", timestamp),
                },
            },
        },
    }
    return json.dumps(statement, indent=2) + "\n"


def hash_payload(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` but MANIFEST.txt and provenance.intoto.json."""
    folder = Path(folder)
    payload = [rel for rel in list_files(folder) if rel not in (MANIFEST_FILE, PROVENANCE_FILE)]
    for rel in payload:
        check_relative_path(rel, where=str(folder))
    digests = sha256_files([folder / rel for rel in payload])
    return {rel: digests[folder / rel] for rel in payload}


def seal(manifest: Manifest) -> tuple[Manifest, str]:
    """Add provenance to a manifest of the payload: (final manifest, provenance text).

    The provenance's subjects are the payload files; the final MANIFEST also lists the
    provenance file itself, so MANIFEST.txt is the single root of trust.
    """
    payload = {rel: d for rel, d in manifest.files.items() if rel != PROVENANCE_FILE}
    provenance = render_provenance(
        Manifest(manifest.name, manifest.version, payload, manifest.sections)
    )
    files = {**payload, PROVENANCE_FILE: sha256_bytes(provenance.encode("utf-8"))}
    return Manifest(manifest.name, manifest.version, files, manifest.sections), provenance


def write_release_metadata(folder: Path, manifest: Manifest) -> Manifest:
    """Hash ``folder``'s files and write its provenance and MANIFEST.txt (returned).

    ``manifest`` supplies name, version and the fact sections; its ``files`` are ignored
    and recomputed from the folder.
    """
    folder = Path(folder)
    draft = Manifest(manifest.name, manifest.version, hash_payload(folder), manifest.sections)
    final, provenance = seal(draft)
    write_atomic(folder / PROVENANCE_FILE, provenance.encode("utf-8"))
    write_atomic(folder / MANIFEST_FILE, render_manifest(final).encode("utf-8"))
    return final


def build_timestamp() -> str:
    """UTC build time, from SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    epoch = os.environ.get(SOURCE_DATE_EPOCH_ENV)
    moment = (
        datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        if epoch and epoch.strip().isdigit()
        else datetime.now(tz=timezone.utc)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ci_run_url(explicit: str | None = None) -> str:
    """The CI run that builds: --run-url, GitHub Actions, GitLab CI, or "local"."""
    if explicit:
        return explicit
    env = os.environ
    repository = env.get(GITHUB_REPOSITORY_ENV)
    if env.get("GITHUB_RUN_ID") and repository:
        server = env.get(GITHUB_SERVER_URL_ENV, "https://github.com")
        return f"{server}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
    if env.get("CI_JOB_URL"):
        return env["CI_JOB_URL"]
    return "local"


def source_commit(project_dir: Path | None = None) -> str | None:
    """The consuming repo's commit for the Build section: ``$GITHUB_SHA`` in a workflow,
    else ``git rev-parse HEAD`` of ``project_dir`` (default: the current folder) when it is
    in a git work tree and git is installed; None otherwise
    (tests/quality/test_notes_commits.py)."""
    explicit = os.environ.get(GITHUB_SHA_ENV, "").strip().lower()
    if COMMIT_ID.fullmatch(explicit):
        return explicit
    return head_commit(Path(project_dir) if project_dir is not None else Path.cwd())


def commit_fact(project_dir: Path | None = None) -> dict[str, str]:
    """The Build section's ``commit`` fact (:func:`source_commit`), empty when there is none."""
    commit = source_commit(project_dir)
    return {"commit": commit} if commit else {}


def check_folder(folder: Path, manifest: Manifest, *, where: str) -> None:
    """Raise IntegrityError naming every file of ``folder`` that differs from ``manifest``."""
    folder = Path(folder)
    present = {rel for rel in list_files(folder) if rel not in (MANIFEST_FILE, PROVENANCE_FILE)}
    listed = {rel for rel in manifest.files if rel != PROVENANCE_FILE}
    problems = [f"missing: {rel}" for rel in sorted(listed - present)]
    problems += [f"not in MANIFEST: {rel}" for rel in sorted(present - listed)]
    common = sorted(listed & present)
    digests = sha256_files([folder / rel for rel in common])
    problems += [
        f"changed: {rel}" for rel in common if digests[folder / rel] != manifest.files[rel]
    ]
    if problems:
        raise IntegrityError(
            f"{where} does not match its MANIFEST.txt ({len(problems)} problem(s))",
            "rebuild the folder; files must not change between build and release",
            problems=problems,
        )
