"""Named pins: several models (or formats of one model) in one project's .model-version.

The Done-when scenario of issue 16 end to end through the CLI: a vLLM folder and a GGUF
export released at 2.0.0, only the GGUF fixed as 2.0.1, each pinned, then `tether fetch`,
`tether audit` and `tether bundle` without --name act on both. Then the file's one parser
(round trips, refusals naming the line), the single-model file left as it always was,
promote/revert and rollback records per name, and the Go path's script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import KeyPair, make_small_release, write_random
from tether.cli import main
from tether.errors import InvalidNameError, PinNotFoundError, TetherError
from tether.hashing import sha256_file
from tether.names import DOWNGRADE_FILE, FETCH_SCRIPT, PIN_FILE
from tether.prepared import read_prepared
from tether.quality import write_eval
from tether.quality.evaluate import load_dataset
from tether.spine import (
    fetch_pinned,
    promote,
    publish_release,
    read_pin,
    read_pins,
    release_info,
    write_pin,
    write_pins,
)
from tether.spine.pin import parse_pins
from tether.spine.rollback import note_pin_change, read_step
from tether.stores.file import FileStore

VLLM, GGUF = "phi3-vllm", "phi3-gguf"


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


def vllm_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["Phi3ForCausalLM"]}))
    write_random(folder / "model.safetensors", 40_000, seed=1)
    return folder


def gguf_folder(folder: Path, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_random(folder / "model.gguf", 30_000, seed=seed)
    (folder / "Modelfile").write_text("FROM ./model.gguf\nPARAMETER temperature 0.2\n")
    return folder


@pytest.fixture
def two_formats(project_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """The project (tether.toml names only the store) and its two exports, both released at
    2.0.0, the GGUF fixed as 2.0.1: {name: the folder of the release it should pin}."""
    (project_dir / "tether.toml").write_text('store = "releases"\n')
    vllm = vllm_folder(tmp_path / "vllm")
    gguf = gguf_folder(tmp_path / "gguf-2.0.0", seed=2)
    cli("release", "--from", str(vllm), "--name", VLLM, "--version", "2.0.0")
    cli("release", "--from", str(gguf), "--name", GGUF, "--version", "2.0.0")
    fixed = gguf_folder(tmp_path / "gguf-2.0.1", seed=3)  # the GGUF-only fix
    cli("release", "--from", str(fixed), "--name", GGUF, "--version", "2.0.1")
    return {VLLM: vllm, GGUF: fixed}


def test_each_format_fetched_and_audited_at_its_own_pin(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    assert f"pinned {VLLM} model-v2.0.0" in cli("pin", "2.0.0", "--name", VLLM).output
    assert f"pinned {GGUF} model-v2.0.1" in cli("pin", "v2.0.1", "--name", GGUF).output
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.1\n{VLLM} 2.0.0\n"

    fetched = cli("fetch").output  # no --name: every pinned model
    assert f"fetched {GGUF} model-v2.0.1" in fetched and f"fetched {VLLM} model-v2.0.0" in fetched
    profiles = project_dir / "data" / "embedding_models"
    for name, source in two_formats.items():
        folder = profiles / name
        prepared = read_prepared(folder)
        assert prepared is not None
        assert prepared.release == f"model-v{read_pin(project_dir, name)}"
        for path in source.iterdir():
            assert sha256_file(folder / path.name) == sha256_file(path), (name, path.name)
    assert read_prepared(profiles / GGUF).release == "model-v2.0.1"  # type: ignore[union-attr]
    assert read_prepared(profiles / VLLM).release == "model-v2.0.0"  # type: ignore[union-attr]
    again = cli("fetch").output
    assert again.count("already holds") == 2, again
    as_json = json.loads(cli("fetch", "--json").output)
    assert [(r["name"], r["release"]) for r in as_json] == [
        (GGUF, "model-v2.0.1"),
        (VLLM, "model-v2.0.0"),
    ]
    one = json.loads(cli("fetch", "--name", VLLM, "--json").output)  # one model: one object
    assert (one["name"], one["release"], one["changed"]) == (VLLM, "model-v2.0.0", False)

    audited = cli("audit").output
    assert "BAD" not in audited
    assert f"ok  {GGUF}: profile: {profiles / GGUF} holds model-v2.0.1" in audited
    assert f"ok  {VLLM}: profile: {profiles / VLLM} holds model-v2.0.0" in audited
    (profiles / GGUF / "model.gguf").write_bytes(b"not the model")
    audited = cli("audit", code=1).output
    assert f"BAD {GGUF}: files:" in audited and f"BAD {VLLM}" not in audited
    assert "BAD" not in cli("audit", "--name", VLLM).output  # one model, as before


def test_pin_without_name_pins_every_pinned_model(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    cli("pin", "2.0.0", "--name", VLLM)
    cli("pin", "2.0.1", "--name", GGUF)
    before = (project_dir / PIN_FILE).read_text()
    refused = cli("pin", "2.0.1", code=2).output  # phi3-vllm has no 2.0.1: nothing written
    assert "model-v2.0.1" in refused and VLLM in refused
    assert (project_dir / PIN_FILE).read_text() == before
    output = cli("pin", "2.0.0", "--allow-downgrade").output
    assert f"pinned {GGUF} model-v2.0.0" in output and f"pinned {VLLM} model-v2.0.0" in output
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.0\n{VLLM} 2.0.0\n"
    record = json.loads((project_dir / DOWNGRADE_FILE).read_text())
    assert (record["name"], record["from"], record["to"]) == (GGUF, "2.0.1", "2.0.0")


def test_a_refused_lowering_writes_no_pin(
    project_dir: Path, two_formats: dict[str, Path], release_key: KeyPair
) -> None:
    """Every model is planned (target, old pin, the rollback check) before the one write."""
    shutil.copy(release_key.public, project_dir / "release.pub")
    (project_dir / "tether.toml").write_text(
        'store = "releases"\n[trust]\nkeys = ["release.pub"]\n'
    )
    pins = f"{GGUF} 1.0.0\n{VLLM} 3.0.0\n"
    (project_dir / PIN_FILE).write_text(pins)
    refused = cli("pin", "2.0.0", code=1).output  # raises phi3-gguf, lowers phi3-vllm
    assert f"lowering the pin of {VLLM} from model-v3.0.0 to model-v2.0.0" in refused
    assert (project_dir / PIN_FILE).read_text() == pins
    assert not (project_dir / DOWNGRADE_FILE).exists()
    output = cli("pin", "2.0.0", "--allow-downgrade").output
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.0\n{VLLM} 2.0.0\n"
    assert output.count("recorded the deliberate downgrade") == 1  # only phi3-vllm went down
    record = json.loads((project_dir / DOWNGRADE_FILE).read_text())
    assert (record["name"], record["from"], record["to"]) == (VLLM, "3.0.0", "2.0.0")


def test_release_from_a_folder_beside_several_pins(
    project_dir: Path, two_formats: dict[str, Path], tmp_path: Path
) -> None:
    """No --name: the release is named after its folder; the pins do not have to say which."""
    cli("pin", "2.0.0", "--name", VLLM)
    cli("pin", "2.0.1", "--name", GGUF)
    fixed = gguf_folder(tmp_path / "next" / GGUF, seed=4)  # its name: the folder's
    assert f"published {GGUF} model-v2.0.2" in cli("release", "--from", str(fixed)).output
    again = gguf_folder(tmp_path / "again" / GGUF, seed=5)
    given = cli("release", "--from", str(again), "--version", "3.0.0").output
    assert f"published {GGUF} model-v3.0.0" in given
    (project_dir / PIN_FILE).write_text(f"{GGUF} 4.0.0\n{VLLM} 2.0.0\n")  # pinned above the store
    named = gguf_folder(tmp_path / "named", seed=6)
    published = cli("release", "--from", str(named), "--name", GGUF).output
    assert f"published {GGUF} model-v4.0.1" in published  # past that model's pin


def git(project: Path, *args: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(project.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)


def test_pin_previous_reads_that_models_lines_in_git_history(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    git(project_dir, "init", "-q")
    for gguf in ("2.0.0", "2.0.1"):  # nothing promoted: guild's flow, with two formats
        (project_dir / PIN_FILE).write_text(f"{GGUF} {gguf}\n{VLLM} 2.0.0\n")
        git(project_dir, "add", PIN_FILE)
        git(project_dir, "commit", "-q", "-m", f"pin {gguf}")
    refused = cli("pin", "--previous", code=2).output  # phi3-vllm has nothing below 2.0.0
    assert f"no promoted release or earlier pin in git history of {VLLM} below 2.0.0" in refused
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.1\n{VLLM} 2.0.0\n"
    output = cli("pin", "--previous", "--name", GGUF).output
    assert f"pinned {GGUF} model-v2.0.0" in output and "deliberate downgrade" in output
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.0\n{VLLM} 2.0.0\n"


def test_pin_previous_counts_bare_lines_only_for_their_model(
    project_dir: Path, two_formats: dict[str, Path], tmp_path: Path
) -> None:
    """The bare 2.0.0 in git history was the recipe's model's: not phi3-vllm's."""
    (project_dir / "tether.toml").write_text(f'store = "releases"\nname = "{GGUF}"\n')
    newer = vllm_folder(tmp_path / "vllm-2.0.1")
    (newer / "model.safetensors").write_bytes(b"the next vLLM weights")
    cli("release", "--from", str(newer), "--name", VLLM, "--version", "2.0.1")
    git(project_dir, "init", "-q")
    for pins in ("2.0.0\n", f"{GGUF} 2.0.1\n{VLLM} 2.0.1\n"):
        (project_dir / PIN_FILE).write_text(pins)
        git(project_dir, "add", PIN_FILE)
        git(project_dir, "commit", "-q", "-m", "pin")
    refused = cli("pin", "--previous", "--name", VLLM, code=2).output
    assert f"no promoted release or earlier pin in git history of {VLLM} below 2.0.1" in refused
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.1\n{VLLM} 2.0.1\n"
    assert f"pinned {GGUF} model-v2.0.0" in cli("pin", "--previous", "--name", GGUF).output
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.0\n{VLLM} 2.0.1\n"


def test_bundle_holds_every_pinned_model(project_dir: Path, two_formats: dict[str, Path]) -> None:
    cli("pin", "2.0.0", "--name", VLLM)
    cli("pin", "2.0.1", "--name", GGUF)
    cli("fetch", "--name", VLLM)  # one already fetched: reused, the other downloaded
    out = project_dir / "build" / "bundle"
    output = cli("bundle", "--out", str(out)).output
    assert f"bundled {GGUF} model-v2.0.1 [all files]; {VLLM} model-v2.0.0 [all files]" in output
    record = json.loads((out / "tether-bundle.json").read_text())
    held = {p["name"]: (p["path"], p["release"]) for p in record["profiles"]}
    assert held == {
        GGUF: (f"embedding_models/{GGUF}", "model-v2.0.1"),
        VLLM: (f"embedding_models/{VLLM}", "model-v2.0.0"),
    }
    for name, source in two_formats.items():
        for path in source.iterdir():
            assert sha256_file(out / "embedding_models" / name / path.name) == sha256_file(path)
    verified = cli("bundle", "verify", str(out)).output
    assert f"{GGUF} model-v2.0.1" in verified and f"{VLLM} model-v2.0.0" in verified
    assert "BAD" not in cli("audit", "--bundle", str(out)).output
    one = project_dir / "build" / "one"
    cli("bundle", "--out", str(one), "--name", VLLM)
    record = json.loads((one / "tether-bundle.json").read_text())
    assert [p["name"] for p in record["profiles"]] == [VLLM]


def test_a_bundle_refuses_two_releases_of_one_profile_id(project_dir: Path, tmp_path: Path) -> None:
    """The runtime finds a bundled embedder by its profile id: two cannot share the folder."""
    (project_dir / "tether.toml").write_text('store = "releases"\n')
    for name in ("emb-a", "emb-b"):
        build = make_small_release(tmp_path / name, seed=1)
        cli("release", "--from", str(build), "--name", name, "--version", "1.0.0")
    for name in ("emb-a", "emb-b"):  # the store holds both: each gets its line
        cli("pin", "1.0.0", "--name", name)
    out = project_dir / "build" / "bundle"
    refused = cli("bundle", "--out", str(out), code=2).output
    assert "emb-b is profile local-text-retrieval-v1" in refused
    assert "one release per profile id" in refused
    assert not out.exists()


# --- the file ---------------------------------------------------------------------------------


def test_named_pins_round_trip_in_name_order_keeping_comments(tmp_path: Path) -> None:
    write_pins(tmp_path, {"zeta": "v1.0.0", "alpha": "2.0.0-rc.1"})
    assert (tmp_path / PIN_FILE).read_text() == "alpha 2.0.0-rc.1\nzeta 1.0.0\n"
    (tmp_path / PIN_FILE).write_text(
        "# the exports of phi3 (tests/spine/test_named_pins.py)\nalpha 2.0.0-rc.1\n\n"
        "zeta 1.0.0  # the Q4 fix\n"
    )
    pins = write_pins(tmp_path, {"mid": "3.0.0", "zeta": "1.0.1"})
    assert (tmp_path / PIN_FILE).read_text() == (
        "# the exports of phi3 (tests/spine/test_named_pins.py)\nalpha 2.0.0-rc.1\n\n"
        "mid 3.0.0\nzeta 1.0.1  # the Q4 fix\n"
    )
    assert pins.named == {"alpha": "2.0.0-rc.1", "mid": "3.0.0", "zeta": "1.0.1"}
    assert read_pin(tmp_path, "mid") == "3.0.0" and read_pin(tmp_path, "other") is None
    with pytest.raises(InvalidNameError, match=r"pins several models \(alpha, mid, zeta\)"):
        read_pin(tmp_path)
    write_pins(tmp_path, {"only": "1.0.0"}, default="only")  # named stay named
    assert read_pins(tmp_path).named["only"] == "1.0.0"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a 1.0.0\nb 1.0.0\na 1.0.1\n", r"line 3: a is pinned again \(first on line 1\)"),
        ("a 1.0.0\n-bad 1.0.0\n", r"line 2: invalid name '-bad': it starts with '-'"),
        ("a 1.0.0\n\nb latest\n", r"line 3 does not hold a version"),
        ("1.0.0\nb 1.0.0\n", r"line 2: a named pin after the bare version on line 1"),
        ("b 1.0.0\n1.0.0\n", r"line 2: a bare version among named pins"),
        ("1.0.0\n1.0.1\n", r"line 2: a second bare version \(the first is on line 1\)"),
        ("# only a comment\na 1.0.0 1.0.1\n", r"line 2: 'a 1.0.0 1.0.1' is neither VERSION"),
        ("1.0.1 2.0.0\n", r"line 1: '1.0.1' is a version, not a model name"),
        ("# nothing\n\n", r"does not hold a version \(no pin in it\)"),
    ],
)
def test_refusals_name_their_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / PIN_FILE).write_text(text)
    with pytest.raises(PinNotFoundError, match=message) as refused:
        read_pins(tmp_path)
    assert "\n" not in refused.value.one_line() and refused.value.hint
    with pytest.raises(PinNotFoundError):  # a named write never overwrites what it cannot read
        write_pins(tmp_path, {"c": "1.0.0"})
    assert (tmp_path / PIN_FILE).read_text() == text


def test_a_bad_file_is_one_line_error_from_the_cli(project_dir: Path) -> None:
    (project_dir / PIN_FILE).write_text("a 1.0.0\na 1.0.1\n")
    result = CliRunner().invoke(main, ["fetch"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{PIN_FILE} line 2: a is pinned again (first on line 1)" in result.output


def test_a_single_model_pin_leaves_the_bare_file_as_it_is(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    (project_dir / "tether.toml").write_text(f'store = "releases"\nname = "{GGUF}"\n')
    cli("pin", "2.0.0")
    assert (project_dir / PIN_FILE).read_text() == "2.0.0\n"
    cli("pin", "2.0.1", "--name", GGUF)  # the recipe's own model: still the bare file
    assert (project_dir / PIN_FILE).read_text() == "2.0.1\n"
    assert "already holds" not in cli("fetch").output
    assert read_prepared(project_dir / "data" / "embedding_models" / GGUF).release == (  # type: ignore[union-attr]
        "model-v2.0.1"
    )
    cli("pin", "2.0.0", "--name", VLLM)  # a second model: the bare line becomes the recipe's
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.1\n{VLLM} 2.0.0\n"


def test_a_bare_pin_of_an_unknown_model_is_not_guessed(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    (project_dir / PIN_FILE).write_text("2.0.0\n")  # whose? the store holds two names
    refused = cli("pin", "2.0.1", "--name", GGUF, code=2).output
    assert "holds one bare version (2.0.0) and the project names no model it is for" in refused
    assert "write its line yourself: NAME 2.0.0" in refused
    assert (project_dir / PIN_FILE).read_text() == "2.0.0\n"


def test_a_single_model_project_pins_with_its_name_in_the_bare_file(
    project_dir: Path, tmp_path: Path
) -> None:
    """guild: no name in tether.toml, the store's only model; --name it keeps the bare file."""
    (project_dir / "tether.toml").write_text('store = "releases"\n')
    for seed, version in enumerate(("1.0.0", "1.0.1", "2.0.0"), start=1):
        build = make_small_release(tmp_path / version, seed=seed)
        cli("release", "--from", str(build), "--name", "guild-model", "--version", version)
    cli("pin", "2.0.0", "--name", "guild-model")  # a fresh project
    assert (project_dir / PIN_FILE).read_text() == "2.0.0\n"
    (project_dir / PIN_FILE).write_text("1.0.0\n")
    assert "pinned guild-model model-v1.0.1" in cli("pin", "1.0.1", "--name", "guild-model").output
    assert (project_dir / PIN_FILE).read_text() == "1.0.1\n"


def test_a_bare_pin_joins_named_ones_as_the_model_that_has_its_version(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    """No name in tether.toml and two models in the store: only phi3-gguf has 2.0.1."""
    (project_dir / PIN_FILE).write_text("2.0.1\n")
    assert f"pinned {GGUF} model-v2.0.0" in cli("pin", "2.0.0").output  # its model, no --name
    assert (project_dir / PIN_FILE).read_text() == "2.0.0\n"
    (project_dir / PIN_FILE).write_text("2.0.1\n")
    cli("pin", "2.0.0", "--name", VLLM)
    assert (project_dir / PIN_FILE).read_text() == f"{GGUF} 2.0.1\n{VLLM} 2.0.0\n"


def test_a_bare_line_becomes_named_with_its_comment(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    (project_dir / "tether.toml").write_text(f'store = "releases"\nname = "{GGUF}"\n')
    (project_dir / PIN_FILE).write_text("# phi3's exports\n2.0.1  # the Q4 fix\n")
    cli("pin", "2.0.0", "--name", VLLM)
    assert (project_dir / PIN_FILE).read_text() == (
        f"# phi3's exports\n{GGUF} 2.0.1  # the Q4 fix\n{VLLM} 2.0.0\n"
    )


def test_a_bare_pin_answers_for_any_name_until_a_second_model_is_pinned(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    """Read back, a bare file is the project's one model's pin, whatever --name asks (the
    documented rule, docs/spine.md); pinning a second model gives each its own line."""
    (project_dir / "tether.toml").write_text(f'store = "releases"\nname = "{GGUF}"\n')
    (project_dir / PIN_FILE).write_text("2.0.0\n")
    assert f"fetched {VLLM} model-v2.0.0" in cli("fetch", "--name", VLLM).output
    assert read_pin(project_dir, "any-name") == "2.0.0"
    refused = cli("pin", "--previous", "--name", VLLM, code=2).output  # a write asks whose
    assert f"pins no {VLLM} (it holds the bare pin of {GGUF})" in refused
    cli("pin", "2.0.0", "--name", VLLM)  # the second model: the bare line becomes phi3-gguf's
    assert read_pin(project_dir, "any-name") is None
    refused = cli("fetch", "--name", "any-name", code=2).output
    assert f"pins no any-name (it holds {GGUF}, {VLLM})" in refused
    assert "pin it: tether pin VERSION --name any-name" in refused


# --- promote, revert and rollback records per name ------------------------------------------


def test_promote_and_revert_with_name_touch_only_that_line(
    project_dir: Path, tmp_path: Path
) -> None:
    (project_dir / "tether.toml").write_text('store = "releases"\n')
    store = FileStore(project_dir / "releases")
    dataset = load_dataset()
    values = {"ndcg@10": 0.9, "recall@10": 0.9, "recall@100": 1.0, "mrr@10": 0.8}
    numbers = {"dataset": dataset.as_record(), "variants": {"fp32": values, "int8": values}}
    parity = {"int8": {"reference": "fp32", "mean": 0.99, "min": 0.95}}
    for name in ("emb-a", "emb-b"):
        for version in ("1.0.0", "1.1.0"):
            folder = make_small_release(tmp_path / name / version, seed=1)
            (folder / "probe.json").write_text(json.dumps({"texts": [], "parity": parity}))
            publish_release(store, folder, name=name, version=version)
            write_eval(store, name, version, numbers)
        promote(store, name, "1.0.0")
    (project_dir / PIN_FILE).write_text("# two embedders\nemb-a 1.0.0\nemb-b 1.0.0\n")

    assert "pinned emb-b model-v1.1.0" in cli("promote", "1.1.0", "--name", "emb-b").output
    assert (project_dir / PIN_FILE).read_text() == "# two embedders\nemb-a 1.0.0\nemb-b 1.1.0\n"
    assert release_info(store, "emb-a", "1.1.0").state == "pre-release"

    reverted = cli("revert", "--name", "emb-b").output
    assert "pinned emb-b model-v1.0.0" in reverted and "withdrawn" in reverted
    assert (project_dir / PIN_FILE).read_text() == "# two embedders\nemb-a 1.0.0\nemb-b 1.0.0\n"
    assert release_info(store, "emb-b", "1.1.0").state == "withdrawn"
    assert release_info(store, "emb-a", "1.1.0").state == "pre-release"
    step = read_step(project_dir, "emb-b")
    assert step is not None and (step.old, step.new) == ("1.1.0", "1.0.0")
    assert read_step(project_dir, "emb-a") is None


def test_downgrade_records_are_per_name(tmp_path: Path) -> None:
    note_pin_change(tmp_path, "a", "2.0.1", "2.0.0", deliberate=True)
    single = json.loads((tmp_path / DOWNGRADE_FILE).read_text())
    assert (single["schema"], single["name"], single["to"]) == (1, "a", "2.0.0")  # as ever
    note_pin_change(tmp_path, "b", "1.0.1", "1.0.0", deliberate=True)
    both = json.loads((tmp_path / DOWNGRADE_FILE).read_text())
    assert both["schema"] == 2 and [s["name"] for s in both["steps"]] == ["a", "b"]
    a, b = read_step(tmp_path, "a"), read_step(tmp_path, "b")
    assert a is not None and b is not None and (a.new, b.new) == ("2.0.0", "1.0.0")
    note_pin_change(tmp_path, "b", "1.0.0", "1.0.5", deliberate=False)  # b raised: its step goes
    assert read_step(tmp_path, "b") is None
    kept = read_step(tmp_path, "a")
    assert kept is not None and kept.id == a.id  # a's step untouched
    note_pin_change(tmp_path, "a", "2.0.0", "2.0.2", deliberate=False)
    assert not (tmp_path / DOWNGRADE_FILE).exists()


# --- light no-ops, the Go path's script ------------------------------------------------------


def test_a_noop_fetch_of_named_pins_stays_light(
    project_dir: Path, two_formats: dict[str, Path]
) -> None:
    cli("pin", "2.0.0", "--name", VLLM)
    cli("pin", "2.0.1", "--name", GGUF)
    cli("fetch")
    probe = (
        "import json, sys\n"
        "from tether.spine import fetch_pins\n"
        f"results = fetch_pins({str(project_dir)!r})\n"
        "print(json.dumps([[r.changed for r in results], sorted(sys.modules)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    changed, modules = json.loads(done.stdout)
    assert changed == [False, False]
    heavy = ("tether.spine.fetch", "tether.spine.trust", "tether.stores.file", "tether.signing")
    assert [m for m in modules if m.startswith(heavy)] == []


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The test's output stays the script's."""


def test_the_go_path_script_reads_its_models_line(tmp_path: Path) -> None:
    """The script fetches the release its line pins, from a folder store served over HTTP
    as a public S3 bucket (the layouts are one): the MANIFEST.txt and files it verified."""
    served = tmp_path / "served"
    store = FileStore(served / "bucket")
    sources = {}
    for name, version, seed in ((VLLM, "2.0.0", 1), (GGUF, "2.0.0", 2), (GGUF, "2.0.1", 3)):
        sources[name, version] = gguf_folder(tmp_path / f"{name}-{version}", seed=seed)
        publish_release(store, sources[name, version], name=name, version=version)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    repo = tmp_path / "repo"
    repo.mkdir()
    init = ["init", "--project", str(repo), "--ci", "github", "--app-kind", "other"]
    cli(*init, "--revision", "0" * 40, "--profile-id", GGUF)
    dash = shutil.which("dash")
    assert dash is not None, "apt-get install dash"

    def run(pins: str, **env: str) -> subprocess.CompletedProcess[str]:
        (repo / PIN_FILE).write_text(pins)
        return subprocess.run(
            [dash, FETCH_SCRIPT, "model"],
            cwd=repo,
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], "TETHER_STORE": f"s3://bucket?endpoint={endpoint}"}
            | env,
            check=False,
            timeout=120,
        )

    def fetched(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
        """(name, version) of the release the script put in model/, each file checked."""
        assert done.returncode == 0, done.stderr
        header = (repo / "model" / "MANIFEST.txt").read_text().splitlines()[0].split()
        name, version = header[1], header[2].removeprefix("model-v")
        for path in sources[name, version].iterdir():
            assert sha256_file(repo / "model" / path.name) == sha256_file(path), path.name
        return name, version

    try:
        assert fetched(run("2.0.0\n")) == (GGUF, "2.0.0")  # the single-model file, as ever
        named = f"# formats\n{VLLM} 2.0.0\n{GGUF} v2.0.1\n"
        assert fetched(run(named)) == (GGUF, "2.0.1")  # the recipe's model (@MODEL_NAME@)
        assert fetched(run(named, TETHER_NAME=VLLM)) == (VLLM, "2.0.0")
    finally:
        server.shutdown()
        server.server_close()
    missing = run(named, TETHER_NAME="other")
    assert missing.returncode == 1 and "pins no other; set TETHER_NAME" in missing.stderr
    bad = run(f"{GGUF} latest\n")
    assert bad.returncode == 1 and "holds 'latest', not a version like 1.0.1" in bad.stderr


def test_a_bad_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(TetherError):
        write_pins(tmp_path, {"Bad Name": "1.0.0"})
    assert not (tmp_path / PIN_FILE).exists()


def test_write_pin_writes_the_bare_file_and_never_over_named_pins(tmp_path: Path) -> None:
    assert write_pin(tmp_path, "v1.0.1") == "1.0.1"
    assert (tmp_path / PIN_FILE).read_text() == "1.0.1\n"
    (tmp_path / PIN_FILE).write_text("a 1.0.0\n")
    with pytest.raises(InvalidNameError, match="holds named pins"):
        write_pin(tmp_path, "2.0.0")
    assert (tmp_path / PIN_FILE).read_text() == "a 1.0.0\n"


def test_fetch_pinned_is_one_model(project_dir: Path, two_formats: dict[str, Path]) -> None:
    cli("pin", "2.0.0", "--name", VLLM)
    cli("pin", "2.0.1", "--name", GGUF)
    with pytest.raises(InvalidNameError, match=r"pins several models \(phi3-gguf, phi3-vllm\)"):
        fetch_pinned(project_dir)
    assert not (project_dir / "data").exists()  # refused before anything was fetched
    result = fetch_pinned(project_dir, name=GGUF)
    assert (result.prepared.name, result.prepared.release) == (GGUF, "model-v2.0.1")
    assert not (project_dir / "data" / "embedding_models" / VLLM).exists()


# --- properties of the parser ------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,12}(\.[a-z0-9_-]{1,5})?", fullmatch=True)
VERSIONS = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 10**6),) * 3)


@settings(max_examples=60, deadline=None)
@given(pins=st.dictionaries(NAMES, VERSIONS, min_size=1, max_size=6))
def test_any_named_pins_round_trip(pins: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        written = write_pins(Path(folder), pins)
        lines = (Path(folder) / PIN_FILE).read_text().splitlines()
    assert written.named == pins
    assert lines == [f"{name} {pins[name]}" for name in sorted(pins)]


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab1.0-v #\n\t\r\u00a0")), max_size=60))
def test_any_text_parses_or_is_refused_in_one_line(text: str) -> None:
    try:
        pins = parse_pins(text, Path(PIN_FILE))
    except PinNotFoundError as exc:
        assert "\n" not in exc.one_line()
        return
    assert (pins.bare is None) != (not pins.named)  # one bare version, or named pins
