//! The statements of search, each a thin wrapper over one SQL file.
//!
//! Chunks and documents are read as the caller (table privileges and
//! row-level security apply); the extension's bookkeeping — statistics and
//! postings — as the extension's owner.

use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use super::options::Scope;
use rag_core::fusion::{bm25_idf, ScoreParams};
use rag_core::search::pgvector_has_iterative_scan;
use rag_core::tsvector::Bm25Query;

use crate::error::OrRaise;
use crate::queries::{render, select_one, select_planned};
use crate::security::{as_extension_owner, row_security_filters};
use crate::{guc, queries};

/// A query lexeme as ranking sees it.
#[derive(Debug, Clone)]
pub struct TermStat {
    pub lexeme: String,
    pub df: i64,
    pub idf: f64,
    /// Has postings (sql/postings.sql); otherwise rare enough for the GIN
    /// index to find its chunks.
    pub indexed: bool,
}

/// What ranking needs to know about the query and the corpus.
pub struct QueryStats {
    pub chunks: i64,
    pub embedding_model: String,
    pub embedding_dim: i32,
    /// The query's lexemes in BM25 query-blob order (PostgreSQL's lexeme
    /// order), the order scores are summed in.
    pub terms: Vec<TermStat>,
    /// BM25 blob for rag_search.bm25.
    pub bm25_blob: Vec<u8>,
    pub params: ScoreParams,
    /// Chunks not yet merged into the postings.
    pub pending: Vec<i64>,
    /// pgvector keeps filtered HNSW scans going (see vector_list).
    pub vector_iterative_scan: bool,
}

impl QueryStats {
    /// OR-tsquery of the lexemes at `indices` (empty when none).
    pub fn tsquery(&self, indices: impl IntoIterator<Item = usize>) -> String {
        indices
            .into_iter()
            .filter_map(|i| self.terms.get(i))
            .map(|t| tsquery_literal(&t.lexeme))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// OR-tsquery of every query lexeme (None when the query has none).
    pub fn all_lexemes_tsquery(&self) -> Option<String> {
        Some(self.tsquery(0..self.terms.len())).filter(|t| !t.is_empty())
    }
}

pub fn query_stats(words: &[String]) -> QueryStats {
    let args: [DatumWithOid; 1] = [words.join(" ").into()];
    let ctx = "read term statistics";
    // The statistics and postings are the extension's bookkeeping.
    as_extension_owner(|| {
        Spi::connect(|client| {
            let row = select_planned(client, queries::SEARCH_TERM_STATS, &args, ctx).first();
            let chunks = row.get_by_name::<i64, _>("chunks").or_raise(ctx).unwrap_or(0);
            let lexemes_total = row.get_by_name::<i64, _>("lexemes").or_raise(ctx).unwrap_or(0);
            let lexemes = row.get_by_name::<Vec<String>, _>("query_lexemes").or_raise(ctx).unwrap_or_default();
            let dfs = row.get_by_name::<Vec<i64>, _>("dfs").or_raise(ctx).unwrap_or_default();
            let indexed = row.get_by_name::<Vec<bool>, _>("indexed").or_raise(ctx).unwrap_or_default();
            let pending = row.get_by_name::<Vec<i64>, _>("pending").or_raise(ctx).unwrap_or_default();
            let embedding_model = row.get_by_name::<String, _>("embedding_model").or_raise(ctx).unwrap_or_default();
            let embedding_dim = row.get_by_name::<i32, _>("embedding_dim").or_raise(ctx).unwrap_or(0);
            let vector_version = row.get_by_name::<String, _>("vector_version").or_raise(ctx).unwrap_or_default();

            let n = chunks.max(1) as f64;
            let avg_len = if chunks > 0 { lexemes_total as f64 / chunks as f64 } else { 1.0 };
            let by_lexeme: HashMap<String, (i64, bool)> = lexemes
                .into_iter()
                .zip(dfs.into_iter().zip(indexed.into_iter().chain(std::iter::repeat(false))))
                .collect();
            let blob = Bm25Query::new(
                by_lexeme.iter().map(|(l, (df, _))| (l.clone(), bm25_idf(*df as f64, n))).collect(),
                guc::bm25(),
                avg_len,
            );
            // The blob's order (bytes, as tsvector sorts) is the order in
            // which every score is summed.
            let terms: Vec<TermStat> = blob
                .terms
                .iter()
                .map(|(lexeme, idf)| {
                    let lexeme = String::from_utf8_lossy(lexeme).into_owned();
                    let (df, indexed) = by_lexeme.get(&lexeme).copied().unwrap_or((0, false));
                    TermStat { lexeme, df, idf: *idf, indexed }
                })
                .collect();
            let params = blob.score_params();
            QueryStats {
                chunks,
                embedding_model,
                embedding_dim,
                terms,
                bm25_blob: blob.to_blob(),
                params,
                pending,
                vector_iterative_scan: pgvector_has_iterative_scan(&vector_version),
            }
        })
    })
}

/// A lexeme as a tsquery operand: quoted, with quote and backslash escaped,
/// so no query text can change the tsquery's structure.
pub(crate) fn tsquery_literal(lexeme: &str) -> String {
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

/// The metadata filter and the source of a scope, as two parameters.
fn scope_args(scope: &Scope) -> [DatumWithOid<'static>; 2] {
    [scope.metadata.clone().into(), scope.source.into()]
}

/// `(id, score)` rows of a statement returning `id` and `score`; `planned`:
/// through a plan kept per backend (see queries::select_planned).
pub fn scored_rows(sql: &str, args: &[DatumWithOid], ctx: &str, planned: bool) -> Vec<(i64, f64)> {
    Spi::connect(|client| {
        let rows =
            if planned { select_planned(client, sql, args, ctx) } else { client.select(sql, None, args).or_raise(ctx) };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.get_by_name::<i64, _>("id").or_raise(ctx);
            let score = row.get_by_name::<f64, _>("score").or_raise(ctx);
            if let (Some(id), Some(score)) = (id, score) {
                out.push((id, score));
            }
        }
        out
    })
}

/// Chunks matching `tsquery` (an OR of lexemes) among the documents
/// matching `filter`, best BM25 first (ties by id), at most `limit`.
pub fn ranked_chunks(stats: &QueryStats, tsq: &str, limit: i64, filter: &Scope) -> Vec<(i64, f64)> {
    if tsq.is_empty() {
        return Vec::new();
    }
    let [metadata, source] = scope_args(filter);
    let args: [DatumWithOid; 5] = [tsq.into(), stats.bm25_blob.clone().into(), limit.into(), metadata, source];
    scored_rows(queries::SEARCH_FTS, &args, "full-text candidates", false)
}

/// Nearest chunks by cosine distance. With a filter (or row-level security
/// policies that filter the caller's rows), the HNSW scan runs in
/// pgvector's iterative mode where pgvector has it (`iterative_scan`); if a
/// selective filter still leaves fewer than `limit` rows, an exact scan
/// over the filtered documents completes it.
pub fn vector_list(
    qvec: &[f32],
    dimension: i32,
    limit: i64,
    filter: &Scope,
    iterative_scan: bool,
) -> Vec<(i64, f64)> {
    let ef = limit.clamp(40, 1000).to_string();
    // On small tables the planner prices an exact scan and sort below the
    // HNSW scan once ef_search is raised for hybrid's wider candidate list
    // (~40 ms at 10,000 chunks of 1024 dimensions, against ~5 ms).
    let mut settings: Vec<(&str, String)> = vec![("hnsw.ef_search", ef), ("enable_seqscan", "off".to_string())];
    let filtered = filter.restricts() || row_security_filters();
    if filtered && iterative_scan {
        settings.push(("hnsw.iterative_scan", "relaxed_order".to_string()));
    }
    let [metadata, source] = scope_args(filter);
    let args: [DatumWithOid; 4] = [qvec.to_vec().into(), limit.into(), metadata, source];
    let sql = render(queries::SEARCH_VECTOR, Some(dimension));
    let mut hits = with_local_settings(&settings, || distance_rows(&sql, &args));
    if filtered && (hits.len() as i64) < limit {
        hits = distance_rows(&render(queries::SEARCH_VECTOR_FILTERED_EXACT, Some(dimension)), &args);
    }
    hits
}

fn distance_rows(sql: &str, args: &[DatumWithOid]) -> Vec<(i64, f64)> {
    let ctx = "vector candidates";
    Spi::connect(|client| {
        let rows = client.select(sql, None, args).or_raise(ctx);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.get_by_name::<i64, _>("id").or_raise(ctx);
            let d = row.get_by_name::<f64, _>("distance").or_raise(ctx);
            if let (Some(id), Some(d)) = (id, d) {
                out.push((id, d));
            }
        }
        out
    })
}

/// The planner prices the title trigram index above a scan of every title
/// for queries of many trigrams (at ~20 µs of similarity a title); the
/// index is what bounds the work: bitmap scans only.
fn title_index_settings() -> Vec<(&'static str, String)> {
    vec![("enable_seqscan", "off".to_string()), ("enable_indexscan", "off".to_string())]
}

/// Chunks of the documents whose title is trigram-similar to `q`.
pub fn title_list(q: &str, limit: i64, filter: &Scope) -> Vec<i64> {
    let [metadata, source] = scope_args(filter);
    let args: [DatumWithOid; 4] = [q.into(), limit.into(), metadata, source];
    with_local_settings(&title_index_settings(), || {
        Spi::connect(|client| {
            let rows =
                client.select(&*render(queries::SEARCH_TITLES, None), None, &args).or_raise("title candidates");
            rows.into_iter().filter_map(|r| r.get_by_name::<i64, _>("id").ok().flatten()).collect()
        })
    })
}

/// Documents (of source `source`, None: all) whose title is `q` up to
/// case.
pub fn exact_title_documents(q: &str, limit: i64, source: Option<i32>) -> Vec<i64> {
    let args: [DatumWithOid; 3] = [q.into(), limit.into(), source.into()];
    with_local_settings(&title_index_settings(), || {
        Spi::connect(|client| {
            let rows =
                client.select(queries::CANDIDATE_PAGES_EXACT_TITLES, None, &args).or_raise("exact title matches");
            rows.into_iter().filter_map(|r| r.get_by_name::<i64, _>("id").ok().flatten()).collect()
        })
    })
}

/// Distance to `qvec` (None without one, or for a chunk without an
/// embedding) and BM25 of chunks `ids`.
pub fn cheap_signals(
    ids: &[i64],
    qvec: Option<&[f32]>,
    stats: &QueryStats,
) -> HashMap<i64, (Option<f64>, f64)> {
    let args: [DatumWithOid; 4] = [
        ids.to_vec().into(),
        qvec.map(|v| v.to_vec()).into(),
        stats.bm25_blob.clone().into(),
        stats.embedding_dim.into(),
    ];
    let ctx = "candidate signals";
    Spi::connect(|client| {
        let rows = select_planned(client, &render(queries::SEARCH_CHEAP_SIGNALS, None), &args, ctx);
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<i64, _>("id").or_raise(ctx) else { continue };
            let distance = row.get_by_name::<f64, _>("distance").or_raise(ctx);
            let bm25 = row.get_by_name::<f64, _>("bm25").or_raise(ctx).unwrap_or(0.0);
            out.insert(id, (distance, bm25));
        }
        out
    })
}

/// Title similarity and word similarity of chunks `ids` to `q`, and their
/// document.
pub fn trigram_signals(ids: &[i64], q: &str) -> HashMap<i64, (f64, f64, i64)> {
    let args: [DatumWithOid; 2] = [ids.to_vec().into(), q.into()];
    let ctx = "trigram signals";
    Spi::connect(|client| {
        let rows = select_planned(client, &render(queries::SEARCH_TRIGRAM_SIGNALS, None), &args, ctx);
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<i64, _>("id").or_raise(ctx) else { continue };
            let title = row.get_by_name::<f64, _>("title_similarity").or_raise(ctx).unwrap_or(0.0);
            let lex = row.get_by_name::<f64, _>("lexical_similarity").or_raise(ctx).unwrap_or(0.0);
            let document = row.get_by_name::<i64, _>("document_id").or_raise(ctx).unwrap_or(0);
            out.insert(id, (title, lex, document));
        }
        out
    })
}

/// What a result row shows of a chunk.
pub struct ChunkRow {
    pub doc_id: String,
    pub title: String,
    pub content: String,
    pub document_id: i64,
    pub ordinal: i32,
    pub title_similarity: Option<f64>,
    pub lexical_similarity: Option<f64>,
}

/// The result rows of chunks `ids` (a page of results: their text is held
/// in memory), with the trigram signals of those among `need_trigram`
/// (the others' are known: 0 here).
pub fn chunk_rows(ids: &[i64], q: &str, need_trigram: &[i64]) -> HashMap<i64, ChunkRow> {
    let args: [DatumWithOid; 3] = [ids.to_vec().into(), q.into(), need_trigram.to_vec().into()];
    let ctx = "result rows";
    Spi::connect(|client| {
        let rows = select_planned(client, &render(queries::SEARCH_ROWS, None), &args, ctx);
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some(id) = row.get_by_name::<i64, _>("id").or_raise(ctx) else { continue };
            out.insert(
                id,
                ChunkRow {
                    doc_id: row.get_by_name::<String, _>("doc_id").or_raise(ctx).unwrap_or_default(),
                    title: row.get_by_name::<String, _>("title").or_raise(ctx).unwrap_or_default(),
                    content: row.get_by_name::<String, _>("content").or_raise(ctx).unwrap_or_default(),
                    document_id: row.get_by_name::<i64, _>("document_id").or_raise(ctx).unwrap_or(0),
                    ordinal: row.get_by_name::<i32, _>("ordinal").or_raise(ctx).unwrap_or(0),
                    title_similarity: row.get_by_name::<f64, _>("title_similarity").or_raise(ctx),
                    lexical_similarity: row.get_by_name::<f64, _>("lexical_similarity").or_raise(ctx),
                },
            );
        }
        out
    })
}

/// Text of each chunk with `window` neighbours on each side, by chunk id.
pub fn windows(hits: &[(i64, i64, i32)], window: i32) -> HashMap<i64, String> {
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
        let old = select_one::<String>(queries::SETTING_READ, &args, "read setting");
        previous.push((name, old));
        let args: [DatumWithOid; 2] = [(*name).into(), value.as_str().into()];
        select_one::<String>(queries::SETTING_APPLY, &args, "apply setting");
    }
    let result = f();
    for (name, old) in previous {
        if let Some(old) = old {
            let args: [DatumWithOid; 2] = [name.into(), old.as_str().into()];
            select_one::<String>(queries::SETTING_APPLY, &args, "restore setting");
        }
    }
    result
}
