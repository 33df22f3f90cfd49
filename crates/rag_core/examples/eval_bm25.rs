//! Chooses the full-text and fusion defaults on training queries only, and
//! reports them on the test queries.
//!
//!     cargo run --release -p rag_core --example eval_bm25
//!
//! Uses the BEIR-format sets in `../shared/datasets` (override with
//! `RAG_SHARED_DIR=/path/to/shared`); exits successfully with a message when
//! they are absent (a fresh clone does not have them). Training queries:
//! SciFact `qrels/train.tsv`, and the Korean dev queries that
//! `rag_core::split` puts in the training half; test queries: SciFact
//! `qrels/test.tsv` and the other Korean half. Every choice below is made
//! on the training queries; test figures are printed next to them and
//! never used to choose.
//!
//! Documents are tokenised like the stored tsvector,
//! `to_tsvector('simple', index_text(titled_text(title, text, n)))`, queries like
//! the search functions (`text::query_terms`), and ranked with the
//! extension's BM25 (`fusion::term_score`, Lucene's idf). The fusion
//! section needs the precomputed multilingual-e5-small vectors in
//! `../shared/embeddings/me5-small-q4`, and for SciFact's training queries
//! a vector cache `scifact-train-queries.{f32,jsonl}` in the same format in
//! `RAG_EVAL_VECTORS` (written by `bench/retrieval_quality.sh` into its data
//! directory; without it the SciFact fusion rows are skipped).

use rag_core::fusion::{self, Bm25, ScoreParams, Signals, Weights};
use rag_core::split::{split_of, Split};
use rag_core::text::{self, TextOptions, MAX_QUERY_TERMS};
use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn Error>>;

/// PostgreSQL keeps at most 255 positions of a lexeme.
const MAX_TF: f64 = 255.0;

struct Query {
    id: String,
    text: String,
    /// relevant doc index → grade
    rel: HashMap<usize, f64>,
}

struct Dataset {
    name: &'static str,
    doc_ids: Vec<String>,
    titles: Vec<String>,
    texts: Vec<String>,
    train: Vec<Query>,
    test: Vec<Query>,
}

fn find_shared() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RAG_SHARED_DIR") {
        return Some(PathBuf::from(p)).filter(|p| p.join("datasets").is_dir());
    }
    let mut starts = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    starts.iter().flat_map(|s| s.ancestors().map(|a| a.join("shared"))).find(|p| p.join("datasets").is_dir())
}

fn read_qrels(path: &Path) -> Res<HashMap<String, HashMap<String, f64>>> {
    let mut rel: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for line in fs::read_to_string(path)?.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 3 {
            rel.entry(f[0].to_owned()).or_default().insert(f[1].to_owned(), f[2].trim().parse().unwrap_or(0.0));
        }
    }
    Ok(rel)
}

/// `qrels`: (file, split) pairs; a `None` split is decided per query by
/// `rag_core::split`.
fn load(root: &Path, name: &'static str, qrels: &[(&str, Option<Split>)]) -> Res<Dataset> {
    let dir = root.join("datasets").join(name);
    let (mut doc_ids, mut titles, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for line in fs::read_to_string(dir.join("corpus.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        doc_ids.push(v["_id"].as_str().unwrap_or("").to_owned());
        titles.push(v["title"].as_str().unwrap_or("").to_owned());
        texts.push(v["text"].as_str().unwrap_or("").to_owned());
    }
    let index: HashMap<&str, usize> = doc_ids.iter().enumerate().map(|(i, d)| (d.as_str(), i)).collect();
    let mut query_text = HashMap::new();
    for line in fs::read_to_string(dir.join("queries.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        query_text.insert(v["_id"].as_str().unwrap_or("").to_owned(), v["text"].as_str().unwrap_or("").to_owned());
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (file, split) in qrels {
        let mut ids: Vec<(String, HashMap<String, f64>)> = read_qrels(&dir.join("qrels").join(file))?.into_iter().collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, judged) in ids {
            let rel = judged.iter().filter_map(|(d, g)| Some((*index.get(d.as_str())?, *g))).collect();
            let q = Query { text: query_text.get(&id).cloned().unwrap_or_default(), id: id.clone(), rel };
            match split.unwrap_or_else(|| split_of(&id)) {
                Split::Train => train.push(q),
                Split::Test => test.push(q),
            }
        }
    }
    drop(index);
    Ok(Dataset { name, doc_ids, titles, texts, train, test })
}

/// How a document's title takes part in full text.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TitleMode {
    /// Not indexed.
    None,
    /// The title's words `n` times before the text, in one field (1 =
    /// BEIR's flat setting; more = a title field weighted `n`, BM25F with
    /// one b).
    Flat(u32),
    /// A separate title field scored with its own statistics, its BM25
    /// times the weight added to the text's (Anserini's multifield).
    Field(f64),
}

/// Document length unit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DlUnit {
    Lexemes,
    Tokens,
}

/// One field's inverted index.
struct Index {
    vocab: HashMap<String, usize>,
    /// term → (doc, tf)
    postings: Vec<Vec<(u32, f64)>>,
    doc_len: Vec<f64>,
    avg_len: f64,
}

fn build_index(docs: &[String], opts: &TextOptions, unit: DlUnit) -> Index {
    let mut vocab = HashMap::new();
    let mut postings: Vec<Vec<(u32, f64)>> = Vec::new();
    let mut doc_len = Vec::with_capacity(docs.len());
    for (d, doc) in docs.iter().enumerate() {
        let mut tf: HashMap<usize, f64> = HashMap::new();
        for w in text::index_text_with(doc, opts).split(' ').filter(|w| !w.is_empty()) {
            let next = vocab.len();
            let id = *vocab.entry(w.to_owned()).or_insert(next);
            if id == postings.len() {
                postings.push(Vec::new());
            }
            *tf.entry(id).or_insert(0.0) += 1.0;
        }
        let len = match unit {
            DlUnit::Lexemes => tf.len() as f64,
            DlUnit::Tokens => tf.values().map(|n| n.min(MAX_TF)).sum(),
        };
        for (id, n) in tf {
            postings[id].push((d as u32, n.min(MAX_TF)));
        }
        doc_len.push(len);
    }
    let avg_len = doc_len.iter().sum::<f64>() / doc_len.len().max(1) as f64;
    Index { vocab, postings, doc_len, avg_len }
}

/// (field, idf, tf, dl) of one query term in one document.
type TermMatch = (usize, f64, f64, f64);

/// What BM25 needs of one query over one configuration, computed once:
/// per matching document, each matching term.
struct Matches {
    docs: Vec<(u32, Vec<TermMatch>)>,
}

/// A full-text configuration: title mode, length unit, analyser options.
struct FullText {
    /// (index, weight) per field: the text (with a flat title), and a
    /// separate title field for `TitleMode::Field`.
    fields: Vec<(Index, f64)>,
    opts: TextOptions,
}

impl FullText {
    fn new(ds: &Dataset, mode: TitleMode, unit: DlUnit, opts: TextOptions) -> FullText {
        let flat = |n: u32| -> Vec<String> {
            ds.titles.iter().zip(&ds.texts).map(|(t, x)| text::titled_text(t, x, n as usize)).collect()
        };
        let fields = match mode {
            TitleMode::None => vec![(build_index(&flat(0), &opts, unit), 1.0)],
            TitleMode::Flat(n) => vec![(build_index(&flat(n), &opts, unit), 1.0)],
            TitleMode::Field(w) => vec![
                (build_index(&flat(0), &opts, unit), 1.0),
                (build_index(&ds.titles, &opts, unit), w),
            ],
        };
        FullText { fields, opts }
    }

    fn matches(&self, q: &str) -> Matches {
        let mut terms = text::query_terms_with(q, MAX_QUERY_TERMS, &self.opts);
        let mut seen = HashSet::new();
        terms.retain(|t| seen.insert(t.clone()));
        let mut acc: HashMap<u32, Vec<TermMatch>> = HashMap::new();
        for (f, (ix, _)) in self.fields.iter().enumerate() {
            let n_docs = ix.doc_len.len() as f64;
            for t in &terms {
                let Some(&id) = ix.vocab.get(t) else { continue };
                let list = &ix.postings[id];
                let idf = fusion::bm25_idf(list.len() as f64, n_docs);
                for &(d, tf) in list {
                    acc.entry(d).or_default().push((f, idf, tf, ix.doc_len[d as usize]));
                }
            }
        }
        Matches { docs: acc.into_iter().collect() }
    }

    /// The best `k` matching documents, best first (ties by index): the
    /// head of [`FullText::rank_matches`] without sorting the tail.
    fn top_matches(&self, m: &Matches, p: Bm25, k: usize) -> Vec<(u64, f64)> {
        let mut out = self.scores(m, p);
        if out.len() > k {
            out.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            out.truncate(k);
        }
        fusion::sort_scored(&mut out);
        out
    }

    /// The ranking of every matching document, best first (ties by index).
    fn rank_matches(&self, m: &Matches, p: Bm25) -> Vec<(u64, f64)> {
        let mut out = self.scores(m, p);
        fusion::sort_scored(&mut out);
        out
    }

    fn scores(&self, m: &Matches, p: Bm25) -> Vec<(u64, f64)> {
        let params: Vec<ScoreParams> = self.fields.iter().map(|(ix, _)| ScoreParams::new(p, ix.avg_len)).collect();
        m.docs
            .iter()
            .map(|(d, terms)| {
                let s = terms.iter().map(|&(f, idf, tf, dl)| self.fields[f].1 * fusion::term_score(idf, tf, dl, &params[f])).sum();
                (u64::from(*d), s)
            })
            .collect()
    }

    fn rank(&self, q: &str, p: Bm25) -> Vec<(u64, f64)> {
        self.rank_matches(&self.matches(q), p)
    }
}

fn ndcg10(ranked: &[u64], rel: &HashMap<usize, f64>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| rel.get(&(*d as usize)).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

fn recall100(ranked: &[u64], rel: &HashMap<usize, f64>) -> f64 {
    let relevant: HashSet<usize> = rel.iter().filter(|(_, g)| **g > 0.0).map(|(d, _)| *d).collect();
    if relevant.is_empty() {
        return 0.0;
    }
    ranked.iter().take(100).filter(|d| relevant.contains(&(**d as usize))).count() as f64 / relevant.len() as f64
}

fn ids(ranked: &[(u64, f64)]) -> Vec<u64> {
    ranked.iter().take(1000).map(|x| x.0).collect()
}

/// A row of figures: train and test nDCG@10 / recall@100.
fn row(label: &str, train: (f64, f64), test: (f64, f64)) {
    println!("| {label} | {:.4} | {:.4} | {:.4} | {:.4} |", train.0, train.1, test.0, test.1);
}

fn header(title: &str, ds: &Dataset) {
    println!("\n## {} — {title} ({} training / {} test queries)", ds.name, ds.train.len(), ds.test.len());
    println!("| configuration | train nDCG@10 | train recall@100 | test nDCG@10 | test recall@100 |");
    println!("|---|---:|---:|---:|---:|");
}

/// The BM25 grid searched on training queries.
const K1S: [f64; 7] = [0.6, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0];
const BS: [f64; 8] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.9];

/// A full-text variant: label, title mode, length unit, analyser.
type Variant = (String, TitleMode, DlUnit, TextOptions);

fn variants() -> Vec<Variant> {
    let base = TextOptions::default();
    let mut out: Vec<Variant> = Vec::new();
    for unit in [DlUnit::Lexemes, DlUnit::Tokens] {
        for mode in [TitleMode::None, TitleMode::Flat(1), TitleMode::Flat(2), TitleMode::Flat(3), TitleMode::Flat(4), TitleMode::Field(0.5), TitleMode::Field(1.0)] {
            let shipped = if (mode, unit) == SHIPPED { " (as shipped)" } else { "" };
            out.push((format!("title {mode:?}, dl {unit:?}{shipped}"), mode, unit, base));
        }
    }
    let no_stems = TextOptions { korean_stems: false, ..base };
    let no_english_stems = TextOptions { english_stems: false, ..base };
    let bigrams = TextOptions { index_bigrams: true, query_bigrams: true, ..base };
    let index_bigrams = TextOptions { index_bigrams: true, ..base };
    for (label, o) in [("no English stems", no_english_stems), ("no Korean stems", no_stems), ("stems + bigrams (index+query)", bigrams), ("stems + index bigrams", index_bigrams)] {
        out.push((format!("as shipped, {label}"), SHIPPED.0, SHIPPED.1, o));
    }
    out
}

/// The extension's full text: the document title `TITLE_REPEATS` times and
/// the chunk text in one field, document length in distinct lexemes.
const SHIPPED: (TitleMode, DlUnit) = (TitleMode::Flat(text::TITLE_REPEATS as u32), DlUnit::Lexemes);

/// Train nDCG@10 of every (variant, k1, b) of one dataset, printing the
/// best of each variant with its test figures.
fn eval_full_text(ds: &Dataset, only: &str) -> HashMap<(String, u64, u64), f64> {
    header("BM25 variants, best k1/b of each on the training queries", ds);
    let mut grid = HashMap::new();
    for (label, mode, unit, opts) in variants() {
        if !only.is_empty() && !label.contains(only) {
            continue;
        }
        let ft = FullText::new(ds, mode, unit, opts);
        let train: Vec<(&Query, Matches)> = ds.train.iter().map(|q| (q, ft.matches(&q.text))).collect();
        let test: Vec<(&Query, Matches)> = ds.test.iter().map(|q| (q, ft.matches(&q.text))).collect();
        let run = |set: &[(&Query, Matches)], p: Bm25| {
            let (mut n, mut r) = (0.0, 0.0);
            for (q, m) in set {
                let ranked = ids(&ft.top_matches(m, p, 100));
                n += ndcg10(&ranked, &q.rel);
                r += recall100(&ranked, &q.rel);
            }
            let len = set.len().max(1) as f64;
            (n / len, r / len)
        };
        let mut best: Option<(f64, Bm25)> = None;
        for k1 in K1S {
            for b in BS {
                let p = Bm25 { k1, b };
                let (n, _) = run(&train, p);
                grid.insert((label.clone(), k1.to_bits(), b.to_bits()), n);
                if best.is_none_or(|(m, _)| n > m) {
                    best = Some((n, p));
                }
            }
        }
        let Some((_, p)) = best else { continue };
        row(&format!("{label}, k1 {} b {} (best on train)", p.k1, p.b), run(&train, p), run(&test, p));
        let d = Bm25::default();
        row(&format!("{label}, k1 {} b {} (default)", d.k1, d.b), run(&train, d), run(&test, d));
    }
    grid
}

/// The k1/b of each variant that is best on the mean of the datasets'
/// training nDCG@10 (each language counts equally).
fn joint_choice(grids: &[HashMap<(String, u64, u64), f64>]) {
    println!("\n## Joint choice: mean training nDCG@10 over the datasets");
    println!("| variant | k1 | b | mean train nDCG@10 | per dataset |");
    println!("|---|---:|---:|---:|---|");
    for (label, ..) in variants() {
        let mut best: Option<(f64, f64, f64, Vec<f64>)> = None;
        for k1 in K1S {
            for b in BS {
                let key = (label.clone(), k1.to_bits(), b.to_bits());
                let per: Vec<f64> = grids.iter().filter_map(|g| g.get(&key).copied()).collect();
                if per.len() != grids.len() {
                    continue;
                }
                let mean = per.iter().sum::<f64>() / per.len() as f64;
                if best.as_ref().is_none_or(|b| mean > b.0) {
                    best = Some((mean, k1, b, per));
                }
            }
        }
        if let Some((mean, k1, b, per)) = best {
            let per: Vec<String> = per.iter().map(|x| format!("{x:.4}")).collect();
            println!("| {label} | {k1} | {b} | {mean:.4} | {} |", per.join(" / "));
        }
    }
}

/// Rows of an `NAME.f32` + `NAME.jsonl` pair, keyed by dataset id.
fn load_vectors(dir: &Path, name: &str) -> Res<HashMap<String, Vec<f32>>> {
    let raw = fs::read(dir.join(format!("{name}.f32")))?;
    let dim = 384;
    let mut out = HashMap::new();
    for line in fs::read_to_string(dir.join(format!("{name}.jsonl")))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let row = v["row"].as_u64().ok_or("row")? as usize;
        let bytes = raw.get(row * dim * 4..(row + 1) * dim * 4).ok_or("short f32 file")?;
        let vec = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(v["id"].as_str().ok_or("id")?.to_owned(), vec);
    }
    Ok(out)
}

/// One query's candidates as the extension's hybrid search sees them at a
/// candidate depth: the vector list and the full-text list, each `depth`
/// long, and both cheap signals of every candidate of their union.
struct Candidates {
    ids: Vec<u64>,
    signals: Vec<Signals>,
    vec_list: Vec<u64>,
    fts_list: Vec<u64>,
}

struct Prepared<'a> {
    query: &'a Query,
    /// Every document by cosine distance, nearest first.
    by_vector: Vec<(u64, f64)>,
    distance: Vec<f64>,
    bm25: Vec<(u64, f64)>,
}

impl Prepared<'_> {
    fn candidates(&self, depth: usize) -> Candidates {
        let vec_list: Vec<u64> = self.by_vector.iter().take(depth).map(|x| x.0).collect();
        let fts_list: Vec<u64> = self.bm25.iter().take(depth).map(|x| x.0).collect();
        let bm: HashMap<u64, f64> = self.bm25.iter().copied().collect();
        let mut ids: Vec<u64> = vec_list.iter().chain(&fts_list).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let signals = ids
            .iter()
            .map(|d| Signals { vec_distance: Some(self.distance[*d as usize]), fts: bm.get(d).copied(), ..Default::default() })
            .collect();
        Candidates { ids, signals, vec_list, fts_list }
    }
}

fn prepare<'a>(
    ds: &Dataset,
    queries: &'a [Query],
    ft: &FullText,
    p: Bm25,
    doc_vecs: &HashMap<String, Vec<f32>>,
    query_vecs: &HashMap<String, Vec<f32>>,
) -> Vec<Prepared<'a>> {
    let docs: Vec<Option<&Vec<f32>>> = ds.doc_ids.iter().map(|id| doc_vecs.get(id)).collect();
    queries
        .iter()
        .filter_map(|q| {
            let qv = query_vecs.get(&q.id)?;
            let distance: Vec<f64> = docs
                .iter()
                .map(|v| match v {
                    Some(v) => 1.0 - v.iter().zip(qv).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>(),
                    None => 2.0,
                })
                .collect();
            let mut by_vector: Vec<(u64, f64)> = distance.iter().enumerate().map(|(d, x)| (d as u64, -x)).collect();
            fusion::sort_scored(&mut by_vector);
            Some(Prepared { query: q, by_vector, distance, bm25: ft.rank(&q.text, p) })
        })
        .collect()
}

/// A way to fuse the vector and full-text signals of a candidate set.
#[derive(Clone, Copy, Debug)]
enum Method {
    /// The extension's weighted fusion (`fusion::weighted`) with this
    /// full-text weight and 1 − it for vectors.
    Product(f64),
    /// Both signals min-max normalised over the candidates.
    MinMax(f64),
    /// Both signals as z-scores over the candidates (similarity 1 − d for
    /// vectors).
    ZScore(f64),
    /// Reciprocal-rank fusion with this k.
    Rrf(f64),
}

impl Method {
    fn label(&self) -> String {
        match self {
            Method::Product(f) => format!("weighted (extension), fts {f:.3}"),
            Method::MinMax(f) => format!("min-max both, fts {f:.2}"),
            Method::ZScore(f) => format!("z-score both, fts {f:.2}"),
            Method::Rrf(k) => format!("RRF k {k}"),
        }
    }
}

fn normalised(xs: &[f64], z: bool) -> Vec<f64> {
    let n = xs.len().max(1) as f64;
    if z {
        let mean = xs.iter().sum::<f64>() / n;
        let sd = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        xs.iter().map(|x| if sd > 0.0 { (x - mean) / sd } else { 0.0 }).collect()
    } else {
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        xs.iter().map(|x| if hi > lo { (x - lo) / (hi - lo) } else { 1.0 }).collect()
    }
}

/// The fused ranking of one query's candidates.
fn fused(c: &Candidates, method: Method) -> Vec<u64> {
    let scores: Vec<f64> = match method {
        Method::Product(f) => fusion::weighted(&c.signals, &Weights { vec: 1.0 - f, fts: f, title: 0.0, lex: 0.0, entity: 0.0 }),
        Method::MinMax(f) | Method::ZScore(f) => {
            let z = matches!(method, Method::ZScore(_));
            let v: Vec<f64> = c.signals.iter().map(|s| 1.0 - s.vec_distance.unwrap_or(1.0)).collect();
            let t: Vec<f64> = c.signals.iter().map(|s| s.fts.unwrap_or(0.0)).collect();
            let (v, t) = (normalised(&v, z), normalised(&t, z));
            v.iter().zip(&t).map(|(v, t)| (1.0 - f) * v + f * t).collect()
        }
        Method::Rrf(k) => {
            let fused: HashMap<u64, f64> = fusion::rrf(&[c.vec_list.clone(), c.fts_list.clone()], k).into_iter().collect();
            c.ids.iter().map(|d| fused.get(d).copied().unwrap_or(0.0)).collect()
        }
    };
    ids(&fusion::top_k(c.ids.iter().copied().zip(scores).collect(), 1000))
}

/// Per (method label, depth): the sum of training nDCG@10 and the number
/// of training queries, for choosing over several datasets' queries pooled.
type TrainSums = HashMap<(String, usize), (f64, usize)>;

fn eval_fusion(
    ds: &Dataset,
    ft: &FullText,
    p: Bm25,
    doc_vecs: &HashMap<String, Vec<f32>>,
    query_vecs: &HashMap<String, Vec<f32>>,
    sums: &mut TrainSums,
) {
    let train = prepare(ds, &ds.train, ft, p, doc_vecs, query_vecs);
    let test = prepare(ds, &ds.test, ft, p, doc_vecs, query_vecs);
    if train.is_empty() {
        println!("\n({}: no vectors for the training queries, fusion skipped)", ds.name);
        return;
    }
    let own = |set: &[Prepared], f: &dyn Fn(&Prepared) -> Vec<u64>| {
        let queries: Vec<&Prepared> = set.iter().collect();
        let (mut n, mut r) = (0.0, 0.0);
        for q in &queries {
            let ranked = f(q);
            n += ndcg10(&ranked, &q.query.rel);
            r += recall100(&ranked, &q.query.rel);
        }
        let len = queries.len().max(1) as f64;
        (n / len, r / len)
    };
    println!("\n## {} — fusion of e5 vectors and BM25 ({} / {} queries with vectors)", ds.name, train.len(), test.len());
    println!("| method | depth | train nDCG@10 | train recall@100 | test nDCG@10 | test recall@100 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let single = |f: &dyn Fn(&Prepared) -> Vec<u64>, label: &str| {
        let a = own(&train, f);
        let b = own(&test, f);
        println!("| {label} | – | {:.4} | {:.4} | {:.4} | {:.4} |", a.0, a.1, b.0, b.1);
    };
    single(&|q| q.by_vector.iter().take(1000).map(|x| x.0).collect(), "vector only");
    single(&|q| ids(&q.bm25), "BM25 only");
    for depth in [100, 1000] {
        let tr: Vec<(&Prepared, Candidates)> = train.iter().map(|q| (q, q.candidates(depth))).collect();
        let te: Vec<(&Prepared, Candidates)> = test.iter().map(|q| (q, q.candidates(depth))).collect();
        let run = |set: &[(&Prepared, Candidates)], m: Method| {
            let (mut n, mut r) = (0.0, 0.0);
            for (q, c) in set {
                let ranked = fused(c, m);
                n += ndcg10(&ranked, &q.query.rel);
                r += recall100(&ranked, &q.query.rel);
            }
            let len = set.len().max(1) as f64;
            (n / len, r / len)
        };
        for m in fusion_methods() {
            let a = run(&tr, m);
            let b = run(&te, m);
            println!("| {} | {depth} | {:.4} | {:.4} | {:.4} | {:.4} |", m.label(), a.0, a.1, b.0, b.1);
            let sum = sums.entry((m.label(), depth)).or_default();
            sum.0 += a.0 * tr.len() as f64;
            sum.1 += tr.len();
        }
    }
}

/// The fusion setting best on every training query of both sets pooled
/// (each query counts once), next to the shipped weights.
fn fusion_choice(sums: &TrainSums) {
    let mut rows: Vec<(&(String, usize), f64, usize)> = sums.iter().map(|(k, (s, n))| (k, s / (*n).max(1) as f64, *n)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    println!("\n## Fusion choice: mean nDCG@10 over the training queries of both sets pooled");
    println!("| method | depth | pooled train nDCG@10 | queries |");
    println!("|---|---:|---:|---:|");
    let shipped = Method::Product(shipped_fts_share()).label();
    for (i, ((label, depth), mean, n)) in rows.iter().enumerate() {
        if i < 5 || *label == shipped {
            let note = rank_note(i, *label == shipped);
            println!("| {label}{note} | {depth} | {mean:.4} | {n} |");
        }
    }
    // The extension's weights are chosen for both depths it fuses at with
    // rag_search.hybrid_oversample 10: top_k 10 (100 candidates) and
    // top_k 100 (1000 candidates).
    let mut by_method: HashMap<&str, Vec<f64>> = HashMap::new();
    for ((label, _), mean, _) in &rows {
        if label.starts_with("weighted (extension)") {
            by_method.entry(label.as_str()).or_default().push(*mean);
        }
    }
    let mut methods: Vec<(&str, f64)> =
        by_method.into_iter().map(|(l, v)| (l, v.iter().sum::<f64>() / v.len().max(1) as f64)).collect();
    methods.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    println!("\n## Weight choice: the extension's fusion, pooled training nDCG@10 averaged over depths 100 and 1000");
    println!("| method | mean pooled train nDCG@10 |");
    println!("|---|---:|");
    for (i, (label, mean)) in methods.iter().enumerate() {
        let note = rank_note(i, *label == shipped);
        println!("| {label}{note} | {mean:.4} |");
    }
}

/// The note after a ranked row: the first is the best, the shipped one says so.
fn rank_note(rank: usize, shipped: bool) -> &'static str {
    match (rank, shipped) {
        (0, true) => " (best; shipped)",
        (0, false) => " (best)",
        (_, true) => " (shipped)",
        _ => "",
    }
}

/// The full-text share of the vector + full-text weight of the shipped
/// defaults (the trigram weights have no signal offline).
fn shipped_fts_share() -> f64 {
    let w = Weights::default();
    w.fts / (w.vec + w.fts)
}

/// The fusion methods compared: each normalisation with a range of
/// full-text shares, and reciprocal-rank fusion with a range of k.
fn fusion_methods() -> Vec<Method> {
    let mut out = Vec::new();
    for fts in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7] {
        out.extend([Method::Product(fts), Method::MinMax(fts), Method::ZScore(fts)]);
    }
    // The shipped share, unless the grid already has it.
    let shipped = shipped_fts_share();
    if !out.iter().any(|m| matches!(m, Method::Product(f) if (f - shipped).abs() < 1e-9)) {
        out.push(Method::Product(shipped));
    }
    for k in [10.0, 30.0, 60.0] {
        out.push(Method::Rrf(k));
    }
    out
}

fn main() -> Res<()> {
    let Some(root) = find_shared() else {
        println!("eval_bm25: ../shared/datasets not found (set RAG_SHARED_DIR); skipping evaluation.");
        return Ok(());
    };
    let only = std::env::var("RAG_EVAL_ONLY").unwrap_or_default();
    let ko = load(&root, "autorag-ko-dev", &[("dev.tsv", None)])?;
    let sf = load(&root, "scifact", &[("train.tsv", Some(Split::Train)), ("test.tsv", Some(Split::Test))])?;
    let variant = std::env::var("RAG_EVAL_VARIANT").unwrap_or_default();
    if only.is_empty() || only == "bm25" {
        let grids = [eval_full_text(&ko, &variant), eval_full_text(&sf, &variant)];
        joint_choice(&grids);
    }
    if only.is_empty() || only == "fusion" {
        let emb = root.join("embeddings").join("me5-small-q4");
        let cache = std::env::var("RAG_EVAL_VECTORS").map(PathBuf::from).ok();
        let p = Bm25::default();
        let mut sums = TrainSums::new();
        for (ds, corpus, queries, train_queries) in [
            (&ko, "autorag-ko-corpus", "autorag-ko-dev-queries", None),
            (&sf, "scifact-corpus", "scifact-test-queries", Some("scifact-train-queries")),
        ] {
            let Ok(doc_vecs) = load_vectors(&emb, corpus) else {
                println!("({}: embeddings not found, fusion skipped)", ds.name);
                continue;
            };
            let mut query_vecs = load_vectors(&emb, queries)?;
            if let (Some(name), Some(dir)) = (train_queries, &cache) {
                if let Ok(more) = load_vectors(dir, name) {
                    query_vecs.extend(more);
                }
            }
            let ft = FullText::new(ds, SHIPPED.0, SHIPPED.1, TextOptions::default());
            eval_fusion(ds, &ft, p, &doc_vecs, &query_vecs, &mut sums);
        }
        fusion_choice(&sums);
    }
    Ok(())
}
