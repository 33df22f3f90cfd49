//! Retrieval quality measured inside the database on an operator's judged
//! queries: rag_evaluate (nDCG, recall, MRR, hit rate and latency per
//! mode) and rag_tune_weights (a bounded grid over the weighted-fusion
//! weights, picked on training queries and reported on held-out ones).
//! The metrics and the tuning are rag_core::evaluate's.

mod tables;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use rag_core::evaluate::{first_per_document, held_out, metrics, weight_grid, Judgments, Means, Tuner, TuningQuery};
use rag_core::fusion::Weights;
use rag_core::search::{Fusion, Mode, Ran};
use serde_json::{json, Value};

use crate::error::{invalid_parameter, null_value, OrRaise};
use crate::queries;
use crate::search::hybrid_search::{fill_trigram, prepare, search, Request};
use crate::search::options::{option_value, parse_mode, validate_filter, validate_top_k, SearchOptions};
use crate::sql_types::{JsonbText, RegClassArg};
use tables::{judged, read_qrels, read_queries, JudgedQuery};

/// Runs every judged query of `queries` (those with a row in `qrels`) in
/// each mode, top `k`, and returns per mode the mean nDCG@k, recall@k,
/// MRR@k, hit@k and search time. Documents count once, at their best
/// chunk; unless `options` sets `max_per_document`, searches run with
/// `max_per_document` 1, so the k results are k documents.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_evaluate(
    queries: Option<RegClassArg>,
    qrels: Option<RegClassArg>,
    modes: default!(Option<Vec<Option<String>>>, "ARRAY['fts', 'vector', 'hybrid']"),
    k: default!(Option<i32>, "10"),
    options: default!(Option<JsonbText>, "NULL"),
    filter: default!(Option<JsonbText>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(mode, String),
        name!(query_count, i32),
        name!(ndcg_at_k, f64),
        name!(recall_at_k, f64),
        name!(mrr_at_k, f64),
        name!(hit_at_k, f64),
        name!(mean_latency_ms, f64),
    ),
> {
    crate::security::require_current_schema();
    let k = validate_top_k(k, "k");
    let modes = parse_modes(modes);
    let filter = validate_filter(filter);
    let capped = option_value(&options, "max_per_document").is_some();
    let mut options = SearchOptions::from_json(options);
    if !capped {
        options.max_per_document = Some(1);
    }
    let judgments = read_qrels(qrels);
    let judged = judged(read_queries(queries, "queries"), &judgments, "queries");
    let mut rows = Vec::with_capacity(modes.len());
    for (name, mode) in modes {
        let mut means = Means::default();
        for (q, judgments) in &judged {
            pgrx::check_for_interrupts!();
            // A given vector is for the modes that use one.
            let vector = if matches!(mode, Mode::Fts | Mode::Lexical) { None } else { q.vector.clone() };
            let request = Request::with_options(k, mode, filter.clone(), options.clone());
            let started = Instant::now();
            let results = search(Some(&q.text), vector, request);
            let milliseconds = started.elapsed().as_secs_f64() * 1000.0;
            let ranked = first_per_document(results.iter().map(|r| r.2.as_str()));
            means.add(metrics(&ranked, judgments, k as usize), milliseconds);
        }
        let m = means.metrics();
        rows.push((name, means.queries as i32, m.ndcg, m.recall, m.mrr, m.hit, means.mean_milliseconds()));
    }
    TableIterator::new(rows)
}

/// The requested modes, as given (trimmed, lower case), each parsed.
fn parse_modes(modes: Option<Vec<Option<String>>>) -> Vec<(String, Mode)> {
    let modes = modes.unwrap_or_default();
    if modes.is_empty() {
        invalid_parameter("modes must name at least one mode", "For example ARRAY['fts', 'vector', 'hybrid'].");
    }
    modes
        .into_iter()
        .map(|m| {
            let Some(m) = m else { null_value("modes must not contain NULL", "For example ARRAY['fts', 'hybrid'].") };
            let name = m.trim().to_ascii_lowercase();
            let mode = parse_mode(Some(&name));
            (name, mode)
        })
        .collect()
}

/// Searches the weighted-fusion weights (vector, fts, title, lexical and,
/// when documents carry entity metadata, entity) over a fixed grid
/// (rag_core::evaluate::weight_grid, at most 1,270 settings) on the
/// training queries, and reports — without applying anything — the
/// current setting and the best one with their nDCG@k on the training
/// queries and on the held-out ones (`heldout_queries`, or else about one
/// query in five of `queries`, by a fixed hash of its id), and the options
/// to pass to rag_hybrid_search.
///
/// Each query is searched once (hybrid, top k, every signal of every
/// candidate computed); every setting then ranks those candidates in
/// memory. Work: one search per query plus, per query, one ranking of its
/// candidates per setting.
#[allow(clippy::type_complexity)] // pgrx spells the result columns out
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn rag_tune_weights(
    queries: Option<RegClassArg>,
    qrels: Option<RegClassArg>,
    heldout_queries: default!(Option<RegClassArg>, "NULL"),
    k: default!(Option<i32>, "10"),
    options: default!(Option<JsonbText>, "NULL"),
    filter: default!(Option<JsonbText>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(setting, String),
        name!(vector, f64),
        name!(fts, f64),
        name!(title, f64),
        name!(lexical, f64),
        name!(entity, f64),
        name!(train_ndcg, f64),
        name!(heldout_ndcg, Option<f64>),
        name!(train_query_count, i32),
        name!(heldout_query_count, i32),
        name!(settings_tried, i32),
        name!(search_options, JsonB),
    ),
> {
    crate::security::require_current_schema();
    let k = validate_top_k(k, "k");
    let filter = validate_filter(filter);
    let options_asked_rrf = option_value(&options, "fusion")
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|f| f.trim().eq_ignore_ascii_case("rrf"));
    let mut options = SearchOptions::from_json(options);
    if options_asked_rrf {
        invalid_parameter(
            "rag_tune_weights tunes the weights of weighted fusion, not rrf",
            "Leave \"fusion\" out of options (rag_search.fusion = rrf is overridden).",
        );
    }
    options.fusion = Fusion::Weighted;
    let judgments = read_qrels(qrels);
    let mut all: Vec<(JudgedQuery, Judgments, bool)> = Vec::new();
    let split_by_hash = heldout_queries.is_none();
    for (q, j) in judged(read_queries(queries, "queries"), &judgments, "queries") {
        let out = split_by_hash && held_out(&q.id);
        all.push((q, j, out));
    }
    if !split_by_hash {
        let train: HashSet<String> = all.iter().map(|(q, _, _)| q.id.clone()).collect();
        for (q, j) in judged(read_queries(heldout_queries, "heldout_queries"), &judgments, "heldout_queries") {
            if train.contains(&q.id) {
                invalid_parameter(
                    format!("query_id {} is in both queries and heldout_queries", q.id),
                    "Held-out queries must be queries the tuning does not see.",
                );
            }
            all.push((q, j, true));
        }
    }
    if all.iter().all(|(_, _, out)| *out) {
        invalid_parameter(
            "no training query: every judged query is held out",
            "Pass more queries (about one in five is held out), or a separate heldout_queries table.",
        );
    }
    let request = Request::with_options(k, Mode::Hybrid, None, options.clone());
    let settings = weight_grid(options.weights, entity_metadata_present());
    let mut tuner = Tuner::new(settings, request.ranking(Ran::Hybrid));
    for (q, judged, out) in &all {
        pgrx::check_for_interrupts!();
        let request = Request::with_options(k, Mode::Hybrid, filter.clone(), options.clone());
        let Some(mut p) = prepare(Some(&q.text), q.vector.clone(), &request, true) else {
            let none = (Vec::new(), HashSet::new(), HashMap::new());
            tuner.add(&TuningQuery { candidates: &none.0, entity_only: &none.1, doc_ids: &none.2, judged, held_out: *out });
            continue;
        };
        let every: Vec<usize> = (0..p.candidates.len()).collect();
        fill_trigram(&mut p, &every);
        let doc_ids = document_ids(p.candidates.iter().filter_map(|c| c.document).collect());
        tuner.add(&TuningQuery {
            candidates: &p.candidates,
            entity_only: &p.entity_only,
            doc_ids: &doc_ids,
            judged,
            held_out: *out,
        });
    }
    let tried = tuner.settings.len() as i32;
    let row = |label: &str, i: usize| {
        let w = tuner.settings[i];
        (
            label.to_string(),
            w.vec,
            w.fts,
            w.title,
            w.lex,
            w.entity,
            tuner.train_ndcg(i),
            (tuner.heldout_queries > 0).then(|| tuner.heldout_ndcg(i)),
            tuner.train_queries as i32,
            tuner.heldout_queries as i32,
            tried,
            JsonB(search_options(&w)),
        )
    };
    TableIterator::new(vec![row("current", 0), row("best", tuner.best())])
}

/// The rag_hybrid_search options of a setting.
fn search_options(w: &Weights) -> Value {
    json!({
        "fusion": "weighted",
        "weights": {"vector": w.vec, "fts": w.fts, "title": w.title, "lexical": w.lex, "entity": w.entity}
    })
}

/// Whether any document names an entity (the entity weight is tuned then).
fn entity_metadata_present() -> bool {
    queries::select_one::<bool>(queries::ENTITY_METADATA_PRESENT, &[], "look for entity metadata").unwrap_or(false)
}

/// doc_id of documents `ids`.
fn document_ids(mut ids: Vec<i64>) -> HashMap<i64, String> {
    ids.sort_unstable();
    ids.dedup();
    let args: [DatumWithOid; 1] = [ids.into()];
    let ctx = "read doc_ids";
    Spi::connect(|client| {
        let rows = client.select(queries::DOCUMENT_IDS, None, &args).or_raise(ctx);
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            if let (Some(id), Some(doc_id)) =
                (row.get_by_name::<i64, _>("id").or_raise(ctx), row.get_by_name::<String, _>("doc_id").or_raise(ctx))
            {
                out.insert(id, doc_id);
            }
        }
        out
    })
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;
