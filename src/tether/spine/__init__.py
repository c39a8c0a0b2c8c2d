"""The spine: publish a release, pin it, fetch it verified, check it, mirror it.

    release       publish (immutable model-v<semver>), states, catalog
    compatibility the guard that keeps a profile id's vectors comparable
    pin           .model-version, the previous promoted release
    trust         the [trust] policy: signatures and rollback protection on fetch
    fetch         release -> profile folder: verified, atomic, locked
    verify        re-hash a profile folder; audit pin -> release -> folder
    mirror        copy releases between stores, verified

Other rooms use only the names below; the modules behind them are private to the spine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.doors import lazy_door

if TYPE_CHECKING:
    from tether.spine.compatibility import check_release_compatible, previous_release, release_json
    from tether.spine.fetch import FetchResult, Progress, download_release, fetch_release
    from tether.spine.mirror import MirrorResult, mirror
    from tether.spine.pin import pin_release, previous_promoted, read_pin, require_pin, write_pin
    from tether.spine.release import (
        PRE_RELEASE,
        PROMOTED,
        WITHDRAWN,
        ReleaseInfo,
        latest,
        list_releases,
        promote,
        publish_release,
        read_manifest,
        release_info,
        require_usable,
        withdraw,
    )
    from tether.spine.trust import (
        TrustPolicy,
        _signing,
        check_profile_signature,
        keys_policy,
        load_trust,
        signature_policy,
        verify_signed,
    )
    from tether.spine.verify import AuditReport, audit, verify_profile

_EXPORTS = {
    "PRE_RELEASE": "release",
    "PROMOTED": "release",
    "WITHDRAWN": "release",
    "AuditReport": "verify",
    "FetchResult": "fetch",
    "MirrorResult": "mirror",
    "Progress": "fetch",
    "ReleaseInfo": "release",
    "TrustPolicy": "trust",
    "_signing": "trust",
    "audit": "verify",
    "check_profile_signature": "trust",
    "check_release_compatible": "compatibility",
    "download_release": "fetch",
    "fetch_release": "fetch",
    "keys_policy": "trust",
    "latest": "release",
    "list_releases": "release",
    "load_trust": "trust",
    "mirror": "mirror",
    "pin_release": "pin",
    "previous_promoted": "pin",
    "previous_release": "compatibility",
    "promote": "release",
    "publish_release": "release",
    "read_manifest": "release",
    "read_pin": "pin",
    "release_info": "release",
    "release_json": "compatibility",
    "require_pin": "pin",
    "require_usable": "release",
    "signature_policy": "trust",
    "verify_profile": "verify",
    "verify_signed": "trust",
    "withdraw": "release",
    "write_pin": "pin",
}
__all__ = [
    "PRE_RELEASE",
    "PROMOTED",
    "WITHDRAWN",
    "AuditReport",
    "FetchResult",
    "MirrorResult",
    "Progress",
    "ReleaseInfo",
    "TrustPolicy",
    "_signing",
    "audit",
    "check_profile_signature",
    "check_release_compatible",
    "download_release",
    "fetch_release",
    "keys_policy",
    "latest",
    "list_releases",
    "load_trust",
    "mirror",
    "pin_release",
    "previous_promoted",
    "previous_release",
    "promote",
    "publish_release",
    "read_manifest",
    "read_pin",
    "release_info",
    "release_json",
    "require_pin",
    "require_usable",
    "signature_policy",
    "verify_profile",
    "verify_signed",
    "withdraw",
    "write_pin",
]
__getattr__ = lazy_door(__name__, _EXPORTS)
