"""Every parser of tether's files and grammars, on any input, raises only tether's errors.

Each test feeds a parser random bytes or text, crafted adversarial samples (non-UTF-8 bytes,
BOMs, nesting 100000 deep, ``1e400``, ``NaN``, numbers of thousands of digits, NUL bytes,
``~user`` paths, huge strings) and valid documents with one field broken, and asserts that
the only exceptions are :class:`tether.errors.TetherError` subclasses with a one-line
message. Where a renderer exists, valid input must round-trip through it.

Sizes: ``settings(max_examples=...)`` below; the whole file runs in well under a minute.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import string
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.runtime.helpers import profile_dict
from tether.errors import TetherError
from tether.manifest import Manifest, parse_manifest, render_manifest
from tether.names import (
    DOWNGRADE_FILE,
    PIN_FILE,
    PREPARED_FILE,
    PROBE_FILE,
    PROFILE_FILE,
    PYPROJECT_FILE,
    RECIPE_FILE,
)
from tether.naming import (
    ArtifactName,
    format_timestamp,
    latest,
    parse_name,
    parse_tag,
    parse_timestamp,
)
from tether.paths import check_name, check_relative_path
from tether.prepared import Prepared, PreparedFile, read_prepared, write_prepared
from tether.profile import Profile, read_profile
from tether.project import Project
from tether.runtime.probe import read_probe
from tether.spine import load_trust, read_pin, write_pin
from tether.spine.rollback import (
    check_rollback,
    highest_verified,
    read_downgrade,
    read_step,
    record_verified,
)
from tether.versioning import (
    Version,
    next_version,
    normalize_version,
    parse_release_tag,
    parse_version,
    release_tag,
)

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
# Examples per test. Every file parser gets ANY_BYTES examples (one test feeds each input to
# all of them), its own DOCUMENTS (valid documents broken) and ROUND_TRIPS where it has a
# renderer; each grammar function gets GRAMMARS.
ANY_BYTES = settings(max_examples=1200, deadline=None, suppress_health_check=_QUIET)
DOCUMENTS = settings(max_examples=450, deadline=None, suppress_health_check=_QUIET)
GRAMMARS = settings(max_examples=1100, deadline=None, suppress_health_check=_QUIET)
ROUND_TRIPS = settings(max_examples=300, deadline=None, suppress_health_check=_QUIET)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder for the file parsers' examples: on tmpfs where there is one, as writing a
    file there is ten times faster and thousands of examples then fit in CI time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="tether-fuzz-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- adversarial samples --------------------------------------------------------------------

HUGE_DIGITS = "9" * 5000  # over Python's 4300-digit int-conversion limit
DEEP = 100_000
ADVERSARIAL_BYTES = [
    b"",
    b"\x00",
    b"\xff\xfe1\x00.\x000\x00.\x000\x00",  # UTF-16 LE with its BOM
    b"\xfe\xff\x001",
    b"\xef\xbb\xbf",  # a UTF-8 BOM alone
    b"\xef\xbb\xbf1.0.0\n",
    b'\xef\xbb\xbf{"schema": 1}',
    b"\xff" * 16,
    b"\x80abc",
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # an encoded surrogate
    b"1.0.0\x00\n",
    b"[" * DEEP,
    b"{" * DEEP,
    b'{"a":' * (DEEP // 2),
    b"[" * 5000 + b"]" * 5000,
    b"a = " + b"[" * DEEP,
    b"a = " + b"{b = " * 20_000,
    b"1e400",
    b"-1e400",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    HUGE_DIGITS.encode(),
    b"a = " + HUGE_DIGITS.encode(),
    b'{"highest": ' + HUGE_DIGITS.encode() + b"}",
    b'{"highest": 1e400}',
    b'{"highest": NaN}',
    b'{"to": "' + HUGE_DIGITS.encode() + b'.0.0"}',
    ("1." + HUGE_DIGITS + ".0\n").encode(),
    b"v" * 100_000,
    b"\n" * 10_000,
    b"# x model-v1.0.0 provenance\r\n\r\n## Files (SHA256)\r\n" + b"a" * 64 + b"  f\r\n",
]
ADVERSARIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ufeff1.0.0",
    "\ufeff",
    "1.0.0\n",
    "1.0.0\x00",
    "~",
    "~nosuchuser-tether-fuzz",
    "~nosuchuser-tether-fuzz/keys/release.pub",
    "a" * 5000,
    HUGE_DIGITS,
    "1." + HUGE_DIGITS + ".0",
    "1.0.0-" + HUGE_DIGITS,
    "1.0.0-" + "a" * 5000,
    "1.0.0-rc." + "1" * 300,
    "v" + HUGE_DIGITS,
    "model-v" + HUGE_DIGITS,
    "model-v1.0.0-" + "x" * 200,
    "1.0.0+" + "b" * 5000,
    "\uff11.\uff10.\uff10",  # fullwidth digits: isdigit() but not ASCII
    "\u0661.\u0662.\u0663",  # Arabic-Indic digits
    "².0.0",
    "1e400",
    "NaN",
    "Infinity",
    "a\\b",
    "a\tb",
    "a\nb",
    "a\rb",
    "a\u2028b",
    "a\x85b",
    "../x",
    "a/../b",
    "/etc/passwd",
    "C:/x",
    "c:x",
    "a/./b",
    "a//b",
    "a/",
    ".",
    "..",
    "\ud800",
    "a\udcffb",
    "20250230-250000",
    "99999999-999999",
    "base-cfg-20250914-132416-fmt-v" + "9" * 300 + ".0.0",
    "x-" * 3000,
]


def bytes_inputs(*templates: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, the adversarial samples, and corrupted copies of ``templates``."""
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda t: t.encode("utf-8")),
        st.sampled_from(ADVERSARIAL_BYTES),
        corrupted(*templates),
    )


def corrupted(*templates: bytes) -> st.SearchStrategy[bytes]:
    return st.builds(_corrupt, st.sampled_from(templates), st.data())


_IDENTS = st.sampled_from(["rc", "1", "0", "01", "alpha", "-", "x-1", "", "beta2", "00a"])
_SEMVERISH = st.builds(
    lambda v, a, b, c, pre, build: (
        f"{v}{a}.{b}.{c}"
        + (f"-{'.'.join(pre)}" if pre is not None else "")
        + (f"+{'.'.join(build)}" if build is not None else "")
    ),
    st.sampled_from(["", "", "v", "V"]),
    *(st.integers(0, 10**6),) * 3,
    st.none() | st.lists(_IDENTS, min_size=1, max_size=3),
    st.none() | st.lists(_IDENTS, min_size=1, max_size=2),
)


def text_inputs(*extra: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=60),
        st.text(alphabet=string.printable, max_size=60),
        st.sampled_from(ADVERSARIAL_TEXT),
        *extra,
    )


def _corrupt(template: bytes, data: st.DataObject) -> bytes:
    """``template`` truncated, with bytes flipped or inserted, or a BOM in front."""
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "bom", "prefix"]))
    if not template:
        return template
    at = data.draw(st.integers(0, len(template) - 1))
    if how == "truncate":
        return template[:at]
    if how == "flip":
        return (
            template[:at]
            + bytes([template[at] ^ data.draw(st.integers(1, 255))])
            + template[at + 1 :]
        )
    if how == "insert":
        return (
            template[:at]
            + data.draw(st.sampled_from([b"\x00", b"\xff", b"\n", b"[", b"\\"]))
            + template[at:]
        )
    if how == "bom":
        return b"\xef\xbb\xbf" + template
    return data.draw(st.sampled_from([b"[" * 3000, b'{"a":' * 3000, b" "])) + template


# --- JSON documents with one field broken ------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**4000),  # serialised: thousands of digits
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(ADVERSARIAL_TEXT),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def broken_documents(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """``base`` with one to three fields replaced, removed or added, as JSON bytes."""
    doc: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                doc = draw(JSON_VALUES)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace" or isinstance(parent, list):
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "remove":
            del parent[path[-1]]
        else:
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
    return json.dumps(doc).encode("utf-8")


def refused_at_most(call: Callable[[], Any], *, short: bool = False) -> Any:
    """``call()``'s value, or None when it raised a TetherError with a one-line message
    (``short``: of at most 1000 characters, however long the input).

    Any other exception fails the test: that is the point of this file.
    """
    try:
        return call()
    except TetherError as exc:
        line = exc.one_line()
        assert "\n" not in line, f"{type(exc).__name__} spans lines: {line[:300]!r}"
        assert not short or len(line) <= 1000, f"{type(exc).__name__}: {len(line)} characters"
        return None


# --- .model-version -------------------------------------------------------------------------


@DOCUMENTS
@given(
    raw=st.one_of(
        corrupted(b"1.0.1\n", b"v2.0.0-rc.1+build.5\n"),
        text_inputs(_SEMVERISH).map(lambda t: (t + "\n").encode("utf-8", "surrogatepass")),
    )
)
@example(raw=b"\xff\xfe")
@example(raw=("1." + HUGE_DIGITS + ".0").encode())
def test_read_pin_raises_only_tether_errors(scratch: Path, raw: bytes) -> None:
    (scratch / PIN_FILE).write_bytes(raw)
    pinned = refused_at_most(lambda: read_pin(scratch))
    if pinned is not None:
        assert pinned == normalize_version(pinned)


def test_read_pin_of_a_folder_and_of_a_bom(tmp_path: Path) -> None:
    (tmp_path / PIN_FILE).mkdir()
    assert refused_at_most(lambda: read_pin(tmp_path)) is None
    (tmp_path / PIN_FILE).rmdir()
    (tmp_path / PIN_FILE).write_bytes(b"\xef\xbb\xbf1.0.1\n")
    with pytest.raises(TetherError, match="byte-order mark"):
        read_pin(tmp_path)


# --- .prepared.json ---------------------------------------------------------------------------

PREPARED = Prepared(
    store="file:///srv/releases",
    name="local-text-retrieval-v1",
    release="model-v1.0.1",
    manifest_sha256="a" * 64,
    variants=["int8"],
    files={
        "onnx/model_quantized.onnx": PreparedFile(23_000_000, "b" * 64),
        "tokenizer.json": PreparedFile(700_000, "c" * 64),
    },
)
PREPARED_DICT = json.loads(PREPARED.to_json())


@DOCUMENTS
@given(raw=st.one_of(corrupted(PREPARED.to_json().encode()), broken_documents(PREPARED_DICT)))
@example(raw=b"\xff\xfe")
@example(raw=b"[" * DEEP)
@example(raw=PREPARED.to_json().replace("23000000", "1e400").encode())
@example(raw=PREPARED.to_json().replace("23000000", "NaN").encode())
@example(raw=PREPARED.to_json().replace("tokenizer.json", "a\\u0000b").encode())
def test_read_prepared_raises_only_tether_errors(scratch: Path, raw: bytes) -> None:
    (scratch / PREPARED_FILE).write_bytes(raw)
    record = refused_at_most(lambda: read_prepared(scratch))
    if record is not None:  # whatever it accepted, it can write back and read again
        write_prepared(scratch, record)
        assert read_prepared(scratch) == record


def test_read_prepared_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / PREPARED_FILE).mkdir()
    with pytest.raises(TetherError, match="cannot be read"):
        read_prepared(tmp_path)


_SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
SAFE_PATHS = (
    st.lists(_SEGMENT, min_size=1, max_size=3)
    .map("/".join)
    .filter(lambda p: not (len(p) > 1 and p[1] == ":"))
)
PREPARED_RECORDS = st.builds(
    Prepared,
    store=st.text(),
    name=st.text(),
    release=st.text(),
    manifest_sha256=st.text(),
    variants=st.lists(st.text(), max_size=3),
    files=st.dictionaries(
        SAFE_PATHS, st.builds(PreparedFile, st.integers(0, 2**63), st.text()), max_size=5
    ),
)


@ROUND_TRIPS
@given(record=PREPARED_RECORDS)
def test_prepared_round_trips(scratch: Path, record: Prepared) -> None:
    write_prepared(scratch, record)
    assert read_prepared(scratch) == record


# --- profile.json -----------------------------------------------------------------------------

PROFILE_DICT = profile_dict(
    variants={
        "fp32": {"file": "onnx/model.onnx", "external_data": "onnx/model.onnx_data"},
        "int8": {"file": "onnx/model_quantized.onnx", "quantization": {"method": "dynamic"}},
    }
)


@DOCUMENTS
@given(raw=st.one_of(corrupted(json.dumps(PROFILE_DICT).encode()), broken_documents(PROFILE_DICT)))
@example(raw=b"[" * DEEP)
@example(raw=json.dumps({**PROFILE_DICT, "dim": 1e400}).encode())
def test_profile_raises_only_tether_errors(scratch: Path, raw: bytes) -> None:
    profile = refused_at_most(lambda: Profile.from_bytes(raw))
    (scratch / PROFILE_FILE).write_bytes(raw)
    from_file = refused_at_most(lambda: read_profile(scratch))
    assert (profile is None) == (from_file is None)
    if profile is not None:
        assert profile.dim > 0 and profile.max_length > 0 and profile.variants
        assert profile.contract() == from_file.contract()


_IDS = st.text(min_size=1, max_size=30)
VALID_PROFILES = st.fixed_dictionaries(
    {
        "profile_id": _IDS,
        "dim": st.integers(1, 10**6),
        "pooling": st.sampled_from(["mean", "cls", "last"]),
        "normalize": st.booleans(),
        "max_length": st.integers(1, 10**6),
        "tokenizer_sha256": st.none() | st.text(max_size=64),
        "output": st.text(max_size=20),
        "variants": st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.fixed_dictionaries({"file": SAFE_PATHS}),
            min_size=1,
            max_size=3,
        ),
    }
)


@ROUND_TRIPS
@given(data=VALID_PROFILES)
def test_valid_profile_json_reads_back(data: dict[str, Any]) -> None:
    profile = Profile.from_bytes(json.dumps(data).encode("utf-8"))
    assert {key: getattr(profile, key) for key in data if key != "variants"} == {
        key: value for key, value in data.items() if key != "variants"
    }
    assert {name: spec.file for name, spec in profile.variants.items()} == {
        name: spec["file"] for name, spec in data["variants"].items()
    }


# --- MANIFEST.txt -------------------------------------------------------------------------------

D = "0123456789abcdef" * 4
MANIFEST_TEXT = (
    f"# local-text-retrieval-v1 model-v1.0.1 provenance\n\n## Files (SHA256)\n"
    f"{D}  onnx/model.onnx\n{D}  tokenizer.json\n\n## Tooling\ntether: 0.1.0\n"
    "onnxruntime: 1.22.0\n\n## Build\ntimestamp: 2025-09-14T13:24:16Z\n"
)
MANIFEST_LINES = [
    "## Files (SHA256)",
    "## Tooling",
    f"{D}  a.bin",
    f"{D}  ../evil",
    f"{D.upper()}  a.bin",
    "key: value",
    "key:value",
    ": value",
    "",
    "# x model-v1.0.0 provenance",
]


@st.composite
def broken_manifests(draw: st.DrawFn) -> str:
    lines = MANIFEST_TEXT.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines)))
        line = draw(st.one_of(st.sampled_from(MANIFEST_LINES), text_inputs()))
        if draw(st.booleans()) and at < len(lines):
            lines[at] = line
        else:
            lines.insert(at, line)
    return "\n".join(lines)


@DOCUMENTS
@given(
    raw=st.one_of(
        corrupted(MANIFEST_TEXT.encode()),
        broken_manifests().map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
@example(raw=b"\xff\xfe" + MANIFEST_TEXT.encode())
def test_parse_manifest_raises_only_tether_errors(raw: bytes) -> None:
    from_bytes = refused_at_most(lambda: parse_manifest(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        assert from_bytes is None  # bytes that are not UTF-8 are refused, never decoded loosely
        return
    assert refused_at_most(lambda: parse_manifest(text)) == from_bytes
    if from_bytes is not None:
        for path in from_bytes.files:
            check_relative_path(path, where="test")


_NO_SPACE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
    min_size=1,
    max_size=20,
).filter(lambda s: not any(c.isspace() for c in s))
_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30
)
MANIFESTS = st.builds(
    Manifest,
    name=_NO_SPACE,
    version=st.none() | _NO_SPACE,
    files=st.dictionaries(
        SAFE_PATHS,
        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        min_size=1,
        max_size=5,
    ),
    sections=st.dictionaries(
        st.builds(str.__add__, _NO_SPACE, _LINE_TEXT).filter(lambda t: t != "Files (SHA256)"),
        st.dictionaries(
            _LINE_TEXT.filter(lambda k: k and ": " not in k and not k.startswith("## ")),
            _LINE_TEXT,
            max_size=4,
        ),
        max_size=3,
    ),
)


@ROUND_TRIPS
@given(manifest=MANIFESTS)
def test_manifest_round_trips(manifest: Manifest) -> None:
    text = render_manifest(manifest)
    assert parse_manifest(text) == manifest
    assert parse_manifest(text.encode("utf-8")) == manifest
    assert parse_manifest(text.replace("\n", "\r\n")) == manifest  # checked out on Windows


# --- tether.toml / [tool.tether], and its [trust] table ----------------------------------------

_TOML_SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", HUGE_DIGITS, "true", "[]", "{}", "[[[[[["]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30).map(
        lambda t: json.dumps(t, ensure_ascii=False)
    ),
    st.sampled_from(ADVERSARIAL_TEXT).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
_TOML_VALUES = st.one_of(
    _TOML_SCALARS,
    st.lists(_TOML_SCALARS, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
)
_TOML_KEYS = st.sampled_from(
    ["name", "store", "policy", "keys", "identities", "id", "recipe", "x"]
) | st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=8)
_TOML_TABLES = st.sampled_from(
    ["", "[profile]", "[trust]", "[gate]", "[bundle]", "[tool.tether]", "[x]"]
)


@st.composite
def toml_documents(draw: st.DrawFn) -> bytes:
    """Lines of ``key = value`` under a few tether tables: often valid TOML, often not."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 3)) == 0:
            lines.append(draw(_TOML_TABLES))
        lines.append(f"{draw(_TOML_KEYS)} = {draw(_TOML_VALUES)}")
    if draw(st.booleans()):
        identity = draw(_TOML_SCALARS)
        lines += ["[trust]", f"identities = [{{ identity = {identity}, issuer = {identity} }}]"]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


TRUST_TOML = b'name = "m"\n[trust]\npolicy = "require"\nkeys = ["keys/release.pub"]\n'


def _load_everything(folder: Path) -> Project:
    """Project.load and what reads its settings: the name, the store, the trust policy."""
    project = Project.load(folder)
    project.profile_id  # noqa: B018 - a property that reads [profile]
    project.configured_name()
    project.store_url()
    assert project.where
    policy = load_trust(project)
    if policy is not None:  # keys load on first use: make them load
        len(policy.keys), len(policy.identities)
    return project


@DOCUMENTS
@given(raw=st.one_of(toml_documents(), corrupted(TRUST_TOML)), pyproject=st.booleans())
@example(raw=b"a = " + b"[" * DEEP, pyproject=False)
@example(raw=b"a = " + HUGE_DIGITS.encode(), pyproject=True)
@example(raw=b'[trust]\nkeys = ["a\\u0000b"]\n', pyproject=False)
@example(raw=b'[trust]\nkeys = ["~nosuchuser-tether-fuzz/k.pub"]\n', pyproject=False)
@example(raw=b'[trust]\nkeys = ["' + b"k" * 5000 + b'"]\n', pyproject=False)
@example(raw=b'store = "~nosuchuser-tether-fuzz/releases"\n', pyproject=False)
def test_project_and_trust_raise_only_tether_errors(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes, pyproject: bool
) -> None:
    monkeypatch.delenv("TETHER_STORE", raising=False)
    for name in (RECIPE_FILE, PYPROJECT_FILE):
        (scratch / name).unlink(missing_ok=True)
    if pyproject:
        text = raw.decode("utf-8", "replace")
        raw = ("[tool.tether]\n" + text.replace("[tool.tether]", "")).encode(
            "utf-8", "surrogatepass"
        )
        (scratch / PYPROJECT_FILE).write_bytes(raw)
    else:
        (scratch / RECIPE_FILE).write_bytes(raw)
    refused_at_most(lambda: _load_everything(scratch))


def test_project_in_a_folder_whose_name_is_too_long(tmp_path: Path) -> None:
    assert refused_at_most(lambda: Project.load(tmp_path / ("x" * 5000))) is None


# --- rollback records -----------------------------------------------------------------------

VERIFIED = json.dumps({"schema": 1, "name": "m", "highest": "1.2.0", "signer": None}).encode()
DOWNGRADE = json.dumps({"schema": 1, "name": "m", "from": "1.2.0", "to": "1.1.0"}).encode()


@DOCUMENTS
@given(
    verified=st.one_of(corrupted(VERIFIED), broken_documents(json.loads(VERIFIED))),
    downgrade=st.one_of(corrupted(DOWNGRADE), broken_documents(json.loads(DOWNGRADE))),
    version=st.one_of(st.sampled_from(["1.0.0", "1.1.0", "2.0.0"]), text_inputs()),
)
@example(verified=b"[" * DEEP, downgrade=b"{" * DEEP, version="1.1.0")
@example(verified=b'{"highest": 1e400}', downgrade=b'{"to": NaN}', version="1.1.0")
def test_rollback_records_raise_only_tether_errors(
    scratch: Path, verified: bytes, downgrade: bytes, version: str
) -> None:
    state = scratch / ".tether"
    state.mkdir(exist_ok=True)
    (state / "m.verified.json").write_bytes(verified)
    (scratch / DOWNGRADE_FILE).write_bytes(downgrade)
    highest = refused_at_most(lambda: highest_verified(scratch, "m"))
    if highest is not None:
        assert highest == normalize_version(highest)
    refused_at_most(lambda: read_downgrade(scratch))
    step = refused_at_most(lambda: read_step(scratch))
    if step is not None:
        assert step.old == normalize_version(step.old) and step.new == normalize_version(step.new)
    refused_at_most(lambda: check_rollback(scratch, "m", version, scratch))


@settings(ROUND_TRIPS, max_examples=100)  # each example fsyncs the record it writes
@given(version=st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 10**9),) * 3))
def test_verified_record_round_trips(scratch: Path, version: str) -> None:
    (scratch / ".tether" / "m.verified.json").unlink(missing_ok=True)
    record_verified(scratch, "m", version, signer=None, downgrade=None)
    assert highest_verified(scratch, "m") == version


def test_rollback_records_that_are_folders(tmp_path: Path) -> None:
    (tmp_path / ".tether" / "m.verified.json").mkdir(parents=True)
    (tmp_path / DOWNGRADE_FILE).mkdir()
    assert refused_at_most(lambda: highest_verified(tmp_path, "m")) is None
    assert refused_at_most(lambda: read_downgrade(tmp_path)) is None


# --- probe.json ---------------------------------------------------------------------------------


@dataclass
class _Probed:
    folder: Path
    variant: str = "int8"
    dim: int = 2
    model_id: str = "m-2d-int8-mlen8"

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), self.dim), dtype=np.float32)


PROBE = json.dumps({"texts": ["a", "b"], "fp32": [[1, 0], [0, 1]], "min_cosine": {"fp32": 0.99}})


@DOCUMENTS
@given(raw=st.one_of(corrupted(PROBE.encode()), broken_documents(json.loads(PROBE))))
@example(raw=PROBE.replace("0.99", "NaN").encode())
@example(raw=PROBE.replace("[1, 0]", "[1e400, 0]").encode())
@example(raw=PROBE.replace("[1, 0]", "[1e39, 0]").encode())
@example(raw=PROBE.replace("0.99", HUGE_DIGITS[:400]).encode())
def test_read_probe_raises_only_tether_errors(scratch: Path, raw: bytes) -> None:
    (scratch / PROBE_FILE).write_bytes(raw)
    read = refused_at_most(lambda: read_probe(_Probed(scratch)))
    if read is not None:
        texts, reference, _, threshold = read
        assert np.isfinite(reference).all() and reference.shape == (len(texts), 2)
        assert threshold is None or np.isfinite(threshold)


# --- any bytes, to every file parser ------------------------------------------------------------

EVERY_FILE = (PIN_FILE, PREPARED_FILE, PROFILE_FILE, PROBE_FILE, DOWNGRADE_FILE, RECIPE_FILE)
TEMPLATES = (
    b"1.0.1\n",
    PREPARED.to_json().encode(),
    json.dumps(PROFILE_DICT).encode(),
    MANIFEST_TEXT.encode(),
    PROBE.encode(),
    VERIFIED,
    DOWNGRADE,
    TRUST_TOML,
)


@ANY_BYTES
@given(raw=bytes_inputs(*TEMPLATES))
@example(raw=b"\xff\xfe")  # read_prepared and read_pin raised UnicodeDecodeError
@example(raw=b"[" * DEEP)  # read_prepared and the rollback records raised RecursionError
@example(raw=("1." + HUGE_DIGITS + ".0\n").encode())  # read_pin raised ValueError
@example(raw=b"a = " + b"[" * DEEP)  # tomllib raises RecursionError
@example(raw=b"a = " + HUGE_DIGITS.encode())  # tomllib raises ValueError
def test_any_bytes_to_every_file_parser(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    monkeypatch.delenv("TETHER_STORE", raising=False)
    for name in EVERY_FILE:
        (scratch / name).write_bytes(raw)
    (scratch / ".tether").mkdir(exist_ok=True)
    (scratch / ".tether" / "m.verified.json").write_bytes(raw)
    pinned = refused_at_most(lambda: read_pin(scratch))
    assert pinned is None or pinned == normalize_version(pinned)
    refused_at_most(lambda: read_prepared(scratch))
    profile = refused_at_most(lambda: Profile.from_bytes(raw))
    assert (profile is None) == (refused_at_most(lambda: read_profile(scratch)) is None)
    refused_at_most(lambda: parse_manifest(raw))
    refused_at_most(lambda: read_probe(_Probed(scratch)))
    refused_at_most(lambda: highest_verified(scratch, "m"))
    refused_at_most(lambda: read_downgrade(scratch))
    refused_at_most(lambda: read_step(scratch))
    refused_at_most(lambda: _load_everything(scratch))


# --- versions, tags, names, paths --------------------------------------------------------------


@GRAMMARS
@given(
    text=text_inputs(
        _SEMVERISH, _SEMVERISH.map(lambda v: "model-" + v), _SEMVERISH.map(lambda v: "export-" + v)
    )
)
@example(text="1." + HUGE_DIGITS + ".0")
@example(text="1.0.0-rc." + "1" * 5000)
def test_version_and_tag_grammars_raise_only_tether_errors(text: str) -> None:
    version = refused_at_most(lambda: parse_version(text), short=True)
    normal = refused_at_most(lambda: normalize_version(text), short=True)
    assert normal == (None if version is None else str(version))
    if version is not None:
        assert parse_version(str(version)) == version
        tag = refused_at_most(lambda: release_tag(version), short=True)
        if tag is not None:
            assert parse_release_tag(tag) == version and len(tag) <= 128
        assert next_version([text]) > version
    refused_at_most(lambda: parse_release_tag(text), short=True)
    tag = refused_at_most(lambda: parse_tag(text), short=True)
    if tag is not None and tag.version is not None:
        assert parse_tag(text, require_semver=True) == tag
    refused_at_most(lambda: next_version([text, "1.0.0"], floor=text), short=True)


_FIELD = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(alphabet=string.ascii_letters + string.digits + "._", max_size=8),
)
_MOMENTS = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.just(timezone.utc),
)
_NAMES = st.builds(
    lambda base, config, trained, fmt, suffix: (
        f"{base}-{config}-{format_timestamp(trained)}-{fmt}{suffix}"
    ),
    _FIELD,
    st.lists(_FIELD, min_size=1, max_size=3).map("-".join),
    _MOMENTS,
    _FIELD,
    st.one_of(
        st.just(""),
        _MOMENTS.map(lambda m: "-" + format_timestamp(m)),
        _SEMVERISH.map(lambda v: "-v" + v.lstrip("v")),
    ),
)


@GRAMMARS
@given(text=text_inputs(_NAMES, _NAMES.map(lambda n: n[: len(n) // 2])))
@example(text="base-cfg-20250914-132416-fmt-v" + HUGE_DIGITS + ".0.0")
def test_name_grammar_raises_only_tether_errors(text: str) -> None:
    name = refused_at_most(lambda: parse_name(text), short=True)
    if name is not None:
        assert isinstance(name, ArtifactName) and str(name) == text
    refused_at_most(lambda: latest([text, "a-b-20250914-132416-c"]), short=True)
    stamp = refused_at_most(lambda: parse_timestamp(text), short=True)
    if stamp is not None:
        assert format_timestamp(stamp) == text


@GRAMMARS
@given(text=text_inputs(SAFE_PATHS, _FIELD))
@example(text="a\\b")
@example(text="a\tb")
@example(text="a\nb")
def test_path_and_name_checks_raise_only_tether_errors(text: str) -> None:
    path = refused_at_most(lambda: check_relative_path(text, where="fuzz"), short=True)
    if path is not None:
        assert path == text and not text.startswith("/") and ".." not in text.split("/")
        assert all(ord(c) >= 32 for c in text) and "\\" not in text
    name = refused_at_most(lambda: check_name(text), short=True)
    if name is not None:
        assert Path(name).name == name and name not in (".", "..") and len(name) <= 128


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("onnx\\model.onnx", "contains a backslash"),
        ("onnx/model\t.onnx", "contains a tab"),
        ("onnx/model.onnx\n", "contains a newline"),
        ("a\x00b", "contains a NUL byte"),
        ("../model.onnx", "escapes the release folder"),
        ("/etc/passwd", "is absolute"),
        ("C:/model.onnx", "drive letter"),
        ("a//b", "empty or '.' segment"),
        ("", "is empty"),
    ],
)
def test_unsafe_paths_name_their_real_reason(path: str, reason: str) -> None:
    with pytest.raises(TetherError, match=reason):
        check_relative_path(path, where="MANIFEST.txt:3")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\\b", "contains a backslash"),
        ("a\tb", "contains a tab"),
        ("model\n", "contains a newline"),
        ("a/b", "contains a slash"),
        ("-a", "starts with '-'"),
        ("a..b", "contains '..'"),
        ("a" * 129, "over 128"),
        ("a b", "contains ' '"),
    ],
)
def test_bad_names_name_their_real_reason(name: str, reason: str) -> None:
    with pytest.raises(TetherError, match=reason):
        check_name(name)


def test_pin_round_trips(tmp_path: Path) -> None:
    for version in ["1.0.1", "v2.0.0-rc.1+build.5", "0.0.0-" + "a" * 200]:
        write_pin(tmp_path, version)
        assert read_pin(tmp_path) == normalize_version(version)
    assert Version(1, 0, 0, ("9" * 5000,)) > Version(1, 0, 0, ("8" * 5000,))  # no int()
