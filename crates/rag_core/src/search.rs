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
//! best cheap score cannot enter the top k — every one of the k best by
//! cheap score ends at least there — so the trigram signals of the rest
//! decide the result exactly ([`Cascade::shortlist`]); an operator's cap
//! may shorten that list further.

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

impl Ranking {
    /// top_k × oversample: the depth of each list that feeds a fusion.
    pub fn wide(&self) -> usize {
        self.top_k.saturating_mul(self.oversample.max(1))
    }

    pub fn lists(&self) -> Lists {
        let wide = self.wide();
        // Keyword filtering removes hits after ranking: single lists look
        // as far as fused ones then.
        let single = if self.require_all_keywords { wide } else { self.top_k };
        match self.ran {
            Ran::Fts => Lists { fts: single, ..Lists::default() },
            Ran::Vector => Lists { vector: single, ..Lists::default() },
            Ran::Lexical | Ran::FtsLexical => Lists { fts: wide, titles: wide, ..Lists::default() },
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
}

impl Candidate {
    fn signals(&self) -> Signals {
        Signals { vec_distance: self.distance, fts: self.bm25, title: self.title, lex: self.lex }
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
            }
            None => {
                at.insert(c.id, out.len());
                out.push(c);
            }
        }
    }
    out
}

/// The trigram work of one ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Cascade {
    /// Candidates (indexes) whose trigram signals the ranking needs; the
    /// others are ranked without them or cannot reach the result.
    pub shortlist: Vec<usize>,
    /// Whether the candidates outside the shortlist take part in the
    /// ranking (modes that rank on cheap signals only), or are dropped
    /// (weighted fusion: proven or capped out of the top k).
    pub rank_all: bool,
}

impl Ranking {
    /// Which candidates need their trigram signals (every candidate's
    /// distance and BM25 must be known).
    pub fn cascade(&self, candidates: &[Candidate]) -> Cascade {
        let all = || (0..candidates.len()).collect::<Vec<_>>();
        match (self.ran, self.fusion) {
            (Ran::Fts | Ran::Vector, _) | (Ran::Hybrid, Fusion::Rrf) => Cascade { shortlist: Vec::new(), rank_all: true },
            (Ran::Lexical, _) | (Ran::FtsLexical, Fusion::Rrf) => Cascade { shortlist: all(), rank_all: true },
            (Ran::Hybrid | Ran::FtsLexical, Fusion::Weighted) => {
                if self.require_all_keywords {
                    return Cascade { shortlist: all(), rank_all: false };
                }
                let w = self.weights_for_ran();
                let trigram_max = w.title.max(0.0) + w.lex.max(0.0);
                let cheap = cheap_scores(candidates, &w);
                let mut order: Vec<usize> = all();
                order.sort_by(|&a, &b| by_score(cheap[a], cheap[b]).then(candidates[a].id.cmp(&candidates[b].id)));
                let Some(&kth) = order.get(self.top_k.saturating_sub(1)) else {
                    return Cascade { shortlist: order, rank_all: false };
                };
                let threshold = cheap[kth];
                let cap = self.top_k.saturating_mul(self.shortlist.max(1)).max(self.top_k);
                // The margin covers rounding: a final score is summed from
                // the same terms plus the two trigram ones.
                let reach = trigram_max + BOUND_MARGIN * (1.0 + trigram_max + threshold.abs());
                let mut shortlist: Vec<usize> =
                    order.into_iter().take_while(|&i| cheap[i] + reach >= threshold).take(cap).collect();
                shortlist.sort_unstable();
                Cascade { shortlist, rank_all: false }
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

    /// Candidates (indexes) in result order with their scores: those of
    /// the cascade's shortlist when it drops the rest, else all.
    pub fn rank(&self, candidates: &[Candidate], cascade: &Cascade) -> Vec<(usize, f64)> {
        let members: Vec<usize> =
            if cascade.rank_all { (0..candidates.len()).collect() } else { cascade.shortlist.clone() };
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
        }
    }

    fn cand(id: i64, distance: Option<f64>, bm25: f64) -> Candidate {
        Candidate { id, distance, bm25: Some(bm25), title: None, lex: None }
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
        assert_eq!(r.lists(), Lists { fts: 80, vector: 80, titles: 0 });
        assert_eq!(ranking(Ran::Fts, Fusion::Weighted, 8).lists(), Lists { fts: 8, ..Lists::default() });
        let keywords = Ranking { require_all_keywords: true, ..ranking(Ran::Vector, Fusion::Weighted, 8) };
        assert_eq!(keywords.lists(), Lists { vector: 80, ..Lists::default() });
        assert_eq!(ranking(Ran::FtsLexical, Fusion::Rrf, 2).lists(), Lists { fts: 20, titles: 20, vector: 0 });
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
                let c = Candidate { id: (i as i64 * 7919) % 1000, distance, bm25: Some(bm25), title: None, lex: None };
                (c, rng.unit(), rng.unit())
            })
            .collect()
    }

    #[test]
    fn the_cascade_returns_the_exact_top_k_when_the_shortlist_may_be_long() {
        for seed in 1..300u64 {
            let mut raw = random_candidates(seed, 5 + (seed as usize % 150));
            raw.sort_by_key(|r| r.0.id);
            raw.dedup_by_key(|r| r.0.id);
            let k = 1 + seed as usize % 12;
            for (ran, weights) in [
                (Ran::Hybrid, Weights::default()),
                (Ran::FtsLexical, Weights::default()),
                (Ran::Hybrid, Weights { vec: 0.3, fts: 0.2, title: 0.4, lex: 0.6 }),
            ] {
                let r = Ranking { weights, ..ranking(ran, Fusion::Weighted, k) };
                let cheap: Vec<Candidate> = raw.iter().map(|(c, _, _)| *c).collect();
                let full: Vec<Candidate> =
                    raw.iter().map(|&(c, t, l)| Candidate { title: Some(t), lex: Some(l), ..c }).collect();
                // Every signal for every candidate: the reference ranking.
                let everything = Cascade { shortlist: (0..full.len()).collect(), rank_all: false };
                let want: Vec<(i64, u64)> =
                    r.rank(&full, &everything).iter().take(k).map(|&(i, s)| (full[i].id, s.to_bits())).collect();
                // The cascade: trigram signals for the shortlist only.
                let cascade = r.cascade(&cheap);
                let mut partial = cheap.clone();
                for &i in &cascade.shortlist {
                    partial[i] = full[i];
                }
                let got: Vec<(i64, u64)> =
                    r.rank(&partial, &cascade).iter().take(k).map(|&(i, s)| (partial[i].id, s.to_bits())).collect();
                assert_eq!(got, want, "seed {seed} k {k} {ran:?}");
            }
        }
    }

    #[test]
    fn the_shortlist_is_short_when_trigram_weights_are_small() {
        let mut raw = random_candidates(77, 160);
        raw.sort_by_key(|r| r.0.id);
        raw.dedup_by_key(|r| r.0.id);
        let cheap: Vec<Candidate> = raw.iter().map(|(c, _, _)| *c).collect();
        let r = Ranking { weights: Weights { vec: 0.6, fts: 0.4, title: 0.0, lex: 0.0 }, ..ranking(Ran::Hybrid, Fusion::Weighted, 8) };
        assert_eq!(r.cascade(&cheap).shortlist.len(), 8, "no trigram weight: the top k only");
        let capped = Ranking { shortlist: 2, ..ranking(Ran::Hybrid, Fusion::Weighted, 8) };
        assert!(capped.cascade(&cheap).shortlist.len() <= 16);
    }

    #[test]
    fn single_signal_modes_need_no_trigram_but_lexical_ones_do() {
        let cands = vec![cand(1, Some(0.1), 3.0), cand(2, Some(0.3), 5.0), cand(3, None, 1.0)];
        for ran in [Ran::Fts, Ran::Vector] {
            let c = ranking(ran, Fusion::Weighted, 2).cascade(&cands);
            assert!(c.shortlist.is_empty() && c.rank_all);
        }
        assert!(ranking(Ran::Hybrid, Fusion::Rrf, 2).cascade(&cands).shortlist.is_empty());
        assert_eq!(ranking(Ran::Lexical, Fusion::Weighted, 2).cascade(&cands).shortlist, vec![0, 1, 2]);
        let fts = ranking(Ran::Fts, Fusion::Weighted, 2);
        let order = fts.rank(&cands, &fts.cascade(&cands));
        assert_eq!(order.iter().map(|&(i, _)| cands[i].id).collect::<Vec<_>>(), vec![2, 1, 3]);
        let vec = ranking(Ran::Vector, Fusion::Weighted, 2);
        let order = vec.rank(&cands, &vec.cascade(&cands));
        assert_eq!(order.iter().map(|&(i, _)| cands[i].id).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn rrf_fuses_vector_and_bm25_ranks_with_ties_by_id() {
        let cands = vec![cand(10, Some(0.2), 1.0), cand(4, Some(0.1), 2.0), cand(7, None, 3.0)];
        let r = ranking(Ran::Hybrid, Fusion::Rrf, 3);
        let order = r.rank(&cands, &r.cascade(&cands));
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
