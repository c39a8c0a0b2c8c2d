"""`tether version ...` and `tether name ...`: the versioning grammar from a shell or CI job.

Values are taken as plain strings and parsed by tether.versioning and tether.naming, so a
bad value is a tether error (one line with its fix, exit 2) rather than a click conversion
message.
"""

from __future__ import annotations

import json

import click

from tether.naming import build_name, latest, parse_name, parse_tag, parse_timestamp
from tether.versioning import BUMP_PARTS, parse_version, release_tag

_PARTS = "|".join(BUMP_PARTS)


def _echo_fields(fields: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    width = max(len(key) for key in fields) + 1
    for key, value in fields.items():
        shown = "yes" if value is True else "no" if value is False else value
        click.echo(f"{key + ':':<{width}} {'-' if shown is None else shown}")


@click.group()
def version() -> None:
    """Parse, bump and tag semantic versions (strict SemVer 2.0.0)."""


@version.command("parse")
@click.argument("tag")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--semver",
    "require_semver",
    is_flag=True,
    help="Fail (exit 2) unless TAG carries a semantic version.",
)
def version_parse(tag: str, as_json: bool, require_semver: bool) -> None:
    """Read a git TAG: v1.2.3, model-v1.2.3 and export-v1.2.3 carry a version.

    Any other tag (vfoo.bar.baz, v1.2, nightly) is kind "other" and its own version
    string; use --semver in CI so such a tag fails instead of naming a release.
    """
    parsed = parse_tag(tag, require_semver=require_semver)
    fields: dict[str, object] = {
        "version": parsed.version_string,
        "kind": parsed.kind,
        "semver": parsed.is_semver,
    }
    if as_json:
        fields = {"tag": parsed.text, **fields}
    _echo_fields(fields, as_json)


@version.command("bump")
@click.argument("version_text", metavar="VERSION")
@click.option(
    "--part",
    default="patch",
    show_default=True,
    metavar=f"[{_PARTS}]",
    help="Which part to bump; prerelease starts or counts up <label>.N.",
)
@click.option("--label", default="rc", show_default=True, help="Pre-release label.")
def version_bump(version_text: str, part: str, label: str) -> None:
    """Print the version after VERSION (a leading v is accepted).

    A pre-release bumps to its release (1.2.4-rc.2 --part patch gives 1.2.4).
    """
    click.echo(str(parse_version(version_text).bump(part, label)))


@version.command("tag")
@click.argument("version_text", metavar="VERSION")
def version_tag(version_text: str) -> None:
    """Print the release tag of VERSION: 1.0.1 or v1.0.1 gives model-v1.0.1."""
    click.echo(release_tag(version_text))


@click.group()
def name() -> None:
    """Build, parse and pick descriptive artifact names.

    \b
    Format last:  <base>-<config>-<YYYYmmdd-HHMMSS>-<format>[-<YYYYmmdd-HHMMSS>|-v<semver>]
                  phi3mini4k-minimal-r32-a64-e20-20250914-132416-q4_k_m-gguf-20250915-125110
    Format first: <format>-<base>-<config>-<YYYYmmdd-HHMMSS>[-<YYYYmmdd-HHMMSS>|-v<semver>]
                  ollama-q4_k_m-phi3mini4k-minimal-20250915-132416-v2.0.0.tar.gz
    No time:      <base>-<config>-<format>-v<semver>    phi3mini4k-minimal-vllm-v2.0.1
    Any form may end in an archive extension: .tar.gz, .tgz, .tar, .zip, ...
    \b
    A format first, or in a name with no training time, must be a known one
    (vllm, gguf, <quant>-gguf, ollama-<quant>, lora, onnx, ...); a name that cannot be
    read without guessing is refused with the reason.
    """


@name.command("build")
@click.option("--base", required=True, help="Base model, without '-' (e.g. phi3mini4k).")
@click.option("--config", required=True, help="Training config, '-' allowed (e.g. minimal-r32).")
@click.option(
    "--trained-at",
    default=None,
    help="Training time, UTC YYYYmmdd-HHMMSS; omit only for a legacy name (needs a semver --tag).",
)
@click.option(
    "--format", "fmt", required=True, help="Export format, '-' allowed (e.g. vllm, q4_k_m-gguf)."
)
@click.option(
    "--exported-at",
    default=None,
    help="Export time, UTC YYYYmmdd-HHMMSS, for untagged builds [default: now].",
)
@click.option(
    "--tag",
    default=None,
    help="Git tag; a semver tag (v1.2.3, model-v1.2.3) names the build -v<version>.",
)
@click.option(
    "--exporter-first",
    is_flag=True,
    help="Put the format first, as archives do (vllm-<base>-..., ollama-q4_k_m-<base>-...).",
)
@click.option(
    "--archive", default=None, metavar="EXT", help="End the name in an archive extension (tar.gz)."
)
def name_build(
    base: str,
    config: str,
    trained_at: str | None,
    fmt: str,
    exported_at: str | None,
    tag: str | None,
    exporter_first: bool,
    archive: str | None,
) -> None:
    """Print a descriptive name; a semver --tag replaces the export time with -v<version>."""
    name_ = build_name(
        base,
        config,
        parse_timestamp(trained_at, field="--trained-at") if trained_at is not None else None,
        fmt,
        exported_at=parse_timestamp(exported_at, field="--exported-at") if exported_at else None,
        tag=tag,
        exporter_first=exporter_first,
        archive=archive,
    )
    click.echo(str(name_))


@name.command("parse")
@click.argument("name_text", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO 8601 UTC).")
def name_parse(name_text: str, as_json: bool) -> None:
    """Split NAME into base, config, training time, format, export time or version, and
    where the format stands and the archive extension; refuse it, with the reason, when
    its fields cannot be told apart without guessing."""
    fields = parse_name(name_text).to_dict()
    if not as_json:
        fields.pop("name")
    _echo_fields(fields, as_json)


@name.command("latest")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
def name_latest(names: tuple[str, ...]) -> None:
    """Print the most recent NAME by training time, then export time or version.

    Never alphabetical; names that do not parse are skipped if any other name parses.
    Names without a training time are ordered by version and not mixed with timed ones.
    """
    click.echo(latest(names))


COMMANDS = [version, name]
