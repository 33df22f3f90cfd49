//! Exact top-k BM25 over postings in impact cells.
//!
//! The postings of a lexeme are split into cells by `(tf, dl)`
//! ([`crate::postings`]); for a query, each cell of a term has a bound, the
//! largest weight any of its postings can add to a score. [`top_k`] reads
//! cells in descending order of bound, in rounds (one [`CellSource::fetch`]
//! per round for every cell at or above a falling level), and stops as soon
//! as the cells left unread cannot change the result. It returns exactly
//! the `k` best chunks (score descending, then chunk id ascending) among
//! all chunks that contain a query term, with their exact scores.
//!
//! The rounds: while unseen chunks may still enter the top k, each round
//! reads the cells at or above [`TopkOptions::level_step`] of the highest
//! unread bound (or fewer, when θ is known and fewer suffice to stop), then
//! rescores the most promising seen chunks once (to learn θ early). Once no
//! unseen chunk can, seen chunks that may still reach the top k are
//! settled by reading the cells they wait for while there are many of them
//! ([`TopkOptions::settle_above`]), then by rescoring in batches.
//!
//! Why it is exact, with θ the k-th best exact score known (ties by id):
//! - A chunk seen in no read cell has all its postings in unread cells, so
//!   its score is at most `U`, the sum over terms of each term's highest
//!   unread cell bound. Once `U < θ`, no unseen chunk can enter the top k.
//! - A seen chunk has the exact weight of every term it was seen with (a
//!   posting gives tf and dl) and, for each other term, at most the bound
//!   of that term's highest unread cell *in the chunk's dl bucket*,
//!   evaluated at the chunk's own dl (0 when all those cells are read: the
//!   chunk does not contain the term). A chunk whose upper bound cannot
//!   beat θ is set aside; one whose terms are all settled has its exact
//!   score computed from the postings ([`crate::fusion::doc_score`], bitwise
//!   the score of [`crate::tsvector::bm25_from_blob`]); the others that can
//!   still reach the top k are rescored exactly by the caller, in batches.
//! - Bounds are summed in the query's term order, as scores are, and every
//!   per-term bound is at least the computed weight (a margin covers
//!   rounding), so a floating-point score never exceeds its bound.
//! - The caller is the authority on existence: postings may name deleted
//!   chunks. Chunks scored from postings count towards θ at once, and before
//!   the result is returned the ones in the top k are confirmed by a
//!   rescore; a chunk found deleted is dropped and the search goes on (θ may
//!   fall, which brings set-aside chunks back).
//!
//! Chunks the caller scored itself (`known`: every chunk containing a term
//! that has no postings, and every chunk not yet merged into postings) take
//! part with their given scores; postings naming them are ignored.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::fusion::{cmp_desc, doc_score, term_score, ScoreParams};
use crate::postings::{
    bounds_hold, cell_at, cell_bound, dl_bucket, tf_bucket_bound, Posting, CELLS, DL_BUCKETS, MAX_BOUNDED_IDF,
    TF_BUCKETS,
};

/// One query term, in the order of the BM25 query blob (lexeme order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryTerm {
    pub idf: f64,
    /// Whether the term has postings in cells; chunks containing a term
    /// without postings must be among the `known` chunks.
    pub indexed: bool,
}

/// Postings of one cell as [`CellSource::fetch`] returns them: `(term,
/// cell, postings)`, term = index in the query terms.
pub type FetchedCell = (usize, u16, Vec<Posting>);

/// Where [`top_k`] reads postings and exact scores.
pub trait CellSource {
    type Error;

    /// All postings of the cells `(term, cell)` (term = index in the query
    /// terms), in any number of entries per cell (one per block, say), in
    /// any order; postings may name chunks that no longer exist.
    fn fetch(&mut self, wanted: &[(usize, u16)]) -> Result<Vec<FetchedCell>, Self::Error>;

    /// The exact BM25 score of each of `ids` that still exists (what
    /// `bm25_from_blob` gives for its tsvector); ids left out are deleted.
    fn rescore(&mut self, ids: &[i64]) -> Result<Vec<(i64, f64)>, Self::Error>;

    /// Which of `ids` still exist (and contain a query term): the chunks
    /// scored from their postings, whose scores are exact already. By
    /// default a rescore; a source may answer it more cheaply (a chunk's
    /// text never changes, so existence is all that is left to check).
    fn confirm(&mut self, ids: &[i64]) -> Result<Vec<i64>, Self::Error> {
        Ok(self.rescore(ids)?.into_iter().map(|(id, _)| id).collect())
    }
}

/// Tuning of [`top_k`]; the result does not depend on it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopkOptions {
    /// Most chunks rescored per call while cells are still being read
    /// (raised to `k`), and per call after that.
    pub rescore_batch: usize,
    /// A round reads every cell whose bound is at least this share of the
    /// highest unread bound, or fewer when fewer suffice to stop.
    pub level_step: f64,
    /// Once no unseen chunk can reach the top k, more open chunks than this
    /// are settled by reading another round rather than by rescoring.
    pub settle_above: usize,
}

impl Default for TopkOptions {
    fn default() -> Self {
        TopkOptions { rescore_batch: 64, level_step: 0.8, settle_above: 64 }
    }
}

/// The work one search did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopkStats {
    /// Calls of [`CellSource::fetch`] (rounds) and cells they asked for.
    pub fetch_calls: usize,
    pub cells_fetched: usize,
    /// Postings received.
    pub postings_decoded: usize,
    /// Distinct chunks named by postings (known chunks excepted).
    pub chunks_seen: usize,
    /// Chunks scored from their postings.
    pub chunks_computed: usize,
    /// Calls of [`CellSource::rescore`] and ids they asked for.
    pub rescore_calls: usize,
    pub chunks_rescored: usize,
    /// Calls of [`CellSource::confirm`] and ids they asked for.
    pub confirm_calls: usize,
    pub chunks_confirmed: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TopkResult {
    /// The best `k` `(chunk id, score)`, in [`rank_cmp`] order.
    pub hits: Vec<(i64, f64)>,
    pub stats: TopkStats,
}

/// Ranking order: score descending (NaN last), then chunk id ascending.
pub fn rank_cmp(a: &(i64, f64), b: &(i64, f64)) -> Ordering {
    cmp_desc(a.1, b.1).then(a.0.cmp(&b.0))
}

/// The exact `k` best chunks among `known` and the chunks in the cells of
/// the indexed `terms` (those `source` still rescores), each with its exact
/// score (from `known` or from the source). `known` chunks keep their given
/// score (the first, for an id given twice).
pub fn top_k<S: CellSource>(
    terms: &[QueryTerm],
    params: &ScoreParams,
    k: usize,
    known: &[(i64, f64)],
    source: &mut S,
    options: &TopkOptions,
) -> Result<TopkResult, S::Error> {
    let mut search = Search::new(terms, params, k, known, options);
    if k > 0 {
        loop {
            match search.next_step() {
                Step::Fetch(cells) => search.fetch(source, &cells)?,
                Step::Rescore(ids) => search.rescore(source, &ids)?,
                Step::Confirm(ids) => search.confirm(source, &ids)?,
                Step::Done => break,
            }
        }
    }
    Ok(search.finish())
}

/// A ranked entry; ids are unique in a set of them.
#[derive(Clone, Copy, Debug)]
struct Key {
    score: f64,
    id: i64,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_cmp(&(self.id, self.score), &(other.id, other.score))
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}

/// Hashes a chunk id with a multiplication: ids come from the database, not
/// from users, and SipHash would be most of the cost of reading postings.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = (self.0 ^ v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<i64, BuildHasherDefault<IdHasher>>;

/// Chunks with an exact score; `confirmed` = known or from the source (as
/// opposed to computed from postings, existence unconfirmed). The best k
/// are kept in order, the others unordered: they matter only when one of
/// the best is removed, which is rare.
struct Ranked {
    k: usize,
    entries: IdMap<(f64, bool)>,
    best: BTreeSet<Key>,
    /// The others, and stale keys of entries since replaced or removed.
    rest: Vec<Key>,
    /// One of the best was removed: `best` is short until [`Ranked::fix`].
    dirty: bool,
}

impl Ranked {
    fn new(k: usize) -> Self {
        Ranked { k, entries: IdMap::default(), best: BTreeSet::new(), rest: Vec::new(), dirty: false }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, id: i64, score: f64, confirmed: bool) {
        if let Some(entry) = self.entries.get_mut(&id) {
            if entry.0.to_bits() == score.to_bits() {
                entry.1 |= confirmed;
                return;
            }
        }
        self.remove(id);
        self.entries.insert(id, (score, confirmed));
        let key = Key { score, id };
        if self.dirty {
            self.rest.push(key);
        } else if self.best.len() < self.k {
            self.best.insert(key);
        } else if self.best.last().is_some_and(|last| key < *last) {
            self.best.insert(key);
            self.rest.extend(self.best.pop_last());
        } else {
            self.rest.push(key);
        }
    }

    /// Whether it was there. Call [`Ranked::fix`] before reading the best.
    fn remove(&mut self, id: i64) -> bool {
        let Some((score, _)) = self.entries.remove(&id) else { return false };
        self.dirty |= self.best.remove(&Key { score, id });
        true
    }

    /// Makes `best` the best k again after removals.
    fn fix(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut seen = IdSet::default();
        let entries = &self.entries;
        let mut all: Vec<Key> = std::mem::take(&mut self.best)
            .into_iter()
            .chain(std::mem::take(&mut self.rest))
            .filter(|key| entries.get(&key.id).is_some_and(|e| e.0.to_bits() == key.score.to_bits()) && seen.insert(key.id))
            .collect();
        if all.len() > self.k {
            all.select_nth_unstable(self.k);
            self.rest = all.split_off(self.k);
        }
        self.best = all.into_iter().collect();
    }

    /// The k-th best, None while fewer than k.
    fn kth(&self) -> Option<Key> {
        self.best.last().copied().filter(|_| self.best.len() == self.k)
    }

    fn unconfirmed_in_best(&self) -> Vec<i64> {
        self.best.iter().filter(|key| self.entries.get(&key.id).is_some_and(|e| !e.1)).map(|key| key.id).collect()
    }
}

/// Whether a chunk scoring at most `bound`, with id `id`, can rank before
/// the k-th best (`kth`; None = fewer than k known: anything can).
fn can_beat(bound: f64, id: i64, kth: Option<Key>) -> bool {
    kth.is_none_or(|kth| Key { score: bound, id } < kth)
}

/// One indexed query term.
struct Term {
    /// Index in the query terms.
    query: usize,
    idf: f64,
    bound: [f64; CELLS],
    read: [bool; CELLS],
    /// Per dl bucket: the highest tf bucket with an unread cell, and that
    /// cell's bound (0 when all are read).
    open_tf: [Option<usize>; DL_BUCKETS],
    open_bound: [f64; DL_BUCKETS],
}

impl Term {
    fn refresh(&mut self) {
        for d in 0..DL_BUCKETS {
            let top = (0..TF_BUCKETS).rev().find(|&t| !self.read[usize::from(cell_at(t, d))]);
            self.open_tf[d] = top;
            self.open_bound[d] = top.map_or(0.0, |t| self.bound[usize::from(cell_at(t, d))]);
        }
    }

    /// The highest bound of an unread cell; None when all are read.
    fn next_bound(&self) -> Option<f64> {
        (0..CELLS).filter(|&c| !self.read[c]).map(|c| self.bound[c]).reduce(f64::max)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Not yet scored, may still reach the top k.
    Open,
    /// Cannot beat the k-th best as it stood; reopened if that falls.
    SetAside,
    /// In `Ranked`.
    Scored,
    /// The source no longer has it.
    Deleted,
}

struct Chunk {
    id: i64,
    dl: u32,
    /// (term position, tf), sorted by term, each term once.
    seen: Vec<(usize, u16)>,
    state: State,
}

enum Step {
    Fetch(Vec<(usize, u16)>),
    Rescore(Vec<i64>),
    Confirm(Vec<i64>),
    Done,
}

struct Search {
    terms: Vec<Term>,
    params: ScoreParams,
    k: usize,
    options: TopkOptions,
    /// Whether bounds are usable; if not, every cell is read.
    prune: bool,
    known: IdSet,
    ranked: Ranked,
    chunks: Vec<Chunk>,
    chunk_of: IdMap<usize>,
    open: Vec<usize>,
    set_aside: Vec<usize>,
    /// A ranked chunk was dropped or rescored lower: θ may have fallen.
    reopen: bool,
    /// Whether a rescore call followed the last fetch.
    rescored_since_fetch: bool,
    stats: TopkStats,
}

impl Search {
    fn new(terms: &[QueryTerm], params: &ScoreParams, k: usize, known: &[(i64, f64)], options: &TopkOptions) -> Self {
        let indexed: Vec<(usize, f64)> =
            terms.iter().enumerate().filter(|(_, t)| t.indexed).map(|(i, t)| (i, t.idf)).collect();
        let prune = bounds_hold(params) && indexed.iter().all(|(_, idf)| idf.is_finite() && idf.abs() <= MAX_BOUNDED_IDF);
        let terms = indexed
            .into_iter()
            .map(|(query, idf)| {
                let mut term = Term {
                    query,
                    idf,
                    bound: std::array::from_fn(|c| cell_bound(c as u16, idf, params)),
                    read: [false; CELLS],
                    open_tf: [None; DL_BUCKETS],
                    open_bound: [0.0; DL_BUCKETS],
                };
                term.refresh();
                term
            })
            .collect();
        let mut ranked = Ranked::new(k);
        let mut known_ids = IdSet::default();
        for &(id, score) in known {
            if known_ids.insert(id) {
                ranked.insert(id, score, true);
            }
        }
        Search {
            terms,
            params: *params,
            k,
            options: *options,
            prune,
            known: known_ids,
            ranked,
            chunks: Vec::new(),
            chunk_of: IdMap::default(),
            open: Vec::new(),
            set_aside: Vec::new(),
            reopen: false,
            rescored_since_fetch: false,
            stats: TopkStats::default(),
        }
    }

    fn next_step(&mut self) -> Step {
        let candidates = self.evaluate();
        let kth = self.ranked.kth();
        let batch = self.options.rescore_batch.max(1);
        if self.unseen_can_beat(kth) {
            // Rescore the most promising chunks once per round, to learn θ,
            // when that can give k scores.
            let enough = self.ranked.len() + candidates.len() >= self.k;
            if self.prune && !self.rescored_since_fetch && !candidates.is_empty() && enough {
                return Step::Rescore(candidates.iter().take(batch.max(self.k)).map(|c| c.id).collect());
            }
            return Step::Fetch(self.next_cells(kth));
        }
        // Everything that can still reach the top k has been seen. Many
        // open chunks: reading on settles them for less than rescoring.
        if self.prune && candidates.len() > self.options.settle_above {
            let cells = self.settling_cells(&candidates);
            if !cells.is_empty() {
                return Step::Fetch(cells);
            }
        }
        // Rescore what is still open; then confirm that the chunks scored
        // from postings exist.
        let ids: Vec<i64> = candidates.iter().take(batch).map(|c| c.id).collect();
        if !ids.is_empty() {
            return Step::Rescore(ids);
        }
        let unconfirmed = self.ranked.unconfirmed_in_best();
        if unconfirmed.is_empty() {
            Step::Done
        } else {
            Step::Confirm(unconfirmed)
        }
    }

    /// Scores the open chunks whose terms are all settled, sets aside those
    /// that cannot beat θ, and returns the others, the first
    /// max(rescore_batch, k) of them best bound first.
    fn evaluate(&mut self) -> Vec<Key> {
        if std::mem::take(&mut self.reopen) {
            for idx in std::mem::take(&mut self.set_aside) {
                self.chunks[idx].state = State::Open;
                self.open.push(idx);
            }
        }
        let mut bounded: Vec<(usize, f64)> = Vec::with_capacity(self.open.len());
        for idx in std::mem::take(&mut self.open) {
            let chunk = &self.chunks[idx];
            if chunk.state != State::Open {
                continue;
            }
            match self.chunk_bound(chunk) {
                Some(bound) => bounded.push((idx, bound)),
                None => {
                    let dl = f64::from(chunk.dl);
                    let tfs = chunk.seen.iter().map(|&(t, tf)| (self.terms[t].idf, f64::from(tf)));
                    let score = doc_score(dl, tfs, &self.params);
                    self.ranked.insert(chunk.id, score, false);
                    self.chunks[idx].state = State::Scored;
                    self.stats.chunks_computed += 1;
                }
            }
        }
        let kth = self.ranked.kth();
        let mut candidates = Vec::with_capacity(bounded.len());
        for (idx, bound) in bounded {
            let id = self.chunks[idx].id;
            if self.prune && !can_beat(bound, id, kth) {
                self.chunks[idx].state = State::SetAside;
                self.set_aside.push(idx);
            } else {
                self.open.push(idx);
                candidates.push(Key { score: bound, id });
            }
        }
        // Only the front is taken, in order: the rest needs no sorting.
        let front = self.options.rescore_batch.max(1).max(self.k).min(candidates.len());
        if front < candidates.len() {
            candidates.select_nth_unstable(front);
        }
        candidates[..front].sort_unstable();
        candidates
    }

    /// An upper bound of the chunk's score, or None when every term is
    /// settled (seen, or all cells that could hold it read).
    fn chunk_bound(&self, chunk: &Chunk) -> Option<f64> {
        let d = dl_bucket(chunk.dl);
        let dl = f64::from(chunk.dl);
        let mut settled = true;
        // Two valid bounds, both summed in term order: one from the cell
        // bounds, one at the chunk's own dl; the smaller is used.
        let (mut by_cell, mut by_dl) = (0.0, 0.0);
        let mut seen = chunk.seen.iter().peekable();
        for (t, term) in self.terms.iter().enumerate() {
            if let Some(&(_, tf)) = seen.next_if(|(st, _)| *st == t) {
                if tf > 0 {
                    let w = term_score(term.idf, f64::from(tf), dl, &self.params);
                    by_cell += w;
                    by_dl += w;
                }
            } else if let Some(tf_b) = term.open_tf[d] {
                settled = false;
                by_cell += term.open_bound[d];
                by_dl += tf_bucket_bound(tf_b, dl, term.idf, &self.params);
            }
        }
        (!settled).then_some(by_cell.min(by_dl))
    }

    /// Whether a chunk seen in no read cell may still beat the k-th best.
    fn unseen_can_beat(&self, kth: Option<Key>) -> bool {
        match sum_in_order(self.terms.iter().map(Term::next_bound)) {
            // Every cell read: there is no unseen chunk.
            None => false,
            Some(bound) => !self.prune || can_beat(bound, i64::MIN, kth),
        }
    }

    /// The cells of the next round: every unread cell at or above a level
    /// that falls by `level_step` per round, or just high enough for the
    /// unread rest to stay below θ if θ (`kth`) is given.
    fn next_cells(&self, kth: Option<Key>) -> Vec<(usize, u16)> {
        let mut unread: Vec<(f64, usize, usize)> = Vec::new();
        for (t, term) in self.terms.iter().enumerate() {
            unread.extend((0..CELLS).filter(|&c| !term.read[c]).map(|c| (term.bound[c], t, c)));
        }
        unread.sort_by(|a, b| cmp_desc(a.0, b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let Some(&(top, _, _)) = unread.first() else { return Vec::new() };
        let level = if !self.prune {
            f64::NEG_INFINITY
        } else {
            let step = top * self.options.level_step.clamp(0.0, 1.0);
            // Read cells greedily, best first, until the unread rest cannot
            // beat θ as it stands.
            let mut left: Vec<Vec<f64>> = vec![Vec::new(); self.terms.len()];
            for &(bound, t, _) in unread.iter().rev() {
                left[t].push(bound);
            }
            let mut enough = f64::NEG_INFINITY;
            if kth.is_some() {
                for &(bound, t, _) in &unread {
                    left[t].pop();
                    let rest = sum_in_order(left.iter().map(|l| l.last().copied()));
                    if rest.is_none_or(|rest| !can_beat(rest, i64::MIN, kth)) {
                        enough = bound;
                        break;
                    }
                }
            }
            step.max(enough).min(top)
        };
        unread
            .iter()
            .filter(|(bound, _, _)| *bound >= level)
            .map(|&(_, t, c)| (self.terms[t].query, c as u16))
            .collect()
    }

    /// The next round of cells that open chunks wait for: the unread cells
    /// of the (term, dl bucket) pairs they were not seen in, at or above
    /// `level_step` of the highest of them.
    fn settling_cells(&self, candidates: &[Key]) -> Vec<(usize, u16)> {
        let mut waiting = vec![[false; DL_BUCKETS]; self.terms.len()];
        for key in candidates {
            let Some(&idx) = self.chunk_of.get(&key.id) else { continue };
            let chunk = &self.chunks[idx];
            let d = dl_bucket(chunk.dl);
            for (t, term) in self.terms.iter().enumerate() {
                if term.open_tf[d].is_some() && chunk.seen.binary_search_by_key(&t, |&(st, _)| st).is_err() {
                    waiting[t][d] = true;
                }
            }
        }
        let mut unread: Vec<(f64, usize, usize)> = Vec::new();
        for (t, term) in self.terms.iter().enumerate() {
            for tf_b in 0..TF_BUCKETS {
                for d in (0..DL_BUCKETS).filter(|&d| waiting[t][d]) {
                    let c = usize::from(cell_at(tf_b, d));
                    if !term.read[c] {
                        unread.push((term.bound[c], t, c));
                    }
                }
            }
        }
        let top = unread.iter().map(|u| u.0).fold(f64::NEG_INFINITY, f64::max);
        let level = top * self.options.level_step.clamp(0.0, 1.0);
        unread.iter().filter(|u| u.0 >= level).map(|&(_, t, c)| (self.terms[t].query, c as u16)).collect()
    }

    fn fetch<S: CellSource>(&mut self, source: &mut S, wanted: &[(usize, u16)]) -> Result<(), S::Error> {
        self.stats.fetch_calls += 1;
        self.stats.cells_fetched += wanted.len();
        let got = source.fetch(wanted)?;
        let position: HashMap<usize, usize> = self.terms.iter().enumerate().map(|(t, term)| (term.query, t)).collect();
        let asked: HashSet<(usize, u16)> = wanted.iter().copied().collect();
        for &(query, cell) in wanted {
            if let Some(&t) = position.get(&query) {
                self.terms[t].read[usize::from(cell)] = true;
            }
        }
        for (query, cell, postings) in got {
            let Some(&t) = position.get(&query).filter(|_| asked.contains(&(query, cell))) else { continue };
            self.stats.postings_decoded += postings.len();
            for p in postings {
                if !self.known.contains(&p.chunk_id) {
                    self.add_posting(t, p);
                }
            }
        }
        for term in &mut self.terms {
            term.refresh();
        }
        self.rescored_since_fetch = false;
        Ok(())
    }

    fn add_posting(&mut self, t: usize, p: Posting) {
        let idx = *self.chunk_of.entry(p.chunk_id).or_insert_with(|| {
            self.chunks.push(Chunk { id: p.chunk_id, dl: p.dl, seen: Vec::new(), state: State::Open });
            self.open.push(self.chunks.len() - 1);
            self.stats.chunks_seen += 1;
            self.chunks.len() - 1
        });
        let seen = &mut self.chunks[idx].seen;
        // A chunk counts once per term, whatever blocks repeat it.
        if let Err(at) = seen.binary_search_by_key(&t, |&(st, _)| st) {
            seen.insert(at, (t, p.tf));
        }
    }

    fn rescore<S: CellSource>(&mut self, source: &mut S, ids: &[i64]) -> Result<(), S::Error> {
        self.stats.rescore_calls += 1;
        self.stats.chunks_rescored += ids.len();
        let answer = source.rescore(ids)?;
        let mut scores: IdMap<f64> = IdMap::default();
        for (id, score) in answer {
            scores.entry(id).or_insert(score);
        }
        for id in ids {
            let Some(&idx) = self.chunk_of.get(id) else { continue };
            let before = self.ranked.entries.get(id).map(|e| e.0);
            match scores.get(id) {
                Some(&score) => {
                    self.ranked.insert(*id, score, true);
                    self.chunks[idx].state = State::Scored;
                    if before.is_some_and(|b| cmp_desc(score, b) == Ordering::Greater) {
                        self.reopen = true;
                    }
                }
                None => {
                    self.reopen |= self.ranked.remove(*id);
                    self.chunks[idx].state = State::Deleted;
                }
            }
        }
        self.ranked.fix();
        self.rescored_since_fetch = true;
        Ok(())
    }

    /// Confirms chunks scored from postings: the missing are deleted.
    fn confirm<S: CellSource>(&mut self, source: &mut S, ids: &[i64]) -> Result<(), S::Error> {
        self.stats.confirm_calls += 1;
        self.stats.chunks_confirmed += ids.len();
        let present: HashSet<i64> = source.confirm(ids)?.into_iter().collect();
        for id in ids {
            let Some(&idx) = self.chunk_of.get(id) else { continue };
            if present.contains(id) {
                if let Some(&(score, _)) = self.ranked.entries.get(id) {
                    self.ranked.insert(*id, score, true);
                }
            } else {
                self.reopen |= self.ranked.remove(*id);
                self.chunks[idx].state = State::Deleted;
            }
        }
        self.ranked.fix();
        Ok(())
    }

    fn finish(self) -> TopkResult {
        let hits = self.ranked.best.iter().map(|key| (key.id, key.score)).collect();
        TopkResult { hits, stats: self.stats }
    }
}

/// Sum of the present values in term order (the order scores are summed
/// in); None when none is present.
fn sum_in_order(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut sum = None;
    for v in values.into_iter().flatten() {
        sum = Some(sum.unwrap_or(0.0) + v);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{decode_block, encode_block, BlockError};
    use crate::fusion::{bm25_idf, Bm25};
    use crate::postings::{cell_of, tsvector_terms};
    use std::collections::BTreeMap;
    use crate::testing::{tsvector_bytes, MemCell, Rng};
    use crate::tsvector::{bm25_from_blob, lexeme_frequencies, Bm25Query};

    /// The extension's tables in memory: encoded blocks per (query term,
    /// cell), and the exact score of every chunk that still exists and
    /// matches the query. Checks that nothing is asked twice.
    #[derive(Default)]
    struct Store {
        blocks: HashMap<(usize, u16), Vec<Vec<u8>>>,
        scores: HashMap<i64, f64>,
        known: HashSet<i64>,
        fetched: HashSet<(usize, u16)>,
        rescored: HashSet<i64>,
        fail_fetch: bool,
    }

    impl CellSource for Store {
        type Error = BlockError;

        fn fetch(&mut self, wanted: &[(usize, u16)]) -> Result<Vec<FetchedCell>, BlockError> {
            if self.fail_fetch {
                return Err(BlockError::Truncated);
            }
            assert!(!wanted.is_empty());
            let mut out = Vec::new();
            for &(t, c) in wanted {
                assert!(self.fetched.insert((t, c)), "cell {t}/{c} fetched twice");
                for block in self.blocks.get(&(t, c)).into_iter().flatten() {
                    out.push((t, c, decode_block(block)?));
                }
            }
            // Any order; postings of cells not asked for are ignored.
            out.reverse();
            let bogus = vec![Posting { chunk_id: i64::MAX, tf: 255, dl: 1 }];
            out.push((usize::MAX, 0, bogus.clone()));
            if let Some(c) = (0..CELLS as u16).find(|&c| !self.fetched.contains(&(0, c))) {
                out.push((0, c, bogus));
            }
            Ok(out)
        }

        fn rescore(&mut self, ids: &[i64]) -> Result<Vec<(i64, f64)>, BlockError> {
            assert!(!ids.is_empty());
            for id in ids {
                assert!(!self.known.contains(id), "known {id} rescored");
                assert!(self.rescored.insert(*id), "{id} rescored twice");
            }
            Ok(ids.iter().rev().filter_map(|id| self.scores.get(id).map(|s| (*id, *s))).collect())
        }
    }

    impl Store {
        /// Forgets what was asked, for a new search with these known chunks.
        fn reset(&mut self, known: &[(i64, f64)]) {
            self.known = known.iter().map(|(id, _)| *id).collect();
            self.fetched.clear();
            self.rescored.clear();
        }

        fn add_block(&mut self, t: usize, cell: u16, postings: &[Posting]) {
            self.blocks.entry((t, cell)).or_default().push(encode_block(postings));
        }

        fn postings(&self) -> impl Iterator<Item = Posting> + '_ {
            self.blocks.values().flatten().flat_map(|b| decode_block(b).unwrap())
        }

        /// Brute force: every known chunk and every chunk in a cell that
        /// still exists, best k.
        fn brute_force(&self, known: &[(i64, f64)], k: usize) -> Vec<(i64, f64)> {
            let mut all: HashMap<i64, f64> = HashMap::new();
            for &(id, s) in known {
                all.entry(id).or_insert(s);
            }
            for p in self.postings() {
                if !self.known.contains(&p.chunk_id) {
                    if let Some(&s) = self.scores.get(&p.chunk_id) {
                        all.insert(p.chunk_id, s);
                    }
                }
            }
            let mut all: Vec<(i64, f64)> = all.into_iter().collect();
            all.sort_by(rank_cmp);
            all.truncate(k);
            all
        }
    }

    fn bits(hits: &[(i64, f64)]) -> Vec<(i64, u64)> {
        hits.iter().map(|&(id, s)| (id, s.to_bits())).collect()
    }

    /// Runs top_k on a fresh copy of the store's bookkeeping and checks it
    /// against brute force; returns the stats.
    fn check(store: &mut Store, terms: &[QueryTerm], params: &ScoreParams, known: &[(i64, f64)], k: usize, options: &TopkOptions) -> TopkStats {
        store.reset(known);
        let got = top_k(terms, params, k, known, store, options).unwrap();
        let want = store.brute_force(known, k);
        assert_eq!(got.hits.iter().map(|h| h.0).collect::<HashSet<i64>>().len(), got.hits.len(), "an id twice");
        assert_eq!(bits(&got.hits), bits(&want), "k {k} {params:?} {options:?}\n got {:?}\nwant {:?}", got.hits, want);
        got.stats
    }

    /// Chunks as stored tsvectors: `(chunk id, tsvector, an updated version)`,
    /// and the lexemes of each.
    struct Corpus {
        chunks: Vec<(i64, Vec<u8>, Vec<u8>)>,
        lexemes: Vec<[HashSet<Vec<u8>>; 2]>,
        /// The postings of each chunk: `(lexeme, tf, dl)`.
        postings: Vec<Vec<(Vec<u8>, u16, u32)>>,
        vocab: u64,
    }

    fn random_tsvector(rng: &mut Rng, vocab: u64) -> Vec<u8> {
        let tokens = ((rng.unit() * 600f64.ln()).exp() as u64).max(1);
        let mut counts: HashMap<u64, u16> = HashMap::new();
        for _ in 0..tokens {
            *counts.entry(rng.zipf(vocab)).or_default() += 1;
        }
        let words: Vec<(String, u16)> = counts
            .into_iter()
            .map(|(w, n)| (format!("w{w}"), if rng.chance(0.02) { 0 } else { n.min(255) }))
            .collect();
        tsvector_bytes(&words.iter().map(|(w, n)| (w.as_str(), *n)).collect::<Vec<_>>())
    }

    fn random_corpus(rng: &mut Rng) -> Corpus {
        let vocab = rng.range(3, 300);
        let mut id = rng.below(1000) as i64 - 500;
        let chunks: Vec<(i64, Vec<u8>, Vec<u8>)> = (0..rng.below(150))
            .map(|_| {
                id += rng.range(1, 4) as i64;
                (id, random_tsvector(rng, vocab), random_tsvector(rng, vocab))
            })
            .collect();
        let set = |tsv: &[u8]| lexeme_frequencies(tsv).into_iter().map(|(l, _)| l.to_vec()).collect();
        let lexemes = chunks.iter().map(|(_, a, b)| [set(a), set(b)]).collect();
        let postings = chunks.iter().map(|(_, tsv, _)| tsvector_terms(tsv).into_iter().map(|(l, tf, dl)| (l.to_vec(), tf, dl)).collect()).collect();
        Corpus { chunks, lexemes, postings, vocab }
    }

    /// A query over `corpus` with its postings stored the way the
    /// extension maintains them (merges, removals, late commits), some
    /// chunks unmerged, updated, deleted, and their exact scores.
    struct Case {
        store: Store,
        terms: Vec<QueryTerm>,
        params: ScoreParams,
        known: Vec<(i64, f64)>,
        matches: usize,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Role {
        Merged,
        Unmerged,
        Updated,
        Deleted,
        Removed,
        Known,
    }

    fn random_case(rng: &mut Rng, corpus: &Corpus, idf_zero: bool) -> Case {
        // Query words: common ones, any, and some in no chunk.
        let mut words: Vec<String> = Vec::new();
        for _ in 0..rng.range(1, 8) {
            let w = match rng.below(10) {
                0..=4 => format!("w{}", rng.zipf(corpus.vocab)),
                5..=8 => format!("w{}", rng.below(corpus.vocab)),
                _ => format!("x{}", rng.below(3)),
            };
            if !words.contains(&w) {
                words.push(w);
            }
        }
        let n = corpus.chunks.len() as f64;
        let with_idf: Vec<(String, f64)> = words
            .iter()
            .map(|w| {
                let df = corpus.lexemes.iter().filter(|l| l[0].contains(w.as_bytes())).count() as f64;
                let idf = match rng.below(12) {
                    _ if idf_zero => 0.0,
                    0 => 0.0,
                    1 => rng.unit() * 5.0,
                    _ => bm25_idf(df, n.max(1.0)),
                };
                (w.clone(), idf)
            })
            .collect();
        let pick = |rng: &mut Rng, edges: &[f64], hi: f64| {
            if rng.chance(0.4) {
                edges[rng.below(edges.len() as u64) as usize]
            } else {
                rng.unit() * hi
            }
        };
        let k1 = pick(rng, &[0.0, 0.9, 1.2], 3.0);
        let b = pick(rng, &[0.0, 1.0, 0.4], 1.0);
        let avg_len = pick(rng, &[0.0, 1.0, 40.0], 300.0);
        let q = Bm25Query::new(with_idf, Bm25 { k1, b }, avg_len);
        let blob = q.to_blob();
        let params = q.score_params();
        let terms: Vec<QueryTerm> = q.terms.iter().map(|(_, idf)| QueryTerm { idf: *idf, indexed: rng.chance(0.85) }).collect();
        let indexed: HashMap<&[u8], usize> =
            q.terms.iter().enumerate().filter(|(t, _)| terms[*t].indexed).map(|(t, (l, _))| (l.as_slice(), t)).collect();

        let roles: Vec<Role> = corpus
            .chunks
            .iter()
            .map(|_| match rng.below(100) {
                0..=7 => Role::Unmerged,
                8..=12 => Role::Updated,
                13..=20 => Role::Deleted,
                21..=24 => Role::Removed,
                25..=29 => Role::Known,
                _ => Role::Merged,
            })
            .collect();
        // Merge in batches of random order (late commits: lower ids after
        // higher ones), then remove the removed chunks' postings.
        let mut cells: HashMap<(usize, u16), MemCell> = HashMap::new();
        let mut order: Vec<usize> = (0..corpus.chunks.len()).filter(|&i| roles[i] != Role::Unmerged).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let batch = rng.range(1, 60) as usize;
        for part in order.chunks(batch) {
            // What cell_postings gives for these chunks, for the query's terms.
            let mut groups: BTreeMap<(usize, u16), Vec<Posting>> = BTreeMap::new();
            for &i in part {
                for (lexeme, tf, dl) in &corpus.postings[i] {
                    if let Some(&t) = indexed.get(lexeme.as_slice()) {
                        groups.entry((t, cell_of(*tf, *dl))).or_default().push(post(corpus.chunks[i].0, *tf, *dl));
                    }
                }
            }
            for (cell, postings) in groups {
                cells.entry(cell).or_default().merge(&postings, &[]);
            }
        }
        let removed: Vec<i64> = (0..corpus.chunks.len()).filter(|&i| roles[i] == Role::Removed).map(|i| corpus.chunks[i].0).collect();
        for cell in cells.values_mut() {
            cell.merge(&[], &removed);
        }
        let mut store = Store::default();
        for (&(t, c), cell) in &cells {
            for postings in cell.0.values() {
                store.add_block(t, c, postings);
                // A posting repeated in another block of the cell.
                if rng.chance(0.05) {
                    let p = postings[rng.below(postings.len() as u64) as usize];
                    store.add_block(t, c, &[p]);
                }
            }
        }

        let mut known = Vec::new();
        let mut matches = 0;
        for (i, (id, tsv, updated)) in corpus.chunks.iter().enumerate() {
            let version = usize::from(roles[i] == Role::Updated);
            let tsv = if version == 1 { updated } else { tsv };
            let present: Vec<usize> = (0..terms.len()).filter(|&t| corpus.lexemes[i][version].contains(&q.terms[t].0)).collect();
            if matches!(roles[i], Role::Deleted | Role::Removed) || present.is_empty() {
                continue;
            }
            // What the extension's rescoring returns: chunks that exist and
            // match the query.
            let score = bm25_from_blob(tsv, &blob);
            store.scores.insert(*id, score);
            matches += 1;
            let unindexed = present.iter().any(|&t| !terms[t].indexed);
            if unindexed || matches!(roles[i], Role::Unmerged | Role::Updated | Role::Known) {
                known.push((*id, score));
            }
        }
        // A known chunk given twice keeps its first score.
        if let Some(&(id, score)) = known.first() {
            if rng.chance(0.1) {
                known.push((id, score + 1.0));
            }
        }
        Case { store, terms, params, known, matches }
    }

    fn random_options(rng: &mut Rng) -> TopkOptions {
        if rng.chance(0.3) {
            TopkOptions::default()
        } else {
            TopkOptions { rescore_batch: rng.range(0, 40) as usize, level_step: rng.unit() * 1.2, settle_above: rng.below(100) as usize }
        }
    }

    #[test]
    fn equals_brute_force_on_random_corpora() {
        let mut rng = Rng::new(41);
        let mut cases = 0;
        let mut pruned = 0;
        for _ in 0..400 {
            let corpus = random_corpus(&mut rng);
            for _ in 0..8 {
                let mut case = random_case(&mut rng, &corpus, false);
                let k = match rng.below(4) {
                    0 => 1,
                    1 => rng.range(1, 10) as usize,
                    _ => rng.range(1, case.matches as u64 + 3) as usize,
                };
                let options = random_options(&mut rng);
                let stats = check(&mut case.store, &case.terms, &case.params, &case.known, k, &options);
                let cells = case.terms.iter().filter(|t| t.indexed).count() * CELLS;
                pruned += (stats.cells_fetched < cells) as usize;
                cases += 1;
            }
        }
        assert_eq!(cases, 3200);
        // Cases stop early, too.
        assert!(pruned > 1000, "{pruned}");
    }

    #[test]
    fn idf_zero_terms_rank_by_id() {
        let mut rng = Rng::new(42);
        for _ in 0..300 {
            let corpus = random_corpus(&mut rng);
            let mut case = random_case(&mut rng, &corpus, true);
            let k = rng.range(1, case.matches as u64 + 2) as usize;
            check(&mut case.store, &case.terms, &case.params, &case.known, k, &TopkOptions::default());
        }
    }

    fn post(chunk_id: i64, tf: u16, dl: u32) -> Posting {
        Posting { chunk_id, tf, dl }
    }

    /// A store whose chunks have the given `(id, dl, tf per term)` and
    /// exist when `exists`, with scores as bm25_from_blob computes them, and
    /// the number of postings.
    fn store_of(terms: &[QueryTerm], params: &ScoreParams, chunks: &[(i64, u32, Vec<u16>, bool)]) -> (Store, usize) {
        let mut cells: BTreeMap<(usize, u16), Vec<Posting>> = BTreeMap::new();
        let mut store = Store::default();
        for (id, dl, tfs, exists) in chunks {
            for (t, &tf) in tfs.iter().enumerate().filter(|(_, tf)| **tf > 0) {
                cells.entry((t, cell_of(tf, *dl))).or_default().push(post(*id, tf, *dl));
            }
            if *exists && tfs.iter().any(|&tf| tf > 0) {
                let score = doc_score(f64::from(*dl), terms.iter().zip(tfs).map(|(q, &tf)| (q.idf, f64::from(tf))), params);
                store.scores.insert(*id, score);
            }
        }
        let mut total = 0;
        for ((t, c), postings) in cells {
            total += postings.len();
            for block in postings.chunks(crate::blocks::BLOCK_POSTINGS) {
                store.add_block(t, c, block);
            }
        }
        (store, total)
    }

    fn small_store(terms: &[QueryTerm], params: &ScoreParams, chunks: &[(i64, u32, Vec<u16>, bool)]) -> Store {
        store_of(terms, params, chunks).0
    }

    fn two_terms() -> (Vec<QueryTerm>, ScoreParams) {
        (vec![QueryTerm { idf: 2.0, indexed: true }, QueryTerm { idf: 0.5, indexed: true }], ScoreParams::new(Bm25::default(), 20.0))
    }

    #[test]
    fn duplicated_postings_count_once() {
        let (terms, params) = two_terms();
        let mut store = small_store(&terms, &params, &[(1, 10, vec![3, 1], true), (2, 10, vec![1, 0], true), (3, 700, vec![0, 12], true)]);
        // The same postings again in other blocks of their cells.
        store.add_block(0, cell_of(3, 10), &[post(1, 3, 10), post(2, 1, 10)]);
        store.add_block(0, cell_of(3, 10), &[post(1, 3, 10)]);
        store.add_block(1, cell_of(12, 700), &[post(3, 12, 700)]);
        for k in 1..=4 {
            let stats = check(&mut store, &terms, &params, &[], k, &TopkOptions::default());
            assert!(stats.chunks_seen <= 3);
        }
        // Beyond the matches everything is read: each chunk seen once.
        assert_eq!(check(&mut store, &terms, &params, &[], 4, &TopkOptions::default()).chunks_seen, 3);
    }

    #[test]
    fn ties_break_by_chunk_id() {
        let (terms, params) = two_terms();
        // Equal scores everywhere; known chunks tie with posted ones.
        let chunks: Vec<(i64, u32, Vec<u16>, bool)> = (0..40).map(|i| (100 - 2 * i, 30, vec![2, 1], true)).collect();
        let mut store = small_store(&terms, &params, &chunks);
        let score = store.scores[&100];
        let known = vec![(61, score), (1000, score), (-5, score - 1e-9)];
        for k in [1, 2, 5, 20, 40, 43, 50] {
            check(&mut store, &terms, &params, &known, k, &TopkOptions::default());
            check(&mut store, &terms, &params, &known, k, &TopkOptions { rescore_batch: 1, level_step: 1.0, settle_above: 0 });
        }
        store.reset(&known);
        let got = top_k(&terms, &params, 1, &known, &mut store, &TopkOptions::default());
        assert_eq!(got.map(|r| r.hits), Ok(vec![(22, score)]));
    }

    #[test]
    fn empty_postings_give_the_known_chunks() {
        let (terms, params) = two_terms();
        let mut store = Store::default();
        let known = vec![(5, 1.0), (3, 2.0), (4, 1.0)];
        let got = top_k(&terms, &params, 2, &known, &mut store, &TopkOptions::default()).unwrap();
        assert_eq!(got.hits, vec![(3, 2.0), (4, 1.0)]);
        assert_eq!((got.stats.postings_decoded, got.stats.rescore_calls), (0, 0));
        let got = top_k(&terms, &params, 10, &[], &mut Store::default(), &TopkOptions::default()).unwrap();
        assert!(got.hits.is_empty());
        // Nothing indexed: no round trip at all.
        let none: Vec<QueryTerm> = terms.iter().map(|t| QueryTerm { indexed: false, ..*t }).collect();
        let got = top_k(&none, &params, 2, &known, &mut Store::default(), &TopkOptions::default()).unwrap();
        assert_eq!((got.hits.len(), got.stats.fetch_calls), (2, 0));
        // k = 0 asks nothing.
        let got = top_k(&terms, &params, 0, &known, &mut Store::default(), &TopkOptions::default()).unwrap();
        assert_eq!((got.hits.len(), got.stats), (0, TopkStats::default()));
    }

    #[test]
    fn deleted_chunks_are_dropped() {
        let (terms, params) = two_terms();
        let chunks: Vec<(i64, u32, Vec<u16>, bool)> =
            (0..200).map(|i| (i, 5 + (i as u32 * 7) % 600, vec![(i % 13) as u16, (i % 4) as u16], false)).collect();
        let mut store = small_store(&terms, &params, &chunks);
        for k in [1, 10, 300] {
            store.reset(&[]);
            let got = top_k(&terms, &params, k, &[], &mut store, &TopkOptions::default()).unwrap();
            assert!(got.hits.is_empty() && got.stats.chunks_rescored + got.stats.chunks_confirmed > 0, "{got:?}");
            check(&mut store, &terms, &params, &[(7, 0.5)], k, &TopkOptions::default());
        }
        // The best chunks deleted: the search goes on to the next ones.
        let chunks: Vec<(i64, u32, Vec<u16>, bool)> =
            (0..300).map(|i| (i, 5 + (i as u32 * 7) % 600, vec![(i % 13) as u16, (i % 4) as u16], i % 3 != 0 || i > 150)).collect();
        let mut store = small_store(&terms, &params, &chunks);
        for k in [1, 3, 10, 100] {
            check(&mut store, &terms, &params, &[], k, &TopkOptions::default());
        }
    }

    #[test]
    fn chunks_scored_from_postings_are_confirmed() {
        // One term: every chunk seen is scored from its posting; the best
        // ones no longer exist.
        let terms = vec![QueryTerm { idf: 1.3, indexed: true }];
        let params = ScoreParams::new(Bm25::default(), 50.0);
        let chunks: Vec<(i64, u32, Vec<u16>, bool)> =
            (0..500).map(|i| (i, 1 + (i as u32 * 37) % 700, vec![1 + (i % 17) as u16], i % 17 < 12)).collect();
        let mut store = small_store(&terms, &params, &chunks);
        for k in [1, 5, 40] {
            let stats = check(&mut store, &terms, &params, &[], k, &TopkOptions::default());
            assert!(stats.chunks_computed > 0 && stats.chunks_rescored + stats.chunks_confirmed >= k, "{stats:?}");
        }
    }

    #[test]
    fn known_scores_rank_as_given() {
        let (terms, params) = two_terms();
        let mut store = small_store(&terms, &params, &[(1, 10, vec![3, 1], true)]);
        let known = [(7, f64::NAN), (8, 0.0), (9, -0.0), (10, f64::INFINITY)];
        let got = top_k(&terms, &params, 5, &known, &mut store, &TopkOptions::default()).unwrap().hits;
        let ids: Vec<i64> = got.iter().map(|h| h.0).collect();
        assert_eq!(ids, vec![10, 1, 8, 9, 7], "NaN last, -0 ties 0 by id");
    }

    #[test]
    fn parameters_without_bounds_read_everything_and_stay_exact() {
        let mut rng = Rng::new(43);
        for (k1, b, avg_len) in [(20_000.0, 0.4, 10.0), (0.9, 1.5, 10.0), (-0.5, 0.4, 10.0), (0.9, 0.4, 1e-9)] {
            let terms = vec![QueryTerm { idf: 1.5, indexed: true }, QueryTerm { idf: 0.7, indexed: true }];
            let params = ScoreParams { k1, b, avg_len };
            let chunks: Vec<(i64, u32, Vec<u16>, bool)> = (0..150)
                .map(|i| (i, rng.range(1, 900) as u32, vec![rng.below(15) as u16, rng.below(3) as u16], rng.chance(0.9)))
                .collect();
            let mut store = small_store(&terms, &params, &chunks);
            for k in [1, 10, 200] {
                let stats = check(&mut store, &terms, &params, &[], k, &TopkOptions::default());
                assert_eq!((stats.fetch_calls, stats.cells_fetched), (1, 2 * CELLS));
            }
        }
        // Non-finite idf too.
        let terms = vec![QueryTerm { idf: f64::INFINITY, indexed: true }];
        let params = ScoreParams::new(Bm25::default(), 10.0);
        let mut store = small_store(&terms, &params, &[(1, 5, vec![2], true), (2, 5, vec![1], true)]);
        check(&mut store, &terms, &params, &[], 1, &TopkOptions::default());
    }

    #[test]
    fn source_errors_are_returned() {
        let (terms, params) = two_terms();
        let mut store = small_store(&terms, &params, &[(1, 10, vec![3, 1], true)]);
        store.fail_fetch = true;
        assert_eq!(top_k(&terms, &params, 1, &[], &mut store, &TopkOptions::default()), Err(BlockError::Truncated));
    }

    /// Chunks of 8 to 800 lexemes; each of the (common) words occurs in
    /// most chunks, usually once or twice, now and then many times.
    fn common_word_store(rng: &mut Rng, chunks: i64, terms: &[QueryTerm], params: &ScoreParams) -> (Store, usize) {
        let mut docs = Vec::new();
        for id in 0..chunks {
            let dl = ((rng.unit() * 100f64.ln()).exp() * 8.0) as u32;
            let mut tf = || {
                if !rng.chance(0.8) {
                    return 0;
                }
                let mut tf = 1;
                while tf < 255 && rng.chance(0.45) {
                    tf += 1;
                }
                tf
            };
            let tfs: Vec<u16> = terms.iter().map(|_| tf()).collect();
            docs.push((id, dl, tfs, true));
        }
        store_of(terms, params, &docs)
    }

    /// A larger Zipf corpus and a query of `words` (ranks), for tuning.
    fn zipf_store(rng: &mut Rng, chunks: i64, vocab: u64, words: &[u64], params: &ScoreParams) -> (Store, Vec<QueryTerm>, usize) {
        let mut docs = Vec::new();
        let mut df = vec![0usize; words.len()];
        for id in 0..chunks {
            let tokens = ((rng.unit() * 400f64.ln()).exp() as u64).max(1) + 20;
            let mut counts: HashMap<u64, u16> = HashMap::new();
            for _ in 0..tokens {
                *counts.entry(rng.zipf(vocab)).or_default() += 1;
            }
            let tfs: Vec<u16> = words.iter().map(|w| counts.get(w).copied().unwrap_or(0).min(255)).collect();
            for (t, _) in tfs.iter().enumerate().filter(|(_, tf)| **tf > 0) {
                df[t] += 1;
            }
            docs.push((id, counts.len() as u32, tfs, true));
        }
        let terms: Vec<QueryTerm> = df.iter().map(|&d| QueryTerm { idf: bm25_idf(d as f64, chunks as f64), indexed: true }).collect();
        let (store, total) = store_of(&terms, params, &docs);
        (store, terms, total)
    }

    /// Cost in µs under a rough model of the extension (the one the default
    /// options were tuned with): 100 µs a call, 0.05 µs a posting read, 5 µs
    /// a chunk rescored.
    fn cost(s: &TopkStats) -> f64 {
        (s.fetch_calls + s.rescore_calls) as f64 * 100.0 + s.postings_decoded as f64 * 0.05 + s.chunks_rescored as f64 * 5.0
    }

    /// The work of the default options on synthetic corpora (50,000 chunks
    /// with five common words; 30,000 Zipf chunks with queries of common,
    /// mixed and rare words), in release mode:
    /// `cargo test --release -p rag_core report_work -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn report_work() {
        let params = ScoreParams::new(Bm25::default(), 120.0);
        let mut benches: Vec<(String, Store, Vec<QueryTerm>, usize)> = Vec::new();
        let idf = bm25_idf(40_000.0, 50_000.0);
        let common = vec![QueryTerm { idf, indexed: true }; 5];
        let (store, total) = common_word_store(&mut Rng::new(44), 50_000, &common, &params);
        benches.push(("common5".into(), store, common, total));
        let mut rng = Rng::new(45);
        for words in [vec![0, 1, 2, 3], vec![2, 40, 300, 5000], vec![5, 17], vec![1], vec![0, 3, 9, 27, 81, 243, 729, 2187]] {
            let (store, terms, total) = zipf_store(&mut rng, 30_000, 20_000, &words, &params);
            benches.push((format!("zipf{words:?}"), store, terms, total));
        }
        for (name, store, terms, total) in &mut benches {
            for k in [1, 10, 50] {
                let mut took = std::time::Duration::MAX;
                let mut s = TopkStats::default();
                for _ in 0..5 {
                    store.reset(&[]);
                    let started = std::time::Instant::now();
                    let got = top_k(terms, &params, k, &[], store, &TopkOptions::default()).unwrap();
                    took = took.min(started.elapsed());
                    s = got.stats;
                }
                eprintln!("{name}/k{k}: {took:?} cpu, model {:.0}µs, {:.2} of {total} postings, {s:?}", cost(&s), s.postings_decoded as f64 / *total as f64);
            }
        }
    }

    #[test]
    fn common_words_read_a_fraction_of_their_postings() {
        let mut rng = Rng::new(44);
        // df 80% of 50,000 chunks: idf ≈ 0.22 each.
        let idf = bm25_idf(40_000.0, 50_000.0);
        let terms = vec![QueryTerm { idf, indexed: true }; 5];
        let params = ScoreParams::new(Bm25::default(), 120.0);
        let (mut store, total) = common_word_store(&mut rng, 50_000, &terms, &params);
        // The top 10 of 50,000 from a seventh of the postings (the top 50
        // from a third), a few round trips, a hundred-odd chunks rescored.
        for (k, most) in [(1, 0.25), (10, 0.25), (50, 0.5)] {
            let stats = check(&mut store, &terms, &params, &[], k, &TopkOptions::default());
            let share = stats.postings_decoded as f64 / total as f64;
            assert!(share < most, "k {k}: read {share:.3} of the postings: {stats:?}");
            assert!(stats.fetch_calls + stats.rescore_calls <= 8, "{stats:?}");
            assert!(stats.chunks_rescored <= 4 * k + 100, "{stats:?}");
        }
    }
}
