"""botocore for the S3 store, loaded without urllib3's pyOpenSSL shim.

botocore imports the shim only to take the stdlib SSLContext back out of it, and the shim
loads pyOpenSSL and cryptography.x509 when they are installed (tether[sigstore]): 0.05-0.2 s
of every S3 command (BENCHMARKS.md, issue 18). Hidden while botocore loads, it takes
urllib3's own SSLContext, the same class; afterwards the shim is importable as before
(tests/stores/test_parallel_download.py::test_s3_store_starts_light). Not boto3 either: its
resources and s3transfer, which tether does not use, cost another ~0.1 s.
"""

from __future__ import annotations

import sys

_SHIM = "urllib3.contrib.pyopenssl"

if "botocore.httpsession" not in sys.modules and _SHIM not in sys.modules:
    sys.modules[_SHIM] = None  # type: ignore[assignment]  # importing it raises ImportError
    try:
        import botocore.httpsession  # noqa: F401  # what imports the shim
    finally:
        del sys.modules[_SHIM]

import botocore.exceptions as bex  # noqa: E402  # after the shim is hidden: they load it
from botocore.config import Config  # noqa: E402
from botocore.session import Session  # noqa: E402

__all__ = ["Config", "Session", "bex"]
