//! Retrieval evaluation and weight tuning on an operator's judged queries
//! (rag_evaluate, rag_tune_weights).
//!
//! Metrics follow BEIR / trec_eval (pytrec_eval): a ranked list of
//! document ids is judged against graded relevance; a document split into
//! several chunks counts once, at its best-ranked chunk
//! ([`first_per_document`]). At cut-off k:
//!
//! - nDCG@k: gain = relevance (negative counts 0), discount log2(rank + 1),
//!   normalised by the ideal ranking of the judged documents;
//! - recall@k: relevant documents (relevance > 0) among the first k, over
//!   all relevant documents;
//! - MRR: 1 / rank of the first relevant document within the first k (0
//!   when none), trec_eval's `recip_rank` cut at k;
//! - hit@k: 1 when a relevant document is among the first k.
//!
//! A query whose judgments hold no relevant document scores 0 everywhere.

use std::collections::{HashMap, HashSet};

use crate::fusion::Weights;
use crate::hash::chunk_hash;
use crate::search::{Candidate, Ranking};

/// Judgments of one query: document id → graded relevance.
pub type Judgments = HashMap<String, i64>;

/// The first hit of each document, in order.
pub fn first_per_document<S: AsRef<str>>(ranked: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut seen = HashSet::new();
    ranked.into_iter().filter(|d| seen.insert(d.as_ref().to_string())).map(|d| d.as_ref().to_string()).collect()
}

fn relevance(judged: &Judgments, doc: &str) -> i64 {
    judged.get(doc).copied().unwrap_or(0).max(0)
}

fn discount(rank0: usize) -> f64 {
    ((rank0 + 2) as f64).log2()
}

/// nDCG@k with graded relevance.
pub fn ndcg_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    let dcg: f64 = ranked.iter().take(k).enumerate().map(|(i, d)| relevance(judged, d) as f64 / discount(i)).sum();
    let mut ideal: Vec<i64> = judged.values().copied().filter(|r| *r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, r)| *r as f64 / discount(i)).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Share of the relevant documents found among the first k.
pub fn recall_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    let relevant = judged.values().filter(|r| **r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked.iter().take(k).filter(|d| relevance(judged, d) > 0).count();
    found as f64 / relevant as f64
}

/// 1 / rank of the first relevant document among the first k, else 0.
pub fn reciprocal_rank_at(ranked: &[String], judged: &Judgments, k: usize) -> f64 {
    ranked.iter().take(k).position(|d| relevance(judged, d) > 0).map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// The four figures of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryMetrics {
    pub ndcg: f64,
    pub recall: f64,
    pub mrr: f64,
    pub hit: f64,
}

/// Every figure of one query's ranked documents at cut-off k.
pub fn metrics(ranked: &[String], judged: &Judgments, k: usize) -> QueryMetrics {
    let mrr = reciprocal_rank_at(ranked, judged, k);
    QueryMetrics {
        ndcg: ndcg_at(ranked, judged, k),
        recall: recall_at(ranked, judged, k),
        mrr,
        hit: if mrr > 0.0 { 1.0 } else { 0.0 },
    }
}

/// Means over the queries of one mode, with the mean search time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Means {
    sum: QueryMetrics,
    milliseconds: f64,
    pub queries: usize,
}

impl Means {
    pub fn add(&mut self, m: QueryMetrics, milliseconds: f64) {
        self.sum.ndcg += m.ndcg;
        self.sum.recall += m.recall;
        self.sum.mrr += m.mrr;
        self.sum.hit += m.hit;
        self.milliseconds += milliseconds;
        self.queries += 1;
    }

    /// The mean figures (0 without queries).
    pub fn metrics(&self) -> QueryMetrics {
        let n = self.queries.max(1) as f64;
        QueryMetrics { ndcg: self.sum.ndcg / n, recall: self.sum.recall / n, mrr: self.sum.mrr / n, hit: self.sum.hit / n }
    }

    pub fn mean_milliseconds(&self) -> f64 {
        self.milliseconds / self.queries.max(1) as f64
    }
}

/// What a column of an operator's table holds, as far as evaluation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// text, varchar, char (type category S).
    Text,
    /// smallint, integer, bigint.
    Integer,
    /// pgvector's vector.
    Vector,
    /// real[] or double precision[].
    FloatArray,
    Other,
}

impl ColumnKind {
    /// From the catalog: the type's name and category, its element type's
    /// name for an array, and whether it is pgvector's `vector`.
    pub fn of(type_name: &str, category: &str, element: Option<&str>, is_vector: bool) -> ColumnKind {
        match (type_name, category, element) {
            _ if is_vector => ColumnKind::Vector,
            ("int2" | "int4" | "int8", _, _) => ColumnKind::Integer,
            (_, "S", _) => ColumnKind::Text,
            (_, "A", Some("float4" | "float8")) => ColumnKind::FloatArray,
            _ => ColumnKind::Other,
        }
    }
}

/// A column rag_evaluate reads from an operator's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedColumn {
    pub name: &'static str,
    pub accepts: &'static [ColumnKind],
    pub required: bool,
    /// The accepted types, for messages.
    pub types: &'static str,
}

const ID: &[ColumnKind] = &[ColumnKind::Text, ColumnKind::Integer];

/// The judged queries: `query_id`, `query` and, optionally, a precomputed
/// `query_vector` (then no embedding call is made for that query).
pub const QUERY_COLUMNS: [ExpectedColumn; 3] = [
    ExpectedColumn { name: "query_id", accepts: ID, required: true, types: "text or an integer type" },
    ExpectedColumn { name: "query", accepts: &[ColumnKind::Text], required: true, types: "text" },
    ExpectedColumn {
        name: "query_vector",
        accepts: &[ColumnKind::Vector, ColumnKind::FloatArray],
        required: false,
        types: "vector, real[] or double precision[]",
    },
];

/// The judgments: one row per judged (query, document) pair.
pub const QRELS_COLUMNS: [ExpectedColumn; 3] = [
    ExpectedColumn { name: "query_id", accepts: ID, required: true, types: "text or an integer type" },
    ExpectedColumn { name: "doc_id", accepts: ID, required: true, types: "text or an integer type" },
    ExpectedColumn { name: "relevance", accepts: &[ColumnKind::Integer], required: true, types: "an integer type" },
];

/// The expected layout of a table, for hints.
pub fn layout(expected: &[ExpectedColumn]) -> String {
    expected
        .iter()
        .map(|c| if c.required { format!("{} {}", c.name, c.types) } else { format!("{} {} (optional)", c.name, c.types) })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a table cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnProblem {
    Missing { column: &'static str },
    WrongType { column: &'static str, found: String, expected: &'static str },
}

/// Checks `found` columns `(name, kind, type as PostgreSQL names it)`
/// against `expected`; returns which optional columns are present.
pub fn check_columns(expected: &[ExpectedColumn], found: &[(String, ColumnKind, String)]) -> Result<Vec<&'static str>, ColumnProblem> {
    let mut present = Vec::new();
    for e in expected {
        match found.iter().find(|(name, _, _)| name == e.name) {
            None if e.required => return Err(ColumnProblem::Missing { column: e.name }),
            None => {}
            Some((_, kind, _)) if e.accepts.contains(kind) && !e.required => present.push(e.name),
            Some((_, kind, _)) if e.accepts.contains(kind) => {}
            Some((_, _, shown)) => {
                return Err(ColumnProblem::WrongType { column: e.name, found: shown.clone(), expected: e.types })
            }
        }
    }
    Ok(present)
}

/// The declared held-out split when no held-out table is given: a query is
/// held out when the first byte of sha256(`rag_search/heldout\0` ‖ id) is a
/// multiple of 5 — about one query in five, fixed for an id whatever else
/// the table holds.
pub fn held_out(query_id: &str) -> bool {
    chunk_hash(&format!("rag_search/heldout\0{query_id}"))[0].is_multiple_of(5)
}

/// Values each weight takes in the tuning grid (rag_tune_weights). Fused
/// scores are linear in the weights, so only their ratios matter; the grid
/// spans them from one signal alone to an even mix.
pub const GRID_VECTOR: [f64; 6] = [0.0, 0.2, 0.35, 0.55, 0.75, 1.0];
pub const GRID_FTS: [f64; 8] = [0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0];
pub const GRID_TITLE: [f64; 3] = [0.0, 0.05, 0.15];
pub const GRID_LEXICAL: [f64; 3] = [0.0, 0.1, 0.2];
/// Tried only when some document carries entity metadata.
pub const GRID_ENTITY: [f64; 3] = [0.0, 0.1, 0.3];

/// The settings a tuning run tries: `current` first, then the grid (every
/// combination with a vector or full-text weight, and with `entity` every
/// entity weight), at most 1 + (6·8 − 1)·3·3·3 = 1,270.
pub fn weight_grid(current: Weights, entity: bool) -> Vec<Weights> {
    let entities: &[f64] = if entity { &GRID_ENTITY } else { &[0.0] };
    let mut grid = vec![current];
    for &vec in &GRID_VECTOR {
        for &fts in &GRID_FTS {
            if vec == 0.0 && fts == 0.0 {
                continue;
            }
            for &title in &GRID_TITLE {
                for &lex in &GRID_LEXICAL {
                    for &e in entities {
                        let w = Weights { vec, fts, title, lex, entity: e };
                        if w != current {
                            grid.push(w);
                        }
                    }
                }
            }
        }
    }
    grid
}

/// One training or held-out query for [`Tuner::add`]: its candidates with
/// every signal known, the candidates the entity list alone brought in
/// (ranked only by settings with an entity weight), and the doc_id of each
/// candidate's document.
pub struct TuningQuery<'a> {
    pub candidates: &'a [Candidate],
    pub entity_only: &'a HashSet<i64>,
    pub doc_ids: &'a HashMap<i64, String>,
    pub judged: &'a Judgments,
    pub held_out: bool,
}

/// nDCG@k of every setting, summed over training and held-out queries
/// separately; memory is one pair of sums per setting, whatever the number
/// of queries.
pub struct Tuner {
    pub settings: Vec<Weights>,
    base: Ranking,
    train: Vec<f64>,
    heldout: Vec<f64>,
    pub train_queries: usize,
    pub heldout_queries: usize,
}

impl Tuner {
    /// `base`: how searches rank (mode, fusion, top_k = k); its weights are
    /// replaced by each setting's.
    pub fn new(settings: Vec<Weights>, base: Ranking) -> Tuner {
        let n = settings.len();
        Tuner { settings, base, train: vec![0.0; n], heldout: vec![0.0; n], train_queries: 0, heldout_queries: 0 }
    }

    /// The documents a setting ranks first, at most k, each at its best chunk.
    fn ranked_documents(&self, weights: Weights, candidates: &[Candidate], doc_ids: &HashMap<i64, String>) -> Vec<String> {
        let ranking = Ranking { weights, ..self.base };
        let order = ranking.rank(candidates);
        let docs = order.iter().filter_map(|&(i, _)| candidates[i].document.and_then(|d| doc_ids.get(&d)));
        let mut ranked = first_per_document(docs);
        ranked.truncate(self.base.top_k);
        ranked
    }

    pub fn add(&mut self, q: &TuningQuery) {
        let without: Vec<Candidate> = q.candidates.iter().filter(|c| !q.entity_only.contains(&c.id)).copied().collect();
        for (i, w) in self.settings.iter().enumerate() {
            let candidates = if w.entity > 0.0 { q.candidates } else { &without };
            let ndcg = ndcg_at(&self.ranked_documents(*w, candidates, q.doc_ids), q.judged, self.base.top_k);
            if q.held_out {
                self.heldout[i] += ndcg;
            } else {
                self.train[i] += ndcg;
            }
        }
        if q.held_out {
            self.heldout_queries += 1;
        } else {
            self.train_queries += 1;
        }
    }

    /// The setting with the best training nDCG (ties: the earliest, so the
    /// current setting wins a tie).
    pub fn best(&self) -> usize {
        let mut best = 0;
        for i in 1..self.train.len() {
            if self.train[i] > self.train[best] + 1e-12 {
                best = i;
            }
        }
        best
    }

    pub fn train_ndcg(&self, setting: usize) -> f64 {
        self.train[setting] / self.train_queries.max(1) as f64
    }

    pub fn heldout_ndcg(&self, setting: usize) -> f64 {
        self.heldout[setting] / self.heldout_queries.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Fusion, Ran};

    fn judged(pairs: &[(&str, i64)]) -> Judgments {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ndcg_uses_graded_gains_and_the_ideal_order_of_the_judgments() {
        let j = judged(&[("a", 1), ("b", 1), ("x", 0)]);
        assert!(close(ndcg_at(&ranked(&["a", "b", "c"]), &j, 10), 1.0));
        let one = judged(&[("a", 1)]);
        assert!(close(ndcg_at(&ranked(&["c", "a"]), &one, 10), 1.0 / 3f64.log2()));
        assert_eq!(ndcg_at(&ranked(&["c", "a"]), &one, 1), 0.0);
        // Graded: a 2 then a 1 ranked as 1, 2.
        let graded = judged(&[("hi", 2), ("lo", 1)]);
        let want = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!(close(ndcg_at(&ranked(&["lo", "hi"]), &graded, 10), want));
        // Negative relevance counts 0; no relevant document scores 0.
        assert_eq!(ndcg_at(&ranked(&["a"]), &judged(&[("a", -1)]), 10), 0.0);
        assert_eq!(ndcg_at(&ranked(&["a"]), &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn recall_mrr_and_hit_at_k() {
        let j = judged(&[("a", 1), ("b", 2), ("x", 0)]);
        let m = metrics(&ranked(&["x", "c", "b", "a"]), &j, 3);
        assert_eq!(m, QueryMetrics { ndcg: m.ndcg, recall: 0.5, mrr: 1.0 / 3.0, hit: 1.0 });
        let miss = metrics(&ranked(&["x", "c", "b"]), &j, 2);
        assert_eq!((miss.recall, miss.mrr, miss.hit, miss.ndcg), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(recall_at(&ranked(&["a"]), &Judgments::new(), 10), 0.0);
    }

    #[test]
    fn documents_count_once_at_their_best_rank_and_means_average_queries() {
        assert_eq!(first_per_document(["a", "b", "a", "c", "b"]), ranked(&["a", "b", "c"]));
        let mut means = Means::default();
        means.add(QueryMetrics { ndcg: 1.0, recall: 1.0, mrr: 1.0, hit: 1.0 }, 4.0);
        means.add(QueryMetrics { ndcg: 0.5, recall: 0.0, mrr: 0.25, hit: 1.0 }, 2.0);
        assert_eq!(means.metrics(), QueryMetrics { ndcg: 0.75, recall: 0.5, mrr: 0.625, hit: 1.0 });
        assert_eq!((means.queries, means.mean_milliseconds()), (2, 3.0));
        assert_eq!(Means::default().metrics(), QueryMetrics::default());
    }

    #[test]
    fn columns_are_checked_by_name_and_kind() {
        let col = |n: &str, k: ColumnKind, t: &str| (n.to_string(), k, t.to_string());
        assert_eq!(ColumnKind::of("varchar", "S", None, false), ColumnKind::Text);
        assert_eq!(ColumnKind::of("int8", "N", None, false), ColumnKind::Integer);
        assert_eq!(ColumnKind::of("numeric", "N", None, false), ColumnKind::Other);
        assert_eq!(ColumnKind::of("_float4", "A", Some("float4"), false), ColumnKind::FloatArray);
        assert_eq!(ColumnKind::of("_text", "A", Some("text"), false), ColumnKind::Other);
        assert_eq!(ColumnKind::of("vector", "U", None, true), ColumnKind::Vector);
        let good = [col("query", ColumnKind::Text, "text"), col("query_id", ColumnKind::Integer, "integer"), col("extra", ColumnKind::Other, "jsonb")];
        assert_eq!(check_columns(&QUERY_COLUMNS, &good), Ok(vec![]));
        let mut with_vector = good.to_vec();
        with_vector.push(col("query_vector", ColumnKind::Vector, "vector(384)"));
        assert_eq!(check_columns(&QUERY_COLUMNS, &with_vector), Ok(vec!["query_vector"]));
        assert_eq!(check_columns(&QUERY_COLUMNS, &good[..1]), Err(ColumnProblem::Missing { column: "query_id" }));
        let bad = [col("query_id", ColumnKind::Text, "text"), col("query", ColumnKind::Other, "jsonb")];
        assert_eq!(
            check_columns(&QUERY_COLUMNS, &bad),
            Err(ColumnProblem::WrongType { column: "query", found: "jsonb".into(), expected: "text" })
        );
        let wrong_vector = [col("query_id", ColumnKind::Text, "text"), col("query", ColumnKind::Text, "text"), col("query_vector", ColumnKind::Text, "text")];
        assert!(matches!(check_columns(&QUERY_COLUMNS, &wrong_vector), Err(ColumnProblem::WrongType { column: "query_vector", .. })));
        assert!(layout(&QRELS_COLUMNS).starts_with("query_id text or an integer type, doc_id"));
    }

    #[test]
    fn the_held_out_split_is_fixed_and_about_a_fifth() {
        let ids: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let held = ids.iter().filter(|i| held_out(i)).count();
        assert!((800..1250).contains(&held), "{held}");
        assert_eq!(held_out("42"), held_out("42"));
        assert!(ids.iter().any(|i| held_out(i)) && ids.iter().any(|i| !held_out(i)));
    }

    #[test]
    fn the_grid_is_bounded_and_starts_with_the_current_setting() {
        let current = Weights { vec: 0.5, fts: 0.5, title: 0.0, lex: 0.0, entity: 0.0 };
        let grid = weight_grid(current, false);
        assert_eq!(grid[0], current);
        assert_eq!(grid.len(), 1 + (6 * 8 - 1) * 3 * 3);
        assert!(grid.iter().all(|w| w.entity == 0.0 && (w.vec > 0.0 || w.fts > 0.0)));
        assert_eq!(weight_grid(current, true).len(), 1 + (6 * 8 - 1) * 3 * 3 * 3);
        // The current setting is not tried twice when it lies on the grid.
        let on_grid = Weights { vec: 0.55, fts: 0.3, title: 0.05, lex: 0.1, entity: 0.0 };
        assert_eq!(weight_grid(on_grid, false).len(), (6 * 8 - 1) * 3 * 3);
    }

    fn cand(id: i64, document: i64, distance: f64, bm25: f64) -> Candidate {
        Candidate { id, distance: Some(distance), bm25: Some(bm25), title: Some(0.0), lex: Some(0.0), document: Some(document), ..Candidate::default() }
    }

    #[test]
    fn tuning_picks_on_training_queries_and_reports_held_out_ones_apart() {
        let base = Ranking {
            ran: Ran::Hybrid,
            fusion: Fusion::Weighted,
            weights: Weights::default(),
            rrf_k: 60.0,
            top_k: 2,
            oversample: 10,
            require_all_keywords: false,
            shortlist: 4,
            max_per_document: None,
        };
        let vector_only = Weights { vec: 1.0, fts: 0.0, title: 0.0, lex: 0.0, entity: 0.0 };
        let fts_only = Weights { vec: 0.0, fts: 1.0, title: 0.0, lex: 0.0, entity: 0.0 };
        let mut tuner = Tuner::new(vec![vector_only, fts_only], base);
        // Document 1 is relevant; it is nearest by vector and has the lower
        // BM25, and has two chunks (counted once).
        let candidates = vec![cand(10, 1, 0.1, 1.0), cand(11, 1, 0.2, 0.5), cand(20, 2, 0.9, 5.0)];
        let doc_ids: HashMap<i64, String> = [(1, "one".to_string()), (2, "two".to_string())].into();
        let judged = judged(&[("one", 1)]);
        let none = HashSet::new();
        for held_out in [false, false, true] {
            tuner.add(&TuningQuery { candidates: &candidates, entity_only: &none, doc_ids: &doc_ids, judged: &judged, held_out });
        }
        assert_eq!((tuner.train_queries, tuner.heldout_queries), (2, 1));
        assert_eq!(tuner.best(), 0, "vector alone ranks the relevant document first");
        assert_eq!((tuner.train_ndcg(0), tuner.heldout_ndcg(0)), (1.0, 1.0));
        assert!(close(tuner.train_ndcg(1), 1.0 / 3f64.log2()));
        // Candidates the entity list alone found count for entity settings only.
        let entity_only: HashSet<i64> = [10, 11].into();
        let mut t = Tuner::new(vec![vector_only, Weights { entity: 0.5, ..vector_only }], base);
        t.add(&TuningQuery { candidates: &candidates, entity_only: &entity_only, doc_ids: &doc_ids, judged: &judged, held_out: false });
        assert_eq!((t.train_ndcg(0), t.train_ndcg(1)), (0.0, 1.0));
    }
}
