"""tether.project: the one reader of tether.toml and pyproject.toml's [tool.tether]."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.project import Project


def test_tether_toml_wins_and_is_remembered(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(
        'name = "a"\n[profile]\nid = "p-v1"\n[gate]\nmax_drop = 0.02\n'
    )
    (tmp_path / "pyproject.toml").write_text('[tool.tether]\nname = "b"\n')
    project = Project.load(tmp_path)
    assert project.settings_file == tmp_path / "tether.toml"
    assert project.settings_dir == tmp_path.absolute()
    assert project.where == "tether.toml"
    assert project.configured_name() == "a" and project.profile_id == "p-v1"
    assert project.table("gate") == {"max_drop": 0.02} and project.table("trust") is None


def test_pyproject_tool_tether(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.tether]\nname = "b"\n')
    project = Project.load(tmp_path)
    assert project.settings == {"name": "b"}
    assert project.settings_file == tmp_path / "pyproject.toml"
    assert project.where == "pyproject.toml [tool.tether]"
    assert project.profile_id is None


def test_no_settings_at_all(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.tether]
    project = Project.load(tmp_path)
    assert (project.settings, project.settings_file) == ({}, None)
    assert project.settings_dir == tmp_path.absolute() and project.where == "tether.toml"


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_bytes(b"name = \xff")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Project.load(tmp_path)
