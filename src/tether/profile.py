"""The profile contract (profile.json) and the stat-only completeness check of a profile folder.

:class:`Profile` is the one reader of profile.json: every other module gets a parsed
``Profile`` (``Profile.from_bytes``, ``read_profile``) and asks it which files a variant
needs (``Profile.variant_files``) instead of decoding the JSON itself.

A profile folder ``<root>/<profile_id>/`` holds the release files for one or both variants
and ``.prepared.json``, written last by ``tether fetch`` once every file was verified. At
start-up nothing is hashed: a folder is *complete for a variant* when ``.prepared.json`` is
there and every file that variant needs (profile.json, tokenizer.json, the model, its
external-data sidecars) is listed in it, on disk, non-empty, and of the recorded size.
``tether verify`` is the slow, hashing check.

Every rejection is a :class:`Rejection` with a stable ``reason`` code (see ``REASONS``), so
the resolver can explain in one line why a folder was skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ManifestError, RuntimeOptionError
from tether.names import (
    EXTERNAL_DATA_KEY,
    LEGACY_EXTERNAL_DATA_KEY,
    PREPARED_FILE,
    PROBE_FILE,
    PROFILE_FILE,
    TOKENIZER_FILE,
)
from tether.paths import check_relative_path
from tether.prepared import Prepared, read_prepared

POOLINGS = ("mean", "cls", "last")
#: The fields that must stay equal for stored vectors to stay comparable.
CONTRACT_KEYS = (
    "profile_id",
    "dim",
    "native_dim",
    "pooling",
    "normalize",
    "max_length",
    "tokenizer_sha256",
    "prompts",
    "default_prompt_name",
)

#: Rejection reason codes, with the words used in trails and logs.
REASONS: dict[str, str] = {
    "not_found": "no folder here",
    "no_prepared": "no .prepared.json (not fetched by tether, or the fetch did not finish)",
    "prepared_malformed": ".prepared.json is malformed",
    "missing_profile": "profile.json is missing",
    "profile_malformed": "profile.json is malformed",
    "contract_differs": "profile contract differs from the one asked for",
    "variant_unknown": "profile.json declares no such variant",
    "missing_tokenizer": "tokenizer.json is missing",
    "missing_model": "model file for the variant is missing",
    "only_other_variant": "only the other variant is present",
    "missing_sidecar": "external-data sidecar is missing",
    "missing_probe": "probe.json is missing (needed for the self-test)",
    "zero_byte": "zero-byte file",
    "size_differs": "file size differs from .prepared.json",
    "unreadable": "the folder cannot be read",
    # Found only by loading (tether.load): complete by the stat-only check, but broken.
    "unloadable": "model or tokenizer cannot be loaded",
    "probe_mismatch": "probe self-test failed",
    "bad_output": "model outputs NaN or infinite values",
}


@dataclass(frozen=True)
class VariantSpec:
    """One model variant of a profile: its ONNX file and declared external-data files."""

    name: str
    file: str
    external_data: tuple[str, ...] = ()
    quantization: Mapping[str, Any] | None = None

    @property
    def dynamic_quantization(self) -> bool:
        """True when activations are quantized at run time with scales over the whole input.

        Such a model's output for one text depends on the other rows of its batch, so the
        runtime must run it one text at a time. Unknown int8 quantization counts as dynamic.
        """
        if self.quantization is None:
            return self.name == "int8"
        return str(self.quantization.get("method", "dynamic")).lower() == "dynamic"


@dataclass(frozen=True)
class Profile:
    """A parsed, validated profile.json."""

    profile_id: str
    dim: int
    pooling: str
    normalize: bool
    max_length: int
    tokenizer_sha256: str | None
    inputs: tuple[str, ...]
    output: str
    variants: Mapping[str, VariantSpec]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Prompt name -> the text prepended to an input, as sentence-transformers' ``prompts``.
    prompts: Mapping[str, str] = field(default_factory=dict)
    #: The prompt applied when none is asked for (a key of ``prompts``), or None.
    default_prompt_name: str | None = None
    #: The model's output width when the profile keeps only the first ``dim`` values
    #: (Matryoshka truncation); None when the vectors are the model's full width.
    native_dim: int | None = None

    @property
    def model_dim(self) -> int:
        """The width of the model's pooled output, before any truncation to ``dim``."""
        return self.native_dim or self.dim

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: str = PROFILE_FILE) -> Profile:
        """The Profile in profile.json's bytes; a one-line ManifestError for any bad input."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                _REFETCH_HINT,
            ) from exc
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ManifestError(f"{where} is not valid JSON ({exc})", _REFETCH_HINT) from exc
        return parse_profile(data, where=where)

    def variant_files(self, listing: Iterable[str]) -> dict[str, list[str]]:
        """Variant -> the files it needs: its model file first, then its external-data sidecars.

        Sidecars are the declared ones and every ``<model file>_data*`` in ``listing`` (a
        MANIFEST's or .prepared.json's files): onnx writes ``model.onnx_data``,
        ``model.onnx_data_1``, ... beside the model (tests/test_profile.py pins this).
        """
        listed = list(listing)
        return {
            name: [
                spec.file,
                *sorted(
                    set(spec.external_data)
                    | {rel for rel in listed if rel.startswith(spec.file + "_data")}
                ),
            ]
            for name, spec in self.variants.items()
        }

    def model_id(self, variant: str) -> str:
        """The id stamped on vectors: ``local-text-retrieval-v1-384d-int8-mlen256``.

        Two vectors are comparable exactly when their model ids are equal. A truncated
        profile says so (``256of768d``) and one with prompts ends in ``-p<digest>`` of its
        prompts and default prompt name; a profile with neither keeps the plain form, so
        vectors stamped before these fields existed stay current.
        """
        width = f"{self.dim}of{self.native_dim}d" if self.native_dim else f"{self.dim}d"
        base = f"{self.profile_id}-{width}-{variant}-mlen{self.max_length}"
        digest = self.prompts_digest()
        return f"{base}-p{digest[:12]}" if digest else base

    def prompts_digest(self) -> str | None:
        """sha256 of the prompts and default prompt name (canonical JSON); None without any."""
        if not self.prompts and self.default_prompt_name is None:
            return None
        canonical = json.dumps(
            {"prompts": dict(self.prompts), "default_prompt_name": self.default_prompt_name},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def prompt_text(self, name: str | None) -> str:
        """The text prepended for prompt ``name`` (None: the default prompt, if any).

        As sentence-transformers' ``encode(prompt_name=...)``: an unknown name is an error,
        no name means ``default_prompt_name``'s prompt, and no default means no prompt.
        """
        if name is None:
            name = self.default_prompt_name
            return "" if name is None else self.prompts[name]
        if name not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "none"
            raise RuntimeOptionError(
                f"profile {self.profile_id} has no prompt {name!r} (its prompts: {known})",
                "use one of its prompts, or leave prompt out",
            )
        return self.prompts[name]

    def contract(self) -> dict[str, Any]:
        contract = {key: getattr(self, key) for key in CONTRACT_KEYS}
        contract["prompts"] = dict(self.prompts)
        return contract

    def differences(self, expect: Mapping[str, Any]) -> list[str]:
        """``key: have X, asked Y`` for each contract field that differs from ``expect``."""
        check_expect(expect)
        contract = self.contract()
        return [
            f"{key}: have {contract[key]!r}, asked {value!r}"
            for key, value in expect.items()
            if contract[key] != value
        ]


def check_expect(expect: Mapping[str, Any]) -> Mapping[str, Any]:
    """``expect`` if it names only contract fields (a typo must not silently match anything)."""
    unknown = sorted(set(expect) - set(CONTRACT_KEYS))
    if unknown:
        raise RuntimeOptionError(
            f"unknown profile contract fields {unknown}",
            f"expect may name: {', '.join(CONTRACT_KEYS)}",
        )
    return expect


_REFETCH_HINT = "repair it: tether fetch --repair"


def parse_profile(data: Any, *, where: str = PROFILE_FILE) -> Profile:
    """A Profile from profile.json's decoded JSON; ManifestError naming the bad field."""

    def bad(problem: str) -> ManifestError:
        return ManifestError(f"{where}: {problem}", _REFETCH_HINT)

    if not isinstance(data, dict):
        raise bad("not a JSON object")

    def get(key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise bad(f"missing {key!r}")
            return default
        value = data[key]
        # bool is an int: refuse it where a number is meant, and vice versa.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(f"{key!r} has the wrong type ({type(value).__name__})")
        return value

    profile_id = get("profile_id", str)
    dim = get("dim", int)
    max_length = get("max_length", int)
    if dim <= 0 or max_length <= 0:
        raise bad("dim and max_length must be positive")
    native_dim = get("native_dim", (int, type(None)), None)
    if isinstance(native_dim, bool) or (native_dim is not None and native_dim <= dim):
        raise bad(f"'native_dim' {native_dim!r} must be above dim {dim} (or absent)")
    prompts = get("prompts", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise bad("'prompts' must map prompt names to strings")
    default_prompt_name = get("default_prompt_name", (str, type(None)), None)
    if default_prompt_name is not None and default_prompt_name not in prompts:
        raise bad(f"'default_prompt_name' {default_prompt_name!r} is not one of its prompts")
    pooling = get("pooling", str)
    if pooling not in POOLINGS:
        raise bad(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    inputs = get("inputs", list, ["input_ids", "attention_mask"])
    if not inputs or not all(isinstance(name, str) for name in inputs):
        raise bad("'inputs' must be a non-empty list of input names")
    variants_raw = get("variants", dict)
    if not variants_raw:
        raise bad("'variants' is empty")
    variants: dict[str, VariantSpec] = {}
    for name, spec in variants_raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            raise bad(f"variant {name!r} needs a 'file'")
        sidecars: list[str] = []
        for key in (EXTERNAL_DATA_KEY, LEGACY_EXTERNAL_DATA_KEY):
            declared = spec.get(key, [])
            if isinstance(declared, str) and key == EXTERNAL_DATA_KEY:
                declared = [declared]  # what tether build writes (tests/test_profile.py)
            if not isinstance(declared, list) or not all(isinstance(f, str) for f in declared):
                raise bad(f"variant {name!r}: {key!r} must be a list of paths")
            sidecars += declared
        quantization = spec.get("quantization")
        if quantization is not None and not isinstance(quantization, dict):
            raise bad(f"variant {name!r}: 'quantization' must be an object")
        variants[name] = VariantSpec(
            name=name,
            file=check_relative_path(spec["file"], where=where),
            external_data=tuple(
                check_relative_path(f, where=where) for f in dict.fromkeys(sidecars)
            ),
            quantization=quantization,
        )
    return Profile(
        profile_id=profile_id,
        dim=dim,
        pooling=pooling,
        normalize=get("normalize", bool, True),
        max_length=max_length,
        tokenizer_sha256=get("tokenizer_sha256", (str, type(None)), None),
        inputs=tuple(inputs),
        output=get("output", str, "last_hidden_state"),
        variants=variants,
        raw=data,
        prompts=dict(prompts),
        default_prompt_name=default_prompt_name,
        native_dim=native_dim,
    )


def read_profile(folder: Path) -> Profile:
    """The folder's profile.json; FileNotFoundError when absent, ManifestError when invalid
    or unreadable (a folder in its place, no permission)."""
    path = Path(folder) / PROFILE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError(f"{path} cannot be read ({reason})", _REFETCH_HINT) from exc
    return Profile.from_bytes(raw, where=str(path))


def already_prepared(folder: Path, name: str, release: str, variants: str) -> Prepared | None:
    """The folder's record when it already holds ``release`` for ``variants``, else None.

    Stat-only (no hashing, no store): every listed file must exist with its recorded size.
    ``variants`` is fp32, int8, or both (every variant profile.json declares).
    """
    folder = Path(folder)
    try:
        prepared = read_prepared(folder)
    except ManifestError:
        return None
    if prepared is None or prepared.name != name or prepared.release != release:
        return None
    if variants != "both":
        wanted = [variants]
    else:
        try:
            wanted = sorted(read_profile(folder).variants)
        except FileNotFoundError:
            wanted = []  # a generic artifact: no variants
        except (OSError, ManifestError):
            return None  # an unreadable profile.json: fetch it again
    if prepared.variants != wanted:
        return None
    for rel, entry in prepared.files.items():
        try:
            if (folder / rel).stat().st_size != entry.size:
                return None
        except OSError:
            return None
    return prepared


@dataclass(frozen=True)
class Rejection:
    """Why a folder cannot serve a variant: a stable code and the specifics."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        words = REASONS.get(self.reason, self.reason)
        return f"{words}: {self.detail}" if self.detail else words


@dataclass
class ProfileFolder:
    """A candidate folder, its records read once (two small JSON files, never a model).

    ``rejection`` is set when the folder as a whole is unusable (no .prepared.json, a
    profile.json for another contract, ...); otherwise ask :meth:`check` per variant.
    """

    folder: Path
    profile: Profile | None = None
    prepared: Prepared | None = None
    rejection: Rejection | None = None

    @classmethod
    def open(
        cls, folder: Path, profile_id: str, expect: Mapping[str, Any] | None = None
    ) -> ProfileFolder:
        folder = Path(folder)
        try:
            is_dir = folder.is_dir()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte from a variable
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return cls(folder, rejection=Rejection("unreadable", detail))
        if not is_dir:
            return cls(folder, rejection=Rejection("not_found"))
        try:
            prepared = read_prepared(folder)
        except ManifestError as exc:
            return cls(folder, rejection=Rejection("prepared_malformed", str(exc)))
        if prepared is None:
            return cls(folder, rejection=Rejection("no_prepared"))
        try:
            profile = read_profile(folder)
        except FileNotFoundError:
            return cls(folder, prepared=prepared, rejection=Rejection("missing_profile"))
        except ManifestError as exc:
            return cls(
                folder, prepared=prepared, rejection=Rejection("profile_malformed", str(exc))
            )
        result = cls(folder, profile=profile, prepared=prepared)
        differences = (
            []
            if profile.profile_id == profile_id
            else [f"profile_id: have {profile.profile_id!r}, asked {profile_id!r}"]
        )
        differences += profile.differences(expect or {})
        if differences:
            result.rejection = Rejection("contract_differs", "; ".join(differences))
            return result
        # profile.json was read above: it must also be the verified one.
        result.rejection = result._check_file(PROFILE_FILE, "missing_profile")
        return result

    def check(self, variant: str, *, need_probe: bool = False) -> Rejection | None:
        """None when the folder is complete for ``variant``, else the first reason it is not."""
        if self.rejection is not None:
            return self.rejection
        assert self.profile is not None and self.prepared is not None
        spec = self.profile.variants.get(variant)
        if spec is None:
            declared = ", ".join(sorted(self.profile.variants))
            return Rejection("variant_unknown", f"{variant!r} (profile has {declared})")
        if spec.file not in self.prepared.files:
            # Not fetched at all. (A recorded file that is gone is damage: missing_model.)
            other = self._other_complete_variant(variant)
            if other is not None:
                return Rejection("only_other_variant", f"{other} present, {variant} asked")
        rejection = self._check_file(TOKENIZER_FILE, "missing_tokenizer") or self._check_file(
            spec.file, "missing_model"
        )
        if rejection is not None:
            return rejection
        _, *sidecars = self.profile.variant_files(self.prepared.files)[variant]
        for sidecar in sidecars:
            rejection = self._check_file(sidecar, "missing_sidecar")
            if rejection is not None:
                return rejection
        return self._check_file(PROBE_FILE, "missing_probe") if need_probe else None

    def _other_complete_variant(self, variant: str) -> str | None:
        assert self.profile is not None
        for name, spec in sorted(self.profile.variants.items()):
            if name != variant and self._check_file(spec.file, "missing_model") is None:
                return name
        return None

    def _check_file(self, rel: str, missing_reason: str) -> Rejection | None:
        assert self.prepared is not None
        entry = self.prepared.files.get(rel)
        if entry is None:
            return Rejection(missing_reason, f"{rel} not listed in {PREPARED_FILE}")
        try:
            size = os.stat(self.folder / rel).st_size
        except FileNotFoundError:
            return Rejection(missing_reason, rel)
        except OSError as exc:  # e.g. a folder where the file should be
            return Rejection(missing_reason, f"{rel} ({exc.strerror})")
        if size == 0:
            return Rejection("zero_byte", rel)
        if size != entry.size:
            return Rejection("size_differs", f"{rel}: {size} bytes, recorded {entry.size}")
        return None
