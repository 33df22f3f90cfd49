//! Score fusion over a candidate set, reciprocal-rank fusion and BM25.
//!
//! Every function is total: NaN/infinite/negative inputs are treated as
//! "no evidence" (0) instead of poisoning a whole ranking.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The raw signals known for one candidate; `None` = not available (e.g. the
/// candidate came from the vector side and did not match the tsquery).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Signals {
    /// Cosine distance to the query embedding (`<=>`), 0 = identical.
    pub vec_distance: Option<f64>,
    /// Raw full-text score (ts_rank/ts_rank_cd or BM25), any positive scale.
    pub fts: Option<f64>,
    /// pg_trgm similarity between query and title, in [0, 1].
    pub title: Option<f64>,
    /// pg_trgm similarity between query and chunk text, in [0, 1].
    pub lex: Option<f64>,
    /// Share of the entities the query names that the chunk's document
    /// lists in its metadata, in [0, 1] (see [`crate::entities`]).
    pub entity: Option<f64>,
}

/// Weights of the linear fusion in [`weighted`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    pub vec: f64,
    pub fts: f64,
    pub title: f64,
    pub lex: f64,
    /// The entity signal ([`Signals::entity`]); 0, off, until measured.
    pub entity: f64,
}

/// The default weights (the rag_search.weight_* settings start from them):
/// 0.51 / 0.34 / 0.05 / 0.10 / 0. The vector : full-text ratio (a full-text
/// share of 0.4) is chosen on training queries only (SciFact
/// `qrels/train.tsv` and the training half of the Korean dev set,
/// [`crate::split`]) by `examples/eval_bm25.rs`: the best pooled training
/// nDCG@10 averaged over the two fusion depths of top_k 10 and 100
/// ("Weight choice"), which `bench/retrieval_quality.sh` reports in
/// BENCHMARKS.md next to the test figures. The trigram weights only nudge
/// and are not chosen by measurement (the offline evaluation has no trigram
/// signal); the entity signal is off until measured on an operator's data
/// (`rag_tune_weights`).
pub const DEFAULT_WEIGHTS: Weights = Weights { vec: 0.51, fts: 0.34, title: 0.05, lex: 0.10, entity: 0.0 };

impl Default for Weights {
    fn default() -> Self {
        DEFAULT_WEIGHTS
    }
}

/// How the vector signal is put on a common scale before weighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VecNorm {
    /// `1/(1+d)` as is. Its spread over a candidate set is small next to the
    /// [0, 1] range of `fts_norm`, so full text dominates the ordering.
    Raw,
    /// `1/(1+d)`, then min-max over the candidate set to [0, 1] so that the
    /// vector and fts signals have comparable spreads; min-max keeps the
    /// vector side from being drowned out when fts is strong but wrong. The
    /// default; raw, min-max and z-scores of both signals are compared on
    /// the training queries by `examples/eval_bm25.rs`.
    #[default]
    MinMax,
}

/// `1 / (1 + d)` for a cosine distance `d` (so 1 = identical). Distances a
/// hair below 0 from float error count as 0; NaN/∞ give 0.
pub fn vector_score(cosine_distance: f64) -> f64 {
    if !cosine_distance.is_finite() {
        return 0.0;
    }
    1.0 / (1.0 + cosine_distance.max(0.0))
}

/// Fused score per candidate (same order as `candidates`):
/// `w.vec·vec + w.fts·fts_norm + w.title·title + w.lex·lex + w.entity·entity`, missing signals
/// counting 0. `fts_norm = fts / max(fts)` over the candidate set
/// (max-normalisation: raw ts_rank/BM25 values have no fixed scale, and
/// dividing by the max keeps 0 meaning "no match" unlike min-max). `vec` is
/// `vector_score` min-max normalised over the candidates ([`VecNorm::MinMax`]).
pub fn weighted(candidates: &[Signals], w: &Weights) -> Vec<f64> {
    weighted_with(candidates, w, VecNorm::default())
}

/// [`weighted`] with an explicit vector normalisation.
pub fn weighted_with(candidates: &[Signals], w: &Weights, norm: VecNorm) -> Vec<f64> {
    let clean = |x: Option<f64>| x.filter(|v| v.is_finite()).map_or(0.0, |v| v.max(0.0));
    let fts_max = candidates.iter().map(|c| clean(c.fts)).fold(0.0, f64::max);
    let vec_raw: Vec<Option<f64>> = candidates
        .iter()
        .map(|c| c.vec_distance.filter(|d| d.is_finite()).map(vector_score))
        .collect();
    let (lo, hi) = vec_raw
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let vec_norm = |v: Option<f64>| -> f64 {
        let Some(v) = v else { return 0.0 };
        match norm {
            VecNorm::Raw => v,
            // All candidates equally close: the signal carries no ordering
            // information, but present-vs-missing still should, hence 1.
            VecNorm::MinMax if hi - lo <= f64::EPSILON => 1.0,
            VecNorm::MinMax => (v - lo) / (hi - lo),
        }
    };
    candidates
        .iter()
        .zip(&vec_raw)
        .map(|(c, &v)| {
            let fts = if fts_max > 0.0 {
                clean(c.fts) / fts_max
            } else {
                0.0
            };
            let title = clean(c.title).min(1.0);
            let lex = clean(c.lex).min(1.0);
            let entity = clean(c.entity).min(1.0);
            w.vec * vec_norm(v) + w.fts * fts + w.title * title + w.lex * lex + w.entity * entity
        })
        .collect()
}

/// Reciprocal-rank fusion: each id scores `Σ 1/(k + rank)` over the lists
/// it appears in (rank starts at 1; only its first occurrence in a list
/// counts). Sorted by score descending, ties by id ascending. k = 60 is the
/// usual choice.
pub fn rrf(ranked_lists: &[Vec<u64>], k: f64) -> Vec<(u64, f64)> {
    let mut acc: HashMap<u64, f64> = HashMap::new();
    for list in ranked_lists {
        let mut seen = std::collections::HashSet::new();
        for (i, &id) in list.iter().enumerate() {
            if seen.insert(id) {
                *acc.entry(id).or_insert(0.0) += 1.0 / (k + (i + 1) as f64);
            }
        }
    }
    let mut out: Vec<(u64, f64)> = acc.into_iter().collect();
    sort_scored(&mut out);
    out
}

/// BM25 parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bm25 {
    pub k1: f64,
    pub b: f64,
}

/// k1 = 1.0, b = 0.4 (the rag_search.bm25_k1 / bm25_b settings start from
/// them): the pair best on the training queries of SciFact and the Korean
/// dev set together, for the full text as indexed (the title three times, then
/// the chunk; mean of the two sets' training nDCG@10 over a k1 × b grid,
/// `examples/eval_bm25.rs`).
pub const DEFAULT_BM25: Bm25 = Bm25 { k1: 1.0, b: 0.4 };

impl Default for Bm25 {
    fn default() -> Self {
        DEFAULT_BM25
    }
}

/// Lucene's idf: `ln(1 + (N - df + 0.5) / (df + 0.5))`, never negative.
pub fn bm25_idf(df: f64, n_docs: f64) -> f64 {
    (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln().max(0.0)
}

/// What a term's BM25 weight depends on besides its idf, tf and the
/// document length: the parameters and the corpus average length (in the
/// same unit as the document length, distinct lexemes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreParams {
    pub k1: f64,
    pub b: f64,
    pub avg_len: f64,
}

impl ScoreParams {
    /// An average length that is not positive (or NaN) becomes 1, as in the
    /// BM25 query blob, so a corpus without statistics still scores.
    pub fn new(params: Bm25, avg_len: f64) -> Self {
        ScoreParams { k1: params.k1, b: params.b, avg_len: if avg_len > 0.0 { avg_len } else { 1.0 } }
    }
}

/// The BM25 weight of one query term in one document:
/// `idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avg_len))`, with the
/// operations in exactly this order. Every BM25 score of the extension
/// (stored tsvectors, postings, bounds) is built from this function, which
/// is what makes scores computed from postings bitwise equal to scores read
/// from tsvectors.
#[inline]
pub fn term_score(idf: f64, tf: f64, dl: f64, p: &ScoreParams) -> f64 {
    let norm = p.k1 * (1.0 - p.b + p.b * dl / p.avg_len);
    idf * tf * (p.k1 + 1.0) / (tf + norm)
}

/// BM25 of one document of length `dl` from `(idf, tf)` of each query term
/// in query-blob (lexeme) order: the term weights summed in that order,
/// terms with tf 0 skipped. Bitwise what
/// [`crate::tsvector::bm25_from_blob`] returns for a tsvector with these
/// frequencies.
pub fn doc_score(dl: f64, terms: impl IntoIterator<Item = (f64, f64)>, p: &ScoreParams) -> f64 {
    let mut score = 0.0;
    for (idf, tf) in terms {
        if tf > 0.0 {
            score += term_score(idf, tf, dl, p);
        }
    }
    score
}

/// BM25 of one document: `Σ idf(df) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))`
/// over the query terms given as `(tf, df)`. Terms with tf ≤ 0 add nothing.
/// (Lucene ≥ 8 drops the constant `(k1+1)` factor; rankings are identical.)
pub fn bm25_score(tf: &[(f64, f64)], doc_len: f64, avg_len: f64, n_docs: f64, p: &Bm25) -> f64 {
    let rel_len = if avg_len > 0.0 && doc_len.is_finite() {
        doc_len.max(0.0) / avg_len
    } else {
        1.0
    };
    let norm = p.k1 * (1.0 - p.b + p.b * rel_len);
    tf.iter()
        .filter(|(t, _)| *t > 0.0 && t.is_finite())
        .map(|&(t, df)| bm25_idf(df, n_docs) * t * (p.k1 + 1.0) / (t + norm))
        .filter(|s| s.is_finite())
        .sum()
}

/// Orders `(id, score)` by score descending (NaN last), ties by id ascending.
pub fn sort_scored(items: &mut [(u64, f64)]) {
    items.sort_by(|a, b| cmp_desc(a.1, b.1).then(a.0.cmp(&b.0)));
}

/// The best `k` of `items` in [`sort_scored`] order.
pub fn top_k(mut items: Vec<(u64, f64)>, k: usize) -> Vec<(u64, f64)> {
    sort_scored(&mut items);
    items.truncate(k);
    items
}

/// Score order, best first: descending, NaN after every number, -0 equal
/// to 0.
pub(crate) fn cmp_desc(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn vector_score_values() {
        assert!(close(vector_score(0.0), 1.0));
        assert!(close(vector_score(1.0), 0.5));
        assert!(close(vector_score(0.25), 0.8));
        assert!(close(vector_score(-1e-9), 1.0));
        assert_eq!(vector_score(f64::NAN), 0.0);
    }

    #[test]
    fn weighted_raw_matches_hand_computation() {
        let w = Weights {
            vec: 0.5,
            fts: 0.3,
            title: 0.1,
            lex: 0.1,
            entity: 0.0,
        };
        let c = [
            Signals {
                vec_distance: Some(0.25),
                fts: Some(2.0),
                title: Some(0.5),
                lex: None,
                entity: None,
            },
            Signals {
                vec_distance: Some(1.0),
                fts: Some(4.0),
                title: None,
                lex: Some(0.2),
                entity: None,
            },
            Signals {
                vec_distance: None,
                fts: None,
                title: None,
                lex: None,
                entity: None,
            },
        ];
        let s = weighted_with(&c, &w, VecNorm::Raw);
        // 0.5·0.8 + 0.3·(2/4) + 0.1·0.5 + 0 = 0.4 + 0.15 + 0.05 = 0.6
        assert!(close(s[0], 0.6), "{}", s[0]);
        // 0.5·0.5 + 0.3·1 + 0 + 0.1·0.2 = 0.25 + 0.3 + 0.02 = 0.57
        assert!(close(s[1], 0.57), "{}", s[1]);
        assert!(close(s[2], 0.0));
    }

    #[test]
    fn weighted_minmax_matches_hand_computation() {
        let w = Weights {
            vec: 0.6,
            fts: 0.4,
            title: 0.0,
            lex: 0.0,
            entity: 0.0,
        };
        let c = [
            Signals {
                vec_distance: Some(0.25),
                fts: Some(1.0),
                ..Default::default()
            }, // v 0.8
            Signals {
                vec_distance: Some(1.0),
                fts: Some(3.0),
                ..Default::default()
            }, // v 0.5
            Signals {
                vec_distance: Some(0.6),
                fts: None,
                ..Default::default()
            }, // v 0.625
        ];
        let s = weighted(&c, &w);
        assert!(close(s[0], 0.6 * 1.0 + 0.4 / 3.0));
        assert!(close(s[1], 0.0 + 0.4));
        assert!(close(s[2], 0.6 * (0.625 - 0.5) / 0.3));
        // All-equal vectors and no fts: every present vector counts fully.
        let same = [Signals {
            vec_distance: Some(0.3),
            ..Default::default()
        }; 2];
        assert_eq!(weighted(&same, &w), vec![0.6, 0.6]);
        assert!(weighted(&[], &w).is_empty());
    }

    #[test]
    fn weighted_ignores_garbage() {
        let c = [
            Signals {
                vec_distance: Some(f64::NAN),
                fts: Some(f64::INFINITY),
                title: Some(7.0),
                lex: Some(-1.0),
                entity: None,
            },
            Signals {
                vec_distance: None,
                fts: Some(-3.0),
                title: None,
                lex: None,
                entity: None,
            },
        ];
        let s = weighted(&c, &Weights::default());
        assert!(s.iter().all(|x| x.is_finite()));
        assert!(close(s[0], Weights::default().title)); // title clamped to 1
        assert!(close(s[1], 0.0));
    }

    #[test]
    fn the_entity_signal_adds_its_weight_and_is_off_by_default() {
        let matched = Signals { fts: Some(2.0), entity: Some(0.5), ..Default::default() };
        let other = Signals { fts: Some(2.0), ..Default::default() };
        let off = weighted(&[matched, other], &Weights::default());
        assert_eq!(off[0], off[1], "weight 0 by default");
        let w = Weights { entity: 0.4, ..Weights::default() };
        let on = weighted(&[matched, other], &w);
        assert!(close(on[0] - on[1], 0.4 * 0.5));
        // Clamped to [0, 1] like the trigram signals.
        let big = Signals { entity: Some(9.0), ..Default::default() };
        assert!(close(weighted(&[big], &w)[0], 0.4));
    }

    #[test]
    fn rrf_orders_and_breaks_ties_by_id() {
        let lists = vec![vec![10, 20, 30], vec![20, 10, 40], vec![]];
        let r = rrf(&lists, 60.0);
        // 10 and 20: 1/61 + 1/62 each → tie → id ascending.
        assert_eq!(
            r.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![10, 20, 30, 40]
        );
        assert!(close(r[0].1, 1.0 / 61.0 + 1.0 / 62.0));
        assert!(close(r[2].1, 1.0 / 63.0));
        assert!(close(r[3].1, 1.0 / 63.0));
        // A duplicate inside one list counts once, at its best rank.
        let r = rrf(&[vec![5, 5, 6]], 1.0);
        assert_eq!(r, vec![(5, 0.5), (6, 1.0 / 4.0)]);
        assert!(rrf(&[], 60.0).is_empty());
    }

    #[test]
    fn bm25_matches_hand_computation() {
        let p = Bm25 { k1: 0.9, b: 0.4 };
        // N = 10, one term with df = 2, tf = 3, dl = 120, avgdl = 100.
        // idf = ln(1 + 8.5/2.5) = ln 4.4 = 1.4816045409242156
        // norm = 0.9·(0.6 + 0.4·1.2) = 0.972
        // tf part = 3·1.9 / 3.972 = 1.4350453172205437 → 2.1261696584
        let want = 4.4f64.ln() * 5.7 / 3.972;
        let got = bm25_score(&[(3.0, 2.0)], 120.0, 100.0, 10.0, &p);
        assert!(close(got, want), "{got} vs {want}");
        assert!((got - 2.126_169_658_4).abs() < 1e-9, "{got}");
        // Two terms add; tf 0 adds nothing.
        let two = bm25_score(
            &[(3.0, 2.0), (1.0, 9.0), (0.0, 1.0)],
            120.0,
            100.0,
            10.0,
            &p,
        );
        let second = (1.0f64 + 1.5 / 9.5).ln() * 1.9 / 1.972;
        assert!(close(two, want + second));
        assert!(close(bm25_idf(10.0, 10.0), (1.0f64 + 0.5 / 10.5).ln()));
        assert_eq!(bm25_score(&[], 1.0, 1.0, 1.0, &p), 0.0);
        assert!(bm25_score(&[(1.0, 1.0)], 5.0, 0.0, 1.0, &p).is_finite());
    }

    #[test]
    fn term_and_document_scores() {
        let p = ScoreParams::new(Bm25 { k1: 1.2, b: 0.75 }, 10.0);
        let norm = 1.2 * (1.0 - 0.75 + 0.75 * 20.0 / 10.0);
        assert_eq!(term_score(2.0, 3.0, 20.0, &p), 2.0 * 3.0 * 2.2 / (3.0 + norm));
        // Summed in the given order, tf 0 skipped.
        let want = term_score(2.0, 3.0, 20.0, &p) + term_score(0.5, 1.0, 20.0, &p);
        assert_eq!(doc_score(20.0, [(2.0, 3.0), (9.0, 0.0), (0.5, 1.0)], &p), want);
        assert_eq!(doc_score(20.0, [], &p), 0.0);
        // No average length: 1, as in the query blob.
        for avg in [0.0, -3.0, f64::NAN] {
            assert_eq!(ScoreParams::new(Bm25::default(), avg).avg_len, 1.0);
        }
    }

    #[test]
    fn top_k_sorts_desc_stable_by_id() {
        let items = vec![(3, 0.5), (1, 0.9), (2, 0.5), (4, f64::NAN), (0, 0.1)];
        assert_eq!(top_k(items.clone(), 3), vec![(1, 0.9), (2, 0.5), (3, 0.5)]);
        let all = top_k(items, 10);
        assert_eq!(all.len(), 5);
        assert_eq!(all[3], (0, 0.1));
        assert_eq!(all[4].0, 4);
    }
}
