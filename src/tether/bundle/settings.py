"""`tether bundle` for a project: its ``[bundle]`` table, merged with the command's options::

    [bundle]
    dest = "build/tether-bundle"    # the bundle folder, relative to the project
    variant = "int8"                # fp32, int8 or both (the default)

    [[bundle.assets]]               # extra offline assets: tether.bundle.assets
    ...

An option given to the command wins over the table, the table over the defaults
(tests/bundle/test_init.py pins the table `tether init` writes). :func:`bundle_project`
then bundles the pinned release with them (with named pins: every pinned release, each
in its own profile folder), as tether.bundle.create describes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.bundle.assets import AssetSpec, read_asset_specs
from tether.bundle.create import BundleModel, BundleResult, create_bundle_of
from tether.errors import ConfigError
from tether.names import BUNDLE_TABLE, DEFAULT_BUNDLE_DIR, DEFAULT_PROFILES_DIR
from tether.prepared import VARIANT_CHOICES
from tether.project import Project
from tether.spine import Progress, load_trust, read_pins, require_pin
from tether.stores.base import Store

_BUNDLE_KEYS = ("assets", "variant", "dest")


@dataclass(frozen=True)
class BundleSettings:
    """What `tether bundle` makes: where, with which variants, with which assets."""

    dest: Path  # absolute
    variant: str = "both"
    assets: list[AssetSpec] = field(default_factory=list)


def bundle_settings(
    project: Project, *, dest: Path | None = None, variant: str | None = None
) -> BundleSettings:
    """The project's ``[bundle]`` table (from the settings it already read), overridden by
    ``dest`` and ``variant`` when given; a relative dest is relative to the project."""
    where = project.where
    table = bundle_table(project.table(BUNDLE_TABLE), where)
    variant = variant or _setting(table, "variant", where, VARIANT_CHOICES) or "both"
    dest = dest or Path(_setting(table, "dest", where) or DEFAULT_BUNDLE_DIR)
    assets = read_asset_specs(table, project.settings_dir, where)
    return BundleSettings(project.dir / dest, variant, assets)


def bundle_project(
    project: Project,
    store: Store,
    name: str | None,
    *,
    version: str | None = None,
    dest: Path | None = None,
    variant: str | None = None,
    progress: Progress | None = None,
    progress_for: Callable[[str, str], Progress | None] | None = None,
) -> BundleResult:
    """`tether bundle`: release ``version`` (default: the project's pin) of ``name`` and the
    declared assets, laid out in the bundle folder and verified there. ``name`` None: the
    recipe's model, or with named pins every pinned model, each in its own profile folder.

    ``dest`` and ``variant`` override ``[bundle]``. The release is fetched under the
    project's [trust] policy; files the project already fetched into
    data/embedding_models/<name> are re-hashed and reused instead of downloaded.
    ``progress_for(name, version)``: a progress callback per release (else ``progress``).
    """
    settings = bundle_settings(project, dest=dest, variant=variant)
    pins = read_pins(project.dir)
    if name is None and pins is not None and pins.bare is None:
        if version is not None:
            raise ConfigError(
                f"a version ({version}) with {len(pins.names)} pinned models",
                "bundle one of them at that version: tether bundle --name NAME",
            )
        chosen = [(each, pins.named[each]) for each in pins.names]
    else:
        name = project.release_name(name, store)
        chosen = [(name, version or require_pin(project.dir, name))]

    def same_progress(_name: str, _version: str) -> Progress | None:
        return progress

    return create_bundle_of(
        store,
        [
            BundleModel(each, pinned, project.dir / DEFAULT_PROFILES_DIR / each)
            for each, pinned in chosen
        ],
        settings.dest,
        variants=settings.variant,
        assets=settings.assets,
        progress=progress_for or same_progress,
        trust=load_trust(project.dir),
    )


def bundle_table(table: Any, where: str) -> dict[str, Any]:
    """The ``[bundle]`` table as written ({} when absent), its keys checked."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: 'bundle' must be a table ([bundle] or [[bundle.assets]])")
    unknown = sorted(set(table) - set(_BUNDLE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{unknown[0]}' in [bundle]",
            f"allowed keys: {', '.join(_BUNDLE_KEYS)}",
        )
    return table


def _setting(
    table: dict[str, Any], key: str, where: str, choices: tuple[str, ...] = ()
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (choices and value not in choices):
        allowed = f"one of {', '.join(choices)}" if choices else "a string"
        raise ConfigError(f"{where}: [bundle] {key} must be {allowed}, not {value!r}")
    return value
