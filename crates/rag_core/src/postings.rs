//! Postings of lexemes, organised in impact cells.
//!
//! A posting says that a chunk contains a lexeme: the chunk id, the
//! lexeme's term frequency `tf` in the chunk and the chunk's length `dl`
//! (distinct lexemes), which is all BM25 needs besides the query's idf and
//! parameters (see [`crate::fusion::term_score`]).
//!
//! The postings of one lexeme are split into [`CELLS`] *impact cells* by
//! `(tf, dl)` alone, independent of any query: tf buckets `1, 2, 3, 4–5,
//! 6–9, ≥10` × dl buckets `1–8, 9–16, 17–32, 33–64, 65–128, 129–256,
//! 257–512, ≥513`; cell number `tf_bucket · DL_BUCKETS + dl_bucket`. Since
//! a BM25 weight grows with tf and shrinks with dl (for every k1 ≥ 0 and
//! b ∈ [0, 1]), the largest weight any posting of a cell can have is the
//! weight at the bucket's highest tf and lowest dl ([`cell_bound`]): a
//! search reads the cells of high bound first and can prove that the
//! remaining cells cannot change the top results (see [`crate::topk`]).
//! Within a cell, postings are stored in blocks sorted by chunk id
//! ([`crate::blocks`]).

use std::collections::HashMap;

use crate::fusion::{term_score, ScoreParams};
use crate::tsvector::{compare_lexemes, lexeme_count, lexeme_frequencies};

/// One chunk containing one lexeme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Posting {
    pub chunk_id: i64,
    /// Number of positions of the lexeme in the chunk's tsvector (at most
    /// 255 in PostgreSQL), 1 for a stripped entry.
    pub tf: u16,
    /// The chunk's number of distinct lexemes.
    pub dl: u32,
}

/// Lowest tf of each tf bucket (bucket 0 also holds tf 0, which a posting
/// never has); the last bucket is open.
pub const TF_BUCKET_MIN: [u16; 6] = [0, 2, 3, 4, 6, 10];
/// Lowest dl of each dl bucket (bucket 0 also holds dl 0, which a chunk
/// containing a lexeme never has); the last bucket is open.
pub const DL_BUCKET_MIN: [u32; 8] = [0, 9, 17, 33, 65, 129, 257, 513];
pub const TF_BUCKETS: usize = TF_BUCKET_MIN.len();
pub const DL_BUCKETS: usize = DL_BUCKET_MIN.len();
/// Number of cells of a lexeme; cell numbers are `0..CELLS`.
pub const CELLS: usize = TF_BUCKETS * DL_BUCKETS;

/// The tf bucket of a term frequency.
pub fn tf_bucket(tf: u16) -> usize {
    TF_BUCKET_MIN.partition_point(|&m| m <= tf).saturating_sub(1)
}

/// The dl bucket of a document length.
pub fn dl_bucket(dl: u32) -> usize {
    DL_BUCKET_MIN.partition_point(|&m| m <= dl).saturating_sub(1)
}

/// The cell of a posting.
pub fn cell_of(tf: u16, dl: u32) -> u16 {
    cell_at(tf_bucket(tf), dl_bucket(dl))
}

/// The cell of a (tf bucket, dl bucket) pair.
pub fn cell_at(tf_bucket: usize, dl_bucket: usize) -> u16 {
    (tf_bucket * DL_BUCKETS + dl_bucket) as u16
}

/// `(tf bucket, dl bucket)` of a cell number; None when out of range.
pub fn cell_buckets(cell: u16) -> Option<(usize, usize)> {
    let cell = usize::from(cell);
    (cell < CELLS).then_some((cell / DL_BUCKETS, cell % DL_BUCKETS))
}

/// Relative margin added to bounds: the weights and bounds are computed
/// with a few roundings each (relative error well below 1e-14), so a bound
/// computed at the bucket's corner may otherwise come out an ulp below the
/// computed weight of a posting that is mathematically no larger.
const BOUND_MARGIN: f64 = 1e-12;

/// Parameters for which the bounds hold: the weight is monotone (k1 ≥ 0,
/// b ∈ [0, 1]) and, with |idf| ≤ [`MAX_BOUNDED_IDF`], every weight, bound
/// and sum of them is a finite number (no overflow to ∞ or NaN). The
/// extension's settings (k1 ∈ [0, 10], b ∈ [0, 1], average length ≥ 1)
/// are well inside; outside, a search does not prune.
pub fn bounds_hold(p: &ScoreParams) -> bool {
    (0.0..=1e3).contains(&p.k1) && (0.0..=1.0).contains(&p.b) && (1e-3..=1e9).contains(&p.avg_len)
}

/// Largest |idf| for which bounds are used (see [`bounds_hold`]).
pub const MAX_BOUNDED_IDF: f64 = 1e6;

/// The largest BM25 weight a posting of `cell` can have for a term of
/// `idf`: the weight at the bucket's highest tf (for the open bucket the
/// limit `idf · (k1 + 1)`) and lowest dl, plus a tiny margin that covers
/// floating-point rounding, so it is never below [`term_score`] of any
/// posting of the cell when [`bounds_hold`] and |idf| ≤
/// [`MAX_BOUNDED_IDF`]. 0 for idf ≤ 0 (every weight is ≤ 0 then); ∞ for a
/// cell number out of range.
pub fn cell_bound(cell: u16, idf: f64, p: &ScoreParams) -> f64 {
    match cell_buckets(cell) {
        Some((tf_b, dl_b)) => tf_bucket_bound(tf_b, f64::from(DL_BUCKET_MIN[dl_b]), idf, p),
        None => f64::INFINITY,
    }
}

/// The largest weight of a posting with tf in bucket `tf_b` in a chunk of
/// length `dl` (or longer), with the margin of [`cell_bound`].
pub fn tf_bucket_bound(tf_b: usize, dl: f64, idf: f64, p: &ScoreParams) -> f64 {
    if idf <= 0.0 {
        return 0.0;
    }
    let weight = match TF_BUCKET_MIN.get(tf_b + 1) {
        Some(next_min) => term_score(idf, f64::from(next_min - 1), dl, p),
        None => idf * (p.k1 + 1.0),
    };
    weight + weight * BOUND_MARGIN + f64::MIN_POSITIVE
}

/// Every `(lexeme, tf, dl)` of a stored tsvector (the bytes after the
/// varlena header), in lexeme order: the postings of one chunk. Empty when
/// the tsvector is malformed.
pub fn tsvector_terms(tsv: &[u8]) -> Vec<(&[u8], u16, u32)> {
    let terms = lexeme_frequencies(tsv);
    let dl = lexeme_count(tsv).unwrap_or(0);
    terms.into_iter().map(|(lexeme, tf)| (lexeme, u16::try_from(tf).unwrap_or(u16::MAX), dl)).collect()
}

/// The postings of one lexeme in one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellPostings<'a> {
    pub lexeme: &'a [u8],
    pub cell: u16,
    /// Sorted by chunk id.
    pub postings: Vec<Posting>,
}

/// The postings of many chunks `(chunk id, tsvector bytes)`, grouped by
/// (lexeme, cell) and sorted by lexeme (PostgreSQL's order) then cell, each
/// group sorted by chunk id: what a merge adds to the postings tables.
/// Malformed tsvectors contribute nothing.
pub fn cell_postings<'a>(chunks: impl IntoIterator<Item = (i64, &'a [u8])>) -> Vec<CellPostings<'a>> {
    let mut groups: HashMap<(&'a [u8], u16), Vec<Posting>> = HashMap::new();
    for (chunk_id, tsv) in chunks {
        for (lexeme, tf, dl) in tsvector_terms(tsv) {
            groups.entry((lexeme, cell_of(tf, dl))).or_default().push(Posting { chunk_id, tf, dl });
        }
    }
    let mut out: Vec<CellPostings<'a>> = groups
        .into_iter()
        .map(|((lexeme, cell), mut postings)| {
            postings.sort_by_key(|p| p.chunk_id);
            CellPostings { lexeme, cell, postings }
        })
        .collect();
    out.sort_by(|a, b| compare_lexemes(a.lexeme, b.lexeme).then(a.cell.cmp(&b.cell)));
    out
}

/// The postings of many chunks `(chunk id, tsvector bytes)` grouped by
/// lexeme, in PostgreSQL's lexeme order, each group in chunk-id order; with
/// `only` (sorted in that order), the postings of those lexemes alone. What
/// a merge reads: a sort instead of a hash map, and no work for the lexemes
/// it skips. Malformed tsvectors contribute nothing.
pub fn lexeme_postings<'a>(
    chunks: impl IntoIterator<Item = (i64, &'a [u8])>,
    only: Option<&[&[u8]]>,
) -> Vec<(&'a [u8], Vec<Posting>)> {
    let mut flat: Vec<(&'a [u8], Posting)> = Vec::new();
    for (chunk_id, tsv) in chunks {
        let terms = tsvector_terms(tsv);
        match only {
            None => flat.extend(terms.into_iter().map(|(l, tf, dl)| (l, Posting { chunk_id, tf, dl }))),
            Some(wanted) => {
                // Both lists are sorted: a merge join.
                let mut w = 0;
                for (lexeme, tf, dl) in terms {
                    while w < wanted.len() && compare_lexemes(wanted[w], lexeme) == std::cmp::Ordering::Less {
                        w += 1;
                    }
                    if w == wanted.len() {
                        break;
                    }
                    if wanted[w] == lexeme {
                        flat.push((lexeme, Posting { chunk_id, tf, dl }));
                    }
                }
            }
        }
    }
    flat.sort_unstable_by(|a, b| compare_lexemes(a.0, b.0).then(a.1.chunk_id.cmp(&b.1.chunk_id)));
    let mut out: Vec<(&'a [u8], Vec<Posting>)> = Vec::new();
    for (lexeme, posting) in flat {
        match out.last_mut() {
            Some((last, postings)) if *last == lexeme => postings.push(posting),
            _ => out.push((lexeme, vec![posting])),
        }
    }
    out
}

/// Most lexemes one statement reads the chunks of when they become indexed,
/// and most chunks (by their document frequencies) it may find: the
/// statement's bitmap stays exact within the default work_mem, so no chunk
/// is checked against the OR of every lexeme, and a batch that promotes
/// thousands of lexemes at once (a corpus's rare words reaching the
/// threshold together) costs about what it reads.
pub const PROMOTION_GROUP_LEXEMES: usize = 512;
pub const PROMOTION_GROUP_CHUNKS: i64 = 50_000;

/// Consecutive groups of the lexemes becoming indexed, given their
/// document frequencies in order: each within [`PROMOTION_GROUP_LEXEMES`]
/// and [`PROMOTION_GROUP_CHUNKS`] (a lexeme above the latter alone).
pub fn promotion_groups(dfs: &[i64]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chunks = 0i64;
    for (i, &df) in dfs.iter().enumerate() {
        let df = df.max(1);
        if i > start && (i - start >= PROMOTION_GROUP_LEXEMES || chunks.saturating_add(df) > PROMOTION_GROUP_CHUNKS) {
            out.push(start..i);
            start = i;
            chunks = 0;
        }
        chunks = chunks.saturating_add(df);
    }
    if start < dfs.len() {
        out.push(start..dfs.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotions_are_read_in_bounded_groups() {
        assert!(promotion_groups(&[]).is_empty());
        // A usual batch: one statement.
        assert_eq!(promotion_groups(&[65; 300]), vec![0..300]);
        // Thousands at once: by the lexeme bound.
        let many = promotion_groups(&[64; 1200]);
        assert_eq!(many, vec![0..512, 512..1024, 1024..1200]);
        // By the chunk bound; a lexeme above it goes alone.
        assert_eq!(promotion_groups(&[30_000, 30_000, 80_000, 10]), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(promotion_groups(&[20_000, 20_000, 20_000]), vec![0..2, 2..3]);
    }
    use crate::fusion::Bm25;
    use crate::testing::{tsvector_bytes, Rng};

    #[test]
    fn buckets_match_the_layout() {
        let tf_of = |b: usize| (1..=300u16).filter(|&tf| tf_bucket(tf) == b).collect::<Vec<_>>();
        assert_eq!(tf_of(0), vec![1]);
        assert_eq!(tf_of(1), vec![2]);
        assert_eq!(tf_of(2), vec![3]);
        assert_eq!(tf_of(3), vec![4, 5]);
        assert_eq!(tf_of(4), vec![6, 7, 8, 9]);
        assert_eq!(tf_of(5), (10..=300).collect::<Vec<_>>());
        assert_eq!(tf_bucket(u16::MAX), 5);
        let edges: Vec<(u32, usize)> =
            [1, 8, 9, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 512, 513, u32::MAX].map(|d| (d, dl_bucket(d))).to_vec();
        let want = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7];
        assert_eq!(edges.iter().map(|e| e.1).collect::<Vec<_>>(), want);
        assert_eq!((tf_bucket(0), dl_bucket(0)), (0, 0));
    }

    #[test]
    fn cells_number_every_bucket_pair_once() {
        assert_eq!(CELLS, 48);
        let mut seen = [false; CELLS];
        for t in 0..TF_BUCKETS {
            for d in 0..DL_BUCKETS {
                let c = cell_at(t, d);
                assert_eq!(cell_buckets(c), Some((t, d)));
                assert!(!seen[usize::from(c)]);
                seen[usize::from(c)] = true;
            }
        }
        assert_eq!(cell_buckets(CELLS as u16), None);
        assert_eq!(cell_of(7, 100), cell_at(4, 4));
        assert_eq!(cell_bound(CELLS as u16, 1.0, &ScoreParams::new(Bm25::default(), 10.0)), f64::INFINITY);
    }

    /// Random parameters in the bounded domain, with their extremes.
    fn adversarial_params(rng: &mut Rng) -> ScoreParams {
        let pick = |rng: &mut Rng, edges: &[f64], lo: f64, hi: f64| {
            if rng.chance(0.5) {
                edges[rng.below(edges.len() as u64) as usize]
            } else {
                lo + rng.unit() * (hi - lo)
            }
        };
        let k1 = pick(rng, &[0.0, 1e-300, 1e-9, 0.9, 1e3], 0.0, 3.0);
        let b = pick(rng, &[0.0, 1e-300, 0.5, 1.0 - 1e-16, 1.0], 0.0, 1.0);
        let avg_len = pick(rng, &[1e-3, 1.0, 7.0, 1e9], 1e-3, 2000.0);
        ScoreParams { k1, b, avg_len }
    }

    fn adversarial_idf(rng: &mut Rng) -> f64 {
        match rng.below(4) {
            0 => [1e-300, 5e-324, 1e-30, MAX_BOUNDED_IDF, 0.0, -1.0, -0.0][rng.below(7) as usize],
            1 => rng.unit() * 1e-6,
            _ => rng.unit() * 20.0,
        }
    }

    #[test]
    fn cell_bounds_are_never_below_a_weight() {
        let mut rng = Rng::new(21);
        let mut tight = 0usize;
        for _ in 0..4000 {
            let p = adversarial_params(&mut rng);
            let idf = adversarial_idf(&mut rng);
            assert!(bounds_hold(&p));
            for _ in 0..50 {
                let tf = match rng.below(3) {
                    0 => rng.range(1, 12) as u16,
                    1 => rng.range(1, 255) as u16,
                    _ => [1, 2, 3, 4, 5, 6, 9, 10, 255, u16::MAX][rng.below(10) as usize],
                };
                let dl = match rng.below(3) {
                    0 => rng.range(1, 1100) as u32,
                    1 => [1, 8, 9, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 512, 513, u32::MAX][rng.below(16) as usize],
                    _ => rng.next_u64() as u32,
                };
                let w = term_score(idf, f64::from(tf), f64::from(dl), &p);
                let bound = cell_bound(cell_of(tf, dl), idf, &p);
                assert!(w <= bound, "tf {tf} dl {dl} idf {idf:e} {p:?}: {w:e} > {bound:e}");
                let at_dl = tf_bucket_bound(tf_bucket(tf), f64::from(dl), idf, &p);
                assert!(w <= at_dl, "tf {tf} dl {dl} idf {idf:e} {p:?}: {w:e} > {at_dl:e}");
                tight += (w > 0.0 && at_dl <= w * (1.0 + 1e-11) + 1e-300) as usize;
            }
        }
        // The margin is tiny: at the corner of a bucket the bound is the weight.
        assert!(tight > 1000, "{tight}");
    }

    #[test]
    fn bounds_cover_rounding_of_mathematically_equal_weights() {
        // k1 = 0: every weight is idf · tf / tf, which rounds to either side
        // of idf depending on tf; b = 0: dl does not matter.
        for idf in [0.1, 0.3, 1.0 / 3.0, 2.7, 7.1, 11.3] {
            for (k1, b) in [(0.0, 0.4), (0.9, 0.0), (0.0, 0.0)] {
                let p = ScoreParams { k1, b, avg_len: 3.0 };
                for tf in 1..=255u16 {
                    for dl in [1u32, 5, 100, 1000] {
                        let w = term_score(idf, f64::from(tf), f64::from(dl), &p);
                        assert!(w <= cell_bound(cell_of(tf, dl), idf, &p));
                    }
                }
            }
        }
    }

    #[test]
    fn bounds_hold_only_in_the_monotone_finite_domain() {
        let p = |k1, b, avg_len| ScoreParams { k1, b, avg_len };
        assert!(bounds_hold(&p(0.9, 0.4, 120.0)));
        assert!(bounds_hold(&p(0.0, 1.0, 1.0)));
        for bad in [p(-0.1, 0.4, 1.0), p(0.9, 1.1, 1.0), p(0.9, -0.1, 1.0), p(f64::NAN, 0.4, 1.0), p(0.9, 0.4, 0.0), p(0.9, 0.4, f64::INFINITY)] {
            assert!(!bounds_hold(&bad), "{bad:?}");
        }
    }

    #[test]
    fn extracts_postings_from_tsvectors() {
        let doc = tsvector_bytes(&[("탄핵", 3), ("a", 1), ("절차", 2), ("court", 0)]);
        let want: Vec<(&[u8], u16, u32)> = vec![(b"a", 1, 4), (b"court", 1, 4), ("절차".as_bytes(), 2, 4), ("탄핵".as_bytes(), 3, 4)];
        assert_eq!(tsvector_terms(&doc), want);
        assert!(tsvector_terms(&[]).is_empty());
        // Strings cut off after the entries.
        assert!(tsvector_terms(&doc[..4 + 4 * 4]).is_empty());
    }

    #[test]
    fn lexeme_postings_group_by_lexeme_and_filter_by_a_sorted_list() {
        let a = tsvector_bytes(&[("x", 2), ("y", 1), ("가", 1)]);
        let b = tsvector_bytes(&[("y", 3), ("z", 1)]);
        let all = lexeme_postings([(7, a.as_slice()), (3, b.as_slice())], None);
        let names: Vec<&[u8]> = all.iter().map(|g| g.0).collect();
        assert_eq!(names, vec![&b"x"[..], b"y", b"z", "가".as_bytes()]);
        let y = &all[1].1;
        assert_eq!(y.iter().map(|p| (p.chunk_id, p.tf)).collect::<Vec<_>>(), vec![(3, 3), (7, 1)]);
        // Same postings as the cell grouping, lexeme by lexeme.
        for (lexeme, postings) in &all {
            let mut from_cells: Vec<Posting> = cell_postings([(7, a.as_slice()), (3, b.as_slice())])
                .into_iter()
                .filter(|c| c.lexeme == *lexeme)
                .flat_map(|c| c.postings)
                .collect();
            from_cells.sort_by_key(|p| p.chunk_id);
            assert_eq!(&from_cells, postings);
        }
        let only: Vec<&[u8]> = vec![b"y", "가".as_bytes(), "힣".as_bytes()];
        let some = lexeme_postings([(7, a.as_slice()), (3, b.as_slice()), (9, &[1, 2][..])], Some(&only));
        assert_eq!(some.iter().map(|g| g.0).collect::<Vec<_>>(), vec![&b"y"[..], "가".as_bytes()]);
        assert!(lexeme_postings([(1, &[0u8; 3][..])], None).is_empty());
    }

    #[test]
    fn groups_postings_by_lexeme_and_cell() {
        let a = tsvector_bytes(&[("x", 1), ("y", 12)]);
        let b = tsvector_bytes(&[("x", 1), ("y", 2)]);
        let c = tsvector_bytes(&[("x", 4)]);
        let bad = [1u8, 0, 0];
        let got = cell_postings([(30, a.as_slice()), (10, b.as_slice()), (20, c.as_slice()), (40, &bad[..])]);
        let post = |chunk_id, tf, dl| Posting { chunk_id, tf, dl };
        let want = vec![
            CellPostings { lexeme: b"x", cell: cell_of(1, 2), postings: vec![post(10, 1, 2), post(30, 1, 2)] },
            CellPostings { lexeme: b"x", cell: cell_of(4, 1), postings: vec![post(20, 4, 1)] },
            CellPostings { lexeme: b"y", cell: cell_of(2, 2), postings: vec![post(10, 2, 2)] },
            CellPostings { lexeme: b"y", cell: cell_of(12, 2), postings: vec![post(30, 12, 2)] },
        ];
        assert_eq!(got, want);
    }
}
