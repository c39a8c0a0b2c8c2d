"""Options and output shared by several commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tether.project import Project
from tether.stores import STORE_ENV, Store

F = TypeVar("F", bound=Callable[..., Any])


def store_option(func: F) -> F:
    return click.option(
        "--store",
        metavar="URL",
        help=f"Store: a folder, file://, oci:// or s3:// URL. Default: ${STORE_ENV}, "
        "else the recipe's store, else ./releases.",
    )(func)


def name_option(func: F) -> F:
    return click.option(
        "--name",
        metavar="NAME",
        help="Model name in the store. Default: the recipe's name or profile id, "
        "else the store's only name.",
    )(func)


def project_option(func: F) -> F:
    return click.option(
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="The consuming repo (holds .model-version and tether.toml).",
    )(func)


def signature_options(what: str) -> Callable[[F], F]:
    """--signature and --key: check model.sig too, against [trust] or the given keys."""

    def decorate(func: F) -> F:
        func = click.option(
            "--key",
            "keys",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Trusted public key (PEM) for --signature, instead of [trust] (repeatable).",
        )(func)
        return click.option(
            "--signature",
            is_flag=True,
            help=f"Also check {what} against the trust policy ([trust] keys, or --key).",
        )(func)

    return decorate


def open_project(
    project_dir: Path, store: str | None, name: str | None
) -> tuple[Project, Store, str]:
    """(project, store, name) for a command that works on one model in one store."""
    project = Project.load(project_dir)
    opened = project.open_store(store)
    return project, opened, project.release_name(name, opened)


class ByteProgress:
    """A progress bar on stderr for a transfer whose total is known at its first report."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._shown = 0

    def __call__(self, _file: str, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
