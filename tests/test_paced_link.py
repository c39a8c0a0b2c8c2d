"""The paced link of benchmarks/pull_speed.py (`--link paced`): benchmarks/paced_proxy.py
caps each client connection at its rate from the first byte, with no free first second
(nginx gives one, which rewards opening more connections; BENCHMARKS.md, issue 18)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

PROXY = Path(__file__).resolve().parent.parent / "benchmarks" / "paced_proxy.py"
RATE = 4 << 20
BUCKET = 256 << 10  # 64 ms at RATE: a loaded machine's late wake-ups do not lose the rate


@pytest.fixture
def firehose() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends each client bytes as fast as it takes them."""
    listener = socket.create_server(("127.0.0.1", 0))
    block = bytes(1 << 20)

    def pour(client: socket.socket) -> None:
        with client:
            try:
                while True:
                    client.sendall(block)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=pour, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def paced_port(firehose: int, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(PROXY), "--rate", str(RATE), "--bucket", str(BUCKET),
         "--log", str(tmp_path / "link.log"), "--route", f"{port}=127.0.0.1:{firehose}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _received_over(port: int, seconds: float) -> list[tuple[float, int]]:
    """(seconds since connect() was called, bytes received so far), read by read."""
    samples, total = [], 0
    buffer = bytearray(64 << 10)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        while time.monotonic() - start < seconds:
            total += conn.recv_into(buffer)
            samples.append((time.monotonic() - start, total))
    return samples


def test_a_new_connection_gets_no_burst_and_then_the_rate(paced_port: int) -> None:
    samples = _received_over(paced_port, 1.5)
    # never more than one bucket ahead of rate x time since the connection opened
    ahead = max(received - RATE * at for at, received in samples)
    assert ahead <= BUCKET, f"{ahead} bytes ahead of the rate: a burst"
    assert samples[-1][1] >= 0.7 * RATE * 1.5  # and it does get the rate


def test_the_cap_is_per_connection(paced_port: int) -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(_received_over(paced_port, 1.0)[-1][1]))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # each of three at once gets the rate, not a third of it
    assert len(results) == 3 and all(0.6 * RATE <= got <= RATE + BUCKET for got in results)
