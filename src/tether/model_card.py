"""Hugging Face model cards (README.md): what kind of release a listing is, and its card.

The one renderer of cards: ``tether build`` (the README.md of a built profile),
``tether release`` of a folder tether did not build (a card generated when the folder has
none) and ``tether notes --card`` (with model-index results) all go through
:func:`render_card`, and :func:`card_metadata` decides the Hub metadata per kind:

==============  ================================  ==============  =====================
kind            detected by                       library_name    pipeline_tag
==============  ================================  ==============  =====================
embedding       profile.json                      onnx            feature-extraction
gguf            ``*.gguf``                        gguf            text-generation
transformers    config.json + ``*.safetensors``   transformers    from config.json's
                (or ``*.bin``)                                    architectures, else
                                                                  text-generation
generic         anything else                     (none)          (none)
==============  ================================  ==============  =====================

``base_model`` is only ever what the recipe or the user said (a Hub repo id), never a
guess from a folder name (tests/quality/test_cards.py). The front matter is written here
(no YAML library at run time): every value is a plain scalar or a JSON-quoted string,
which YAML reads back as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.errors import ConfigError
from tether.names import HF_CONFIG_FILE, PROFILE_FILE

EMBEDDING = "embedding"
GGUF = "gguf"
TRANSFORMERS = "transformers"
GENERIC = "generic"

#: How messages name a release of each kind ("phi3-gguf is a GGUF release, ...").
KIND_LABELS = {
    EMBEDDING: "an embedding profile",
    GGUF: "a GGUF release",
    TRANSFORMERS: "a transformers/vLLM release",
    GENERIC: "a generic release",
}
#: What runs a release of each kind that is not an embedding profile.
KIND_RUNTIMES = {
    GGUF: "llama.cpp or Ollama",
    TRANSFORMERS: "transformers or vLLM",
    GENERIC: "the tool it was made for",
}
#: The MANIFEST.txt section holding what the user said of the card at release time.
CARD_SECTION = "Card"

_GGUF_SUFFIX = ".gguf"
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# llama.cpp's quantization names as they appear in file names: q4_k_m, q8_0, iq2_xs, f16, ...
_QUANT = re.compile(r"(?:^|[-_.])((?:i?q[1-8](?:_[a-z0-9]+)*)|bf16|f16|f32)(?=[-_.]|$)")
# The Hub's repo ids (org/name, or a legacy bare name such as gpt2).
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")
_PIPELINE_TAG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9][\w.+-]*")
_LICENSE = re.compile(r"[a-z0-9][a-z0-9.+-]*")
# An architecture's head says its task; a bare encoder (BertModel) gives features.
_HEADS = (
    ("ForCausalLM", "text-generation"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
)
# Words YAML would read as something other than a string.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def artifact_kind(files: Iterable[str]) -> str:
    """The kind of release a listing of relative paths is (embedding, gguf, ...)."""
    listed = set(files)
    if PROFILE_FILE in listed:
        return EMBEDDING
    if any(rel.lower().endswith(_GGUF_SUFFIX) for rel in listed):
        return GGUF
    if HF_CONFIG_FILE in listed and any(rel.endswith(_WEIGHT_SUFFIXES) for rel in listed):
        return TRANSFORMERS
    return GENERIC


def gguf_quantizations(files: Iterable[str]) -> list[str]:
    """The llama.cpp quantization names in the GGUF file names (``model-Q4_K_M.gguf``)."""
    found: list[str] = []
    for rel in sorted(files):
        stem = rel.rsplit("/", 1)[-1].lower()
        if stem.endswith(_GGUF_SUFFIX):
            found += _QUANT.findall(stem.removesuffix(_GGUF_SUFFIX))
    return list(dict.fromkeys(found))


def read_hf_config(raw: bytes | None) -> dict[str, Any]:
    """config.json's object, or {} (the card only describes the model: it never fails on it)."""
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def config_pipeline_tag(config: Mapping[str, Any]) -> str:
    """The Hub task config.json's ``architectures`` name; text-generation when it names none."""
    architectures = config.get("architectures")
    first = architectures[0] if isinstance(architectures, list) and architectures else None
    if isinstance(first, str):
        for head, tag in _HEADS:
            if first.endswith(head):
                return tag
        if first.endswith("Model"):
            return "feature-extraction"
    return "text-generation"


def front_matter_license(text: str) -> str | None:
    """The ``license:`` of a card's YAML front matter, when it has one."""
    if not text.startswith("---"):
        return None
    front = text[3:].split("\n---", 1)[0]
    found = re.search(r"^license:\s*['\"]?([\w.+-]+)['\"]?\s*$", front, re.MULTILINE)
    # Upstream cards write "MIT"; the Hub's ids are lower case. Anything else is dropped, not
    # refused: the user did not type it (tests/quality/test_cards.py).
    value = found.group(1).lower() if found else ""
    return value if _LICENSE.fullmatch(value) else None


def is_repo_id(text: str) -> bool:
    return bool(_REPO_ID.fullmatch(text)) and ".." not in text


@dataclass(frozen=True)
class CardOptions:
    """What the user says of a card (flags, or the release's recorded Card facts)."""

    base_model: str | None = None
    license: str | None = None
    pipeline_tag: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.base_model is not None and not is_repo_id(self.base_model):
            raise ConfigError(
                f"--base-model {self.base_model!r} is not a Hugging Face repo id",
                "name the model this one derives from, e.g. microsoft/Phi-3-mini-4k-instruct",
            )
        if self.license is not None and not _LICENSE.fullmatch(self.license):
            raise ConfigError(
                f"--license {self.license!r} is not a Hub license id",
                "use a lower-case id such as apache-2.0, mit or other",
            )
        if self.pipeline_tag is not None and not _PIPELINE_TAG.fullmatch(self.pipeline_tag):
            raise ConfigError(
                f"--pipeline-tag {self.pipeline_tag!r} is not a Hub task id",
                "use a task such as text-generation or feature-extraction",
            )
        for tag in self.tags:
            if not _TAG.fullmatch(tag):
                raise ConfigError(
                    f"--card-tag {tag!r} is not a tag",
                    "use letters, digits, dots, dashes, plus and underscores",
                )

    def facts(self) -> dict[str, str]:
        """The release's Card section (MANIFEST.txt): only what was said."""
        facts = {
            "base_model": self.base_model,
            "license": self.license,
            "pipeline_tag": self.pipeline_tag,
            "tags": ", ".join(self.tags) or None,
        }
        return {key: value for key, value in facts.items() if value}

    @classmethod
    def from_facts(cls, facts: Mapping[str, str]) -> CardOptions:
        tags = tuple(t.strip() for t in facts.get("tags", "").split(",") if t.strip())
        try:
            return cls(
                base_model=facts.get("base_model") or None,
                license=facts.get("license") or None,
                pipeline_tag=facts.get("pipeline_tag") or None,
                tags=tags,
            )
        except ConfigError:
            return cls()  # a card never fails on a record it cannot use

    def over(self, recorded: CardOptions) -> CardOptions:
        """These options, falling back to ``recorded`` for what they leave unsaid."""
        return CardOptions(
            base_model=self.base_model or recorded.base_model,
            license=self.license or recorded.license,
            pipeline_tag=self.pipeline_tag or recorded.pipeline_tag,
            tags=tuple(dict.fromkeys((*recorded.tags, *self.tags))),
        )


@dataclass(frozen=True)
class CardMetadata:
    """The card's front matter (the Hub's model card metadata)."""

    kind: str
    library_name: str | None = None
    pipeline_tag: str | None = None
    tags: tuple[str, ...] = ()
    base_model: str | None = None
    base_model_relation: str | None = None
    license: str | None = None

    def front_matter(self, extra: Sequence[str] = ()) -> list[str]:
        """The YAML lines between the two ``---``; ``extra``: ready YAML (model-index)."""
        lines = ["---"]
        for key in ("base_model", "base_model_relation", "library_name", "license"):
            value = getattr(self, key)
            if value:
                lines.append(f"{key}: {yaml_scalar(value)}")
        if self.pipeline_tag:
            lines.append(f"pipeline_tag: {yaml_scalar(self.pipeline_tag)}")
        if self.tags:
            lines += ["tags:", *(f"- {yaml_scalar(tag)}" for tag in self.tags)]
        return [*lines, *extra, "---"]


def card_metadata(
    kind: str,
    files: Iterable[str],
    options: CardOptions,
    *,
    config: Mapping[str, Any] | None = None,
    embedding_tags: Sequence[str] = (),
) -> CardMetadata:
    """The Hub metadata of a release of ``kind`` with these ``files``; ``options`` win."""
    tags: list[str] = ["tether"]
    library = pipeline = relation = None
    if kind == EMBEDDING:
        library, pipeline = "onnx", "feature-extraction"
        tags += ["onnx", "sentence-embeddings", *embedding_tags]
    elif kind == GGUF:
        library, pipeline = "gguf", "text-generation"
        tags += ["gguf", *gguf_quantizations(files)]
        relation = "quantized" if options.base_model else None
    elif kind == TRANSFORMERS:
        library, pipeline = "transformers", config_pipeline_tag(config or {})
    tags += options.tags
    return CardMetadata(
        kind=kind,
        library_name=library,
        pipeline_tag=options.pipeline_tag or pipeline,
        tags=tuple(dict.fromkeys(tags)),
        base_model=options.base_model,
        base_model_relation=relation,
        license=options.license,
    )


@dataclass
class Section:
    """A ``## title`` and its Markdown lines."""

    title: str
    lines: list[str] = field(default_factory=list)


def render_card(
    metadata: CardMetadata,
    title: str,
    summary: Sequence[str],
    sections: Sequence[Section] = (),
    *,
    extra_front: Sequence[str] = (),
    closing: Sequence[str] = (),
) -> str:
    """README.md: front matter, ``# title``, the summary paragraphs, the sections."""
    lines = [*metadata.front_matter(extra_front), "", f"# {title}", ""]
    for paragraph in summary:
        lines += [paragraph, ""]
    for section in sections:
        lines += [f"## {section.title}", "", *section.lines, ""]
    for paragraph in closing:
        lines += [paragraph, ""]
    return "\n".join(lines)


def generic_card(
    metadata: CardMetadata,
    *,
    name: str,
    title: str,
    sizes: Mapping[str, int],
    build: Mapping[str, str],
    tether_version: str,
    state: str | None = None,
) -> str:
    """The card of a release tether did not build (GGUF, transformers/vLLM, other files):
    what it holds and how it was released; no embedding steps (tests/quality/test_cards.py)."""
    said = f"{_WHAT[metadata.kind]}, released by tether {tether_version}"
    said += f" (state: {state})." if state else "."
    if metadata.base_model:
        relation = "Quantized from" if metadata.base_model_relation else "Derived from"
        said += f" {relation} `{metadata.base_model}`."
    quantizations = gguf_quantizations(sizes) if metadata.kind == GGUF else []
    if quantizations:
        said += f" Quantization: {', '.join(quantizations)}."
    files = Section("Files", ["| file | size |", "|---|---|"])
    files.lines += [f"| `{rel}` | {_size(size)} |" for rel, size in sorted(sizes.items())]
    sections = [files]
    use = _use_lines(metadata, sizes, name)
    if use:
        sections.append(Section("Use", use))
    provenance = [f"- {key}: {value}" for key, value in build.items() if key != "workflow"]
    provenance.append(f"- released in: {build.get('workflow', 'local')}")
    sections.append(Section("Provenance", provenance))
    return render_card(
        metadata,
        title,
        [said],
        sections,
        closing=["MANIFEST.txt lists the sha256 of every file; verify with `tether verify`."],
    )


_WHAT = {
    EMBEDDING: "An embedding profile",
    GGUF: "GGUF model files",
    TRANSFORMERS: "A transformers model folder (config.json and its weights)",
    GENERIC: "Model files",
}


def _use_lines(metadata: CardMetadata, sizes: Mapping[str, int], name: str) -> list[str]:
    """How the fetched folder is run, by the tools of its kind (never tether embed/eval)."""
    if metadata.kind == GGUF:
        lines = [f"- Ollama: `ollama create {name} -f Modelfile`"] if "Modelfile" in sizes else []
        models = sorted(rel for rel in sizes if rel.lower().endswith(_GGUF_SUFFIX))
        return lines + [f"- llama.cpp: `llama-cli -m {rel}`" for rel in models[:1]]
    if metadata.kind == TRANSFORMERS:
        task = metadata.pipeline_tag or "text-generation"
        return [
            f'- transformers: `pipeline("{task}", model="FOLDER")`',
            "- vLLM: `vllm serve FOLDER`",
            "",
            "FOLDER: the folder `tether fetch` put this release in.",
        ]
    return []


def yaml_scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as this string: plain when that is safe,
    else JSON-quoted (a JSON string is a YAML double-quoted scalar)."""
    plain = re.fullmatch(r"[A-Za-z_][\w./+-]*", value) and value.lower() not in _YAML_WORDS
    return value if plain else json.dumps(value, ensure_ascii=False)


def _size(size: int) -> str:
    if size < 2**10:
        return f"{size} B"
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
