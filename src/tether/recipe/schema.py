"""The build recipe: ``tether.toml`` (or ``[tool.tether]`` in pyproject.toml), validated.

Everything here is plain data and the standard library, so reading a recipe never imports
the build toolchain. Unknown keys inside the recipe's own tables are errors (a typo must
not silently fall back to a default); unknown top-level keys belong to other parts of
tether and are left alone, unless they look like a misspelt recipe table.

The full schema with its defaults is documented in docs/recipe.md.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError, InvalidNameError, ManifestError
from tether.names import (
    EXTERNAL_DATA_KEY,
    INT8_MIN_COSINE,
    INT8_MIN_MEAN_COSINE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
)
from tether.paths import check_name, check_relative_path
from tether.project import Project

POOLINGS = ("mean", "cls", "last")
VARIANTS = ("fp32", "int8")
WEIGHT_TYPES = ("QInt8", "QUInt8")
QUANT_METHODS = ("dynamic",)
SOURCE_TYPES = ("hf", "path")
DEFAULT_OPSET = 18
MIN_OPSET, MAX_OPSET = 14, 20  # 14: first opset with the ops BERT-likes need; 20: exporter max

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_TREE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HF_REPO = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")

# Top-level keys of the settings table: the recipe's own, and the spine's shared ones.
_TOP_KEYS = ("name", "store", "profile", "source", "export", "quantization", "parity")


@dataclass(frozen=True)
class PrebuiltFile:
    """One variant's upstream ONNX file in a mirrored repo, and its external-data sidecars."""

    variant: str  # fp32 or int8
    file: str  # relative POSIX path in the repo, e.g. onnx/model.onnx
    external_data: tuple[str, ...] | None = None  # None: every <file>_data* upstream has


@dataclass(frozen=True)
class Prebuilt:
    """``[source] prebuilt = "onnx"``: mirror upstream's ONNX files as they are (no export)."""

    files: tuple[PrebuiltFile, ...]  # one per variant, in VARIANTS order
    format: str = "onnx"

    def file(self, variant: str) -> PrebuiltFile:
        return next(entry for entry in self.files if entry.variant == variant)


@dataclass(frozen=True)
class HfSource:
    """A Hugging Face Hub repository at an exact commit."""

    repo: str
    revision: str  # 40 lowercase hex: branches and tags move, commits do not
    prebuilt: Prebuilt | None = None  # set: a mirror of upstream's ONNX files
    type: str = field(default="hf", init=False)

    @property
    def model(self) -> str:
        return self.repo

    def describe(self) -> str:
        return f"hf {self.repo}@{self.revision}" + (" (prebuilt onnx)" if self.prebuilt else "")


@dataclass(frozen=True)
class PathSource:
    """A local checkpoint folder; its revision is the digest of its files."""

    path: Path  # absolute
    model: str  # the name recorded in the MANIFEST (default: the folder's name)
    revision: str | None = None  # optional pin: sha256:<tree digest> the folder must have
    prebuilt: Prebuilt | None = None  # set: a mirror of the folder's ONNX files
    type: str = field(default="path", init=False)

    def describe(self) -> str:
        return f"path {self.path}" + (" (prebuilt onnx)" if self.prebuilt else "")


Source = HfSource | PathSource


@dataclass(frozen=True)
class Quantization:
    """Settings of the int8 variant (onnxruntime dynamic quantization)."""

    method: str = "dynamic"
    weights: str = "QInt8"
    per_channel: bool = True  # per-tensor loses accuracy: mean cosine 0.956 on MiniLM

    def as_profile(self) -> dict[str, Any]:
        """The form profile.json carries (DESIGN.md)."""
        return {"method": self.method, "weights": self.weights, "per_channel": self.per_channel}

    def describe(self) -> str:
        scope = "per-channel" if self.per_channel else "per-tensor"
        return f"{self.method} int8, weights {self.weights}, {scope}"


@dataclass(frozen=True)
class ParityThresholds:
    """Quality gates the build enforces; a model that misses one is not written."""

    min_mean: float = INT8_MIN_MEAN_COSINE  # int8 vs fp32: mean cosine over the parity set
    min: float = INT8_MIN_COSINE  # int8 vs fp32: every text
    fp32_min: float = 0.9999  # fp32 ONNX vs the checkpoint run in torch: every text

    def as_dict(self) -> dict[str, float]:
        return {"min_mean": self.min_mean, "min": self.min, "fp32_min": self.fp32_min}

    def describe(self) -> str:
        return (
            f"int8 mean >= {self.min_mean:g}, int8 min >= {self.min:g}, "
            f"fp32 min >= {self.fp32_min:g}"
        )


@dataclass(frozen=True)
class Recipe:
    """How to turn an upstream checkpoint into release files.

    ``pooling``, ``normalize``, ``max_length``, ``prompts`` and ``default_prompt_name`` are
    None when the recipe leaves them to the checkpoint's sentence-transformers files
    (resolved at build time); ``default_prompt_name = ""`` says "no default prompt".
    ``dim``: the vectors' width when below the model's (Matryoshka truncation), else None.
    """

    profile_id: str
    source: Source
    name: str = ""  # release group name in the store; "" -> profile_id
    store: str | None = None
    pooling: str | None = None
    normalize: bool | None = None
    max_length: int | None = None
    prompts: dict[str, str] | None = None
    default_prompt_name: str | None = None
    dim: int | None = None
    opset: int = DEFAULT_OPSET
    variants: tuple[str, ...] = VARIANTS
    quantization: Quantization = field(default_factory=Quantization)
    parity: ParityThresholds = field(default_factory=ParityThresholds)
    origin: Path | None = None  # the file the recipe came from

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.profile_id)


# --- loading ------------------------------------------------------------------------------


def load_recipe(project: Project | Path | str = ".") -> Recipe:
    """Validate the recipe of ``project``: a Project (its settings, already read) or a folder.

    ``tether.toml`` wins over ``[tool.tether]`` in pyproject.toml (the same lookup the rest
    of tether uses). Relative paths in the recipe are relative to the file's folder.
    """
    if not isinstance(project, Project):
        project = Project.load(project)
    if project.settings_file is None:
        raise ConfigError(
            f"no build recipe in {project.dir}: no tether.toml and no "
            "[tool.tether] in pyproject.toml",
            "create tether.toml with [profile] id and a [source]; see docs/recipe.md",
        )
    return recipe_from_table(
        project.settings,
        base_dir=project.settings_dir,
        where=project.where,
        origin=project.settings_file,
    )


def recipe_from_table(
    table: dict[str, Any],
    *,
    base_dir: Path,
    where: str = "recipe",
    origin: Path | None = None,
) -> Recipe:
    """Validate a parsed settings table into a Recipe (ConfigError naming the bad key)."""
    v = _Validator(where)
    for key in table:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1, cutoff=0.75)
            if close:  # a misspelt recipe table would otherwise be ignored
                raise ConfigError(f"{where}: unknown key '{key}' (did you mean '{close[0]}'?)")

    name = v.opt_str(table, "name", "name")
    if name is not None:
        v.check_name(name, "name")
    store = v.opt_str(table, "store", "store")

    profile = v.table(table, "profile", required=True)
    v.keys(
        profile,
        ("id", "pooling", "normalize", "max_length", "prompts", "default_prompt_name", "dim"),
        "[profile]",
    )
    profile_id = v.opt_str(profile, "id", "[profile] id")
    if profile_id is None:
        raise ConfigError(
            f"{where}: [profile] id is missing",
            'name the compatibility contract, e.g. id = "local-text-retrieval-v1"',
        )
    v.check_name(profile_id, "[profile] id")
    pooling = v.opt_str(profile, "pooling", "[profile] pooling")
    if pooling is not None and pooling not in POOLINGS:
        raise ConfigError(
            f"{where}: [profile] pooling {pooling!r} is not supported",
            f"use one of {', '.join(POOLINGS)} (or leave it out to use the checkpoint's)",
        )
    normalize = v.opt_bool(profile, "normalize", "[profile] normalize")
    max_length = v.opt_int(profile, "max_length", "[profile] max_length", low=2, high=65536)
    prompts = profile.get("prompts")
    if prompts is not None and (
        not isinstance(prompts, dict)
        or not all(isinstance(k, str) and isinstance(t, str) for k, t in prompts.items())
    ):
        raise ConfigError(
            f'{where}: [profile] prompts must be a table of prompt name = "text"',
            'e.g. prompts = { query = "query: ", document = "passage: " }',
        )
    default_prompt = v.opt_str(profile, "default_prompt_name", "[profile] default_prompt_name")
    if default_prompt and prompts is not None and default_prompt not in prompts:
        raise ConfigError(
            f"{where}: [profile] default_prompt_name {default_prompt!r} is not one of "
            f"[profile] prompts ({', '.join(sorted(prompts)) or 'none'})",
            'name one of the prompts, or "" for no default prompt',
        )
    dim = v.opt_int(profile, "dim", "[profile] dim", low=1, high=65536)

    source = _source(v, v.table(table, "source", required=True), base_dir)

    export = v.table(table, "export")
    v.keys(export, ("opset", "variants"), "[export]")
    opset = v.opt_int(export, "opset", "[export] opset", low=MIN_OPSET, high=MAX_OPSET)
    variants = _variants(v, export.get("variants"))

    quant = v.table(table, "quantization")
    v.keys(quant, ("method", "weights", "per_channel"), "[quantization]")
    method = v.opt_str(quant, "method", "[quantization] method") or "dynamic"
    v.choice(method, QUANT_METHODS, "[quantization] method")
    weights = v.opt_str(quant, "weights", "[quantization] weights") or "QInt8"
    v.choice(weights, WEIGHT_TYPES, "[quantization] weights")
    per_channel = v.opt_bool(quant, "per_channel", "[quantization] per_channel")

    parity = v.table(table, "parity")
    v.keys(parity, ("min_mean", "min", "fp32_min"), "[parity]")
    defaults = ParityThresholds()
    thresholds = ParityThresholds(
        min_mean=v.opt_cosine(parity, "min_mean", defaults.min_mean),
        min=v.opt_cosine(parity, "min", defaults.min),
        fp32_min=v.opt_cosine(parity, "fp32_min", defaults.fp32_min),
    )

    return Recipe(
        profile_id=profile_id,
        source=source,
        name=name or profile_id,
        store=store,
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
        prompts=None if prompts is None else dict(prompts),
        default_prompt_name=default_prompt,
        dim=dim,
        opset=DEFAULT_OPSET if opset is None else opset,
        variants=variants,
        quantization=Quantization(
            method=method, weights=weights, per_channel=True if per_channel is None else per_channel
        ),
        parity=thresholds,
        origin=origin,
    )


def _source(v: _Validator, table: dict[str, Any], base_dir: Path) -> Source:
    kind = v.opt_str(table, "type", "[source] type")
    if kind is None:
        raise ConfigError(
            f"{v.where}: [source] type is missing",
            'use type = "hf" (repo + revision) or type = "path" (a local folder)',
        )
    v.choice(kind, SOURCE_TYPES, "[source] type")
    prebuilt = _prebuilt(v, table)
    if kind == "hf":
        v.keys(table, ("type", "repo", "revision", *_PREBUILT_KEYS), "[source] (type hf)")
        repo = v.opt_str(table, "repo", "[source] repo")
        if repo is None or not _HF_REPO.match(repo) or ".." in repo:
            raise ConfigError(
                f"{v.where}: [source] repo {repo!r} is not a Hugging Face repo id",
                'use the "organisation/name" shown on the Hub, e.g. '
                '"sentence-transformers/all-MiniLM-L6-v2"',
            )
        revision = v.opt_str(table, "revision", "[source] revision")
        check_commit(revision, where=v.where)
        assert revision is not None
        return HfSource(repo=repo, revision=revision, prebuilt=prebuilt)
    v.keys(table, ("type", "path", "model", "revision", *_PREBUILT_KEYS), "[source] (type path)")
    raw_path = v.opt_str(table, "path", "[source] path")
    if not raw_path:
        raise ConfigError(f"{v.where}: [source] path is missing", "name the checkpoint folder")
    path = Path(raw_path).expanduser()
    path = (path if path.is_absolute() else base_dir / path).absolute()
    model = v.opt_str(table, "model", "[source] model") or path.name
    revision = v.opt_str(table, "revision", "[source] revision")
    if revision is not None and not _TREE_DIGEST.match(revision):
        raise ConfigError(
            f"{v.where}: [source] revision {revision!r} of a path source must be "
            "sha256:<64 hex> (the folder's tree digest)",
            "leave it out, or copy the revision a previous build recorded in its MANIFEST.txt",
        )
    return PathSource(path=path, model=model, revision=revision, prebuilt=prebuilt)


_PREBUILT_KEYS = ("prebuilt", "files")
PREBUILT_FORMATS = ("onnx",)
# Where ONNX exports on the Hub keep each variant (optimum's and transformers.js' layout).
DEFAULT_PREBUILT_FILES = {"fp32": ONNX_FP32_FILE, "int8": ONNX_INT8_FILE}


def _prebuilt(v: _Validator, table: dict[str, Any]) -> Prebuilt | None:
    """``prebuilt = "onnx"`` and its optional ``[source.files]`` variant -> file mapping."""
    kind = v.opt_str(table, "prebuilt", "[source] prebuilt")
    files = v.table(table, "files")
    if kind is None:
        if files:
            raise ConfigError(
                f'{v.where}: [source] files needs prebuilt = "onnx"',
                "files maps variants to upstream ONNX files, which only a mirror uses",
            )
        return None
    v.choice(kind, PREBUILT_FORMATS, "[source] prebuilt")
    v.keys(files, VARIANTS, "[source.files]")
    entries = []
    for variant in VARIANTS:
        value = files.get(variant, DEFAULT_PREBUILT_FILES[variant])
        label = f"[source.files] {variant}"
        sidecars: tuple[str, ...] | None = None
        if isinstance(value, dict):
            v.keys(value, ("file", EXTERNAL_DATA_KEY), label)
            declared = value.get(EXTERNAL_DATA_KEY)
            if declared is not None:
                if not isinstance(declared, list) or not all(isinstance(x, str) for x in declared):
                    raise ConfigError(f"{v.where}: {label} external_data must be a list of paths")
                sidecars = tuple(_repo_path(v, x, f"{label} external_data") for x in declared)
            value = value.get("file")
        if not isinstance(value, str):
            raise ConfigError(
                f"{v.where}: {label} must be a path in the repo or a table with file",
                f'e.g. {variant} = "{DEFAULT_PREBUILT_FILES[variant]}"',
            )
        entries.append(PrebuiltFile(variant, _repo_path(v, value, label), sidecars))
    return Prebuilt(files=tuple(entries), format=kind)


def _repo_path(v: _Validator, value: str, label: str) -> str:
    try:
        return check_relative_path(value, where=f"{v.where}: {label}")
    except (ManifestError, InvalidNameError) as exc:
        raise ConfigError(
            f"{v.where}: {label} {value!r} is not a relative path in the repo",
            "write it as the Hub shows it, e.g. onnx/model.onnx",
        ) from exc


def check_commit(revision: str | None, *, where: str) -> str:
    """Accept only a full 40-character lowercase hex commit (branches and tags move)."""
    if revision is None:
        raise ConfigError(
            f"{where}: [source] revision is missing",
            "pin the exact upstream commit: revision = '<40-character commit hash>'",
        )
    if _COMMIT.match(revision):
        return revision
    if re.fullmatch(r"[0-9a-fA-F]{40}", revision):
        raise ConfigError(
            f"{where}: [source] revision {revision!r} has uppercase letters",
            "write the commit hash in lowercase",
        )
    if re.fullmatch(r"[0-9a-f]{7,39}", revision):
        reason = "is an abbreviated commit hash"
    else:
        reason = "is a branch or tag name, not a commit"
    raise ConfigError(
        f"{where}: [source] revision {revision!r} {reason}; branches and tags move",
        "use the full 40-character commit hash (the Hub's 'Files and versions' history shows it)",
    )


def _variants(v: _Validator, value: Any) -> tuple[str, ...]:
    if value is None:
        return VARIANTS
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{v.where}: [export] variants must be a list of strings")
    for item in value:
        v.choice(item, VARIANTS, "[export] variants")
    if "fp32" not in value:
        raise ConfigError(
            f"{v.where}: [export] variants must include fp32",
            "fp32 is the reference the probe vectors and the int8 parity gate are built on",
        )
    if len(set(value)) != len(value):
        raise ConfigError(f"{v.where}: [export] variants lists a variant twice")
    return tuple(x for x in VARIANTS if x in value)  # canonical order


class _Validator:
    """Typed reads from a TOML table; every failure names the file and the key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def table(self, parent: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
        value = parent.get(key)
        if value is None:
            if required:
                raise ConfigError(
                    f"{self.where}: [{key}] is missing",
                    "the recipe needs [profile] and [source]; see docs/recipe.md",
                )
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where}: '{key}' must be a table ([{key}])")
        return value

    def keys(self, table: dict[str, Any], allowed: tuple[str, ...], label: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                guess = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"{self.where}: unknown key '{key}' in {label}{guess}",
                    f"allowed keys: {', '.join(allowed)}",
                )

    def choice(self, value: str, allowed: tuple[str, ...], label: str) -> None:
        if value not in allowed:
            raise ConfigError(
                f"{self.where}: {label} {value!r} is not supported",
                f"use one of {', '.join(allowed)}",
            )

    def check_name(self, value: str, label: str) -> None:
        try:
            check_name(value)
        except InvalidNameError as exc:
            raise ConfigError(
                f"{self.where}: {label} {value!r} is not a valid name", exc.hint
            ) from exc

    def opt_str(self, table: dict[str, Any], key: str, label: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{self.where}: {label} must be a string, not {value!r}")
        return value

    def opt_bool(self, table: dict[str, Any], key: str, label: str) -> bool | None:
        value = table.get(key)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{self.where}: {label} must be true or false, not {value!r}")
        return value

    def opt_int(
        self, table: dict[str, Any], key: str, label: str, *, low: int, high: int
    ) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{self.where}: {label} must be a whole number from {low} to {high}, not {value!r}"
            )
        return value

    def opt_cosine(self, table: dict[str, Any], key: str, default: float) -> float:
        value = table.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not -1 <= value <= 1:
            raise ConfigError(
                f"{self.where}: [parity] {key} must be a cosine between -1 and 1, not {value!r}"
            )
        return float(value)
