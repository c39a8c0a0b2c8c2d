"""`kill -9` of `tether release` at random moments: the folder store never lists a half
release, a rerun succeeds or says "already has", and the next publish removes what the dead
publisher left (its `<name>/.staging-*` folder, up to the release's size).

Each kill point is a real `python -m tether release --from ... --store ...` process, killed
with SIGKILL after a random delay spread over its life (start-up, hashing, the staged copy,
the rename, the state record); some rounds race a second publisher against the killed one.
The seed is printed, and a failure names it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import MB, NAME, make_profile_release
from tether.cli import main
from tether.hashing import sha256_file
from tether.locking import file_lock
from tether.manifest import MANIFEST_FILE
from tether.names import LOCK_SUFFIX, STAGING_PREFIX, STATE_RECORD
from tether.spine import read_manifest
from tether.stores.file import FileStore
from tether.stores.staging import remove_dead_staging

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")

KILL_POINTS = 24
RACE_EVERY = 4  # every 4th kill point races a second, live publisher against the killed one


def release_cmd(source: Path, store: Path, version: str) -> list[str]:
    tether = [sys.executable, "-m", "tether"]
    return [*tether, "release", "--from", str(source), "--store", str(store), "--version", version]


def spawn(source: Path, store: Path, version: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    return subprocess.Popen(
        release_cmd(source, store, version),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def leftovers(store: Path) -> list[str]:
    folder = store / NAME
    return sorted(n for n in os.listdir(folder) if n.startswith(STAGING_PREFIX))


def listed(store: Path) -> list[str]:
    """The versions `tether list` shows."""
    result = CliRunner().invoke(main, ["list", "--store", str(store), "--name", NAME])
    assert result.exit_code == 0, result.output
    if result.output.startswith("no releases"):
        return []
    return [line.split()[-2].removeprefix("model-v") for line in result.output.splitlines()]


def verify_release(store: FileStore, version: str, *, hash_files: bool) -> None:
    """Exactly the MANIFEST's files, each of the size the source has (cheap), and with
    ``hash_files`` each of its sha256 (a complete release)."""
    manifest, _ = read_manifest(store, NAME, version)
    files = store.files(NAME, version)
    assert set(files) == set(manifest.files) | {MANIFEST_FILE}, version
    folder = store.root / NAME / f"model-v{version}"
    if hash_files:
        for rel, digest in manifest.files.items():
            assert sha256_file(folder / rel) == digest, (version, rel)


def timeline(source: Path, store: Path, version: str, cwd: Path) -> tuple[float, float]:
    """Seconds from start until a publish's staging folder appears, and until it exits."""
    started, staged = time.monotonic(), None
    process = spawn(source, store, version, cwd)
    while process.poll() is None:
        folder = store / NAME
        if (
            staged is None
            and folder.is_dir()
            and any(LOCK_SUFFIX not in n for n in leftovers(store))
        ):
            staged = time.monotonic() - started
        time.sleep(0.002)
    ended = time.monotonic() - started
    assert process.returncode == 0, process.communicate()
    return (ended / 2 if staged is None else staged), ended


def phase_after_kill(store: Path, version: str) -> str:
    folder = store / NAME
    if not folder.is_dir() or not (folder / f"model-v{version}").is_dir():
        return "staging" if folder.is_dir() and leftovers(store) else "before staging"
    record = folder / f"model-v{version}.record" / STATE_RECORD
    return "completed" if record.is_file() else "renamed, no state yet"


def test_kill_9_during_publish_never_lists_a_half_release(tmp_path: Path) -> None:
    seed = int(os.environ.get("TETHER_TEST_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"seed {seed} (rerun with TETHER_TEST_SEED={seed})")
    source = make_profile_release(tmp_path / "src", seed=5, sizes=(40 * MB, 8 * MB, 16 * MB))
    store_dir = tmp_path / "store"
    store = FileStore(store_dir)

    # When a publish here starts staging and when it ends (warm): the kills fall between a
    # little before the first and just after the second.
    timings = [timeline(source, store_dir, version, tmp_path) for version in ("0.1.0", "0.1.1")]
    staged, lifetime = min(t[0] for t in timings), min(t[1] for t in timings)
    verified = {"0.1.0", "0.1.1"}
    for version in verified:
        verify_release(store, version, hash_files=True)

    phases: Counter[str] = Counter()
    held = 0
    runner = CliRunner()
    for point in range(KILL_POINTS):
        version = f"1.0.{point}"
        delay = rng.uniform(0.9 * staged, lifetime)
        killed = spawn(source, store_dir, version, tmp_path)
        rival = None
        if point % RACE_EVERY == RACE_EVERY - 1:  # a live publisher of the same version
            time.sleep(rng.uniform(0.0, 0.5) * lifetime)
            rival = spawn(source, store_dir, version, tmp_path)
        time.sleep(delay)
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
        where = f"kill point {point} (seed {seed}, after {delay:.3f} s)"

        if rival is not None:
            out, err = rival.communicate(timeout=60)
            # one wins: the rival published, or the killed one had renamed its copy first
            assert rival.returncode == 0 or b"already has" in err, (where, out, err)
        phase = phase_after_kill(store_dir, version)
        phases[phase] += 1

        # `tether list` shows only complete releases.
        shown = listed(store_dir)
        for shown_version in shown:
            verify_release(store, shown_version, hash_files=shown_version not in verified)
            verified.add(shown_version)

        # A rerun succeeds, or says "already has" for a release that did complete.
        rerun = runner.invoke(
            main, release_cmd(source, store_dir, version)[3:], catch_exceptions=False
        )
        if version in shown:
            assert rerun.exit_code == 2 and "already has" in rerun.output, (where, rerun.output)
            assert f"tether sign {version} --signing-key" in rerun.output  # it is unsigned
        else:
            assert rerun.exit_code == 0, (where, rerun.output)
            # ... and that publish removed every leftover of the dead publisher.
            assert leftovers(store_dir) == [], where
        verify_release(store, version, hash_files=version not in verified)
        verified.add(version)
        held += 1

    # The next publish leaves nothing behind, and every release still verifies in full.
    final = runner.invoke(main, release_cmd(source, store_dir, "2.0.0")[3:])
    assert final.exit_code == 0, final.output
    assert leftovers(store_dir) == []
    for version in listed(store_dir):
        verify_release(store, version, hash_files=True)
    print(
        f"kill points: {KILL_POINTS} tried, {held} held; staging from {staged:.2f} s, "
        f"done at {lifetime:.2f} s; {dict(phases)}"
    )
    assert held == KILL_POINTS
    assert phases["staging"] > 0  # the random delays did reach the staged copy


def test_two_live_publishers_race_and_one_wins(tmp_path: Path) -> None:
    source = make_profile_release(tmp_path / "src", seed=6, sizes=(8 * MB, 0, 4 * MB))
    store_dir = tmp_path / "store"
    for attempt in range(3):
        version = f"1.0.{attempt}"
        racers = [spawn(source, store_dir, version, tmp_path) for _ in range(2)]
        results = [(p.wait(timeout=60), p.communicate()[1]) for p in racers]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        assert any(b"already has" in err for _, err in results)
        assert leftovers(store_dir) == []
        verify_release(FileStore(store_dir), version, hash_files=True)


def test_only_dead_publishers_leftovers_are_removed(tmp_path: Path) -> None:
    """A live publisher's staging (its lock held) stays; a dead one's goes, as do a lock file
    without its folder, a folder from before locks and a half-removed folder."""
    parent = tmp_path / NAME
    live = parent / f"{STAGING_PREFIX}{os.getpid()}-live"
    dead = parent / f"{STAGING_PREFIX}999999999-dead"
    legacy = parent / f"{STAGING_PREFIX}0123abcd"
    orphan_lock = parent / f"{STAGING_PREFIX}999999998-gone{LOCK_SUFFIX}"
    removing = parent / f"{STAGING_PREFIX}999999997-x.1234.removing"
    for folder in (live, dead, legacy, removing):
        (folder / "onnx").mkdir(parents=True)
        (folder / "onnx" / "model.onnx").write_bytes(b"\0" * 1000)
    for folder in (live, dead):
        folder.with_name(folder.name + LOCK_SUFFIX).touch()
    orphan_lock.touch()

    with file_lock(live.with_name(live.name + LOCK_SUFFIX)):  # the live publisher's lock
        removed = remove_dead_staging(parent)
        assert live.is_dir() and (live / "onnx" / "model.onnx").is_file()
    assert sorted(removed) == sorted(
        [dead.name, legacy.name, orphan_lock.name.removesuffix(LOCK_SUFFIX), removing.name]
    )
    assert sorted(os.listdir(parent)) == [live.name, live.name + LOCK_SUFFIX]
    assert remove_dead_staging(parent) == [live.name]  # its publisher has gone too
    assert os.listdir(parent) == []
