//! Helpers shared by the unit tests: a seeded PRNG (no dependency),
//! tsvector bytes, a postings cell held in memory.

use std::collections::BTreeMap;

use crate::blocks::{blocks_to_read, decode_block, plan_merge, BlockMeta, MergePlan};
use crate::postings::Posting;

/// xorshift64: deterministic, fast, good enough for randomised tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Zipf-like rank in `0..n`: rank r drawn with weight about 1/(r+1).
    pub fn zipf(&mut self, n: u64) -> u64 {
        // Inverse of the continuous CDF ln(1+x)/ln(1+n).
        let x = ((1.0 + n as f64).ln() * self.unit()).exp() - 1.0;
        (x as u64).min(n.saturating_sub(1))
    }
}

/// Builds tsvector bytes (after the varlena header) the way PostgreSQL lays
/// them out: `(lexeme, number of positions)`, 0 positions = stripped entry.
pub fn tsvector_bytes(entries: &[(&str, u16)]) -> Vec<u8> {
    let mut sorted: Vec<(&str, u16)> = entries.to_vec();
    sorted.sort_by(|a, b| crate::tsvector::compare_lexemes(a.0.as_bytes(), b.0.as_bytes()));
    let mut strings = Vec::new();
    let mut words = Vec::new();
    for (lex, npos) in &sorted {
        let pos = strings.len();
        strings.extend_from_slice(lex.as_bytes());
        let haspos = *npos > 0;
        if haspos {
            if strings.len() % 2 == 1 {
                strings.push(0);
            }
            strings.extend_from_slice(&npos.to_le_bytes());
            for p in 0..*npos {
                strings.extend_from_slice(&(p % 16383 + 1).to_le_bytes());
            }
        }
        words.push((haspos as u32) | ((lex.len() as u32) << 1) | ((pos as u32) << 12));
    }
    let mut out = (sorted.len() as i32).to_le_bytes().to_vec();
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    out
}

/// One (lexeme, cell) held as stored rows: block number → postings,
/// maintained the way the extension does it.
#[derive(Default)]
pub struct MemCell(pub BTreeMap<i32, Vec<Posting>>);

impl MemCell {
    pub fn metas(&self) -> Vec<BlockMeta> {
        self.0.iter().filter_map(|(b, p)| BlockMeta::of(*b, p)).collect()
    }

    /// Reads the blocks the merge names, plans it, applies the plan.
    pub fn merge(&mut self, add: &[Posting], remove: &[i64]) -> MergePlan {
        let metas = self.metas();
        let read: Vec<(i32, Vec<Posting>)> =
            blocks_to_read(&metas, !add.is_empty(), remove).iter().map(|b| (*b, self.0[b].clone())).collect();
        let plan = plan_merge(&metas, read, add, remove).unwrap();
        for w in &plan.writes {
            self.0.insert(w.meta.block, decode_block(&w.data).unwrap());
        }
        for d in &plan.deletes {
            assert!(self.0.remove(d).is_some());
        }
        plan
    }

    /// Every posting, by chunk id.
    pub fn all(&self) -> Vec<Posting> {
        let mut all: Vec<Posting> = self.0.values().flatten().copied().collect();
        all.sort_by_key(|p| p.chunk_id);
        all
    }
}
