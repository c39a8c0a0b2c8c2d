"""tether resolve / embed: the runtime side, from the command line.

``tether resolve PROFILE --explain`` shows which folder and variant an app would get and
why every other candidate was refused; ``tether embed`` turns texts (arguments, stdin
lines or JSONL) into vectors (JSONL or .npy).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from tether.cli.options import project_option
from tether.errors import RuntimeOptionError
from tether.names import DEFAULT_APP_MODELS_DIR, DEFAULT_APP_NAME, PROFILE_ENV, VARIANT_ENV
from tether.runtime import VARIANT_CHOICES

_variant_option = click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    default=None,
    help=f"Model variant. Default: ${VARIANT_ENV}, else auto (int8 where the CPU suits it).",
)
_path_option = click.option(
    "--path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A profile folder, or a root holding PROFILE/, tried before all other places.",
)
_app_option = click.option(
    "--app-name",
    default=DEFAULT_APP_NAME,
    show_default=True,
    help="App name whose user data folder (platformdirs) holds APP-SUBDIR/PROFILE/.",
)
_app_subdir_option = click.option(
    "--app-subdir",
    default=DEFAULT_APP_MODELS_DIR,
    show_default=True,
    help="The folder in the app's user data folder that holds the profiles.",
)


@click.command("resolve")
@click.argument("profile_id", metavar="PROFILE")
@click.option("--explain", is_flag=True, help="List every candidate folder and its verdict.")
@_variant_option
@_path_option
@_app_option
@_app_subdir_option
@project_option
def resolve_command(
    profile_id: str,
    explain: bool,
    variant: str | None,
    path: Path | None,
    app_name: str,
    app_subdir: str,
    project_dir: Path,
) -> None:
    """Show the profile folder and variant tether.load(PROFILE) would use.

    Stat-only and fast: nothing is hashed (tether verify does that). The project's
    data/embedding_models/PROFILE/ is the last candidate. Exits 2, listing every
    candidate and why it was refused, when no folder is complete.
    """
    from tether.runtime import resolve

    result = resolve(
        profile_id,
        path=path,
        variant=variant,
        app_name=app_name,
        project_dir=project_dir,
        app_subdir=app_subdir,
    )
    if explain:
        click.echo(result.explain())
    else:
        click.echo(f"{result.folder}\t{result.variant}\t{result.model_id}")


@click.command("embed")
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read one text per line from stdin.")
@click.option(
    "--jsonl",
    "jsonl_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read texts from a JSONL file ('-' for stdin): strings, or objects with --field.",
)
@click.option(
    "--field",
    default="text",
    show_default=True,
    help="The text's key in JSONL objects (an 'id' key is echoed in the output).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write FILE.npy (float32, one row per text) or FILE.jsonl. Default: JSONL on stdout.",
)
@click.option(
    "--profile",
    "profile_id",
    metavar="ID",
    envvar=PROFILE_ENV,
    default=None,
    help=f"Profile id. Default: ${PROFILE_ENV}, else the project's [profile] id.",
)
@click.option(
    "--as",
    "role",
    type=click.Choice(("query", "document")),
    default=None,
    help="Embed the texts as queries or as documents: the profile's prompt for that role "
    "is prepended (default: the profile's default prompt, if any).",
)
@_variant_option
@_path_option
@_app_option
@_app_subdir_option
@project_option
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads.")
@click.option(
    "--max-batch-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Most padded tokens in one model run (bounds memory).",
)
@click.option("--probe", is_flag=True, help="Run the probe self-test before embedding.")
def embed_command(
    texts: tuple[str, ...],
    from_stdin: bool,
    jsonl_file: IO[str] | None,
    field: str,
    out: Path | None,
    profile_id: str | None,
    role: str | None,
    variant: str | None,
    path: Path | None,
    app_name: str,
    app_subdir: str,
    project_dir: Path,
    threads: int | None,
    max_batch_tokens: int | None,
    probe: bool,
) -> None:
    """Embed texts with the resolved profile; one vector per text, in input order.

    \b
    tether embed "first text" "second text"
    tether embed --stdin --out vectors.npy < texts.txt
    tether embed --jsonl docs.jsonl --field body --out vectors.jsonl
    tether embed --as query "how do I reset my password?"
    """
    sources = sum([bool(texts), from_stdin, jsonl_file is not None])
    if sources != 1:
        raise RuntimeOptionError(
            "give the texts one way: as arguments, with --stdin, or with --jsonl FILE",
            "see tether embed --help",
        )
    if out is not None and out.suffix not in (".npy", ".jsonl"):
        raise RuntimeOptionError(f"--out {out}: use a .npy or .jsonl file name")
    ids: list[Any] | None = None
    if from_stdin:
        items = [line.rstrip("\r\n") for line in sys.stdin]
    elif jsonl_file is not None:
        items, ids = _read_jsonl(jsonl_file, field)
    else:
        items = list(texts)

    from tether.runtime import load

    embedder = load(
        profile_id or _project_profile_id(project_dir),
        path=path,
        variant=variant,
        app_name=app_name,
        project_dir=project_dir,
        threads=threads,
        max_batch_tokens=max_batch_tokens,
        probe=probe,
        app_subdir=app_subdir,
    )
    with embedder:
        vectors = embedder.embed(items, prompt=embedder.prompt_for(role) if role else None)
    if out is not None and out.suffix == ".npy":
        import numpy as np

        np.save(out, vectors)
    else:
        lines = _jsonl_lines(vectors, embedder.model_id, ids)
        if out is None:
            for line in lines:
                click.echo(line)
        else:
            with open(out, "w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
    click.echo(
        f"embedded {len(items)} texts with {embedder.model_id} from {embedder.folder}"
        + (f" -> {out}" if out else ""),
        err=True,
    )


def _read_jsonl(handle: IO[str], field: str) -> tuple[list[str], list[Any] | None]:
    texts: list[str] = []
    ids: list[Any] = []
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise RuntimeOptionError(f"JSONL line {number} is not JSON ({exc})") from exc
        if isinstance(item, str):
            texts.append(item)
            ids.append(None)
        elif isinstance(item, dict) and isinstance(item.get(field), str):
            texts.append(item[field])
            ids.append(item.get("id"))
        else:
            raise RuntimeOptionError(
                f"JSONL line {number}: expected a string or an object with a string {field!r}",
                "choose the key with --field",
            )
    return texts, ids if any(i is not None for i in ids) else None


def _jsonl_lines(vectors: Any, model_id: str, ids: list[Any] | None) -> Iterator[str]:
    for index, row in enumerate(vectors):
        record: dict[str, Any] = {"index": index}
        if ids is not None:
            record["id"] = ids[index]
        record["model_id"] = model_id
        # 9 significant digits: enough to give back the exact float32.
        record["vector"] = [float(f"{x:.9g}") for x in row.tolist()]
        yield json.dumps(record, ensure_ascii=False)


def _project_profile_id(project_dir: Path) -> str:
    from tether.project import Project

    profile_id = Project.load(project_dir).profile_id
    if profile_id is not None:
        return profile_id
    raise RuntimeOptionError(
        "no profile id given",
        f"pass --profile ID, set ${PROFILE_ENV}, or set [profile] id in tether.toml",
    )


COMMANDS = [resolve_command, embed_command]
