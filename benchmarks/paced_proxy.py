"""A TCP proxy that paces each client connection's download to a rate, with no burst.

The second link model of benchmarks/pull_speed.py (`--link paced`, issue 18). nginx's
stream `proxy_download_rate` lets every new connection receive its first second's worth
at full speed (its allowance is rate x (whole seconds open + 1)), so a client that
opens more connections gets more for free. A real per-connection cap (a congested path,
a server's per-connection throttle, a TCP window) gives no such second. Here every
client connection has a token bucket of --bucket bytes that starts empty when it is
accepted and fills at --rate: what it has received is never more than one bucket ahead
of rate x time since it opened, at any moment, the first second included. The upload
direction (the client's requests) is not paced.

One asyncio process, one listener per route, all on 127.0.0.1. It prints "ready" once
every listener is bound, and appends one line per client connection to --log when the
connection closes, in the format of pull_speed.py's nginx log:
`<listen port> <bytes sent to the client> <seconds open>`.

    python benchmarks/paced_proxy.py --rate 20m [--bucket 128k] --log FILE \\
        --route LISTEN_PORT=HOST:PORT [--route ...]

`--rate 0` forwards unpaced (the check that the proxy itself is not the bottleneck).
The pacing is pinned by tests/test_paced_link.py.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import time
from typing import IO

#: Bytes per read from a socket, into one buffer per direction that is reused: recv_into
#: and sendall on raw sockets copy each byte once in and once out (asyncio's streams copy
#: it twice more), so that unpaced it passes > 300 MiB/s with 8 connections.
READ = 256 << 10
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """nginx's size syntax: 20m = 20 MiB, 128k = 128 KiB, 1g = 1 GiB."""
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in UNITS else ""
    number = text[: len(text) - len(unit)]
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 20m, 128k, 1g)")
    return int(number) * UNITS[unit]


def parse_route(text: str) -> tuple[int, tuple[str, int]]:
    """LISTEN_PORT=HOST:PORT, e.g. 8080=127.0.0.1:5000."""
    listen, _, upstream = text.partition("=")
    host, _, port = upstream.rpartition(":")
    if not (listen.isdigit() and host and port.isdigit()):
        raise argparse.ArgumentTypeError(f"not a route: {text!r} (LISTEN_PORT=HOST:PORT)")
    return int(listen), (host, int(port))


class Session:
    """One client connection: its two directions and what it has sent to the client."""

    def __init__(self, rate: int, bucket: int) -> None:
        self.rate, self.bucket, self.sent = rate, bucket, 0

    async def upload(self, source: socket.socket, sink: socket.socket) -> None:
        """Client to server: forward as fast as it comes."""
        loop, buffer = asyncio.get_running_loop(), bytearray(READ)
        view = memoryview(buffer)
        while count := await loop.sock_recv_into(source, buffer):
            await loop.sock_sendall(sink, view[:count])

    async def download(self, source: socket.socket, sink: socket.socket) -> None:
        """Server to client: a token bucket of ``bucket`` bytes, empty at the start, filling
        at ``rate`` bytes/s; a chunk that overdraws it waits until the debt is paid."""
        rate, bucket = self.rate, self.bucket
        loop = asyncio.get_running_loop()
        buffer = bytearray(min(READ, bucket) if rate else READ)
        view = memoryview(buffer)
        tokens, last = 0.0, loop.time()
        while count := await loop.sock_recv_into(source, buffer):
            if rate:
                now = loop.time()
                tokens = min(float(bucket), tokens + (now - last) * rate) - count
                last = now
                if tokens < 0:  # wait until the bucket is back at zero: the average is `rate`
                    await asyncio.sleep(-tokens / rate)
            await loop.sock_sendall(sink, view[:count])
            self.sent += count


class Proxy:
    def __init__(self, rate: int, bucket: int, log: IO[str]) -> None:
        self.rate, self.bucket, self.log = rate, bucket, log
        self.sessions: set[asyncio.Task] = set()

    async def serve(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        loop, port = asyncio.get_running_loop(), listener.getsockname()[1]
        while True:
            client, _ = await loop.sock_accept(listener)
            task = asyncio.ensure_future(self.session(port, client, upstream))
            self.sessions.add(task)  # a strong reference until it is done
            task.add_done_callback(self.sessions.discard)

    async def session(self, port: int, client: socket.socket, upstream: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        opened, session = time.monotonic(), Session(self.rate, self.bucket)
        server = socket.socket()
        client.setblocking(False)
        server.setblocking(False)
        try:
            await loop.sock_connect(server, upstream)
            tasks = {
                asyncio.ensure_future(session.download(server, client)),
                asyncio.ensure_future(session.upload(client, server)),
            }
            # Either side closing ends the session (HTTP clients do not half-close).
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        except OSError:
            pass
        finally:
            client.close()
            server.close()
            self.log.write(f"{port} {session.sent} {time.monotonic() - opened:.3f}\n")


async def run(args: argparse.Namespace) -> None:
    proxy = Proxy(args.rate, args.bucket, open(args.log, "a", buffering=1))  # noqa: SIM115
    routes = []
    for listen, upstream in args.route:  # bind them all before saying ready
        listener = socket.create_server(("127.0.0.1", listen), backlog=128)
        listener.setblocking(False)
        routes.append((listener, upstream))
    accepting = {asyncio.ensure_future(proxy.serve(*route)) for route in routes}
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for task in accepting | proxy.sessions:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=parse_size, required=True, help="bytes/s; 0: unpaced")
    parser.add_argument("--bucket", type=parse_size, default=parse_size("128k"))
    parser.add_argument("--log", required=True, help="one line per closed client connection")
    parser.add_argument(
        "--route", type=parse_route, action="append", required=True, help="PORT=HOST:PORT"
    )
    args = parser.parse_args()
    if args.rate and args.bucket <= 0:
        sys.exit("--bucket must be > 0 when --rate is set, e.g. --bucket 128k")
    try:
        asyncio.run(run(args))
    except OSError as exc:  # a listen port taken: say which, no traceback
        sys.exit(f"paced_proxy: {exc}; pick free ports for --route")


if __name__ == "__main__":
    main()
