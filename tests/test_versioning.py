"""Versions, tags and names: every edge case here is a bug some real pipeline shipped."""

from __future__ import annotations

import functools
import itertools
import random
from datetime import datetime, timedelta, timezone

import pytest

from tether.errors import InvalidNameError, InvalidTagError, InvalidVersionError
from tether.versioning import (
    ArtifactName,
    Tag,
    Version,
    build_name,
    format_timestamp,
    latest,
    next_version,
    normalize_version,
    parse_name,
    parse_release_tag,
    parse_tag,
    parse_timestamp,
    parse_version,
    release_tag,
)

UTC = timezone.utc

# --- parse_version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", Version(1, 2, 3)),
        ("v1.2.3", Version(1, 2, 3)),
        ("V1.2.3", Version(1, 2, 3)),
        ("0.0.0", Version(0, 0, 0)),
        ("10.20.30", Version(10, 20, 30)),
        ("1.0.0-rc.1", Version(1, 0, 0, ("rc", "1"))),
        ("1.0.0-0A.is.legal", Version(1, 0, 0, ("0A", "is", "legal"))),
        ("1.0.0-alpha-beta.0", Version(1, 0, 0, ("alpha-beta", "0"))),
        ("1.0.0-x-y-z.--", Version(1, 0, 0, ("x-y-z", "--"))),
        ("1.0.0+build.5", Version(1, 0, 0, (), ("build", "5"))),
        ("1.0.0+001", Version(1, 0, 0, (), ("001",))),  # leading zeros are fine in build
        ("1.2.3-rc.1+build.5", Version(1, 2, 3, ("rc", "1"), ("build", "5"))),
        ("99999999999999999999.0.0", Version(99999999999999999999, 0, 0)),
    ],
)
def test_parse_version_accepts(text: str, expected: Version) -> None:
    assert parse_version(text) == expected
    assert normalize_version(text) == str(expected)
    assert not normalize_version(text).startswith(("v", "V"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("v", "no version after"),
        ("vv1.0.0", "more than one leading 'v'"),
        ("Vv1.0.0", "more than one leading 'v'"),
        ("model-v1.0.0", "tag, not a version"),
        ("export-v1.0.0", "tag, not a version"),
        (" 1.0.0", "whitespace"),
        ("1.0.0 ", "whitespace"),
        ("1.0.0\n", "whitespace"),
        ("1.0", "2 dot-separated numbers"),
        ("1", "1 dot-separated numbers"),
        ("1.0.0.0", "4 dot-separated numbers"),
        ("01.0.0", "leading zero"),
        ("1.01.0", "leading zero"),
        ("1.0.01", "leading zero"),
        ("1..0", "empty"),
        ("a.b.c", "not a number"),
        ("-1.0.0", "does not start with a number"),
        ("\u0661.0.0", "not a number"),  # Arabic-Indic digit one: str.isdigit() says yes
        ("1.0.0-01", "leading zero"),
        ("1.0.0-", "empty"),
        ("1.0.0+", "empty"),
        ("1.0.0-rc..1", "empty identifier"),
        ("1.0.0-rc.1+", "empty"),
        ("1.0.0+a+b", "characters other than"),
        ("1.0.0-r\u00e9", "characters other than"),
        ("1.0.0-rc_1", "characters other than"),
        ("1.0.0_rc", "not a number"),
    ],
)
def test_parse_version_refuses(text: str, why: str) -> None:
    with pytest.raises(InvalidVersionError) as info:
        parse_version(text)
    assert repr(text) in info.value.message  # names the input
    assert why in info.value.message  # says what is wrong
    assert info.value.hint  # and the fix


def test_parse_version_refuses_non_string() -> None:
    with pytest.raises(InvalidVersionError):
        parse_version(1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"major": -1, "minor": 0, "patch": 0}, InvalidVersionError),
        ({"major": True, "minor": 0, "patch": 0}, TypeError),
        ({"major": "1", "minor": 0, "patch": 0}, TypeError),
        ({"major": 1, "minor": 0, "patch": 0, "prerelease": ("01",)}, InvalidVersionError),
        ({"major": 1, "minor": 0, "patch": 0, "prerelease": ("",)}, InvalidVersionError),
        ({"major": 1, "minor": 0, "patch": 0, "prerelease": "rc.1"}, TypeError),
        ({"major": 1, "minor": 0, "patch": 0, "build": ("a+b",)}, InvalidVersionError),
    ],
)
def test_version_constructor_validates(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        Version(**kwargs)  # type: ignore[arg-type]


def test_version_lists_become_tuples_and_hash() -> None:
    v = Version(1, 0, 0, ["rc", "1"])  # type: ignore[arg-type]
    assert v.prerelease == ("rc", "1")
    assert {v, parse_version("1.0.0-rc.1")} == {v}


# --- precedence ----------------------------------------------------------------------------

# SemVer 2.0.0 section 11, in order.
SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


def test_spec_precedence_order() -> None:
    versions = [parse_version(text) for text in SPEC_ORDER]
    for lower, higher in itertools.pairwise(versions):
        assert lower < higher and higher > lower and lower <= higher and not higher <= lower
    shuffled = versions[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled) == versions
    assert sorted(reversed(versions)) == versions


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-2", "1.0.0-11"),  # numeric identifiers compare as numbers, not text
        ("1.0.0-alpha.2", "1.0.0-alpha.11"),
        ("1.0.0-999", "1.0.0-a"),  # numeric below alphanumeric
        ("1.0.0-A", "1.0.0-a"),  # ASCII order
        ("1.0.0-rc.1", "1.0.0-rc.1.0"),  # more fields win when the rest are equal
        ("1.9.0", "1.10.0"),
        ("1.0.0-rc.9", "1.0.0"),
        ("0.9.9", "1.0.0-0"),
    ],
)
def test_precedence_pairs(lower: str, higher: str) -> None:
    assert parse_version(lower) < parse_version(higher)
    assert parse_version(higher) > parse_version(lower)


def test_build_metadata_is_ignored_for_precedence_not_equality() -> None:
    a, b = parse_version("1.0.0+a"), parse_version("1.0.0+b")
    assert not a < b and not b < a and a <= b and b <= a and a >= b
    assert a != b  # distinct strings stay distinct values
    assert a.precedence_key == b.precedence_key == Version(1, 0, 0).precedence_key


def test_comparison_with_other_types_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = Version(1, 0, 0) < "1.0.1"  # type: ignore[operator]


def _spec_compare(a: str, b: str) -> int:
    """SemVer section 11 written out independently of Version.precedence_key."""

    def split(text: str) -> tuple[list[int], list[str]]:
        core, _, pre = text.split("+")[0].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else []

    (core_a, pre_a), (core_b, pre_b) = split(a), split(b)
    if core_a != core_b:
        return -1 if core_a < core_b else 1
    if not pre_a or not pre_b:
        return (not pre_a) - (not pre_b)
    for x, y in zip(pre_a, pre_b, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pre_a) > len(pre_b)) - (len(pre_a) < len(pre_b))


def _random_version(rng: random.Random) -> Version:
    def ident(numeric_ok: bool) -> str:
        if numeric_ok and rng.random() < 0.5:
            return str(rng.choice([0, 1, 2, 9, 10, 11, 100]))
        return "".join(rng.choice("aAbz-09") for _ in range(rng.randint(1, 3))).replace(
            "0", "x", 1 if rng.random() < 0.5 else 0
        )

    def idents(numeric_ok: bool) -> tuple[str, ...]:
        if rng.random() < 0.5:
            return ()
        out = tuple(ident(numeric_ok) for _ in range(rng.randint(1, 3)))
        # an all-digit alphanumeric draw with a leading zero is not a valid pre-release id
        return tuple(str(int(i)) if i.isdigit() else i for i in out) if numeric_ok else out

    return Version(
        rng.randint(0, 3), rng.randint(0, 3), rng.randint(0, 3), idents(True), idents(False)
    )


def test_property_round_trip_and_ordering_match_the_spec() -> None:
    rng = random.Random(20250914)
    versions = [_random_version(rng) for _ in range(400)]
    for v in versions:
        assert parse_version(str(v)) == v
        assert parse_version("v" + str(v)) == v
    texts = [str(v) for v in versions]
    by_spec = sorted(texts, key=functools.cmp_to_key(_spec_compare))
    by_version = [str(v) for v in sorted(versions)]
    # equal-precedence versions (differing build only) may sit in either order
    assert [parse_version(t).precedence_key for t in by_version] == [
        parse_version(t).precedence_key for t in by_spec
    ]
    for a, b in itertools.pairwise(versions):
        expected = _spec_compare(str(a), str(b))
        assert (a < b, a == b or (a <= b and b <= a), a > b) == (
            expected < 0,
            expected == 0,
            expected > 0,
        )


try:  # hypothesis is optional: the seeded test above always runs
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    _num = st.integers(min_value=0, max_value=10**6)
    _pre_id = st.one_of(
        _num.map(str), st.from_regex(r"[0-9]*[A-Za-z-][0-9A-Za-z-]{0,5}", fullmatch=True)
    )
    _build_id = st.from_regex(r"[0-9A-Za-z-]{1,6}", fullmatch=True)
    _versions = st.builds(
        Version,
        _num,
        _num,
        _num,
        st.lists(_pre_id, max_size=3).map(tuple),
        st.lists(_build_id, max_size=2).map(tuple),
    )

    @settings(max_examples=200, deadline=None)
    @given(_versions, _versions)
    def test_hypothesis_round_trip_and_order(a: Version, b: Version) -> None:
        assert parse_version(str(a)) == a
        assert (a < b) == (_spec_compare(str(a), str(b)) < 0)


# --- bump ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "part", "label", "expected"),
    [
        ("1.2.3", "major", "rc", "2.0.0"),
        ("1.2.3", "minor", "rc", "1.3.0"),
        ("1.2.3", "patch", "rc", "1.2.4"),
        ("1.2.3+build.7", "patch", "rc", "1.2.4"),  # build metadata dropped
        ("1.2.3", "prerelease", "rc", "1.2.4-rc.1"),
        ("1.2.4-rc.1", "prerelease", "rc", "1.2.4-rc.2"),
        ("1.2.4-rc.9", "prerelease", "rc", "1.2.4-rc.10"),
        ("1.2.4-rc", "prerelease", "rc", "1.2.4-rc.1"),
        ("1.2.4-beta.3", "prerelease", "rc", "1.2.4-rc.1"),  # later label, same release
        ("1.2.3", "prerelease", "beta", "1.2.4-beta.1"),
        ("1.2.4-rc.2", "patch", "rc", "1.2.4"),  # a pre-release bumps to its release
        ("1.3.0-rc.2", "minor", "rc", "1.3.0"),
        ("1.3.1-rc.2", "minor", "rc", "1.4.0"),
        ("2.0.0-rc.1", "major", "rc", "2.0.0"),
        ("2.1.0-rc.1", "major", "rc", "3.0.0"),
        ("1.2.4-rc.2+b", "patch", "rc", "1.2.4"),
    ],
)
def test_bump(start: str, part: str, label: str, expected: str) -> None:
    bumped = parse_version(start).bump(part, label)
    assert str(bumped) == expected
    assert bumped > parse_version(start)


@pytest.mark.parametrize(
    ("start", "part", "label"),
    [
        ("1.2.3", "build", "rc"),
        ("1.2.3", "", "rc"),
        ("1.2.3", "prerelease", ""),
        ("1.2.3", "prerelease", "1"),
        ("1.2.3", "prerelease", "r c"),
        ("1.2.3", "prerelease", "r.c"),
        ("1.2.4-rc.1", "prerelease", "beta"),  # would go backwards
    ],
)
def test_bump_refuses(start: str, part: str, label: str) -> None:
    with pytest.raises(InvalidVersionError):
        parse_version(start).bump(part, label)


def test_bump_always_increases() -> None:
    rng = random.Random(3)
    for _ in range(300):
        v = _random_version(rng)
        for part in ("major", "minor", "patch"):
            assert v.bump(part) > v
            assert not v.bump(part).build
        label = "zzz" if v.prerelease else "rc"  # a label that sorts after any drawn one
        assert v.bump("prerelease", label) > v


# --- release tags --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        ("1.2.3", "model-v1.2.3"),
        ("v1.2.3", "model-v1.2.3"),
        ("V1.2.3", "model-v1.2.3"),
        ("v1.0.0-rc.1", "model-v1.0.0-rc.1"),
        (Version(1, 2, 3), "model-v1.2.3"),
    ],
)
def test_release_tag(version: str | Version, tag: str) -> None:
    assert release_tag(version) == tag
    assert "vv" not in release_tag(version)
    assert parse_release_tag(tag) == (
        version if isinstance(version, Version) else parse_version(version)
    )


@pytest.mark.parametrize("bad", ["model-v1.2.3", "vv1.2.3", "1.2", "1.0.0+b"])
def test_release_tag_refuses(bad: str) -> None:
    with pytest.raises(InvalidVersionError) as info:
        release_tag(bad)
    assert repr(bad) in info.value.message


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "model-vv1.0.0",
        "model-1.0.0",
        "model-v1.0",
        "model-v01.0.0",
        "Model-v1.0.0",
        "model-V1.0.0",
        "v1.0.0",
        "1.0.0",
        "export-v1.0.0",
        "model-v1.0.0+b",
        "model-v1.0.0 ",
    ],
)
def test_parse_release_tag_refuses(bad: str) -> None:
    with pytest.raises(InvalidTagError) as info:
        parse_release_tag(bad)
    assert repr(bad) in info.value.message


# --- git tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "version_string"),
    [
        ("v1.2.3", "v", "1.2.3"),
        ("model-v1.2.3", "model", "1.2.3"),
        ("export-v1.2.3", "export", "1.2.3"),
        ("v2.0.0-rc.1", "v", "2.0.0-rc.1"),
        ("model-v1.0.0+exp.sha.5114f85", "model", "1.0.0+exp.sha.5114f85"),
        ("vfoo.bar.baz", "other", "vfoo.bar.baz"),  # avro-finetune accepted this
        ("v1.2", "other", "v1.2"),
        ("v1.2.3.4", "other", "v1.2.3.4"),
        ("v01.2.3", "other", "v01.2.3"),
        ("model-vfoo", "other", "model-vfoo"),
        ("model-vv1.0.0", "other", "model-vv1.0.0"),
        ("model-1.0.0", "other", "model-1.0.0"),
        ("vv1.0.0", "other", "vv1.0.0"),
        ("V1.2.3", "other", "V1.2.3"),  # git tags are case-sensitive
        ("1.2.3", "other", "1.2.3"),
        ("nightly-2025-09-15", "other", "nightly-2025-09-15"),
    ],
)
def test_parse_tag(text: str, kind: str, version_string: str) -> None:
    tag = parse_tag(text)
    assert (tag.text, tag.kind, tag.version_string) == (text, kind, version_string)
    assert tag.is_semver == (kind != "other")
    assert (tag.version is None) == (kind == "other")
    if tag.is_semver:
        assert parse_tag(text, require_semver=True) == tag


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "v1.0.0 ",
        " v1.0.0",
        "v1.0.0\n",
        "a\tb",
        "a\x00b",
        "x\x7fy",
        "refs/tags/v1.0.0",
        "a\\b",
    ],
)
def test_parse_tag_refuses_unsafe(bad: str) -> None:
    with pytest.raises(InvalidTagError) as info:
        parse_tag(bad)
    assert repr(bad) in info.value.message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("vfoo.bar.baz", "'foo' is not a number"),
        ("v1.2", "2 dot-separated numbers"),
        ("model-vv1.0.0", "more than one leading 'v'"),
        ("nightly", "does not start with v, model-v or export-v"),
    ],
)
def test_parse_tag_require_semver(text: str, why: str) -> None:
    with pytest.raises(InvalidTagError) as info:
        parse_tag(text, require_semver=True)
    assert repr(text) in info.value.message and why in info.value.message


def test_tag_invariants() -> None:
    with pytest.raises(ValueError):
        Tag("v1.0.0", "semver", Version(1, 0, 0))
    with pytest.raises(ValueError):
        Tag("v1.0.0", "other", Version(1, 0, 0))


# --- next_version --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "floor", "part", "expected"),
    [
        ([], None, "patch", "1.0.0"),
        ([], None, "minor", "1.0.0"),
        ([], None, "prerelease", "1.0.0-rc.1"),
        (["1.0.0", "1.0.1"], None, "patch", "1.0.2"),
        (["1.0.3"], "1.0.5", "patch", "1.0.6"),  # floor above the store: store lags the pin
        (["1.0.5"], "1.0.3", "patch", "1.0.6"),  # store above the floor
        ([], "v1.0.3", "patch", "1.0.4"),
        (["1.0.9", "1.0.10", "1.0.2"], None, "patch", "1.0.11"),  # not alphabetical
        (["1.0.0", "1.1.0-rc.1"], None, "patch", "1.1.0"),  # pre-releases count
        (["1.0.0", "1.1.0-rc.1"], None, "prerelease", "1.1.0-rc.2"),
        (["1.1.0-rc.1", "1.1.0"], None, "prerelease", "1.1.1-rc.1"),
        (["1.4.2"], None, "minor", "1.5.0"),
        (["1.4.2"], None, "major", "2.0.0"),
        ([Version(2, 0, 0), "v1.9.9"], None, "patch", "2.0.1"),
        (["1.0.0+a", "1.0.0+b"], None, "patch", "1.0.1"),
    ],
)
def test_next_version(
    existing: list[str | Version], floor: str | None, part: str, expected: str
) -> None:
    result = next_version(existing, floor, part)
    assert str(result) == expected
    for v in [*existing, *([floor] if floor else [])]:
        assert result > (v if isinstance(v, Version) else parse_version(v))


def test_next_version_refuses() -> None:
    with pytest.raises(TypeError):
        next_version("1.0.0")  # type: ignore[arg-type]
    with pytest.raises(InvalidVersionError):
        next_version(["1.0.0", "model-v1.0.1"])  # a tag in a version listing is an error
    with pytest.raises(InvalidVersionError):
        next_version([], part="build")


def test_next_version_accepts_a_generator() -> None:
    assert str(next_version(v for v in ["1.0.0", "1.2.0"])) == "1.2.1"


# --- timestamps ----------------------------------------------------------------------------


def test_timestamps() -> None:
    moment = parse_timestamp("20250914-132416")
    assert moment == datetime(2025, 9, 14, 13, 24, 16, tzinfo=UTC)
    assert format_timestamp(moment) == "20250914-132416"
    assert format_timestamp(datetime(2025, 9, 14, 13, 24, 16, 999999)) == "20250914-132416"
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2025, 9, 14, 15, 24, 16, tzinfo=plus_two)) == (
        "20250914-132416"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "20251399-250000",
        "20250230-120000",
        "20250101-240000",
        "2025091-132416",
        "20250914132416",
        "",
    ],
)
def test_parse_timestamp_refuses(bad: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_timestamp(bad)
    assert repr(bad) in info.value.message


# --- descriptive names ---------------------------------------------------------------------

EXAMPLE = "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-20250915-124051"


def test_parse_the_documented_example() -> None:
    name = parse_name(EXAMPLE)
    assert name == ArtifactName(
        base="phi3mini4k",
        config="minimal-r32-a64-e20",
        trained_at=datetime(2025, 9, 14, 13, 24, 16, tzinfo=UTC),
        format="vllm",
        exported_at=datetime(2025, 9, 15, 12, 40, 51, tzinfo=UTC),
    )
    assert str(name) == EXAMPLE


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (EXAMPLE, ("phi3mini4k", "minimal-r32-a64-e20", "vllm", "20250915-124051", None)),
        (
            "phi3mini4k-minimal-r32-a64-e20-20250914-132416-lora",
            ("phi3mini4k", "minimal-r32-a64-e20", "lora", None, None),
        ),
        (
            "phi3mini4k-minimal-20250914-132416-q4_k_m.gguf-v2.0.1",
            ("phi3mini4k", "minimal", "q4_k_m.gguf", None, "2.0.1"),
        ),
        (
            "phi-cfg-20250914-132416-vllm-v2.0.0-rc.1",
            ("phi", "cfg", "vllm", None, "2.0.0-rc.1"),
        ),
        (
            # a pre-release with hyphens and a timestamp-like part still reads back
            "phi-cfg-20250914-132416-vllm-v2.0.0-rc-1.x-20250101-120000-b",
            ("phi", "cfg", "vllm", None, "2.0.0-rc-1.x-20250101-120000-b"),
        ),
        (
            "B.2_x-c.1_y-20250914-132416-V_1-20250915-124051",
            ("B.2_x", "c.1_y", "V_1", "20250915-124051", None),
        ),
        (
            "m-c-20250914-132416-v1",  # a format may look like a short version
            ("m", "c", "v1", None, None),
        ),
    ],
)
def test_name_round_trips(text: str, fields: tuple[str | None, ...]) -> None:
    name = parse_name(text)
    exported = format_timestamp(name.exported_at) if name.exported_at else None
    version = str(name.version) if name.version else None
    assert (name.base, name.config, name.format, exported, version) == fields
    assert str(name) == text
    assert parse_name(str(name)) == name


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("vllm--v2.0.0", "empty field"),  # avro-finetune's tag-run names
        ("phi-cfg-20250914-132416-vllm-", "empty field"),
        ("-phi-cfg-20250914-132416-vllm", "empty field"),
        ("phi--20250914-132416-vllm", "empty field"),
        ("phi-cfg--20250914-132416-vllm", "empty field"),
        ("phi-cfg-20250914-132416--20250915-124051", "empty field"),
        ("phi-cfg-20250914-132416", "no format after"),
        ("phi-20250914-132416-vllm", "needs a base and a config"),
        ("20250914-132416-vllm", "needs a base and a config"),
        ("phi-cfg-vllm-20250915-124051", "no format after"),
        ("phi-cfg-vllm", "no YYYYmmdd-HHMMSS"),
        ("phi-cfg-20251399-250000-vllm", "no such date or time"),
        ("phi-cfg-20250914-132416-vllm-20250231-000000", "no such date or time"),
        ("phi-cfg-20250914-132416-q4_k_m-gguf-20250915-125110", "is not <format>"),
        ("phi-cfg-20250914-132416-vllm-v2.0", "is not <format>"),
        ("phi-cfg-20250914-132416-vllm-v02.0.0", "is not <format>"),
        ("phi-cfg-20250914-132416-vllm-v2.0.0+b", "unsafe character '+'"),
        ("phi-cfg-20250914-132416-vllm-20250915-124051-v2.0.0", "is not <format>"),
        # the first time is the training time: a later one cannot be it
        ("b-a-20250101-120000-vllm-20250202-101010-gguf", "is not <format>"),
        ("phi cfg-20250914-132416-vllm", "unsafe character ' '"),
        ("phi/x-cfg-20250914-132416-vllm", "unsafe character '/'"),
        ("ph\u00ef-cfg-20250914-132416-vllm", "unsafe character"),
        (".phi-cfg-20250914-132416-vllm", "does not start with a letter or digit"),
        ("phi-_cfg-20250914-132416-vllm", "does not start with a letter or digit"),
    ],
)
def test_parse_name_refuses(text: str, why: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_name(text)
    assert repr(text) in info.value.message
    assert why in info.value.message


def test_parse_name_refuses_overlong_and_non_strings() -> None:
    with pytest.raises(InvalidNameError):
        parse_name("a" * 240 + "-c-20250914-132416-vllm")
    with pytest.raises(TypeError):
        parse_name(None)  # type: ignore[arg-type]


TRAINED = datetime(2025, 9, 14, 13, 24, 16)
EXPORTED = datetime(2025, 9, 15, 12, 40, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"exported_at": EXPORTED}, EXAMPLE),
        ({"exported_at": EXPORTED, "tag": None}, EXAMPLE),
        ({"tag": "v2.0.0"}, "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v2.0.0"),
        ({"tag": "model-v2.0.1"}, "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v2.0.1"),
        ({"tag": "export-v1.0.0"}, "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v1.0.0"),
        # CI passes both: the semver tag wins, exported_at is only the untagged fallback
        ({"tag": "v2.0.0", "exported_at": EXPORTED}, EXAMPLE[: -len("20250915-124051")] + "v2.0.0"),
        ({"tag": "vfoo.bar.baz", "exported_at": EXPORTED}, EXAMPLE),  # not a version tag
        ({"tag": "nightly", "exported_at": EXPORTED}, EXAMPLE),
        ({"version": "v3.1.4"}, "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v3.1.4"),
        (
            {"version": Version(3, 1, 4)},
            "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-v3.1.4",
        ),
    ],
)
def test_build_name(kwargs: dict[str, object], expected: str) -> None:
    name = build_name("phi3mini4k", "minimal-r32-a64-e20", TRAINED, "vllm", **kwargs)  # type: ignore[arg-type]
    assert str(name) == expected
    assert "--" not in str(name) and "vv" not in str(name)
    assert parse_name(str(name)) == name


def test_build_name_defaults_export_time_to_now_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    name = build_name("phi", "cfg", TRAINED, "vllm")
    after = datetime.now(UTC)
    assert name.exported_at is not None and before <= name.exported_at <= after
    assert name.version is None


def test_build_name_converts_aware_times_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    name = build_name(
        "phi",
        "cfg",
        datetime(2025, 9, 14, 15, 24, 16, tzinfo=plus_two),
        "vllm",
        exported_at=EXPORTED,
    )
    assert "-20250914-132416-" in str(name)


@pytest.mark.parametrize(
    ("args", "kwargs", "why"),
    [
        (("", "cfg", "vllm"), {}, "base '': it is empty"),
        (("phi-3", "cfg", "vllm"), {}, "must not contain '-'"),
        (("phi", "", "vllm"), {}, "config '': it is empty"),
        (("phi", "cfg-", "vllm"), {}, "empty part"),
        (("phi", "-cfg", "vllm"), {}, "empty part"),
        (("phi", "a--b", "vllm"), {}, "empty part"),
        (("phi", "cfg", ""), {}, "format '': it is empty"),
        (("phi", "cfg", "q4_k_m-gguf"), {}, "must not contain '-'"),
        (("phi", "cfg", "vl/lm"), {}, "unsafe character '/'"),
        (("phi", "c fg", "vllm"), {}, "unsafe character ' '"),
        (("ph\u00ef", "cfg", "vllm"), {}, "unsafe character"),
        (("phi", "cfg", ".."), {}, "does not start with a letter or digit"),
        (("phi", "cfg", "vllm"), {"version": "2.0.0", "exported_at": EXPORTED}, "not both"),
        (("phi", "cfg", "vllm"), {"version": "2.0.0", "tag": "v2.0.0"}, "not both"),
        (("phi", "cfg", "vllm"), {"version": "2.0.0+b"}, "build metadata"),
        (("phi", "cfg", "vllm"), {"tag": "v2.0.0+b"}, "build metadata"),
        # would read back as config 'c', version 1.0.0-20250202-101010-g
        (("b", "c-20250101-120000-f-v1.0.0", "g"), {}, "holds a YYYYmmdd-HHMMSS time"),
        (("b", "a-20250101-120000-vllm", "g"), {}, "holds a YYYYmmdd-HHMMSS time"),
    ],
)
def test_build_name_refuses(
    args: tuple[str, str, str], kwargs: dict[str, object], why: str
) -> None:
    base, config, fmt = args
    kwargs.setdefault("exported_at", None)
    if "version" not in kwargs and "tag" not in kwargs and kwargs["exported_at"] is None:
        kwargs["exported_at"] = EXPORTED
    with pytest.raises(InvalidNameError) as info:
        build_name(base, config, TRAINED, fmt, **kwargs)  # type: ignore[arg-type]
    assert why in info.value.message


def test_artifact_name_refuses_both_suffixes_directly() -> None:
    with pytest.raises(InvalidNameError):
        ArtifactName("phi", "cfg", TRAINED, "vllm", exported_at=EXPORTED, version=Version(1, 0, 0))


def test_artifact_name_to_dict() -> None:
    assert parse_name(EXAMPLE).to_dict() == {
        "name": EXAMPLE,
        "base": "phi3mini4k",
        "config": "minimal-r32-a64-e20",
        "trained_at": "2025-09-14T13:24:16+00:00",
        "format": "vllm",
        "exported_at": "2025-09-15T12:40:51+00:00",
        "version": None,
    }


# --- latest --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            # alphabetical max would pick "zeta-..." (trained 2024)
            [
                "alpha-cfg-20250101-000000-vllm-20250102-000000",
                "zeta-cfg-20240101-000000-vllm-20240102-000000",
            ],
            "alpha-cfg-20250101-000000-vllm-20250102-000000",
        ),
        (
            # "r32" > "2025..." alphabetically; the r32 build is older
            [
                "phi-minimal-20250914-132416-vllm-20250915-124051",
                "phi-minimal-r32-20240101-000000-vllm-20240102-000000",
            ],
            "phi-minimal-20250914-132416-vllm-20250915-124051",
        ),
        (
            # same training: later export wins
            [
                "phi-cfg-20250914-132416-vllm-20250916-000000",
                "phi-cfg-20250914-132416-vllm-20250915-124051",
            ],
            "phi-cfg-20250914-132416-vllm-20250916-000000",
        ),
        (
            # same training: v10 beats v9, which alphabetical order gets wrong
            ["phi-cfg-20250914-132416-vllm-v10.0.0", "phi-cfg-20250914-132416-vllm-v9.0.0"],
            "phi-cfg-20250914-132416-vllm-v10.0.0",
        ),
        (
            # a release beats its pre-release ("-rc.1" sorts after "" alphabetically)
            ["phi-cfg-20250914-132416-vllm-v2.0.0", "phi-cfg-20250914-132416-vllm-v2.0.0-rc.1"],
            "phi-cfg-20250914-132416-vllm-v2.0.0",
        ),
        (
            # other files in a listing are skipped
            ["README.md", "phi-cfg-20250914-132416-vllm-v1.0.0", "zzz.tar.gz"],
            "phi-cfg-20250914-132416-vllm-v1.0.0",
        ),
    ],
)
def test_latest(names: list[str], expected: str) -> None:
    assert latest(names) == expected
    assert latest(reversed(names)) == expected


@pytest.mark.parametrize(
    "names",
    [
        [
            "alpha-cfg-20250101-000000-vllm-20250102-000000",
            "zeta-cfg-20240101-000000-vllm-20240102-000000",
        ],
        [
            "phi-minimal-20250914-132416-vllm-20250915-124051",
            "phi-minimal-r32-20240101-000000-vllm-20240102-000000",
        ],
        ["phi-cfg-20250914-132416-vllm-v10.0.0", "phi-cfg-20250914-132416-vllm-v9.0.0"],
        ["phi-cfg-20250914-132416-vllm-v2.0.0", "phi-cfg-20250914-132416-vllm-v2.0.0-rc.1"],
    ],
)
def test_latest_is_not_alphabetical(names: list[str]) -> None:
    """avro-finetune's --latest sorted names as text; each of these catches that."""
    assert latest(names) != max(names)


def test_latest_ties_do_not_depend_on_order() -> None:
    names = [
        "phi-cfg-20250914-132416-vllm-20250915-124051",
        "phi-cfg-20250914-132416-gguf-20250915-124051",
    ]
    assert latest(names) == latest(list(reversed(names)))


@pytest.mark.parametrize("names", [[], ["README.md"], ["vllm--v2.0.0", "x"]])
def test_latest_refuses_when_nothing_parses(names: list[str]) -> None:
    with pytest.raises(InvalidNameError):
        latest(names)


def test_latest_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        latest(EXAMPLE)
