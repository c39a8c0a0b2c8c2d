"""Versions and release tags: parsed strictly so they cannot drift.

* versions: strict SemVer 2.0.0 (``1.2.3-rc.1+build.5``); a user-typed leading ``v`` is
  dropped once, so ``v1.0.0`` never turns into ``model-vv1.0.0`` (guild's bug);
* release tags: ``model-v<semver>``, the store's name of a release, without build metadata;
* the next version after a store's releases, never below the pin.

The git-tag grammar and descriptive artifact names, built on these, are tether.naming.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tether.errors import InvalidTagError, InvalidVersionError, shorten

__all__ = [
    "BUMP_PARTS",
    "EXPORT_TAG_PREFIX",
    "RELEASE_TAG_PREFIX",
    "RELEASE_VERSION_PATTERN",
    "Version",
    "as_version",
    "match_semver",
    "next_version",
    "normalize_version",
    "parse_release_tag",
    "parse_version",
    "refuse_build_metadata",
    "release_tag",
    "why_not_semver",
]


RELEASE_TAG_PREFIX = "model-v"
#: The git tag of an export (tether.naming); named here so a version typed as one is refused
#: with the version it holds.
EXPORT_TAG_PREFIX = "export-v"
BUMP_PARTS = ("major", "minor", "patch", "prerelease")
#: The longest version string read (npm's semver limit): longer text is refused before any
#: number in it is converted, as Python refuses ints of over 4300 digits.
MAX_VERSION_LENGTH = 256
#: The longest release tag: an OCI tag's limit, and well under a file name's 255 bytes, so a
#: folder store's ``model-v<version>.record`` folder can always be made.
MAX_RELEASE_TAG_LENGTH = 128

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
#: A semver without build metadata, as release tags and descriptive names carry one.
RELEASE_VERSION_PATTERN = rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE})?"
_PRE_ID_RE = re.compile(_PRE_ID)
_BUILD_ID_RE = re.compile(_BUILD_ID)
_IDENT_CHARS = re.compile(r"[0-9A-Za-z-]+")


def why_not_semver(body: str) -> str:
    """Say what is wrong with ``body`` (already stripped of one ``v``), for the message."""
    if not body:
        return "it is empty"
    if len(body) > MAX_VERSION_LENGTH:
        return (
            f"it is {len(body)} characters long, over the {MAX_VERSION_LENGTH} a version may have"
        )
    if any(c.isspace() for c in body):
        return "it contains whitespace"
    if body[0] in "vV":
        return "it has more than one leading 'v'"
    for prefix in (RELEASE_TAG_PREFIX, EXPORT_TAG_PREFIX):
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
    # Without leading zeros, numbers compare as (length, digits): no int() of any length.
    return (0, len(ident), ident) if ident.isdigit() else (1, 0, ident)


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


def match_semver(body: str) -> Version | None:
    """The Version ``body`` spells exactly (no ``v`` dropped), None when it is not one."""
    if len(body) > MAX_VERSION_LENGTH:  # tests/test_parsers_fuzz.py: 5000 digits
        return None
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
    version = match_semver(body)
    if version is None:
        reason = "it has no version after the 'v'" if text and not body else why_not_semver(body)
        raise InvalidVersionError(f"invalid version {shorten(text)}: {reason}")
    return version


def normalize_version(text: str) -> str:
    """The canonical form of a version string: ``v1.2.3`` -> ``1.2.3``."""
    return str(parse_version(text))


def as_version(value: str | Version) -> Version:
    """``value`` itself when it is a Version, else its string parsed."""
    return value if isinstance(value, Version) else parse_version(value)


# --- release tags ------------------------------------------------------------------------


def refuse_build_metadata(version: Version, what: str, error: type[Exception]) -> None:
    """Raise ``error`` when ``version`` carries ``+build`` metadata (``what`` names it)."""
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
    parsed = as_version(version)
    refuse_build_metadata(parsed, f"release version {str(version)!r}", InvalidVersionError)
    tag = f"{RELEASE_TAG_PREFIX}{parsed}"
    if len(tag) > MAX_RELEASE_TAG_LENGTH:
        raise InvalidVersionError(
            f"release version {shorten(str(parsed))} is too long: its tag would be {len(tag)} "
            f"characters, over the {MAX_RELEASE_TAG_LENGTH} a store tag may have",
            "use a shorter version (a shorter pre-release label)",
        )
    return tag


def parse_release_tag(tag: str) -> Version:
    """The version of a strict ``model-v<semver>`` release tag (no second ``v``, no build)."""
    if not isinstance(tag, str) or not tag.startswith(RELEASE_TAG_PREFIX):
        raise InvalidTagError(
            f"invalid release tag {shorten(tag)}: it does not start with {RELEASE_TAG_PREFIX!r}",
            "a release tag is model-v<version>, e.g. model-v1.2.3",
        )
    body = tag[len(RELEASE_TAG_PREFIX) :]
    if len(tag) > MAX_RELEASE_TAG_LENGTH:
        raise InvalidTagError(
            f"invalid release tag {shorten(tag)}: it is {len(tag)} characters long, "
            f"over {MAX_RELEASE_TAG_LENGTH}",
            "a release tag is model-v<version>, e.g. model-v1.2.3",
        )
    version = match_semver(body)
    if version is None:
        raise InvalidTagError(
            f"invalid release tag {shorten(tag)}: {why_not_semver(body)}",
            "a release tag is model-v<version>, e.g. model-v1.2.3",
        )
    refuse_build_metadata(version, f"release tag {tag!r}", InvalidTagError)
    return version


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
    versions = [as_version(v) for v in existing]
    if floor is not None:
        versions.append(as_version(floor))
    if part not in BUMP_PARTS:
        raise InvalidVersionError(
            f"unknown version part {part!r}", "use major, minor, patch or prerelease"
        )
    if not versions:
        return Version(1, 0, 0, (label, "1") if part == "prerelease" else ())
    return max(versions).bump(part, label)
