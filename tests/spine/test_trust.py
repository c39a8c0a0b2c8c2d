"""Trust policy: each refusal with its own message and nothing activated; warn and off;
rollback protection with deliberate downgrades; audit and verify --signature.

Releases are the real MiniLM build in a local store; an attacker with write access to the
store is played by editing its folder (and, where said, rewriting MANIFEST.txt to match).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import NAME, KeyPair, flip_byte
from tether.cli import main
from tether.errors import (
    ConfigError,
    RollbackError,
    SignatureInvalidError,
    SignedFileAddedError,
    SignedFileChangedError,
    SignedFileRemovedError,
    UnknownSigningKeyError,
    UnsignedReleaseError,
)
from tether.hashing import list_files, sha256_file
from tether.manifest import MANIFEST_FILE, Manifest, parse_manifest, render_manifest
from tether.names import DOWNGRADE_FILE, SIGNATURE_FILE
from tether.prepared import PREPARED_FILE
from tether.signing._oms import render_statement
from tether.spine import (
    audit,
    fetch_release,
    pin_release,
    promote,
    publish_release,
    sign_release,
    verify_profile,
    write_pin,
)
from tether.spine.rollback import highest_verified
from tether.spine.trust import TrustPolicy, load_trust, parse_trust
from tether.stores.file import FileStore

FP32 = "onnx/model.onnx"


# --- the policy ---------------------------------------------------------------------------


def test_policy_from_recipe(tmp_path: Path, release_key: KeyPair) -> None:
    project = tmp_path / "app"
    (project / "keys").mkdir(parents=True)
    shutil.copy(release_key.public, project / "keys" / "release.pub")
    assert load_trust(project) is None  # no recipe: nothing is checked

    (project / "tether.toml").write_text('name = "x"\n[trust]\nkeys = ["keys/release.pub"]\n')
    policy = load_trust(project)
    assert policy is not None and policy.mode == "require"  # the default once [trust] exists
    assert [k.id for k in policy.keys] == [release_key.trusted.id]
    assert policy.project_dir == project

    pem = release_key.public.read_text()
    (project / "tether.toml").unlink()
    (project / "pyproject.toml").write_text(
        f'[tool.tether.trust]\npolicy = "warn"\nkeys = ["""{pem}"""]\n'
        'identities = [{identity = "ci@example.com", issuer = "https://issuer.example"}]\n'
    )
    policy = load_trust(project)
    assert policy is not None and policy.mode == "warn"
    assert policy.keys[0].id == release_key.trusted.id
    assert str(policy.identities[0]) == "ci@example.com (https://issuer.example)"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"policy": "maybe", "keys": ["k.pub"]}, "policy must be one of"),
        ({}, "names no keys or identities"),
        ({"keys": ["missing.pub"]}, "cannot read key missing.pub"),
        ({"keys": "k.pub"}, "keys must be a list"),
        ({"keys": ["k.pub"], "identities": [{"identity": "x"}]}, "each identity is"),
        ({"keys": ["k.pub"], "signers": []}, "unknown key"),
    ],
)
def test_policy_errors(tmp_path: Path, release_key: KeyPair, table: dict, message: str) -> None:
    shutil.copy(release_key.public, tmp_path / "k.pub")
    with pytest.raises(ConfigError, match=message):  # key files are read on first use
        len(parse_trust(table, base_dir=tmp_path).keys)
    assert parse_trust({"policy": "off"}, base_dir=tmp_path).active is False


# --- refusals: each with its own message, nothing activated -------------------------------


@pytest.fixture
def signed_store(tmp_path: Path, minilm_build: Path, release_key: KeyPair) -> FileStore:
    """1.0.0 and 1.0.1 of the MiniLM build, both signed by the release key."""
    store = FileStore(tmp_path / "store")
    for version in ("1.0.0", "1.0.1"):
        publish_release(store, minilm_build, version=version)
        sign_release(store, NAME, version, release_key.signer, check_files=False)
    return store


def release_dir(store: FileStore, version: str) -> Path:
    return store.root / NAME / f"model-v{version}"


def rewrite_manifest(folder: Path) -> None:
    """What an attacker with write access does after changing files: a MANIFEST to match."""
    old = parse_manifest((folder / MANIFEST_FILE).read_text())
    files = {rel: sha256_file(folder / rel) for rel in list_files(folder) if rel != MANIFEST_FILE}
    (folder / MANIFEST_FILE).write_text(
        render_manifest(Manifest(old.name, old.version, files, old.sections))
    )


def _resign_with(key: KeyPair) -> Callable[[FileStore, Path], None]:
    def tamper(store: FileStore, folder: Path) -> None:
        sign_release(store, NAME, "1.0.1", key.signer, replace=True)

    return tamper


def _drop_signature(store: FileStore, folder: Path) -> None:
    (folder.with_name(folder.name + ".record") / SIGNATURE_FILE).unlink()


def _forge_statement(store: FileStore, folder: Path) -> None:
    """Swap the signed statement for one of other digests, keeping the signature."""
    record = folder.with_name(folder.name + ".record") / SIGNATURE_FILE
    bundle = json.loads(record.read_bytes())
    forged = render_statement("model-v1.0.1", {MANIFEST_FILE: "00" * 32})
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()
    record.write_text(json.dumps(bundle))


def _change_file(store: FileStore, folder: Path) -> None:
    flip_byte(folder / FP32, 4096)


def _change_file_and_manifest(store: FileStore, folder: Path) -> None:
    flip_byte(folder / "tokenizer.json", 10)
    rewrite_manifest(folder)


def _change_manifest_only(store: FileStore, folder: Path) -> None:
    text = (folder / MANIFEST_FILE).read_text()
    (folder / MANIFEST_FILE).write_text(text.replace("## Build\n", "## Build\nnote: edited\n"))


def _add_file_and_manifest(store: FileStore, folder: Path) -> None:
    (folder / "extra.py").write_text("print('hello')\n")
    rewrite_manifest(folder)


def _add_stray_file(store: FileStore, folder: Path) -> None:
    (folder / "onnx" / "extra.onnx").write_bytes(b"\0" * 100)


def _remove_file_and_manifest(store: FileStore, folder: Path) -> None:
    (folder / "vocab.txt").unlink()
    rewrite_manifest(folder)


def _remove_file(store: FileStore, folder: Path) -> None:
    (folder / "vocab.txt").unlink()


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [
        (_drop_signature, UnsignedReleaseError, r"model-v1\.0\.1 in .* is not signed"),
        ("other key", UnknownSigningKeyError, "which the trust policy does not list"),
        (_forge_statement, SignatureInvalidError, "does not verify with key"),
        (_change_file, SignedFileChangedError, r"onnx/model\.onnx of .* changed after signing"),
        (_change_file_and_manifest, SignedFileChangedError, "tokenizer.json changed after sign"),
        (_change_manifest_only, SignedFileChangedError, "MANIFEST.txt changed after signing"),
        (_add_file_and_manifest, SignedFileAddedError, "extra.py added after signing"),
        (_add_stray_file, SignedFileAddedError, "onnx/extra.onnx added after signing"),
        (_remove_file_and_manifest, SignedFileRemovedError, "vocab.txt removed after signing"),
        (_remove_file, SignedFileRemovedError, "vocab.txt removed after signing"),
    ],
    ids=[
        "unsigned",
        "unknown-key",
        "forged-statement",
        "file-changed",
        "file-and-manifest-changed",
        "manifest-changed",
        "file-added",
        "stray-file-added",
        "file-and-manifest-line-removed",
        "file-removed",
    ],
)
def test_each_refusal_activates_nothing(
    signed_store: FileStore,
    release_key: KeyPair,
    other_key: KeyPair,
    tmp_path: Path,
    tamper: Callable[[FileStore, Path], None] | str,
    error: type[Exception],
    message: str,
) -> None:
    models = tmp_path / "models"
    policy = release_key.policy
    good = fetch_release(signed_store, NAME, "1.0.0", models, variants="int8", trust=policy)
    before = {rel: sha256_file(good.folder / rel) for rel in list_files(good.folder)}

    (_resign_with(other_key) if tamper == "other key" else tamper)(  # type: ignore[operator]
        signed_store, release_dir(signed_store, "1.0.1")
    )
    # fp32: its model is not in the folder yet, so it is downloaded (int8 would be reused).
    with pytest.raises(error, match=message) as raised:
        fetch_release(signed_store, NAME, "1.0.1", models, variants="fp32", trust=policy)
    assert raised.value.exit_code == 1  # type: ignore[attr-defined]

    # Nothing activated: the folder holds exactly the verified 1.0.0, signature included.
    assert {rel: sha256_file(good.folder / rel) for rel in list_files(good.folder)} == before
    assert verify_profile(good.folder, signature=policy).release == "model-v1.0.0"
    assert highest_verified(models, NAME) == "1.0.0"


def test_refusal_is_one_line_with_exit_1(
    signed_store: FileStore, release_key: KeyPair, project_dir: Path
) -> None:
    shutil.copy(release_key.public, project_dir / "release.pub")
    (project_dir / "tether.toml").write_text(
        f'store = "{signed_store.root}"\n[trust]\nkeys = ["release.pub"]\n'
    )
    _add_file_and_manifest(signed_store, release_dir(signed_store, "1.0.1"))
    write_pin(project_dir, "1.0.1")
    result = CliRunner().invoke(main, ["fetch", "--variant", "int8"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("error: ") and "extra.py added after signing; " in first
    assert "  added after signing: extra.py" in result.output  # each difference listed


def test_warn_logs_and_proceeds_off_skips(
    signed_store: FileStore,
    release_key: KeyPair,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _drop_signature(signed_store, release_dir(signed_store, "1.0.1"))
    warn = replace(release_key.policy, mode="warn")
    with caplog.at_level(logging.WARNING, logger="tether.spine.trust"):
        result = fetch_release(signed_store, NAME, "1.0.1", tmp_path / "a", trust=warn)
    assert result.changed and not (result.folder / SIGNATURE_FILE).exists()
    assert any("is not signed" in r.message and "warn" in r.message for r in caplog.records)
    assert highest_verified(tmp_path / "a", NAME) is None  # nothing was verified

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tether.spine.trust"):
        fetch_release(signed_store, NAME, "1.0.1", tmp_path / "b", trust=TrustPolicy("off"))
    assert not caplog.records


def test_folder_prepared_before_trust_is_checked_again(
    signed_store: FileStore, release_key: KeyPair, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    first = fetch_release(signed_store, NAME, "1.0.1", models, variants="int8")
    assert not (first.folder / SIGNATURE_FILE).exists()
    again = fetch_release(
        signed_store, NAME, "1.0.1", models, variants="int8", trust=release_key.policy
    )
    assert again.changed and again.reused and not again.downloaded  # re-checked, not re-read
    assert (again.folder / SIGNATURE_FILE).is_file()
    third = fetch_release(
        signed_store, NAME, "1.0.1", models, variants="int8", trust=release_key.policy
    )
    assert not third.changed  # prepared and signed: the no-op fast path


# --- rollback protection ------------------------------------------------------------------


def test_rollback_refused_unless_pin_lowered_on_purpose(
    signed_store: FileStore, release_key: KeyPair, project_dir: Path
) -> None:
    shutil.copy(release_key.public, project_dir / "release.pub")
    (project_dir / "tether.toml").write_text(
        f'store = "{signed_store.root}"\n[trust]\nkeys = ["release.pub"]\n'
    )
    for version in ("1.0.0", "1.0.1"):
        promote(signed_store, NAME, version)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args))
        return result.exit_code, result.output

    assert run("pin", "1.0.1")[0] == 0
    assert run("fetch", "--variant", "int8")[0] == 0
    models = project_dir / "data" / "embedding_models"
    assert highest_verified(models, NAME) == "1.0.1"

    # A pin lowered behind tether's back (an edited .model-version): refused.
    write_pin(project_dir, "1.0.0")
    code, output = run("fetch", "--variant", "int8")
    assert code == 1, output
    assert "refusing local-text-retrieval-v1 model-v1.0.0" in output
    assert "already verified model-v1.0.1" in output and "--allow-downgrade" in output
    assert (models / NAME / PREPARED_FILE).read_text().count("model-v1.0.1") == 1

    # `tether pin` refuses to lower the pin silently while rollback protection is on.
    write_pin(project_dir, "1.0.1")
    code, output = run("pin", "1.0.0")
    assert code == 1 and "--allow-downgrade" in output
    assert (project_dir / ".model-version").read_text() == "1.0.1\n"

    # On purpose: recorded beside .model-version, and fetch takes it.
    code, output = run("pin", "--previous")
    assert code == 0, output
    record = json.loads((project_dir / DOWNGRADE_FILE).read_text())
    assert (record["from"], record["to"]) == ("1.0.1", "1.0.0")
    assert run("fetch", "--variant", "int8")[0] == 0
    assert highest_verified(models, NAME) == "1.0.0"  # lowered by the deliberate pin

    # Pinning forward again clears the record; the same holds for --allow-downgrade.
    assert run("pin", "1.0.1")[0] == 0
    assert not (project_dir / DOWNGRADE_FILE).exists()
    assert run("fetch", "--variant", "int8")[0] == 0
    assert run("pin", "1.0.0", "--allow-downgrade")[0] == 0
    assert run("fetch", "--variant", "int8")[0] == 0


def test_rollback_state_is_per_dest_root_and_warn_proceeds(
    signed_store: FileStore, release_key: KeyPair, tmp_path: Path
) -> None:
    policy = release_key.policy
    fetch_release(signed_store, NAME, "1.0.1", tmp_path / "a", variants="int8", trust=policy)
    with pytest.raises(RollbackError):
        fetch_release(signed_store, NAME, "1.0.0", tmp_path / "a", variants="int8", trust=policy)
    # Another root never verified 1.0.1; and under warn the downgrade goes through.
    fetch_release(signed_store, NAME, "1.0.0", tmp_path / "b", variants="int8", trust=policy)
    warn = replace(policy, mode="warn")
    fetch_release(signed_store, NAME, "1.0.0", tmp_path / "a", variants="int8", trust=warn)
    assert highest_verified(tmp_path / "a", NAME) == "1.0.1"  # not lowered by a warning


def test_pin_allow_downgrade_api(signed_store: FileStore, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    pin_release(signed_store, NAME, "1.0.1", project)
    pin_release(signed_store, NAME, "1.0.0", project)  # no [trust]: lowering is not refused
    assert not (project / DOWNGRADE_FILE).exists()
    pin_release(signed_store, NAME, "1.0.1", project)
    pin_release(signed_store, NAME, "1.0.0", project, allow_downgrade=True)
    assert json.loads((project / DOWNGRADE_FILE).read_text())["to"] == "1.0.0"


# --- audit and verify --signature ---------------------------------------------------------


def test_audit_and_verify_signature(
    signed_store: FileStore, release_key: KeyPair, other_key: KeyPair, tmp_path: Path
) -> None:
    policy = release_key.policy
    result = fetch_release(signed_store, NAME, "1.0.1", tmp_path / "m", trust=policy)
    report = audit(signed_store, NAME, "1.0.1", result.folder, trust=policy)
    assert report.ok
    assert any(
        line.startswith("signature: ") and "signed by key" in line for _, line in report.checks
    )

    runner = CliRunner()
    ok = runner.invoke(
        main,
        ["verify", "--signature", "--trusted-key", str(release_key.public), str(result.folder)],
    )
    assert ok.exit_code == 0 and "signed by key" in ok.output, ok.output
    wrong = runner.invoke(
        main, ["verify", "--signature", "--trusted-key", str(other_key.public), str(result.folder)]
    )
    assert wrong.exit_code == 1 and "does not list" in wrong.output
    no_keys = runner.invoke(main, ["verify", "--signature", "--project", str(tmp_path), "x"])
    assert no_keys.exit_code == 2 and "no trusted keys" in no_keys.output

    # A profile folder whose model.sig was swapped for another release's signature.
    (result.folder / SIGNATURE_FILE).write_bytes(
        signed_store.read_record(NAME, "1.0.0", SIGNATURE_FILE) or b""
    )
    with pytest.raises(SignedFileChangedError, match="changed after signing"):
        verify_profile(result.folder, signature=policy)

    _drop_signature(signed_store, release_dir(signed_store, "1.0.1"))
    report = audit(signed_store, NAME, "1.0.1", result.folder, trust=policy)
    assert not report.ok
    assert (False, "signature: local-text-retrieval-v1 model-v1.0.1 is not signed") in report.checks
