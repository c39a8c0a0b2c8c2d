"""Ship the pinned model inside an application: bundle, verify, audit, PyInstaller hook.

    tether bundle --dest build/tether-bundle     verified layout of the pinned release + assets
    tether bundle verify DIR                     a bundle, or the bundle inside a built app
    tether audit --bundle dist/app               which release an app embeds, and its provenance

Layout and record: tether.bundle.layout. The PyInstaller hook: tether.bundle.hooks
(registered via the ``pyinstaller40`` entry point) and tether.bundle.pyinstaller.
"""

from __future__ import annotations

from tether.bundle.audit import audit_bundle
from tether.bundle.create import BundleResult, create_bundle
from tether.bundle.layout import MODELS_DIR, RECORD_FILE, BundleRecord, find_bundles, read_record
from tether.bundle.verify import check_bundles, verify_bundle

__all__ = [
    "MODELS_DIR",
    "RECORD_FILE",
    "BundleRecord",
    "BundleResult",
    "audit_bundle",
    "check_bundles",
    "create_bundle",
    "find_bundles",
    "read_record",
    "verify_bundle",
]
