"""Extra offline assets an app bundles beside its model, declared in the recipe.

N.E.K.O warms a tiktoken cache before its offline build; tether makes that a declared,
hashed input instead of a side effect::

    [[bundle.assets]]
    name = "tiktoken_cache"                 # folder in the bundle (and in the app)
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    file = "fb374d419588a4632f3f557e76b4b70aebbca790"   # name inside the folder
    sha256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

    [[bundle.assets]]
    name = "stopwords"
    path = "data/stopwords"                 # a local folder (or file), relative to the recipe
    sha256 = "sha256:<tree digest>"         # `tether bundle digest data/stopwords` prints it

A URL is downloaded the way release files are: to a temp name, hashed while written, kept
only when the digest matches. A local path is copied and the *copy* is hashed, so what is
checked is what ships. A folder's digest is ``sha256:`` + the sha256 of its ``sha256sum``
listing (sorted paths), the same tree digest a path source's revision uses.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from tether.bundle.layout import RESERVED_NAMES, BundledAsset
from tether.errors import ConfigError, IntegrityError, InvalidNameError, StoreUnavailableError
from tether.hashing import list_files, listing_digest, sha256_file, sha256_files
from tether.names import TEMP_SUFFIX
from tether.paths import check_name
from tether.prepared import PreparedFile

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ASSET_KEYS = ("name", "path", "url", "file", "sha256")
DOWNLOAD_ATTEMPTS = 3
TIMEOUT = 60.0
CHUNK = 1 << 20


@dataclass(frozen=True)
class AssetSpec:
    """One ``[[bundle.assets]]`` entry, validated."""

    name: str
    sha256: str  # hex for one file, "sha256:<hex>" for a folder (normalised once resolved)
    source: str  # as declared: the URL or the path text
    path: Path | None = None  # absolute local file or folder
    url: str | None = None
    file: str | None = None  # file name inside <name>/ for a single file

    @property
    def is_folder(self) -> bool:
        return self.path is not None and self.path.is_dir()


def read_asset_specs(table: dict[str, Any], base_dir: Path, where: str) -> list[AssetSpec]:
    """Validate the ``[[bundle.assets]]`` of a ``[bundle]`` table (tether.bundle.settings);
    relative paths are relative to ``base_dir``."""
    entries = table.get("assets", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{where}: bundle.assets must be an array of tables ([[bundle.assets]])")
    specs: list[AssetSpec] = []
    for number, entry in enumerate(entries, start=1):
        label = f"{where}: [[bundle.assets]] #{number}"
        unknown = sorted(set(entry) - set(_ASSET_KEYS))
        if unknown:
            raise ConfigError(
                f"{label}: unknown key '{unknown[0]}'", f"allowed keys: {', '.join(_ASSET_KEYS)}"
            )
        for key, value in entry.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{label}: {key} must be a non-empty string")
        name = entry.get("name")
        if name is None:
            raise ConfigError(f"{label}: name is missing", "name the asset's folder in the bundle")
        try:
            check_name(name)
        except InvalidNameError as exc:
            raise ConfigError(
                f"{label}: name {name!r} is not a valid folder name", exc.hint
            ) from None
        if name in RESERVED_NAMES or any(s.name == name for s in specs):
            raise ConfigError(f"{label}: name {name!r} is taken", "choose another folder name")
        if ("path" in entry) == ("url" in entry):
            raise ConfigError(
                f"{label}: give exactly one of path (a local file or folder) or url",
                'e.g. url = "https://..." with sha256 = "<64 hex>"',
            )
        file = entry.get("file")
        if file is not None and (file != PurePosixPath(file).name or file in (".", "..")):
            raise ConfigError(f"{label}: file {file!r} must be a plain file name, no folders")
        if "url" in entry:
            spec = _url_spec(label, name, entry["url"], file, entry.get("sha256"))
        else:
            spec = _path_spec(label, name, entry["path"], file, entry.get("sha256"), base_dir)
        specs.append(spec)
    return specs


def _url_spec(label: str, name: str, url: str, file: str | None, sha: str | None) -> AssetSpec:
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http", "file"):
        raise ConfigError(f"{label}: url {url!r} is not an http(s):// or file:// URL")
    file = file or PurePosixPath(parsed.path).name
    if not file:
        raise ConfigError(f"{label}: cannot name the file from {url!r}", "add file = '<name>'")
    digest = _file_digest(label, sha)
    return AssetSpec(name=name, sha256=digest, source=url, url=url, file=file)


def _path_spec(
    label: str, name: str, text: str, file: str | None, sha: str | None, base_dir: Path
) -> AssetSpec:
    path = Path(text).expanduser()
    path = (path if path.is_absolute() else base_dir / path).absolute()
    if not path.exists():
        raise ConfigError(f"{label}: path {path} does not exist", "create it before bundling")
    if path.is_dir():
        if file is not None:
            raise ConfigError(f"{label}: file applies to a single file, {path} is a folder")
        if sha is None:
            raise ConfigError(
                f"{label}: sha256 is missing",
                f"pin the folder's content: sha256 = '{folder_digest(path)}'",
            )
        hexpart = sha.removeprefix("sha256:")
        if not _HEX64.match(hexpart):
            raise ConfigError(f"{label}: sha256 must be 'sha256:<64 lowercase hex>' for a folder")
        return AssetSpec(name=name, sha256="sha256:" + hexpart, source=text, path=path)
    if sha is None:
        raise ConfigError(
            f"{label}: sha256 is missing",
            f"pin the file's content: sha256 = '{sha256_files([path])[path]}'",
        )
    digest = _file_digest(label, sha)
    return AssetSpec(name=name, sha256=digest, source=text, path=path, file=file or path.name)


def _file_digest(label: str, sha: str | None) -> str:
    if sha is None:
        raise ConfigError(f"{label}: sha256 is missing", "declare the file's sha256 (64 hex)")
    hexpart = sha.removeprefix("sha256:")
    if not _HEX64.match(hexpart):
        raise ConfigError(f"{label}: sha256 {sha!r} is not 64 lowercase hex digits")
    return hexpart


def asset_digest(path: Path) -> str:
    """The sha256 to declare for a ``[[bundle.assets]]`` file (hex) or folder (tree digest)."""
    path = Path(path)
    return folder_digest(path) if path.is_dir() else sha256_file(path)


def folder_digest(folder: Path) -> str:
    """``sha256:<hex>`` of a folder's files (links refused: a bundle holds plain files)."""
    folder = Path(folder)
    try:
        rels = list_files(folder)
    except ValueError as exc:
        raise ConfigError(str(exc), "replace links with the files they point to") from exc
    digests = sha256_files([folder / rel for rel in rels])
    return listing_digest({rel: digests[folder / rel] for rel in rels})


def materialize(spec: AssetSpec, target: Path) -> BundledAsset:
    """Put ``spec``'s files into ``target`` (a new folder), verified against its sha256."""
    target.mkdir(parents=True, exist_ok=False)
    if spec.url is not None:
        assert spec.file is not None
        download_url_verified(spec.url, spec.sha256, target / spec.file, what=spec.name)
        rels = [spec.file]
    elif spec.is_folder:
        assert spec.path is not None
        try:
            rels = list_files(spec.path)
        except ValueError as exc:
            raise ConfigError(str(exc), "replace links with the files they point to") from exc
        for rel in rels:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(spec.path / rel, target / rel)
    else:
        assert spec.path is not None and spec.file is not None
        shutil.copyfile(spec.path, target / spec.file)
        rels = [spec.file]
    digests = sha256_files([target / rel for rel in rels])
    files = {
        rel: PreparedFile((target / rel).stat().st_size, digests[target / rel]) for rel in rels
    }
    if spec.is_folder:
        got = listing_digest({rel: f.sha256 for rel, f in files.items()})
        if got != spec.sha256:
            raise IntegrityError(
                f"asset {spec.name} ({spec.source}) has digest {got}, the recipe declares "
                f"{spec.sha256}",
                f"restore the folder, or if the change is intended set sha256 = '{got}'",
            )
    elif spec.url is None:
        got = files[rels[0]].sha256
        if got != spec.sha256:
            raise IntegrityError(
                f"asset {spec.name} ({spec.source}) has sha256 {got}, the recipe declares "
                f"{spec.sha256}",
                f"restore the file, or if the change is intended set sha256 = '{got}'",
            )
    return BundledAsset(name=spec.name, source=spec.source, sha256=spec.sha256, files=files)


def download_url_verified(url: str, expected: str, target: Path, *, what: str) -> None:
    """Stream ``url`` into ``target`` via a temp name, hashing as it goes; resume a dropped
    connection with a ranged request. IntegrityError (nothing kept) when the digest differs.
    """
    temp = target.with_name(f".{target.name}.{os.getpid()}{TEMP_SUFFIX}")
    state = _Download()
    attempts = 0
    try:
        with open(temp, "wb") as handle:
            while True:
                try:
                    _read_into(url, handle, state)
                    break
                except (OSError, urllib.error.URLError) as exc:
                    if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                        raise StoreUnavailableError(
                            f"cannot download asset {what} from {url}: HTTP {exc.code}",
                            "check the URL in [[bundle.assets]]",
                        ) from exc
                    attempts += 1
                    if attempts >= DOWNLOAD_ATTEMPTS:
                        raise StoreUnavailableError(
                            f"cannot download asset {what} from {url}: {exc}",
                            "check the network, or declare path = a local copy instead of url",
                        ) from exc
            handle.flush()
            os.fsync(handle.fileno())
        got = state.digest.hexdigest()
        if got != expected:
            raise IntegrityError(
                f"asset {what} from {url} has sha256 {got[:12]}..., the recipe declares "
                f"{expected[:12]}...",
                "the download is corrupt or the file changed upstream; nothing was kept",
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


class _Download:
    """Bytes written so far and their running digest (reset when a server ignores a range)."""

    def __init__(self) -> None:
        self.written = 0
        self.digest = hashlib.sha256()


def _read_into(url: str, handle: Any, state: _Download) -> None:
    """Append ``url``'s bytes after ``state.written`` to ``handle``."""
    request = urllib.request.Request(url, headers={"User-Agent": "tether"})
    if state.written:
        request.add_header("Range", f"bytes={state.written}-")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        if state.written and getattr(response, "status", None) != 206:
            handle.seek(0)  # the server ignored the range: start over
            handle.truncate()
            state.__init__()
        while chunk := response.read(CHUNK):
            handle.write(chunk)
            state.digest.update(chunk)
            state.written += len(chunk)
