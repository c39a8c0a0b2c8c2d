"""profile.json contract and the stat-only completeness check (fake files: no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runtime.helpers import PROFILE_ID, make_fake_folder, profile_dict
from tether.errors import ManifestError, RuntimeOptionError, TetherError
from tether.names import PREPARED_FILE
from tether.profile import (
    REASONS,
    Profile,
    ProfileFolder,
    already_prepared,
    parse_profile,
    read_profile,
)


def set_recorded(folder: Path, rel: str, size: int) -> None:
    record = json.loads((folder / PREPARED_FILE).read_text())
    record["files"][rel] = {"size": size, "sha256": "f" * 64}
    (folder / PREPARED_FILE).write_text(json.dumps(record))


def check(folder: Path, variant: str = "int8", **kwargs: object) -> str:
    rejection = ProfileFolder.open(folder, PROFILE_ID, kwargs.pop("expect", None)).check(
        variant, **kwargs
    )
    return "complete" if rejection is None else rejection.reason


# --- profile.json ---------------------------------------------------------------------------


def test_parse_profile_reads_the_contract() -> None:
    profile = parse_profile(profile_dict())
    assert profile.dim == 384 and profile.pooling == "mean" and profile.max_length == 256
    assert profile.variants["int8"].file == "onnx/model_quantized.onnx"
    assert profile.variants["int8"].dynamic_quantization
    assert not profile.variants["fp32"].dynamic_quantization
    assert profile.model_id("int8") == "local-text-retrieval-v1-384d-int8-mlen256"
    assert profile.contract()["tokenizer_sha256"] == "ab" * 32


def test_prompts_and_truncation_are_part_of_the_contract_and_the_stamp() -> None:
    plain = parse_profile(profile_dict())
    assert plain.prompts == {} and plain.default_prompt_name is None and plain.native_dim is None
    assert plain.model_dim == 384 and plain.prompt_text(None) == ""
    prompts = {"query": "query: ", "document": "passage: "}
    data = profile_dict(prompts=prompts, default_prompt_name="query", dim=256, native_dim=384)
    profile = parse_profile(data)
    assert profile.model_dim == 384 and profile.dim == 256
    assert profile.prompt_text(None) == "query: " and profile.prompt_text("document") == "passage: "
    with pytest.raises(RuntimeOptionError, match="has no prompt 'passage'"):
        profile.prompt_text("passage")
    model_id = profile.model_id("fp32")
    assert model_id.startswith("local-text-retrieval-v1-256of384d-fp32-mlen256-p")
    contract = profile.contract()
    assert contract["prompts"] == prompts and contract["native_dim"] == 384
    # every prompt change changes the stamp, the default prompt name too
    for change in ({"prompts": {**prompts, "query": "q: "}}, {"default_prompt_name": None}):
        assert parse_profile({**data, **change}).model_id("fp32") != model_id
    assert profile.differences({"prompts": {}}) == [f"prompts: have {prompts!r}, asked {{}}"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"prompts": {"query": 1}}, "'prompts' must map prompt names to strings"),
        ({"prompts": ["query: "]}, "'prompts' has the wrong type"),
        ({"default_prompt_name": "query"}, "'default_prompt_name' 'query' is not one of"),
        ({"native_dim": 384}, "'native_dim' 384 must be above dim 384"),
        ({"native_dim": True}, "'native_dim'"),
    ],
)
def test_bad_prompt_and_dim_fields_are_refused(changes: dict, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        parse_profile(profile_dict(**changes))


def test_parse_profile_keeps_unknown_keys_and_defaults() -> None:
    data = profile_dict(extra_key={"anything": 1})
    del data["output"], data["inputs"], data["normalize"]
    profile = parse_profile(data)
    assert profile.output == "last_hidden_state" and profile.normalize is True
    assert profile.raw["extra_key"] == {"anything": 1}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"dim": "384"}, "'dim' has the wrong type"),
        ({"dim": True}, "'dim' has the wrong type"),
        ({"dim": 0}, "positive"),
        ({"pooling": "max"}, "pooling 'max'"),
        ({"normalize": "yes"}, "'normalize' has the wrong type"),
        ({"variants": {}}, "'variants' is empty"),
        ({"variants": {"fp32": {}}}, "needs a 'file'"),
        ({"variants": {"fp32": {"file": "../escape.onnx"}}}, "unsafe file path"),
        ({"variants": {"fp32": {"file": "m.onnx", "data": "m.onnx_data"}}}, "'data' must be"),
        ({"variants": {"fp32": {"file": "m.onnx", "external_data": 3}}}, "'external_data' must"),
        ({"variants": {"fp32": {"file": "m.onnx", "external_data": ["../x"]}}}, "unsafe file"),
        ({"variants": {"fp32": {"file": "m.onnx", "quantization": "int8"}}}, "'quantization'"),
        ({"variants": ["fp32"]}, "'variants' has the wrong type"),
        ({"inputs": []}, "'inputs'"),
    ],
)
def test_parse_profile_refuses_bad_fields(changes: dict, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        parse_profile(profile_dict(**changes))


def test_parse_profile_needs_the_core_fields() -> None:
    data = profile_dict()
    del data["max_length"]
    with pytest.raises(ManifestError, match="missing 'max_length'"):
        parse_profile(data)
    with pytest.raises(ManifestError, match="not a JSON object"):
        parse_profile([1, 2])


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark: json refuses it
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # nesting past the recursion limit
        (b"[1, 2]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "missing 'profile_id'"),
        (json.dumps(profile_dict(dim=float("nan"))).encode(), "'dim' has the wrong type"),
        (json.dumps(profile_dict(variants={"fp32": None})).encode(), "needs a 'file'"),
        (json.dumps(profile_dict(inputs=[1])).encode(), "'inputs'"),
    ],
)
def test_from_bytes_turns_every_malformed_input_into_one_line(raw: bytes, words: str) -> None:
    with pytest.raises(ManifestError, match=words) as caught:
        Profile.from_bytes(raw, where="profile.json of demo")
    assert isinstance(caught.value, TetherError)
    assert str(caught.value).startswith("profile.json of demo")
    assert "\n" not in caught.value.message


def test_from_bytes_reads_what_parse_profile_reads() -> None:
    data = profile_dict()
    assert Profile.from_bytes(json.dumps(data).encode()) == parse_profile(data)


# --- the files a variant needs ----------------------------------------------------------------


def test_variant_files_finds_onnx_sidecars_in_the_listing() -> None:
    profile = parse_profile(profile_dict())
    listing = [
        "profile.json",
        "onnx/model.onnx",
        "onnx/model.onnx_data_1",
        "onnx/model.onnx_data",
        "onnx/model_quantized.onnx",
        "onnx/model_quantized.onnx_data",
        "onnx/other.onnx_data",
    ]
    assert profile.variant_files(listing) == {
        "fp32": ["onnx/model.onnx", "onnx/model.onnx_data", "onnx/model.onnx_data_1"],
        "int8": ["onnx/model_quantized.onnx", "onnx/model_quantized.onnx_data"],
    }
    assert profile.variant_files(iter(listing)) == profile.variant_files(listing)  # any iterable


def test_variant_files_adds_declared_external_data() -> None:
    data = profile_dict()
    data["variants"]["fp32"]["external_data"] = ["onnx/weights.bin", "onnx/weights_2.bin"]
    data["variants"]["int8"]["external_data"] = "onnx/int8.bin"  # what tether build writes
    profile = parse_profile(data)
    assert profile.variants["int8"].external_data == ("onnx/int8.bin",)
    files = profile.variant_files(["onnx/model.onnx", "onnx/model.onnx_data"])
    assert files == {  # declared files are needed even when the listing lacks them
        "fp32": [
            "onnx/model.onnx",
            "onnx/model.onnx_data",
            "onnx/weights.bin",
            "onnx/weights_2.bin",
        ],
        "int8": ["onnx/model_quantized.onnx", "onnx/int8.bin"],
    }


def test_the_old_data_key_is_still_read() -> None:
    data = profile_dict()
    data["variants"]["fp32"]["data"] = ["onnx/old.bin"]
    data["variants"]["fp32"]["external_data"] = "onnx/old.bin"
    profile = parse_profile(data)
    assert profile.variants["fp32"].external_data == ("onnx/old.bin",)
    assert profile.variant_files([])["fp32"] == ["onnx/model.onnx", "onnx/old.bin"]


def test_read_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_profile(tmp_path)
    (tmp_path / "profile.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_profile(tmp_path)


def test_unknown_expect_keys_are_refused() -> None:
    with pytest.raises(RuntimeOptionError, match="dimension"):
        parse_profile(profile_dict()).differences({"dimension": 384})


# --- completeness ---------------------------------------------------------------------------


def test_complete_folder_for_both_variants_without_hashing(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)  # sha256 in the record are all wrong
    assert check(folder, "int8") == "complete"
    assert check(folder, "fp32") == "complete"


def test_absent_folder_and_absent_record(tmp_path: Path) -> None:
    assert check(tmp_path / "nothing") == "not_found"
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    (folder / PREPARED_FILE).unlink()
    assert check(folder) == "no_prepared"
    (folder / PREPARED_FILE).write_text("{broken")
    assert check(folder) == "prepared_malformed"


def test_profile_json_missing_malformed_or_resized(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    (folder / "profile.json").write_text("{}")
    assert check(folder) == "profile_malformed"
    (folder / "profile.json").unlink()
    assert check(folder) == "missing_profile"
    folder = make_fake_folder(tmp_path / "again" / PROFILE_ID)
    (folder / "profile.json").write_text(json.dumps(profile_dict(), indent=4))  # same contract
    assert check(folder) == "size_differs"


def test_contract_differs_for_other_profile_id_or_expectations(tmp_path: Path) -> None:
    other = make_fake_folder(
        tmp_path / "a" / PROFILE_ID, profile=profile_dict(profile_id="other-v1")
    )
    assert check(other) == "contract_differs"
    folder = make_fake_folder(tmp_path / "b" / PROFILE_ID)
    assert check(folder, expect={"dim": 384, "max_length": 256}) == "complete"
    opened = ProfileFolder.open(folder, PROFILE_ID, {"dim": 768})
    assert opened.check("int8").reason == "contract_differs"
    assert "dim: have 384, asked 768" in str(opened.check("int8"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("delete tokenizer", "missing_tokenizer"),
        ("unlist tokenizer", "missing_tokenizer"),
        ("delete model", "missing_model"),
        ("empty model", "zero_byte"),
        ("grow model", "size_differs"),
    ],
)
def test_each_damage_has_its_reason(tmp_path: Path, damage: str, reason: str) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID, variants=("int8",))
    model = folder / "onnx/model_quantized.onnx"
    if damage == "delete tokenizer":
        (folder / "tokenizer.json").unlink()
    elif damage == "unlist tokenizer":
        record = json.loads((folder / PREPARED_FILE).read_text())
        del record["files"]["tokenizer.json"]
        (folder / PREPARED_FILE).write_text(json.dumps(record))
    elif damage == "delete model":
        model.unlink()
    elif damage == "empty model":
        model.write_bytes(b"")
    elif damage == "grow model":
        model.write_bytes(model.read_bytes() + b"!")
    assert check(folder, "int8") == reason


def test_only_the_other_variant_present(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID, variants=("fp32",))
    assert check(folder, "int8") == "only_other_variant"
    assert check(folder, "fp32") == "complete"
    rejection = ProfileFolder.open(folder, PROFILE_ID).check("int8")
    assert str(rejection) == "only the other variant is present: fp32 present, int8 asked"


def test_unknown_variant(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    assert check(folder, "int4") == "variant_unknown"


def test_external_data_sidecar_listed_by_the_record(tmp_path: Path) -> None:
    sidecar = "onnx/model_quantized.onnx_data"
    folder = make_fake_folder(tmp_path / PROFILE_ID, extra={sidecar: b"weights"})
    assert check(folder, "int8") == "complete"
    (folder / sidecar).unlink()
    assert check(folder, "int8") == "missing_sidecar"
    assert check(folder, "fp32") == "complete"  # the other variant's sidecar does not matter
    (folder / sidecar).write_bytes(b"")
    assert check(folder, "int8") == "zero_byte"


def test_external_data_sidecar_declared_in_profile(tmp_path: Path) -> None:
    profile = profile_dict()
    profile["variants"]["fp32"]["external_data"] = ["onnx/weights.bin"]
    folder = make_fake_folder(
        tmp_path / PROFILE_ID, profile=profile, extra={"onnx/weights.bin": b"w"}
    )
    assert check(folder, "fp32") == "complete"
    set_recorded(folder, "onnx/weights.bin", 5)
    assert check(folder, "fp32") == "size_differs"
    record = json.loads((folder / PREPARED_FILE).read_text())
    del record["files"]["onnx/weights.bin"]
    (folder / PREPARED_FILE).write_text(json.dumps(record))
    assert check(folder, "fp32") == "missing_sidecar"


def test_probe_needed_only_for_the_self_test(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    assert check(folder, need_probe=False) == "complete"
    assert check(folder, need_probe=True) == "missing_probe"
    folder = make_fake_folder(tmp_path / "b" / PROFILE_ID, extra={"probe.json": b"{}"})
    assert check(folder, need_probe=True) == "complete"


def test_every_reason_has_words() -> None:
    assert all(words and not words.endswith(".") for words in REASONS.values())


# --- already prepared ---------------------------------------------------------------------------


def test_already_prepared_for_one_or_both_variants(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    assert already_prepared(folder, PROFILE_ID, "model-v1.0.0", "both") is not None
    assert already_prepared(folder, PROFILE_ID, "model-v1.0.1", "both") is None
    assert already_prepared(folder, PROFILE_ID, "model-v1.0.0", "int8") is None  # holds both
    only_int8 = make_fake_folder(tmp_path / "b" / PROFILE_ID, variants=("int8",))
    assert already_prepared(only_int8, PROFILE_ID, "model-v1.0.0", "int8") is not None
    assert already_prepared(only_int8, PROFILE_ID, "model-v1.0.0", "both") is None


def test_already_prepared_is_none_for_a_bad_profile_or_a_resized_file(tmp_path: Path) -> None:
    folder = make_fake_folder(tmp_path / PROFILE_ID)
    (folder / "onnx/model.onnx").write_bytes(b"changed size")
    assert already_prepared(folder, PROFILE_ID, "model-v1.0.0", "both") is None
    folder = make_fake_folder(tmp_path / "b" / PROFILE_ID)
    (folder / "profile.json").write_bytes(b"\xff")
    assert already_prepared(folder, PROFILE_ID, "model-v1.0.0", "both") is None
