"""The spine: publish a release, pin it, fetch it verified, check it, mirror it, sign it.

    catalog       read releases: MANIFEST, state (pre-release, promoted, withdrawn), lists
    compatibility the guard that keeps a profile id's vectors comparable
    release       publish (immutable model-v<semver>), change state
    pin           .model-version (one pin, or named pins), the previous promoted release,
                  `tether pin`
    layout        a dest root: profile folders and fetch's own state folder (.tether/)
    fetch         release -> profile folder: verified, atomic, locked
    transfer      fetch's parallel ranged downloads, hashed in file order as they land
    pinned        `tether fetch`: the pins into the project's folders, light when a no-op
    rollback      rollback protection: what a dest root verified, deliberate downgrades
    trust         the [trust] policy, and the one guard fetch asks (FetchGuard)
    verify        re-hash a profile folder (and its signature); audit pin -> release -> folder
    mirroring     copy releases between stores, verified
    sign          sign a release in a store (the cryptography is tether.signing's)

Other rooms use only the names below; the modules behind them are private to the spine.
Inside it imports go one way, checked by import-linter (pyproject.toml): catalog is read by
all; compatibility <- release; layout <- rollback <- trust <- fetch <- pinned, mirroring;
transfer <- fetch; rollback, trust <- pin <- verify; trust <- sign.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.spine.catalog import (
        ReleaseInfo,
        latest,
        list_releases,
        read_manifest,
        release_info,
        require_usable,
    )
    from tether.spine.compatibility import check_release_compatible, previous_release, release_json
    from tether.spine.fetch import download_release, fetch_release
    from tether.spine.layout import FetchResult, Progress
    from tether.spine.mirroring import MirrorResult, mirror, mirror_stores
    from tether.spine.pin import (
        Pinned,
        Pins,
        pin_models,
        pin_release,
        previous_promoted,
        read_pin,
        read_pins,
        require_pin,
        write_pin,
        write_pins,
    )
    from tether.spine.pinned import fetch_pinned, fetch_pins
    from tether.spine.release import promote, publish_release, refuse_workspace_store, withdraw
    from tether.spine.sign import (
        KeyFiles,
        SignResult,
        attach_signature,
        generate_signing_key,
        load_signer,
        sign_release,
        sign_version,
    )
    from tether.spine.states import PRE_RELEASE, PROMOTED, WITHDRAWN
    from tether.spine.trust import (
        TrustPolicy,
        check_profile_signature,
        fetch_guard,
        keys_policy,
        load_trust,
        signature_policy,
    )
    from tether.spine.verify import (
        AuditReport,
        audit,
        audit_pinned,
        verify_local,
        verify_profile,
        verify_signed,
        verify_signed_folder,
    )

_EXPORTS = {
    "PRE_RELEASE": "states",
    "PROMOTED": "states",
    "WITHDRAWN": "states",
    "AuditReport": "verify",
    "FetchResult": "layout",
    "KeyFiles": "sign",
    "MirrorResult": "mirroring",
    "Pinned": "pin",
    "Pins": "pin",
    "Progress": "layout",
    "ReleaseInfo": "catalog",
    "SignResult": "sign",
    "TrustPolicy": "trust",
    "attach_signature": "sign",
    "audit": "verify",
    "audit_pinned": "verify",
    "check_profile_signature": "trust",
    "check_release_compatible": "compatibility",
    "download_release": "fetch",
    "fetch_guard": "trust",
    "fetch_pinned": "pinned",
    "fetch_pins": "pinned",
    "fetch_release": "fetch",
    "generate_signing_key": "sign",
    "keys_policy": "trust",
    "latest": "catalog",
    "list_releases": "catalog",
    "load_signer": "sign",
    "load_trust": "trust",
    "mirror": "mirroring",
    "mirror_stores": "mirroring",
    "pin_models": "pin",
    "pin_release": "pin",
    "previous_promoted": "pin",
    "previous_release": "compatibility",
    "promote": "release",
    "publish_release": "release",
    "refuse_workspace_store": "release",
    "read_manifest": "catalog",
    "read_pin": "pin",
    "read_pins": "pin",
    "release_info": "catalog",
    "release_json": "compatibility",
    "require_pin": "pin",
    "require_usable": "catalog",
    "sign_release": "sign",
    "sign_version": "sign",
    "signature_policy": "trust",
    "verify_local": "verify",
    "verify_profile": "verify",
    "verify_signed": "verify",
    "verify_signed_folder": "verify",
    "withdraw": "release",
    "write_pin": "pin",
    "write_pins": "pin",
}
__all__ = [
    "PRE_RELEASE",
    "PROMOTED",
    "WITHDRAWN",
    "AuditReport",
    "FetchResult",
    "KeyFiles",
    "MirrorResult",
    "Pinned",
    "Pins",
    "Progress",
    "ReleaseInfo",
    "SignResult",
    "TrustPolicy",
    "attach_signature",
    "audit",
    "audit_pinned",
    "check_profile_signature",
    "check_release_compatible",
    "download_release",
    "fetch_guard",
    "fetch_pinned",
    "fetch_pins",
    "fetch_release",
    "generate_signing_key",
    "keys_policy",
    "latest",
    "list_releases",
    "load_signer",
    "load_trust",
    "mirror",
    "mirror_stores",
    "pin_models",
    "pin_release",
    "previous_promoted",
    "previous_release",
    "promote",
    "publish_release",
    "read_manifest",
    "read_pin",
    "read_pins",
    "refuse_workspace_store",
    "release_info",
    "release_json",
    "require_pin",
    "require_usable",
    "sign_release",
    "sign_version",
    "signature_policy",
    "verify_local",
    "verify_profile",
    "verify_signed",
    "verify_signed_folder",
    "withdraw",
    "write_pin",
    "write_pins",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
