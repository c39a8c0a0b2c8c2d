"""An app embedding with tether leaves no onnxruntime device id on the user's disk, unless
TETHER_ORT_TELEMETRY=1 asks for onnxruntime's default (which writes it: the control case)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.helpers import PROFILE_ID
from tether.names import ORT_TELEMETRY_ENV

SCRIPT = "import tether; tether.load({profile!r}, path={folder!r}).embed_one('hello')"


def embed_in_fresh_process(folder: Path, home: Path, extra: dict[str, str]) -> list[Path]:
    # No CI variable: onnxruntime suppresses its telemetry under CI by itself.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "NO_PROXY": "*", **extra}
    code = SCRIPT.format(profile=PROFILE_ID, folder=str(folder))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return sorted(p for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize(("extra", "writes"), [({}, False), ({ORT_TELEMETRY_ENV: "1"}, True)])
def test_onnxruntime_telemetry_is_off_unless_asked(
    tiny_folder: Path, tmp_path: Path, extra: dict[str, str], writes: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    written = embed_in_fresh_process(tiny_folder, home, extra)
    device_ids = [p for p in written if "Microsoft" in p.parts]
    assert bool(device_ids) is writes, written
