//! Search planning and ranking: which mode runs, which candidate lists are
//! read and how deep, how candidates are fused, which of them need the
//! expensive trigram signals, and the bounds that keep one search's work
//! and memory within what the operator allows.
//!
//! The extension reads rows; every decision is made here.
//!
//! The cascade: candidates come only from index-backed lists (HNSW for the
//! vector signal, the BM25 top k for full text, title trigrams for
//! lexical). They are scored on those cheap signals first; the trigram
//! signals (title similarity, content word similarity) are computed only
//! where they can change the result. For weighted fusion, a candidate whose
//! cheap score plus the largest possible trigram contribution
//! (`w_title + w_lex`, both similarities are at most 1) is below the k-th
//! best final score found so far cannot enter the top k, so trigram signals
//! are computed in rounds down the cheap ranking until that holds for the
//! rest ([`Ranking::next_trigram`]); an operator's cap may stop earlier.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::fusion::{self, Signals, Weights};

/// The mode a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Hybrid,
    Fts,
    Vector,
    Lexical,
}

/// The names `Mode::parse` accepts.
pub const MODES: &str = "auto, hybrid, fts, vector, lexical";

impl Mode {
    /// Case-insensitive; NULL means auto.
    pub fn parse(mode: Option<&str>) -> Result<Mode, String> {
        match mode.map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("auto") => Ok(Mode::Auto),
            Some("hybrid") => Ok(Mode::Hybrid),
            Some("fts") => Ok(Mode::Fts),
            Some("vector") => Ok(Mode::Vector),
            Some("lexical") => Ok(Mode::Lexical),
            Some(other) => Err(format!("unknown search mode \"{other}\"")),
        }
    }

    /// Whether the mode needs the query's embedding.
    pub fn needs_vector(self) -> bool {
        matches!(self, Mode::Hybrid | Mode::Vector)
    }
}

/// What actually runs; reported in the `mode` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    Hybrid,
    Fts,
    Vector,
    Lexical,
    /// auto without usable embeddings: full-text plus lexical signals.
    FtsLexical,
}

impl Ran {
    pub fn name(self) -> &'static str {
        match self {
            Ran::Hybrid => "hybrid",
            Ran::Fts => "fts",
            Ran::Vector => "vector",
            Ran::Lexical => "lexical",
            Ran::FtsLexical => "fts+lexical",
        }
    }

    /// What runs for `mode`: `vector` says whether the query's embedding is
    /// at hand (always for hybrid and vector, which fail otherwise; for auto
    /// when embeddings are usable and the server answered).
    pub fn of(mode: Mode, vector: bool) -> Ran {
        match mode {
            Mode::Fts => Ran::Fts,
            Mode::Lexical => Ran::Lexical,
            Mode::Vector => Ran::Vector,
            Mode::Hybrid => Ran::Hybrid,
            Mode::Auto if vector => Ran::Hybrid,
            Mode::Auto => Ran::FtsLexical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    Weighted,
    Rrf,
}

impl Fusion {
    pub fn parse(s: &str) -> Result<Fusion, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "weighted" => Ok(Fusion::Weighted),
            "rrf" => Ok(Fusion::Rrf),
            other => Err(format!("unknown fusion \"{other}\"")),
        }
    }
}

/// pgvector's first version with iterative index scans
/// (`hnsw.iterative_scan`), which keep a filtered HNSW scan going until
/// enough rows pass the filter.
pub const PGVECTOR_ITERATIVE_SCAN: [u32; 3] = [0, 8, 0];

/// Whether pgvector `version` (its `extversion`, e.g. "0.8.1") has
/// iterative index scans. Older versions stop a filtered scan at
/// `hnsw.ef_search` rows; the exact scan over the filtered documents then
/// completes the list. An unparsable version counts as without.
pub fn pgvector_has_iterative_scan(version: &str) -> bool {
    let mut parts = version.trim().split('.').map(|p| {
        let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<u32>().ok()
    });
    let mut parsed = [0u32; 3];
    for slot in parsed.iter_mut() {
        match parts.next() {
            Some(Some(n)) => *slot = n,
            Some(None) => return false,
            None => break,
        }
    }
    parsed >= PGVECTOR_ITERATIVE_SCAN
}

/// How one search ranks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub ran: Ran,
    pub fusion: Fusion,
    pub weights: Weights,
    pub rrf_k: f64,
    pub top_k: usize,
    /// Candidates per list, as a multiple of top_k.
    pub oversample: usize,
    /// Keep only hits whose window contains every query keyword: ranking
    /// then has to go further down the candidates.
    pub require_all_keywords: bool,
    /// Most candidates whose trigram signals weighted fusion computes, as a
    /// multiple of top_k (the exact shortlist is cut to it).
    pub shortlist: usize,
    /// At most this many chunks of one document in the top k (None: no
    /// cap). The ranking then goes further down the candidates to fill the
    /// top k ([`DocumentCap`]).
    pub max_per_document: Option<usize>,
}

/// How many candidates each list contributes (0: the list is not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lists {
    /// Best chunks by BM25.
    pub fts: usize,
    /// Nearest chunks by cosine distance.
    pub vector: usize,
    /// Chunks of the documents whose title is most trigram-similar.
    pub titles: usize,
}

/// Title candidates (documents whose title is trigram-similar to the query,
/// pg_trgm's `%`) are looked up for title-like queries only: a title can be
/// similar to a query only if it shares a good part of the query's
/// trigrams, and for a whole question the title index has to read the
/// postings of every one of its trigrams — most titles — to find next to
/// nothing. The title signal itself is still computed for every candidate
/// that needs it. rag_candidate_pages looks up titles equal to the query
/// under the same rule.
pub const TITLE_QUERY_MAX_TRIGRAMS: usize = 40;

/// About as many trigrams as pg_trgm makes of `words` (each word padded:
/// one trigram per character, plus one).
pub fn estimated_trigrams(words: &[String]) -> usize {
    words.iter().map(|w| w.chars().count() + 1).sum()
}

/// Whether titles are worth looking up for a query of these words.
pub fn title_like(words: &[String]) -> bool {
    estimated_trigrams(words) <= TITLE_QUERY_MAX_TRIGRAMS
}

impl Ranking {
    /// top_k × oversample: the depth of each list that feeds a fusion.
    pub fn wide(&self) -> usize {
        self.top_k.saturating_mul(self.oversample.max(1))
    }

    /// Whether the entity signal takes part: weighted fusion of several
    /// signals with an entity weight. Its list (chunks of documents naming
    /// an entity of the query) is then read as deep as the others.
    pub fn uses_entities(&self) -> bool {
        matches!((self.ran, self.fusion), (Ran::Hybrid | Ran::FtsLexical, Fusion::Weighted)) && self.weights.entity > 0.0
    }

    /// The lists to read; `title_like`: see [`title_like`].
    pub fn lists(&self, title_like: bool) -> Lists {
        let wide = self.wide();
        // Keyword filtering and the per-document cap remove hits after
        // ranking: single lists look as far as fused ones then.
        let single = if self.require_all_keywords || self.max_per_document.is_some() { wide } else { self.top_k };
        let titles = if title_like { wide } else { 0 };
        match self.ran {
            Ran::Fts => Lists { fts: single, ..Lists::default() },
            Ran::Vector => Lists { vector: single, ..Lists::default() },
            Ran::Lexical | Ran::FtsLexical => Lists { fts: wide, titles, ..Lists::default() },
            Ran::Hybrid => Lists { fts: wide, vector: wide, ..Lists::default() },
        }
    }
}

/// One candidate chunk and the signals known for it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Candidate {
    pub id: i64,
    /// Cosine distance to the query embedding (None without one, or for a
    /// chunk without an embedding).
    pub distance: Option<f64>,
    /// BM25 score (0 when the chunk has no query word).
    pub bm25: Option<f64>,
    /// Trigram similarity of the title to the query.
    pub title: Option<f64>,
    /// Trigram word similarity of the query to the chunk's text.
    pub lex: Option<f64>,
    /// The entity signal (see [`crate::entities`]).
    pub entity: Option<f64>,
    /// The chunk's document (rag_search.documents.id), once read with the
    /// trigram signals: the per-document cap needs it.
    pub document: Option<i64>,
}

impl Candidate {
    fn signals(&self) -> Signals {
        Signals { vec_distance: self.distance, fts: self.bm25, title: self.title, lex: self.lex, entity: self.entity }
    }
}

/// Union of candidate lists, in first-seen order, merging the signals each
/// list knows (a value given twice is the same value: the first is kept).
pub fn merge_candidates(lists: impl IntoIterator<Item = Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    for c in lists {
        match at.get(&c.id) {
            Some(&i) => {
                let m = &mut out[i];
                m.distance = m.distance.or(c.distance);
                m.bm25 = m.bm25.or(c.bm25);
                m.title = m.title.or(c.title);
                m.lex = m.lex.or(c.lex);
                m.entity = m.entity.or(c.entity);
                m.document = m.document.or(c.document);
            }
            None => {
                at.insert(c.id, out.len());
                out.push(c);
            }
        }
    }
    out
}

impl Ranking {
    /// Whether the ranking uses every candidate (modes that rank on cheap
    /// signals, or on trigram signals of every candidate), or only those
    /// whose trigram signals were computed (weighted fusion: the others are
    /// proven — or, past the shortlist cap, deemed — out of the top k).
    pub fn ranks_all(&self) -> bool {
        !matches!((self.ran, self.fusion), (Ran::Hybrid | Ran::FtsLexical, Fusion::Weighted))
    }

    /// The candidates (indexes) whose trigram signals to compute next, in
    /// rounds: empty once the ranking can be decided. Every candidate's
    /// distance and BM25 must be known; a candidate's trigram signals are
    /// known once its `title` and `lex` are set.
    ///
    /// For weighted fusion, rounds go down the candidates in order of their
    /// cheap score: with θ the k-th best final score among the candidates
    /// computed so far, a candidate whose cheap score plus the largest
    /// trigram contribution is below θ cannot enter the top k (its final
    /// score is below θ), so rounds stop when the next one cannot — usually
    /// after a round or two of top_k candidates — or at top_k ×
    /// `shortlist` computed candidates.
    pub fn next_trigram(&self, candidates: &[Candidate]) -> Vec<usize> {
        let unknown = |c: &Candidate| c.title.is_none() || c.lex.is_none();
        match (self.ran, self.fusion) {
            (Ran::Fts | Ran::Vector, _) | (Ran::Hybrid, Fusion::Rrf) => Vec::new(),
            (Ran::Lexical, _) | (Ran::FtsLexical, Fusion::Rrf) => {
                (0..candidates.len()).filter(|&i| unknown(&candidates[i])).collect()
            }
            (Ran::Hybrid | Ran::FtsLexical, Fusion::Weighted) => {
                if self.require_all_keywords {
                    return (0..candidates.len()).filter(|&i| unknown(&candidates[i])).collect();
                }
                let w = self.weights_for_ran();
                let trigram_max = w.title.max(0.0) + w.lex.max(0.0);
                let cheap = cheap_scores(candidates, &w);
                let signals: Vec<Signals> = candidates.iter().map(Candidate::signals).collect();
                let finals = fusion::weighted(&signals, &w);
                let known: Vec<usize> = (0..candidates.len()).filter(|&i| !unknown(&candidates[i])).collect();
                let theta = self.kth_best(&known, &finals, candidates);
                let cap = self.top_k.saturating_mul(self.shortlist.max(1)).max(self.top_k);
                // With a per-document cap, the known candidates may not yet
                // fill the top k: rounds go on past the shortlist until they do.
                if known.len() >= cap && theta.is_some() {
                    return Vec::new();
                }
                let mut order: Vec<usize> = (0..candidates.len()).filter(|&i| unknown(&candidates[i])).collect();
                order.sort_by(|&a, &b| by_score(cheap[a], cheap[b]).then(candidates[a].id.cmp(&candidates[b].id)));
                let round = if known.len() < cap { self.top_k.min(cap - known.len()) } else { self.top_k };
                order
                    .into_iter()
                    .take_while(|&i| match theta {
                        // The margin covers rounding: a final score is
                        // summed from the same terms plus the trigram ones.
                        Some(t) => cheap[i] + trigram_max + BOUND_MARGIN * (1.0 + trigram_max + t.abs()) >= t,
                        None => true,
                    })
                    .take(round)
                    .collect()
            }
        }
    }

    /// θ of the cascade: the k-th best final score among the candidates
    /// `known` (trigram signals computed). With a per-document cap, among
    /// them as capped: adding candidates can only raise each document's
    /// best scores and add documents, so the capped k-th best of all
    /// candidates is at least this one, and a candidate whose bound is below
    /// it cannot enter the capped top k. Candidates of unknown document
    /// (deleted meanwhile) are left out, which only lowers θ.
    fn kth_best(&self, known: &[usize], finals: &[f64], candidates: &[Candidate]) -> Option<f64> {
        let k = self.top_k.max(1);
        let mut order: Vec<usize> = known.to_vec();
        order.sort_by(|&a, &b| by_score(finals[a], finals[b]).then(candidates[a].id.cmp(&candidates[b].id)));
        match self.max_per_document {
            None => order.get(k - 1).map(|&i| finals[i]),
            Some(max) => {
                let mut cap = DocumentCap::new(Some(max));
                order
                    .into_iter()
                    .filter(|&i| candidates[i].document.is_some_and(|d| cap.admit(d)))
                    .nth(k - 1)
                    .map(|i| finals[i])
            }
        }
    }

    fn weights_for_ran(&self) -> Weights {
        if self.ran == Ran::FtsLexical {
            Weights { vec: 0.0, ..self.weights }
        } else {
            self.weights
        }
    }

    /// Candidates (indexes) in result order with their scores (see
    /// [`Ranking::ranks_all`]).
    pub fn rank(&self, candidates: &[Candidate]) -> Vec<(usize, f64)> {
        let members: Vec<usize> = if self.ranks_all() {
            (0..candidates.len()).collect()
        } else {
            (0..candidates.len()).filter(|&i| candidates[i].title.is_some() && candidates[i].lex.is_some()).collect()
        };
        let scores: Vec<f64> = match (self.ran, self.fusion) {
            (Ran::Fts, _) => members.iter().map(|&i| candidates[i].bm25.unwrap_or(0.0)).collect(),
            (Ran::Vector, _) => {
                members.iter().map(|&i| candidates[i].distance.map(fusion::vector_score).unwrap_or(0.0)).collect()
            }
            (Ran::Lexical, _) => {
                let (wt, wl) = (self.weights.title, self.weights.lex);
                let sum = wt + wl;
                members
                    .iter()
                    .map(|&i| {
                        let c = &candidates[i];
                        let (t, l) = (c.title.unwrap_or(0.0), c.lex.unwrap_or(0.0));
                        if sum > 0.0 {
                            (wt * t + wl * l) / sum
                        } else {
                            l
                        }
                    })
                    .collect()
            }
            (Ran::Hybrid | Ran::FtsLexical, Fusion::Weighted) => {
                // Normalisation spans every candidate (the cheap signals of
                // all of them are known), as if all were scored.
                let signals: Vec<Signals> = candidates.iter().map(Candidate::signals).collect();
                let all = fusion::weighted(&signals, &self.weights_for_ran());
                members.iter().map(|&i| all[i]).collect()
            }
            (Ran::Hybrid | Ran::FtsLexical, Fusion::Rrf) => {
                let first: Vec<u64> = if self.ran == Ran::Hybrid {
                    ranked(candidates, |c| c.distance.map(|d| -d))
                } else {
                    ranked(candidates, |c| c.lex.filter(|&l| l > 0.0))
                };
                let second = ranked(candidates, |c| c.bm25.filter(|&s| s > 0.0));
                let fused: HashMap<u64, f64> = fusion::rrf(&[first, second], self.rrf_k).into_iter().collect();
                members.iter().map(|&i| fused.get(&(i as u64)).copied().unwrap_or(0.0)).collect()
            }
        };
        let mut out: Vec<(usize, f64)> = members.into_iter().zip(scores).collect();
        out.sort_by(|a, b| by_score(a.1, b.1).then(candidates[a.0].id.cmp(&candidates[b.0].id)));
        out
    }
}

/// The per-document cap of a result page: hits are offered in rank order
/// and a document's hits are admitted until it has `max`. Holds one entry
/// per admitted document (at most top_k).
#[derive(Debug, Clone, Default)]
pub struct DocumentCap {
    max: Option<usize>,
    taken: HashMap<i64, usize>,
}

impl DocumentCap {
    pub fn new(max: Option<usize>) -> Self {
        DocumentCap { max, taken: HashMap::new() }
    }

    /// Whether a hit of `document` enters the page (and counts it if so).
    pub fn admit(&mut self, document: i64) -> bool {
        let Some(max) = self.max else { return true };
        let taken = self.taken.entry(document).or_insert(0);
        if *taken >= max {
            return false;
        }
        *taken += 1;
        true
    }
}

/// Relative slack on the cascade's bound, far above floating-point error.
const BOUND_MARGIN: f64 = 1e-9;

/// Weighted fusion of the cheap signals (vector and BM25) over all
/// candidates, with the trigram signals taken as 0.
fn cheap_scores(candidates: &[Candidate], w: &Weights) -> Vec<f64> {
    let signals: Vec<Signals> =
        candidates.iter().map(|c| Signals { title: None, lex: None, ..c.signals() }).collect();
    fusion::weighted(&signals, w)
}

/// Descending score, NaN last.
fn by_score(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Candidate indexes ordered by `key` descending (ties by chunk id),
/// skipping those without one.
fn ranked(candidates: &[Candidate], key: impl Fn(&Candidate) -> Option<f64>) -> Vec<u64> {
    let mut v: Vec<(usize, f64)> = candidates.iter().enumerate().filter_map(|(i, c)| key(c).map(|k| (i, k))).collect();
    v.sort_by(|a, b| by_score(a.1, b.1).then(candidates[a.0].id.cmp(&candidates[b.0].id)));
    v.into_iter().map(|(i, _)| i as u64).collect()
}

/// A request's size that a bound refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// `top_k × oversample` candidates above `max_candidates`.
    Candidates { top_k: i64, oversample: i64, max: i64 },
    /// `top_k × (2 × window + 1)` chunks of text above `max_context_chunks`.
    ContextChunks { top_k: i64, window: i64, max: i64 },
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::Candidates { top_k, oversample, max } => write!(
                f,
                "{top_k} results × oversample {oversample} = {} candidates exceeds rag_search.max_candidates ({max})",
                top_k.saturating_mul(*oversample)
            ),
            LimitError::ContextChunks { top_k, window, max } => write!(
                f,
                "{top_k} results with window {window} return {} chunks of text, more than \
                 rag_search.max_context_chunks ({max})",
                context_chunks(*top_k, *window)
            ),
        }
    }
}

/// Chunks whose text a search returns: each result with `window`
/// neighbours on each side.
pub fn context_chunks(top_k: i64, window: i64) -> i64 {
    top_k.saturating_mul(window.max(0).saturating_mul(2).saturating_add(1))
}

/// Candidate pages: how many chunk hits to take next when the `hits`
/// taken (of `wanted`) settle only `settled` of the `limit` pages asked for
/// (pages with hits, and exact title matches).
/// Pages are ranked by their best chunk, so the first `limit` distinct pages
/// among the best chunks are exactly the best `limit` pages; a page with
/// many matching chunks can crowd the others out of a short list, so the
/// list grows fourfold until it covers `limit` pages, holds every match
/// (fewer hits than wanted), or reaches `max_candidates`. `None`: the
/// hits are enough.
pub fn widen_page_hits(wanted: i64, hits: usize, settled: usize, limit: i64, max_candidates: i64) -> Option<i64> {
    let covered = i64::try_from(settled).unwrap_or(i64::MAX) >= limit;
    let exhausted = i64::try_from(hits).unwrap_or(i64::MAX) < wanted;
    if covered || exhausted || wanted >= max_candidates {
        return None;
    }
    Some(wanted.saturating_mul(4).min(max_candidates))
}

/// Checks a request against the operator's bounds.
pub fn check_limits(
    top_k: i64,
    oversample: i64,
    window: i64,
    max_candidates: i64,
    max_context_chunks: i64,
) -> Result<(), LimitError> {
    if top_k.saturating_mul(oversample.max(1)) > max_candidates {
        return Err(LimitError::Candidates { top_k, oversample, max: max_candidates });
    }
    if context_chunks(top_k, window) > max_context_chunks {
        return Err(LimitError::ContextChunks { top_k, window, max: max_context_chunks });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_hits_widen_until_the_pages_are_covered() {
        // 32 hits on 3 pages of 8: take 128.
        assert_eq!(widen_page_hits(32, 32, 3, 8, 10_000), Some(128));
        // Enough pages, or every match already taken: stop.
        assert_eq!(widen_page_hits(32, 32, 8, 8, 10_000), None);
        assert_eq!(widen_page_hits(32, 20, 3, 8, 10_000), None);
        // Never beyond the operator's bound.
        assert_eq!(widen_page_hits(4_000, 4_000, 3, 8, 10_000), Some(10_000));
        assert_eq!(widen_page_hits(10_000, 10_000, 3, 8, 10_000), None);
    }

    #[test]
    fn iterative_scans_from_pgvector_0_8() {
        for v in ["0.8.0", "0.8.1", "0.10.0", "1.0", "0.8.0-dev"] {
            assert!(pgvector_has_iterative_scan(v), "{v}");
        }
        for v in ["0.7.4", "0.6.2", "0.5", "", "x.y", "0.7.9.9"] {
            assert!(!pgvector_has_iterative_scan(v), "{v}");
        }
    }

    fn ranking(ran: Ran, fusion: Fusion, top_k: usize) -> Ranking {
        Ranking {
            ran,
            fusion,
            weights: Weights::default(),
            rrf_k: 60.0,
            top_k,
            oversample: 10,
            require_all_keywords: false,
            shortlist: 1000,
            max_per_document: None,
        }
    }

    fn cand(id: i64, distance: Option<f64>, bm25: f64) -> Candidate {
        Candidate { id, distance, bm25: Some(bm25), ..Candidate::default() }
    }

    #[test]
    fn modes_parse_and_resolve() {
        assert_eq!(Mode::parse(None), Ok(Mode::Auto));
        assert_eq!(Mode::parse(Some(" HYBRID ")), Ok(Mode::Hybrid));
        assert!(Mode::parse(Some("semantic")).unwrap_err().contains("semantic"));
        assert_eq!(Ran::of(Mode::Auto, true), Ran::Hybrid);
        assert_eq!(Ran::of(Mode::Auto, false), Ran::FtsLexical);
        assert_eq!(Ran::of(Mode::Fts, true), Ran::Fts);
        assert!(Mode::Vector.needs_vector() && !Mode::Auto.needs_vector());
        assert_eq!(Fusion::parse("RRF"), Ok(Fusion::Rrf));
        assert!(Fusion::parse("max").is_err());
    }

    #[test]
    fn lists_follow_the_mode() {
        let r = ranking(Ran::Hybrid, Fusion::Weighted, 8);
        assert_eq!(r.lists(true), Lists { fts: 80, vector: 80, titles: 0 });
        assert_eq!(ranking(Ran::Fts, Fusion::Weighted, 8).lists(true), Lists { fts: 8, ..Lists::default() });
        let keywords = Ranking { require_all_keywords: true, ..ranking(Ran::Vector, Fusion::Weighted, 8) };
        assert_eq!(keywords.lists(true), Lists { vector: 80, ..Lists::default() });
        assert_eq!(ranking(Ran::FtsLexical, Fusion::Rrf, 2).lists(true), Lists { fts: 20, titles: 20, vector: 0 });
        assert_eq!(ranking(Ran::Lexical, Fusion::Rrf, 2).lists(false), Lists { fts: 20, titles: 0, vector: 0 });
    }

    #[test]
    fn the_entity_signal_takes_part_in_weighted_fusion_with_a_weight() {
        let with = |ran, fusion, entity| Ranking { weights: Weights { entity, ..Weights::default() }, ..ranking(ran, fusion, 8) };
        assert!(!with(Ran::Hybrid, Fusion::Weighted, 0.0).uses_entities(), "off by default");
        assert!(with(Ran::Hybrid, Fusion::Weighted, 0.2).uses_entities());
        assert!(with(Ran::FtsLexical, Fusion::Weighted, 0.2).uses_entities());
        assert!(!with(Ran::Hybrid, Fusion::Rrf, 0.2).uses_entities());
        assert!(!with(Ran::Fts, Fusion::Weighted, 0.2).uses_entities());
    }

    #[test]
    fn titles_are_looked_up_for_title_like_queries() {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert!(title_like(&words("row security policies")));
        assert!(title_like(&words("윤석열 탄핵 절차")));
        assert!(!title_like(&words("how do i make each user see only their own rows in a shared table")));
        assert_eq!(estimated_trigrams(&words("ab 가나")), 3 + 3);
    }

    #[test]
    fn merge_keeps_first_seen_order_and_combines_signals() {
        let merged = merge_candidates([
            Candidate { id: 5, distance: Some(0.2), ..Default::default() },
            Candidate { id: 3, distance: Some(0.4), ..Default::default() },
            Candidate { id: 5, bm25: Some(2.0), ..Default::default() },
            Candidate { id: 9, bm25: Some(1.0), ..Default::default() },
        ]);
        assert_eq!(merged.iter().map(|c| c.id).collect::<Vec<_>>(), vec![5, 3, 9]);
        assert_eq!((merged[0].distance, merged[0].bm25), (Some(0.2), Some(2.0)));
    }

    /// Pseudo-random candidates with every cheap signal and a trigram pair.
    fn random_candidates(seed: u64, n: usize) -> Vec<(Candidate, f64, f64)> {
        let mut rng = crate::testing::Rng::new(seed);
        (0..n)
            .map(|i| {
                let distance = rng.chance(0.8).then(|| rng.unit() * 1.2);
                let bm25 = if rng.chance(0.7) { rng.unit() * 12.0 } else { 0.0 };
                let c = Candidate { id: (i as i64 * 7919) % 1000, distance, bm25: Some(bm25), ..Candidate::default() };
                (c, rng.unit(), rng.unit())
            })
            .collect()
    }

    /// Runs the cascade's rounds, filling trigram signals from `full`;
    /// returns the top k and how many candidates needed trigram signals.
    fn run_cascade(r: &Ranking, cheap: &[Candidate], full: &[Candidate], k: usize) -> (Vec<(i64, u64)>, usize) {
        let mut partial = cheap.to_vec();
        let mut computed = 0;
        loop {
            let round = r.next_trigram(&partial);
            if round.is_empty() {
                break;
            }
            for i in round {
                assert!(partial[i].title.is_none(), "a candidate computed twice");
                partial[i] = full[i];
                computed += 1;
            }
        }
        let top = r.rank(&partial).iter().take(k).map(|&(i, s)| (partial[i].id, s.to_bits())).collect();
        (top, computed)
    }

    #[test]
    fn the_cascade_returns_the_exact_top_k_when_the_shortlist_may_be_long() {
        let mut computed_total = 0;
        let mut candidates_total = 0;
        for seed in 1..300u64 {
            let mut raw = random_candidates(seed, 5 + (seed as usize % 150));
            raw.sort_by_key(|r| r.0.id);
            raw.dedup_by_key(|r| r.0.id);
            let k = 1 + seed as usize % 12;
            for (ran, weights) in [
                (Ran::Hybrid, Weights::default()),
                (Ran::FtsLexical, Weights::default()),
                (Ran::Hybrid, Weights { vec: 0.3, fts: 0.2, title: 0.4, lex: 0.6, entity: 0.0 }),
            ] {
                let r = Ranking { weights, ..ranking(ran, Fusion::Weighted, k) };
                let cheap: Vec<Candidate> = raw.iter().map(|(c, _, _)| *c).collect();
                let full: Vec<Candidate> =
                    raw.iter().map(|&(c, t, l)| Candidate { title: Some(t), lex: Some(l), ..c }).collect();
                // Every signal for every candidate: the reference ranking.
                let want: Vec<(i64, u64)> =
                    r.rank(&full).iter().take(k).map(|&(i, s)| (full[i].id, s.to_bits())).collect();
                let (got, computed) = run_cascade(&r, &cheap, &full, k);
                assert_eq!(got, want, "seed {seed} k {k} {ran:?}");
                if weights == Weights::default() {
                    computed_total += computed;
                    candidates_total += cheap.len();
                }
            }
        }
        assert!(computed_total * 3 < candidates_total, "{computed_total} of {candidates_total} computed");
    }

    /// The ranking's top k after the per-document cap, as the result page
    /// applies it.
    fn capped_top(r: &Ranking, candidates: &[Candidate], k: usize) -> Vec<(i64, u64)> {
        let mut cap = DocumentCap::new(r.max_per_document);
        r.rank(candidates)
            .into_iter()
            .filter(|&(i, _)| cap.admit(candidates[i].document.expect("known document")))
            .take(k)
            .map(|(i, s)| (candidates[i].id, s.to_bits()))
            .collect()
    }

    #[test]
    fn the_cascade_returns_the_exact_capped_top_k() {
        for seed in 1..200u64 {
            let mut raw = random_candidates(seed, 5 + (seed as usize % 120));
            raw.sort_by_key(|r| r.0.id);
            raw.dedup_by_key(|r| r.0.id);
            let k = 1 + seed as usize % 10;
            // Few documents, so the cap binds: a handful of chunks each.
            let documents = 1 + (seed as i64 % 7);
            for max in [1, 2] {
                let r = Ranking { max_per_document: Some(max), ..ranking(Ran::Hybrid, Fusion::Weighted, k) };
                let cheap: Vec<Candidate> = raw.iter().map(|(c, _, _)| *c).collect();
                let full: Vec<Candidate> = raw
                    .iter()
                    .map(|&(c, t, l)| Candidate { title: Some(t), lex: Some(l), document: Some(c.id % documents), ..c })
                    .collect();
                let want = capped_top(&r, &full, k);
                let mut partial = cheap.clone();
                loop {
                    let round = r.next_trigram(&partial);
                    if round.is_empty() {
                        break;
                    }
                    for i in round {
                        partial[i] = full[i];
                    }
                }
                // Ranked: the candidates with trigram signals (all known documents).
                let got = capped_top(&r, &partial, k);
                assert_eq!(got, want, "seed {seed} k {k} max {max}");
                assert!(want.len() <= (documents as usize) * max);
            }
        }
    }

    #[test]
    fn the_document_cap_admits_at_most_max_hits_of_a_document() {
        let mut cap = DocumentCap::new(Some(2));
        let admitted: Vec<bool> = [7, 7, 3, 7, 3, 3, 9].iter().map(|&d| cap.admit(d)).collect();
        assert_eq!(admitted, vec![true, true, true, false, true, false, true]);
        let mut none = DocumentCap::new(None);
        assert!((0..10).all(|_| none.admit(1)));
        // A capped search reads as deep as a fused one in single-list modes.
        let capped = Ranking { max_per_document: Some(1), ..ranking(Ran::Fts, Fusion::Weighted, 8) };
        assert_eq!(capped.lists(false), Lists { fts: 80, ..Lists::default() });
    }

    #[test]
    fn the_shortlist_is_short_when_trigram_weights_are_small() {
        let mut raw = random_candidates(77, 160);
        raw.sort_by_key(|r| r.0.id);
        raw.dedup_by_key(|r| r.0.id);
        let cheap: Vec<Candidate> = raw.iter().map(|(c, _, _)| *c).collect();
        let full: Vec<Candidate> = raw.iter().map(|&(c, t, l)| Candidate { title: Some(t), lex: Some(l), ..c }).collect();
        let r = Ranking { weights: Weights { vec: 0.6, fts: 0.4, title: 0.0, lex: 0.0, entity: 0.0 }, ..ranking(Ran::Hybrid, Fusion::Weighted, 8) };
        assert_eq!(run_cascade(&r, &cheap, &full, 8).1, 8, "no trigram weight: the top k only");
        let capped = Ranking { shortlist: 2, ..ranking(Ran::Hybrid, Fusion::Weighted, 8) };
        assert!(run_cascade(&capped, &cheap, &full, 8).1 <= 16);
    }

    #[test]
    fn single_signal_modes_need_no_trigram_but_lexical_ones_do() {
        let cands = vec![cand(1, Some(0.1), 3.0), cand(2, Some(0.3), 5.0), cand(3, None, 1.0)];
        for ran in [Ran::Fts, Ran::Vector] {
            let r = ranking(ran, Fusion::Weighted, 2);
            assert!(r.next_trigram(&cands).is_empty() && r.ranks_all());
        }
        assert!(ranking(Ran::Hybrid, Fusion::Rrf, 2).next_trigram(&cands).is_empty());
        assert_eq!(ranking(Ran::Lexical, Fusion::Weighted, 2).next_trigram(&cands), vec![0, 1, 2]);
        let fts = ranking(Ran::Fts, Fusion::Weighted, 2);
        let order = fts.rank(&cands);
        assert_eq!(order.iter().map(|&(i, _)| cands[i].id).collect::<Vec<_>>(), vec![2, 1, 3]);
        let vec = ranking(Ran::Vector, Fusion::Weighted, 2);
        let order = vec.rank(&cands);
        assert_eq!(order.iter().map(|&(i, _)| cands[i].id).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn rrf_fuses_vector_and_bm25_ranks_with_ties_by_id() {
        let cands = vec![cand(10, Some(0.2), 1.0), cand(4, Some(0.1), 2.0), cand(7, None, 3.0)];
        let r = ranking(Ran::Hybrid, Fusion::Rrf, 3);
        let order = r.rank(&cands);
        // 4: 1/61 + 1/62; 10: 1/62 + 1/63; 7: 1/61.
        assert_eq!(order.iter().map(|&(i, _)| cands[i].id).collect::<Vec<_>>(), vec![4, 10, 7]);
        assert!((order[0].1 - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-15);
    }

    #[test]
    fn limits_refuse_what_exceeds_them() {
        assert_eq!(check_limits(8, 10, 1, 10_000, 2_000), Ok(()));
        assert_eq!(check_limits(1000, 10, 0, 10_000, 2_000), Ok(()));
        assert_eq!(
            check_limits(1000, 1000, 0, 10_000, 2_000),
            Err(LimitError::Candidates { top_k: 1000, oversample: 1000, max: 10_000 })
        );
        assert_eq!(
            check_limits(1000, 1, 20, 10_000, 2_000),
            Err(LimitError::ContextChunks { top_k: 1000, window: 20, max: 2_000 })
        );
        assert_eq!(context_chunks(10, 2), 50);
        assert_eq!(context_chunks(i64::MAX, 20), i64::MAX);
        let msg = LimitError::ContextChunks { top_k: 1000, window: 20, max: 2_000 }.to_string();
        assert!(msg.contains("41000"), "{msg}");
    }
}
