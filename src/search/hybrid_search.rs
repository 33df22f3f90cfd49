//! rag_hybrid_search: ranked chunks for a query, with every signal's score.
//!
//! A search reads candidate lists from indexes (HNSW, the BM25 top k over
//! postings, title trigrams), fills the cheap signals of the candidates,
//! lets rag_core::search decide which candidates need the expensive
//! trigram signals and how everything is fused, and reads the text of the
//! result page only.

use std::collections::{HashMap, HashSet};

use pgrx::prelude::*;
use crate::sql_types::JsonbText;
use rag_core::fusion;
use rag_core::search::{merge_candidates, title_like, Candidate, DocumentCap, Ran, Ranking};
use rag_core::text::{clamp_query, keyword_window_match, query_terms, MAX_QUERY_TERMS};

use super::entities;
use super::fts::fts_top_k;
use super::options::{enforce_limits, parse_mode, validate_filter, validate_top_k, Mode, Scope, SearchOptions};
use super::query_embedding::query_vector;
use super::retrieve::{self, ChunkRow, QueryStats};
use crate::embedding::{raise_embed_error, Target};
use crate::error::invalid_parameter;
use crate::guc;
use crate::sql_types::VectorArg;

/// One result row (see the `name!`s of rag_hybrid_search).
pub(crate) type Row = (i32, i64, String, String, String, f64, Option<f64>, Option<f64>, Option<f64>, Option<f64>, String, Option<String>);

/// Hybrid retrieval in one call. Modes: `auto` (hybrid when embeddings are
/// usable, otherwise full-text + lexical, with a NOTICE), `hybrid`, `fts`,
/// `vector`, `lexical`. `filter` restricts to documents whose metadata
/// contains it. `options` overrides weights, fusion, rrf_k, oversample and
/// adds `window` (neighbour context), `require_all_keywords` and
/// `max_per_document`.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_hybrid_search(
    q: Option<&str>,
    top_k: Option<i32>,
    mode: default!(Option<&str>, "'auto'"),
    filter: default!(Option<JsonbText>, "NULL"),
    options: default!(Option<JsonbText>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(rank, i32),
        name!(chunk_id, i64),
        name!(doc_id, String),
        name!(title, String),
        name!(content, String),
        name!(score, f64),
        name!(vector_score, Option<f64>),
        name!(fts_score, Option<f64>),
        name!(title_score, Option<f64>),
        name!(lexical_score, Option<f64>),
        name!(mode, String),
        name!(context, Option<String>),
    ),
> {
    crate::security::require_current_schema();
    let request = Request::new(top_k, parse_mode(mode), filter, options);
    TableIterator::new(search(q, None, request))
}

/// Same as rag_hybrid_search with a precomputed query vector: no HTTP call
/// is made. `auto` runs hybrid.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(name = "rag_hybrid_search", volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_hybrid_search_with_vector(
    q: Option<&str>,
    query_vector: Option<VectorArg>,
    top_k: Option<i32>,
    mode: default!(Option<&str>, "'hybrid'"),
    filter: default!(Option<JsonbText>, "NULL"),
    options: default!(Option<JsonbText>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(rank, i32),
        name!(chunk_id, i64),
        name!(doc_id, String),
        name!(title, String),
        name!(content, String),
        name!(score, f64),
        name!(vector_score, Option<f64>),
        name!(fts_score, Option<f64>),
        name!(title_score, Option<f64>),
        name!(lexical_score, Option<f64>),
        name!(mode, String),
        name!(context, Option<String>),
    ),
> {
    crate::security::require_current_schema();
    let request = Request::new(top_k, parse_mode(mode), filter, options);
    let Some(VectorArg(v)) = query_vector else {
        invalid_parameter(
            "query_vector must not be NULL",
            "Call rag_hybrid_search(q, top_k, mode) to have the query embedded by the server.",
        );
    };
    TableIterator::new(search(q, Some(v), request))
}

/// A validated search request.
pub(crate) struct Request {
    pub top_k: i32,
    pub mode: Mode,
    pub filter: Scope,
    pub options: SearchOptions,
}

impl Request {
    fn new(top_k: Option<i32>, mode: Mode, filter: Option<JsonbText>, options: Option<JsonbText>) -> Self {
        let top_k = validate_top_k(top_k, "top_k");
        Request::with_options(top_k, mode, validate_filter(filter), SearchOptions::from_json(options))
    }

    /// From arguments already validated (but for the limits).
    pub fn with_options(top_k: i32, mode: Mode, filter: Option<JsonbText>, options: SearchOptions) -> Self {
        enforce_limits(top_k, options.oversample, options.window);
        let filter = Scope { metadata: filter, source: options.source };
        Request { top_k, mode, filter, options }
    }

    pub fn ranking(&self, ran: Ran) -> Ranking {
        let o = &self.options;
        Ranking {
            ran,
            fusion: o.fusion,
            weights: o.weights,
            rrf_k: o.rrf_k,
            top_k: self.top_k.max(1) as usize,
            oversample: o.oversample.max(1) as usize,
            require_all_keywords: o.require_all_keywords,
            shortlist: o.shortlist.max(1) as usize,
            max_per_document: o.max_per_document.map(|n| n.max(1) as usize),
        }
    }
}

/// A query with its candidates and their cheap signals, ready to rank.
pub(crate) struct Prepared<'q> {
    pub q: &'q str,
    pub words: Vec<String>,
    pub ranking: Ranking,
    pub candidates: Vec<Candidate>,
    /// Candidates only the entity list found.
    pub entity_only: HashSet<i64>,
}

/// Runs a search: the result rows of `q` (`given_vector`: a precomputed
/// query vector, else the server embeds the query when the mode needs it).
pub(crate) fn search(q: Option<&str>, given_vector: Option<Vec<f32>>, req: Request) -> Vec<Row> {
    let Some(mut p) = prepare(q, given_vector, &req, false) else { return Vec::new() };
    // The cascade: trigram signals for the candidates that can change the
    // result, in rounds (rag_core::search::Ranking::next_trigram).
    loop {
        let round = p.ranking.next_trigram(&p.candidates);
        if round.is_empty() {
            break;
        }
        fill_trigram(&mut p, &round);
    }
    let Prepared { q, words, ranking, candidates, .. } = p;
    let order = ranking.rank(&candidates);
    let window = req.options.window.max(0);
    let page = if req.options.require_all_keywords || ranking.max_per_document.is_some() {
        filtered_page(&order, &candidates, &words, q, &req)
    } else {
        let top: Vec<(usize, f64)> = order.into_iter().take(req.top_k as usize).collect();
        let ids: Vec<i64> = top.iter().map(|&(i, _)| candidates[i].id).collect();
        let rows = retrieve::chunk_rows(&ids, q, &needing_trigram(&top, &candidates));
        let contexts = if window > 0 { contexts_of(&ids, &rows, window) } else { HashMap::new() };
        Page { hits: top, rows, contexts }
    };
    page.into_rows(&candidates, ranking.ran, window > 0)
}

/// Trigram signals (and documents) of the candidates at `indexes`.
pub(crate) fn fill_trigram(p: &mut Prepared, indexes: &[usize]) {
    let ids: Vec<i64> = indexes.iter().map(|&i| p.candidates[i].id).collect();
    let trigram = retrieve::trigram_signals(&ids, p.q);
    for &i in indexes {
        let c = &mut p.candidates[i];
        // A chunk deleted meanwhile scores 0: it has no row for the page.
        let (title, lex, document) = trigram.get(&c.id).copied().map_or((0.0, 0.0, None), |(t, l, d)| (t, l, Some(d)));
        c.title = Some(title);
        c.lex = Some(lex);
        c.document = document;
    }
}

/// The query's words, what runs, and the candidates with their cheap
/// signals (None when the query has no word or nothing matches).
/// `all_entities`: compute the entity signal whatever the weights (for
/// tuning them).
pub(crate) fn prepare<'q>(
    q: Option<&'q str>,
    given_vector: Option<Vec<f32>>,
    req: &Request,
    all_entities: bool,
) -> Option<Prepared<'q>> {
    let q = clamp_query(q?, guc::max_query_chars());
    let words = query_terms(q, MAX_QUERY_TERMS);
    if words.is_empty() {
        return None;
    }
    let stats = retrieve::query_stats(&words);
    let target = Target { model: stats.embedding_model.clone(), dimension: stats.embedding_dim };
    if let Some(v) = &given_vector {
        if v.len() != target.dimension as usize {
            invalid_parameter(
                format!("query_vector has {} dimensions, the chunks hold {}", v.len(), target.dimension),
                format!("Embed the query with {} at dimension {}.", target.model, target.dimension),
            );
        }
    }
    let qvec: Option<Vec<f32>> = match (req.mode, given_vector) {
        (Mode::Fts | Mode::Lexical, _) => None,
        (_, Some(v)) => Some(v),
        (Mode::Vector | Mode::Hybrid, None) => {
            Some(query_vector(q, &target, None).unwrap_or_else(|e| raise_embed_error(&e)))
        }
        (Mode::Auto, None) => match auto_vector(q, &target, &stats) {
            Ok(v) => Some(v),
            Err(reason) => {
                pgrx::notice!("rag_hybrid_search: running fts+lexical instead of hybrid: {reason}");
                None
            }
        },
    };
    let ranking = req.ranking(Ran::of(req.mode, qvec.is_some()));
    let entities = all_entities || ranking.uses_entities();
    let (candidates, entity_only) = candidates(&ranking, q, &words, qvec.as_deref(), &stats, &req.filter, entities);
    if candidates.is_empty() {
        return None;
    }
    Some(Prepared { q, words, ranking, candidates, entity_only })
}

/// Candidates of every list the ranking reads, with their cheap signals
/// (distance to the query vector, BM25, and with `entities` the entity
/// signal) filled in; and those only the entity list found.
fn candidates(
    ranking: &Ranking,
    q: &str,
    words: &[String],
    qvec: Option<&[f32]>,
    stats: &QueryStats,
    filter: &Scope,
    entities: bool,
) -> (Vec<Candidate>, HashSet<i64>) {
    let lists = ranking.lists(title_like(words));
    let mut all: Vec<Candidate> = Vec::new();
    if let (Some(v), true) = (qvec, lists.vector > 0) {
        for (id, d) in retrieve::vector_list(v, stats.embedding_dim, lists.vector as i64, filter, stats.vector_iterative_scan) {
            all.push(Candidate { id, distance: Some(d), ..Candidate::default() });
        }
    }
    if lists.fts > 0 {
        for (id, s) in fts_top_k(stats, lists.fts as i64, filter) {
            all.push(Candidate { id, bm25: Some(s), ..Candidate::default() });
        }
    }
    if lists.titles > 0 {
        for id in retrieve::title_list(q, lists.titles as i64, filter) {
            all.push(Candidate { id, ..Candidate::default() });
        }
    }
    let mut merged = merge_candidates(all);
    let named = if entities { entities::query_entities(q) } else { Vec::new() };
    let mut entity_only = HashSet::new();
    if !named.is_empty() {
        let listed: HashSet<i64> = merged.iter().map(|c| c.id).collect();
        for id in entities::entity_list(&named, ranking.wide() as i64, filter) {
            if !listed.contains(&id) && entity_only.insert(id) {
                merged.push(Candidate { id, ..Candidate::default() });
            }
        }
    }
    let missing: Vec<i64> = merged
        .iter()
        .filter(|c| c.bm25.is_none() || (qvec.is_some() && c.distance.is_none()))
        .map(|c| c.id)
        .collect();
    if !missing.is_empty() {
        let cheap = retrieve::cheap_signals(&missing, qvec, stats);
        for c in merged.iter_mut() {
            if let Some(&(distance, bm25)) = cheap.get(&c.id) {
                c.distance = c.distance.or(distance);
                c.bm25 = c.bm25.or(Some(bm25));
            }
        }
    }
    if entities {
        let signals = entities::entity_signals(&merged.iter().map(|c| c.id).collect::<Vec<_>>(), &named);
        for c in merged.iter_mut() {
            c.entity = Some(signals.get(&c.id).copied().unwrap_or(0.0));
        }
    }
    (merged, entity_only)
}

/// The result page: hits in order with their rows and contexts.
struct Page {
    hits: Vec<(usize, f64)>,
    rows: HashMap<i64, ChunkRow>,
    contexts: HashMap<i64, String>,
}

impl Page {
    fn into_rows(mut self, candidates: &[Candidate], ran: Ran, with_context: bool) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.hits.len());
        for (idx, score) in self.hits {
            let c = &candidates[idx];
            // A chunk deleted since it was ranked has no row: skipped.
            let Some(row) = self.rows.remove(&c.id) else { continue };
            let context = if with_context { self.contexts.remove(&c.id) } else { None };
            out.push((
                out.len() as i32 + 1,
                c.id,
                row.doc_id,
                row.title,
                row.content,
                score,
                c.distance.map(fusion::vector_score),
                Some(c.bm25.unwrap_or(0.0)),
                c.title.or(row.title_similarity).or(Some(0.0)),
                c.lex.or(row.lexical_similarity).or(Some(0.0)),
                ran.name().to_string(),
                context,
            ));
        }
        out
    }
}

/// The hits whose trigram signals are not known yet (result rows show them).
fn needing_trigram(hits: &[(usize, f64)], candidates: &[Candidate]) -> Vec<i64> {
    hits.iter().map(|&(i, _)| &candidates[i]).filter(|c| c.title.is_none() || c.lex.is_none()).map(|c| c.id).collect()
}

/// Neighbour windows of chunks `ids` (rows known).
fn contexts_of(ids: &[i64], rows: &HashMap<i64, ChunkRow>, window: i32) -> HashMap<i64, String> {
    let hits: Vec<(i64, i64, i32)> =
        ids.iter().filter_map(|id| rows.get(id).map(|r| (*id, r.document_id, r.ordinal))).collect();
    retrieve::windows(&hits, window)
}

/// The first `top_k` hits, in rank order, that pass the request's filters:
/// with `require_all_keywords`, hits whose window (the chunk and its
/// neighbours, or the chunk alone) or title contains every query keyword;
/// with `max_per_document`, at most that many hits of one document. Rows
/// and windows are read a page at a time, so memory stays bounded by two
/// pages whatever the number of candidates.
fn filtered_page(order: &[(usize, f64)], candidates: &[Candidate], words: &[String], q: &str, req: &Request) -> Page {
    let top_k = req.top_k.max(1) as usize;
    let window = req.options.window.max(0);
    let mut cap = DocumentCap::new(req.options.max_per_document.map(|n| n.max(1) as usize));
    let mut page = Page { hits: Vec::new(), rows: HashMap::new(), contexts: HashMap::new() };
    for batch in order.chunks(top_k) {
        let ids: Vec<i64> = batch.iter().map(|&(i, _)| candidates[i].id).collect();
        let mut rows = retrieve::chunk_rows(&ids, q, &needing_trigram(batch, candidates));
        let mut contexts = if window > 0 { contexts_of(&ids, &rows, window) } else { HashMap::new() };
        for &(idx, score) in batch {
            let id = candidates[idx].id;
            let Some(row) = rows.remove(&id) else { continue };
            let context = contexts.remove(&id);
            let text = context.as_deref().unwrap_or(&row.content);
            if req.options.require_all_keywords && !keyword_window_match(words, &[text, &row.title]) {
                continue;
            }
            if !cap.admit(row.document_id) {
                continue;
            }
            page.hits.push((idx, score));
            page.rows.insert(id, row);
            if let Some(c) = context {
                page.contexts.insert(id, c);
            }
            if page.hits.len() == top_k {
                return page;
            }
        }
    }
    page
}

/// The query vector for auto mode, or why hybrid cannot run.
fn auto_vector(q: &str, target: &Target, stats: &QueryStats) -> Result<Vec<f32>, String> {
    if stats.chunks == 0 {
        return Err("no chunks".to_string());
    }
    let min_coverage = guc::auto_min_coverage();
    let allowed_missing = ((stats.chunks as f64) * (1.0 - min_coverage)).floor() as i64;
    let missing = retrieve::missing_embeddings_up_to(allowed_missing + 1);
    if missing > allowed_missing {
        return Err(format!(
            "embedding coverage is below rag_search.auto_min_coverage ({:.0}%)",
            min_coverage * 100.0
        ));
    }
    query_vector(q, target, Some(guc::auto_embedding_timeout())).map_err(|e| e.to_string())
}
