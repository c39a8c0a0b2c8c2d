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
HF_CONFIG_FILE = "config.json"  # upstream transformers config (and docker login's auths file)
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
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"  # docker login's folder, whose config.json holds auths
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"  # reproducible timestamps (reproducible-builds.org)

# --- defaults ----------------------------------------------------------------------------------
DEFAULT_APP_NAME = "tether"  # the user's app-data folder name when the app names none
INT8_MIN_MEAN_COSINE = 0.985  # the build's parity gate and the promote gate share these
INT8_MIN_COSINE = 0.93
COMPAT_MIN_COSINE = 0.99  # probe vectors of a new release against the previous one
MAX_METRIC_DROP = 0.01  # absolute, on metrics in [0, 1]: one point

# --- fetch: its own state in one folder beside the profile folders, its [trust] table ---------
FETCH_STATE_DIR = ".tether"  # <dest>/.tether/: never a profile folder, never bundled
LOCK_SUFFIX = ".lock"  # <dest>/.tether/<name>.lock: racing fetches take turns
VERIFIED_SUFFIX = ".verified.json"  # <dest>/.tether/<name>.verified.json: rollback protection
TRUST_TABLE = "trust"  # the recipe's [trust] table (tether.spine.trust)

# --- build, bundle and gate (tether.recipe, tether.bundle, tether.quality) -------------------
DEFAULT_BUILD_DIR = "build"  # `tether build` writes <project>/build/<name>/
DEFAULT_BUNDLE_DIR = "build/tether-bundle"  # `tether bundle`'s dest, where the hook looks
BUNDLE_TABLE = "bundle"  # the recipe's [bundle] table (tether.bundle.settings)
GATE_TABLE = "gate"  # the recipe's [gate] table (tether.quality.gate)
PROBE_PARITY_KEY = "parity"  # probe.json: the build's measured parity, numbers per variant

# --- profile.json (tether.profile) ---------------------------------------------------------
EXTERNAL_DATA_KEY = "external_data"  # a variant's sidecars: a path (the build's) or a list
LEGACY_EXTERNAL_DATA_KEY = "data"  # what tether.profile read before; hand-made profiles may use it

# --- fetch hardening: a swap without an atomic exchange, a test-only kill hook ---------------
OLD_PARTS_SUFFIX = ".old" + TEMP_SUFFIX  # <dest>/.tether/<name>.<id>.old.tether-part/: the
#   previous profile folder, moved aside for a moment where no atomic exchange exists
TEST_KILL_ENV = "TETHER_TEST_KILL_AT"  # test-only: fetch SIGKILLs itself at its N-th step

# --- publish and pin hardening (tether.spine.release, .rollback; tether.stores.file) ---------
DOWNGRADES_KEPT = 50  # <name>.verified.json: ids of the deliberate downgrades a dest root took
REMOVING_SUFFIX = ".removing"  # <name>/.staging-<pid>-<hex>.removing/: a dead publish, going
CI_ENV = "CI"  # set to true by GitHub Actions, GitLab CI and most others
CI_WORKSPACE_ENVS = ("GITHUB_WORKSPACE", "CI_PROJECT_DIR")  # the checkout a CI job runs in
