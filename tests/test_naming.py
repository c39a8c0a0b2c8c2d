"""Git tags and descriptive names: every edge case here is a bug some real pipeline shipped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tether.errors import InvalidNameError, InvalidTagError
from tether.naming import (
    ArtifactName,
    Tag,
    build_name,
    format_timestamp,
    latest,
    parse_name,
    parse_tag,
    parse_timestamp,
)
from tether.versioning import Version

UTC = timezone.utc


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
