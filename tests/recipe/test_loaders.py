"""Release folders load as they are in other loaders, and agree with tether.load().

The loader files (config.json, tokenizer_config.json, special_tokens_map.json and the
sentence-transformers files) are generated from profile.json by tether.recipe.loader_files,
for built and mirrored releases alike. fastembed runs from its own venv (it needs
huggingface_hub < 2; ``.venv-fastembed``, created on first use when missing). The
sentence-transformers ONNX backend cannot be installed beside sentence-transformers 6
(FINDINGS.md), so its default torch backend reads the release's config files with the
upstream weights put beside them: that checks every file that decides a vector (pipeline,
pooling, normalize, max_length, tokenizer, prompts), not the ONNX loading itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.hub_server import MIRROR_PROFILE_ID, cached_minilm_mirror
from tests.real_models import PROFILE_ID as BUILT_PROFILE_ID
from tests.real_models import minilm_source_dir
from tests.runtime.helpers import link_or_copy, prepare_folder
from tether.recipe.loader_files import write_loader_files

pytestmark = pytest.mark.usefixtures("clean_build_env")

ROOT = Path(__file__).resolve().parents[2]
FASTEMBED_VENV = ROOT / ".venv-fastembed"
FASTEMBED_INSTALL = (
    f"python3 -m venv {FASTEMBED_VENV.name} && {FASTEMBED_VENV.name}/bin/python -m pip "
    "install fastembed==0.9.1"
)
TEXTS = [
    "how do I reset my password",
    "The quick brown fox jumps over the lazy dog.",
    "Das Wetter ist heute schön, aber morgen soll es regnen.",
    "机器学习是人工智能的一个分支。",
    "def add(a, b):\n    return a + b",
    "🙂 emoji and https://example.com/a?b=c",
    " ".join(["a long text past the 256-token limit of the profile"] * 60),
]
_FASTEMBED = """
import json, sys
import numpy as np
from fastembed import TextEmbedding
from fastembed.common.model_description import ModelSource, PoolingType

folder, spec_json, texts_json, out = sys.argv[1:]
spec = json.loads(spec_json)
vectors = {}
for variant, files in spec["variants"].items():
    name = f"tether-tests/{variant}"
    TextEmbedding.add_custom_model(
        model=name, pooling=PoolingType[spec["pooling"]], normalization=spec["normalize"],
        sources=ModelSource(hf=name), dim=spec["dim"], model_file=files[0],
        additional_files=files[1:],
    )
    model = TextEmbedding(name, specific_model_path=folder, threads=1)
    # one text per call, as tether runs int8 (dynamic activation scales span the batch)
    vectors[variant] = np.array(list(model.embed(json.loads(texts_json), batch_size=1)))
np.savez(out, **vectors)
"""
_POOLING = {"mean": "MEAN", "cls": "CLS", "last": "LAST_TOKEN"}


@pytest.fixture(scope="session")
def fastembed_python() -> Path:
    python = FASTEMBED_VENV / "bin" / "python"
    check = [str(python), "-c", "import fastembed"]
    if not python.is_file() or subprocess.run(check, capture_output=True).returncode != 0:
        subprocess.run(["bash", "-c", FASTEMBED_INSTALL], cwd=ROOT, check=True)
    return python


@pytest.fixture(params=["mirrored", "built"])
def release(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A release folder as published and its profile id: mirrored (sidecars) or built."""
    if request.param == "mirrored":
        return cached_minilm_mirror(), MIRROR_PROFILE_ID
    return Path(request.getfixturevalue("minilm_build")), BUILT_PROFILE_ID


def _tether_vectors(
    release: Path, profile_id: str, variant: str, tmp: Path, prefix: str = ""
) -> np.ndarray:
    import tether

    folder = tmp / "models" / profile_id
    if not folder.exists():
        prepare_folder(release, folder)
    embedder = tether.load(profile_id, path=folder, variant=variant)
    return embedder.embed([prefix + text for text in TEXTS])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_loader_files_follow_the_profile(release: tuple[Path, str]) -> None:
    folder, _ = release
    profile = json.loads((folder / "profile.json").read_text())
    read = lambda rel: json.loads((folder / rel).read_text())  # noqa: E731
    assert read("tokenizer_config.json")["model_max_length"] == profile["max_length"] == 256
    assert read("sentence_bert_config.json")["max_seq_length"] == 256
    pooling = read("1_Pooling/config.json")
    assert pooling["word_embedding_dimension"] == profile["dim"]
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert [m["type"].rsplit(".", 1)[-1] for m in read("modules.json")] == [
        "Transformer",
        "Pooling",
        "Normalize",
    ]
    assert read("config.json")["model_type"] == "bert"  # upstream's, as it was
    assert read("special_tokens_map.json")["pad_token"] == "[PAD]"
    st = read("config_sentence_transformers.json")
    assert st["prompts"] == profile.get("prompts", {})
    assert "truncate_dim" not in st


def test_loader_files_carry_prompts_truncation_and_no_normalize(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    shutil.copytree(cached_minilm_mirror(), folder)
    profile = json.loads((folder / "profile.json").read_text())
    profile |= {
        "prompts": {"query": "query: ", "document": "passage: "},
        "default_prompt_name": "query",
        "dim": 128,
        "native_dim": 384,
        "normalize": False,
        "pooling": "cls",
    }
    written = write_loader_files(folder, profile, upstream=minilm_source_dir())
    assert "config_sentence_transformers.json" in written
    st = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == {"query": "query: ", "document": "passage: "}
    assert (st["default_prompt_name"], st["truncate_dim"]) == ("query", 128)
    modules = json.loads((folder / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling"]  # no Normalize
    pooling = json.loads((folder / "1_Pooling/config.json").read_text())
    assert pooling["word_embedding_dimension"] == 384  # the model's width, before truncation
    assert pooling["pooling_mode_cls_token"]


def test_fastembed_loads_a_release_folder_as_tether_embeds(
    release: tuple[Path, str], fastembed_python: Path, tmp_path: Path
) -> None:
    folder, profile_id = release
    profile = json.loads((folder / "profile.json").read_text())
    listing = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    spec = {
        "pooling": _POOLING[profile["pooling"]],
        "normalize": profile["normalize"],
        "dim": profile["dim"],
        "variants": {
            name: [v["file"], *sorted(r for r in listing if r.startswith(v["file"] + "_data"))]
            for name, v in profile["variants"].items()
        },
    }
    out = tmp_path / "fastembed.npz"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf")}
    args = [str(folder), json.dumps(spec), json.dumps(TEXTS), str(out)]
    done = subprocess.run(
        [str(fastembed_python), "-c", _FASTEMBED, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(out)
    for variant in ("fp32", "int8"):
        ours = _tether_vectors(folder, profile_id, variant, tmp_path)
        cos = _cosines(ours, theirs[variant])
        assert cos.min() >= 0.9999, (variant, cos)


def test_sentence_transformers_reads_the_release_files_as_tether_embeds(
    tmp_path: Path,
) -> None:
    from sentence_transformers import SentenceTransformer

    release = cached_minilm_mirror()
    folder = tmp_path / "st"
    for path in release.rglob("*"):
        if path.is_file():
            link_or_copy(path, folder / path.relative_to(release))
    shutil.copyfile(minilm_source_dir() / "model.safetensors", folder / "model.safetensors")
    # the profile with prompts, as a release of a prompted model carries them
    profile = json.loads((release / "profile.json").read_text())
    profile |= {"prompts": {"query": "query: ", "document": ""}, "default_prompt_name": None}
    write_loader_files(folder, profile, upstream=minilm_source_dir())

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert model.max_seq_length == 256
    assert model.prompts == {"query": "query: ", "document": ""}
    theirs = model.encode(TEXTS, batch_size=8)
    ours = _tether_vectors(release, MIRROR_PROFILE_ID, "fp32", tmp_path)
    assert _cosines(ours, theirs).min() >= 0.9999
    # sentence-transformers prepends the prompt text: the same vector as tether's of it
    queried = model.encode(TEXTS, prompt_name="query", batch_size=8)
    prefixed = _tether_vectors(release, MIRROR_PROFILE_ID, "fp32", tmp_path, prefix="query: ")
    assert _cosines(prefixed, queried).min() >= 0.9999
