"""Stores: where releases live. ``open_store(url)`` picks the backend by URL scheme.

A plain path or ``file://`` URL opens the local-folder store (the default);
``oci://host[:port]/repository`` an OCI registry; ``s3://bucket/prefix`` S3-compatible
object storage; ``github://owner/repo`` a GitHub repository's Releases;
``hf://[type/]org/name[@revision]`` a Hugging Face Hub repository. New backends register
a plain callable in ``BACKENDS``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from tether.errors import StoreURLError
from tether.names import (
    DEFAULT_STORE_DIR,
    GITHUB_ACTIONS_ENV,
    GITHUB_HOST,
    GITHUB_REPOSITORY_ENV,
    GITHUB_SERVER_URL_ENV,
    STORE_ENV,
)
from tether.stores.base import Store, read_bytes

__all__ = ["BACKENDS", "Store", "open_store", "read_bytes", "select_store_url"]


#: URL scheme -> "module:callable" taking the URL and returning a Store (imported lazily,
#: so a folder store never imports an HTTP or S3 client).
BACKENDS: dict[str, str | Callable[[str], Store]] = {
    "file": "tether.stores.file:open_file_store",
    "oci": "tether.stores.oci:open_oci_store",
    "s3": "tether.stores.s3:open_s3_store",
    "github": "tether.stores.github:open_github_store",
    "hf": "tether.stores.hf:open_hf_store",
}


def open_store(url: str | os.PathLike[str]) -> Store:
    """Open the store at ``url``: a folder path, file://, oci://, s3://, github:// or hf://."""
    text = os.fspath(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else "file"
    backend = BACKENDS.get(scheme)
    if backend is None:
        raise StoreURLError(f"unknown store URL scheme {scheme!r} in {text!r}")
    if isinstance(backend, str):
        module_name, _, attr = backend.partition(":")
        try:
            backend = getattr(importlib.import_module(module_name), attr)
        except ModuleNotFoundError as exc:
            raise StoreURLError(
                f"store backend for {scheme}:// is not available ({exc.name} is not installed)",
                f"install the extra: pip install 'tether[{scheme}]'",
            ) from exc
    return backend(text)


def select_store_url(option: str | None, recipe_store: str | None, project_dir: Path) -> str:
    """The store to use: --store, else $TETHER_STORE, else the recipe's, else (in a GitHub
    Actions job) the repository's own GitHub Releases, else ./releases."""
    for candidate in (option, os.environ.get(STORE_ENV), recipe_store, actions_store_url()):
        if candidate:
            return candidate
    return str(Path(project_dir) / DEFAULT_STORE_DIR)


def actions_store_url() -> str | None:
    """``github://[HOST/]owner/repo`` of the repository a GitHub Actions job runs for, else
    None. tests/stores/test_github.py pins it."""
    repository = os.environ.get(GITHUB_REPOSITORY_ENV, "")
    if os.environ.get(GITHUB_ACTIONS_ENV) != "true" or repository.count("/") != 1:
        return None
    host = os.environ.get(GITHUB_SERVER_URL_ENV, "").split("://", 1)[-1].strip("/")
    return (
        f"github://{host}/{repository}"
        if host and host != GITHUB_HOST
        else f"github://{repository}"
    )
