//! rag_hybrid_search: ranked chunks for a query, with every signal's score.

use std::collections::{HashMap, HashSet};

use pgrx::prelude::*;
use pgrx::JsonB;
use rag_core::fusion::{self, Signals, Weights};
use rag_core::text::{clamp_query, keyword_window_match, query_terms, MAX_QUERY_TERMS};

use super::options::{enforce_limits, validate_filter, validate_top_k, Fusion, Mode, SearchOptions};
use super::query_embedding::query_vector;
use super::retrieve::{self, Candidate, QueryStats};
use crate::embedding::{raise_embed_error, Target};
use crate::error::invalid_parameter;
use crate::guc;
use crate::sql_types::VectorArg;

/// What actually ran; reported in the `mode` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Hybrid,
    Fts,
    Vector,
    Lexical,
    /// auto without usable embeddings: full-text plus lexical signals.
    FtsLexical,
}

impl Ran {
    fn name(self) -> &'static str {
        match self {
            Ran::Hybrid => "hybrid",
            Ran::Fts => "fts",
            Ran::Vector => "vector",
            Ran::Lexical => "lexical",
            Ran::FtsLexical => "fts+lexical",
        }
    }
}

/// One result row (see the `name!`s of rag_hybrid_search).
type Row = (i32, i64, String, String, String, f64, Option<f64>, Option<f64>, Option<f64>, Option<f64>, String, Option<String>);

/// Hybrid retrieval in one call. Modes: `auto` (hybrid when embeddings are
/// usable, otherwise full-text + lexical, with a NOTICE), `hybrid`, `fts`,
/// `vector`, `lexical`. `filter` restricts to documents whose metadata
/// contains it. `options` overrides weights, fusion, rrf_k, oversample and
/// adds `window` (neighbour context) and `require_all_keywords`.
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_hybrid_search(
    q: Option<&str>,
    top_k: Option<i32>,
    mode: default!(Option<&str>, "'auto'"),
    filter: default!(Option<JsonB>, "NULL"),
    options: default!(Option<JsonB>, "NULL"),
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
    let request = Request::new(top_k, Mode::parse(mode), filter, options);
    TableIterator::new(search(q, None, request))
}

/// Same as rag_hybrid_search with a precomputed query vector: no HTTP call
/// is made. `auto` runs hybrid.
#[pg_extern(name = "rag_hybrid_search", volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_hybrid_search_with_vector(
    q: Option<&str>,
    query_vector: Option<VectorArg>,
    top_k: Option<i32>,
    mode: default!(Option<&str>, "'hybrid'"),
    filter: default!(Option<JsonB>, "NULL"),
    options: default!(Option<JsonB>, "NULL"),
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
    let request = Request::new(top_k, Mode::parse(mode), filter, options);
    let Some(VectorArg(v)) = query_vector else {
        invalid_parameter(
            "query_vector must not be NULL",
            "Call rag_hybrid_search(q, top_k, mode) to have the query embedded by the server.",
        );
    };
    TableIterator::new(search(q, Some(v), request))
}

struct Request {
    top_k: i32,
    mode: Mode,
    filter: Option<JsonB>,
    options: SearchOptions,
}

impl Request {
    fn new(top_k: Option<i32>, mode: Mode, filter: Option<JsonB>, options: Option<JsonB>) -> Self {
        let top_k = validate_top_k(top_k, "top_k");
        let options = SearchOptions::from_json(options);
        enforce_limits(top_k, options.oversample, options.window);
        Request { top_k, mode, filter: validate_filter(filter), options }
    }
}

fn search(q: Option<&str>, given_vector: Option<Vec<f32>>, req: Request) -> Vec<Row> {
    let Some(q) = q else { return Vec::new() };
    let q = clamp_query(q, guc::max_query_chars());
    let words = query_terms(q, MAX_QUERY_TERMS);
    if words.is_empty() {
        return Vec::new();
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

    let (ran, qvec) = match req.mode {
        Mode::Fts => (Ran::Fts, None),
        Mode::Lexical => (Ran::Lexical, None),
        Mode::Vector | Mode::Hybrid => {
            let v = match given_vector {
                Some(v) => v,
                None => query_vector(q, &target, None).unwrap_or_else(|e| raise_embed_error(&e)),
            };
            (if req.mode == Mode::Vector { Ran::Vector } else { Ran::Hybrid }, Some(v))
        }
        Mode::Auto => match given_vector {
            Some(v) => (Ran::Hybrid, Some(v)),
            None => match auto_vector(q, &target, &stats) {
                Ok(v) => (Ran::Hybrid, Some(v)),
                Err(reason) => {
                    pgrx::notice!("rag_hybrid_search: running fts+lexical instead of hybrid: {reason}");
                    (Ran::FtsLexical, None)
                }
            },
        },
    };

    let k = req.top_k as i64;
    let wide = k * req.options.oversample.max(1) as i64;
    // Keyword filtering removes candidates after ranking: look further.
    let primary = if req.options.require_all_keywords { wide } else { k };
    let mut ids: Vec<i64> = Vec::new();
    let mut seen: HashSet<i64> = HashSet::new();
    let mut add = |id: i64, ids: &mut Vec<i64>| {
        if seen.insert(id) {
            ids.push(id);
        }
    };
    match ran {
        Ran::Fts => {
            for h in retrieve::fts_candidates(&stats, primary, &req.filter) {
                add(h.id, &mut ids);
            }
        }
        Ran::Vector => {
            for (id, _) in retrieve::vector_candidates(qvec.as_deref().unwrap_or(&[]), stats.embedding_dim, primary, &req.filter) {
                add(id, &mut ids);
            }
        }
        Ran::Lexical => {
            for id in retrieve::lexical_candidates(q, &stats, wide, &req.filter) {
                add(id, &mut ids);
            }
        }
        Ran::Hybrid => {
            for (id, _) in retrieve::vector_candidates(qvec.as_deref().unwrap_or(&[]), stats.embedding_dim, wide, &req.filter) {
                add(id, &mut ids);
            }
            for h in retrieve::fts_candidates(&stats, wide, &req.filter) {
                add(h.id, &mut ids);
            }
        }
        Ran::FtsLexical => {
            for h in retrieve::fts_candidates(&stats, wide, &req.filter) {
                add(h.id, &mut ids);
            }
            for id in retrieve::lexical_candidates(q, &stats, wide, &req.filter) {
                add(id, &mut ids);
            }
        }
    }
    if ids.is_empty() {
        return Vec::new();
    }

    let candidates = retrieve::signals(&ids, qvec.as_deref(), &stats.bm25_blob, q);
    let mut scored = score(ran, &candidates, &req.options);

    let window = req.options.window.max(0);
    let mut contexts: HashMap<i64, String> = HashMap::new();
    if req.options.require_all_keywords {
        let all: Vec<(i64, i64, i32)> =
            candidates.iter().map(|c| (c.id, c.document_id, c.ordinal)).collect();
        contexts = retrieve::windows(&all, window);
        scored.retain(|(idx, _)| {
            let c = &candidates[*idx];
            let text = contexts.get(&c.id).map(String::as_str).unwrap_or(&c.content);
            keyword_window_match(&words, &[text, &c.title])
        });
    }
    scored.truncate(req.top_k as usize);
    if window > 0 && !req.options.require_all_keywords {
        let hits: Vec<(i64, i64, i32)> = scored
            .iter()
            .map(|(idx, _)| {
                let c = &candidates[*idx];
                (c.id, c.document_id, c.ordinal)
            })
            .collect();
        contexts = retrieve::windows(&hits, window);
    }

    scored
        .into_iter()
        .enumerate()
        .map(|(rank, (idx, score))| {
            let c = &candidates[idx];
            let vector_score = c.distance.map(fusion::vector_score);
            let context = if window > 0 { contexts.get(&c.id).cloned() } else { None };
            (
                rank as i32 + 1,
                c.id,
                c.doc_id.clone(),
                c.title.clone(),
                c.content.clone(),
                score,
                vector_score,
                Some(c.bm25),
                Some(c.title_similarity),
                Some(c.lexical_similarity),
                ran.name().to_string(),
                context,
            )
        })
        .collect()
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

/// Orders candidates (by index into `candidates`) for the mode that ran.
fn score(ran: Ran, candidates: &[Candidate], o: &SearchOptions) -> Vec<(usize, f64)> {
    let signals: Vec<Signals> = candidates
        .iter()
        .map(|c| Signals {
            vec_distance: c.distance,
            fts: Some(c.bm25),
            title: Some(c.title_similarity),
            lex: Some(c.lexical_similarity),
        })
        .collect();
    let scores: Vec<f64> = match ran {
        Ran::Fts => candidates.iter().map(|c| c.bm25).collect(),
        Ran::Vector => candidates.iter().map(|c| c.distance.map(fusion::vector_score).unwrap_or(0.0)).collect(),
        Ran::Lexical => {
            let (wt, wl) = (o.weights.title, o.weights.lex);
            let sum = wt + wl;
            candidates
                .iter()
                .map(|c| {
                    if sum > 0.0 {
                        (wt * c.title_similarity + wl * c.lexical_similarity) / sum
                    } else {
                        c.lexical_similarity
                    }
                })
                .collect()
        }
        Ran::Hybrid | Ran::FtsLexical => match o.fusion {
            Fusion::Weighted => {
                let w = if ran == Ran::FtsLexical { Weights { vec: 0.0, ..o.weights } } else { o.weights };
                fusion::weighted(&signals, &w)
            }
            Fusion::Rrf => {
                let first: Vec<u64> = if ran == Ran::Hybrid {
                    ranked(candidates, |c| c.distance.map(|d| -d))
                } else {
                    ranked(candidates, |c| (c.lexical_similarity > 0.0).then_some(c.lexical_similarity))
                };
                let second = ranked(candidates, |c| (c.bm25 > 0.0).then_some(c.bm25));
                let fused: HashMap<u64, f64> = fusion::rrf(&[first, second], o.rrf_k).into_iter().collect();
                (0..candidates.len()).map(|i| fused.get(&(i as u64)).copied().unwrap_or(0.0)).collect()
            }
        },
    };
    let mut order: Vec<(u64, f64)> = scores.into_iter().enumerate().map(|(i, s)| (i as u64, s)).collect();
    // Ties broken by chunk id for a stable order.
    order.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(candidates[a.0 as usize].id.cmp(&candidates[b.0 as usize].id))
    });
    order.into_iter().map(|(i, s)| (i as usize, s)).collect()
}

/// Candidate indexes ordered by `key` descending, skipping those without one.
fn ranked(candidates: &[Candidate], key: impl Fn(&Candidate) -> Option<f64>) -> Vec<u64> {
    let mut v: Vec<(u64, f64)> =
        candidates.iter().enumerate().filter_map(|(i, c)| key(c).map(|k| (i as u64, k))).collect();
    v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(i, _)| i).collect()
}
