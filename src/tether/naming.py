"""Git tags and descriptive artifact names: parsed strictly so they cannot drift.

Two grammars live here, each with a parser that refuses anything it cannot read back:

* git tags: ``v1.2.3``, ``model-v1.2.3``, ``export-v1.2.3`` carry a version, anything else
  is its own string; ``vfoo.bar.baz`` is *not* a version tag (avro-finetune's bug);
* descriptive names, ``-``-separated parts of ASCII letters, digits, ``.`` and ``_``, in
  three forms, any of them ending in an archive extension (ARCHIVES: ``.tar.gz``, ...):

  - format last: ``<base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<YYYYmmdd-HHMMSS>|-v<semver>]``
    (``...-20250914-132416-q4_k_m-gguf-20250915-125110``, ``...-lora``); the training time
    anchors the fields, so the format may be any parts (``vllm``, ``q4_k_m-gguf``, ``V_1``);
  - format first, as avro's archives:
    ``<format>-<base>-<config>-<YYYYmmdd-HHMMSS>[-<YYYYmmdd-HHMMSS>|-v<semver>]``
    (``vllm-...-v2.0.0.tar.gz``, ``ollama-q4_k_m-...tar.gz``); ``format`` is the prefix as
    written (``vllm``, ``ollama-q4_k_m``) and ``exporter_first`` says where it stood;
  - no training time (legacy): ``<base>-<config>-<format>-v<semver>``
    (``phi3mini4k-minimal-q4_k_m-gguf-v2.0.1``) or ``<format>-<base>-<config>-v<semver>``.

  A format not anchored by the training time before it must be a known one: FORMAT_WORDS,
  ``<quant>-gguf`` or ``ollama-<quant>`` (``<quant>`` a llama.cpp type: q4_k_m, q8_0, f16).
  Four rules make every name read one way, and anything else is refused with its reason:

  1. a name whose first part is a known format is format first: a base is never a format,
     so ``vllm-...-v2.0.0`` is never base ``vllm``, format ``v2.0.0``;
  2. the first ``YYYYmmdd-HHMMSS`` pair or ``v<N>.<N>.<N>`` part, whichever comes first,
     ends the base and config: it is the training time, or the version (no training time);
  3. the longest known format wins (``q4_k_m-gguf`` over ``gguf``), and base and config
     are one part and the rest before it;
  4. a part that nearly spells a version (``v2.0``, ``V2.0.0``) or a date with no time
     (``20250915``) is refused where a format would be, never kept as one.

  So ``phi3-avro-vllm-custom-v2.0.0`` is refused (no known format before the version:
  config and format cannot be told apart), and so is ``vllm-adapter-20250915`` (a date with
  no time is neither a training nor an export time). ArtifactName refuses fields whose name
  would read back differently, so parse_name(str(name)) == name for every name it makes
  (tests/test_naming.py: test_build_then_parse_round_trips). ``latest`` picks by parsed
  times and versions, never by text. docs/spine.md ("Descriptive names") has the table.

Versions inside them are tether.versioning's strict SemVer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from tether.errors import InvalidNameError, InvalidTagError, InvalidVersionError, shorten
from tether.versioning import (
    EXPORT_TAG_PREFIX,
    RELEASE_TAG_PREFIX,
    Version,
    as_version,
    match_semver,
    parse_version,
    refuse_build_metadata,
    why_not_semver,
)

if TYPE_CHECKING:
    import logging

__all__ = [
    "ARCHIVES",
    "FORMAT_WORDS",
    "NAME_GRAMMAR",
    "TAG_KINDS",
    "ArtifactName",
    "Tag",
    "build_name",
    "format_timestamp",
    "is_known_format",
    "latest",
    "parse_name",
    "parse_tag",
    "parse_timestamp",
]


# --- git tags ----------------------------------------------------------------------------

# Longest prefix first: "model-v1.0.0" must not be read as kind "v".
_TAG_KINDS = (("model", RELEASE_TAG_PREFIX), ("export", EXPORT_TAG_PREFIX), ("v", "v"))
TAG_KINDS = ("v", "model", "export", "other")


@dataclass(frozen=True)
class Tag:
    """A git tag read as a version source: ``kind`` says which prefix, if any, carried one."""

    text: str
    kind: str  # "v" | "model" | "export" | "other"
    version: Version | None = None

    def __post_init__(self) -> None:
        if self.kind not in TAG_KINDS:
            raise ValueError(f"Tag kind must be one of {TAG_KINDS}, got {self.kind!r}")
        if (self.kind == "other") != (self.version is None):
            raise ValueError("a Tag has a version exactly when its kind is not 'other'")

    @property
    def is_semver(self) -> bool:
        return self.version is not None

    @property
    def version_string(self) -> str:
        """The semver for version tags; for any other tag, the tag itself (as avro did)."""
        return str(self.version) if self.version is not None else self.text


def _why_not_semver_tag(tag: str) -> str:
    for _, prefix in _TAG_KINDS:
        if tag.startswith(prefix):
            rest = tag[len(prefix) :]
            return f"after {prefix!r}, {shorten(rest)}: {why_not_semver(rest)}"
    return "it does not start with v, model-v or export-v"


def parse_tag(tag: str, *, require_semver: bool = False) -> Tag:
    """Read a git tag: ``v1.2.3``, ``model-v1.2.3``, ``export-v1.2.3`` carry a semver.

    Prefixes are case-sensitive, as git tags and CI tag filters are. Anything else, including
    look-alikes such as ``vfoo.bar.baz``, ``v1.2`` or ``model-vv1.0.0``, is kind ``other``;
    with ``require_semver`` that is an error instead.
    """
    if not isinstance(tag, str):
        raise InvalidTagError(f"invalid tag {shorten(tag)}: not a string")
    if not tag:
        raise InvalidTagError("invalid tag '': it is empty")
    if "/" in tag or "\\" in tag:
        raise InvalidTagError(
            f"invalid tag {shorten(tag)}: it contains a slash",
            "pass the tag name only, e.g. v1.2.3 rather than refs/tags/v1.2.3",
        )
    for c in tag:
        if c.isspace() or not c.isprintable():
            raise InvalidTagError(
                f"invalid tag {shorten(tag)}: it contains whitespace or a control character"
            )
    for kind, prefix in _TAG_KINDS:
        if tag.startswith(prefix):
            version = match_semver(tag[len(prefix) :])
            if version is not None:
                return Tag(tag, kind, version)
            break
    if require_semver:
        raise InvalidTagError(
            f"tag {shorten(tag)} is not a semantic version tag: {_why_not_semver_tag(tag)}"
        )
    return Tag(tag, "other", None)


# --- descriptive artifact names ----------------------------------------------------------

_STAMP_FORMAT = "%Y%m%d-%H%M%S"
_FIELD = r"[A-Za-z0-9][A-Za-z0-9._]*"
_FIELD_RE = re.compile(_FIELD)
_STAMP_RE = re.compile(r"[0-9]{8}-[0-9]{6}")
_DATE_PART = re.compile(r"[0-9]{8}")
_TIME_PART = re.compile(r"[0-9]{6}")
# A part spelling v<MAJOR>.<MINOR>.<PATCH> starts the version (its pre-release may go on
# with '-'); one nearly that (v2.0, V2.0.0) is refused, not read as a format
# (tests/test_naming.py: test_a_name_is_read_one_way_or_refused).
_VERSION_START = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+")
_NEAR_VERSION = re.compile(r"[vV][0-9]+\.")
# llama.cpp's quantization types (q4_k_m, q8_0, iq2_xs, f16): <quant>-gguf, ollama-<quant>.
_QUANT = re.compile(r"i?q[1-8](?:_[0-9a-z]+)*|f16|f32|bf16", re.IGNORECASE)
# The vocabulary that finds a format no training time anchors; a base is never one
# (test_format_first_is_never_read_as_base_and_format).
FORMAT_WORDS = ("vllm", "gguf", "lora", "onnx", "ollama", "safetensors", "mlx", "awq", "gptq")
ARCHIVES = ("tar.gz", "tar.zst", "tar.xz", "tar.bz2", "tgz", "tar", "zip")
_NAME_MAX = 255  # a file name limit; the grammar is no use if the name cannot be a file
NAME_GRAMMAR = "<base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<YYYYmmdd-HHMMSS>|-v<semver>]"
_KNOWN = f"{', '.join(FORMAT_WORDS)}, <quant>-gguf, ollama-<quant>"
_NAME_HINT = f"write {NAME_GRAMMAR}; tether name --help shows the other forms"


def format_timestamp(moment: datetime) -> str:
    """``YYYYmmdd-HHMMSS`` of a datetime in UTC (naive datetimes are taken as UTC)."""
    m = _to_utc(moment, "timestamp")
    return f"{m.year:04d}{m.month:02d}{m.day:02d}-{m.hour:02d}{m.minute:02d}{m.second:02d}"


def parse_timestamp(text: str, *, field: str = "timestamp") -> datetime:
    """Parse ``YYYYmmdd-HHMMSS`` (UTC) and refuse dates and times that do not exist."""
    if not isinstance(text, str) or not _STAMP_RE.fullmatch(text):
        raise InvalidNameError(
            f"invalid {field} {shorten(text)}: not YYYYmmdd-HHMMSS",
            "use a UTC time such as 20250914-132416",
        )
    try:
        moment = datetime.strptime(text, _STAMP_FORMAT)
    except ValueError:
        raise InvalidNameError(
            f"invalid {field} {shorten(text)}: no such date or time",
            "use a real UTC date and time such as 20250914-132416",
        ) from None
    return moment.replace(tzinfo=timezone.utc)


def _to_utc(moment: Any, field: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{field} must be a datetime, got {moment!r}")
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        moment = moment.astimezone(timezone.utc)
    # The name holds whole seconds in UTC; keep exactly that so names round-trip.
    return moment.replace(microsecond=0, tzinfo=timezone.utc)


def is_known_format(text: str) -> bool:
    """Whether ``text`` is in the format vocabulary: FORMAT_WORDS, ``<quant>-gguf``,
    ``ollama-<quant>`` (case-insensitive)."""
    return _known_format(text.split("-"))


def _known_format(parts: Sequence[str]) -> bool:
    if len(parts) == 1:
        return parts[0].lower() in FORMAT_WORDS
    if len(parts) == 2:
        first, second = (part.lower() for part in parts)
        return bool(
            (second == "gguf" and _QUANT.fullmatch(first))
            or (first == "ollama" and _QUANT.fullmatch(second))
        )
    return False


def _leading_format(parts: Sequence[str]) -> int:
    """How many parts the known format at the start takes (the longest wins), 0 if none."""
    return next((n for n in (2, 1) if len(parts) >= n and _known_format(parts[:n])), 0)


def _trailing_format(parts: Sequence[str]) -> int:
    """How many parts the known format at the end takes (the longest wins), 0 if none."""
    return next((n for n in (2, 1) if len(parts) >= n and _known_format(parts[-n:])), 0)


def _is_stamp(parts: Sequence[str], i: int) -> bool:
    return (
        i + 1 < len(parts)
        and bool(_DATE_PART.fullmatch(parts[i]))
        and bool(_TIME_PART.fullmatch(parts[i + 1]))
    )


def _first_stamp(parts: Sequence[str]) -> int | None:
    """Index of the first ``YYYYmmdd``, ``HHMMSS`` pair of ``-``-separated parts."""
    return next((i for i in range(len(parts)) if _is_stamp(parts, i)), None)


def _split_archive(text: str) -> tuple[str, str | None]:
    lower = text.lower()
    for ext in ARCHIVES:
        if lower.endswith("." + ext):
            return text[: -len(ext) - 1], text[-len(ext) :]
    return text, None


def _check_field(value: Any, field: str, *, dashes: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {value!r}")
    parts = value.split("-") if dashes else [value]
    if not value or any(not part for part in parts):
        what = "is empty" if not value else "has an empty part (leading, trailing or double '-')"
        raise InvalidNameError(f"invalid {field} {shorten(value)}: it {what}", _NAME_HINT)
    if not dashes and "-" in value:
        raise InvalidNameError(
            f"invalid {field} {shorten(value)}: it must not contain '-' (names split on it)",
            "use '_' or '.' instead, e.g. phi3_mini",
        )
    for part in parts:
        if not (part.isascii() and _FIELD_RE.fullmatch(part)):
            bad = next((c for c in part if not (c.isascii() and (c.isalnum() or c in "._"))), None)
            what = (
                f"unsafe character {bad!r}"
                if bad
                else f"{part!r} does not start with a letter or digit"
            )
            raise InvalidNameError(f"invalid {field} {shorten(value)}: {what}", _NAME_HINT)
    if _split_archive(value)[1] is not None:
        raise InvalidNameError(
            f"invalid {field} {shorten(value)}: it ends in an archive extension",
            "pass the extension as the archive (--archive), not inside a field",
        )
    return value


class _Fields(NamedTuple):
    base: str
    config: str
    trained_at: datetime | None
    format: str
    exported_at: datetime | None
    version: Version | None
    exporter_first: bool
    archive: str | None


def _refuse(reason: str) -> InvalidNameError:
    return InvalidNameError(reason, _NAME_HINT)


def _why_not_characters(text: str) -> str | None:
    bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
    if bad is not None:
        return f"unsafe character {bad!r}"
    if text.startswith("-") or text.endswith("-") or "--" in text:
        return "it has an empty field (leading, trailing or double '-')"
    odd = next((part for part in text.split("-") if part[0] in "._"), None)
    if odd is not None:
        return f"field {odd!r} does not start with a letter or digit"
    return None


def _read_version(parts: Sequence[str]) -> Version:
    text = "-".join(parts)
    try:
        return parse_version(text)
    except InvalidVersionError as exc:
        raise _refuse(exc.message) from None


def _split(text: str) -> _Fields:
    """The fields of ``text``, or InvalidNameError whose message is the reason alone."""
    why = _why_not_characters(text)
    if why is not None:
        raise _refuse(why)
    if parse_tag(text).is_semver:
        raise InvalidNameError(
            "it is a git tag, not an artifact name", f"read it with: tether version parse {text}"
        )
    stem, archive = _split_archive(text)
    why = _why_not_characters(stem) if stem else "it has nothing before the archive extension"
    if why is not None:
        raise _refuse(why)
    parts = stem.split("-")
    lead = _leading_format(parts)  # rule 1: a base is never a format
    start = lead
    where = f"after the format {'-'.join(parts[:lead])!r}, " if lead else ""
    end = next(
        (
            i
            for i in range(start, len(parts))
            if _is_stamp(parts, i) or _VERSION_START.fullmatch(parts[i])
        ),
        None,
    )
    if end is None:
        date = next((p for p in parts[start:] if _DATE_PART.fullmatch(p)), None)
        if date is not None:
            raise _refuse(
                f"{date!r} is a date with no time: it cannot be read as a training or an export "
                "time (YYYYmmdd-HHMMSS), and with no -v<semver> nothing else says when it was made"
            )
        raise _refuse(f"{where}it has no YYYYmmdd-HHMMSS training time and no -v<semver> version")
    if _is_stamp(parts, end):
        return _split_trained(parts, lead, end, where, archive)
    return _split_untrained(parts, lead, end, where, archive)


def _split_trained(
    parts: list[str], lead: int, end: int, where: str, archive: str | None
) -> _Fields:
    stamp = f"{parts[end]}-{parts[end + 1]}"
    head = parts[lead:end]
    if len(head) < 2:
        raise _refuse(f"{where}it needs a base and a config before the training time {stamp}")
    trained = parse_timestamp(stamp, field="training time")
    tail = parts[end + 2 :]
    at = next((i for i, part in enumerate(tail) if _VERSION_START.fullmatch(part)), None)
    version = _read_version(tail[at:]) if at is not None else None
    rest = tail[:at] if at is not None else tail
    exported = None
    if len(rest) >= 2 and _is_stamp(rest, len(rest) - 2):
        exported = parse_timestamp("-".join(rest[-2:]), field="export time")
        rest = rest[:-2]
    if exported is not None and version is not None:
        raise _refuse(
            f"it has an export time {format_timestamp(exported)} and a version {version}: "
            "a name has one or the other"
        )
    if lead:
        if rest:
            raise _refuse(
                f"{where}only an export time or -v<semver> may follow the training time "
                f"{stamp}, not {'-'.join(rest)!r} (the format comes first or last, not both)"
            )
        fmt = "-".join(parts[:lead])
    else:
        if not rest:
            after = (
                ""
                if exported is None and version is None
                else " before the " + ("export time" if exported is not None else "version")
            )
            raise _refuse(f"it has no format after the training time {stamp}{after}")
        fmt = "-".join(rest)
        _check_format_parts(rest, f"after the training time {stamp}, the format {fmt!r}")
    return _Fields(
        head[0], "-".join(head[1:]), trained, fmt, exported, version, bool(lead), archive
    )


def _check_format_parts(parts: Sequence[str], what: str) -> None:
    if _first_stamp(parts) is not None:
        raise _refuse(
            f"{what} holds a YYYYmmdd-HHMMSS time, which can only be the export time at the end"
        )
    date = next((part for part in parts if _DATE_PART.fullmatch(part)), None)
    if date is not None:
        raise _refuse(
            f"{what} holds {date!r}, a date with no time: it cannot be read as the export "
            "time (YYYYmmdd-HHMMSS)"
        )
    near = next((part for part in parts if _NEAR_VERSION.match(part)), None)
    if near is not None:
        raise _refuse(
            f"{what} holds {near!r}, which looks like a version but is not v<MAJOR>.<MINOR>.<PATCH>"
        )


def _split_untrained(
    parts: list[str], lead: int, end: int, where: str, archive: str | None
) -> _Fields:
    version = _read_version(parts[end:])
    head = parts[lead:end]
    if lead:
        if len(head) < 2:
            shown = f"{'-'.join(head)!r} is one field" if head else "nothing comes"
            raise _refuse(f"{where}{shown} before the version: it needs <base>-<config>")
        base, config, fmt = head[0], "-".join(head[1:]), "-".join(parts[:lead])
    else:
        n = _trailing_format(head)
        if n == 0:
            known = next((p for p in head[1:] if _known_format([p])), None)
            seen = (
                f"; {known!r} is a known format but does not come last" if known is not None else ""
            )
            raise _refuse(
                f"it has no training time and no known format before -v{version} "
                f"({_KNOWN}): cannot tell the config from the format{seen}"
            )
        fmt = "-".join(head[-n:])
        if len(head) - n < 2:
            raise _refuse(f"it needs a base and a config before the format {fmt!r}")
        base, config = head[0], "-".join(head[1:-n])
    return _Fields(base, config, None, fmt, None, version, bool(lead), archive)


@dataclass(frozen=True)
class ArtifactName:
    """A descriptive artifact name; ``str()`` builds it and ``parse_name`` reads it back.

    Datetimes are stored in UTC to the second (naive ones are taken as UTC), because that is
    all the name holds. A name has at most one suffix: an export time or a version; a name
    with no training time has a version. ``exporter_first`` puts the format at the front
    (``vllm-<base>-...``), ``archive`` ends the name (``tar.gz``, as written).
    """

    base: str
    config: str
    trained_at: datetime | None
    format: str
    exported_at: datetime | None = None
    version: Version | None = None
    exporter_first: bool = False
    archive: str | None = None

    def __post_init__(self) -> None:
        _check_field(self.base, "base")
        if _known_format([self.base]):
            raise InvalidNameError(
                f"invalid base {self.base!r}: it is an export format, and a name that starts "
                "with one is read format first",
                "name the base model (e.g. phi3mini4k); put the format in --format",
            )
        _check_field(self.config, "config", dashes=True)
        parts = self.config.split("-")
        if _first_stamp(parts) is not None:
            raise InvalidNameError(
                f"invalid config {self.config!r}: it holds a YYYYmmdd-HHMMSS time, and the "
                "first such time in a name is the training time",
                "drop the time from the config, or join its parts with '_' or '.'",
            )
        bad = next((part for part in parts if _VERSION_START.fullmatch(part)), None)
        if bad is not None:
            raise InvalidNameError(
                f"invalid config {self.config!r}: its part {bad!r} would start the version",
                "drop the version from the config, or join it with '_' (e.g. data_v1.0.0)",
            )
        _check_field(self.format, "format", dashes=True)
        if (self.trained_at is None or self.exporter_first) and not is_known_format(self.format):
            where = "first" if self.exporter_first else "in a name without a training time"
            raise InvalidNameError(
                f"invalid format {self.format!r}: {where}, only a known format ({_KNOWN}) can "
                "be told from the base and config",
                "give a training time and put the format last, or use a known format",
            )
        if self.trained_at is not None:
            object.__setattr__(self, "trained_at", _to_utc(self.trained_at, "trained_at"))
        if self.exported_at is not None:
            object.__setattr__(self, "exported_at", _to_utc(self.exported_at, "exported_at"))
        if self.version is not None:
            version = as_version(self.version)
            refuse_build_metadata(version, f"the version in a name ({version})", InvalidNameError)
            object.__setattr__(self, "version", version)
        if self.exported_at is not None and self.version is not None:
            raise InvalidNameError(
                "a name has an export time or a version, not both "
                f"(exported_at {format_timestamp(self.exported_at)}, version {self.version})",
                "pass a version for tagged builds, an export time otherwise",
            )
        if self.trained_at is None and self.version is None:
            raise InvalidNameError(
                "a name without a training time needs a version (a lone time would be read "
                "as the training time)",
                "pass a semver tag such as v2.0.1, or the training time",
            )
        if not isinstance(self.exporter_first, bool):
            raise TypeError(f"exporter_first must be a bool, got {self.exporter_first!r}")
        if self.archive is not None and (
            not isinstance(self.archive, str) or self.archive.lower() not in ARCHIVES
        ):
            raise InvalidNameError(
                f"invalid archive extension {shorten(self.archive)}",
                f"use one of {', '.join(ARCHIVES)}",
            )
        self._check_reads_back()

    def _check_reads_back(self) -> None:
        # The backstop of parse(build(fields)) == fields: tests/test_naming.py's property test.
        text = str(self)
        if len(text) > _NAME_MAX:
            raise InvalidNameError(
                f"name {shorten(text)} is {len(text)} characters, over {_NAME_MAX}",
                "shorten the base, config or format",
            )
        try:
            got = _split(text)
        except InvalidNameError as exc:
            raise InvalidNameError(
                f"name {shorten(text)} would not read back: {exc.message}", exc.hint
            ) from None
        want = self._fields()
        for field, mine, read in zip(_Fields._fields, want, got, strict=True):
            if mine != read:
                raise InvalidNameError(
                    f"name {shorten(text)} would read back with {field} {read!r}, not {mine!r}",
                    "avoid fields that look like formats, times or versions next to them",
                )

    def _fields(self) -> _Fields:
        return _Fields(
            self.base,
            self.config,
            self.trained_at,
            self.format,
            self.exported_at,
            self.version,
            self.exporter_first,
            self.archive,
        )

    def __str__(self) -> str:
        stamp = [format_timestamp(self.trained_at)] if self.trained_at is not None else []
        body = [self.base, self.config, *stamp]
        parts = [self.format, *body] if self.exporter_first else [*body, self.format]
        if self.exported_at is not None:
            parts.append(format_timestamp(self.exported_at))
        elif self.version is not None:
            parts.append(f"v{self.version}")
        text = "-".join(parts)
        return f"{text}.{self.archive}" if self.archive is not None else text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as ISO 8601 UTC)."""
        return {
            "name": str(self),
            "base": self.base,
            "config": self.config,
            "trained_at": self.trained_at.isoformat() if self.trained_at else None,
            "format": self.format,
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
            "version": str(self.version) if self.version is not None else None,
            "exporter_first": self.exporter_first,
            "archive": self.archive,
        }


_SEMVERISH_TAG = re.compile(r"(?:model-|export-)?v[0-9]")


def build_name(
    base: str,
    config: str,
    trained_at: datetime | None,
    fmt: str,
    *,
    exported_at: datetime | None = None,
    version: str | Version | None = None,
    tag: str | None = None,
    exporter_first: bool = False,
    archive: str | None = None,
) -> ArtifactName:
    """Name an artifact: a semver ``tag`` (or ``version``) gives ``-v<version>``, else
    ``-<export time>`` (``exported_at``, default now in UTC).

    ``exported_at`` is the fallback for untagged runs, so CI may always pass it with the
    tag; ``version`` with ``exported_at``, or with ``tag``, is a contradiction and refused.
    With no ``trained_at`` (a legacy name) a version is required. ``exporter_first`` puts
    the format first; ``archive`` (``tar.gz`` or ``.tar.gz``) ends the name.
    """
    if version is not None and exported_at is not None:
        raise InvalidNameError(
            "give a version or an export time for a name, not both",
            "pass version= for tagged builds, exported_at= otherwise",
        )
    if version is not None and tag is not None:
        raise InvalidNameError(
            f"give a version or a tag for a name, not both (version {version}, tag {tag!r})",
            "pass the git tag only; its version is read from it",
        )
    if tag is not None:
        parsed = parse_tag(tag)
        if parsed.version is not None:
            version = parsed.version
        elif _SEMVERISH_TAG.match(tag):
            _log().warning(
                "tag %r looks like a version tag but is not semver; naming by export time", tag
            )
    if isinstance(archive, str) and archive.startswith("."):
        archive = archive[1:]
    extra: dict[str, Any] = {"exporter_first": exporter_first, "archive": archive}
    if version is not None:
        return ArtifactName(base, config, trained_at, fmt, version=as_version(version), **extra)
    if trained_at is None:
        raise InvalidNameError(
            "a name without a training time needs a version"
            + (f"; tag {tag!r} is not a semver tag" if tag is not None else ""),
            "pass a semver tag such as v2.0.1, or the training time",
        )
    if exported_at is None:
        exported_at = datetime.now(timezone.utc)
    return ArtifactName(base, config, trained_at, fmt, exported_at=exported_at, **extra)


def parse_name(text: str) -> ArtifactName:
    """Read a descriptive name back into its fields; ``str()`` of the result is ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"a name must be a string, got {text!r}")
    if not text:
        raise InvalidNameError("invalid name '': it is empty", _NAME_HINT)
    if len(text) > _NAME_MAX:
        raise InvalidNameError(f"invalid name {text[:40]!r}...: over {_NAME_MAX} characters")
    try:
        return ArtifactName(*_split(text))
    except InvalidNameError as exc:
        raise InvalidNameError(f"invalid name {text!r}: {exc.message}", exc.hint) from None


def _recency(name: ArtifactName) -> tuple[Any, ...]:
    # Same training time: a versioned build ranks above a timestamped export, which ranks
    # above a name with no suffix; within a kind, later export or higher version wins.
    if name.version is not None:
        return (name.trained_at, 2, name.version.precedence_key)
    if name.exported_at is not None:
        return (name.trained_at, 1, name.exported_at)
    return (name.trained_at, 0, ())


def latest(names: Iterable[str]) -> str:
    """The most recent name by training time, then export time or version; never by alphabet.

    Unparsable names (other files in a listing) are skipped if at least one name parses;
    exact ties fall back to the name text so the answer does not depend on input order.
    Names without a training time (legacy ``-v<semver>`` ones) are ordered by version, and
    refused next to timed ones: which is newer cannot be read from the names.
    """
    if isinstance(names, str):
        raise TypeError("latest takes an iterable of names, not one string")
    parsed: list[tuple[ArtifactName, str]] = []
    errors: list[InvalidNameError] = []
    for text in names:
        try:
            parsed.append((parse_name(text), text))
        except InvalidNameError as exc:
            errors.append(exc)
            _log().debug("latest: skipping %s", exc)
    if not parsed:
        if not errors:
            raise InvalidNameError("no names to choose the latest from", _NAME_HINT)
        raise InvalidNameError(
            f"none of the {len(errors)} names parse; first: {errors[0].message}", _NAME_HINT
        )
    timed = next((text for name, text in parsed if name.trained_at is not None), None)
    untimed = next((text for name, text in parsed if name.trained_at is None), None)
    if timed is not None and untimed is not None:
        raise InvalidNameError(
            f"cannot order {untimed!r} (no training time) against {timed!r} (trained at a "
            "time): the names do not say which is newer",
            "compare names of one kind: all with a training time, or all without",
        )
    return max(parsed, key=lambda item: (*_recency(item[0]), item[1]))[1]


def _log() -> logging.Logger:
    import logging  # on use: this module is on the start-up path of every command

    return logging.getLogger(__name__)
