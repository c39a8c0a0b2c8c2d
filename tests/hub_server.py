"""A real Hugging Face Hub (read side) on 127.0.0.1: olah serving git repos with git-lfs.

olah (PyPI ``olah`` 0.5.4) in offline mode serves local git repositories from its
``mirrors-path`` (``<root>/models/<org>/<name>``: non-bare, LFS objects under
``.git/lfs/objects``) with the Hub's HTTP API, so the official ``huggingface_hub`` client
downloads from it by commit and by tag (FINDINGS.md). olah's dependencies (fastapi,
pydantic, ...) stay out of the test venv: it runs from its own venv, ``.venv-olah`` at the
checkout's root, created on first use when missing (``OLAH_INSTALL`` is the command).

Also here: :func:`commit_folder` (a folder's files as the next commit of such a repo, the
ONNX files and sidecars in LFS, as the Hub stores them) and :func:`make_minilm_onnx_repo`
(the offline MiniLM as a prebuilt ONNX repo: fp32 and int8 with external-data sidecars).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.servers import Server, ServerMissingError, _http_status, _wait, free_port

ROOT = Path(__file__).resolve().parents[1]
OLAH_VERSION = "0.5.4"
OLAH_VENV = ROOT / ".venv-olah"
OLAH_INSTALL = (
    f"python3 -m venv {OLAH_VENV.name} && {OLAH_VENV.name}/bin/python -m pip install "
    f"olah=={OLAH_VERSION}"
)
GIT_LFS_INSTALL = "apt-get install -y git-lfs"
# What the Hub keeps in LFS: model files and their external-data sidecars.
LFS_PATTERNS = ("*.onnx", "*.onnx_data*", "*.safetensors")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "tether tests",
    "GIT_AUTHOR_EMAIL": "tests@tether.invalid",
    "GIT_COMMITTER_NAME": "tether tests",
    "GIT_COMMITTER_EMAIL": "tests@tether.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",  # no user config: the repo's own settings only
}


def olah_python() -> Path:
    """olah's venv interpreter, creating the venv the first time (needs PyPI once)."""
    python = OLAH_VENV / "bin" / "python"
    if not (python.is_file() and _has_olah(python)):
        done = subprocess.run(
            ["bash", "-c", OLAH_INSTALL], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not _has_olah(python):
            raise ServerMissingError(
                f"olah is not installed and installing it failed; run: {OLAH_INSTALL}\n"
                + done.stderr[-2000:]
            )
    return python


def _has_olah(python: Path) -> bool:
    return (
        subprocess.run([str(python), "-c", "import olah.server"], capture_output=True).returncode
        == 0
    )


def start_olah(root: Path, *, timeout: float = 60.0) -> Server:
    """olah on a free 127.0.0.1 port, offline, serving the git repos below ``root/mirrors``.

    ``server.url`` is the endpoint for ``HF_ENDPOINT``; ``server.extra["mirrors"]`` the
    folder to create repos in (``models/<org>/<name>``).
    """
    python = olah_python()
    mirrors = root / "mirrors"
    (mirrors / "models").mkdir(parents=True, exist_ok=True)
    port = free_port()
    dead = free_port()  # upstream "huggingface.co": nothing listens, nothing leaves the host
    config = root / "olah.toml"
    config.write_text(
        "[basic]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        f'repos-path = "{root / "repos"}"\n'
        'mirror-scheme = "http"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\n'
        f'mirror-lfs-netloc = "127.0.0.1:{port}"\n'
        'hf-scheme = "http"\n'
        f'hf-netloc = "127.0.0.1:{dead}"\n'
        f'hf-lfs-netloc = "127.0.0.1:{dead}"\n'
        f'mirrors-path = ["{mirrors}"]\n'
        "\n[accessibility]\n"
        "offline = true\n",
        encoding="utf-8",
    )
    log_path = root / "olah.log"
    process = subprocess.Popen(
        [str(python), "-m", "olah.server", "--config", str(config)],
        cwd=root,
        stdout=open(log_path, "wb"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = Server("olah", process, f"http://127.0.0.1:{port}", log_path)
    server.extra["mirrors"] = mirrors
    _wait(
        server, lambda: _http_status(f"{server.url}/api/models/none/none/revision/x") > 0, timeout
    )
    return server


# --- git repos with LFS, as the Hub stores them ----------------------------------------------


def _git(repo: Path, *args: str) -> str:
    import os

    if shutil.which("git-lfs") is None:
        raise ServerMissingError(f"git-lfs is not installed; {GIT_LFS_INSTALL}")
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_ENV},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def hub_repo_dir(server: Server, repo_id: str) -> Path:
    mirrors = server.extra["mirrors"]
    assert isinstance(mirrors, Path)
    return mirrors / "models" / repo_id


def commit_folder(repo: Path, folder: Path, message: str, *, tag: str | None = None) -> str:
    """Make ``repo``'s tree exactly ``folder``'s files, commit it (LFS for model files), and
    return the 40-hex commit. Files no longer in ``folder`` are removed in the commit."""
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "lfs", "install", "--local")
        (repo / ".gitattributes").write_text(
            "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)
        )
    for child in repo.iterdir():
        if child.name not in (".git", ".gitattributes"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(folder, repo, dirs_exist_ok=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    if tag:
        _git(repo, "tag", "-a", tag, "-m", tag)
    return _git(repo, "rev-parse", "HEAD")


# --- the offline MiniLM as a prebuilt ONNX repo ----------------------------------------------

# Upstream files a sentence-transformers ONNX repo carries beside its onnx/ folder.
MINILM_UPSTREAM_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "README.md",
)


def make_minilm_onnx_repo(dest: Path, fp32_model: Path, *, per_channel: bool = True) -> Path:
    """The offline MiniLM laid out as a Hub ONNX repo, in ``dest``.

    ``onnx/model.onnx`` + ``onnx/model.onnx_data``: ``fp32_model`` (an fp32 export of the
    offline MiniLM) saved with its weights as external data; ``onnx/model_quantized.onnx`` +
    ``_data``: onnxruntime's quantize_dynamic of it (QInt8, per channel unless
    ``per_channel=False``, which is the lossy per-tensor default), also external data. The
    rest are the checkpoint's own files (its tokenizer pads to a fixed 128, as upstream's).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from tests.real_models import minilm_source_dir

    source = minilm_source_dir()
    (dest / "onnx").mkdir(parents=True, exist_ok=True)
    for rel in MINILM_UPSTREAM_FILES:
        if (source / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, dest / rel)
    model = onnx.load(str(fp32_model))
    onnx.save_model(
        model,
        str(dest / "onnx" / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=1024,
    )
    plain = dest / "onnx" / ".quantized.onnx"
    quantize_dynamic(
        str(fp32_model), str(plain), weight_type=QuantType.QInt8, per_channel=per_channel
    )
    onnx.save_model(
        onnx.load(str(plain)),
        str(dest / "onnx" / "model_quantized.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model_quantized.onnx_data",
        size_threshold=1024,
    )
    plain.unlink()
    return dest


_lock = threading.Lock()
_cache: dict[str, Path] = {}


def cached_minilm_onnx_repo(*, per_channel: bool = True) -> Path:
    """:func:`make_minilm_onnx_repo` of the session's MiniLM build, made once per session
    (per-tensor: only the int8 files differ). Shared: never modify it."""
    from tests.real_models import cached_minilm_build

    key = "repo" if per_channel else "lossy-repo"
    with _lock:
        if key not in _cache:
            root = Path(tempfile.mkdtemp(prefix=f"tether-{key}-"))
            atexit.register(shutil.rmtree, root, True)
            fp32 = cached_minilm_build() / "onnx" / "model.onnx"
            _cache[key] = make_minilm_onnx_repo(root / "repo", fp32, per_channel=per_channel)
        return _cache[key]


MIRROR_REPO_ID = "tether-tests/minilm-onnx"
MIRROR_PROFILE_ID = "minilm-mirror-v1"


def mirror_recipe(folder: Path, **sections: dict[str, object]):  # -> tether.recipe.Recipe
    """A recipe mirroring the prebuilt ONNX repo in ``folder`` (a path source)."""
    from tether.recipe import recipe_from_table

    source = {"type": "path", "path": str(folder), "model": MIRROR_REPO_ID, "prebuilt": "onnx"}
    table = {"profile": {"id": MIRROR_PROFILE_ID}, "source": source, **sections}
    return recipe_from_table(table, base_dir=folder.parent, where="tether.toml")


def cached_minilm_mirror() -> Path:
    """The MiniLM ONNX repo mirrored by tether (an unreleased release folder), once per
    session. Shared: never modify it."""
    from tether.recipe import build

    repo = cached_minilm_onnx_repo()
    with _lock:
        if "mirror" not in _cache:
            root = Path(tempfile.mkdtemp(prefix="tether-mirror-"))
            atexit.register(shutil.rmtree, root, True)
            _cache["mirror"] = build(mirror_recipe(repo), root / "mirror").out_dir
        return _cache["mirror"]


def main() -> None:  # pragma: no cover - manual use: python -m tests.hub_server ROOT
    root = Path(sys.argv[1])
    server = start_olah(root)
    print(server.url, flush=True)
    try:
        server.process.wait()
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
