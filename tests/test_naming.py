"""Git tags and descriptive names: every edge case here is a bug some real pipeline shipped."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.errors import InvalidNameError, InvalidTagError
from tether.naming import (
    ARCHIVES,
    FORMAT_WORDS,
    ArtifactName,
    Tag,
    build_name,
    format_timestamp,
    is_known_format,
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
        (
            # the training time anchors the format, so it may hold '-' (avro's GGUF names)
            "phi-cfg-20250914-132416-q4_k_m-gguf-20250915-125110",
            ("phi", "cfg", "q4_k_m-gguf", "20250915-125110", None),
        ),
        (
            "llava-v1.5-7b-20250914-132416-my-own-format",  # v1.5 is no version: a config part
            ("llava", "v1.5-7b", "my-own-format", None, None),
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
        ("phi-cfg-20250914-132416-vllm-v2.0", "'v2.0', which looks like a version"),
        ("phi-cfg-20250914-132416-vllm-V2.0.0", "'V2.0.0', which looks like a version"),
        ("phi-cfg-20250914-132416-vllm-v02.0.0", "invalid version 'v02.0.0'"),
        ("phi-cfg-20250914-132416-vllm-v2.0.0+b", "unsafe character '+'"),
        (
            "phi-cfg-20250914-132416-vllm-20250915-124051-v2.0.0",
            "export time 20250915-124051 and a version 2.0.0",
        ),
        ("phi-cfg-20250914-132416-20250915-124051", "no format after the training time"),
        ("phi-cfg-20250914-132416-vllm-20250915", "'20250915', a date with no time"),
        # the first time is the training time: a later one cannot be it
        ("b-a-20250101-120000-vllm-20250202-101010-gguf", "holds a YYYYmmdd-HHMMSS time"),
        # a format first, then another after the time: which one is it?
        ("vllm-phi-cfg-20250914-132416-gguf", "the format comes first or last, not both"),
        ("vllm-20250914-132416.tar.gz", "after the format 'vllm', it needs a base and a config"),
        ("vllm-gguf-cfg-20250914-132416", "base 'gguf': it is an export format"),
        (".tar.gz", "does not start with a letter or digit"),
        ("phi-cfg-20250914-132416-vllm-.zip", "field '.zip' does not start"),
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
        (("vllm", "cfg", "gguf"), {}, "base 'vllm': it is an export format"),
        (("Ollama", "cfg", "gguf"), {}, "base 'Ollama': it is an export format"),
        (("phi", "cfg", "vllm-v2.0"), {}, "looks like a version"),
        (("phi", "cfg", "vllm-20250101-120000"), {}, "holds a YYYYmmdd-HHMMSS time"),
        (("phi", "a-v1.0.0", "vllm"), {}, "would start the version"),
        (("phi", "cfg", "vllm.tar.gz"), {}, "ends in an archive extension"),
        (("phi", "cfg", "custom"), {"exporter_first": True}, "invalid format 'custom': first"),
        (("phi", "cfg", "vllm"), {"archive": "rar"}, "invalid archive extension 'rar'"),
        # ollama + a quant is one format: base q4_k_m would read back as part of it
        (("q4_k_m", "a-b", "ollama"), {"exporter_first": True}, "read back with base 'a'"),
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
        "exporter_first": False,
        "archive": None,
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


# --- every name in avro-finetune's naming guide ----------------------------------------------
# /work/shared/seeds/avro-finetune-model-naming-and-versioning.txt: each of its names with the
# fields the guide documents, or refused with the reason it cannot be read without guessing.

STEM = "phi3mini4k-minimal-r32-a64-e20-20250915-132416"


def _fields(
    base: str,
    config: str,
    trained: str | None,
    fmt: str,
    *,
    exported: str | None = None,
    version: str | None = None,
    first: bool = False,
    archive: str | None = None,
) -> dict[str, Any]:
    """ArtifactName's fields, times written as in the guide."""
    return {
        "base": base,
        "config": config,
        "trained_at": parse_timestamp(trained) if trained else None,
        "format": fmt,
        "exported_at": parse_timestamp(exported) if exported else None,
        "version": version,
        "exporter_first": first,
        "archive": archive,
    }


R32 = "minimal-r32-a64-e20"
AVRO_ACCEPTED = [
    # "Descriptive naming (recommended)" and its three examples
    (
        "phi3mini4k-minimal-r32-a64-e20-20250914-132416-vllm-20250915-124051",
        _fields("phi3mini4k", R32, "20250914-132416", "vllm", exported="20250915-124051"),
    ),
    (
        "phi3mini4k-minimal-r32-a64-e20-20250914-132416-q4_k_m-gguf-20250915-125110",
        _fields("phi3mini4k", R32, "20250914-132416", "q4_k_m-gguf", exported="20250915-125110"),
    ),
    (
        "phi3mini4k-minimal-r32-a64-e20-20250914-132416-lora",
        _fields("phi3mini4k", R32, "20250914-132416", "lora"),
    ),
    # "Versioned Artifacts": the exporter (and quantization) first, then the training run
    (
        f"vllm-{STEM}.tar.gz",
        _fields("phi3mini4k", R32, "20250915-132416", "vllm", first=True, archive="tar.gz"),
    ),
    (
        f"ollama-q4_k_m-{STEM}.tar.gz",
        _fields(
            "phi3mini4k", R32, "20250915-132416", "ollama-q4_k_m", first=True, archive="tar.gz"
        ),
    ),
    (
        f"vllm-{STEM}-v2.0.0.tar.gz",
        _fields(
            "phi3mini4k",
            R32,
            "20250915-132416",
            "vllm",
            version="2.0.0",
            first=True,
            archive="tar.gz",
        ),
    ),
    (
        f"ollama-q4_k_m-{STEM}-v2.0.0.tar.gz",
        _fields(
            "phi3mini4k",
            R32,
            "20250915-132416",
            "ollama-q4_k_m",
            version="2.0.0",
            first=True,
            archive="tar.gz",
        ),
    ),
    # "Legacy Semantic Versioning": no training time, so the format must be a known one
    (
        "phi3mini4k-minimal-vllm-v2.0.1",
        _fields("phi3mini4k", "minimal", None, "vllm", version="2.0.1"),
    ),
    (
        "phi3mini4k-minimal-q4_k_m-gguf-v2.0.1",
        _fields("phi3mini4k", "minimal", None, "q4_k_m-gguf", version="2.0.1"),
    ),
    # "After Version Tags", HF repos: the legacy form again
    ("phi3-avro-vllm-v2.0.0", _fields("phi3", "avro", None, "vllm", version="2.0.0")),
    # "Example: Complete Versioning Workflow"
    ("phi3-avro-vllm-v2.1.0", _fields("phi3", "avro", None, "vllm", version="2.1.0")),
]

GUIDE_TAGS = [
    *("v1.0.0", "v1.0.1", "v1.1.0", "v1.5.0", "v2.0.0", "v2.1.0"),
    *("model-v1.0.0", "model-v1.1.0", "model-v1.5.0", "model-v2.0.0", "model-v2.1.0"),
    *("export-v1.0.0", "export-v1.1.0"),
]

AVRO_REFUSED = [
    # "Current State (Date-Based)": a date with no time is no training or export time
    ("vllm-adapter-20250915", "'20250915' is a date with no time"),
    ("phi3-avro-vllm-20250915", "'20250915' is a date with no time"),
    # "After Version Tags", artifacts: after the exporter, one field cannot be base and config
    ("vllm-adapter-v2.0.0", "after the format 'vllm', 'adapter' is one field"),
    # "Manual Publishing": 'custom' follows the format, so config and format cannot be told apart
    ("phi3-avro-vllm-custom-v2.0.0", "no known format before -v2.0.0"),
    # the guide's training timestamp on its own
    ("20250914-132416", "it needs a base and a config before the training time"),
    # its git tags are read by `tether version parse`, not as names
    *((tag, "it is a git tag") for tag in GUIDE_TAGS),
    ("vfoo.bar.baz", "no YYYYmmdd-HHMMSS training time and no -v<semver>"),
]


@pytest.mark.parametrize(("text", "fields"), AVRO_ACCEPTED)
def test_avro_guide_names_accepted(text: str, fields: dict[str, Any]) -> None:
    documented = ArtifactName(**fields)
    assert parse_name(text) == documented
    assert str(documented) == text  # and the documented fields make exactly this name
    assert parse_name(text).to_dict()["name"] == text


@pytest.mark.parametrize(("text", "why"), AVRO_REFUSED)
def test_avro_guide_names_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_name(text)
    assert repr(text) in info.value.message and why in info.value.message
    assert info.value.hint


def test_format_first_is_never_read_as_base_and_format() -> None:
    """avro's bug: `vllm-...-v2.0.0` read as base vllm, format v2.0.0, preferred by latest."""
    for text in (
        f"vllm-{STEM}-v2.0.0",
        f"vllm-{STEM}-v2.0.0.tar.gz",
        f"ollama-q4_k_m-{STEM}-v2.0.0",
    ):
        name = parse_name(text)
        assert name.base == "phi3mini4k" and name.version == Version(2, 0, 0)
        assert name.exporter_first and name.format in ("vllm", "ollama-q4_k_m")


# --- parse(build(fields)) == fields ----------------------------------------------------------

_PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_QUANTS = ["q4_k_m", "q8_0", "Q5_K_S", "iq2_xs", "f16", "bf16"]
_KNOWN_FORMATS = st.one_of(
    st.sampled_from([*FORMAT_WORDS, "VLLM", "GGUF"]),
    st.sampled_from(_QUANTS).map(lambda q: f"{q}-gguf"),
    st.sampled_from(_QUANTS).map(lambda q: f"ollama-{q}"),
)


def _ordinary(word: str) -> bool:
    """A part that is no format, quant, near-version or archive: free for any field."""
    return not (
        is_known_format(word)
        or is_known_format(f"{word}-gguf")
        or re.match(r"[vV][0-9]+\.", word)
        or re.search(r"\.(tar|gz|tgz|zip|xz|zst|bz2)$", word, re.IGNORECASE)
    )


_WORD = st.from_regex(r"[A-Za-z][A-Za-z0-9._]{0,7}", fullmatch=True).filter(_ordinary)
_WORDS = st.lists(_WORD, min_size=1, max_size=3).map("-".join)
_MOMENT = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda m: m.replace(microsecond=0, tzinfo=UTC)
)
# pre-releases with '-' and with parts shaped like times: the version still reads back whole
_PRE = st.lists(
    st.sampled_from(["rc", "1", "10", "0", "alpha", "rc-1", "x-20250101-120000-b", "vllm"]),
    max_size=3,
)
_VERSION = st.builds(
    lambda a, b, c, pre: Version(a, b, c, tuple(pre)),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    _PRE,
)
_ARCHIVE = st.none() | st.sampled_from([*ARCHIVES, "TAR.GZ", "Zip"])


@st.composite
def _valid_fields(draw: st.DrawFn) -> dict[str, Any]:
    trained = draw(st.none() | _MOMENT)
    first = draw(st.booleans())
    # a format that nothing anchors (first, or no training time) must be a known one
    fmt = draw(_KNOWN_FORMATS if first or trained is None else (_KNOWN_FORMATS | _WORDS))
    suffix = draw(st.sampled_from(["version"] if trained is None else ["version", "export", ""]))
    return {
        "base": draw(_WORD),
        "config": draw(_WORDS),
        "trained_at": trained,
        "format": fmt,
        "exported_at": draw(_MOMENT) if suffix == "export" else None,
        "version": draw(_VERSION) if suffix == "version" else None,
        "exporter_first": first,
        "archive": draw(_ARCHIVE),
    }


@_PROPERTY
@given(fields=_valid_fields())
def test_build_then_parse_round_trips(fields: dict[str, Any]) -> None:
    """Every plain, format-first, legacy and archive name built reads back as its fields."""
    name = ArtifactName(**fields)
    parsed = parse_name(str(name))
    assert parsed == name
    assert {key: getattr(parsed, key) for key in fields} == fields
    assert str(parsed) == str(name)


@_PROPERTY
@given(fields=_valid_fields())
def test_build_name_round_trips(fields: dict[str, Any]) -> None:
    """The same through build_name, the function `tether name build` calls."""
    exported = fields["exported_at"]
    if fields["version"] is None and exported is None:
        exported = datetime(2025, 9, 15, 12, 40, 51, tzinfo=UTC)  # build_name always suffixes
    name = build_name(
        fields["base"],
        fields["config"],
        fields["trained_at"],
        fields["format"],
        exported_at=exported,
        version=fields["version"],
        exporter_first=fields["exporter_first"],
        archive=fields["archive"],
    )
    assert parse_name(str(name)) == name
    assert (name.base, name.config, name.format, name.version) == (
        fields["base"],
        fields["config"],
        fields["format"],
        fields["version"],
    )


# Parts that tempt a misparse: formats, quants, times, versions and near-versions, archives.
_TRICKY = st.sampled_from(
    [
        *("vllm", "gguf", "lora", "ollama", "onnx", "q4_k_m", "Q8_0", "f16"),
        *("phi3", "cfg", "avro", "adapter", "custom", "r32", "v1", "v1.5"),
        *("20250914", "132416", "20250915", "250000"),
        *("20250914-132416", "20250915-124051", "20250915-124051", "20251399-250000"),
        *("v2.0.0", "v10.0.0", "v2.0", "V2.0.0", "v02.0.0", "rc.1", "rc", "1"),
        *("x.tar", "a.zip", "gz", "tar"),
    ]
)
_TRICKY_NAMES = st.builds(
    lambda head, anchor, tail, ext: "-".join([*head, *anchor, *tail]) + ext,
    st.lists(_TRICKY, min_size=1, max_size=4),
    st.sampled_from([[], ["20250914-132416"], ["v2.0.0"], ["20250914-132416", "vllm"]]),
    st.lists(_TRICKY, max_size=3),
    st.sampled_from(["", ".tar.gz", ".zip", ".TGZ"]),
)


@settings(max_examples=1500, deadline=None)
@given(text=_TRICKY_NAMES)
def test_a_name_is_read_one_way_or_refused(text: str) -> None:
    """Never misparse: a name either is refused or reads back as itself, and then a version-
    shaped part is the version and a base is never a format (avro's `vllm-...-v2.0.0`)."""
    try:
        name = parse_name(text)
    except InvalidNameError as exc:
        assert exc.message.startswith(f"invalid name {text!r}: ") and exc.hint
        return
    assert str(name) == text
    assert parse_name(str(name)) == name
    assert not is_known_format(name.base)
    stem = text[: -len(name.archive) - 1] if name.archive else text
    if any(re.fullmatch(r"v[0-9]+\.[0-9]+\.[0-9]+", part) for part in stem.split("-")):
        assert name.version is not None
        assert f"-v{name.version}" in text
    if name.trained_at is None or name.exporter_first:
        assert is_known_format(name.format)
    assert not any(re.fullmatch(r"[0-9]{8}", part) for part in name.format.split("-"))


# --- latest across forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            # read as format v10.0.0 / v9.0.0 and tied, alphabetical order picked v9
            [f"vllm-{STEM}-v10.0.0.tar.gz", f"vllm-{STEM}-v9.0.0.tar.gz"],
            f"vllm-{STEM}-v10.0.0.tar.gz",
        ),
        (
            # a later training run beats a higher version of an older one
            [
                f"vllm-{STEM}-v2.0.1.tar.gz",
                "vllm-phi3mini4k-minimal-r32-a64-e20-20250916-000000.tar.gz",
                f"vllm-{STEM}-v2.0.0.tar.gz",
            ],
            "vllm-phi3mini4k-minimal-r32-a64-e20-20250916-000000.tar.gz",
        ),
        (
            # archive and plain names of one run: ordered by their fields, not their spelling
            [
                f"ollama-q4_k_m-{STEM}-v2.0.0.tar.gz",
                "phi3mini4k-minimal-r32-a64-e20-20250915-132416-q4_k_m-gguf-v2.0.1",
                f"vllm-{STEM}.tar.gz",
            ],
            "phi3mini4k-minimal-r32-a64-e20-20250915-132416-q4_k_m-gguf-v2.0.1",
        ),
        (
            # legacy names, no training time: by version
            [
                "phi3mini4k-minimal-vllm-v2.0.1",
                "phi3mini4k-minimal-vllm-v10.0.0-rc.1",
                "phi3mini4k-minimal-q4_k_m-gguf-v2.0.9",
                "vllm-adapter-v99.0.0",  # refused, skipped
            ],
            "phi3mini4k-minimal-vllm-v10.0.0-rc.1",
        ),
    ],
)
def test_latest_across_forms(names: list[str], expected: str) -> None:
    assert latest(names) == expected
    assert latest(reversed(names)) == expected


def test_latest_refuses_to_order_timed_against_untimed_names() -> None:
    with pytest.raises(InvalidNameError) as info:
        latest(["phi3mini4k-minimal-vllm-v2.0.1", f"vllm-{STEM}-v2.0.0.tar.gz"])
    assert "cannot order 'phi3mini4k-minimal-vllm-v2.0.1' (no training time)" in (
        info.value.message
    )
