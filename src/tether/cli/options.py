"""Options and output shared by several commands: one name per meaning.

Each option a command shares is declared here once, so that one spelling means one thing
everywhere (tests/test_cli_map.py). A renamed option keeps its old spelling as a hidden
alias for one release: it works as before and prints a one-line note on stderr.

Light on purpose: `tether resolve` imports this module too, so the store and project
code is imported only when a command opens a project (tests/test_cli_map.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from tether.names import DEFAULT_PROFILES_DIR, SIGNING_KEY_ENV, SIGNING_KEY_PASSWORD_ENV, STORE_ENV

if TYPE_CHECKING:
    from tether.project import Project
    from tether.stores import Store

F = TypeVar("F", bound=Callable[..., Any])


class RenamedOption(click.Option):
    """An option that also takes its former spelling, ``old`` (a hidden alias beside it)."""

    def __init__(self, *args: Any, old: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old = old

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        # The alias, if typed, was processed first: click handles typed options in order.
        key = _alias_key(ctx, self.old)
        if key in ctx.meta:
            if _typed(ctx, self):
                raise click.UsageError(f"give {self.opts[0]} once (not also {self.old})", ctx)
            value = ctx.meta.pop(key)
            ctx.set_parameter_source(self.name or "", ParameterSource.COMMANDLINE)
        return super().process_value(ctx, value)


def _typed(ctx: click.Context, param: click.Parameter) -> bool:
    return ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE


def _alias_key(ctx: click.Context, old: str) -> str:
    return f"tether.cli.alias:{id(ctx)}:{old}"  # ctx.meta is shared with subcommands


def _take_alias(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if ctx.resilient_parsing or not _typed(ctx, param):
        return
    (old,) = param.opts
    (new,) = [p for p in ctx.command.params if isinstance(p, RenamedOption) and p.old == old]
    if _typed(ctx, new):
        raise click.UsageError(f"give {new.opts[0]} once (not also {old})", ctx)
    click.echo(
        f"note: {old} is deprecated and goes in the next release; use {new.opts[0]}", err=True
    )
    ctx.meta[_alias_key(ctx, old)] = value


def option(*decls: str, old: str | None = None, **attrs: Any) -> Callable[[F], F]:
    """click.option; with ``old``, that former spelling still works for one release."""
    if old is None:
        return click.option(*decls, **attrs)

    def decorate(func: F) -> F:
        alias = click.option(
            old,
            "old_" + old.lstrip("-").replace("-", "_"),
            hidden=True,
            expose_value=False,
            type=attrs.get("type"),
            multiple=attrs.get("multiple", False),
            callback=_take_alias,
        )
        return click.option(*decls, cls=RenamedOption, old=old, **attrs)(alias(func))

    return decorate


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
        help="Project folder: its tether.toml (or pyproject.toml [tool.tether]), "
        ".model-version and data/embedding_models/.",
    )(func)


# fetch and audit: the root of profile folders (was --dest, which meant three things).
profiles_dir_option = option(
    "--profiles-dir",
    "profiles_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(DEFAULT_PROFILES_DIR),
    show_default=True,
    help="Root folder of profile folders (relative to the project); the release is in DIR/<name>/.",
    metavar="DIR",
    old="--dest",
)


def out_dir_option(help: str, old: str | None = None) -> Callable[[F], F]:
    """--out DIR: the folder a command makes, replaced only once the new one is complete."""
    return option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help=help,
        old=old,
    )


# download: a new folder to create (was --dest).
into_option = option(
    "--into",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="New (or empty) folder to hold a verified copy of the whole release.",
    old="--dest",
)


def compare_with_option(help: str, old: str) -> Callable[[F], F]:
    """--compare-with VERSION: the release a command compares with (build, eval, notes)."""
    return option("--compare-with", "compare_with", metavar="VERSION", help=help, old=old)


def signing_key_option(old: str) -> Callable[[F], F]:
    """--signing-key KEY: the private key (or 'sigstore') that signs (release, sign)."""
    return option(
        "--signing-key",
        "signing_key",
        metavar="KEY",
        envvar=SIGNING_KEY_ENV,
        help=f"Sign with this EC private key: a PEM file, or PEM text in ${SIGNING_KEY_ENV} "
        f"(password: ${SIGNING_KEY_PASSWORD_ENV}); 'sigstore' signs keylessly with the CI's "
        "OIDC identity (needs the network).",
        old=old,
    )


def signature_options(what: str) -> Callable[[F], F]:
    """--signature and --trusted-key: check model.sig too, against [trust] or the given keys."""

    def decorate(func: F) -> F:
        func = option(
            "--trusted-key",
            "keys",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PUB",
            help="Trusted public key (PEM) for --signature, instead of [trust] (repeatable).",
            old="--key",
        )(func)
        return click.option(
            "--signature",
            is_flag=True,
            help=f"Also check {what} against the trust policy ([trust] keys, or --trusted-key).",
        )(func)

    return decorate


def open_project(
    project_dir: Path, store: str | None, name: str | None
) -> tuple[Project, Store, str]:
    """(project, store, name) for a command that works on one model in one store."""
    from tether.project import Project

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
