"""Git tags and descriptive artifact names: parsed strictly so they cannot drift.

Two grammars live here, each with a parser that refuses anything it cannot read back:

* git tags: ``v1.2.3``, ``model-v1.2.3``, ``export-v1.2.3`` carry a version, anything else
  is its own string; ``vfoo.bar.baz`` is *not* a version tag (avro-finetune's bug);
* descriptive names ``<base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<suffix>]``, refusing
  empty fields (``vllm--v2.0.0``) and picking the latest by time, never by alphabet.

Versions inside them are tether.versioning's strict SemVer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tether.errors import InvalidNameError, InvalidTagError, InvalidVersionError, shorten
from tether.versioning import (
    EXPORT_TAG_PREFIX,
    RELEASE_TAG_PREFIX,
    RELEASE_VERSION_PATTERN,
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
    "NAME_GRAMMAR",
    "TAG_KINDS",
    "ArtifactName",
    "Tag",
    "build_name",
    "format_timestamp",
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
_STAMP = r"[0-9]{8}-[0-9]{6}"
_FIELD_RE = re.compile(_FIELD)
_STAMP_RE = re.compile(_STAMP)
_DATE_PART = re.compile(r"[0-9]{8}")
_TIME_PART = re.compile(r"[0-9]{6}")
# The first YYYYmmdd-HHMMSS is the training time (a config may not hold one); the config is
# matched lazily and each suffix strictly, so `-v<semver>` with hyphens in its pre-release
# reads back. ArtifactName also checks that its own str() reads back, as a backstop.
_NAME_RE = re.compile(
    rf"(?P<base>{_FIELD})-(?P<config>{_FIELD}(?:-{_FIELD})*?)-(?P<trained>{_STAMP})"
    rf"-(?P<format>{_FIELD})"
    rf"(?:-(?P<exported>{_STAMP})|-v(?P<version>{RELEASE_VERSION_PATTERN}))?"
)
_NAME_MAX = 255  # a file name limit; the grammar is no use if the name cannot be a file
NAME_GRAMMAR = "<base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<YYYYmmdd-HHMMSS>|-v<semver>]"
_NAME_HINT = (
    f"a name is {NAME_GRAMMAR}, fields of ASCII letters, digits, '.' and '_' "
    "(the config may join such parts with '-')"
)


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
            "use '_' or '.' instead, e.g. q4_k_m.gguf",
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
    return value


@dataclass(frozen=True)
class ArtifactName:
    """A descriptive artifact name; ``str()`` builds it and ``parse_name`` reads it back.

    Datetimes are stored in UTC to the second (naive ones are taken as UTC), because that is
    all the name holds. A name has at most one suffix: an export time or a version.
    """

    base: str
    config: str
    trained_at: datetime
    format: str
    exported_at: datetime | None = None
    version: Version | None = None

    def __post_init__(self) -> None:
        _check_field(self.base, "base")
        _check_field(self.config, "config", dashes=True)
        if _first_stamp(self.config.split("-")) is not None:
            raise InvalidNameError(
                f"invalid config {self.config!r}: it holds a YYYYmmdd-HHMMSS time, and the "
                "first such time in a name is the training time",
                "drop the time from the config, or join its parts with '_' or '.'",
            )
        _check_field(self.format, "format")
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
        text = str(self)
        if len(text) > _NAME_MAX:
            raise InvalidNameError(
                f"name {shorten(text)} is {len(text)} characters, over {_NAME_MAX}",
                "shorten the base, config or format",
            )
        match = _NAME_RE.fullmatch(text)
        if match is None or match.group("config") != self.config:
            raise InvalidNameError(
                f"name {shorten(text)} would not read back as config {self.config!r}",
                "avoid config parts that look like YYYYmmdd-HHMMSS timestamps or versions",
            )

    def __str__(self) -> str:
        text = f"{self.base}-{self.config}-{format_timestamp(self.trained_at)}-{self.format}"
        if self.exported_at is not None:
            text += f"-{format_timestamp(self.exported_at)}"
        elif self.version is not None:
            text += f"-v{self.version}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as ISO 8601 UTC)."""
        return {
            "name": str(self),
            "base": self.base,
            "config": self.config,
            "trained_at": self.trained_at.isoformat(),
            "format": self.format,
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
            "version": str(self.version) if self.version is not None else None,
        }


_SEMVERISH_TAG = re.compile(r"(?:model-|export-)?v[0-9]")


def build_name(
    base: str,
    config: str,
    trained_at: datetime,
    fmt: str,
    *,
    exported_at: datetime | None = None,
    version: str | Version | None = None,
    tag: str | None = None,
) -> ArtifactName:
    """Name an artifact: a semver ``tag`` (or ``version``) gives ``-v<version>``, else
    ``-<export time>`` (``exported_at``, default now in UTC).

    ``exported_at`` is the fallback for untagged runs, so CI may always pass it with the
    tag; ``version`` with ``exported_at``, or with ``tag``, is a contradiction and refused.
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
    if version is not None:
        return ArtifactName(base, config, trained_at, fmt, version=as_version(version))
    if exported_at is None:
        exported_at = datetime.now(timezone.utc)
    return ArtifactName(base, config, trained_at, fmt, exported_at=exported_at)


def _first_stamp(parts: list[str]) -> int | None:
    """Index of the first ``YYYYmmdd``, ``HHMMSS`` pair of ``-``-separated parts."""
    for i in range(len(parts) - 1):
        if _DATE_PART.fullmatch(parts[i]) and _TIME_PART.fullmatch(parts[i + 1]):
            return i
    return None


def _why_not_name(text: str) -> str:
    bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
    if bad is not None:
        return f"unsafe character {bad!r}"
    if text.startswith("-") or text.endswith("-") or "--" in text:
        return "it has an empty field (leading, trailing or double '-')"
    parts = text.split("-")
    odd = next((part for part in parts if part[0] in "._"), None)
    if odd is not None:
        return f"field {odd!r} does not start with a letter or digit"
    first = _first_stamp(parts)
    if first is None:
        return "it has no YYYYmmdd-HHMMSS training time"
    stamp = f"{parts[first]}-{parts[first + 1]}"
    if first < 2:
        return f"it needs a base and a config before the training time {stamp}"
    tail = "-".join(parts[first + 2 :])
    if not tail:
        return f"it has no format after the training time {stamp}"
    return (
        f"after the training time {stamp}, {tail!r} is not "
        "<format>[-<YYYYmmdd-HHMMSS>|-v<semver>] (a format holds no '-')"
    )


def parse_name(text: str) -> ArtifactName:
    """Read a descriptive name back into its fields; ``str()`` of the result is ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"a name must be a string, got {text!r}")
    if not text:
        raise InvalidNameError("invalid name '': it is empty", _NAME_HINT)
    if len(text) > _NAME_MAX:
        raise InvalidNameError(f"invalid name {text[:40]!r}...: over {_NAME_MAX} characters")
    match = _NAME_RE.fullmatch(text)
    if match is None or _first_stamp(match.group("config").split("-")) is not None:
        raise InvalidNameError(f"invalid name {text!r}: {_why_not_name(text)}", _NAME_HINT)
    try:
        trained = parse_timestamp(match.group("trained"), field="training time")
        exported = match.group("exported")
        return ArtifactName(
            match.group("base"),
            match.group("config"),
            trained,
            match.group("format"),
            exported_at=parse_timestamp(exported, field="export time") if exported else None,
            version=parse_version(match.group("version")) if match.group("version") else None,
        )
    except (InvalidNameError, InvalidVersionError) as exc:
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
    return max(parsed, key=lambda item: (*_recency(item[0]), item[1]))[1]


def _log() -> logging.Logger:
    import logging  # on use: this module is on the start-up path of every command

    return logging.getLogger(__name__)
