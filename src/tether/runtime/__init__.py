"""The runtime: resolve a profile folder, load it, embed. Needs only onnxruntime,
tokenizers, numpy and platformdirs: never the stores, the build tools or the CLI
(import-linter's runtime contract and tests/runtime/test_runtime_imports.py pin this).

    resolution  which folder to load (env, app data, bundle), with the trail of why
    embedder    Embedder / load(): tokenize, batch, run, pool, normalize
    cpu         which variant suits this CPU
    probe       probe.json, its one reader (parse_probe), and the self-test
    selftest    `app --tether-self-test`: self_test_if_asked, for built apps

Other rooms use only the names below; the modules behind them are private to the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.runtime.cpu import VARIANT_CHOICES
    from tether.runtime.embedder import Embedder, load
    from tether.runtime.pooling import l2_normalize, pool
    from tether.runtime.probe import ProbeRecord, parse_probe, probe_from_data, read_probe_file
    from tether.runtime.resolution import Resolution, resolve
    from tether.runtime.selftest import self_test, self_test_if_asked

_EXPORTS = {
    "Embedder": "embedder",
    "ProbeRecord": "probe",
    "Resolution": "resolution",
    "VARIANT_CHOICES": "cpu",
    "l2_normalize": "pooling",
    "load": "embedder",
    "parse_probe": "probe",
    "pool": "pooling",
    "probe_from_data": "probe",
    "read_probe_file": "probe",
    "resolve": "resolution",
    "self_test": "selftest",
    "self_test_if_asked": "selftest",
}
__all__ = [
    "VARIANT_CHOICES",
    "Embedder",
    "ProbeRecord",
    "Resolution",
    "l2_normalize",
    "load",
    "parse_probe",
    "pool",
    "probe_from_data",
    "read_probe_file",
    "resolve",
    "self_test",
    "self_test_if_asked",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
