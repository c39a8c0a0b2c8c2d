"""Generate tether's bundled evaluation set (BEIR layout) deterministically.

Run ``python src/tether/quality/evalsets/make_evalset.py`` to rewrite corpus.jsonl, queries.jsonl
and qrels/test.tsv next to this file; the output is byte-identical on every run.

Design (see README.md): 10 topics x 10 subjects x 10 aspects = 1,000 passages, each
also mentioning another subject of its topic in passing. Each of the
100 queries asks about one aspect of one subject in words that differ from the passage's;
grade 2 is the passage on that (subject, aspect), grade 1 the passage on the paired aspect
of the same subject (origin <-> history, cost <-> buying, ...), everything else 0. The
other nine passages on the same subject are the hard negatives: ranking them right needs
the meaning of the query, not just the subject's name.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

# topic -> (subjects, filler sentences that give passages their topic's vocabulary)
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "cooking": (
        [
            "sourdough bread",
            "risotto",
            "ramen broth",
            "french omelette",
            "paella",
            "banana bread",
            "beef stew",
            "pad thai",
            "tiramisu",
            "falafel",
        ],
        [
            "Home cooks often adjust the seasoning at the end.",
            "A heavy pan and a good knife make the work easier.",
            "Many family recipes change a little from kitchen to kitchen.",
        ],
    ),
    "astronomy": (
        [
            "Jupiter",
            "the Andromeda galaxy",
            "Halley's comet",
            "the Crab Nebula",
            "Saturn's rings",
            "the planet Mars",
            "the star Betelgeuse",
            "the Orion Nebula",
            "Pluto",
            "the Moon",
        ],
        [
            "Amateur astronomers share their observations in online forums.",
            "Space agencies publish images from their missions for free.",
            "Clear, dark skies far from cities help a great deal.",
        ],
    ),
    "programming": (
        [
            "the Rust language",
            "Python decorators",
            "Git rebase",
            "Docker containers",
            "SQL indexes",
            "regular expressions",
            "unit testing",
            "garbage collection",
            "the HTTP protocol",
            "Kubernetes",
        ],
        [
            "Developers discuss the trade-offs at length in code reviews.",
            "The official documentation has examples for most cases.",
            "Teams often write internal guides after a production incident.",
        ],
    ),
    "gardening": (
        [
            "tomato plants",
            "roses",
            "lavender",
            "basil",
            "apple trees",
            "orchids",
            "potatoes",
            "hydrangeas",
            "strawberries",
            "succulents",
        ],
        [
            "Gardeners keep notes from one season to the next.",
            "Local nurseries can advise on varieties that suit the area.",
            "Soil quality matters more than most beginners expect.",
        ],
    ),
    "health": (
        [
            "migraine",
            "type 2 diabetes",
            "asthma",
            "vitamin D deficiency",
            "insomnia",
            "high blood pressure",
            "seasonal flu",
            "lower back pain",
            "iron deficiency anemia",
            "hay fever",
        ],
        [
            "A doctor should be consulted for personal medical advice.",
            "Public health agencies publish up-to-date guidance.",
            "Symptoms and severity vary widely between patients.",
        ],
    ),
    "travel": (
        [
            "Kyoto",
            "Lisbon",
            "Patagonia",
            "Iceland's Ring Road",
            "Marrakech",
            "the Amalfi Coast",
            "Banff National Park",
            "Hanoi",
            "Cappadocia",
            "the Scottish Highlands",
        ],
        [
            "Travellers recommend booking accommodation early.",
            "Local tourist offices hand out free maps.",
            "Public transport makes it easy to get around without a car.",
        ],
    ),
    "music": (
        [
            "the violin",
            "the piano",
            "the acoustic guitar",
            "the saxophone",
            "the drum kit",
            "the cello",
            "the flute",
            "the ukulele",
            "the trumpet",
            "the harp",
        ],
        [
            "Teachers usually recommend short daily practice sessions.",
            "Orchestras and bands around the world use it.",
            "Recordings by great players are a good source of inspiration.",
        ],
    ),
    "sports": (
        [
            "marathon running",
            "rock climbing",
            "tennis",
            "cycling",
            "swimming",
            "yoga",
            "chess",
            "skiing",
            "basketball",
            "rowing",
        ],
        [
            "Coaches stress proper warm-ups and rest days.",
            "Clubs organise events for beginners and experts alike.",
            "Progress comes from steady, consistent training.",
        ],
    ),
    "finance": (
        [
            "index funds",
            "mortgages",
            "credit cards",
            "government bonds",
            "retirement accounts",
            "cryptocurrency",
            "car insurance",
            "student loans",
            "savings accounts",
            "stock options",
        ],
        [
            "Financial advisers suggest reading the fine print carefully.",
            "Rules and tax treatment differ from country to country.",
            "Comparing several offers usually pays off.",
        ],
    ),
    "animals": (
        [
            "honeybees",
            "octopuses",
            "emperor penguins",
            "wolves",
            "elephants",
            "monarch butterflies",
            "dolphins",
            "red foxes",
            "tortoises",
            "barn owls",
        ],
        [
            "Biologists study them both in the wild and in captivity.",
            "Wildlife documentaries have made them familiar to many people.",
            "Conservation groups monitor their numbers closely.",
        ],
    ),
}

# aspect -> (paired aspect for grade 1, query templates, passage template)
# Queries avoid the passage's key words on purpose: the match must be semantic.
ASPECTS: dict[str, tuple[str, list[str], str]] = {
    "origin": (
        "history",
        ["where does {s} come from originally", "who first came up with {s}"],
        "The origins of {s} trace back to a specific place and era, where it first appeared "
        "and was named; early accounts describe how it began.",
    ),
    "history": (
        "origin",
        ["how has {s} changed over the centuries", "what is the historical development of {s}"],
        "Over time {s} evolved considerably: each generation altered it, and the version "
        "known today differs from older forms documented in historical records.",
    ),
    "cost": (
        "buying",
        ["how expensive is {s}", "what would I pay for {s}"],
        "In terms of money, {s} can be cheap or pricey: the typical price depends on quality "
        "and region, and budget options exist alongside premium ones.",
    ),
    "buying": (
        "cost",
        ["where can I get {s}", "best place to obtain {s}"],
        "To acquire {s}, look at specialist shops, online retailers or local sellers; "
        "comparing several sources before purchasing is wise.",
    ),
    "beginner": (
        "mistakes",
        ["how should a newcomer start with {s}", "first steps for someone new to {s}"],
        "Getting started with {s} is easiest with a simple plan: novices should learn the "
        "basics first, take it slowly and build confidence step by step.",
    ),
    "mistakes": (
        "beginner",
        ["what do people usually get wrong about {s}", "errors to avoid with {s}"],
        "A frequent pitfall with {s} is rushing; other typical blunders include ignoring "
        "instructions and overdoing it, which leads to disappointing results.",
    ),
    "risks": (
        "care",
        ["is {s} dangerous", "what can go badly with {s}"],
        "There are hazards linked to {s}: safety warnings mention possible harm, and "
        "precautions reduce the chance of injury or damage.",
    ),
    "care": (
        "risks",
        ["how do I look after {s} over time", "keeping {s} in good condition"],
        "Maintaining {s} takes regular attention: routine upkeep, cleaning and checks keep it "
        "healthy and working well for years.",
    ),
    "science": (
        "facts",
        ["what is the mechanism behind {s}", "explain how {s} works scientifically"],
        "Scientifically, {s} is explained by underlying physical, chemical or biological "
        "processes; researchers have measured and modelled how it functions.",
    ),
    "facts": (
        "science",
        ["tell me something surprising about {s}", "fun trivia on {s}"],
        "A curious detail about {s}: few people know the unusual records and odd anecdotes "
        "attached to it, which make it a favourite topic of quiz shows.",
    ),
}


ASIDES = [
    "Some people mention {o} in the same breath.",
    "It is sometimes compared with {o}.",
    "Fans of {o} often like it too.",
    "The same is not quite true of {o}.",
]


def build() -> tuple[list[dict], list[dict], list[tuple[str, str, int]]]:
    rng = random.Random(20261121)
    corpus: list[dict] = []
    queries: list[dict] = []
    qrels: list[tuple[str, str, int]] = []
    aspects = list(ASPECTS)
    for t, (_topic, (subjects, fillers)) in enumerate(TOPICS.items()):
        for s, subject in enumerate(subjects):
            ids = {}
            for a, aspect in enumerate(aspects):
                doc_id = f"d{t:02d}{s}{a}"
                ids[aspect] = doc_id
                # a passing mention of another subject of the topic: every subject's name
                # then appears in ~20 passages, so the top 10 are not just "its" passages
                other = rng.choice([x for x in subjects if x != subject])
                aside = rng.choice(ASIDES).format(o=other)
                text = " ".join((ASPECTS[aspect][2].format(s=subject), aside, rng.choice(fillers)))
                corpus.append({"_id": doc_id, "title": subject.capitalize(), "text": text})
            aspect = aspects[(s * 3 + t) % len(aspects)]  # every aspect ~10 times
            template = rng.choice(ASPECTS[aspect][1])
            query_id = f"q{t:02d}{s}"
            queries.append({"_id": query_id, "text": template.format(s=subject)})
            qrels.append((query_id, ids[aspect], 2))
            qrels.append((query_id, ids[ASPECTS[aspect][0]], 1))
    return corpus, queries, qrels


def write(folder: Path = HERE) -> None:
    corpus, queries, qrels = build()
    lines = [json.dumps(d, ensure_ascii=False, sort_keys=True) for d in corpus]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines = [json.dumps(q, ensure_ascii=False, sort_keys=True) for q in queries]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "qrels").mkdir(exist_ok=True)
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
