"""tether: one exact, verified, reproducible local ML model, from upstream checkpoint to vector.

The public API, for apps and for CI and tools. In an app::

    embedder = tether.load("local-text-retrieval-v1")   # resolve + load, offline
    vectors = embedder.embed(["a text"])

In CI or a tool, the pipeline's verbs::

    store = tether.open_store("oci://ghcr.io/org/models")
    info = tether.publish_release(store, "build/", version="1.0.0")
    tether.pin_release(store, info.name, info.version, ".")
    tether.fetch_release(store, info.name, tether.read_pin("."), "data/embedding_models")

Every expected failure raises a `TetherError` (each also subclasses a builtin, e.g.
`ProfileNotFoundError` is a `FileNotFoundError`). Lazy: `import tether` imports none of
numpy, onnxruntime or the stores; each name loads its room on first use
(tests/runtime/test_runtime_imports.py, tests/test_doors.py).
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from tether.doors import lazy_door
from tether.errors import (
    IntegrityError,
    ModelOutputError,
    ProbeMismatchError,
    ProfileIncompleteError,
    ProfileNotFoundError,
    ReleaseNotFoundError,
    RuntimeOptionError,
    SignatureError,
    StoreUnavailableError,
    TetherError,
)

if TYPE_CHECKING:
    from tether.runtime import Embedder, Resolution, load, resolve
    from tether.spine import (
        audit,
        download_release,
        fetch_release,
        pin_release,
        publish_release,
        read_pin,
        verify_profile,
    )
    from tether.stores import open_store

# name -> the room (subpackage) whose door exports it
_EXPORTS = {
    "Embedder": "runtime",
    "Resolution": "runtime",
    "load": "runtime",
    "resolve": "runtime",
    "open_store": "stores",
    "publish_release": "spine",
    "pin_release": "spine",
    "read_pin": "spine",
    "fetch_release": "spine",
    "download_release": "spine",
    "verify_profile": "spine",
    "audit": "spine",
}

__all__ = [
    "Embedder",
    "IntegrityError",
    "ModelOutputError",
    "ProbeMismatchError",
    "ProfileIncompleteError",
    "ProfileNotFoundError",
    "ReleaseNotFoundError",
    "Resolution",
    "RuntimeOptionError",
    "SignatureError",
    "StoreUnavailableError",
    "TetherError",
    "__version__",
    "audit",
    "download_release",
    "fetch_release",
    "load",
    "open_store",
    "pin_release",
    "publish_release",
    "read_pin",
    "resolve",
    "verify_profile",
]

__getattr__ = lazy_door(__name__, _EXPORTS)
