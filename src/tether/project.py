"""The consuming project: its folder, its settings table, and the defaults they give.

Settings live in ``tether.toml`` at the project's root, or in ``[tool.tether]`` of its
pyproject.toml. :class:`Project` is the one reader of that file: other rooms take a
``Project`` (or one of its tables) rather than reading TOML. The spine reads two top-level
keys (``store``, ``name``) and ``[trust]``; the build recipe (tether.recipe), the gate
(``[gate]``) and the bundle (``[bundle]``) read the rest of the same table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, InvalidNameError
from tether.names import CI_TABLE, PYPROJECT_FILE, RECIPE_FILE, TETHER_REQUIREMENT_KEY
from tether.paths import check_name
from tether.stores import Store, open_store, select_store_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_settings(project_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """The tether settings table and the file it came from ({} and None when there is none).

    Project.load's helper; other rooms take a Project instead of calling it.
    """
    project_dir = Path(project_dir)
    for path, table_path in (
        (project_dir / RECIPE_FILE, ()),
        (project_dir / PYPROJECT_FILE, ("tool", "tether")),
    ):
        try:
            if not path.is_file():
                continue
            raw = path.read_bytes()
        except OSError as exc:  # a folder name too long, no permission
            raise ConfigError(f"{path} cannot be read ({exc.strerror or exc})") from exc
        try:
            table: Any = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
        # ValueError: an integer of over 4300 digits; RecursionError: absurdly deep arrays
        # (tests/test_parsers_fuzz.py).
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        for key in table_path:
            table = table.get(key) if isinstance(table, dict) else None
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: the tether settings must be a table")
        return table, path
    return {}, None


@dataclass
class Project:
    """A consuming repo: where .model-version lives and which store and name it uses.

    ``settings`` is the tether table; ``settings_file`` the file it came from (None when the
    project has none, and then every setting takes its default).
    """

    dir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    settings_file: Path | None = None

    @classmethod
    def load(cls, project_dir: Path | str = ".") -> Project:
        settings, settings_file = read_settings(Path(project_dir))
        return cls(Path(project_dir).absolute(), settings, settings_file)

    @property
    def settings_dir(self) -> Path:
        """The folder relative paths in the settings are relative to (the file's folder)."""
        return self.settings_file.parent.absolute() if self.settings_file else self.dir

    @property
    def where(self) -> str:
        """The settings' name in messages: ``tether.toml`` or ``pyproject.toml [tool.tether]``."""
        if self.settings_file is None or self.settings_file.name == RECIPE_FILE:
            return RECIPE_FILE
        return f"{self.settings_file.name} [tool.tether]"

    def table(self, key: str) -> Any:
        """The settings' ``[key]`` table as written (None when absent; callers validate it)."""
        return self.settings.get(key)

    @property
    def ci_tether_requirement(self) -> str | None:
        """``[ci] tether_requirement``: what generated workflows pip install (None: unset)."""
        table = self.settings.get(CI_TABLE)
        if table is None:
            return None
        if not isinstance(table, dict):
            raise ConfigError(f"{self.where}: [{CI_TABLE}] must be a table")
        unknown = sorted(set(table) - {TETHER_REQUIREMENT_KEY})
        if unknown:
            raise ConfigError(
                f"{self.where}: unknown key {unknown[0]!r} in [{CI_TABLE}]",
                f"known: {TETHER_REQUIREMENT_KEY}",
            )
        value = table.get(TETHER_REQUIREMENT_KEY)
        if value is not None and not isinstance(value, str):
            raise ConfigError(
                f"{self.where}: [{CI_TABLE}] {TETHER_REQUIREMENT_KEY} must be a string"
            )
        return value

    @property
    def profile_id(self) -> str | None:
        """``[profile] id``, None when the settings name none."""
        return _profile_id(self.settings)

    def store_url(self, option: str | None = None) -> str:
        recipe_store = self.settings.get("store")
        if recipe_store is not None and not isinstance(recipe_store, str):
            raise ConfigError("the recipe's 'store' must be a URL string")
        if recipe_store and "://" not in recipe_store:  # a folder relative to the recipe
            recipe_store = str(self.dir / recipe_store)
        return select_store_url(option, recipe_store, self.dir)

    def open_store(self, option: str | None = None) -> Store:
        return open_store(self.store_url(option))

    def configured_name(self) -> str | None:
        """The recipe's name, else its profile id, else None."""
        configured = self.settings.get("name") or _profile_id(self.settings)
        return check_name(str(configured)) if configured else None

    def release_name(self, option: str | None, store: Store | None = None) -> str:
        """--name, else the recipe's name or profile id, else the store's only name."""
        configured = self.configured_name()
        if option or configured:
            return check_name(str(option or configured))
        if store is not None:
            names = store.names()
            if len(names) == 1:
                return names[0]
            if names:
                raise InvalidNameError(
                    f"{store.url} holds several models ({', '.join(names)})",
                    "say which with --name, or set 'name' in tether.toml",
                )
        raise InvalidNameError(
            "no model name given and none can be inferred",
            "pass --name, or set 'name' in tether.toml",
        )


def _profile_id(settings: dict[str, Any]) -> str | None:
    profile = settings.get("profile")
    if isinstance(profile, dict) and isinstance(profile.get("id"), str):
        return profile["id"]
    return None
