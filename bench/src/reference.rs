//! The client-side reference retriever the extension replaces: five round
//! trips over one connection and the ranking in the client.
//!
//! Its parameters mirror the extension's defaults: candidate pages from
//! top_k × 100 chunk hits, vector search with top_k × 10 oversampling,
//! weights `rag_core::fusion::DEFAULT_WEIGHTS`, a ±1 chunk neighbour window checked for the
//! best 3 × top_k candidates. The connection needs `hnsw.ef_search` of at
//! least [`vector_limit`], or pgvector stops at its default of 40 rows.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use pgvector::Vector;
use postgres::{Client, Statement};

use crate::Result;

/// Chunk hits ranked for candidate pages, per requested result.
pub const PAGE_HITS_PER_RESULT: i64 = 100;
/// Vector hits fetched per requested result.
pub const VECTOR_OVERSAMPLE: i64 = 10;
/// Weights of vector, full-text, title and lexical similarity: the
/// extension's defaults.
pub const WEIGHTS: [f64; 4] = {
    let w = rag_core::fusion::DEFAULT_WEIGHTS;
    [w.vec, w.fts, w.title, w.lex]
};
/// Neighbouring chunks on each side checked by the keyword rule.
pub const WINDOW: i32 = 1;
/// Candidates checked by the keyword rule, per requested result.
pub const RULE_CANDIDATES_PER_RESULT: usize = 3;
pub const KEYWORD_BONUS: f64 = 0.1;

pub const STEPS: [&str; 6] = [
    "1. candidate pages (chunk FTS, ts_rank_cd, grouped)",
    "2. vector search, top_k × 10",
    "3. ts_rank_cd for the vector hits",
    "4. title similarity + word_similarity",
    "5. weighted score (client)",
    "6. neighbour window + keyword rule",
];

/// Rows the vector step fetches for `top_k` results.
pub fn vector_limit(top_k: i32) -> i64 {
    i64::from(top_k) * VECTOR_OVERSAMPLE
}

/// The words of a query as a client would split it: runs of letters and
/// digits, lower-cased, each once, in order. They need no quoting inside a
/// tsquery.
pub fn query_words(q: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// `'w1' | 'w2' …` (or `&` with `all_terms`).
pub fn tsquery(words: &[String], all_terms: bool) -> String {
    words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(if all_terms { " & " } else { " | " })
}

pub struct Statements {
    pages: Statement,
    vector: Statement,
    fts_rank: Statement,
    signals: Statement,
    window: Statement,
}

impl Statements {
    pub fn prepare(client: &mut Client) -> Result<Statements> {
        Ok(Statements {
            pages: client.prepare(
                "SELECT h.document_id, max(h.r)::float8 AS rank, count(*) AS hits,
                        (array_agg(h.id ORDER BY h.r DESC, h.id))[1] AS best_chunk
                 FROM (SELECT c.id, c.document_id, ts_rank_cd(c.tsv, q) AS r
                       FROM rag_search.chunks c, to_tsquery('simple', $1) AS q
                       WHERE c.tsv @@ q
                       ORDER BY r DESC
                       LIMIT $2) h
                 GROUP BY h.document_id
                 ORDER BY rank DESC, hits DESC
                 LIMIT $3",
            )?,
            vector: client.prepare(
                "SELECT id, (embedding <=> $1)::float8 FROM rag_search.chunks ORDER BY embedding <=> $1 LIMIT $2",
            )?,
            fts_rank: client.prepare(
                "SELECT id, ts_rank_cd(tsv, to_tsquery('simple', $1))::float8 FROM rag_search.chunks WHERE id = ANY($2)",
            )?,
            signals: client.prepare(
                "SELECT c.id, c.document_id, c.ordinal, d.doc_id, d.title, c.content,
                        similarity(d.title, $1)::float8, word_similarity($1, c.content)::float8
                 FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
                 WHERE c.id = ANY($2)",
            )?,
            window: client.prepare(
                "SELECT u.document_id, u.ordinal, string_agg(n.content, ' ' ORDER BY n.ordinal)
                 FROM unnest($1::bigint[], $2::integer[]) AS u(document_id, ordinal)
                 JOIN rag_search.chunks n
                   ON n.document_id = u.document_id AND n.ordinal BETWEEN u.ordinal - $3 AND u.ordinal + $3
                 GROUP BY u.document_id, u.ordinal",
            )?,
        })
    }
}

/// One candidate chunk.
struct Candidate {
    document_id: i64,
    ordinal: i32,
    doc_id: String,
    title: String,
    distance: Option<f64>,
    fts: f64,
    title_sim: f64,
    lex_sim: f64,
    score: f64,
}

/// Runs the pipeline for query `words` (see [`query_words`]) and returns the
/// best `top_k` chunks as (chunk id, doc id), best first; each step's time
/// goes to `steps` (milliseconds). `all_terms` makes the tsquery an AND of
/// the words instead of an OR.
pub fn run(
    client: &mut Client,
    st: &Statements,
    words: &[String],
    vector: &Vector,
    all_terms: bool,
    top_k: i32,
    steps: &mut [f64; STEPS.len()],
) -> Result<Vec<(i64, String)>> {
    let q = words.join(" ");
    // The words as the stored tsvector holds them: English words as their
    // stems (what rag_search.index_text makes of them; Korean words are
    // stored whole as well).
    let lexemes: Vec<String> = words.iter().map(|w| rag_core::text::english::stem(w).into_owned()).collect();
    let tsquery = tsquery(&lexemes, all_terms);
    let mut clock = Instant::now();
    let mut lap = |i: usize, clock: &mut Instant| {
        steps[i] = clock.elapsed().as_secs_f64() * 1000.0;
        *clock = Instant::now();
    };

    // 1. Candidate pages: the best chunk of each of the top pages.
    let mut fts: HashMap<i64, f64> = HashMap::new();
    for r in client.query(&st.pages, &[&tsquery, &(i64::from(top_k) * PAGE_HITS_PER_RESULT), &i64::from(top_k)])? {
        fts.insert(r.get(3), r.get(1));
    }
    lap(0, &mut clock);
    // 2. Vector search with oversampling.
    let mut distance: HashMap<i64, f64> = HashMap::new();
    for r in client.query(&st.vector, &[vector, &vector_limit(top_k)])? {
        distance.insert(r.get(0), r.get(1));
    }
    lap(1, &mut clock);
    // 3. FTS rank of the vector hits, computed afterwards.
    let vector_ids: Vec<i64> = distance.keys().copied().collect();
    for r in client.query(&st.fts_rank, &[&tsquery, &vector_ids])? {
        fts.insert(r.get(0), r.get(1));
    }
    lap(2, &mut clock);
    // 4. Title trigram and lexical scores (plus what the result shows).
    let ids: Vec<i64> = fts.keys().chain(distance.keys()).copied().collect::<HashSet<_>>().into_iter().collect();
    let mut candidates: HashMap<i64, Candidate> = HashMap::new();
    for r in client.query(&st.signals, &[&q, &ids])? {
        let id: i64 = r.get(0);
        candidates.insert(
            id,
            Candidate {
                document_id: r.get(1),
                ordinal: r.get(2),
                doc_id: r.get(3),
                title: r.get(4),
                distance: distance.get(&id).copied(),
                fts: fts.get(&id).copied().unwrap_or(0.0),
                title_sim: r.get(6),
                lex_sim: r.get(7),
                score: 0.0,
            },
        );
    }
    lap(3, &mut clock);
    // 5. Weighted final score: vector 1/(1+d), FTS divided by the best rank.
    let fts_max = candidates.values().map(|c| c.fts).fold(0.0, f64::max);
    for c in candidates.values_mut() {
        let vec = c.distance.map_or(0.0, |d| 1.0 / (1.0 + d));
        let fts = if fts_max > 0.0 { c.fts / fts_max } else { 0.0 };
        c.score = WEIGHTS[0] * vec + WEIGHTS[1] * fts + WEIGHTS[2] * c.title_sim + WEIGHTS[3] * c.lex_sim;
    }
    let mut ranked: Vec<i64> = candidates.keys().copied().collect();
    ranked.sort_by(|a, b| candidates[b].score.total_cmp(&candidates[a].score).then(a.cmp(b)));
    ranked.truncate(RULE_CANDIDATES_PER_RESULT * top_k as usize);
    lap(4, &mut clock);
    // 6. Keyword rule: a bonus when the ±1 neighbour window (or the title)
    // contains every query word.
    let docs: Vec<i64> = ranked.iter().map(|id| candidates[id].document_id).collect();
    let ordinals: Vec<i32> = ranked.iter().map(|id| candidates[id].ordinal).collect();
    let mut windows: HashMap<(i64, i32), String> = HashMap::new();
    for r in client.query(&st.window, &[&docs, &ordinals, &WINDOW])? {
        windows.insert((r.get(0), r.get(1)), r.get::<_, String>(2).to_lowercase());
    }
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    for id in &ranked {
        let c = candidates.get_mut(id).expect("ranked ids are candidates");
        let title = c.title.to_lowercase();
        let window = windows.get(&(c.document_id, c.ordinal)).map_or("", String::as_str);
        if lower.iter().all(|w| window.contains(w.as_str()) || title.contains(w.as_str())) {
            c.score += KEYWORD_BONUS;
        }
    }
    ranked.sort_by(|a, b| candidates[b].score.total_cmp(&candidates[a].score).then(a.cmp(b)));
    ranked.truncate(top_k as usize);
    lap(5, &mut clock);
    Ok(ranked.into_iter().map(|id| (id, candidates.remove(&id).expect("ranked ids are candidates").doc_id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_are_split_lowered_and_unique() {
        assert_eq!(
            query_words("0-dimensional biomaterials show inductive properties. Biomaterials!"),
            vec!["0", "dimensional", "biomaterials", "show", "inductive", "properties"]
        );
        assert_eq!(query_words("윤석열 탄핵 절차는? (2024)"), vec!["윤석열", "탄핵", "절차는", "2024"]);
        assert_eq!(query_words("it's a 'quote' & | !"), vec!["it", "s", "a", "quote"]);
        assert!(query_words(" ,.; ").is_empty());
    }

    #[test]
    fn tsquery_joins_quoted_words() {
        let words = query_words("Alpha beta");
        assert_eq!(tsquery(&words, false), "'alpha' | 'beta'");
        assert_eq!(tsquery(&words, true), "'alpha' & 'beta'");
    }
}
