"""``build(recipe, out_dir)``: checkpoint -> the release files, checked, with provenance.

Stages (each reported with its time): source, checkpoint, tokenizer, export fp32, check
fp32, quantize int8, parity int8, metadata. Everything is written into a temporary folder
beside ``out_dir`` and renamed into place at the end, so a failed or refused build leaves
``out_dir`` as it was. The folder ends with a *draft* MANIFEST.txt (version unreleased):
``tether release --from DIR`` checks the files against it and publishes.

The measured parity goes into probe.json as numbers, ``"parity": {"int8": {"reference":
"fp32", "mean": ..., "min": ..., "texts": ..., "batch_size": ...}, "fp32": {...}}``, which
the promotion gate reads (tether.quality.gate); MANIFEST.txt keeps it as a line for people.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tether
from tether.errors import ConfigError, MissingDependencyError, QualityGateError
from tether.manifest import (
    MANIFEST_FILE,
    Manifest,
    build_timestamp,
    ci_run_url,
    commit_fact,
    write_release_metadata,
)
from tether.model_card import (
    EMBEDDING,
    CardOptions,
    Section,
    card_metadata,
    front_matter_license,
    is_repo_id,
    render_card,
)
from tether.names import (
    DEFAULT_BUILD_DIR,
    EXTERNAL_DATA_KEY,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    PROBE_FILE,
    PROBE_PARITY_KEY,
    PROFILE_FILE,
    README_FILE,
    SOURCE_DATE_EPOCH_ENV,
    TOKENIZER_FILE,
    VOCAB_FILE,
)
from tether.recipe.loader_files import write_loader_files
from tether.recipe.schema import ParityThresholds, Recipe, load_recipe
from tether.recipe.sources import ResolvedSource, resolve_source

if TYPE_CHECKING:  # export.py is light, but keep the import graph of `tether.recipe` small
    from tether.project import Project
    from tether.recipe.export import Checkpoint, Exported
    from tether.recipe.mirror_onnx import Upstream
    from tether.recipe.parity import ParityStats

Progress = Callable[[str], None]

FP32_FILE = ONNX_FP32_FILE
INT8_FILE = ONNX_INT8_FILE

# Modules of the build extra; onnxruntime, tokenizers and numpy come with the runtime.
BUILD_MODULES = ("torch", "transformers", "onnx", "huggingface_hub", "safetensors")
# Distributions whose versions decide the bytes, in the order MANIFEST.txt lists them.
TOOLING = (
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
    "tokenizers",
    "huggingface_hub",
    "safetensors",
    "numpy",
)
# Packages that decide an export's bytes but never touch a mirror's (left out of its Tooling).
EXPORT_TOOLING = ("torch", "transformers", "onnx", "safetensors")
# probe.json: what the runtime's self-test should accept against the recorded vectors.
# fp32 is batch-independent and near-exact across CPUs; int8 kernels differ by CPU
# (VNNI vs AVX2 saturation), so it gets a looser bound.
PROBE_MIN_COSINE = {"fp32": 0.9999, "int8": 0.99}
PROBE_DIGITS = 8  # significant digits kept in probe.json (float32 noise is below)
MIRROR_ALONE_EVERY = 4  # a mirror's fp32 check: every 4th parity text, batched vs alone


@dataclass(frozen=True)
class Settings:
    """The profile facts as used: the recipe's, else the checkpoint's."""

    pooling: str
    normalize: bool
    max_length: int
    prompts: dict[str, str] = field(default_factory=dict)  # name -> text prepended
    default_prompt_name: str | None = None
    dim: int | None = None  # the vectors' width (None: unknown until the model is read)
    native_dim: int | None = None  # the model's width when dim truncates it, else None

    def contract_fields(self) -> dict[str, Any]:
        """profile.json's optional contract fields, present only when they say something
        (so a profile without prompts or truncation keeps the bytes it always had)."""
        fields: dict[str, Any] = {}
        if self.native_dim is not None:
            fields["native_dim"] = self.native_dim
        if self.prompts:
            fields["prompts"] = dict(self.prompts)
        if self.default_prompt_name is not None:
            fields["default_prompt_name"] = self.default_prompt_name
        return fields


@dataclass(frozen=True)
class BuildResult:
    """What a build produced and measured."""

    out_dir: Path
    manifest: Manifest  # the draft (version None) written to out_dir/MANIFEST.txt
    profile: dict[str, Any]
    source: ResolvedSource
    recipe_digest: str  # sha256:<hex> of recipe_json
    recipe_json: str  # the canonical recipe as used
    parity: dict[str, Any] = field(default_factory=dict)  # "fp32", "int8" -> ParityStats
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds; "total"


def build(
    recipe: Recipe,
    out_dir: Path,
    *,
    run_url: str | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the release files of ``recipe`` into ``out_dir`` (replaced only on success).

    Raises ConfigError (bad recipe or checkpoint), SourceNotFoundError, IntegrityError
    (source digest pin, corrupted cache), QualityGateError (parity) or
    MissingDependencyError (no build extra); in every case ``out_dir`` is untouched.
    A ``prebuilt`` source is mirrored instead (upstream's ONNX files, no build extra).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir).absolute()
    check_out_dir(out_dir)
    check_source_date_epoch()
    say = progress or (lambda _line: None)
    if recipe.source.prebuilt is not None:  # a mirror: no torch, no export
        return _mirror(recipe, out_dir, started, say, run_url)
    require_toolchain()
    stages = _Stages(say, total=8 if "int8" in recipe.variants else 6)
    say(f"building {recipe.name} from {recipe.source.describe()}")

    with stages.stage("source") as stage:
        source = resolve_source(recipe.source)
        stage.detail = f"{source.model} at {source.revision}"
    with stages.stage("checkpoint") as stage:
        from tether.recipe.export import inspect_checkpoint

        checkpoint = inspect_checkpoint(source.folder)
        settings = resolve_settings(recipe, checkpoint)
        stage.detail = (
            f"{checkpoint.model_type}, dim {checkpoint.hidden_size}, pooling "
            f"{settings.pooling}, normalize {str(settings.normalize).lower()}, "
            f"max_length {settings.max_length}"
        )

    result = _fill_out_dir(
        out_dir,
        lambda work: _build_into(work, recipe, source, checkpoint, settings, stages, run_url),
    )
    stages.timings["total"] = time.perf_counter() - started
    say(f"built {recipe.name} into {out_dir} in {stages.timings['total']:.1f} s")
    return BuildResult(out_dir=out_dir, timings=dict(stages.timings), **result)


def _fill_out_dir(out_dir: Path, fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """What ``fill`` returns after filling a private folder beside ``out_dir``, which then
    takes ``out_dir``'s place; after a failure nothing half-written is left."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        result = fill(work)
        check_out_dir(out_dir)  # still safe to replace after the minutes the build took
        work.chmod(0o777 & ~_umask())  # mkdtemp made it private; the result is not
        _replace_dir(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def build_project(
    project: Project,
    *,
    out_dir: Path | None = None,
    run_url: str | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """`tether build`: the project's recipe built into ``out_dir`` (default: build/<name> in
    the project). The recipe comes from the settings ``project`` already read."""
    recipe = load_recipe(project)
    target = out_dir or project.dir / DEFAULT_BUILD_DIR / recipe.name
    return build(recipe, target, run_url=run_url, progress=progress)


def _build_into(
    work: Path,
    recipe: Recipe,
    source: ResolvedSource,
    checkpoint: Checkpoint,
    settings: Settings,
    stages: _Stages,
    run_url: str | None,
) -> dict[str, Any]:
    from tether.recipe import parity
    from tether.recipe.export import EXPORTER, export_onnx, load_torch_model, normalise_tokenizer
    from tether.recipe.quantize import quantize_int8

    scratch = work / ".scratch"
    int8 = "int8" in recipe.variants
    thresholds = recipe.parity

    with stages.stage("tokenizer") as stage:
        tokenizer_json = normalise_tokenizer(source.folder, settings.max_length)
        (work / TOKENIZER_FILE).write_bytes(tokenizer_json)
        if checkpoint.has_vocab:
            shutil.copyfile(source.folder / VOCAB_FILE, work / VOCAB_FILE)
        tokenizer = parity.load_tokenizer(tokenizer_json)
        stage.detail = f"truncation {settings.max_length}, padding to the batch's longest"

    texts = parity.parity_texts()
    with stages.stage("export fp32") as stage:
        model = load_torch_model(source.folder)
        exported = export_onnx(model, work / FP32_FILE, opset=recipe.opset, scratch=scratch)
        if exported.dim != checkpoint.hidden_size:
            raise ConfigError(
                f"the export's output has width {exported.dim}, config.json says "
                f"{checkpoint.hidden_size}",
                "is this checkpoint a text encoder?",
            )
        stage.detail = f"{FP32_FILE} ({_mib(work / FP32_FILE)}), opset {recipe.opset}"

    with stages.stage("check fp32") as stage:
        common = {"pooling": settings.pooling, "unit": True, "inputs": exported.inputs}
        reference = parity.embed_torch(model, tokenizer, texts, **common)
        del model  # the torch copy of the weights is not needed past this point
        gc.collect()
        fp32 = parity.embed_onnx(exported.model_file, tokenizer, texts, **common)
        fp32_stats = parity.compare(
            fp32, reference, texts, names=("fp32", "torch"), batch_size=parity.PARITY_BATCH
        )
        stage.detail = fp32_stats.describe()
        if fp32_stats.min < thresholds.fp32_min:
            raise QualityGateError(
                f"fp32 export check failed: {fp32_stats.describe()} (needs min >= "
                f"{thresholds.fp32_min:g}); worst text {fp32_stats.worst_text[:40]!r}",
                "the ONNX export does not reproduce the checkpoint; report it with the "
                "tooling versions, or set [parity] fp32_min deliberately",
            )
    results: dict[str, Any] = {"fp32": fp32_stats}

    if int8:
        with stages.stage("quantize int8") as stage:
            quantize_int8(
                exported.model_file, work / INT8_FILE, recipe.quantization, scratch=scratch
            )
            stage.detail = (
                f"{INT8_FILE} ({_mib(work / INT8_FILE)}), {recipe.quantization.describe()}"
            )
        with stages.stage("parity int8") as stage:
            quantized = parity.embed_onnx(work / INT8_FILE, tokenizer, texts, **common)
            int8_stats = parity.compare(
                quantized, fp32, texts, names=("int8", "fp32"), batch_size=parity.PARITY_BATCH
            )
            stage.detail = int8_stats.describe()
            if int8_stats.mean < thresholds.min_mean or int8_stats.min < thresholds.min:
                raise QualityGateError(
                    f"int8 parity gate failed: {int8_stats.describe()}; needs mean >= "
                    f"{thresholds.min_mean:g} and min >= {thresholds.min:g}; worst text "
                    f"{int8_stats.worst_text[:40]!r}"
                )
        results["int8"] = int8_stats

    with stages.stage("metadata") as stage:
        shutil.rmtree(scratch, ignore_errors=True)
        files = {"fp32": work / FP32_FILE, "int8": work / INT8_FILE}
        probe = _probe(recipe, settings, exported.inputs, tokenizer, files, results)
        (work / PROBE_FILE).write_text(probe, encoding="utf-8")
        profile = _profile(recipe, settings, exported, tokenizer_json, work)
        (work / PROFILE_FILE).write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
        write_loader_files(work, profile, upstream=source.folder)
        (work / README_FILE).write_text(
            _model_card(recipe, source, settings, profile), encoding="utf-8"
        )
        recipe_json = canonical_recipe(recipe, source, settings)
        recipe_digest = "sha256:" + hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
        build_facts = {
            "timestamp": build_timestamp(),
            "workflow": ci_run_url(run_url),
            **_commit_of(recipe),
            "recipe": recipe_digest,
            "quantization": recipe.quantization.describe() if int8 else "none",
            "exporter": f"{EXPORTER}, opset {recipe.opset}",
            "fp32_check": fp32_stats.describe(),
        }
        built = _write_manifest(
            work, recipe, source, build_facts, tooling_versions(), results, thresholds
        )
        stage.detail = f"{len(built['manifest'].files)} files, {MANIFEST_FILE} (draft)"
    return {**built, "profile": profile, "recipe_digest": recipe_digest, "recipe_json": recipe_json}


# --- mirror: a prebuilt ONNX repo (tether.recipe.mirror_onnx) ------------------------------


def _mirror(
    recipe: Recipe, out_dir: Path, started: float, say: Progress, run_url: str | None
) -> BuildResult:
    """Upstream's ONNX files as they are, checked and recorded as a build's (no torch)."""
    from tether.recipe import mirror_onnx

    stages = _Stages(say, total=7 if "int8" in recipe.variants else 6)
    say(f"mirroring {recipe.name} from {recipe.source.describe()}")
    with stages.stage("source") as stage:
        source = resolve_source(recipe.source)
        stage.detail = f"{source.model} at {source.revision}"
    with stages.stage("upstream") as stage:
        upstream = mirror_onnx.inspect_upstream(source.folder, recipe)
        settings = resolve_settings(recipe, upstream.checkpoint)
        stage.detail = (
            f"{mirror_onnx.describe_files(upstream)}; dim {upstream.dim}, pooling "
            f"{settings.pooling}, normalize {str(settings.normalize).lower()}, "
            f"max_length {settings.max_length}"
        )
    result = _fill_out_dir(
        out_dir,
        lambda work: _mirror_into(work, recipe, source, upstream, settings, stages, run_url),
    )
    stages.timings["total"] = time.perf_counter() - started
    say(f"mirrored {recipe.name} into {out_dir} in {stages.timings['total']:.1f} s")
    return BuildResult(out_dir=out_dir, timings=dict(stages.timings), **result)


def _mirror_into(
    work: Path,
    recipe: Recipe,
    source: ResolvedSource,
    upstream: Upstream,
    settings: Settings,
    stages: _Stages,
    run_url: str | None,
) -> dict[str, Any]:
    from tether.recipe import mirror_onnx, parity
    from tether.recipe.export import Exported, normalise_tokenizer

    thresholds = recipe.parity
    with stages.stage("tokenizer") as stage:
        # The same normalisation as a build (MiniLM's file pads to a fixed 128 tokens).
        tokenizer_json = normalise_tokenizer(source.folder, settings.max_length)
        (work / TOKENIZER_FILE).write_bytes(tokenizer_json)
        tokenizer = parity.load_tokenizer(tokenizer_json)
        stage.detail = f"truncation {settings.max_length}, padding to the batch's longest"
    with stages.stage("copy onnx") as stage:
        copied = mirror_onnx.copy_upstream(upstream, work)
        size = sum((work / rel).stat().st_size for rel in copied) / (1 << 20)
        stage.detail = f"{len(copied)} files ({size:.1f} MiB) as published"

    texts = parity.parity_texts()
    files = {entry.variant: work / entry.file for entry in upstream.variants}
    common = {"pooling": settings.pooling, "unit": True, "inputs": upstream.inputs}
    with stages.stage("check fp32") as stage:
        # No checkpoint to compare with: check what the runtime promises of fp32, that a
        # text's vector does not depend on the rest of its batch (padding is masked).
        fp32 = parity.embed_onnx(files["fp32"], tokenizer, texts, **common)
        sample = texts[::MIRROR_ALONE_EVERY]  # every 4th text: the same variety, 1/4 the time
        alone = parity.embed_onnx(files["fp32"], tokenizer, sample, **common, batch_size=1)
        fp32_stats = parity.compare(
            fp32[::MIRROR_ALONE_EVERY],
            alone,
            sample,
            names=("fp32", "fp32 alone"),
            batch_size=parity.PARITY_BATCH,
        )
        stage.detail = fp32_stats.describe()
        if fp32_stats.min < thresholds.fp32_min:
            raise QualityGateError(
                f"upstream fp32 check failed: {fp32_stats.describe()} (needs min >= "
                f"{thresholds.fp32_min:g}); worst text {fp32_stats.worst_text[:40]!r}",
                "the upstream model's vectors depend on padding: its export ignores the "
                "attention mask; mirror another export or build from the checkpoint",
            )
    results: dict[str, Any] = {"fp32": fp32_stats}
    if "int8" in files:
        with stages.stage("parity int8") as stage:
            quantized = parity.embed_onnx(files["int8"], tokenizer, texts, **common)
            int8_stats = parity.compare(
                quantized, fp32, texts, names=("int8", "fp32"), batch_size=parity.PARITY_BATCH
            )
            stage.detail = int8_stats.describe()
            if int8_stats.mean < thresholds.min_mean or int8_stats.min < thresholds.min:
                raise QualityGateError(
                    f"int8 parity gate failed on upstream's {upstream.variant('int8').file}: "
                    f"{int8_stats.describe()}; needs mean >= {thresholds.min_mean:g} and "
                    f"min >= {thresholds.min:g}; worst text {int8_stats.worst_text[:40]!r}",
                    "upstream's int8 loses too much: mirror fp32 only ([export] variants = "
                    '["fp32"]) or build the int8 yourself from the checkpoint',
                )
        results["int8"] = int8_stats

    with stages.stage("metadata") as stage:
        probe = _probe(recipe, settings, upstream.inputs, tokenizer, files, results)
        (work / PROBE_FILE).write_text(probe, encoding="utf-8")
        exported = Exported(files["fp32"], None, upstream.inputs, upstream.dim)
        profile = _profile(recipe, settings, exported, tokenizer_json, work)
        profile["output"] = upstream.output
        profile["variants"] = mirror_onnx.profile_variants(upstream)
        (work / PROFILE_FILE).write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
        write_loader_files(work, profile, upstream=source.folder)
        (work / README_FILE).write_text(
            _model_card(recipe, source, settings, profile, mirrored=True), encoding="utf-8"
        )
        used = json.loads(canonical_recipe(recipe, source, settings))
        used["export"] = {
            "prebuilt": recipe.source.prebuilt.format,
            "files": {e.variant: list(e.files) for e in upstream.variants},
            "variants": list(recipe.variants),
        }
        used["quantization"] = None  # upstream's: recorded per variant in profile.json
        recipe_json = json.dumps(used, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        recipe_digest = "sha256:" + hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
        build_facts = {
            "timestamp": build_timestamp(),
            "workflow": ci_run_url(run_url),
            **_commit_of(recipe),
            "recipe": recipe_digest,
            "quantization": mirror_onnx.describe_quantization(upstream),
            "exporter": mirror_onnx.MIRROR_EXPORTER,
            "upstream_files": mirror_onnx.describe_files(upstream),
            "fp32_check": fp32_stats.describe(),
        }
        tooling = {k: v for k, v in tooling_versions().items() if k not in EXPORT_TOOLING}
        built = _write_manifest(work, recipe, source, build_facts, tooling, results, thresholds)
        stage.detail = f"{len(built['manifest'].files)} files, {MANIFEST_FILE} (draft)"
    return {**built, "profile": profile, "recipe_digest": recipe_digest, "recipe_json": recipe_json}


def _write_manifest(
    work: Path,
    recipe: Recipe,
    source: ResolvedSource,
    build_facts: dict[str, str],
    tooling: dict[str, str],
    results: dict[str, Any],
    thresholds: ParityThresholds,
) -> dict[str, Any]:
    """The draft MANIFEST.txt and provenance of a built or mirrored release folder."""
    if "int8" in results:
        build_facts["parity"] = results["int8"].describe()
    build_facts["parity_thresholds"] = thresholds.describe()
    sections = {
        "Tooling": tooling,
        "Source": {"model": source.model, "revision": source.revision},
        "Build": build_facts,
    }
    manifest = write_release_metadata(work, Manifest(recipe.name, None, {}, sections))
    return {"manifest": manifest, "source": source, "parity": results}


# --- settings and facts -------------------------------------------------------------------


def resolve_settings(recipe: Recipe, checkpoint: Checkpoint) -> Settings:
    """The recipe's profile values, else the checkpoint's sentence-transformers ones."""
    where = f"checkpoint {checkpoint.folder}"
    pooling = recipe.pooling or checkpoint.pooling
    if pooling is None:
        reason = checkpoint.pooling_problem or "has no sentence-transformers pooling config"
        raise ConfigError(
            f"{where}: {reason}",
            "set [profile] pooling (mean, cls or last) to how the model was trained",
        )
    if recipe.pooling is None and checkpoint.pooling_problem:
        raise ConfigError(f"{where}: {checkpoint.pooling_problem}", "tether cannot reproduce it")
    normalize = recipe.normalize
    if normalize is None:
        normalize = True if checkpoint.normalize is None else checkpoint.normalize
    max_length = recipe.max_length or checkpoint.max_length
    if max_length is None:
        raise ConfigError(
            f"{where} has no sentence_bert_config.json max_seq_length",
            "set [profile] max_length (the token limit the model was trained with)",
        )
    if checkpoint.max_positions is not None and max_length > checkpoint.max_positions:
        raise ConfigError(
            f"[profile] max_length {max_length} exceeds the model's "
            f"{checkpoint.max_positions} positions",
            f"use max_length <= {checkpoint.max_positions}",
        )
    prompts = dict(checkpoint.prompts if recipe.prompts is None else recipe.prompts)
    default = recipe.default_prompt_name
    if default is None:  # the checkpoint's, when the recipe's prompts leave it standing
        default = checkpoint.default_prompt_name
        default = default if default in prompts else None
    default = default or None  # "" in the recipe: no default prompt
    if default is not None and default not in prompts:
        raise ConfigError(
            f"[profile] default_prompt_name {default!r} is not one of the prompts "
            f"({', '.join(sorted(prompts)) or 'none'})",
            "name one of the checkpoint's or [profile] prompts, or leave it out",
        )
    # An empty prompt changes nothing (sentence-transformers saves "query": "" for every
    # model): leaving it out keeps such a profile's stamp that of a profile without prompts.
    prompts = {name: text for name, text in prompts.items() if text}
    default = default if default in prompts else None
    width = checkpoint.hidden_size
    if recipe.dim is not None and recipe.dim > width:
        raise ConfigError(
            f"[profile] dim {recipe.dim} exceeds the model's output width {width}",
            f"use dim <= {width} (Matryoshka truncation keeps the first dim values)",
        )
    dim = recipe.dim or width
    return Settings(
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
        prompts=prompts,
        default_prompt_name=default,
        dim=dim,
        native_dim=width if dim < width else None,
    )


def canonical_recipe(recipe: Recipe, source: ResolvedSource, settings: Settings) -> str:
    """The recipe as used (defaults resolved), as canonical JSON: its digest is recorded.

    Where the result is published (name, store) and where the source sat on disk do not
    change the bytes, so they are left out; the source's revision is in.
    """
    used = {
        "schema": 1,
        "profile": {
            "id": recipe.profile_id,
            "pooling": settings.pooling,
            "normalize": settings.normalize,
            "max_length": settings.max_length,
            **settings.contract_fields(),  # only when set: older recipes keep their digest
        },
        "source": {"type": source.type, "model": source.model, "revision": source.revision},
        "export": {"opset": recipe.opset, "variants": list(recipe.variants)},
        "quantization": recipe.quantization.as_profile() if "int8" in recipe.variants else None,
        "parity": recipe.parity.as_dict(),
    }
    return json.dumps(used, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tooling_versions() -> dict[str, str]:
    """python, tether and every package whose version decides the built bytes."""
    versions = {"python": platform.python_version(), "tether": tether.__version__}
    for dist in TOOLING:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _profile(
    recipe: Recipe, settings: Settings, exported: Exported, tokenizer_json: bytes, work: Path
) -> dict[str, Any]:
    """profile.json, in the order and shape DESIGN.md shows."""
    variants: dict[str, Any] = {"fp32": {"file": FP32_FILE}}
    if "int8" in recipe.variants:
        variants["int8"] = {
            "file": INT8_FILE,
            "quantization": recipe.quantization.as_profile(),
        }
    for entry in variants.values():
        sidecar = f"{entry['file']}_data"
        if (work / sidecar).is_file():
            entry[EXTERNAL_DATA_KEY] = sidecar
    return {
        "profile_id": recipe.profile_id,
        "dim": settings.dim or exported.dim,
        **({"native_dim": settings.native_dim} if settings.native_dim else {}),
        "pooling": settings.pooling,
        "normalize": settings.normalize,
        "max_length": settings.max_length,
        **{k: v for k, v in settings.contract_fields().items() if k != "native_dim"},
        "tokenizer_sha256": hashlib.sha256(tokenizer_json).hexdigest(),
        "inputs": list(exported.inputs),
        "output": "last_hidden_state",
        "variants": variants,
    }


def _probe(
    recipe: Recipe,
    settings: Settings,
    inputs: tuple[str, ...],
    tokenizer: Any,
    files: dict[str, Path],
    measured: dict[str, ParityStats],
) -> str:
    """probe.json: each probe text embedded alone (batch of 1) by each variant, and the
    parity each variant was measured at (numbers the promotion gate reads).

    The vectors are what the runtime's ``embed(texts)`` must give: with the default
    prompt prepended, if the profile has one, and truncated to ``dim`` before normalising.
    """
    from tether.recipe import parity

    texts = parity.probe_texts()
    probe: dict[str, Any] = {
        "schema": 1,
        "profile_id": recipe.profile_id,
        "batch_size": 1,
        "texts": texts,
    }
    prefix = settings.prompts.get(settings.default_prompt_name or "", "")
    if prefix:
        probe["prompt"] = settings.default_prompt_name
    for variant in measured:  # fp32, then int8 when built
        vectors = parity.embed_onnx(
            files[variant],
            tokenizer,
            [prefix + text for text in texts],
            pooling=settings.pooling,
            unit=False,
            inputs=inputs,
            batch_size=1,
        )[:, : settings.dim]
        if settings.normalize:
            vectors = parity.l2_normalize(vectors)
        probe[variant] = [[float(f"{x:.{PROBE_DIGITS}g}") for x in row] for row in vectors]
    probe["min_cosine"] = {k: v for k, v in PROBE_MIN_COSINE.items() if k in probe}
    probe[PROBE_PARITY_KEY] = {variant: stats.as_record() for variant, stats in measured.items()}
    return json.dumps(probe, ensure_ascii=False, separators=(",", ":")) + "\n"


def _model_card(
    recipe: Recipe,
    source: ResolvedSource,
    settings: Settings,
    profile: dict[str, Any],
    *,
    mirrored: bool = False,
) -> str:
    """README.md: what this release is. Only facts that are the same on every rebuild.

    Hugging Face card format (tether.model_card renders every card). Evaluation results
    come after the release (tether eval writes them to its record); `tether notes VERSION
    --card` renders this card with them as model-index (docs/quality.md).
    """
    options = CardOptions(
        base_model=source.model if is_repo_id(source.model) else None,
        license=upstream_license(source.folder),
    )
    int8 = ["int8"] if "int8" in profile["variants"] else []
    metadata = card_metadata(EMBEDDING, [PROFILE_FILE], options, embedding_tags=int8)
    summary = (
        f"Text embedding model `{source.model}` at revision `{source.revision}`, "
        + ("its ONNX files mirrored as published" if mirrored else "exported to ONNX")
        + f" by tether {tether.__version__} for the profile `{recipe.profile_id}`."
    )
    table = [
        "| | |",
        "|---|---|",
        f"| dimensions | {profile['dim']} |",
        f"| pooling | {settings.pooling} |",
        f"| normalized | {'yes' if settings.normalize else 'no'} |",
        f"| max length (tokens) | {settings.max_length} |",
        f"| inputs | {', '.join(profile['inputs'])} |",
    ]
    variants = Section("Variants")
    for variant, entry in profile["variants"].items():
        quant = entry.get("quantization")
        how = recipe.quantization.describe() if quant else "float32, as exported"
        if mirrored:
            how = f"upstream's, {quant['method']} int8" if quant else "upstream's, float32"
        variants.lines.append(f"- `{variant}`: `{entry['file']}` ({how})")
    closing = [
        f"The build refused to write this release unless {recipe.parity.describe()} "
        "(cosine similarity on tether's built-in parity texts). MANIFEST.txt records the "
        "measured values, the tooling and the recipe; probe.json holds reference vectors "
        "for a self-test.",
        "Licence and intended use: those of the upstream model.",
    ]
    return render_card(
        metadata, recipe.name, [summary, "\n".join(table)], [variants], closing=closing
    )


def upstream_license(folder: Path) -> str | None:
    """The ``license:`` of the checkpoint's own card front matter, when it has one."""
    try:
        text = (Path(folder) / README_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return front_matter_license(text)


def _commit_of(recipe: Recipe) -> dict[str, str]:
    """The Build section's ``commit``: the consuming repo's, when there is one (the recipe
    file's folder is the project's). Not in README.md: a rebuild elsewhere must match it."""
    return commit_fact(recipe.origin.parent if recipe.origin is not None else None)


# --- plumbing -----------------------------------------------------------------------------


def require_toolchain() -> None:
    """Fail early, in one line, when the build extra is not installed."""
    missing = [name for name in BUILD_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"tether build needs the build toolchain; missing: {', '.join(missing)}",
            "pip install torch==2.13.0 && pip install 'tether[build]' (torch first: a plain "
            "torch requirement pulls GBs of CUDA packages)",
        )


def check_source_date_epoch() -> None:
    epoch = os.environ.get(SOURCE_DATE_EPOCH_ENV)
    if epoch is not None and not epoch.strip().isdigit():
        raise ConfigError(
            f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds",
            "set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
        )


def check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is neither empty nor an earlier tether build."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"output {out_dir} is a file", "choose a folder with --out")
    if any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).is_file():
        raise ConfigError(
            f"output folder {out_dir} holds files that are not a tether build",
            "choose another --out, or empty the folder",
        )


def _replace_dir(work: Path, out_dir: Path) -> None:
    """Move the finished build into place; an earlier build there goes only after."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
        os.replace(out_dir, old / "build")
    os.replace(work, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mib(path: Path) -> str:
    return f"{path.stat().st_size / (1 << 20):.1f} MiB"


class _Stage:
    def __init__(self) -> None:
        self.detail = ""


class _Stages:
    """Numbered stage lines with their duration, e.g. ``[4/8] export fp32: ... (5.1 s)``."""

    def __init__(self, say: Progress, total: int) -> None:
        self.say = say
        self.total = total
        self.done = 0
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, label: str) -> Iterator[_Stage]:
        stage = _Stage()
        start = time.perf_counter()
        yield stage
        seconds = time.perf_counter() - start
        self.done += 1
        self.timings[label] = seconds
        detail = f": {stage.detail}" if stage.detail else ""
        self.say(f"[{self.done}/{self.total}] {label}{detail} ({seconds:.1f} s)")
