"""Versions and release tags: every edge case here is a bug some real pipeline shipped."""

from __future__ import annotations

import functools
import itertools
import random

import pytest

from tether.errors import InvalidTagError, InvalidVersionError
from tether.versioning import (
    Version,
    next_version,
    normalize_version,
    parse_release_tag,
    parse_version,
    release_tag,
)

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
