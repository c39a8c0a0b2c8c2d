"""Mirroring a prebuilt ONNX repo (`[source] prebuilt = "onnx"`): no torch, no export.

The repo is the offline MiniLM laid out as Hub ONNX exports are (fp32 and int8, each
with an external-data sidecar; tests/hub_server.py makes it). The end-to-end tests serve
it from olah, a real Hub-compatible server, as a git repo with git-lfs objects, and run
every tether command in a fresh process of a venv that has tether's runtime and
huggingface_hub only (no torch, transformers or onnx installed; the preamble also blocks
them, so a stray import fails even where they exist).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.hub_server import (
    MIRROR_PROFILE_ID,
    MIRROR_REPO_ID,
    cached_minilm_mirror,
    cached_minilm_onnx_repo,
    commit_folder,
    hub_repo_dir,
    mirror_recipe,
    start_olah,
)
from tests.servers import Server
from tether.errors import ConfigError, QualityGateError, SourceNotFoundError
from tether.manifest import parse_manifest
from tether.quality import recorded_parity
from tether.recipe import build, recipe_from_table

pytestmark = pytest.mark.usefixtures("clean_build_env")

ROOT = Path(__file__).resolve().parents[2]
REPO_ID = MIRROR_REPO_ID
PROFILE_ID = MIRROR_PROFILE_ID
UPSTREAM_FILES = [
    "onnx/model.onnx",
    "onnx/model.onnx_data",
    "onnx/model_quantized.onnx",
    "onnx/model_quantized.onnx_data",
    "tokenizer.json",
]
LOADER_FILES = [
    "1_Pooling/config.json",
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
]
RECORDS = ["MANIFEST.txt", "README.md", "probe.json", "profile.json", "provenance.intoto.json"]
# Modules a mirror must never need: importing any of them fails in the subprocesses below.
BLOCKED = ("torch", "transformers", "onnx", "optimum", "sentence_transformers", "safetensors")
_CLI = (
    "import sys\n"
    f"for name in {BLOCKED!r}:\n"
    "    sys.modules[name] = None  # import torch -> ImportError\n"
    "from tether.cli import main\n"
    "sys.exit(main())\n"
)


def _table(source: dict[str, object], **sections: dict[str, object]) -> dict[str, object]:
    return {"profile": {"id": PROFILE_ID}, "source": source, **sections}


_path_recipe = mirror_recipe


def _files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and ".tether" not in p.relative_to(folder).parts
    )


# --- the recipe ---------------------------------------------------------------------------


def test_prebuilt_source_defaults_to_the_hub_onnx_layout() -> None:
    commit = "a" * 40
    source = {"type": "hf", "repo": REPO_ID, "revision": commit, "prebuilt": "onnx"}
    recipe = recipe_from_table(_table(source), base_dir=Path("."))
    prebuilt = recipe.source.prebuilt
    assert prebuilt is not None
    assert prebuilt.file("fp32").file == "onnx/model.onnx"
    assert prebuilt.file("int8").file == "onnx/model_quantized.onnx"
    assert prebuilt.file("int8").external_data is None  # every <file>_data* upstream has
    assert recipe.source.describe() == f"hf {REPO_ID}@{commit} (prebuilt onnx)"


def test_prebuilt_files_map_other_names_and_sidecars() -> None:
    source = {
        "type": "hf",
        "repo": REPO_ID,
        "revision": "b" * 40,
        "prebuilt": "onnx",
        "files": {
            "int8": {"file": "onnx/model_int8.onnx", "external_data": ["onnx/int8.bin"]},
            "fp32": "onnx/model_fp16.onnx",
        },
    }
    prebuilt = recipe_from_table(_table(source), base_dir=Path(".")).source.prebuilt
    assert prebuilt is not None
    assert prebuilt.file("fp32").file == "onnx/model_fp16.onnx"
    assert prebuilt.file("int8").file == "onnx/model_int8.onnx"
    assert prebuilt.file("int8").external_data == ("onnx/int8.bin",)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ({"revision": "main"}, "'main' is a branch or tag name, not a commit"),
        ({"revision": "v1"}, "'v1' is a branch or tag name, not a commit"),
        ({"prebuilt": "gguf"}, "prebuilt 'gguf' is not supported"),
        ({"files": {"fp16": "onnx/model_fp16.onnx"}}, "unknown key 'fp16' in [source.files]"),
        ({"files": {"int8": "../model.onnx"}}, "is not a relative path in the repo"),
        ({"files": {"int8": 8}}, "[source.files] int8 must be a path"),
        ({"prebuilt": None, "files": {"int8": "x.onnx"}}, "files needs prebuilt"),
    ],
)
def test_bad_prebuilt_sources_are_refused_in_one_line(
    source: dict[str, object], words: str
) -> None:
    table = {"type": "hf", "repo": REPO_ID, "revision": "c" * 40, "prebuilt": "onnx", **source}
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        recipe_from_table(_table(table), base_dir=Path("."))
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


# --- a local folder with the Hub layout ---------------------------------------------------


@pytest.fixture
def mirrored() -> Path:
    """The MiniLM ONNX repo mirrored from a local folder (a path source; shared)."""
    return cached_minilm_mirror()


def test_a_mirror_copies_upstream_onnx_files_byte_for_byte(mirrored: Path) -> None:
    repo = cached_minilm_onnx_repo()
    assert _files(mirrored) == sorted(UPSTREAM_FILES + LOADER_FILES + RECORDS)
    for rel in UPSTREAM_FILES[:4]:
        assert (mirrored / rel).read_bytes() == (repo / rel).read_bytes(), rel


def test_a_mirror_derives_the_profile_from_the_onnx_and_st_files(
    mirrored: Path, minilm_build: Path
) -> None:
    profile = json.loads((mirrored / "profile.json").read_text())
    built = json.loads((minilm_build / "profile.json").read_text())
    assert profile["dim"] == 384  # the ONNX output's width
    assert (profile["pooling"], profile["normalize"], profile["max_length"]) == ("mean", True, 256)
    # the same tokenizer normalisation as a build: the same contract as a built MiniLM
    assert profile["tokenizer_sha256"] == built["tokenizer_sha256"]
    assert profile["variants"] == {
        "fp32": {"file": "onnx/model.onnx", "external_data": "onnx/model.onnx_data"},
        "int8": {
            "file": "onnx/model_quantized.onnx",
            "quantization": {"method": "dynamic", "origin": "upstream"},
            "external_data": "onnx/model_quantized.onnx_data",
        },
    }


def test_a_mirror_records_probes_and_parity_for_every_variant(mirrored: Path) -> None:
    probe = json.loads((mirrored / "probe.json").read_text())
    assert len(probe["fp32"]) == len(probe["texts"]) == len(probe["int8"])
    assert probe["parity"]["int8"]["reference"] == "fp32"
    assert probe["parity"]["int8"]["mean"] >= 0.985  # upstream int8 measured against fp32
    assert probe["parity"]["fp32"]["reference"] == "fp32 alone"
    assert probe["parity"]["fp32"]["min"] >= 0.9999
    manifest = parse_manifest((mirrored / "MANIFEST.txt").read_text())
    build_facts = manifest.sections["Build"]
    assert build_facts["exporter"] == "none: upstream ONNX files mirrored as they are"
    assert build_facts["parity"].startswith("int8 vs fp32 cosine mean 0.9")
    assert "torch" not in manifest.sections["Tooling"]  # nothing of the export toolchain
    # what `tether promote` judges: the mirror's int8 parity, read as a build's is
    parity = recorded_parity(probe, manifest.sections)
    assert parity is not None and parity.source == "probe.json"
    assert (parity.mean, parity.min) == (
        probe["parity"]["int8"]["mean"],
        probe["parity"]["int8"]["min"],
    )


def test_a_mirror_embeds_as_the_built_model_does(
    mirrored: Path, minilm_build: Path, tmp_path: Path
) -> None:
    import tether
    from tests.runtime.helpers import prepare_folder

    ours_dir = prepare_folder(mirrored, tmp_path / "ours" / PROFILE_ID)
    theirs_dir = prepare_folder(minilm_build, tmp_path / "theirs" / "local-text-retrieval-v1")
    texts = ["how do I reset my password", "Das Wetter ist heute schön.", "x " * 3000]
    for variant in ("fp32", "int8"):
        ours = tether.load(PROFILE_ID, path=ours_dir, variant=variant, probe=True)
        theirs = tether.load("local-text-retrieval-v1", path=theirs_dir, variant=variant)
        cos = (ours.embed(texts) * theirs.embed(texts)).sum(axis=1)
        assert np.all(cos > 0.99999), (variant, cos)


def test_recipe_overrides_win_over_the_repo_files(tmp_path: Path) -> None:
    repo = Path(shutil.copytree(cached_minilm_onnx_repo(), tmp_path / "repo"))
    recipe = _path_recipe(
        repo,
        profile={"id": PROFILE_ID, "max_length": 128, "pooling": "cls"},
        export={"variants": ["fp32"]},
    )
    result = build(recipe, tmp_path / "out")
    assert (result.profile["max_length"], result.profile["pooling"]) == (128, "cls")
    assert list(result.profile["variants"]) == ["fp32"]
    assert not (result.out_dir / "onnx/model_quantized.onnx").exists()
    pooling = json.loads((result.out_dir / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode_cls_token"] and not pooling["pooling_mode_mean_tokens"]


def test_a_repo_that_does_not_say_its_pooling_is_refused_in_one_line(tmp_path: Path) -> None:
    repo = Path(shutil.copytree(cached_minilm_onnx_repo(), tmp_path / "repo"))
    (repo / "modules.json").unlink()
    shutil.rmtree(repo / "1_Pooling")
    with pytest.raises(ConfigError) as caught:
        build(_path_recipe(repo), tmp_path / "out")
    assert "set [profile] pooling" in caught.value.hint
    assert not (tmp_path / "out").exists()


def test_a_missing_variant_file_names_the_onnx_files_there(tmp_path: Path) -> None:
    repo = Path(shutil.copytree(cached_minilm_onnx_repo(), tmp_path / "repo"))
    for rel in ("onnx/model_quantized.onnx", "onnx/model_quantized.onnx_data"):
        (repo / rel).unlink()
    with pytest.raises(SourceNotFoundError) as caught:
        build(_path_recipe(repo), tmp_path / "out")
    assert "no onnx/model_quantized.onnx for the int8 variant" in str(caught.value)
    assert "(ONNX files there: onnx/model.onnx)" in str(caught.value)


def test_a_lossy_upstream_int8_is_refused_with_the_numbers(tmp_path: Path) -> None:
    # onnxruntime's defaults, QInt8 per tensor: mean ~0.956, min ~0.84 on MiniLM
    lossy = cached_minilm_onnx_repo(per_channel=False)
    with pytest.raises(QualityGateError) as caught:
        build(_path_recipe(lossy), tmp_path / "out")
    message = str(caught.value)
    assert "int8 parity gate failed on upstream's onnx/model_quantized.onnx" in message
    mean = float(message.split("cosine mean ")[1].split()[0])
    assert mean < 0.985
    assert "needs mean >= 0.985 and min >= 0.93" in message
    assert not (tmp_path / "out").exists()


# --- through a real Hub (olah) in a venv without the build extra ----------------------------

# What `pip install tether huggingface_hub` brings: tether's runtime and the Hub client.
MIRROR_DISTRIBUTIONS = ("click", "numpy", "onnxruntime", "platformdirs", "tokenizers")
MIRROR_DISTRIBUTIONS += ("huggingface_hub",)


def make_runtime_venv(dest: Path) -> Path:
    """A venv holding only tether (its source) and the installed distributions a mirror
    needs, with their dependencies: links into this venv's site-packages, so it takes a
    second where ``pip install`` from PyPI takes a minute. No torch, transformers, onnx.
    Returns its python."""
    import venv
    from importlib import metadata

    from packaging.requirements import Requirement

    venv.create(dest, with_pip=False)
    (site,) = dest.glob("lib/python*/site-packages")
    seen: set[str] = set()
    todo = list(MIRROR_DISTRIBUTIONS)
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops - {"..", "__pycache__"}:
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (site / top).exists():
                (site / top).symlink_to(target)
    (site / "tether-src.pth").write_text(str(ROOT / "src") + "\n")
    return dest / "bin" / "python"


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = make_runtime_venv(tmp_path_factory.mktemp("venv") / "runtime")
    for module in BLOCKED:  # really absent, not hidden
        done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        assert done.returncode == 1 and b"ModuleNotFoundError" in done.stderr, module
    return python


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_olah(tmp_path_factory.mktemp("olah"))
    yield server
    server.stop()


def _tether(
    python: Path, project: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-c", _CLI, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _recipe_toml(revision: str) -> str:
    return (
        f'[profile]\nid = "{PROFILE_ID}"\n\n'
        f'[source]\ntype = "hf"\nrepo = "{REPO_ID}"\nrevision = "{revision}"\n'
        'prebuilt = "onnx"\n'
    )


def test_mirror_release_pin_fetch_through_a_hub_without_torch(
    hub: Server, runtime_python: Path, tmp_path: Path
) -> None:
    repo_dir = hub_repo_dir(hub, REPO_ID)
    first = commit_folder(repo_dir, cached_minilm_onnx_repo(), "ONNX export", tag="v1")
    project = tmp_path / "project"
    project.mkdir()
    cache = tmp_path / "hf-cache"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "HF_"))},
        "HF_ENDPOINT": hub.url,
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    # the preamble works: a build from a checkpoint finds no toolchain in these processes
    (project / "tether.toml").write_text(
        f'[profile]\nid = "x-v1"\n[source]\ntype = "path"\npath = "{tmp_path}"\n'
    )
    done = _tether(runtime_python, project, env, "build")
    assert "missing: torch, transformers, onnx, safetensors" in done.stderr

    (project / "tether.toml").write_text(_recipe_toml("main"))
    done = _tether(runtime_python, project, env, "build")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "'main' is a branch or tag name, not a commit" in errors[0]

    (project / "tether.toml").write_text(_recipe_toml(first))
    for args in (
        ("release", "--version", "1.0.0"),
        ("pin", "1.0.0"),
        ("fetch", "--variant", "both", "--profiles-dir", "data/embedding_models"),
    ):
        done = _tether(runtime_python, project, env, *args)
        assert done.returncode == 0, (args, done.stderr)
    folder = project / "data" / "embedding_models" / PROFILE_ID
    assert _files(folder) == sorted([*UPSTREAM_FILES, *LOADER_FILES, *RECORDS, ".prepared.json"])
    manifest = parse_manifest((folder / "MANIFEST.txt").read_text())
    assert manifest.sections["Source"] == {"model": REPO_ID, "revision": first}
    provenance = json.loads((folder / "provenance.intoto.json").read_text())
    (dependency,) = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependency == {
        "uri": f"https://huggingface.co/{REPO_ID}",
        "digest": {"gitCommit": first},
    }
    blobs_before = {
        p.name for p in (cache / f"models--{REPO_ID.replace('/', '--')}/blobs").iterdir()
    }

    # A new upstream commit: int8 now in one file (no sidecar), a changed model card.
    second_tree = Path(shutil.copytree(cached_minilm_onnx_repo(), tmp_path / "second"))
    import onnx

    int8 = onnx.load(str(second_tree / "onnx/model_quantized.onnx"))
    (second_tree / "onnx/model_quantized.onnx_data").unlink()
    onnx.save_model(int8, str(second_tree / "onnx/model_quantized.onnx"))
    (second_tree / "README.md").write_text("---\nlicense: apache-2.0\n---\n# v2\n")
    second = commit_folder(repo_dir, second_tree, "int8 without external data")
    (project / "tether.toml").write_text(_recipe_toml(second))
    for args in (
        ("release", "--version", "1.0.1"),
        ("pin", "1.0.1"),
        ("fetch", "--variant", "both", "--profiles-dir", "data/embedding_models"),
    ):
        done = _tether(runtime_python, project, env, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert not (folder / "onnx/model_quantized.onnx_data").exists()  # stale: removed
    assert "onnx/model_quantized.onnx_data" not in _files(folder)
    assert parse_manifest((folder / "MANIFEST.txt").read_text()).sections["Source"]["revision"] == (
        second
    )
    # The Hub cache fetched only what changed: the new int8 file and model card.
    blobs_after = {
        p.name for p in (cache / f"models--{REPO_ID.replace('/', '--')}/blobs").iterdir()
    }
    assert len(blobs_after - blobs_before) == 2

    # huggingface_hub itself resolves the tag to the commit it names
    probe = (
        "import sys\nfrom huggingface_hub import snapshot_download\n"
        f"print(snapshot_download({REPO_ID!r}, revision='v1', allow_patterns=['*.json']))\n"
    )
    done = subprocess.run(
        [str(runtime_python), "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert Path(done.stdout.strip()).name == first


def test_a_mirror_takes_prompts_from_the_repo_and_dim_from_the_recipe(tmp_path: Path) -> None:
    repo = Path(shutil.copytree(cached_minilm_onnx_repo(), tmp_path / "repo"))
    (repo / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}})
    )
    recipe = _path_recipe(
        repo, profile={"id": PROFILE_ID, "dim": 128}, export={"variants": ["fp32"]}
    )
    profile = build(recipe, tmp_path / "out").profile
    assert (profile["dim"], profile["native_dim"]) == (128, 384)
    assert profile["prompts"] == {"query": "query: ", "document": "passage: "}
    st = json.loads((tmp_path / "out" / "config_sentence_transformers.json").read_text())
    assert (st["prompts"], st["truncate_dim"]) == (profile["prompts"], 128)
    probe = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert len(probe["fp32"][0]) == 128


def test_a_mirror_rebuilds_byte_identical_with_compare_with(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tether.cli import main
    from tether.spine import publish_release
    from tether.stores import open_store

    release = Path(shutil.copytree(cached_minilm_mirror(), tmp_path / "release"))
    store = tmp_path / "store"
    publish_release(open_store(str(store)), release, version="1.0.0")
    project = tmp_path / "project"
    project.mkdir()
    (project / "tether.toml").write_text(
        f'[profile]\nid = "{PROFILE_ID}"\n\n[source]\ntype = "path"\n'
        f'path = "{cached_minilm_onnx_repo()}"\nmodel = "{REPO_ID}"\nprebuilt = "onnx"\n'
    )
    args = ["build", "--project", str(project), "--store", str(store), "--compare-with", "1.0.0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    assert f"rebuild matches {PROFILE_ID} model-v1.0.0: 15 files identical" in result.stdout


def test_fetching_one_variant_of_a_mirror_brings_its_sidecar_only(tmp_path: Path) -> None:
    import tether
    from tether.spine import fetch_release, publish_release
    from tether.stores import open_store

    store = open_store(str(tmp_path / "store"))
    release = Path(shutil.copytree(cached_minilm_mirror(), tmp_path / "release"))
    publish_release(store, release, version="1.0.0")
    fetch_release(store, PROFILE_ID, "1.0.0", tmp_path / "models", variants="int8")
    folder = tmp_path / "models" / PROFILE_ID
    onnx = [rel for rel in _files(folder) if rel.startswith("onnx/")]
    assert onnx == ["onnx/model_quantized.onnx", "onnx/model_quantized.onnx_data"]
    vectors = tether.load(PROFILE_ID, path=tmp_path / "models", variant="int8").embed(["hi"])
    assert vectors.shape == (1, 384)
