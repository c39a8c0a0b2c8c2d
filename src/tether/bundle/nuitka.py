"""The Nuitka options an app that calls ``tether.load()`` needs: ``tether bundle nuitka-args``.

Nuitka has no hook tether could register (PyInstaller's ``hook-dirs``), and it follows only
imports it can see: tether's lazy doors (``importlib``) are invisible to it, so an app built
with data options alone starts and fails with ``No module named 'tether.runtime'``. The
options, printed one per line for ``$(...)`` in bash or pwsh::

    --include-module=tether.runtime.embedder ...   every runtime module and what it imports
                                                   (tether.bundle.needs: derived, not listed)
    --include-module=onnxruntime  (tokenizers, numpy, platformdirs)
                                  Nuitka's own package configuration then collects
                                  onnxruntime's native libraries
    --nofollow-import-to=onnxruntime.transformers  a diagnostic path that imports torch
    --include-data-dir=<bundle>/embedding_models=embedding_models
    --include-data-files=<bundle>/tether-bundle.json=tether-bundle.json
    --include-raw-dir=<bundle>/<asset>=<asset>     raw: data-dir would drop .py/.so/.dll

Nuitka cannot refuse a build the way tether's PyInstaller hook does, so the gate is
``tether audit --bundle app.dist`` after the build (the generated workflows run it).
"""

from __future__ import annotations

from pathlib import Path

from tether.bundle.layout import MODELS_DIR, RECORD_FILE, find_bundles
from tether.bundle.needs import runtime_needs
from tether.errors import IntegrityError

#: Imported by onnxruntime only to print device facts after a CUDA failure; it pulls torch.
NOFOLLOW = ("onnxruntime.transformers",)


def nuitka_options(bundle_dir: Path | None, *, cwd: Path | None = None) -> list[str]:
    """Nuitka command-line options for tether's runtime and (when given) the bundle."""
    needs = runtime_needs()
    options = [f"--include-module={module}" for module in needs.modules]
    options += [f"--include-module={package}" for package in needs.packages]
    options += [f"--nofollow-import-to={module}" for module in NOFOLLOW]
    if bundle_dir is None:
        return options
    bundle_dir = Path(bundle_dir)
    found = [b for b in find_bundles(bundle_dir, depth=0)] if bundle_dir.is_dir() else []
    if not found:
        raise IntegrityError(
            f"no tether bundle in {bundle_dir} (no {RECORD_FILE}, no {MODELS_DIR}/)",
            "make it first: tether bundle --out DIR",
        )
    (bundle,) = found
    root = _shown(bundle.root, Path(cwd or Path.cwd()))
    options.append(f"--include-data-dir={root}/{MODELS_DIR}={MODELS_DIR}")
    if bundle.record is not None:
        options.append(f"--include-data-files={root}/{RECORD_FILE}={RECORD_FILE}")
        options += [f"--include-raw-dir={root}/{a.path}={a.path}" for a in bundle.record.assets]
    return options


def _shown(path: Path, cwd: Path) -> str:
    """Relative to where Nuitka runs when below it, always with ``/`` (bash on Windows too)."""
    path = path.absolute()
    try:
        return path.relative_to(cwd.absolute()).as_posix()
    except ValueError:
        return path.as_posix()
