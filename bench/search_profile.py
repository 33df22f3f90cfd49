"""Where a search's time goes: the statements one call runs, by mode.

Run by bench/search_profile.sh (which starts the speed benchmark's cluster);
by hand:

    python3 bench/search_profile.py sql SHARED N > profile.sql   # the calls
    python3 bench/search_profile.py report SERVER_LOG             # the table

`sql` writes a psql script: auto_explain logs every statement with its
duration (nested ones included), then every mode runs on the first N real
questions (SciFact test claims and Korean dev questions, in turn, with their
precomputed vectors) twice; only the second pass is reported. `report` reads
the server log from the marker the script leaves and prints, per mode, the
mean time of a call and of each statement it runs (by the first line of the
statement's text: the comment every file of sql/queries starts with).
"""

import json
import struct
import sys
from collections import defaultdict
from pathlib import Path

DIM = 384
TOP_K = 8
MARKER = "rag_search profile: measured pass"
MODES = ["hybrid", "hybrid (rrf)", "fts", "vector", "lexical", "rag_candidate_pages"]


def vectors(path_stem):
    rows = [json.loads(line) for line in Path(str(path_stem) + ".jsonl").read_text().splitlines() if line]
    data = Path(str(path_stem) + ".f32").read_bytes()
    out = {}
    for r in rows:
        at = r["row"] * DIM * 4
        out[r["id"]] = struct.unpack_from("<%df" % DIM, data, at)
    return out


def questions(shared, n):
    sets = []
    for dataset, stem, qrels in [
        ("scifact", "scifact-test-queries", "qrels/test.tsv"),
        ("autorag-ko-dev", "autorag-ko-dev-queries", "qrels/dev.tsv"),
    ]:
        base = Path(shared) / "datasets" / dataset
        judged = set()
        qrels_path = base / qrels
        if not qrels_path.exists():
            qrels_path = next((base / "qrels").glob("*.tsv"))
        for line in qrels_path.read_text().splitlines()[1:]:
            judged.add(line.split("\t")[0])
        vecs = vectors(Path(shared) / "embeddings" / "me5-small-q4" / stem)
        texts = {}
        for line in (base / "queries.jsonl").read_text().splitlines():
            if line:
                q = json.loads(line)
                texts[q["_id"]] = q["text"]
        sets.append([(texts[i], vecs[i]) for i in sorted(judged) if i in texts and i in vecs])
    # Alternate the sets so a short run still has both languages.
    out = []
    for pair in zip(*sets):
        out.extend(pair)
    return out[:n]


def literal(s):
    return "'" + s.replace("'", "''") + "'"


def call(mode, q, v):
    vec = literal("[" + ",".join("%.7g" % x for x in v) + "]") + "::vector"
    if mode == "rag_candidate_pages":
        return f"/* profile:{mode} */ SELECT count(*) FROM rag_candidate_pages({literal(q)}, {TOP_K});"
    options = ", NULL, '{\"fusion\":\"rrf\"}'" if mode == "hybrid (rrf)" else ""
    real = "hybrid" if mode == "hybrid (rrf)" else mode
    return f"/* profile:{mode} */ SELECT count(*) FROM rag_hybrid_search({literal(q)}, {vec}, {TOP_K}, '{real}'{options});"


def write_sql(shared, n):
    qs = questions(shared, n)
    print("\\set QUIET on\nLOAD 'auto_explain';\nSET auto_explain.log_min_duration = 0;")
    print("SET auto_explain.log_nested_statements = on;\nSET auto_explain.log_analyze = off;")
    print("SET client_min_messages = warning;\n\\o /dev/null")
    for measured in (False, True):
        if measured:
            print(f"SELECT '{MARKER}';")
        for q, v in qs:
            for mode in MODES:
                print(call(mode, q, v))


def report(log_path):
    lines = Path(log_path).read_text(errors="replace").splitlines()
    start = max((i for i, l in enumerate(lines) if MARKER in l), default=None)
    if start is None:
        sys.exit(f"no measured pass in {log_path}")
    calls = defaultdict(int)
    total = defaultdict(float)
    steps = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    pending = []
    i = start
    while i < len(lines):
        line = lines[i]
        if "duration: " in line and " ms  plan:" in line and i + 1 < len(lines):
            ms = float(line.split("duration: ")[1].split(" ms")[0])
            text = lines[i + 1].split("Query Text: ", 1)[-1].strip()
            if text.startswith("/* profile:"):
                mode = text[len("/* profile:"):].split(" */")[0]
                calls[mode] += 1
                total[mode] += ms
                for step, step_ms in pending:
                    s = steps[mode][step]
                    s[0] += 1
                    s[1] += step_ms
                pending = []
            else:
                pending.append((text[:90], ms))
            i += 2
            continue
        i += 1
    for mode in MODES:
        n = calls.get(mode, 0)
        if not n:
            continue
        print(f"\n{mode}: {n} calls, mean {total[mode] / n:.2f} ms a call\n")
        print("| statement (first line) | runs a call | ms a call |")
        print("|---|---:|---:|")
        for step, (runs, ms) in sorted(steps[mode].items(), key=lambda kv: -kv[1][1]):
            print(f"| {step.lstrip('- ')} | {runs / n:.1f} | {ms / n:.2f} |")
        inside = sum(ms for _, ms in steps[mode].values())
        print(f"| (the function itself, outside these statements) | | {(total[mode] - inside) / n:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "sql":
        write_sql(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
