//! Full-text top k: the exact `k` best chunks by BM25 among all chunks
//! containing a query lexeme.
//!
//! Without a metadata filter it reads postings (rag_core::topk over the
//! impact cells of sql/postings.sql): the chunks of rare lexemes (which
//! have no postings) and the chunks not yet merged into postings are scored
//! first, from their stored tsvector; then cells are read in descending
//! order of what they can add to a score, and the search stops as soon as
//! the rest cannot change the top k. Chunks named by postings are rescored
//! from their tsvector as the caller (deleted or invisible chunks drop
//! out), so scores are exactly rag_search.bm25's.
//!
//! With a filter the candidates come from the tsvector GIN index among the
//! matching documents, pruned exactly with MaxScore (rag_core::prune).

use std::collections::HashMap;
use std::convert::Infallible;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use super::options::Scope;
use rag_core::blocks::decode_block;
use rag_core::postings::Posting;
use rag_core::prune::{self, Term};
use rag_core::topk::{top_k, CellSource, QueryTerm, TopkOptions, TopkStats};

use super::retrieve::{ranked_chunks, scored_rows, QueryStats};
use crate::error::{raise, OrRaise};
use crate::queries::{self, select_planned};
use crate::security::as_extension_owner;

/// Pruning's first pass (filtered path) ranks the chunks of the rarest
/// lexemes whose postings sum to at most this many per wanted hit (and at
/// least PRUNE_SEED_MIN_POSTINGS): enough to find `limit` good chunks, few
/// enough to be cheap.
const PRUNE_SEED_POSTINGS_PER_HIT: i64 = 50;
const PRUNE_SEED_MIN_POSTINGS: i64 = 2000;

/// The exact `limit` best chunks by BM25 (score descending, then id).
pub fn fts_top_k(stats: &QueryStats, limit: i64, filter: &Scope) -> Vec<(i64, f64)> {
    if stats.terms.is_empty() || limit <= 0 {
        return Vec::new();
    }
    if filter.restricts() {
        filtered(stats, limit, filter)
    } else {
        from_postings(stats, limit).0
    }
}

/// Reads cells as the extension's owner and rescores as the caller.
struct Source<'a> {
    stats: &'a QueryStats,
    term_of: HashMap<&'a str, usize>,
    /// OR-tsquery of every query lexeme.
    all_lexemes: String,
}

impl CellSource for Source<'_> {
    type Error = Infallible;

    fn fetch(&mut self, wanted: &[(usize, u16)]) -> Result<Vec<(usize, u16, Vec<Posting>)>, Infallible> {
        let lexemes: Vec<String> = wanted.iter().map(|&(t, _)| self.stats.terms[t].lexeme.clone()).collect();
        let cells: Vec<i16> = wanted.iter().map(|&(_, c)| c as i16).collect();
        let args: [DatumWithOid; 2] = [lexemes.into(), cells.into()];
        let ctx = "read postings";
        let term_of = &self.term_of;
        Ok(as_extension_owner(|| {
            Spi::connect(|client| {
                let rows = select_planned(client, queries::SEARCH_POSTINGS_CELLS, &args, ctx);
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let lexeme = row.get_by_name::<String, _>("lexeme").or_raise(ctx).unwrap_or_default();
                    let cell = row.get_by_name::<i16, _>("cell").or_raise(ctx).unwrap_or(0);
                    let data = row.get_by_name::<Vec<u8>, _>("data").or_raise(ctx).unwrap_or_default();
                    let Some(&term) = term_of.get(lexeme.as_str()) else { continue };
                    match decode_block(&data) {
                        Ok(postings) => out.push((term, cell.max(0) as u16, postings)),
                        Err(e) => raise(
                            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                            format!("postings of \"{lexeme}\" (cell {cell}): {e}"),
                            "Rebuild them: SELECT rag_search.postings_rebuild();",
                        ),
                    }
                }
                out
            })
        }))
    }

    fn rescore(&mut self, ids: &[i64]) -> Result<Vec<(i64, f64)>, Infallible> {
        let args: [DatumWithOid; 3] =
            [ids.to_vec().into(), self.stats.bm25_blob.clone().into(), self.all_lexemes.clone().into()];
        Ok(scored_rows(queries::SEARCH_FTS_RESCORE, &args, "rescore chunks", true))
    }

    fn confirm(&mut self, ids: &[i64]) -> Result<Vec<i64>, Infallible> {
        let args: [DatumWithOid; 1] = [ids.to_vec().into()];
        let ctx = "confirm chunks";
        Ok(Spi::connect(|client| {
            select_planned(client, queries::SEARCH_FTS_CONFIRM, &args, ctx)
                .filter_map(|r| r.get_by_name::<i64, _>("id").ok().flatten())
                .collect()
        }))
    }
}

/// The postings path; also returns the work it did (for tests and
/// diagnostics).
pub fn from_postings(stats: &QueryStats, limit: i64) -> (Vec<(i64, f64)>, TopkStats) {
    // Chunks scored up front: those of lexemes without postings, and the
    // chunks not yet merged into postings.
    let rare = stats.tsquery((0..stats.terms.len()).filter(|&i| !stats.terms[i].indexed));
    let args: [DatumWithOid; 4] = [
        Some(rare).filter(|t| !t.is_empty()).into(),
        stats.pending.clone().into(),
        stats.all_lexemes_tsquery().into(),
        stats.bm25_blob.clone().into(),
    ];
    let known = scored_rows(queries::SEARCH_FTS_KNOWN, &args, "full-text candidates", false);
    let terms: Vec<QueryTerm> = stats.terms.iter().map(|t| QueryTerm { idf: t.idf, indexed: t.indexed }).collect();
    let term_of = stats.terms.iter().enumerate().map(|(i, t)| (t.lexeme.as_str(), i)).collect();
    let all_lexemes = stats.all_lexemes_tsquery().unwrap_or_default();
    let mut source = Source { stats, term_of, all_lexemes };
    let k = usize::try_from(limit).unwrap_or(usize::MAX);
    match top_k(&terms, &stats.params, k, &known, &mut source, &TopkOptions::default()) {
        Ok(result) => (result.hits, result.stats),
        Err(never) => match never {},
    }
}

/// The filtered path: the chunks of the rarest lexemes give a score the top
/// `limit` must reach; then only chunks containing a lexeme that can still
/// reach it are ranked. Exactly the unpruned result.
fn filtered(stats: &QueryStats, limit: i64, filter: &Scope) -> Vec<(i64, f64)> {
    let terms: Vec<Term> = stats.terms.iter().map(|t| Term { df: t.df, idf: t.idf }).collect();
    let unpruned = || ranked_chunks(stats, &stats.tsquery(0..terms.len()), limit, filter);
    if terms.len() <= 1 {
        return unpruned();
    }
    let budget = limit.saturating_mul(PRUNE_SEED_POSTINGS_PER_HIT).max(PRUNE_SEED_MIN_POSTINGS);
    let seeds = prune::seed_terms(&terms, budget);
    if seeds.len() == terms.len() {
        return unpruned();
    }
    let first = ranked_chunks(stats, &stats.tsquery(seeds.iter().copied()), limit, filter);
    // Fewer than `limit` chunks: no bound to prune with.
    let threshold = first.get(limit as usize - 1).map_or(0.0, |kth| kth.1);
    let essential = prune::essential_terms(&terms, stats.params.k1, threshold);
    if essential.is_empty() {
        // Unreachable (a real score is below the sum of all bounds); safe.
        return unpruned();
    }
    let mut seeds_sorted = seeds;
    seeds_sorted.sort_unstable();
    if essential == seeds_sorted {
        return first;
    }
    ranked_chunks(stats, &stats.tsquery(essential), limit, filter)
}
