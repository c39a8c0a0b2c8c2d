"""Embed texts with the model bundled into this app; print the vectors and a similarity."""

import json
import sys

import tether
import tether.runtime

# `app --tether-self-test`: load the model, check its probe, print one JSON line, exit
tether.runtime.self_test_if_asked("local-text-retrieval-v1")
texts = sys.argv[1:] or ["A cat sits on the mat.", "A kitten rests on a rug."]
embedder = tether.load("local-text-retrieval-v1")  # the user's app-data folder, then the bundle
vectors = embedder.embed(texts)
info = {"source": embedder.resolution.source, "release": embedder.resolution.prepared.release}
info |= {"variant": embedder.variant, "similarity": float(vectors[0] @ vectors[-1])}
print(json.dumps({**info, "vectors": vectors.tolist()}))
