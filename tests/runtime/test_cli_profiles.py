"""tether resolve / tether embed through the real CLI group (tiny model; one MiniLM run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import tether
from tests.runtime.helpers import PROFILE_ID, break_folder, prepare_folder
from tether.cli import main


def run(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_resolve_prints_folder_variant_and_model_id(tiny_folder: Path) -> None:
    code, out, _ = run("resolve", PROFILE_ID, "--path", str(tiny_folder), "--variant", "fp32")
    assert code == 0
    assert out.strip().split("\t") == [str(tiny_folder), "fp32", f"{PROFILE_ID}-32d-fp32-mlen32"]


def test_resolve_explain_shows_the_trail(tiny_release: Path, tmp_path: Path) -> None:
    broken = prepare_folder(tiny_release, tmp_path / "a" / PROFILE_ID)
    break_folder(broken, "missing_tokenizer")
    good = prepare_folder(tiny_release, tmp_path / "data" / "embedding_models" / PROFILE_ID)
    code, out, _ = run(
        "resolve", PROFILE_ID, "--explain", "--path", str(broken), "--project", str(tmp_path)
    )
    assert code == 0
    assert "rejected: tokenizer.json is missing: tokenizer.json" in out
    assert f"-> {good}" in out and "complete: chosen" in out


def test_resolve_nothing_complete_exits_2_with_the_trail_and_fix() -> None:
    code, _, err = run("resolve", PROFILE_ID, "--variant", "int8")
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: no complete profile folder") and "tether fetch" in lines[0]
    assert any("user-data" in line and "no folder here" in line for line in lines[1:])


def test_embed_arguments_to_jsonl_on_stdout(tiny_folder: Path) -> None:
    code, out, err = run("embed", "--profile", PROFILE_ID, "--path", str(tiny_folder), "a", "b c")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in records] == [0, 1]
    model_id = records[0]["model_id"]
    expected = tether.load(PROFILE_ID, path=tiny_folder).embed(["a", "b c"])
    assert model_id == tether.load(PROFILE_ID, path=tiny_folder).model_id
    got = np.array([r["vector"] for r in records], dtype=np.float32)
    assert np.array_equal(got, expected)  # 9 significant digits give back the float32
    assert "embedded 2 texts" in err


def test_embed_stdin_to_npy(tiny_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "v.npy"
    code, _, err = run(
        "embed", "--stdin", "--out", str(out), "--path", str(tiny_folder), "--variant", "fp32",
        input="first line\nsecond line\n\nfourth\n", env={"TETHER_PROFILE": PROFILE_ID},
    )  # fmt: skip
    assert code == 0, err
    vectors = np.load(out)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32


def test_embed_jsonl_with_field_and_ids(tiny_folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(
        json.dumps({"id": "d1", "body": "alpha"}) + "\n\n" + json.dumps("beta") + "\n"
    )
    out = tmp_path / "v.jsonl"
    code, _, err = run(
        "embed", "--jsonl", str(source), "--field", "body", "--out", str(out),
        "--profile", PROFILE_ID, "--path", str(tiny_folder), "--threads", "1",
    )  # fmt: skip
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["index"], r["id"]) for r in records] == [(0, "d1"), (1, None)]


def test_embed_profile_from_the_project_recipe(tiny_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(f'[profile]\nid = "{PROFILE_ID}"\n')
    code, _, err = run("embed", "x", "--path", str(tiny_folder), "--project", str(tmp_path))
    assert code == 0, err


def test_embed_usage_errors_exit_2(tiny_folder: Path, tmp_path: Path) -> None:
    path = ("--profile", PROFILE_ID, "--path", str(tiny_folder))
    code, _, err = run("embed", *path)
    assert code == 2 and "give the texts one way" in err
    code, _, err = run("embed", "x", "--stdin", *path, input="y\n")
    assert code == 2 and "one way" in err
    code, _, err = run("embed", "x", "--out", str(tmp_path / "v.csv"), *path)
    assert code == 2 and ".npy or .jsonl" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no text"}\n')
    code, _, err = run("embed", "--jsonl", str(bad), *path)
    assert code == 2 and "--field" in err
    code, _, err = run("embed", "x", "--path", str(tiny_folder))
    assert code == 2 and "no profile id given" in err


def test_embed_probe_failure_exits_1(tiny_folder: Path) -> None:
    from tests.runtime.helpers import replace_file

    probe = json.loads((tiny_folder / "probe.json").read_text())
    probe["fp32"] = [[-x for x in row] for row in probe["fp32"]]
    data = json.dumps(probe).encode()
    replace_file(tiny_folder / "probe.json", data)
    record = json.loads((tiny_folder / ".prepared.json").read_text())
    record["files"]["probe.json"]["size"] = len(data)
    replace_file(tiny_folder / ".prepared.json", json.dumps(record).encode())
    code, _, err = run(
        "embed", "x", "--probe", "--profile", PROFILE_ID, "--path", str(tiny_folder),
        "--variant", "fp32",
    )  # fmt: skip
    assert code == 1 and "probe self-test failed" in err


def test_minilm_resolve_explain_and_embed(minilm_folder: Path, tmp_path: Path) -> None:
    code, out, _ = run("resolve", PROFILE_ID, "--explain", "--path", str(minilm_folder))
    assert code == 0 and "model-v1.0.0" in out and "complete: chosen" in out
    out_file = tmp_path / "v.npy"
    code, _, err = run(
        "embed", "--profile", PROFILE_ID, "--path", str(minilm_folder), "--out", str(out_file),
        "how do I reset my password", "forgot my password", "rain tomorrow",
    )  # fmt: skip
    assert code == 0, err
    vectors = np.load(out_file)
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
