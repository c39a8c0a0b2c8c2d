"""Parallel ranged downloads (tether.spine.transfer) against the real registry and SeaweedFS.

Parts are made small here (1 MiB, ranges from 2 MiB on) so that releases of a few MiB take
the ranged path; the bytes are unique per MiB, so a part written at the wrong offset would
change the digest.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from click.testing import CliRunner

import tether.spine.fetch as fetch_module
from tests.servers import CuttingProxy, Server
from tests.store_harness import StoreHarness
from tether.cli import main
from tether.errors import ConfigError, IntegrityError, StoreUnavailableError, StoreURLError
from tether.names import FETCH_STATE_DIR, RANGES_SUFFIX, STREAMS_ENV
from tether.spine import fetch_release, publish_release, transfer, verify_profile, write_pin
from tether.stores import open_store

MIB = 1 << 20
BIG = 6 * MIB + 12345  # 7 parts of 1 MiB, the last one short


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "MIN_PART", MIB)
    monkeypatch.setattr(transfer, "RECORD_EVERY", MIB)
    monkeypatch.setattr(transfer, "PARALLEL_MIN", 2 * MIB)
    monkeypatch.delenv(STREAMS_ENV, raising=False)


def _unique(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def _release(folder: Path, seed: int = 1) -> Path:
    _unique(folder / "model.gguf", BIG, seed)
    _unique(folder / "shard-2.bin", 3 * MIB + 7, seed + 1)
    _unique(folder / "config.json", 300, seed + 2)  # small: one part
    return folder


class _Watching:
    """Wraps a store: records each open_file's (path, start, end) and the most streams open
    at once."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.opened, self.open_now, self.most = inner, [], 0, 0
        self.closed: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def open_file(
        self, name: str, version: str, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        stream = self._inner.open_file(name, version, path, start, end)
        with self._lock:
            self.opened.append((path, start, end))
            self.open_now += 1
            self.most = max(self.most, self.open_now)
        watcher, close = self, stream.close

        def closing() -> None:
            close()
            with watcher._lock:
                watcher.open_now -= 1
                watcher.closed.append((path, start))

        stream.close = closing  # type: ignore[method-assign]
        return stream


@pytest.mark.parametrize("kind", ["oci", "s3"])
def test_parallel_fetch_is_exact_and_bounded(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    harness: StoreHarness = request.getfixturevalue(f"harness_{kind}")
    source = _release(tmp_path / "src")
    publish_release(harness.store, source, name="demo", version="1.0.0")
    watching = _Watching(harness.store)
    result = fetch_release(watching, "demo", "1.0.0", tmp_path / "models", streams=3)  # type: ignore[arg-type]
    for rel in ("model.gguf", "shard-2.bin", "config.json"):
        assert (result.folder / rel).read_bytes() == (source / rel).read_bytes()
    assert verify_profile(result.folder).release == "model-v1.0.0"
    ranges = [(s, e) for p, s, e in watching.opened if p == "model.gguf"]
    assert len(ranges) >= 4 and all(e is not None for _, e in ranges)  # in parts, ranged
    covered = sorted(ranges)
    assert covered[0][0] == 0 and covered[-1][1] == BIG
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # no gaps
    assert 1 < watching.most <= 3  # several streams at once, never more than asked
    assert not list((tmp_path / "models").rglob(f"*{RANGES_SUFFIX}"))


def test_one_stream_for_small_files_local_stores_and_this_host(
    harness_oci: StoreHarness, harness_s3: StoreHarness, harness_file: StoreHarness, tmp_path: Path
) -> None:
    oci, folder_store = harness_oci.store, harness_file.store
    assert transfer.streams_for(oci, 64 * MIB, forced=False) == 1  # the registry is loopback
    assert transfer.streams_for(harness_s3.store, 64 * MIB, forced=False) == 1  # its endpoint
    assert transfer.streams_for(oci, 64 * MIB, 5, forced=True) == 5
    assert transfer.streams_for(oci, MIB, 5, forced=True) == 1  # too little to split
    assert transfer.streams_for(folder_store, 64 * MIB, 5, forced=True) == 1  # local copies
    assert transfer.local_host("http://localhost:5000/x") and transfer.local_host("http://[::1]/")
    assert not transfer.local_host("oci://registry.example.com/x")
    assert not transfer.local_host("s3://models/x")  # no endpoint: AWS
    assert transfer.local_host("s3://models/x?endpoint=http://127.0.0.1:8333")

    source = _release(tmp_path / "src")
    publish_release(oci, source, name="demo", version="1.0.0")
    watching = _Watching(oci)
    fetch_release(watching, "demo", "1.0.0", tmp_path / "models")  # type: ignore[arg-type]
    payload = [o for o in watching.opened if o[0] != "profile.json"]
    assert all(end is None and start == 0 for _, start, end in payload)  # today's path


def test_streams_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert transfer.streams_setting() == 8
    monkeypatch.setenv(STREAMS_ENV, "3")
    assert transfer.streams_setting() == 3 and transfer.streams_forced(None)
    for bad in ("0", "many", "1000"):
        monkeypatch.setenv(STREAMS_ENV, bad)
        with pytest.raises(ConfigError, match=STREAMS_ENV):
            transfer.streams_setting()


@pytest.mark.parametrize("kind", ["oci", "s3"])
@pytest.mark.parametrize("where", [0, BIG // 2, BIG - 1])  # first, a middle, the last part
def test_a_flipped_byte_in_any_range_is_refused(
    kind: str, where: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    harness: StoreHarness = request.getfixturevalue(f"harness_{kind}")
    for version, seed in (("1.0.0", 1), ("1.1.0", 5)):
        source = _release(tmp_path / f"src-{version}", seed)
        publish_release(harness.store, source, name="demo", version=version)
    dest = tmp_path / "models"
    before = fetch_release(harness.store, "demo", "1.0.0", dest, streams=4)
    good = (before.folder / "model.gguf").read_bytes()
    data = bytearray((tmp_path / "src-1.1.0" / "model.gguf").read_bytes())
    data[where] ^= 0x01
    harness.tamper("demo", "1.1.0", "model.gguf", bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.gguf"):
        fetch_release(open_store(harness.url), "demo", "1.1.0", dest, streams=4)
    assert verify_profile(before.folder).release == "model-v1.0.0"  # nothing activated
    assert (before.folder / "model.gguf").read_bytes() == good
    assert [p.name for p in (dest / FETCH_STATE_DIR).iterdir()] == ["demo.lock"]


def test_a_dropped_connection_mid_range_resumes_that_range(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    source = _release(tmp_path / "src")
    publish_release(harness_oci.store, source, name="demo", version="1.0.0")
    proxy = CuttingProxy(registry_server.url, cut_after=MIB + MIB // 2)
    try:
        via = open_store(harness_oci.url.replace(registry_server.url, proxy.address))
        result = fetch_release(via, "demo", "1.0.0", tmp_path / "models", streams=3)
    finally:
        proxy.stop()
    assert proxy.cuts == 1
    for rel in ("model.gguf", "shard-2.bin", "config.json"):
        assert (result.folder / rel).read_bytes() == (source / rel).read_bytes()
    spans = [
        head.lower().split("range: bytes=")[1].split("\r")[0].split("\n")[0]
        for head in proxy.request_heads
        if "range: bytes=" in head.lower()
    ]
    starts = [int(span.split("-")[0]) for span in spans]
    assert any(start % MIB for start in starts)  # one range asked again from where it broke


def test_an_interrupted_parallel_download_resumes_from_its_verified_prefix(
    harness_oci: StoreHarness, registry_server: Server, tmp_path: Path
) -> None:
    """A fetch whose streams all fail keeps the ranged file and the prefix it verified; the
    next fetch resumes from that prefix, not from what lies beyond (holes, unverified)."""
    source = _release(tmp_path / "src")
    publish_release(harness_oci.store, source, name="demo", version="1.0.0")
    dest = tmp_path / "models"

    parts = transfer._cut(transfer.Job("model.gguf", BIG, "", dest), 3)
    cut = parts[len(parts) // 2].start  # the link goes once the parts below are in

    class Failing(_Watching):
        def open_file(self, name: str, version: str, path: str, start: int = 0,
                      end: int | None = None) -> BinaryIO:  # fmt: skip
            if path == "model.gguf" and start >= cut:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(self.below()) < len(parts) // 2:
                    time.sleep(0.01)
                raise StoreUnavailableError("the link is gone")
            return super().open_file(name, version, path, start, end)

        def below(self) -> list[tuple[str, int]]:
            return [c for c in self.closed if c[0] == "model.gguf" and c[1] < cut]

    with pytest.raises(StoreUnavailableError):
        fetch_release(Failing(harness_oci.store), "demo", "1.0.0", dest, streams=3)  # type: ignore[arg-type]
    [left] = (dest / FETCH_STATE_DIR).glob(f"demo.*/model.gguf{RANGES_SUFFIX}")
    prefix = int(left.read_text())
    assert prefix == cut  # the parts below the failing ones, verified in order

    watching = _Watching(harness_oci.store)
    result = fetch_release(watching, "demo", "1.0.0", dest, streams=3)  # type: ignore[arg-type]
    assert result.resumed == ["model.gguf"]
    starts = sorted(s for p, s, _ in watching.opened if p == "model.gguf")
    assert starts[0] == prefix  # nothing below the recorded prefix asked again
    assert (result.folder / "model.gguf").read_bytes() == (source / "model.gguf").read_bytes()
    assert [p.name for p in (dest / FETCH_STATE_DIR).iterdir()] == ["demo.lock"]


def test_a_wrong_recorded_prefix_is_downloaded_again(
    harness_oci: StoreHarness, tmp_path: Path
) -> None:
    """A dead fetch's ranged file whose recorded prefix is not the file's start: caught by
    the digest, downloaded again from byte 0."""
    source = _release(tmp_path / "src")
    publish_release(harness_oci.store, source, name="demo", version="1.0.0")
    dest = tmp_path / "models"
    dead = dest / FETCH_STATE_DIR / "demo.999999.tether-part"
    dead.mkdir(parents=True)
    (dead / "model.gguf").write_bytes(b"\x00" * (4 * MIB))
    (dead / f"model.gguf{RANGES_SUFFIX}").write_text(f"{2 * MIB}\n")
    watching = _Watching(harness_oci.store)
    result = fetch_release(watching, "demo", "1.0.0", dest, streams=3)  # type: ignore[arg-type]
    assert result.resumed == []
    assert ("model.gguf", 0) in [(p, s) for p, s, _ in watching.opened]
    assert (result.folder / "model.gguf").read_bytes() == (source / "model.gguf").read_bytes()


def test_fetch_json_prints_the_result_and_progress_lines(
    harness_oci: StoreHarness, tmp_path: Path
) -> None:
    source = _release(tmp_path / "src")
    publish_release(harness_oci.store, source, name="demo", version="1.0.0")
    project = tmp_path / "project"
    project.mkdir()
    write_pin(project, "1.0.0")
    args = ["fetch", "--store", harness_oci.url, "--name", "demo", "--project", str(project)]
    result = CliRunner().invoke(main, [*args, "--streams", "3", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["release"] == "model-v1.0.0" and printed["changed"] is True
    assert {"config.json", "model.gguf", "shard-2.bin"} <= set(printed["downloaded"])
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[-1]["event"] == "done"
    assert lines[-1]["bytes"] == lines[-1]["total"] >= BIG
    bad = CliRunner().invoke(main, [*args, "--streams", "0"])
    assert bad.exit_code != 0 and "--streams" in bad.output


def test_progress_on_a_terminal_shows_bytes_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    from tether.cli.options import ByteProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, live in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        bar = ByteProgress("fetching demo model-v1.0.0")
        for done in range(0, 101 * MIB, 25 * MIB):
            bar("", done, 100 * MIB)
        bar.close()
        shown = stream.getvalue()
        if live:  # redrawn in place, the last line ends it
            assert "\r" in shown and "ETA" in shown and "MB/s" in shown
            assert shown.endswith("\n") and "100.0 MiB / 100.0 MiB" in shown
        else:
            assert shown == ""  # quiet in a pipe or a log


def test_s3_store_starts_light(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening an S3 store loads botocore only: not boto3 and s3transfer, and not pyOpenSSL
    through urllib3's shim (tether.stores._botocore), which stays importable after."""
    code = (
        "import sys\n"
        "from tether.stores import open_store\n"
        "store = open_store('s3://models/x?endpoint=http://127.0.0.1:9&region=eu-west-3')\n"
        "print(store.client.meta.region_name)\n"
        "print(sorted({'OpenSSL', 'boto3', 's3transfer'} & set(sys.modules)))\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('OpenSSL') is not None:\n"
        "    import urllib3.contrib.pyopenssl\n"
        "    print(urllib3.contrib.pyopenssl.orig_util_SSLContext.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[:2] == ["eu-west-3", "[]"]
    assert lines[2:] in ([], ["SSLContext"])  # pyOpenSSL not installed: nothing to import
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert open_store("s3://models/x").client.meta.region_name == "us-east-2"  # from the config
    for url in ("s3://models/x?profile=nope", "s3://models/x?profile=nope&region=eu-west-1"):
        with pytest.raises(StoreURLError, match="profile 'nope'"):
            open_store(url)


def test_download_takes_streams(
    harness_oci: StoreHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tether download --streams N` reaches the engine as fetch's does (forced: the registry
    is on this host, where the default is one stream), and a bad N is one clear error."""
    source = _release(tmp_path / "src")
    publish_release(harness_oci.store, source, name="demo", version="1.0.0")
    asked: list[int] = []
    engine = fetch_module.download_parallel

    def spying(*args: Any, streams: int, **kwargs: Any) -> list[str]:
        asked.append(streams)
        return engine(*args, streams=streams, **kwargs)

    monkeypatch.setattr(fetch_module, "download_parallel", spying)
    args = ["download", "1.0.0", "--store", harness_oci.url, "--name", "demo"]
    args += ["--project", str(tmp_path)]
    done = CliRunner().invoke(main, [*args, "--into", str(tmp_path / "got"), "--streams", "3"])
    assert done.exit_code == 0, done.output
    assert asked == [3]
    assert (tmp_path / "got" / "model.gguf").read_bytes() == (source / "model.gguf").read_bytes()
    bad = CliRunner().invoke(main, [*args, "--into", str(tmp_path / "bad"), "--streams", "0"])
    assert bad.exit_code != 0 and "--streams" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()
