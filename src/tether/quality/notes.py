"""Release notes (what changed against the previous release) and the Hugging Face model card.

The release's own README.md is written by ``tether build`` and, like every release file,
never changes; evaluation results arrive later (``tether eval`` / ``promote`` write them
to the release's mutable record as EVAL.json). So the full card, with ``model-index``
results, is rendered on demand from the release's facts plus its record:
``tether notes VERSION --card``.
"""

from __future__ import annotations

import re
from typing import Any

from tether.manifest import PROVENANCE_FILE
from tether.names import PROFILE_FILE, README_FILE
from tether.profile import Profile
from tether.quality.evaluate import METRICS, read_eval
from tether.spine import previous_release, read_manifest, release_info
from tether.stores.base import Store
from tether.versioning import normalize_version, release_tag

_METRIC_TYPES = {  # model-index metric types, as the Hub's evaluation widgets name them
    "ndcg@10": ("ndcg_at_10", "nDCG@10"),
    "recall@10": ("recall_at_10", "Recall@10"),
    "recall@100": ("recall_at_100", "Recall@100"),
    "mrr@10": ("mrr_at_10", "MRR@10"),
}


def release_notes(store: Store, name: str, version: str, against: str | None = None) -> str:
    """Markdown notes for ``version`` against release ``against``; by default the highest
    release below it that is not withdrawn (none: the notes of a first release)."""
    info = release_info(store, name, version)
    if against is not None:
        previous: str | None = normalize_version(against)
    else:
        below = previous_release(store, name, below=info.version)
        previous = below.version if below else None
    manifest, _ = read_manifest(store, name, info.version)
    lines = [f"# {name} {info.tag}", "", f"state: {info.state}"]
    if previous is None:
        lines += ["", "First release: nothing to compare with.", "", "## Files", ""]
        lines += [f"- added `{rel}`" for rel in sorted(manifest.files)]
        return "\n".join(lines) + "\n"
    old, _ = read_manifest(store, name, previous)
    lines += [f"compared with: {release_tag(previous)}", "", "## Files", ""]
    files = []
    for rel in sorted((set(manifest.files) | set(old.files)) - {PROVENANCE_FILE}):
        # (the provenance statement names its version: it differs in every release)
        new_digest, old_digest = manifest.files.get(rel), old.files.get(rel)
        if old_digest is None:
            files.append(f"- added `{rel}`")
        elif new_digest is None:
            files.append(f"- removed `{rel}`")
        elif new_digest != old_digest:
            files.append(f"- changed `{rel}` ({old_digest[:12]} -> {new_digest[:12]})")
    lines += files or ["- no file changed"]
    for title in ("Tooling", "Source", "Build"):
        new_facts, old_facts = manifest.sections.get(title, {}), old.sections.get(title, {})
        skip = {"timestamp", "workflow"} if title == "Build" else set()
        changed = [
            f"- {key}: {old_facts.get(key, '(none)')} -> {new_facts.get(key, '(none)')}"
            for key in sorted(set(new_facts) | set(old_facts))
            if key not in skip and new_facts.get(key) != old_facts.get(key)
        ]
        heading = "Tool versions" if title == "Tooling" else title
        lines += ["", f"## {heading}", ""] + (changed or ["- unchanged"])
    lines += ["", "## Evaluation", "", *_eval_lines(store, name, info.version, previous)]
    return "\n".join(lines) + "\n"


def _eval_lines(store: Store, name: str, version: str, previous: str) -> list[str]:
    new, old = read_eval(store, name, version), read_eval(store, name, previous)
    if not new or not old:
        missing = release_tag(version) if not new else release_tag(previous)
        return [f"- no EVAL.json for {missing}: run `tether eval --candidate {version}`"]
    if new.get("dataset", {}).get("sha256") != old.get("dataset", {}).get("sha256"):
        return ["- evaluated on different datasets: re-run `tether eval` on one set"]
    dataset = new["dataset"]
    lines = [f"on {dataset['name']} ({dataset['queries']} queries, {dataset['passages']} passages)"]
    lines += ["", "| variant | metric | before | after | delta |", "|---|---|---|---|---|"]
    for variant, cand in new.get("variants", {}).items():
        base = old.get("variants", {}).get(variant)
        for metric in METRICS:
            if base and metric in base and metric in cand:
                lines.append(
                    f"| {variant} | {metric} | {100 * base[metric]:.2f} | "
                    f"{100 * cand[metric]:.2f} | {100 * (cand[metric] - base[metric]):+.2f} |"
                )
    return lines


def model_card(store: Store, name: str, version: str, *, license: str | None = None) -> str:
    """README.md in Hugging Face card format, with model-index results from EVAL.json."""
    from tether.stores.base import read_bytes

    info = release_info(store, name, version)
    manifest, _ = read_manifest(store, name, info.version)
    source = manifest.sections.get("Source", {})
    tooling = manifest.sections.get("Tooling", {})
    build = manifest.sections.get("Build", {})
    profile: dict[str, Any] = {}
    variant_files: dict[str, list[str]] = {}
    if PROFILE_FILE in manifest.files:
        parsed = Profile.from_bytes(read_bytes(store, name, info.version, PROFILE_FILE))
        profile, variant_files = dict(parsed.raw), parsed.variant_files(manifest.files)
    sizes = store.files(name, info.version)
    evaluation = read_eval(store, name, info.version)
    base_model = source.get("model", name)
    if license is None and README_FILE in manifest.files:  # the build copied upstream's
        license = _front_matter_license(read_bytes(store, name, info.version, README_FILE))

    front = ["---", f"base_model: {base_model}", "library_name: onnx"]
    if license:
        front.append(f"license: {license}")
    front += [
        "pipeline_tag: feature-extraction",
        "tags:",
        "- tether",
        "- onnx",
        "- sentence-embeddings",
    ]
    front += [f"- {v}" for v in profile.get("variants", {}) if v == "int8"]
    if evaluation:
        front += _model_index(name, info.version, evaluation)
    front.append("---")

    body = [
        "",
        f"# {name} {info.tag}",
        "",
        f"`{base_model}` at revision `{source.get('revision', '?')}`, exported to ONNX by "
        f"tether {tooling.get('tether', '?')} (state: {info.state}).",
        "",
    ]
    if profile:
        body += [
            f"Profile `{profile.get('profile_id')}`: {profile.get('dim')} dimensions, "
            f"{profile.get('pooling')} pooling, normalized: {profile.get('normalize')}, "
            f"max length {profile.get('max_length')} tokens.",
            "",
            "## Variants",
            "",
            "| variant | file | size |",
            "|---|---|---|",
        ]
        for variant, entry in profile.get("variants", {}).items():
            size = sum(sizes.get(rel, 0) for rel in variant_files[variant])
            body.append(f"| {variant} | `{entry['file']}` | {size / 2**20:.1f} MiB |")
        body.append("")
    body += ["## Provenance", ""]
    body += [f"- {key}: {value}" for key, value in build.items() if key != "workflow"]
    body += [f"- built in: {build.get('workflow', 'local')}", ""]
    if evaluation:
        body += ["## Evaluation", "", f"On {evaluation['dataset']['name']} (tether eval):", ""]
        body += ["| variant | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
        for variant, values in evaluation.get("variants", {}).items():
            body.append(
                f"| {variant} | " + " | ".join(f"{100 * values[m]:.2f}" for m in METRICS) + " |"
            )
        body.append("")
    body += ["MANIFEST.txt lists the sha256 of every file; verify with `tether verify`.", ""]
    return "\n".join(front + body)


def _model_index(name: str, version: str, evaluation: dict[str, Any]) -> list[str]:
    dataset = evaluation["dataset"]
    lines = ["model-index:", f"- name: {name}-{version}", "  results:"]
    for variant, values in evaluation.get("variants", {}).items():
        lines += [
            "  - task:",
            "      type: retrieval",
            f"      name: Retrieval ({variant})",
            "    dataset:",
            f"      name: {dataset['name']}",
            f"      type: {dataset['name']}",
            f"      revision: {dataset['sha256'].removeprefix('sha256:')[:12]}",
            "    metrics:",
        ]
        for metric in METRICS:
            kind, label = _METRIC_TYPES[metric]
            lines += [
                f"    - type: {kind}",
                f"      value: {100 * values[metric]:.2f}",
                f"      name: {label} ({variant})",
            ]
    return lines


def _front_matter_license(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    found = re.search(r"^license:\s*(\S+)\s*$", text[3:].split("\n---", 1)[0], re.MULTILINE)
    return found.group(1) if found else None
