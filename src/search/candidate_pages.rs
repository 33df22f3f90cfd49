//! rag_candidate_pages: pages (documents) to look at for a query.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use rag_core::text::{clamp_query, query_terms, MAX_QUERY_TERMS};

use super::options::{enforce_limits, source_scope, validate_top_k};
use crate::sql_types::JsonbText;
use rag_core::search::{title_like, widen_page_hits};

use super::fts::fts_top_k;
use super::retrieve;
use crate::error::OrRaise;
use crate::queries::select_planned;
use crate::{guc, queries};

type PageRow = (String, String, f64, i32, Option<i64>, f64);

/// Candidate pages from chunk full-text search: the best `limit` ×
/// rag_search.candidate_oversample chunks by BM25 (more when they cover
/// fewer than `limit` pages), grouped by page and ordered by best rank then
/// number of hit chunks. A page whose title is the query (up to case,
/// looked up for title-like queries of a few words) comes first, with or
/// without hits. Every chunk indexes its page's title, so pages whose title
/// shares the query's words are found through their chunks; a lookup of
/// trigram-similar titles would add pages only below all of those, at up to
/// hundreds of milliseconds on a large corpus.
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
    let exact_titles: Vec<i64> = if title_like(&words) {
        retrieve::exact_title_documents(q, i64::from(limit), scope.source)
    } else {
        Vec::new()
    };
    let mut hits_wanted = i64::from(limit) * i64::from(guc::candidate_oversample());
    loop {
        let hits = fts_top_k(&stats, hits_wanted, &scope);
        let (rows, settled) = pages_of(&hits, q, limit, &exact_titles);
        match widen_page_hits(hits_wanted, hits.len(), settled, i64::from(limit), guc::max_candidates()) {
            Some(more) => hits_wanted = more,
            None => return rows,
        }
    }
}

/// The pages of chunk `hits` (id, score) and of the `exact_titles`
/// documents, and how many of them more hits could not displace (an exact
/// title match or a page with hits: a page found only further down ranks
/// below them).
fn pages_of(hits: &[(i64, f64)], q: &str, limit: i32, exact_titles: &[i64]) -> (Vec<PageRow>, usize) {
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let scores: Vec<f64> = hits.iter().map(|h| h.1).collect();
    let args: [DatumWithOid; 5] = [ids.into(), scores.into(), q.into(), limit.into(), exact_titles.to_vec().into()];
    Spi::connect(|client| {
        let table = select_planned(client, &queries::render(queries::CANDIDATE_PAGES, None), &args, "candidate pages");
        let mut out = Vec::with_capacity(table.len());
        let mut settled = 0;
        for row in table {
            let ctx = "candidate pages";
            let exact = row.get_by_name::<bool, _>("exact").or_raise(ctx).unwrap_or(false);
            let hit_chunks = row.get_by_name::<i32, _>("hit_chunks").or_raise(ctx).unwrap_or(0);
            if exact || hit_chunks > 0 {
                settled += 1;
            }
            out.push((
                row.get_by_name::<String, _>("doc_id").or_raise(ctx).unwrap_or_default(),
                row.get_by_name::<String, _>("title").or_raise(ctx).unwrap_or_default(),
                row.get_by_name::<f64, _>("rank").or_raise(ctx).unwrap_or(0.0),
                hit_chunks,
                row.get_by_name::<i64, _>("best_chunk_id").or_raise(ctx),
                row.get_by_name::<f64, _>("title_score").or_raise(ctx).unwrap_or(0.0),
            ));
        }
        (out, settled)
    })
}
