"""The store harness: every Store backend runs the same contract suite (test_contract.py).

A harness gives the store, its URL (for other processes) and a way to tamper with a
release's bytes behind tether's back, which each backend does its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tether.stores import open_store
from tether.stores.base import Store


@dataclass
class StoreHarness:
    store: Store
    url: str
    #: tamper(name, version, path, data): replace a release file's bytes in the backend.
    tamper: Callable[[str, str, str, bytes], None]


@pytest.fixture
def harness_file(tmp_path: Path) -> StoreHarness:
    root = tmp_path / "store"

    def tamper(name: str, version: str, path: str, data: bytes) -> None:
        (root / name / f"model-v{version}" / path).write_bytes(data)

    return StoreHarness(open_store(str(root)), str(root), tamper)


#: Each kind K has a fixture harness_K (it may use session-scoped servers).
STORE_KINDS = ["file"]


@pytest.fixture(params=STORE_KINDS)
def harness(request: pytest.FixtureRequest) -> StoreHarness:
    return request.getfixturevalue(f"harness_{request.param}")
