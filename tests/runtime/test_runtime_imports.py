"""The runtime path imports onnxruntime, tokenizers, numpy and the stdlib only: never torch,
transformers or onnx (checked in a fresh process, on the tiny model and on real MiniLM)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.helpers import PROFILE_ID

SCRIPT = """
import json, sys
import tether
light = sorted(m for m in ("numpy", "onnxruntime", "tokenizers") if m in sys.modules)
embedder = tether.load({profile!r}, path={folder!r})
vector = embedder.embed_one("offline, no network, no torch")
print(json.dumps({{
    "light_import": light,
    "heavy": sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules),
    "dim": len(vector),
    "variant": embedder.variant,
}}))
"""


def run_fresh(folder: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "NO_PROXY": "*"}
    code = SCRIPT.format(profile=PROFILE_ID, folder=str(folder))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("which", ["tiny", "minilm"])
def test_load_and_embed_import_nothing_heavy(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue("tiny_folder" if which == "tiny" else "minilm_folder")
    report = run_fresh(folder)
    assert report["light_import"] == []  # `import tether` alone loads no numpy/onnxruntime
    assert report["heavy"] == []
    assert report["dim"] == (32 if which == "tiny" else 384)
