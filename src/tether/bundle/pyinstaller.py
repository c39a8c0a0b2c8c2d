"""What tether's PyInstaller hook (hooks/hook-tether.py) collects, and when it refuses.

The hook runs when an app imports ``tether``. It looks for a bundle, in this order:

1. ``hooksconfig={"tether": {"bundle_dir": "..."}}`` in the app's .spec file
2. ``$TETHER_BUNDLE_DIR``
3. ``build/tether-bundle`` in the folder PyInstaller runs in (`tether bundle`'s default)
4. ``data/embedding_models`` there (profile folders made by `tether fetch`)

and copies what it finds into the app's data root (``sys._MEIPASS``), where the runtime's
bundled-folder candidates look: ``embedding_models/<profile_id>/`` and each asset folder.

It stops the build (SystemExit, so PyInstaller prints one ``ERROR:`` line and exits 1) when
the bundle does not verify (a truncated or changed model, a missing sidecar), or when model
files would ship but onnxruntime, tokenizers or numpy cannot be collected (excluded with
``--exclude-module``, or not installed): a model without the runtime that loads it would
silently disable vectors at the app's first use.

Nothing here imports PyInstaller, so it is tested without building an app.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tether.bundle.layout import MODELS_DIR, RECORD_FILE
from tether.bundle.verify import BundleCheck, verify_bundle
from tether.errors import IntegrityError
from tether.manifest import MANIFEST_FILE
from tether.names import BUNDLE_ENV, DEFAULT_BUNDLE_DIR, SIGNATURE_FILE
from tether.prepared import PREPARED_FILE

CONFIG_KEY = "bundle_dir"
PROJECT_MODELS_DIR = Path("data") / MODELS_DIR
#: What tether.load needs at run time, beside tether itself.
RUNTIME_MODULES = ("onnxruntime", "tokenizers", "numpy")


class HookError(SystemExit):
    """Stops the PyInstaller build with one clear line (PyInstaller prints SystemExit text)."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        lines = [f"ERROR: tether: {message}", *(f"  {p}" for p in problems)]
        super().__init__("\n".join(lines))


@dataclass
class Plan:
    """The bundle found (if any) and the (source file, destination folder) pairs to collect."""

    root: Path | None = None
    found_by: str = ""
    checks: list[BundleCheck] = field(default_factory=list)
    datas: list[tuple[str, str]] = field(default_factory=list)

    @property
    def profiles(self) -> list[str]:
        return [p.rel for check in self.checks for p in check.profiles]

    def toc(self) -> list[tuple[str, str, str]]:
        """``datas`` as TOC entries (destination file, source, "DATA"): names taken as they
        are, where PyInstaller would read a ``(source, folder)`` pair's source as a glob."""
        return [
            (PurePosixPath(dest, Path(src).name).as_posix(), src, "DATA")
            for src, dest in self.datas
        ]


def locate_bundle(config_dir: str | None, cwd: Path) -> tuple[Path, str] | None:
    """(bundle root, how it was found), or None when the app carries no model."""
    for value, how in (
        (config_dir, f"hooksconfig {CONFIG_KEY}"),
        (os.environ.get(BUNDLE_ENV), f"${BUNDLE_ENV}"),
    ):
        if value:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else cwd / path
            if not path.is_dir():
                raise HookError(
                    f"{how} names {path}, which is not a folder",
                    [f"make the bundle first: tether bundle --out {value}"],
                )
            return path, how
    if (cwd / DEFAULT_BUNDLE_DIR).is_dir():  # where `tether bundle` writes by default
        return cwd / DEFAULT_BUNDLE_DIR, f"default {DEFAULT_BUNDLE_DIR}"
    models = cwd / PROJECT_MODELS_DIR
    if models.is_dir() and any(entry.is_dir() for entry in os.scandir(models)):
        return models.parent, f"project {PROJECT_MODELS_DIR.as_posix()}"
    return None


def plan_collection(config_dir: str | None = None, cwd: Path | None = None) -> Plan:
    """Find and verify the bundle; the files to collect. HookError when it does not verify."""
    cwd = Path(cwd or os.getcwd())
    located = locate_bundle(config_dir, cwd)
    if located is None:
        return Plan()
    root, how = located
    try:
        checks = verify_bundle(root)
    except IntegrityError as exc:
        raise HookError(
            f"the model bundle ({how}: {root}) does not verify; refusing to build an app "
            f"with a broken model. {exc.message}; {exc.hint}",
            exc.problems,
        ) from None
    plan = Plan(root, how, checks)
    for check in checks:
        for profile in check.profiles:
            assert profile.prepared is not None  # verified
            names = [*profile.prepared.files, MANIFEST_FILE, PREPARED_FILE]
            if (profile.folder / SIGNATURE_FILE).is_file():
                names.append(SIGNATURE_FILE)
            plan.datas += _pairs(check.root, profile.folder, names)
        if check.record is not None:
            for asset, _ in check.assets:
                plan.datas += _pairs(check.root, check.root / asset.path, list(asset.files))
            plan.datas.append((str(check.root / RECORD_FILE), "."))
    return plan


def _pairs(root: Path, folder: Path, names: list[str]) -> list[tuple[str, str]]:
    """PyInstaller ``datas`` entries: (source file, destination folder in the app)."""
    pairs = []
    for name in sorted(names):
        dest = PurePosixPath(folder.relative_to(root).as_posix(), name).parent
        pairs.append((str(folder / name), dest.as_posix()))
    return pairs


def runtime_problems(
    excludes: Iterable[str], graph_kinds: dict[str, str] | None = None
) -> list[str]:
    """Why each runtime module cannot be collected ([] when all can).

    ``excludes``: the Analysis' excludes (``--exclude-module``); ``graph_kinds``: module name
    -> the class name of its node in PyInstaller's module graph, when known.
    """
    excludes = list(excludes)
    problems = []
    for module in RUNTIME_MODULES:
        hit = [
            e
            for e in excludes
            if module == e or module.startswith(e + ".") or e.startswith(module + ".")
        ]
        kind = (graph_kinds or {}).get(module, "")
        if hit:
            problems.append(f"{module} is excluded (--exclude-module {hit[0]})")
        elif kind == "ExcludedModule":
            problems.append(f"{module} is excluded from the module graph")
        elif kind == "MissingModule" or importlib.util.find_spec(module) is None:
            problems.append(f"{module} is not installed in the build environment")
    return problems


def require_runtime(
    plan: Plan, excludes: Iterable[str], graph_kinds: dict[str, str] | None = None
) -> None:
    """HookError when the plan ships model files but the runtime cannot be collected."""
    if plan.root is None or not plan.profiles:
        return
    problems = runtime_problems(excludes, graph_kinds)
    if problems:
        raise HookError(
            f"the app would bundle model files ({', '.join(plan.profiles)} from {plan.root}) "
            f"but not the runtime that loads them: {'; '.join(problems)}. Collect onnxruntime, "
            f"tokenizers and numpy (remove the exclusion, install them), or build without the "
            f"model (unset ${BUNDLE_ENV})"
        )
