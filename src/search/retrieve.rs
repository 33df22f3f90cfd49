//! The retrieval queries of search, each a thin wrapper over one SQL file.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use rag_core::fusion::bm25_idf;
use rag_core::prune::{self, Term};
use rag_core::tsvector::Bm25Query;

use crate::error::OrRaise;
use crate::queries::render;
use crate::security::as_extension_owner;
use crate::{guc, queries};

/// Lexemes whose document frequency exceeds this share of all chunks are
/// scored but not used to find candidates: they match most of the corpus
/// and would make the candidate scan as large as the table.
const COMMON_LEXEME_SHARE: f64 = 0.3;
/// Below this many chunks every lexeme finds candidates: scans are cheap
/// and shares are too noisy to call a lexeme common.
const COMMON_LEXEME_MIN_CHUNKS: i64 = 1000;
/// Pruning's first pass ranks the chunks of the rarest lexemes whose
/// postings sum to at most this many per wanted hit (and at least
/// PRUNE_SEED_MIN_POSTINGS): enough to find `limit` good chunks, few enough
/// to be cheap.
const PRUNE_SEED_POSTINGS_PER_HIT: i64 = 50;
const PRUNE_SEED_MIN_POSTINGS: i64 = 2000;

/// What ranking needs to know about the query and the corpus.
pub struct QueryStats {
    pub chunks: i64,
    pub embedding_model: String,
    pub embedding_dim: i32,
    /// BM25 blob for rag_search.bm25.
    pub bm25_blob: Vec<u8>,
    /// The lexemes that find candidates (the selective ones), with their
    /// document frequency and IDF; empty when the query has none.
    pub candidate_lexemes: Vec<(String, Term)>,
    /// BM25 k1, for the pruning bounds.
    pub k1: f64,
}

impl QueryStats {
    /// OR-tsquery of every candidate lexeme; None when there is none.
    fn all_lexemes_tsquery(&self) -> Option<String> {
        let all: Vec<usize> = (0..self.candidate_lexemes.len()).collect();
        Some(self.tsquery(&all)).filter(|t| !t.is_empty())
    }

    /// OR-tsquery of the candidate lexemes at `indices`.
    pub(crate) fn tsquery(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .filter_map(|&i| self.candidate_lexemes.get(i))
            .map(|(l, _)| tsquery_literal(l))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

pub fn query_stats(words: &[String]) -> QueryStats {
    let args: [DatumWithOid; 1] = [words.join(" ").into()];
    // The statistics are the extension's bookkeeping: read as its owner.
    as_extension_owner(|| Spi::connect(|client| {
        let row = client.select(queries::SEARCH_TERM_STATS, None, &args).or_raise("read term statistics").first();
        let chunks = row.get::<i64>(2).or_raise("read term statistics").unwrap_or(0);
        let lexemes_total = row.get::<i64>(3).or_raise("read term statistics").unwrap_or(0);
        let lexemes = row.get::<Vec<String>>(4).or_raise("read term statistics").unwrap_or_default();
        let dfs = row.get::<Vec<i64>>(5).or_raise("read term statistics").unwrap_or_default();
        let embedding_model = row.get::<String>(6).or_raise("read index state").unwrap_or_default();
        let embedding_dim = row.get::<i32>(7).or_raise("read index state").unwrap_or(0);

        let n = chunks.max(1) as f64;
        let avg_len = if chunks > 0 { lexemes_total as f64 / chunks as f64 } else { 1.0 };
        let present: Vec<(String, Term)> = lexemes
            .into_iter()
            .zip(dfs)
            .map(|(l, df)| (l, Term { df, idf: bm25_idf(df as f64, n) }))
            .collect();
        let params = guc::bm25();
        let blob =
            Bm25Query::new(present.iter().map(|(l, t)| (l.clone(), t.idf)).collect(), params, avg_len).to_blob();

        // A lexeme with no folded document frequency may still occur in
        // chunks whose statistics are pending, so it keeps finding candidates.
        let selective: Vec<(String, Term)> = present
            .iter()
            .filter(|(_, t)| chunks < COMMON_LEXEME_MIN_CHUNKS || (t.df as f64) / n <= COMMON_LEXEME_SHARE)
            .cloned()
            .collect();
        let candidate_lexemes = if selective.is_empty() { present } else { selective };
        QueryStats { chunks, embedding_model, embedding_dim, bm25_blob: blob, candidate_lexemes, k1: params.k1 }
    }))
}

/// A lexeme as a tsquery operand: quoted, with quote and backslash escaped,
/// so no query text can change the tsquery's structure.
fn tsquery_literal(lexeme: &str) -> String {
    let mut s = String::with_capacity(lexeme.len() + 2);
    s.push('\'');
    for ch in lexeme.chars() {
        match ch {
            '\'' => s.push_str("''"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

pub struct FtsHit {
    pub id: i64,
    pub document_id: i64,
    pub score: f64,
}

/// The `limit` best chunks by BM25 among those containing any candidate
/// lexeme, pruned with MaxScore (rag_core::prune): the chunks of the rarest
/// lexemes give a score that the top `limit` must reach, and then only
/// chunks containing a lexeme that can still reach it are ranked. Exactly
/// the unpruned result, without reading the long posting lists of common
/// words when rare words decide the ranking.
pub fn fts_candidates(stats: &QueryStats, limit: i64, filter: &Option<JsonB>) -> Vec<FtsHit> {
    let terms: Vec<Term> = stats.candidate_lexemes.iter().map(|(_, t)| *t).collect();
    let unpruned = || match stats.all_lexemes_tsquery() {
        Some(tsq) => ranked_chunks(stats, &tsq, limit, filter),
        None => Vec::new(),
    };
    if terms.len() <= 1 || limit <= 0 {
        return unpruned();
    }
    let seeds = prune::seed_terms(&terms, (limit.saturating_mul(PRUNE_SEED_POSTINGS_PER_HIT)).max(PRUNE_SEED_MIN_POSTINGS));
    if seeds.len() == terms.len() {
        return unpruned();
    }
    let first = ranked_chunks(stats, &stats.tsquery(&seeds), limit, filter);
    // Fewer than `limit` chunks: no bound to prune with.
    let threshold = first.get(limit as usize - 1).map_or(0.0, |kth| kth.score);
    let essential = prune::essential_terms(&terms, stats.k1, threshold);
    if essential.is_empty() {
        // Unreachable (a real score is below the sum of all bounds); safe.
        return unpruned();
    }
    let mut seeds_sorted = seeds;
    seeds_sorted.sort_unstable();
    if essential == seeds_sorted {
        return first;
    }
    ranked_chunks(stats, &stats.tsquery(&essential), limit, filter)
}

/// Chunks matching `tsquery` (an OR of lexemes), best BM25 first.
pub(crate) fn ranked_chunks(stats: &QueryStats, tsq: &str, limit: i64, filter: &Option<JsonB>) -> Vec<FtsHit> {
    if tsq.is_empty() {
        return Vec::new();
    }
    let args: [DatumWithOid; 4] = [
        tsq.into(),
        stats.bm25_blob.clone().into(),
        limit.into(),
        filter.as_ref().map(|f| JsonB(f.0.clone())).into(),
    ];
    Spi::connect(|client| {
        let rows = client.select(queries::SEARCH_FTS, None, &args).or_raise("full-text candidates");
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.get::<i64>(1).or_raise("full-text candidates");
            let document_id = row.get::<i64>(2).or_raise("full-text candidates");
            let score = row.get::<f64>(3).or_raise("full-text candidates");
            if let (Some(id), Some(document_id), Some(score)) = (id, document_id, score) {
                out.push(FtsHit { id, document_id, score });
            }
        }
        out
    })
}

/// Nearest chunks by cosine distance. With a filter, the HNSW scan runs in
/// pgvector's iterative mode; if a very selective filter still leaves fewer
/// than `limit` rows, an exact scan over the filtered documents completes it.
pub fn vector_candidates(qvec: &[f32], dimension: i32, limit: i64, filter: &Option<JsonB>) -> Vec<(i64, f64)> {
    let ef = limit.clamp(40, 1000).to_string();
    // On small tables the planner prices an exact scan and sort below the
    // HNSW scan once ef_search is raised for hybrid's wider candidate list
    // (~40 ms at 10,000 chunks of 1024 dimensions, against ~5 ms).
    let mut settings: Vec<(&str, String)> = vec![("hnsw.ef_search", ef), ("enable_seqscan", "off".to_string())];
    if filter.is_some() {
        settings.push(("hnsw.iterative_scan", "relaxed_order".to_string()));
    }
    let args: [DatumWithOid; 3] =
        [qvec.to_vec().into(), limit.into(), filter.as_ref().map(|f| JsonB(f.0.clone())).into()];
    let sql = render(queries::SEARCH_VECTOR, Some(dimension));
    let mut hits = with_local_settings(&settings, || run_vector_query(&sql, &args));
    if let Some(f) = filter {
        if (hits.len() as i64) < limit {
            let args: [DatumWithOid; 3] = [qvec.to_vec().into(), limit.into(), JsonB(f.0.clone()).into()];
            hits = run_vector_query(&render(queries::SEARCH_VECTOR_FILTERED_EXACT, Some(dimension)), &args);
        }
    }
    hits
}

fn run_vector_query(sql: &str, args: &[DatumWithOid]) -> Vec<(i64, f64)> {
    Spi::connect(|client| {
        let rows = client.select(sql, None, args).or_raise("vector candidates");
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.get::<i64>(1).or_raise("vector candidates");
            let d = row.get::<f64>(2).or_raise("vector candidates");
            if let (Some(id), Some(d)) = (id, d) {
                out.push((id, d));
            }
        }
        out
    })
}

pub fn lexical_candidates(q: &str, stats: &QueryStats, limit: i64, filter: &Option<JsonB>) -> Vec<i64> {
    let args: [DatumWithOid; 5] = [
        q.into(),
        limit.into(),
        filter.as_ref().map(|f| JsonB(f.0.clone())).into(),
        stats.all_lexemes_tsquery().into(),
        stats.bm25_blob.clone().into(),
    ];
    Spi::connect(|client| {
        let rows = client.select(&*render(queries::SEARCH_LEXICAL, None), None, &args).or_raise("lexical candidates");
        rows.into_iter().filter_map(|r| r.get::<i64>(1).ok().flatten()).collect()
    })
}

pub struct Candidate {
    pub id: i64,
    pub doc_id: String,
    pub title: String,
    pub content: String,
    pub document_id: i64,
    pub ordinal: i32,
    pub distance: Option<f64>,
    pub bm25: f64,
    pub title_similarity: f64,
    pub lexical_similarity: f64,
}

pub fn signals(ids: &[i64], qvec: Option<&[f32]>, bm25_blob: &[u8], q: &str) -> Vec<Candidate> {
    let args: [DatumWithOid; 4] =
        [ids.to_vec().into(), qvec.map(|v| v.to_vec()).into(), bm25_blob.to_vec().into(), q.into()];
    Spi::connect(|client| {
        let rows = client.select(&*render(queries::SEARCH_SIGNALS, None), None, &args).or_raise("candidate signals");
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let ctx = "candidate signals";
            let id = row.get::<i64>(1).or_raise(ctx);
            let document_id = row.get::<i64>(5).or_raise(ctx);
            let (Some(id), Some(document_id)) = (id, document_id) else { continue };
            out.push(Candidate {
                id,
                doc_id: row.get::<String>(2).or_raise(ctx).unwrap_or_default(),
                title: row.get::<String>(3).or_raise(ctx).unwrap_or_default(),
                content: row.get::<String>(4).or_raise(ctx).unwrap_or_default(),
                document_id,
                ordinal: row.get::<i32>(6).or_raise(ctx).unwrap_or(0),
                distance: row.get::<f64>(7).or_raise(ctx),
                bm25: row.get::<f64>(8).or_raise(ctx).unwrap_or(0.0),
                title_similarity: row.get::<f64>(9).or_raise(ctx).unwrap_or(0.0),
                lexical_similarity: row.get::<f64>(10).or_raise(ctx).unwrap_or(0.0),
            });
        }
        out
    })
}

/// Text of each chunk with `window` neighbours on each side, by chunk id.
pub fn windows(hits: &[(i64, i64, i32)], window: i32) -> std::collections::HashMap<i64, String> {
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let docs: Vec<i64> = hits.iter().map(|h| h.1).collect();
    let ordinals: Vec<i32> = hits.iter().map(|h| h.2).collect();
    let args: [DatumWithOid; 4] = [ids.into(), docs.into(), ordinals.into(), window.into()];
    Spi::connect(|client| {
        let rows = client.select(queries::SEARCH_WINDOW, None, &args).or_raise("neighbour window");
        rows.into_iter()
            .filter_map(|r| {
                let id = r.get::<i64>(1).ok().flatten()?;
                let text = r.get::<String>(2).ok().flatten()?;
                Some((id, text))
            })
            .collect()
    })
}

/// Counts chunks without an embedding, stopping once `limit` is reached.
pub fn missing_embeddings_up_to(limit: i64) -> i64 {
    let args: [DatumWithOid; 1] = [limit.into()];
    Spi::connect(|client| {
        client
            .select(queries::SEARCH_MISSING_EMBEDDINGS, None, &args)
            .or_raise("count missing embeddings")
            .first()
            .get_one::<i64>()
            .or_raise("count missing embeddings")
            .unwrap_or(0)
    })
}

/// Runs `f` with transaction-local settings, restoring the previous values
/// afterwards so the caller's transaction is left as it was.
pub fn with_local_settings<R>(settings: &[(&str, String)], f: impl FnOnce() -> R) -> R {
    let mut previous: Vec<(&str, Option<String>)> = Vec::with_capacity(settings.len());
    for (name, value) in settings {
        let args: [DatumWithOid; 1] = [(*name).into()];
        let old = Spi::get_one_with_args::<String>("SELECT current_setting($1, true)", &args).or_raise("read setting");
        previous.push((name, old));
        let args: [DatumWithOid; 2] = [(*name).into(), value.as_str().into()];
        Spi::run_with_args("SELECT set_config($1, $2, true)", &args).or_raise("apply setting");
    }
    let result = f();
    for (name, old) in previous {
        if let Some(old) = old {
            let args: [DatumWithOid; 2] = [name.into(), old.as_str().into()];
            Spi::run_with_args("SELECT set_config($1, $2, true)", &args).or_raise("restore setting");
        }
    }
    result
}
