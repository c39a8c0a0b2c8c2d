"""read_ahead: the helper thread that overlaps receiving with the caller's hashing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tether.errors import StoreUnavailableError
from tether.stores._remote import read_ahead


def test_passes_chunks_in_order_and_errors_where_they_happen() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        raise StoreUnavailableError("connection reset")

    got = []
    with pytest.raises(StoreUnavailableError, match="reset"):
        for chunk in read_ahead(chunks()):
            got.append(chunk)
    assert got == [b"a", b"b"]


def test_stays_bounded_and_stops_when_the_reader_stops() -> None:
    produced = []
    closed = threading.Event()

    def chunks() -> Iterator[bytes]:
        try:
            for n in range(1000):
                produced.append(n)
                yield bytes([n % 256])
        finally:
            closed.set()  # where the HTTP response would be closed

    reader = read_ahead(chunks(), depth=4)
    assert next(reader) == b"\x00"
    time.sleep(0.3)
    assert len(produced) <= 4 + 2  # the helper waits for the reader: bounded memory
    reader.close()
    assert closed.wait(2)
    assert len(produced) < 1000
