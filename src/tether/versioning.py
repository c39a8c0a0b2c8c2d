"""Versions, tags and descriptive artifact names: parsed strictly so they cannot drift.

Three grammars live here, each with a parser that refuses anything it cannot read back:

* versions: strict SemVer 2.0.0 (``1.2.3-rc.1+build.5``); a user-typed leading ``v`` is
  dropped once, so ``v1.0.0`` never turns into ``model-vv1.0.0`` (guild's bug);
* git tags: ``v1.2.3``, ``model-v1.2.3``, ``export-v1.2.3`` carry a version, anything else
  is its own string; ``vfoo.bar.baz`` is *not* a version tag (avro-finetune's bug);
* descriptive names ``<base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<suffix>]``, refusing
  empty fields (``vllm--v2.0.0``) and picking the latest by time, never by alphabet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tether.errors import InvalidNameError, InvalidTagError, InvalidVersionError

if TYPE_CHECKING:
    import logging

__all__ = [
    "BUMP_PARTS",
    "NAME_GRAMMAR",
    "RELEASE_TAG_PREFIX",
    "TAG_KINDS",
    "ArtifactName",
    "Tag",
    "Version",
    "build_name",
    "format_timestamp",
    "latest",
    "next_version",
    "normalize_version",
    "parse_name",
    "parse_release_tag",
    "parse_tag",
    "parse_timestamp",
    "parse_version",
    "release_tag",
]


RELEASE_TAG_PREFIX = "model-v"
BUMP_PARTS = ("major", "minor", "patch", "prerelease")

# --- SemVer 2.0.0 grammar (ASCII only; [0-9] rather than \d, which matches other digits) --

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_PRE = rf"{_PRE_ID}(?:\.{_PRE_ID})*"
_SEMVER = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE}))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)
_PRE_ID_RE = re.compile(_PRE_ID)
_BUILD_ID_RE = re.compile(_BUILD_ID)
_IDENT_CHARS = re.compile(r"[0-9A-Za-z-]+")


def _why_not_semver(body: str) -> str:
    """Say what is wrong with ``body`` (already stripped of one ``v``), for the message."""
    if not body:
        return "it is empty"
    if any(c.isspace() for c in body):
        return "it contains whitespace"
    if body[0] in "vV":
        return "it has more than one leading 'v'"
    for prefix in (RELEASE_TAG_PREFIX, "export-v"):
        if body.startswith(prefix):
            return f"it is a tag, not a version (the version part is {body[len(prefix) :]!r})"
    rest, plus, build = body.partition("+")
    core, dash, pre = rest.partition("-")
    if not core:
        return "it does not start with a number"
    numbers = core.split(".")
    if len(numbers) != 3:
        return f"it has {len(numbers)} dot-separated numbers; a version has exactly three"
    for label, number in zip(("major", "minor", "patch"), numbers, strict=True):
        if not number:
            return f"the {label} number is empty"
        if not (number.isascii() and number.isdigit()):
            return f"the {label} number {number!r} is not a number"
        if len(number) > 1 and number[0] == "0":
            return f"the {label} number {number!r} has a leading zero"
    for kind, marker, idents in (("pre-release", dash, pre), ("build", plus, build)):
        if not marker:
            continue
        if not idents:
            return f"its {kind} part after {marker!r} is empty"
        for ident in idents.split("."):
            if not ident:
                return f"its {kind} part {idents!r} has an empty identifier"
            if not (ident.isascii() and _IDENT_CHARS.fullmatch(ident)):
                return (
                    f"its {kind} identifier {ident!r} holds characters other than "
                    "ASCII letters, digits and '-'"
                )
            if kind == "pre-release" and not _PRE_ID_RE.fullmatch(ident):
                return f"its pre-release identifier {ident!r} is a number with a leading zero"
    return "it is not a semantic version"


def _check_idents(idents: Any, kind: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if isinstance(idents, str) or not isinstance(idents, (tuple, list)):
        raise TypeError(f"Version {kind} must be a tuple of strings, got {idents!r}")
    for ident in idents:
        if not isinstance(ident, str) or not ident.isascii() or not pattern.fullmatch(ident):
            raise InvalidVersionError(f"invalid {kind} identifier {ident!r} in a version")
    return tuple(idents)


def _ident_key(ident: str) -> tuple[int, int, str]:
    """SemVer 11.4: numeric identifiers compare numerically and below alphanumeric ones."""
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


@dataclass(frozen=True)
class Version:
    """A SemVer 2.0.0 version, ordered by precedence (build metadata does not count).

    ``==`` compares every field, build included, so ``str`` round-trips exactly; ``<``,
    ``<=``, ``>``, ``>=`` follow precedence, so ``1.0.0+a <= 1.0.0+b`` and the reverse both
    hold while the two are not ``==``.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in ("major", "minor", "patch"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Version {field} must be an int, got {value!r}")
            if value < 0:
                raise InvalidVersionError(f"invalid version: {field} {value} is negative")
        object.__setattr__(
            self, "prerelease", _check_idents(self.prerelease, "pre-release", _PRE_ID_RE)
        )
        object.__setattr__(self, "build", _check_idents(self.build, "build", _BUILD_ID_RE))

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def precedence_key(self) -> tuple[Any, ...]:
        """A sort key equal for versions of equal precedence (SemVer section 11)."""
        # A release (1) sorts after any of its pre-releases (0); tuples of identifier keys
        # compare field by field and a shorter prefix sorts first, as 11.4.4 says.
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        pre = tuple(_ident_key(ident) for ident in self.prerelease)
        return (self.major, self.minor, self.patch, 0, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key < other.precedence_key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key <= other.precedence_key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key > other.precedence_key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key >= other.precedence_key

    def bump(self, part: str, label: str = "rc") -> Version:
        """The next version for ``part``; always of higher precedence than ``self``.

        Like npm/python-semver: bumping a pre-release to the release it leads to gives that
        release (``1.2.4-rc.2`` patch -> ``1.2.4``, ``2.0.0-rc.1`` major -> ``2.0.0``).
        ``prerelease`` starts ``<label>.1`` on the next patch, or counts up the current one.
        """
        if part not in BUMP_PARTS:
            raise InvalidVersionError(
                f"cannot bump {self}: unknown part {part!r}",
                "use major, minor, patch or prerelease",
            )
        major, minor, patch, pre = self.major, self.minor, self.patch, self.prerelease
        if part == "major":
            if pre and minor == 0 and patch == 0:
                return Version(major, 0, 0)
            return Version(major + 1, 0, 0)
        if part == "minor":
            if pre and patch == 0:
                return Version(major, minor, 0)
            return Version(major, minor + 1, 0)
        if part == "patch":
            return Version(major, minor, patch if pre else patch + 1)
        if not label or label.isdigit() or not _IDENT_CHARS.fullmatch(label) or not label.isascii():
            raise InvalidVersionError(
                f"cannot bump {self}: invalid pre-release label {label!r}",
                "use a label of ASCII letters, digits and '-' that is not a number, e.g. rc",
            )
        if not pre:
            return Version(major, minor, patch + 1, (label, "1"))
        if pre[0] == label:
            numeric = [i for i, ident in enumerate(pre) if ident.isdigit()]
            if numeric:
                i = numeric[-1]
                return Version(major, minor, patch, (*pre[:i], str(int(pre[i]) + 1), *pre[i + 1 :]))
            return Version(major, minor, patch, (*pre, "1"))
        candidate = Version(major, minor, patch, (label, "1"))
        if candidate > self:
            return candidate
        raise InvalidVersionError(
            f"cannot bump {self} to a {label!r} pre-release: {candidate} would sort before it",
            f"bump with --label {pre[0]}, or bump the patch first",
        )


def _parse_semver(body: str) -> Version | None:
    match = _SEMVER.fullmatch(body)
    if match is None:
        return None
    pre, build = match.group("pre"), match.group("build")
    return Version(
        int(match.group("major")),
        int(match.group("minor")),
        int(match.group("patch")),
        tuple(pre.split(".")) if pre else (),
        tuple(build.split(".")) if build else (),
    )


def parse_version(text: str) -> Version:
    """Parse a strict SemVer 2.0.0 string; one leading ``v``/``V`` typed by a user is dropped."""
    if not isinstance(text, str):
        raise InvalidVersionError(f"invalid version {text!r}: not a string")
    body = text[1:] if text[:1] in ("v", "V") else text
    version = _parse_semver(body)
    if version is None:
        reason = "it has no version after the 'v'" if text and not body else _why_not_semver(body)
        raise InvalidVersionError(f"invalid version {text!r}: {reason}")
    return version


def normalize_version(text: str) -> str:
    """The canonical form of a version string: ``v1.2.3`` -> ``1.2.3``."""
    return str(parse_version(text))


def _as_version(value: str | Version) -> Version:
    return value if isinstance(value, Version) else parse_version(value)


# --- release tags ------------------------------------------------------------------------


def _refuse_build_metadata(version: Version, what: str, error: type[Exception]) -> None:
    # '+' is not allowed in OCI tags or tether folder names, and two builds of equal
    # precedence would be two "different" immutable releases that semver calls the same.
    if version.build:
        bare = Version(version.major, version.minor, version.patch, version.prerelease)
        raise error(
            f"{what} cannot carry build metadata (+{'.'.join(version.build)})",
            f"drop the '+' part: use {bare}",
        )


def release_tag(version: str | Version) -> str:
    """The store tag of a release: ``1.2.3`` or ``v1.2.3`` -> ``model-v1.2.3`` (never ``vv``)."""
    parsed = _as_version(version)
    _refuse_build_metadata(parsed, f"release version {str(version)!r}", InvalidVersionError)
    return f"{RELEASE_TAG_PREFIX}{parsed}"


def parse_release_tag(tag: str) -> Version:
    """The version of a strict ``model-v<semver>`` release tag (no second ``v``, no build)."""
    if not isinstance(tag, str) or not tag.startswith(RELEASE_TAG_PREFIX):
        raise InvalidTagError(
            f"invalid release tag {tag!r}: it does not start with {RELEASE_TAG_PREFIX!r}",
            "a release tag is model-v<version>, e.g. model-v1.2.3",
        )
    body = tag[len(RELEASE_TAG_PREFIX) :]
    version = _parse_semver(body)
    if version is None:
        raise InvalidTagError(
            f"invalid release tag {tag!r}: {_why_not_semver(body)}",
            "a release tag is model-v<version>, e.g. model-v1.2.3",
        )
    _refuse_build_metadata(version, f"release tag {tag!r}", InvalidTagError)
    return version


# --- git tags ----------------------------------------------------------------------------

# Longest prefix first: "model-v1.0.0" must not be read as kind "v".
_TAG_KINDS = (("model", RELEASE_TAG_PREFIX), ("export", "export-v"), ("v", "v"))
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
            return (
                f"after {prefix!r}, {tag[len(prefix) :]!r}: {_why_not_semver(tag[len(prefix) :])}"
            )
    return "it does not start with v, model-v or export-v"


def parse_tag(tag: str, *, require_semver: bool = False) -> Tag:
    """Read a git tag: ``v1.2.3``, ``model-v1.2.3``, ``export-v1.2.3`` carry a semver.

    Prefixes are case-sensitive, as git tags and CI tag filters are. Anything else, including
    look-alikes such as ``vfoo.bar.baz``, ``v1.2`` or ``model-vv1.0.0``, is kind ``other``;
    with ``require_semver`` that is an error instead.
    """
    if not isinstance(tag, str):
        raise InvalidTagError(f"invalid tag {tag!r}: not a string")
    if not tag:
        raise InvalidTagError("invalid tag '': it is empty")
    if "/" in tag or "\\" in tag:
        raise InvalidTagError(
            f"invalid tag {tag!r}: it contains a slash",
            "pass the tag name only, e.g. v1.2.3 rather than refs/tags/v1.2.3",
        )
    for c in tag:
        if c.isspace() or not c.isprintable():
            raise InvalidTagError(
                f"invalid tag {tag!r}: it contains whitespace or a control character"
            )
    for kind, prefix in _TAG_KINDS:
        if tag.startswith(prefix):
            version = _parse_semver(tag[len(prefix) :])
            if version is not None:
                return Tag(tag, kind, version)
            break
    if require_semver:
        raise InvalidTagError(
            f"tag {tag!r} is not a semantic version tag: {_why_not_semver_tag(tag)}"
        )
    return Tag(tag, "other", None)


# --- next version ------------------------------------------------------------------------


def next_version(
    existing: Iterable[str | Version],
    floor: str | Version | None = None,
    part: str = "patch",
    *,
    label: str = "rc",
) -> Version:
    """The next version after the highest of ``existing`` and ``floor`` (by precedence).

    ``floor`` is the current pin, so a scheduled run never re-publishes its own previous
    release when the store listing lags (guild's "already exists" bug). Nothing at all gives
    ``1.0.0`` (``1.0.0-<label>.1`` for a pre-release).
    """
    if isinstance(existing, str):
        raise TypeError("next_version takes an iterable of versions, not one string")
    versions = [_as_version(v) for v in existing]
    if floor is not None:
        versions.append(_as_version(floor))
    if part not in BUMP_PARTS:
        raise InvalidVersionError(
            f"unknown version part {part!r}", "use major, minor, patch or prerelease"
        )
    if not versions:
        return Version(1, 0, 0, (label, "1") if part == "prerelease" else ())
    return max(versions).bump(part, label)


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
    rf"(?:-(?P<exported>{_STAMP})|-v(?P<version>{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE})?))?"
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
            f"invalid {field} {text!r}: not YYYYmmdd-HHMMSS",
            "use a UTC time such as 20250914-132416",
        )
    try:
        moment = datetime.strptime(text, _STAMP_FORMAT)
    except ValueError:
        raise InvalidNameError(
            f"invalid {field} {text!r}: no such date or time",
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
        raise InvalidNameError(f"invalid {field} {value!r}: it {what}", _NAME_HINT)
    if not dashes and "-" in value:
        raise InvalidNameError(
            f"invalid {field} {value!r}: it must not contain '-' (names split on it)",
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
            raise InvalidNameError(f"invalid {field} {value!r}: {what}", _NAME_HINT)
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
            version = _as_version(self.version)
            _refuse_build_metadata(version, f"the version in a name ({version})", InvalidNameError)
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
                f"name {text!r} is {len(text)} characters, over {_NAME_MAX}",
                "shorten the base, config or format",
            )
        match = _NAME_RE.fullmatch(text)
        if match is None or match.group("config") != self.config:
            raise InvalidNameError(
                f"name {text!r} would not read back as config {self.config!r}",
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
        return ArtifactName(base, config, trained_at, fmt, version=_as_version(version))
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
