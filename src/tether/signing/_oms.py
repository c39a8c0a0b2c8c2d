"""The OpenSSF Model Signing (OMS) format, as model_signing 1.x writes and reads it.

A signature file (``model.sig``) is a Sigstore bundle v0.3 whose ``dsseEnvelope`` carries
an in-toto Statement v1 with predicate ``https://model_signing/signature/v1.0``::

    subject:   [{name: <model name>, digest: {sha256: <root digest>}}]
    predicate: {serialization: {method: files, hash_type: sha256, allow_symlinks: false,
                                ignore_paths: [...]},
                resources: [{name: <relative path>, algorithm: sha256, digest: <hex>}, ...]}

The root digest is sha256 over the concatenated raw resource digests, in the listed order.
model_signing's ``shards`` serialization lists ``<path>:<start>:<end>`` resources instead,
the sha256 of each ``shard_size`` slice of each file (none for an empty file); a file that is
one shard has its plain sha256, so such a signature is read like a ``files`` one
(``Statement.files``) and only files of several shards need their bytes (``Statement.shards``).
Key-signed bundles name their key by ``verificationMaterial.publicKey.hint`` (see _keys);
keyless (Sigstore) bundles carry a certificate instead.

Written from the spec and model_signing's source, with cryptography only, so a fetch needs
no Sigstore client; the test suite checks both directions against model_signing itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from tether.errors import ManifestError, SignatureInvalidError, UnsupportedSignatureError
from tether.names import SIGNATURE_FILE
from tether.paths import check_relative_path
from tether.signing._keys import TrustedKey, key_id, signature_hash

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
V02_PREDICATE_TYPE = "https://model_signing/Digests/v0.1"  # model_signing before 1.0
FILES, SHARDS = "files", "shards"  # the serializations tether checks
#: What model_signing leaves out of a folder by default: the signature and git metadata.
DEFAULT_IGNORE_PATHS = (SIGNATURE_FILE, ".git", ".gitattributes", ".github", ".gitignore")
_HEX64 = frozenset("0123456789abcdef")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


_Bad = Callable[[str], SignatureInvalidError]


class Shard(NamedTuple):
    """A slice [start, end) of a file and its sha256 (a ``shards`` signature's resource)."""

    start: int
    end: int
    digest: str


@dataclass(frozen=True)
class Statement:
    """The files an OMS signature vouches for (path -> sha256 hex, in signed order).

    A ``shards`` signature's files of one shard are in ``files`` too (that shard's digest
    is the file's sha256); files of several shards are in ``shards`` only.
    """

    model_name: str
    files: dict[str, str]
    ignore_paths: tuple[str, ...] = ()
    serialization: dict[str, Any] = field(default_factory=dict)
    shards: dict[str, tuple[Shard, ...]] = field(default_factory=dict)
    shard_size: int | None = None  # a shards signature's

    @property
    def method(self) -> str:
        return str(self.serialization.get("method", FILES))

    @property
    def paths(self) -> set[str]:
        """Every file the signature covers."""
        return set(self.files) | set(self.shards)

    def ignores(self, path: str) -> bool:
        """Whether the signature leaves ``path`` out (git metadata, as model_signing does)."""
        return is_ignored(path, self.ignore_paths)


def resource_order(path: str) -> list[str]:
    """model_signing sorts resources as PurePosixPath does: by path segments."""
    return path.split("/")


def root_digest(digests: list[str]) -> str:
    hasher = hashlib.sha256()
    for digest in digests:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def is_ignored(path: str, ignore_paths: tuple[str, ...] | list[str]) -> bool:
    """Whether model_signing leaves ``path`` out: it is, or lies below, an ignored path."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in ignore_paths)


def signed_files(
    files: dict[str, str], ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
) -> dict[str, str]:
    """The files a folder signature covers: all but the ignored ones (git metadata such as a
    model's .gitattributes). A release's MANIFEST.txt lists those too, and is signed."""
    return {p: d for p, d in files.items() if not is_ignored(p, ignore_paths)}


def render_statement(
    model_name: str, files: dict[str, str], ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
) -> bytes:
    """The in-toto statement model_signing builds for this folder listing (ignored paths
    left out), as DSSE payload bytes.

    Same fields, order and JSON layout (indent 2, ASCII escapes) as model_signing's protobuf
    JSON, except that predicate keys are sorted (protobuf leaves their order unspecified).
    """
    files = signed_files(files, ignore_paths)
    ordered = sorted(files, key=resource_order)
    resources = [{"algorithm": "sha256", "digest": files[p], "name": p} for p in ordered]
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": model_name,
                "digest": {"sha256": root_digest([files[p] for p in ordered])},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "resources": resources,
            "serialization": {
                "allow_symlinks": False,
                "hash_type": "sha256",
                "ignore_paths": list(ignore_paths),
                "method": "files",
            },
        },
    }
    return json.dumps(statement, indent=2).encode("ascii")


def parse_statement(payload: bytes, *, where: str) -> Statement:
    """Check an OMS statement's shape and root digest; return the files it vouches for."""

    def bad(problem: str) -> SignatureInvalidError:
        return SignatureInvalidError(f"{where}: {problem}")

    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise bad("the signed payload is not JSON") from None
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise bad(f"the signed payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    if data.get("predicateType") == V02_PREDICATE_TYPE:
        raise UnsupportedSignatureError(
            f"{where}: unsupported signature format v0.2 (predicate {V02_PREDICATE_TYPE}); "
            "tether reads OMS v1.0, as model_signing >= 1.0 writes it",
            "sign it again with model_signing >= 1.0, or with tether sign",
        )
    if data.get("predicateType") != PREDICATE_TYPE:
        raise bad(
            f"predicate type {data.get('predicateType')!r} is not {PREDICATE_TYPE} "
            "(tether reads OMS v1.0 signatures, as model_signing >= 1.0 writes them)"
        )
    try:
        (subject,) = data["subject"]
        model_name = str(subject["name"])
        expected_root = str(subject["digest"]["sha256"])
        predicate = data["predicate"]
        serialization = dict(predicate["serialization"])
        resources = list(predicate["resources"])
    except (KeyError, TypeError, ValueError):
        raise bad("the statement lacks its subject, serialization or resources") from None
    method, hash_type = serialization.get("method"), serialization.get("hash_type")
    if method not in (FILES, SHARDS) or hash_type != "sha256":
        # A valid signature of another kind is not a forgery: say what it is
        # (tests/signing/test_signing_hardening.py).
        raise UnsupportedSignatureError(
            f"{where}: unsupported serialization {method!r} with hash {hash_type!r} "
            "(tether checks 'files' or 'shards', with sha256)",
            "sign with model_signing's default 'files' serialization and sha256, or tether sign",
        )
    shard_size = _shard_size(serialization, bad) if method == SHARDS else None
    algorithms = {"sha256"} | ({f"sha256-sharded-{shard_size}"} if shard_size else set())
    names: set[str] = set()
    digests: list[str] = []
    pieces: dict[str, list[Shard]] = {}
    for resource in resources:
        try:
            name, algorithm, digest = resource["name"], resource["algorithm"], resource["digest"]
        except (KeyError, TypeError):
            raise bad("a resource lacks its name, algorithm or digest") from None
        if algorithm not in algorithms or not isinstance(digest, str) or len(digest) != 64:
            raise bad(f"resource {name!r} has no sha256 digest")
        if not set(digest) <= _HEX64:
            raise bad(f"resource {name!r} has a malformed digest")
        if name in names:
            raise bad(f"resource {name!r} is listed twice")
        names.add(name)
        path, start, end = _resource_path(str(name), shard_size, bad)
        try:
            check_relative_path(path, where=where)
        except ManifestError as exc:
            raise bad(exc.message) from None
        pieces.setdefault(path, []).append(Shard(start, end, digest))
        digests.append(digest)
    if root_digest(digests) != expected_root:
        raise bad("the resources do not hash to the subject's digest")
    files: dict[str, str] = {}
    shards: dict[str, tuple[Shard, ...]] = {}
    for path, found in pieces.items():
        found.sort()
        if shard_size is not None:
            _check_tiling(path, found, shard_size, bad)
        if len(found) == 1:
            files[path] = found[0].digest
        else:
            shards[path] = tuple(found)
    ignore = serialization.get("ignore_paths") or []
    return Statement(
        model_name, files, tuple(str(p) for p in ignore), serialization, shards, shard_size
    )


def _shard_size(serialization: dict[str, Any], bad: _Bad) -> int:
    size = serialization.get("shard_size")  # protobuf JSON writes it as a float: 1000.0
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size != int(size):
        raise bad(f"the shard size {size!r} is not a whole number")
    if int(size) <= 0:
        raise bad(f"the shard size {size!r} is not positive")
    return int(size)


def _resource_path(name: str, shard_size: int | None, bad: _Bad) -> tuple[str, int, int]:
    """A resource's file path and byte range (a ``files`` resource is a whole file)."""
    if shard_size is None:
        return name, 0, -1
    parts = name.split(":")  # as model_signing reads it: a path holds no ':'
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        raise bad(f"shard resource {name!r} is not <path>:<start>:<end>")
    return parts[0], int(parts[1]), int(parts[2])


def _check_tiling(path: str, shards: list[Shard], shard_size: int, bad: _Bad) -> None:
    """model_signing cuts a file into shard_size slices from 0, the last one shorter."""
    position = 0
    for index, shard in enumerate(shards):
        length = shard.end - shard.start
        last = index == len(shards) - 1
        if shard.start != position or length <= 0 or length > shard_size:
            raise bad(f"the shards of {path!r} do not cover it in order")
        if not last and length != shard_size:
            raise bad(f"the shards of {path!r} are not {shard_size} bytes each")
        position = shard.end


def pae(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is computed over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Bundle:
    """The parts of a Sigstore bundle that verification needs (nothing is trusted yet)."""

    key_hint: str | None  # key-signed: sha256 of the signer's public key PEM, when present
    keyless: bool  # carries a certificate: a Sigstore (OIDC identity) signature
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def parse_bundle(data: bytes, *, where: str) -> Bundle:
    """Read model.sig's envelope; malformed input is a SignatureInvalidError."""

    def bad(problem: str) -> SignatureInvalidError:
        return SignatureInvalidError(f"{where} {problem}")

    try:
        bundle = json.loads(data)
        media_type = bundle["mediaType"]
        material = bundle["verificationMaterial"]
        envelope = bundle["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = str(envelope["payloadType"])
        signatures = tuple(
            base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad("is not a Sigstore bundle with a DSSE envelope") from None
    if not isinstance(media_type, str) or not media_type.startswith(
        "application/vnd.dev.sigstore.bundle"
    ):
        raise bad(f"has media type {media_type!r}, not a Sigstore bundle")
    if not signatures:
        raise bad("holds no signature")
    keyless = any(k in material for k in ("certificate", "x509CertificateChain"))
    hint = material.get("publicKey", {}).get("hint") if not keyless else None
    if not keyless and media_type != BUNDLE_MEDIA_TYPE:
        raise bad(f"has media type {media_type!r}; key-signed OMS bundles are v0.3")
    return Bundle(hint or None, keyless, payload_type, payload, signatures)


def verify_with_key(bundle: Bundle, key: TrustedKey) -> bool:
    """True when the envelope's first signature verifies with ``key`` (as model_signing)."""
    try:
        key.key.verify(
            bundle.signatures[0],
            pae(bundle.payload, bundle.payload_type),
            ec.ECDSA(signature_hash(key.key)),
        )
    except InvalidSignature:
        return False
    return True


def sign_with_key(payload: bytes, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """A Sigstore bundle (v0.3, DSSE) over ``payload``, laid out as model_signing writes it."""
    public = private_key.public_key()
    signature = private_key.sign(pae(payload), ec.ECDSA(signature_hash(public)))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_id(public)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()
