"""Ship the pinned model inside an application: bundle, verify, audit, PyInstaller hook.

    tether bundle --out build/tether-bundle      verified layout of the pinned release + assets
    tether bundle verify DIR                     a bundle, or the bundle inside a built app
    tether audit --bundle dist/app               which release an app embeds, and its provenance
    tether init                                  a starter recipe, pin and CI

Layout and record: tether.bundle.layout; ``[bundle]`` settings: tether.bundle.settings. The
PyInstaller hook: tether.bundle.hooks (registered via the ``pyinstaller40`` entry point) and
tether.bundle.pyinstaller; what a loaded app needs: tether.bundle.needs (the hook and
tether.bundle.nuitka read it); what a built app holds: tether.bundle.built. Other rooms use
only the names below, each loaded on first use
(the hook imports this package at every app build).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.bundle.assets import asset_digest
    from tether.bundle.audit import audit_bundle
    from tether.bundle.create import BundleResult, create_bundle
    from tether.bundle.init import REVISION_PLACEHOLDER, InitOptions, InitResult, init_project
    from tether.bundle.layout import (
        MODELS_DIR,
        RECORD_FILE,
        BundleRecord,
        find_bundles,
        read_record,
    )
    from tether.bundle.needs import RuntimeNeeds, runtime_needs
    from tether.bundle.nuitka import nuitka_options
    from tether.bundle.settings import BundleSettings, bundle_project, bundle_settings
    from tether.bundle.verify import BundleCheck, check_bundles, verify_bundle

_EXPORTS = {
    "MODELS_DIR": "layout",
    "RECORD_FILE": "layout",
    "REVISION_PLACEHOLDER": "init",
    "BundleCheck": "verify",
    "BundleRecord": "layout",
    "BundleResult": "create",
    "BundleSettings": "settings",
    "RuntimeNeeds": "needs",
    "InitOptions": "init",
    "InitResult": "init",
    "asset_digest": "assets",
    "audit_bundle": "audit",
    "bundle_project": "settings",
    "bundle_settings": "settings",
    "check_bundles": "verify",
    "create_bundle": "create",
    "find_bundles": "layout",
    "init_project": "init",
    "nuitka_options": "nuitka",
    "read_record": "layout",
    "runtime_needs": "needs",
    "verify_bundle": "verify",
}
__all__ = [
    "MODELS_DIR",
    "RECORD_FILE",
    "REVISION_PLACEHOLDER",
    "BundleCheck",
    "BundleRecord",
    "BundleResult",
    "BundleSettings",
    "InitOptions",
    "InitResult",
    "RuntimeNeeds",
    "asset_digest",
    "audit_bundle",
    "bundle_project",
    "bundle_settings",
    "check_bundles",
    "create_bundle",
    "find_bundles",
    "init_project",
    "nuitka_options",
    "read_record",
    "runtime_needs",
    "verify_bundle",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
