"""Crafted releases are refused by every store, at fetch and at publish.

A folder store is a folder anyone with write access can shape; an OCI manifest and an S3
listing are whatever the server says. Each case writes a release straight into the
backend (files on disk; blobs and a manifest pushed with requests; objects put with boto3
against the real servers tests/store_harness.py starts), pins it over a good profile and
runs `tether fetch`. Each must end with: exit non-zero, one line on stderr naming the
problem, nothing written outside the dest root, the previous profile intact, and (for what
the store lists) the store's own listing refusing it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from _pytest.mark import ParameterSet
from click.testing import CliRunner

from tests.factories import write_random
from tests.servers import Server, s3_client
from tests.store_harness import StoreHarness
from tether.cli import main
from tether.errors import TetherError
from tether.hashing import sha256_bytes
from tether.manifest import Manifest, render_manifest
from tether.names import FETCH_STATE_DIR
from tether.spine import publish_release, verify_profile, write_pin
from tether.stores.base import Store
from tether.stores.oci import EMPTY, EMPTY_DATA, FILEPATH, MODEL_ARTIFACT, OCI_MANIFEST, WEIGHT
from tether.stores.s3 import S3Store

NAME = "demo"
MODEL = b"M" * 5000 + bytes(range(256))
SECRET = b"the secret outside the store\n"
BASE = [("model.bin", MODEL), ("vocab.txt", b"[PAD]\n[UNK]\n")]


@dataclass
class Entry:
    path: str
    data: bytes
    size: int | None = None  # what the OCI layer claims (None: the truth)


@dataclass
class Crafter:
    kind: str
    url: str
    store: Store
    #: write(version, entries): a release as the backend would hold it, publish bypassed
    write: Callable[[str, list[Entry]], None]
    #: remove(version, path): take one file out of a release behind tether's back
    remove: Callable[[str, str], None]


def _file_crafter(harness: StoreHarness) -> Crafter:
    root = Path(harness.url)

    def write(version: str, entries: list[Entry]) -> None:
        folder = root / NAME / f"model-v{version}"
        for entry in entries:
            (folder / entry.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / entry.path).write_bytes(entry.data)

    def remove(version: str, path: str) -> None:
        target = root / NAME / f"model-v{version}" / path
        target.unlink()
        if not any(target.parent.iterdir()):
            target.parent.rmdir()

    return Crafter("file", harness.url, harness.store, write, remove)


def _oci_crafter(harness: StoreHarness, server: Server) -> Crafter:
    base = f"http://{server.url}"
    repo = f"{urlparse(harness.url).path.strip('/')}/{NAME}"

    def blob(data: bytes) -> str:
        digest = "sha256:" + sha256_bytes(data)
        started = requests.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=10)
        started.raise_for_status()
        location = started.headers["Location"]
        location = location if "://" in location else base + location
        sep = "&" if "?" in location else "?"
        requests.put(f"{location}{sep}digest={digest}", data=data, timeout=10).raise_for_status()
        return digest

    def layers_of(version: str) -> list[dict[str, object]]:
        got = requests.get(
            f"{base}/v2/{repo}/manifests/model-v{version}",
            headers={"Accept": OCI_MANIFEST},
            timeout=10,
        )
        return [] if got.status_code == 404 else list(got.json()["layers"])

    def push(version: str, layers: list[dict[str, object]]) -> None:
        blob(EMPTY_DATA)
        config = {"mediaType": EMPTY, "digest": "sha256:" + sha256_bytes(EMPTY_DATA), "size": 2}
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": MODEL_ARTIFACT,
            "config": config,
            "layers": layers,
        }
        requests.put(
            f"{base}/v2/{repo}/manifests/model-v{version}",
            data=json.dumps(doc).encode(),
            headers={"Content-Type": OCI_MANIFEST},
            timeout=10,
        ).raise_for_status()

    def path_of(layer: dict[str, object]) -> object:
        return (layer.get("annotations") or {}).get(FILEPATH)  # type: ignore[union-attr]

    def write(version: str, entries: list[Entry]) -> None:
        new = [
            {
                "mediaType": WEIGHT,
                "digest": blob(e.data),
                "size": len(e.data) if e.size is None else e.size,
                "annotations": {FILEPATH: e.path},
            }
            for e in entries
        ]
        paths = {e.path for e in entries}
        push(version, [lay for lay in layers_of(version) if path_of(lay) not in paths] + new)

    def remove(version: str, path: str) -> None:  # a new manifest under the same tag
        push(version, [lay for lay in layers_of(version) if path_of(lay) != path])

    return Crafter("oci", harness.url, harness.store, write, remove)


def _s3_crafter(harness: StoreHarness, server: Server) -> Crafter:
    client = s3_client(server)
    bucket = str(server.extra["bucket"])
    prefix = urlparse(harness.url).path.strip("/")

    def write(version: str, entries: list[Entry]) -> None:
        for entry in sorted(entries, key=lambda e: e.path == "MANIFEST.txt"):  # the commit last
            key = f"{prefix}/{NAME}/model-v{version}/{entry.path}"
            client.put_object(Bucket=bucket, Key=key, Body=entry.data)

    def remove(version: str, path: str) -> None:
        client.delete_object(Bucket=bucket, Key=f"{prefix}/{NAME}/model-v{version}/{path}")

    return Crafter("s3", harness.url, harness.store, write, remove)


@pytest.fixture(params=["file", "oci", "s3"])
def crafter(request: pytest.FixtureRequest) -> Crafter:
    harness = request.getfixturevalue(f"harness_{request.param}")
    if request.param == "file":
        return _file_crafter(harness)
    if request.param == "oci":
        return _oci_crafter(harness, request.getfixturevalue("registry_server"))
    return _s3_crafter(harness, request.getfixturevalue("seaweed_server"))


# --- the checks every case ends with ---------------------------------------------------


@dataclass
class Setup:
    crafter: Crafter
    project: Path
    dest: Path
    before: dict[str, str]  # the good profile's files and their digests

    @property
    def folder(self) -> Path:
        return self.dest / NAME


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _tree(root: Path, skip: Path) -> list[tuple[str, int, int]]:
    """Everything below ``root`` but ``skip``: (path, size, mtime) without following links."""
    found = []
    for dirpath, dirs, names in os.walk(root):
        if Path(dirpath) == skip:
            dirs[:] = []
            continue
        for entry in dirs + names:
            path = Path(dirpath, entry)
            if path == skip:
                continue
            info = path.lstat()
            found.append((str(path.relative_to(root)), info.st_size, info.st_mtime_ns))
    return sorted(found)


def _make_setup(crafter: Crafter, tmp_path: Path) -> Setup:
    """A good release 1.0.0 (with a folder sub/), fetched: the profile that must survive."""
    source = tmp_path / "good"
    write_random(source / "model.bin", 100_000, seed=1)
    (source / "sub").mkdir()
    (source / "sub" / "a.txt").write_text("a\n")
    publish_release(crafter.store, source, name=NAME, version="1.0.0")
    project = tmp_path / "project"
    write_pin(project, "1.0.0")
    dest = project / "models"
    code, _, err = _fetch(crafter, project)
    assert code == 0, err
    return Setup(crafter, project, dest, _digests(dest / NAME))


@pytest.fixture
def setup(crafter: Crafter, tmp_path: Path) -> Setup:
    return _make_setup(crafter, tmp_path)


def _fetch(crafter: Crafter, project: Path, *extra: str) -> tuple[int, str, str]:
    args = ["fetch", "--store", crafter.url, "--name", NAME, "--project", str(project)]
    result = CliRunner().invoke(main, [*args, "--profiles-dir", "models", *extra])
    return result.exit_code, result.stdout, result.stderr


def _refused(setup: Setup, tmp_path: Path, expect: str, *extra: str) -> str:
    """Fetch the pin; it must be refused with one line naming ``expect``, writing nothing
    outside the dest root, the previous profile intact. Returns the line."""
    outside = _tree(tmp_path, setup.dest)
    code, out, err = _fetch(setup.crafter, setup.project, *extra)
    assert code != 0, out
    lines = [line for line in err.strip().splitlines() if not line.startswith("fetching ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err  # progress lines aside
    assert expect in lines[0], lines[0]
    assert _tree(tmp_path, setup.dest) == outside  # nothing written outside dest
    assert _digests(setup.folder) == setup.before  # the previous profile, byte for byte
    assert verify_profile(setup.folder).release == "model-v1.0.0"
    assert set(os.listdir(setup.dest / FETCH_STATE_DIR)) <= {f"{NAME}.lock"}
    for path in setup.dest.rglob("*"):
        assert not path.is_symlink()
        assert not path.is_file() or SECRET not in path.read_bytes()
    return lines[0]


def _manifest(entries: list[tuple[str, bytes]], version: str = "2.0.0") -> Entry:
    files = {path: sha256_bytes(data) for path, data in entries}
    return Entry("MANIFEST.txt", render_manifest(Manifest(NAME, version, files, {})).encode())


def _release(
    listing: list[tuple[str, bytes]], listed: list[tuple[str, bytes]] | None = None
) -> list[Entry]:
    """The store holds ``listing``; its MANIFEST lists ``listed`` (default: the same)."""
    return [Entry(p, d) for p, d in listing] + [_manifest(listing if listed is None else listed)]


# --- the cases -------------------------------------------------------------------------

ALL = ("file", "oci", "s3")
Files = list[tuple[str, bytes]]


def case(
    name: str,
    holds: Files,
    expect: str,
    *,
    lists: Files | None = None,
    kinds: tuple[str, ...] = ALL,
    in_listing: tuple[str, ...] = ALL,
) -> list[ParameterSet]:
    """The store holds ``holds``; its MANIFEST lists ``lists`` (default: the same); the error
    names ``expect``; ``kinds``: the stores that can hold this shape (a folder on disk cannot
    hold a file and a folder of one name; SeaweedFS refuses or rewrites some keys that AWS
    keeps, which the S3 listing test covers); ``in_listing``: the kinds whose own listing
    refuses it too."""
    return [
        pytest.param(kind, holds, lists, expect, in_listing, id=f"{name}-{kind}") for kind in kinds
    ]


CASES = [
    case("reserved-state-lock", [*BASE, (".tether/demo.lock", b"")], "is reserved ('.tether'"),
    case("reserved-rollback", [*BASE, (".tether/demo.verified.json", b"{}")], "is reserved"),
    case("reserved-prepared", [*BASE, (".prepared.json", b"{}")], "reserved (.prepared.json"),
    case("reserved-nested-prepared", [*BASE, ("sub/.prepared.json", b"{}")], "is reserved"),
    case("reserved-temp", [*BASE, ("model.bin.tether-part", b"half")], "'.tether-part' ends"),
    case("reserved-state-name", [*BASE, (".tether", b"x")], "is reserved ('.tether'"),
    case("same-file-two-cases", [*BASE, ("Model.bin", b"other")], "name the same file on"),
    case(
        "file-and-folder",
        [*BASE, ("a", b"x"), ("a/b", b"y")],
        "'a' is both a file and a folder",
        kinds=("oci", "s3"),
    ),
    case(  # a folder on disk cannot hold both: its MANIFEST lists both
        "file-and-folder-in-manifest",
        [*BASE, ("a/b", b"y")],
        "'a' is both a file and a folder",
        lists=[*BASE, ("a", b"x"), ("a/b", b"y")],
        in_listing=(),
    ),
    # SeaweedFS stores a key a\\b as a/b: there only the MANIFEST's a\\b is left to refuse
    case("backslash", [*BASE, ("a\\b", b"x")], "backslash)", in_listing=("file", "oci")),
    case("tab", [*BASE, ("a\tb", b"x")], "(it contains a tab)"),
    case("newline", [*BASE, ("a\nb", b"x")], "(it contains a newline)", lists=BASE),
    case("carriage-return", [*BASE, ("a\rb", b"x")], "(it contains a carriage", lists=BASE),
    case(
        "escaping-path",
        [*BASE, ("../escaped.txt", b"x")],
        "escapes the release folder",
        lists=BASE,
        kinds=("oci",),
    ),
    case(
        "escaping-path-in-manifest",
        BASE,
        "escapes the release folder",
        lists=[*BASE, ("../escaped.txt", b"x")],
        in_listing=(),
    ),
    case(
        "absolute-path", [*BASE, ("/etc/x", b"x")], "(it is absolute)", lists=BASE, kinds=("oci",)
    ),
]


@pytest.mark.parametrize(
    ("crafter", "listing", "listed", "expect", "in_listing"),
    [param for group in CASES for param in group],
    indirect=["crafter"],
)
def test_crafted_release_is_refused(
    setup: Setup,
    tmp_path: Path,
    listing: list[tuple[str, bytes]],
    listed: list[tuple[str, bytes]] | None,
    expect: str,
    in_listing: tuple[str, ...],
) -> None:
    crafter = setup.crafter
    crafter.write("2.0.0", _release(listing, listed))
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, expect)
    if crafter.kind in in_listing:  # the store's own listing refuses it too
        with pytest.raises(TetherError, match=expect.replace("(", r"\(").replace(")", r"\)")):
            crafter.store.files(NAME, "2.0.0")


def test_same_path_twice_in_the_manifest(setup: Setup, tmp_path: Path) -> None:
    manifest = _manifest(BASE)
    line = next(x for x in manifest.data.decode().splitlines() if x.endswith("  model.bin"))
    doubled = manifest.data.decode().replace(line, f"{line}\n{line}").encode()
    setup.crafter.write("2.0.0", [*(Entry(p, d) for p, d in BASE), Entry("MANIFEST.txt", doubled)])
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "model.bin is listed twice")


def test_two_oci_layers_for_one_path(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    crafter = _oci_crafter(harness_oci, registry_server)
    setup = _make_setup(crafter, tmp_path)
    entries = [
        Entry("model.bin", MODEL),
        Entry("model.bin", b"the other bytes"),
        Entry("vocab.txt", b"v"),
    ]
    crafter.write("2.0.0", [*entries, _manifest([("model.bin", MODEL), ("vocab.txt", b"v")])])
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "has two layers for 'model.bin'")
    with pytest.raises(TetherError, match="two layers"):
        crafter.store.files(NAME, "2.0.0")


def test_oci_layer_that_lies_about_its_size(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    crafter = _oci_crafter(harness_oci, registry_server)
    setup = _make_setup(crafter, tmp_path)
    crafter.write(
        "2.0.0",
        [
            Entry("model.bin", MODEL, size=100),
            Entry("vocab.txt", b"v"),
            _manifest([("model.bin", MODEL), ("vocab.txt", b"v")]),
        ],
    )
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "but the store lists 100")


def test_s3_folder_marker_key(
    harness_s3: StoreHarness, seaweed_server: Server, tmp_path: Path
) -> None:
    crafter = _s3_crafter(harness_s3, seaweed_server)
    setup = _make_setup(crafter, tmp_path)
    crafter.write("2.0.0", _release(BASE))
    crafter.write("2.0.0", [Entry("sub/", b"")])
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "ends with '/' (a folder marker)")


def test_release_changed_between_file_and_folder_under_its_pin(
    setup: Setup, tmp_path: Path
) -> None:
    """The store's 1.0.0 now has a file ``sub`` where the folder's 1.0.0 has a folder: a
    release never changes, so this one was altered. (A new release may do this: item 1,
    tests/spine/test_fetch.py::test_folder_becomes_file_and_back.)"""
    crafter = setup.crafter
    crafter.remove("1.0.0", "sub/a.txt")
    good = [(p, (setup.folder / p).read_bytes()) for p in ("model.bin", "provenance.intoto.json")]
    crafter.write(
        "1.0.0", [Entry("sub", b"a file now"), _manifest([*good, ("sub", b"a file now")], "1.0.0")]
    )
    code, out, _ = _fetch(crafter, setup.project)
    assert code == 0 and "already holds" in out  # a no-op reads no file: the profile stands
    _refused(setup, tmp_path, "its MANIFEST.txt changed", "--repair")


# --- folder stores: links and special files are never read through -----------------------


def _file_setup(harness_file: StoreHarness, tmp_path: Path) -> tuple[Setup, Path, Path]:
    crafter = _file_crafter(harness_file)
    setup = _make_setup(crafter, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    return setup, Path(harness_file.url) / NAME / "model-v2.0.0", outside


def test_symlink_out_of_a_folder_store_is_never_read(
    harness_file: StoreHarness, tmp_path: Path
) -> None:
    """vocab.txt -> a file outside, listed with that file's digest: followed, it would pass."""
    setup, release, outside = _file_setup(harness_file, tmp_path)
    setup.crafter.write("2.0.0", _release(BASE[:1], [*BASE[:1], ("vocab.txt", SECRET)]))
    (release / "vocab.txt").symlink_to(outside / "secret.txt")
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "vocab.txt is a symbolic link")
    with pytest.raises(TetherError, match="symbolic link"):
        setup.crafter.store.open_file(NAME, "2.0.0", "vocab.txt")


def test_symlinked_folder_in_a_folder_store_is_never_read(
    harness_file: StoreHarness, tmp_path: Path
) -> None:
    setup, release, outside = _file_setup(harness_file, tmp_path)
    setup.crafter.write("2.0.0", _release(BASE, [*BASE, ("sub/secret.txt", SECRET)]))
    (release / "sub").symlink_to(outside, target_is_directory=True)
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "sub is a symbolic link")
    with pytest.raises(TetherError, match="symbolic link"):
        setup.crafter.store.open_file(NAME, "2.0.0", "sub/secret.txt")


def test_symlinked_release_folder_is_never_read(harness_file: StoreHarness, tmp_path: Path) -> None:
    setup, release, _ = _file_setup(harness_file, tmp_path)
    elsewhere = tmp_path / "elsewhere-release"
    for entry in _release([*BASE, ("secret.txt", SECRET)]):
        (elsewhere / entry.path).parent.mkdir(parents=True, exist_ok=True)
        (elsewhere / entry.path).write_bytes(entry.data)
    release.symlink_to(elsewhere, target_is_directory=True)
    write_pin(setup.project, "2.0.0")
    _refused(setup, tmp_path, "model-v2.0.0 is a symbolic link")


def test_fifo_in_a_folder_store_is_refused_not_waited_on(
    harness_file: StoreHarness, tmp_path: Path
) -> None:
    """A named pipe would block a reader for ever: run in a child with a deadline."""
    setup, release, _ = _file_setup(harness_file, tmp_path)
    setup.crafter.write("2.0.0", _release(BASE[:1], BASE))
    os.mkfifo(release / "vocab.txt")
    write_pin(setup.project, "2.0.0")
    args = ["fetch", "--store", setup.crafter.url, "--name", NAME, "--profiles-dir", "models"]
    done = subprocess.run(
        [sys.executable, "-m", "tether", *args],
        cwd=setup.project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "vocab.txt is not a regular file" in done.stderr
    assert verify_profile(setup.folder).release == "model-v1.0.0"


# --- publishing: tether's own names are refused in the folder released ---------------------


@pytest.mark.parametrize("reserved", [".tether/x.lock", ".prepared.json", "w.bin.tether-part"])
def test_release_refuses_tethers_own_names(crafter: Crafter, tmp_path: Path, reserved: str) -> None:
    source = tmp_path / "build"
    write_random(source / "model.bin", 10_000, seed=2)
    (source / reserved).parent.mkdir(parents=True, exist_ok=True)
    (source / reserved).write_bytes(b"x")
    args = ["release", "--from", str(source), "--store", crafter.url, "--name", NAME]
    result = CliRunner().invoke(main, [*args, "--version", "3.0.0", "--project", str(tmp_path)])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is reserved" in lines[0], result.stderr
    assert lines[0].endswith("rename or remove that file in the folder you release")
    assert "3.0.0" not in crafter.store.versions(NAME)


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_release_from_a_folder_with_links_is_one_line(tmp_path: Path, linked: str) -> None:
    """A Hugging Face snapshot is a folder of links into the cache: refused, never followed."""
    blobs, source = tmp_path / "blobs", tmp_path / "snapshot"
    write_random(blobs / "sub" / "model.bin", 1000, seed=3)
    source.mkdir()
    (source / "tokenizer.json").write_text("{}")
    if linked == "file":
        (source / "model.bin").symlink_to(blobs / "sub" / "model.bin")
    else:
        (source / "sub").symlink_to(blobs / "sub", target_is_directory=True)
    store = tmp_path / "store"
    args = ["release", "--from", str(source), "--store", str(store), "--version", "1.0.0"]
    result = CliRunner().invoke(main, [*args, "--name", NAME, "--project", str(tmp_path)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "is a symbolic link" in line and "cp -rL" in line
    assert not store.exists() or not any((store / NAME).glob("model-v*"))


class _ListingClient:
    """Just enough of a boto3 S3 client to list ``keys`` under any release: the keys AWS S3
    keeps exactly as written and SeaweedFS refuses or rewrites (``..``, ``\\``, ``//``)."""

    meta = type("Meta", (), {"endpoint_url": "http://aws.example"})()

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def head_object(self, **_: object) -> dict[str, object]:
        return {}

    def get_paginator(self, _name: str) -> _ListingClient:
        return self

    def paginate(self, **kwargs: str) -> list[dict[str, object]]:
        return [{"Contents": [{"Key": kwargs["Prefix"] + k, "Size": 1} for k in self.keys]}]


@pytest.mark.parametrize(
    ("key", "expect"),
    [
        ("../escaped.txt", "escapes the release folder"),
        ("/etc/escaped.txt", "(it is absolute)"),
        ("a\\b", "(it contains a backslash)"),
        ("a//b", "empty or '.' segment"),
        ("sub/", "(a folder marker)"),
        (".tether/demo.lock", "is reserved"),
    ],
)
def test_s3_listing_refuses_keys_seaweedfs_cannot_hold(key: str, expect: str) -> None:
    store = S3Store("s3://bucket/p", None, _ListingClient(["model.bin", key]), "bucket", "p")
    with pytest.raises(TetherError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        store.files(NAME, "2.0.0")
