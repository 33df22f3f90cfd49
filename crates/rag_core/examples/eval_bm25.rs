//! Retrieval-quality check of the full-text path and of score fusion.
//!
//!     CARGO_TARGET_DIR=/tmp/target-text cargo run -j1 --release -p rag_core --example eval_bm25
//!
//! Uses the BEIR-format sets in `../shared/datasets` (override with
//! `RAG_SHARED_DIR=/path/to/shared`); exits successfully with a message when
//! they are absent (a fresh clone does not have them).
//!
//! Documents are tokenised like `to_tsvector('simple', index_text(doc))`
//! (lowercase alphanumeric words of the index text), queries by the terms of
//! `build_tsquery(q, Any)`, and ranked with BM25 (k1 0.9, b 0.4). The hybrid
//! section fuses BM25 with the precomputed multilingual-e5-small embeddings
//! in `../shared/embeddings/me5-small-q4` (skipped if missing).

use rag_core::fusion::{self, Bm25, Signals, VecNorm, Weights};
use rag_core::text::{self, QueryMatch, TextOptions};
use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error>>;

struct Dataset {
    name: &'static str,
    doc_ids: Vec<String>,
    docs: Vec<String>,
    /// (query id, text, relevant doc id → grade)
    queries: Vec<(String, String, HashMap<String, f64>)>,
}

fn find_shared() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RAG_SHARED_DIR") {
        return Some(PathBuf::from(p)).filter(|p| p.join("datasets").is_dir());
    }
    let mut starts = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    starts
        .iter()
        .flat_map(|s| s.ancestors().map(|a| a.join("shared")))
        .find(|p| p.join("datasets").is_dir())
}

fn load(root: &Path, name: &'static str, qrels: &str) -> Res<Dataset> {
    let dir = root.join("datasets").join(name);
    let mut doc_ids = Vec::new();
    let mut docs = Vec::new();
    for line in fs::read_to_string(dir.join("corpus.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let title = v["title"].as_str().unwrap_or("");
        let body = v["text"].as_str().unwrap_or("");
        doc_ids.push(v["_id"].as_str().unwrap_or("").to_owned());
        // Title and text together, as Pyserini's BEIR "flat" index does.
        docs.push(format!("{title} {body}").trim().to_owned());
    }
    let mut rel: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for line in fs::read_to_string(dir.join("qrels").join(qrels))?
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 3 {
            let grade: f64 = f[2].trim().parse().unwrap_or(0.0);
            rel.entry(f[0].to_owned())
                .or_default()
                .insert(f[1].to_owned(), grade);
        }
    }
    let mut queries = Vec::new();
    for line in fs::read_to_string(dir.join("queries.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let id = v["_id"].as_str().unwrap_or("").to_owned();
        if let Some(r) = rel.remove(&id) {
            queries.push((id, v["text"].as_str().unwrap_or("").to_owned(), r));
        }
    }
    Ok(Dataset {
        name,
        doc_ids,
        docs,
        queries,
    })
}

/// What to_tsvector('simple', …) makes of the index text, for plain words.
fn lexemes(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

struct Index {
    vocab: HashMap<String, usize>,
    postings: Vec<Vec<(u32, f64)>>,
    doc_len: Vec<f64>,
    avg_len: f64,
}

fn build_index(docs: &[String], opts: &TextOptions) -> Index {
    let mut vocab = HashMap::new();
    let mut postings: Vec<Vec<(u32, f64)>> = Vec::new();
    let mut doc_len = Vec::with_capacity(docs.len());
    for (d, doc) in docs.iter().enumerate() {
        let mut tf: HashMap<usize, f64> = HashMap::new();
        let mut len = 0.0;
        for w in lexemes(&text::index_text_with(doc, opts)) {
            let next = vocab.len();
            let id = *vocab.entry(w).or_insert(next);
            if id == postings.len() {
                postings.push(Vec::new());
            }
            *tf.entry(id).or_insert(0.0) += 1.0;
            len += 1.0;
        }
        for (id, n) in tf {
            postings[id].push((d as u32, n));
        }
        doc_len.push(len);
    }
    let avg_len = doc_len.iter().sum::<f64>() / doc_len.len().max(1) as f64;
    Index {
        vocab,
        postings,
        doc_len,
        avg_len,
    }
}

/// BM25 (OR semantics) over the terms of build_tsquery. With `prefix`,
/// Hangul terms behave like `'term':*`: every lexeme starting with the term
/// counts as one merged term.
fn bm25_rank(ix: &Index, q: &str, opts: &TextOptions, prefix: bool) -> Vec<(u64, f64)> {
    let Some(tsq) = text::build_tsquery_with(q, QueryMatch::Any, opts) else {
        return Vec::new();
    };
    let n_docs = ix.doc_len.len() as f64;
    let mut per_doc: HashMap<u32, Vec<(f64, f64)>> = HashMap::new();
    for term in tsq.split(" | ").map(|t| t.trim_matches('\'')) {
        let ids: Vec<usize> =
            if prefix && term.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)) {
                ix.vocab
                    .iter()
                    .filter(|(w, _)| w.starts_with(term))
                    .map(|(_, &id)| id)
                    .collect()
            } else {
                ix.vocab.get(term).copied().into_iter().collect()
            };
        let mut tf: HashMap<u32, f64> = HashMap::new();
        for id in ids {
            for &(d, n) in &ix.postings[id] {
                *tf.entry(d).or_insert(0.0) += n;
            }
        }
        let df = tf.len() as f64;
        for (d, n) in tf {
            per_doc.entry(d).or_default().push((n, df));
        }
    }
    let p = Bm25::default();
    let scored = per_doc
        .into_iter()
        .map(|(d, tfs)| {
            (
                d as u64,
                fusion::bm25_score(&tfs, ix.doc_len[d as usize], ix.avg_len, n_docs, &p),
            )
        })
        .collect();
    fusion::top_k(scored, 1000)
}

fn ndcg10(ranked: &[(u64, f64)], ds: &Dataset, rel: &HashMap<String, f64>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, (d, _))| {
            rel.get(&ds.doc_ids[*d as usize]).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2()
        })
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| g / (i as f64 + 2.0).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

fn recall100(ranked: &[(u64, f64)], ds: &Dataset, rel: &HashMap<String, f64>) -> f64 {
    let relevant: HashSet<&String> = rel
        .iter()
        .filter(|(_, g)| **g > 0.0)
        .map(|(d, _)| d)
        .collect();
    if relevant.is_empty() {
        return 0.0;
    }
    let hit = ranked
        .iter()
        .take(100)
        .filter(|(d, _)| relevant.contains(&ds.doc_ids[*d as usize]))
        .count();
    hit as f64 / relevant.len() as f64
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Rows of an `NAME.f32` + `NAME.jsonl` pair, keyed by dataset id.
fn load_embeddings(root: &Path, name: &str) -> Res<HashMap<String, Vec<f32>>> {
    let dir = root.join("embeddings").join("me5-small-q4");
    let raw = fs::read(dir.join(format!("{name}.f32")))?;
    let dim = 384;
    let mut out = HashMap::new();
    for line in fs::read_to_string(dir.join(format!("{name}.jsonl")))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let row = v["row"].as_u64().ok_or("row")? as usize;
        let bytes = raw
            .get(row * dim * 4..(row + 1) * dim * 4)
            .ok_or("short f32 file")?;
        let vec = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(v["id"].as_str().ok_or("id")?.to_owned(), vec);
    }
    Ok(out)
}

fn variants() -> Vec<(&'static str, TextOptions, bool)> {
    let base = TextOptions {
        korean_stems: false,
        index_bigrams: false,
        query_bigrams: false,
    };
    vec![
        ("no stemming", base, false),
        (
            "bigrams only (index+query)",
            TextOptions {
                index_bigrams: true,
                query_bigrams: true,
                ..base
            },
            false,
        ),
        ("stemming (default)", TextOptions::default(), false),
        (
            "stemming + prefix :* on Hangul",
            TextOptions::default(),
            true,
        ),
        (
            "stemming + index bigrams",
            TextOptions {
                index_bigrams: true,
                ..TextOptions::default()
            },
            false,
        ),
        (
            "stemming + bigrams (index+query)",
            TextOptions {
                index_bigrams: true,
                query_bigrams: true,
                ..TextOptions::default()
            },
            false,
        ),
    ]
}

fn eval_lexical(ds: &Dataset) {
    println!(
        "\n## {} — {} docs, {} queries: BM25 over tsquery terms",
        ds.name,
        ds.docs.len(),
        ds.queries.len()
    );
    println!("| variant | nDCG@10 | recall@100 | index text / input bytes |");
    println!("|---|---|---|---|");
    let input: usize = ds.docs.iter().map(String::len).sum();
    for (label, opts, prefix) in variants() {
        let out: usize = ds
            .docs
            .iter()
            .map(|d| text::index_text_with(d, &opts).len())
            .sum();
        let ix = build_index(&ds.docs, &opts);
        let runs: Vec<(f64, f64)> = ds
            .queries
            .iter()
            .map(|(_, q, rel)| {
                let r = bm25_rank(&ix, q, &opts, prefix);
                (ndcg10(&r, ds, rel), recall100(&r, ds, rel))
            })
            .collect();
        println!(
            "| {label} | {:.4} | {:.4} | {:.2} |",
            mean(runs.iter().map(|r| r.0)),
            mean(runs.iter().map(|r| r.1)),
            out as f64 / input.max(1) as f64
        );
    }
}

fn eval_hybrid(root: &Path, ds: &Dataset, corpus_emb: &str, query_emb: &str) -> Res<()> {
    let (docs_e, qs_e) = match (
        load_embeddings(root, corpus_emb),
        load_embeddings(root, query_emb),
    ) {
        (Ok(d), Ok(q)) => (d, q),
        _ => {
            println!(
                "(embeddings for {} not found, hybrid section skipped)",
                ds.name
            );
            return Ok(());
        }
    };
    let doc_vecs: Vec<Option<&Vec<f32>>> = ds.doc_ids.iter().map(|id| docs_e.get(id)).collect();
    let opts = TextOptions::default();
    let ix = build_index(&ds.docs, &opts);
    // Per query: candidates = top-100 by vector ∪ top-100 by BM25, with all
    // their signals, as the extension's hybrid query would see them.
    struct Q<'a> {
        rel: &'a HashMap<String, f64>,
        ids: Vec<u64>,
        sig: Vec<Signals>,
        vec_rank: Vec<u64>,
        fts_rank: Vec<u64>,
    }
    let mut qs = Vec::new();
    for (qid, q, rel) in &ds.queries {
        let Some(qv) = qs_e.get(qid) else { continue };
        let mut dist: Vec<(u64, f64)> = doc_vecs
            .iter()
            .enumerate()
            .filter_map(|(d, v)| {
                let v = (*v)?;
                let dot: f64 = v
                    .iter()
                    .zip(qv)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                Some((d as u64, 1.0 - dot))
            })
            .collect();
        // Smallest distance first = highest negated distance.
        let mut by_vec: Vec<(u64, f64)> = dist.iter().map(|&(d, x)| (d, -x)).collect();
        fusion::sort_scored(&mut by_vec);
        let vec_rank: Vec<u64> = by_vec.iter().take(100).map(|x| x.0).collect();
        let bm = bm25_rank(&ix, q, &opts, false);
        let fts_rank: Vec<u64> = bm.iter().take(100).map(|x| x.0).collect();
        let bm_map: HashMap<u64, f64> = bm.into_iter().collect();
        let dist_map: HashMap<u64, f64> = dist.drain(..).collect();
        let mut ids: Vec<u64> = vec_rank.iter().chain(&fts_rank).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let sig = ids
            .iter()
            .map(|d| Signals {
                vec_distance: dist_map.get(d).copied(),
                fts: bm_map.get(d).copied(),
                ..Default::default()
            })
            .collect();
        qs.push(Q {
            rel,
            ids,
            sig,
            vec_rank,
            fts_rank,
        });
    }
    let score = |f: &dyn Fn(&Q) -> Vec<(u64, f64)>| -> (f64, f64) {
        let runs: Vec<(f64, f64)> = qs
            .iter()
            .map(|q| {
                let r = f(q);
                (ndcg10(&r, ds, q.rel), recall100(&r, ds, q.rel))
            })
            .collect();
        (
            mean(runs.iter().map(|r| r.0)),
            mean(runs.iter().map(|r| r.1)),
        )
    };
    let fuse = |w: Weights, norm: VecNorm| {
        move |q: &Q| -> Vec<(u64, f64)> {
            let s = fusion::weighted_with(&q.sig, &w, norm);
            fusion::top_k(q.ids.iter().copied().zip(s).collect(), 100)
        }
    };
    println!(
        "\n## {} — hybrid (e5-small vectors + BM25), {} queries",
        ds.name,
        qs.len()
    );
    println!("| method | nDCG@10 | recall@100 |");
    println!("|---|---|---|");
    let rank_only = |l: &Vec<u64>| {
        l.iter()
            .enumerate()
            .map(|(i, &d)| (d, -(i as f64)))
            .collect::<Vec<_>>()
    };
    let rows: Vec<(String, (f64, f64))> = vec![
        ("vector only".into(), score(&|q: &Q| rank_only(&q.vec_rank))),
        ("BM25 only".into(), score(&|q: &Q| rank_only(&q.fts_rank))),
        (
            "RRF k=60".into(),
            score(&|q: &Q| fusion::rrf(&[q.vec_rank.clone(), q.fts_rank.clone()], 60.0)),
        ),
        (
            "weighted default, raw 1/(1+d)".into(),
            score(&fuse(Weights::default(), VecNorm::Raw)),
        ),
        (
            "weighted default, min-max vec".into(),
            score(&fuse(Weights::default(), VecNorm::MinMax)),
        ),
    ];
    for (label, (n, r)) in rows {
        println!("| {label} | {n:.4} | {r:.4} |");
    }
    for norm in [VecNorm::Raw, VecNorm::MinMax] {
        for fts in [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.80] {
            let w = Weights {
                vec: 0.55,
                fts,
                title: 0.0,
                lex: 0.0,
                entity: 0.0,
            };
            let (n, r) = score(&fuse(w, norm));
            println!("| vec 0.55 / fts {fts:.2}, {norm:?} | {n:.4} | {r:.4} |");
        }
    }
    Ok(())
}

fn throughput(datasets: &[Dataset]) {
    let docs: Vec<&String> = datasets.iter().flat_map(|d| &d.docs).collect();
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    let reps = 5;
    let start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..reps {
        for d in &docs {
            sink += text::index_text(d).len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "\nindex_text throughput: {:.1} MB/s over {:.1} MB of mixed Korean/English text ({} reps, out {} bytes)",
        (bytes * reps) as f64 / secs / 1e6,
        bytes as f64 / 1e6,
        reps,
        sink / reps
    );
}

fn main() -> Res<()> {
    let Some(root) = find_shared() else {
        println!(
            "eval_bm25: ../shared/datasets not found (set RAG_SHARED_DIR); skipping evaluation."
        );
        return Ok(());
    };
    let ko = load(&root, "autorag-ko-dev", "dev.tsv")?;
    let sf = load(&root, "scifact", "test.tsv")?;
    eval_lexical(&ko);
    eval_lexical(&sf);
    eval_hybrid(&root, &ko, "autorag-ko-corpus", "autorag-ko-dev-queries")?;
    eval_hybrid(&root, &sf, "scifact-corpus", "scifact-test-queries")?;
    throughput(&[ko, sf]);
    Ok(())
}
