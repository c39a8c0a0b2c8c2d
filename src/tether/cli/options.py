"""Options and output shared by several commands: one name per meaning.

Each option a command shares is declared here once, so that one spelling means one thing
everywhere (tests/test_cli_map.py). A renamed option keeps its old spelling as a hidden
alias for one release: it works as before and prints a one-line note on stderr.

Light on purpose: `tether resolve` imports this module too, so the store and project
code is imported only when a command opens a project (tests/test_cli_map.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from tether.model_card import CardOptions
from tether.names import (
    DEFAULT_PROFILES_DIR,
    DEFAULT_STREAMS,
    MAX_STREAMS,
    SIGNING_KEY_ENV,
    SIGNING_KEY_PASSWORD_ENV,
    STORE_ENV,
    STREAMS_ENV,
)

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
        help="Store: a folder, file://, oci://, s3://, github:// or hf:// URL. "
        f"Default: ${STORE_ENV}, else the recipe's store, else (in GitHub Actions) the "
        "repository's GitHub Releases, else ./releases.",
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
    """Progress of a transfer over its whole size, on stderr: bytes, rate and ETA redrawn in
    place on a terminal, quiet otherwise; ``json_lines``: instead one JSON object per
    second (and one at the end) for CI logs."""

    #: Seconds between two redraws, between two JSON lines.
    EVERY, EVERY_JSON = 0.2, 1.0

    def __init__(self, label: str, *, json_lines: bool = False) -> None:
        self.label, self.json_lines = label, json_lines
        self._stream = sys.stderr
        self._live = json_lines or self._stream.isatty()
        self._start = self._last = 0.0
        self._done = self._total = 0

    def __call__(self, _file: str, done: int, total: int) -> None:
        if not self._live:
            return
        now = time.monotonic()
        if not self._start:
            self._start = now
        self._done, self._total = done, total
        every = self.EVERY_JSON if self.json_lines else self.EVERY
        if now - self._last >= every or done >= total:
            self._last = now
            self._show(now, final=False)

    def _show(self, now: float, *, final: bool) -> None:
        seconds = max(now - self._start, 1e-6)
        rate = self._done / seconds
        left = max(self._total - self._done, 0)
        eta = left / rate if rate > 0 else None
        if self.json_lines:
            line = {
                "event": "done" if final else "progress",
                "label": self.label,
                "bytes": self._done,
                "total": self._total,
                "seconds": round(seconds, 3),
                "bytes_per_second": round(rate),
                "eta_seconds": None if eta is None else round(eta, 1),
            }
            self._stream.write(json.dumps(line) + "\n")
        else:
            shown = f"{human_size(self._done)} / {human_size(self._total)}"
            when = f"in {seconds:.1f} s" if final else f"ETA {_clock(eta)}"
            text = f"\r{self.label}: {shown}, {rate / 1e6:.1f} MB/s, {when}"
            self._stream.write(text.ljust(79) + ("\n" if final else ""))
        self._stream.flush()

    def close(self) -> None:
        if self._live and self._start:
            self._show(time.monotonic(), final=True)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


#: fetch and download: how many ranged streams a large download may open at most.
streams_option = click.option(
    "--streams",
    type=click.IntRange(1, MAX_STREAMS),
    default=None,
    metavar="N",
    help=f"Most concurrent ranged streams for large files of a remote store (default: "
    f"${STREAMS_ENV}, else {DEFAULT_STREAMS}; one where one is enough: small files, a store "
    "on this host). 1: one file after another.",
)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def card_options(command: Callable[..., None]) -> Callable[..., None]:
    """--base-model, --pipeline-tag, --card-tag, --license: what a model card says
    (``tether notes --card``, and the card ``tether release`` generates)."""
    options = (
        click.option(
            "--base-model",
            metavar="REPO",
            help="Hub repo id of the model this one derives from (the card's base_model), "
            "e.g. microsoft/Phi-3-mini-4k-instruct.",
        ),
        click.option(
            "--pipeline-tag",
            metavar="TASK",
            help="The card's pipeline_tag. Default: by kind (feature-extraction for "
            "embeddings, text-generation for GGUF, config.json's task for transformers).",
        ),
        click.option(
            "--card-tag",
            "card_tags",
            metavar="TAG",
            multiple=True,
            help="Another tag for the card (repeatable), e.g. --card-tag vllm.",
        ),
        click.option(
            "--license", "license_id", metavar="ID", help="The card's license (e.g. apache-2.0)."
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def card_from_options(
    base_model: str | None,
    pipeline_tag: str | None,
    card_tags: tuple[str, ...],
    license_id: str | None,
) -> CardOptions:
    return CardOptions(base_model, license_id, pipeline_tag, tuple(card_tags))
