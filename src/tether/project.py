"""The consuming project: its folder, its settings table, and the defaults they give.

Settings live in ``tether.toml`` at the project's root, or in ``[tool.tether]`` of its
pyproject.toml. The spine reads only two top-level keys (``store``, ``name``); the build
recipe (tether.recipe) reads the rest of the same table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, InvalidNameError
from tether.names import PYPROJECT_FILE, RECIPE_FILE
from tether.paths import check_name
from tether.stores import Store, open_store, select_store_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_settings(project_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """The tether settings table and the file it came from ({} and None when there is none)."""
    project_dir = Path(project_dir)
    for path, table_path in (
        (project_dir / RECIPE_FILE, ()),
        (project_dir / PYPROJECT_FILE, ("tool", "tether")),
    ):
        if not path.is_file():
            continue
        try:
            table: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
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
    """A consuming repo: where .model-version lives and which store and name it uses."""

    dir: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, project_dir: Path | str = ".") -> Project:
        settings, _ = read_settings(Path(project_dir))
        return cls(Path(project_dir).absolute(), settings)

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
