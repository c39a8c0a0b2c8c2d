"""One hierarchy for every failure tether expects.

Each error also subclasses the builtin it resembles, so callers that do not know tether
(``except FileNotFoundError``) still catch it. Each carries a ``hint``: the next step a
user should take. The CLI prints ``error: <message>; <hint>`` on one line and exits with
``exit_code`` (2 for bad input or usage, 1 for a failed verification).
"""

from __future__ import annotations


class TetherError(Exception):
    """Base of all tether errors."""

    exit_code = 2
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """The message and the fix, on one line."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


def shorten(text: object, limit: int = 100) -> str:
    """``text`` quoted, cut to ``limit`` characters: messages about huge input stay short."""
    if not isinstance(text, str) or len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


# --- bad input -------------------------------------------------------------------------


class InvalidVersionError(TetherError, ValueError):
    """A version string that is not a strict semver (``1.2.3``, ``1.2.3-rc.1``)."""

    default_hint = "use a semantic version such as 1.0.1 (a leading v is accepted)"


class InvalidTagError(TetherError, ValueError):
    """A tag that cannot be read as the kind of tag asked for."""

    default_hint = "use a tag such as v1.2.3, model-v1.2.3 or export-v1.2.3"


class InvalidNameError(TetherError, ValueError):
    """A release name or descriptive artifact name that is malformed or unsafe."""

    default_hint = "use letters, digits, dots, dashes and underscores only"


class InvalidVariantError(TetherError, ValueError):
    """A model variant the release or profile does not have."""

    default_hint = "choose fp32, int8 or both (tether show VERSION lists a release's variants)"


class ManifestError(TetherError, ValueError):
    """A MANIFEST.txt, provenance file or .prepared.json that does not parse or is unsafe."""

    default_hint = (
        "rebuild the release, or repair the folder: tether fetch --repair; "
        "do not edit these files by hand"
    )


class ConfigError(TetherError, ValueError):
    """A tether.toml / [tool.tether] recipe or setting that is invalid."""

    default_hint = "fix the recipe; see docs/recipe.md for the schema"


class StoreURLError(TetherError, ValueError):
    """A store URL tether cannot use."""

    default_hint = (
        "use a folder path, file:///path, oci://host/repo, s3://bucket/prefix, "
        "github://owner/repo or hf://org/name"
    )


# --- things that are not there -----------------------------------------------------------


class ReleaseNotFoundError(TetherError, FileNotFoundError):
    """The store holds no such release (or no such file in it)."""

    default_hint = "run `tether list` to see the published versions"


class PinNotFoundError(TetherError, FileNotFoundError):
    """No .model-version where one is needed, or it is malformed."""

    default_hint = "pin a release first: tether pin VERSION"


class ProfileNotFoundError(TetherError, FileNotFoundError):
    """No prepared profile folder where one is needed."""

    default_hint = "fetch the pinned release first: tether fetch"


class StoreUnavailableError(TetherError, ConnectionError):
    """The store cannot be reached or refused the operation."""

    default_hint = "check the store URL, that the server runs and your credentials"


# --- refused state changes ---------------------------------------------------------------


class ReleaseExistsError(TetherError, FileExistsError):
    """A publish of a version that already exists: releases are immutable."""

    default_hint = (
        "releases are immutable: publish a new version (omit --version for the next patch)"
    )


class ReleaseWithdrawnError(TetherError, PermissionError):
    """The release was withdrawn and must not be pinned or fetched."""

    default_hint = "pin another release: tether list shows their states"


class LockFileError(TetherError, OSError):
    """The lock file cannot be made: its folder is not writable, or its path is unusable."""

    default_hint = "use a folder that exists and is writable, with a path that is not too long"


class LockTimeoutError(TetherError, TimeoutError):
    """Another tether process holds the lock for too long."""

    default_hint = "wait for the other tether process to finish, or remove a stale lock file"


# --- failed verification (exit 1) ---------------------------------------------------------


class IntegrityError(TetherError, ValueError):
    """Bytes that do not match their recorded digest, size or listing."""

    exit_code = 1
    default_hint = (
        "the data was changed or truncated: repair it with tether fetch --repair, "
        "and if it persists, re-publish"
    )

    def __init__(
        self, message: str, hint: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, hint)
        self.problems = problems or []


# --- build (tether.recipe) -----------------------------------------------------------------


class SourceNotFoundError(TetherError, FileNotFoundError):
    """A build source that is not there: a missing folder, or a revision the cache lacks."""

    default_hint = "check [source] in the recipe; see docs/recipe.md"


class MissingDependencyError(TetherError, ImportError):
    """An optional toolchain (the build extra) that is not installed."""

    default_hint = "install the build toolchain: pip install torch==2.13.0 'tether[build]'"


class QualityGateError(TetherError, ValueError):
    """A built model that fails its quality gate (int8/fp32 parity, export check)."""

    exit_code = 1
    default_hint = (
        "nothing was written; change the quantization settings in the recipe, "
        "or lower [parity] thresholds deliberately"
    )


# --- runtime ---------------------------------------------------------------------------
# Raised by tether.load / tether.resolve / Embedder (tether.profile, tether.runtime.resolution,
# tether.runtime). Each carries a machine-readable ``reason`` code besides its message.


class ProfileIncompleteError(ProfileNotFoundError):
    """No candidate folder holds a complete profile for the wanted variant.

    ``trail`` lists every candidate folder with the reason it was rejected (the same
    lines are in ``problems``, which the CLI prints under the error line).
    """

    default_hint = (
        "fetch the pinned release: `tether fetch` (into ./data/embedding_models), or "
        "`tether fetch --dest DIR` and pass path=DIR / set TETHER_MODELS_DIR=DIR"
    )

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        reason: str = "incomplete",
        trail: list | None = None,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason
        self.trail = list(trail or [])
        self.problems = problems or []


class RuntimeOptionError(TetherError, ValueError):
    """An Embedder option or input that cannot be used (threads, batch token cap, texts)."""

    default_hint = "see docs/runtime.md for the options of tether.load and tether embed"


class ProbeMismatchError(TetherError, ValueError):
    """The probe self-test found vectors that disagree with the release's probe.json."""

    exit_code = 1
    default_hint = (
        "this onnxruntime/CPU does not reproduce the release's vectors: run `tether verify` "
        "on the folder, repair it (tether fetch --repair), or pin another onnxruntime version"
    )

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        reason: str = "probe_mismatch",
        worst_cosine: float | None = None,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason
        self.worst_cosine = worst_cosine
        self.problems = problems or []


class ModelOutputError(TetherError, ValueError):
    """A model whose output holds NaN or infinite values: its file is damaged or wrong.

    A same-size corruption of the weights passes the stat-only check and still loads, so
    the runtime checks every vector it returns (tests/runtime/test_hardening.py).
    """

    exit_code = 1
    default_hint = (
        "the model file is damaged: run `tether verify` on the profile folder and repair it "
        "(tether fetch --repair)"
    )


class NotAnEmbeddingProfileError(ProfileIncompleteError):
    """The profile's folder holds a fetched release of another kind (GGUF, transformers/vLLM):
    complete, but nothing tether.load can embed with (tests/quality/test_cards.py)."""

    default_hint = (
        "tether embed and tether.load run embedding profiles (a release with profile.json, "
        "made by tether build); run this release with the tool it was made for"
    )


# --- remote stores -----------------------------------------------------------------------


class StoreAuthError(TetherError, PermissionError):
    """A registry or object store refused our credentials, or we have none it accepts.

    Not a ConnectionError on purpose: retrying a refused request cannot succeed.
    """

    default_hint = (
        "check the credentials (OCI: TETHER_OCI_USERNAME/TETHER_OCI_PASSWORD or "
        "~/.docker/config.json; S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)"
    )


# --- signing -----------------------------------------------------------------------------
# Raised by tether.signing / tether.spine.trust. Each refusal of a release has its own class and
# message; all are IntegrityErrors (exit 1), so callers that catch a failed verification
# catch these too. Nothing is activated when one is raised.


class SignatureError(IntegrityError):
    """A release's signature is missing, untrusted, invalid or does not cover its files."""

    default_hint = (
        "nothing was activated; ask the publisher to (re-)sign the release: tether sign VERSION"
    )


class UnsignedReleaseError(SignatureError):
    """The trust policy requires a signature and the release has none."""

    default_hint = (
        'sign it (tether sign VERSION --key KEY), or set policy = "warn" in [trust] to accept '
        "unsigned releases with a warning"
    )


class UnknownSigningKeyError(SignatureError):
    """The release is signed, but by a key or identity the trust policy does not list."""

    default_hint = (
        "if you trust this signer, add its public key to [trust] keys; otherwise do not use "
        "this release"
    )


class SignatureInvalidError(SignatureError):
    """model.sig is malformed, or its signature does not verify with the key it names."""

    default_hint = "model.sig was altered or forged; do not use this release"


class UnsupportedSignatureError(SignatureError):
    """A valid OMS signature made in a way tether does not check (a serialization, hash or
    format version it does not read): neither accepted nor called forged."""

    default_hint = (
        "sign with model_signing's default 'files' serialization and sha256 (or tether sign); "
        "tether checks 'shards' only when each file is one shard or the folder is at hand"
    )


class SignedFileChangedError(SignatureError):
    """A release file's bytes differ from the digest the signature vouches for."""

    default_hint = "the release was changed after it was signed; do not use it"


class SignedFileAddedError(SignatureError):
    """The release holds a file the signature does not cover."""

    default_hint = "a file was added to the release after it was signed; do not use it"


class SignedFileRemovedError(SignatureError):
    """The signature covers a file the release no longer holds."""

    default_hint = "a file was removed from the release after it was signed; do not use it"


class RollbackError(SignatureError):
    """A release older than one this folder already verified, without a deliberate pin change."""

    default_hint = (
        "if the downgrade is on purpose, lower the pin with `tether pin --previous` or "
        "`tether pin VERSION --allow-downgrade`; otherwise the store may be serving an old "
        "release"
    )


class SigningKeyError(TetherError, ValueError):
    """A signing or public key that cannot be used (missing, wrong password, unsupported)."""

    default_hint = (
        "use an EC key (P-256, P-384 or P-521) in PEM form; make one with: tether key generate"
    )


# --- quality ---------------------------------------------------------------------------
# Raised by tether.quality (tether eval, promote, revert, notes, release).


class EvaluationError(TetherError, ValueError):
    """A release or folder that cannot be evaluated (not an embedding profile)."""

    default_hint = "evaluate a release built by tether build (it has profile.json)"


class PromotionGateError(QualityGateError):
    """A release that scores worse than the pinned one beyond the [gate] thresholds."""

    default_hint = (
        "nothing was changed; fix the model, or promote it anyway on purpose with "
        "--force --reason '...' (recorded in the release's history)"
    )


class ProfileCompatibilityError(TetherError, ValueError):
    """A model released under a profile id whose contract it does not keep."""

    exit_code = 1
    default_hint = (
        "vectors stored with the previous release would silently stop being comparable: "
        "bump the profile id ([profile] id, e.g. local-text-retrieval-v2) and re-embed"
    )
