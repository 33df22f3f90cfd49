//! rag_candidate_pages: pages (documents) to look at for a query.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use rag_core::text::{clamp_query, query_terms, MAX_QUERY_TERMS};

use super::options::{enforce_limits, source_scope, validate_top_k};
use crate::sql_types::JsonbText;
use rag_core::search::title_like;

use super::fts::fts_top_k;
use super::retrieve;
use crate::error::OrRaise;
use crate::{guc, queries};

type PageRow = (String, String, f64, i32, Option<i64>, f64);

/// Candidate pages from chunk full-text search: the best `limit` ×
/// rag_search.candidate_oversample chunks by BM25, grouped by page and
/// ordered by best rank then number of hit chunks. For title-like queries
/// (a few words), pages whose title is trigram-similar to the query are
/// unioned in; an exact title match comes first.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_candidate_pages(
    q: Option<&str>,
    limit: Option<i32>,
) -> TableIterator<
    'static,
    (
        name!(doc_id, String),
        name!(title, String),
        name!(rank, f64),
        name!(hit_chunks, i32),
        name!(best_chunk_id, Option<i64>),
        name!(title_score, f64),
    ),
> {
    crate::security::require_current_schema();
    TableIterator::new(candidate_pages(q, limit, None))
}

/// rag_candidate_pages with `options`: `{"source": ...}` keeps the pages
/// of one source (docs/attach.md). A separate function, so that the
/// two-argument one keeps its signature.
#[pg_extern(stable, parallel_restricted, name = "rag_candidate_pages")]
#[search_path(pg_catalog, pg_temp)]
pub fn rag_candidate_pages_with_options(
    q: Option<&str>,
    limit: Option<i32>,
    options: Option<JsonbText>,
) -> TableIterator<
    'static,
    (
        name!(doc_id, String),
        name!(title, String),
        name!(rank, f64),
        name!(hit_chunks, i32),
        name!(best_chunk_id, Option<i64>),
        name!(title_score, f64),
    ),
> {
    crate::security::require_current_schema();
    TableIterator::new(candidate_pages(q, limit, options))
}

fn candidate_pages(q: Option<&str>, limit: Option<i32>, options: Option<JsonbText>) -> Vec<PageRow> {
    let limit = validate_top_k(limit, "limit");
    enforce_limits(limit, guc::candidate_oversample(), 0);
    let scope = source_scope(options);
    let Some(q) = q else { return Vec::new() };
    let q = clamp_query(q, guc::max_query_chars());
    let words = query_terms(q, MAX_QUERY_TERMS);
    if words.is_empty() {
        return Vec::new();
    }
    let stats = retrieve::query_stats(&words);
    let hits_wanted = (limit as i64) * (guc::candidate_oversample() as i64);
    let hits = fts_top_k(&stats, hits_wanted, &scope);
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let scores: Vec<f64> = hits.iter().map(|h| h.1).collect();
    let titled: Vec<i64> =
        if title_like(&words) { retrieve::title_documents(q, i64::from(limit), scope.source) } else { Vec::new() };
    let args: [DatumWithOid; 5] = [ids.into(), scores.into(), q.into(), limit.into(), titled.into()];
    Spi::connect(|client| {
        let table = client.select(&*queries::render(queries::CANDIDATE_PAGES, None), None, &args).or_raise("candidate pages");
        let mut out = Vec::with_capacity(table.len());
        for row in table {
            let ctx = "candidate pages";
            out.push((
                row.get::<String>(1).or_raise(ctx).unwrap_or_default(),
                row.get::<String>(2).or_raise(ctx).unwrap_or_default(),
                row.get::<f64>(3).or_raise(ctx).unwrap_or(0.0),
                row.get::<i32>(4).or_raise(ctx).unwrap_or(0),
                row.get::<i64>(5).or_raise(ctx),
                row.get::<f64>(6).or_raise(ctx).unwrap_or(0.0),
            ));
        }
        out
    })
}
