//! MaxScore pruning for full-text candidates.
//!
//! Full-text search ranks every chunk that contains any query lexeme by
//! BM25. A lexeme's contribution to a chunk's score is at most
//! `idf · (k1 + 1)` (term-frequency saturation), so once `k` chunks scoring
//! at least θ are known, a chunk that contains none of the lexemes outside
//! the set of low-bound lexemes whose bounds sum to less than θ cannot enter
//! the top `k`. The search therefore first ranks the chunks of its rarest
//! lexemes (cheap: few postings) to learn θ, then ranks only the chunks that
//! contain an *essential* lexeme, which skips the long posting lists of
//! common words. The result is exactly the unpruned top `k`.

/// One query lexeme: its document frequency and IDF.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    pub df: i64,
    pub idf: f64,
}

/// The most a lexeme can add to a chunk's BM25 score.
pub fn upper_bound(term: &Term, k1: f64) -> f64 {
    term.idf.max(0.0) * (k1.max(0.0) + 1.0)
}

/// Indices of the rarest terms whose document frequencies sum to at most
/// `budget` (always at least the rarest one), rarest first: the terms that
/// find a first set of well-scoring chunks cheaply.
pub fn seed_terms(terms: &[Term], budget: i64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by_key(|&i| (terms[i].df, i));
    let mut total = 0i64;
    let mut out = Vec::new();
    for i in order {
        total = total.saturating_add(terms[i].df.max(0));
        if !out.is_empty() && total > budget {
            break;
        }
        out.push(i);
    }
    out
}

/// Indices (ascending) of the terms a chunk must contain one of to possibly
/// score `threshold` or more: the lowest-bound terms are dropped for as long
/// as their bounds sum to strictly less than `threshold`.
pub fn essential_terms(terms: &[Term], k1: f64, threshold: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by(|&a, &b| {
        upper_bound(&terms[a], k1).total_cmp(&upper_bound(&terms[b], k1)).then(b.cmp(&a))
    });
    let mut dropped_bound = 0.0;
    let mut keep_from = 0;
    for (pos, &i) in order.iter().enumerate() {
        let next = dropped_bound + upper_bound(&terms[i], k1);
        if next < threshold {
            dropped_bound = next;
            keep_from = pos + 1;
        } else {
            break;
        }
    }
    let mut kept: Vec<usize> = order[keep_from..].to_vec();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(df: i64, idf: f64) -> Term {
        Term { df, idf }
    }

    #[test]
    fn seeds_take_the_rarest_terms_within_budget() {
        let terms = [t(5000, 1.0), t(10, 6.0), t(300, 4.0), t(900, 3.0)];
        assert_eq!(seed_terms(&terms, 100), vec![1]);
        assert_eq!(seed_terms(&terms, 400), vec![1, 2]);
        assert_eq!(seed_terms(&terms, 1_000_000), vec![1, 2, 3, 0]);
        // The rarest term is always taken, even beyond the budget.
        assert_eq!(seed_terms(&[t(7000, 1.0)], 10), vec![0]);
        assert!(seed_terms(&[], 10).is_empty());
    }

    #[test]
    fn essential_terms_drop_low_bounds_below_the_threshold() {
        // Bounds with k1 = 1: 2, 12, 8, 6.
        let terms = [t(5000, 1.0), t(10, 6.0), t(300, 4.0), t(900, 3.0)];
        assert_eq!(essential_terms(&terms, 1.0, 0.0), vec![0, 1, 2, 3]);
        assert_eq!(essential_terms(&terms, 1.0, 2.0), vec![0, 1, 2, 3], "2 is not < 2");
        assert_eq!(essential_terms(&terms, 1.0, 2.5), vec![1, 2, 3]);
        assert_eq!(essential_terms(&terms, 1.0, 9.0), vec![1, 2]);
        assert_eq!(essential_terms(&terms, 1.0, 100.0), Vec::<usize>::new());
    }

    #[test]
    fn pruned_top_k_equals_the_full_ranking() {
        // Brute force over synthetic documents: a document's score is the sum
        // over its terms of bound × a saturation factor in (0, 1).
        let terms: Vec<Term> = (0..6).map(|i| t(10 * (i + 1) * (i + 1), 8.0 / (i as f64 + 1.0))).collect();
        let k1 = 0.9;
        let mut seed = 7u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut docs: Vec<Vec<(usize, f64)>> = Vec::new();
        for _ in 0..400 {
            let mut d = Vec::new();
            for i in 0..terms.len() {
                if rnd() % (i as u64 + 2) == 0 {
                    d.push((i, (rnd() % 1000) as f64 / 1001.0 + 0.0005));
                }
            }
            docs.push(d);
        }
        let score = |d: &Vec<(usize, f64)>| d.iter().map(|&(i, f)| upper_bound(&terms[i], k1) * f).sum::<f64>();
        let top = |allowed: &[usize], k: usize| {
            let mut hits: Vec<(f64, usize)> = docs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.iter().any(|(i, _)| allowed.contains(i)))
                .map(|(n, d)| (score(d), n))
                .collect();
            hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            hits.truncate(k);
            hits
        };
        let all: Vec<usize> = (0..terms.len()).collect();
        for k in [1, 5, 20] {
            let seeds = seed_terms(&terms, 50);
            let first = top(&seeds, k);
            let threshold = if first.len() == k { first[k - 1].0 } else { 0.0 };
            let essential = essential_terms(&terms, k1, threshold);
            assert!(essential.len() < terms.len(), "k={k}: something was pruned");
            assert_eq!(top(&essential, k), top(&all, k), "k={k}");
        }
    }
}
