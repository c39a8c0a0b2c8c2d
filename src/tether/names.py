"""Every file name, record key, environment variable and default tether uses, defined once.

Modules import these names; none spells one of these strings itself
(tests/test_names.py checks the source for copies).
"""

from __future__ import annotations

# --- files of a release and of a profile folder --------------------------------------------
MANIFEST_FILE = "MANIFEST.txt"  # the one root: lists every other file with its sha256
PROVENANCE_FILE = "provenance.intoto.json"
PROFILE_FILE = "profile.json"  # the embedding contract (tether.profile)
PROBE_FILE = "probe.json"  # probe texts' reference vectors and the build's parity numbers
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
README_FILE = "README.md"
SIGNATURE_FILE = "model.sig"  # an OpenSSF model-signing bundle over MANIFEST's files
PREPARED_FILE = ".prepared.json"  # written last by fetch: the folder is complete

# --- records kept beside a release (never inside its files) --------------------------------
STATE_RECORD = "state.json"  # pre-release / promoted / withdrawn, with its history
EVAL_RECORD = "EVAL.json"  # the quality gate's measured metrics
RECORD_SUFFIX = ".record"  # folder store and S3: `model-v1.0.0.record/`

# --- the consuming project -------------------------------------------------------------------
RECIPE_FILE = "tether.toml"
PYPROJECT_FILE = "pyproject.toml"  # [tool.tether] works as tether.toml does
PIN_FILE = ".model-version"
DOWNGRADE_FILE = ".model-downgrade.json"  # one deliberate downgrade, committed beside the pin
DEFAULT_STORE_DIR = "releases"
DEFAULT_PROFILES_DIR = "data/embedding_models"  # where `tether fetch` puts profiles
BUNDLE_RECORD_FILE = "tether-bundle.json"
BUNDLE_MODELS_DIR = "embedding_models"

# --- temporary and private names -------------------------------------------------------------
TEMP_SUFFIX = ".tether-part"  # a download or a staged copy not yet verified
STAGING_PREFIX = ".staging-"  # a folder store's publish before its rename

# --- environment variables -------------------------------------------------------------------
STORE_ENV = "TETHER_STORE"
MODELS_ENV = "TETHER_MODELS_DIR"
VARIANT_ENV = "TETHER_VARIANT"
PROFILE_ENV = "TETHER_PROFILE"
BUNDLE_ENV = "TETHER_BUNDLE_DIR"
SIGNING_KEY_ENV = "TETHER_SIGNING_KEY"
SIGNING_KEY_PASSWORD_ENV = "TETHER_SIGNING_KEY_PASSWORD"
SIGSTORE_TOKEN_ENV = "SIGSTORE_ID_TOKEN"
OCI_USERNAME_ENV = "TETHER_OCI_USERNAME"
OCI_PASSWORD_ENV = "TETHER_OCI_PASSWORD"
OCI_INSECURE_ENV = "TETHER_OCI_INSECURE"
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"  # reproducible timestamps (reproducible-builds.org)

# --- defaults ----------------------------------------------------------------------------------
DEFAULT_APP_NAME = "tether"  # the user's app-data folder name when the app names none
INT8_MIN_MEAN_COSINE = 0.985  # the build's parity gate and the promote gate share these
INT8_MIN_COSINE = 0.93
COMPAT_MIN_COSINE = 0.99  # probe vectors of a new release against the previous one
MAX_METRIC_DROP = 0.01  # absolute, on metrics in [0, 1]: one point
