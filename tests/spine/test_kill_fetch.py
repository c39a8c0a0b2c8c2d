"""`kill -9` at any moment of `tether fetch`: the active profile stays whole, and it heals.

`python -m tether fetch` runs as a child against the folder store and the OCI registry
(there also with parallel ranged downloads: several streams, small parts), switching a
project between two releases whose layouts differ (``sub/`` a folder in one, a file in the
other). Each run is killed with SIGKILL at a random moment: most by the
test-only hook TETHER_TEST_KILL_AT=N (tether.spine.fetch: the child kills itself at its
N-th step, a chunk written, a file placed, a step of the swap), some by a timer from
outside. After each kill: the folder holds the previous profile or the new one, complete
(`verify_profile` passes), or, when there was none, no .prepared.json; `tether verify` is
clean; and a rerun succeeds, yields exactly the new release, resumes partial downloads
from where the dead run stopped, and leaves nothing behind in ``.tether/``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import MB, write_random
from tests.store_harness import StoreHarness
from tether.cli import main
from tether.errors import ProfileNotFoundError
from tether.names import (
    FETCH_STATE_DIR,
    RANGES_SUFFIX,
    STREAMS_ENV,
    TEST_KILL_ENV,
    TEST_PART_ENV,
)
from tether.spine import fetch_release, publish_release, transfer, verify_profile, write_pin

NAME = "demo"
VERSIONS = ("1.0.0", "1.1.0")
KILLS_PER_STORE = 30  # kills that really happened (a kill point past the end is no kill)
TIMER_SHARE = 0.2  # the rest are kills by the hook


def _release(folder: Path, seed: int, sub_is_file: bool) -> Path:
    write_random(folder / "model.bin", 5 * MB + 4321, seed=seed)  # changes between releases
    write_random(folder / "shared.bin", 1 * MB, seed=9)  # stays: reused by hard link
    if sub_is_file:
        (folder / "sub").write_bytes(b"sub is a file\n")
        write_random(folder / "extra.bin", 2 * MB + 17, seed=seed + 50)
    else:
        (folder / "sub").mkdir()
        (folder / "sub" / "a.txt").write_text("a\n")
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Tally:
    tried: int = 0  # kill points tried
    killed: int = 0  # runs that died by SIGKILL
    held: int = 0  # runs after which every check passed
    resumed: int = 0  # reruns that continued a partial download
    ranged: int = 0  # kills that left a file being downloaded in ranges (its sidecar)
    states: dict[str, int] = field(default_factory=dict)  # a kill left: old, new or none


def _run_killed(url: str, project: Path, kill_at: int | None, delay: float) -> int:
    """One `tether fetch` child, killed by the hook at step ``kill_at`` or after ``delay`` s."""
    env = {k: v for k, v in os.environ.items() if k != TEST_KILL_ENV}
    if kill_at is not None:
        env[TEST_KILL_ENV] = str(kill_at)
    args = ["fetch", "--store", url, "--name", NAME, "--profiles-dir", "models"]
    child = subprocess.Popen(
        [sys.executable, "-m", "tether", *args],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_at is None:
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=120)
    assert child.returncode in (0, -signal.SIGKILL), err.decode()
    return child.returncode


def _kill_loop(harness: StoreHarness, tmp_path: Path, seed: int, kills: int) -> Tally:
    store = harness.store
    for version, sub_is_file in zip(VERSIONS, (False, True), strict=True):
        source = _release(
            tmp_path / f"src-{version}", seed=int(version[2]) + 1, sub_is_file=sub_is_file
        )
        publish_release(store, source, name=NAME, version=version)
    expected = {
        v: _digests(fetch_release(store, NAME, v, tmp_path / f"ref-{v}").folder) for v in VERSIONS
    }
    project = tmp_path / "project"
    folder = project / "models" / NAME
    state = project / "models" / FETCH_STATE_DIR
    rng = random.Random(seed)
    runner = CliRunner()
    tally = Tally()
    steps = 5 + 2 + 3 + 12  # chunks of the biggest download, + files placed, + the swap, + slack
    full_run = 1.5  # seconds: start-up and a whole fetch, roughly, on a slow machine
    current: str | None = None
    while tally.killed < kills:
        assert tally.tried < 3 * kills, f"too few kills landed: {tally}"
        tally.tried += 1
        if tally.tried % 10 == 1:  # now and then from nothing: a first fetch killed
            shutil.rmtree(folder, ignore_errors=True)
            current = None
        new = VERSIONS[1] if current == VERSIONS[0] else VERSIONS[0]
        write_pin(project, new)
        by_timer = rng.random() < TIMER_SHARE
        code = _run_killed(
            harness.url,
            project,
            None if by_timer else rng.randint(1, steps),
            rng.uniform(0.0, full_run),
        )
        tally.killed += code == -signal.SIGKILL
        tally.ranged += any(state.glob(f"*/*{RANGES_SUFFIX}"))

        # the active profile: the previous one or the new one, whole; none only if none was
        try:
            active = verify_profile(folder).release.removeprefix("model-v")
        except ProfileNotFoundError:
            assert current is None, f"killed at try {tally.tried}: {current} is gone"
            active = "none"  # no .prepared.json: the runtime refuses it, the rerun repairs it
        else:
            assert active in (current, new), (active, current, new)
            assert _digests(folder) == expected[active]
            verify = runner.invoke(main, ["verify", str(folder)])
            assert verify.exit_code == 0, verify.output
        left = "none" if active == "none" else "old" if active == current else "new"
        tally.states[left] = tally.states.get(left, 0) + 1

        # a rerun heals: exactly the new release, dead runs' leftovers reused and removed
        args = ["--store", harness.url, "--name", NAME, "--profiles-dir", "models"]
        rerun = runner.invoke(main, ["fetch", *args, "--project", str(project)])
        assert rerun.exit_code == 0, rerun.output
        tally.resumed += "resumed)" in rerun.stdout
        assert verify_profile(folder).release == f"model-v{new}"
        assert _digests(folder) == expected[new]
        assert os.listdir(state) == [f"{NAME}.lock"], os.listdir(state)
        current = new
        tally.held += 1
    return tally


@pytest.mark.parametrize("kind", ["file", "oci", "oci-parallel"])
def test_kill_9_at_random_moments(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = request.getfixturevalue(f"harness_{kind.split('-')[0]}")
    kills = KILLS_PER_STORE
    if kind.endswith("-parallel"):  # 4 streams, 1 MiB parts: every file of 2 MiB in ranges
        for env, value in ((STREAMS_ENV, "4"), (TEST_PART_ENV, str(1 << 20))):
            monkeypatch.setenv(env, value)  # the children's, and the in-process reruns'
        for attr, value in (("MIN_PART", 1 << 20), ("RECORD_EVERY", 1 << 20)):
            monkeypatch.setattr(transfer, attr, value)
        monkeypatch.setattr(transfer, "PARALLEL_MIN", 2 << 20)
        kills = 2 * KILLS_PER_STORE // 3
    seed = int(os.environ.get("TETHER_KILL_SEED", time.time_ns() % 1_000_000))
    started = time.monotonic()
    tally = _kill_loop(harness, tmp_path, seed, kills)
    print(f"\n{kind}: seed {seed}: {tally} in {time.monotonic() - started:.0f} s")
    assert tally.held == tally.tried
    assert tally.resumed > 0  # some reruns continued a dead run's partial download
    assert (tally.ranged > 0) == kind.endswith("-parallel")  # the ranged path was killed too
    assert tally.states.get("old") and tally.states.get("new")  # before and after the swap
