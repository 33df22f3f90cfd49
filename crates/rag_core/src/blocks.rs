//! Blocks of postings: the byte format the extension stores per
//! `(lexeme, cell, block)` row, and the planning of block maintenance.
//!
//! A block holds up to [`BLOCK_POSTINGS`] postings of one (lexeme, cell),
//! sorted by chunk id. Format (version 1): `u8 version`, `varint n`, then
//! for n > 0: the first chunk id (zigzag varint), the n − 1 id deltas
//! (varints), n tf bytes (saturated at 255, PostgreSQL's cap), n dl varints.
//! Varints are LEB128. About 3–4 bytes per posting.
//!
//! Blocks of a cell need not partition the id space: chunks committed late
//! may add ids below existing ones to the last block or to a new block, and
//! a search merges all blocks of a cell. Each block row should carry its
//! [`BlockMeta`] (first and last id, count) as columns, so maintenance can
//! find the blocks to rewrite without decoding the others:
//! [`blocks_to_read`] names them, [`plan_merge`] computes the writes.

use std::collections::HashSet;
use std::fmt;

use crate::postings::Posting;

/// Most postings in one block.
pub const BLOCK_POSTINGS: usize = 256;

const VERSION: u8 = 1;

/// Why bytes are not a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// An unknown format version (the first byte), or no byte at all.
    Version(Option<u8>),
    /// The bytes end inside the block.
    Truncated,
    /// A varint or an id out of range.
    Overflow,
    /// Bytes after the last posting.
    Trailing(usize),
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::Version(Some(v)) => write!(f, "postings block of unknown version {v}"),
            BlockError::Version(None) => write!(f, "empty postings block"),
            BlockError::Truncated => write!(f, "truncated postings block"),
            BlockError::Overflow => write!(f, "postings block with a number out of range"),
            BlockError::Trailing(n) => write!(f, "postings block with {n} trailing bytes"),
        }
    }
}

impl std::error::Error for BlockError {}

/// Encodes postings (any number; sorted by chunk id here, ties kept in
/// their order) into block bytes.
pub fn encode_block(postings: &[Posting]) -> Vec<u8> {
    let mut sorted = postings.to_vec();
    sorted.sort_by_key(|p| p.chunk_id);
    let mut out = Vec::with_capacity(2 + sorted.len() * 4);
    out.push(VERSION);
    put_varint(&mut out, sorted.len() as u64);
    let mut prev: Option<i64> = None;
    for p in &sorted {
        match prev {
            None => put_varint(&mut out, zigzag(p.chunk_id)),
            Some(prev) => put_varint(&mut out, p.chunk_id.wrapping_sub(prev) as u64),
        }
        prev = Some(p.chunk_id);
    }
    out.extend(sorted.iter().map(|p| p.tf.min(255) as u8));
    for p in &sorted {
        put_varint(&mut out, u64::from(p.dl));
    }
    out
}

/// Decodes block bytes; corrupted or truncated input is an error, never a
/// panic.
pub fn decode_block(bytes: &[u8]) -> Result<Vec<Posting>, BlockError> {
    match bytes.first() {
        Some(&VERSION) => {}
        other => return Err(BlockError::Version(other.copied())),
    }
    let mut r = Reader { bytes, at: 1 };
    let n = r.varint()?;
    // Each posting takes at least three bytes: no allocation beyond input.
    if n > (bytes.len() - r.at) as u64 / 3 {
        return Err(BlockError::Truncated);
    }
    let n = n as usize;
    let mut ids = Vec::with_capacity(n);
    let mut prev: Option<i64> = None;
    for _ in 0..n {
        let id = match prev {
            None => unzigzag(r.varint()?),
            Some(prev) => {
                prev.checked_add_unsigned(r.varint()?).ok_or(BlockError::Overflow)?
            }
        };
        ids.push(id);
        prev = Some(id);
    }
    let tfs = r.take(n)?;
    let mut out = Vec::with_capacity(n);
    for (id, &tf) in ids.into_iter().zip(tfs) {
        let dl = u32::try_from(r.varint()?).map_err(|_| BlockError::Overflow)?;
        out.push(Posting { chunk_id: id, tf: u16::from(tf), dl });
    }
    match bytes.len() - r.at {
        0 => Ok(out),
        rest => Err(BlockError::Trailing(rest)),
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, BlockError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let &byte = self.bytes.get(self.at).ok_or(BlockError::Truncated)?;
            self.at += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(BlockError::Overflow);
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BlockError::Overflow)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        let end = self.at.checked_add(n).ok_or(BlockError::Truncated)?;
        let out = self.bytes.get(self.at..end).ok_or(BlockError::Truncated)?;
        self.at = end;
        Ok(out)
    }
}

/// What maintenance needs to know of a stored block without decoding it:
/// store these as columns of the block row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    pub block: i32,
    /// Lowest and highest chunk id in the block.
    pub first_id: i64,
    pub last_id: i64,
    /// Number of postings (1..=BLOCK_POSTINGS).
    pub count: u16,
}

impl BlockMeta {
    /// The metadata of a block holding `postings`; None when empty.
    pub fn of(block: i32, postings: &[Posting]) -> Option<BlockMeta> {
        let first_id = postings.iter().map(|p| p.chunk_id).min()?;
        let last_id = postings.iter().map(|p| p.chunk_id).max()?;
        Some(BlockMeta { block, first_id, last_id, count: postings.len().min(usize::from(u16::MAX)) as u16 })
    }
}

/// The blocks of one (lexeme, cell) that [`plan_merge`] must be given,
/// ascending: every block whose id range holds a removed id, and the last
/// block (highest number) when postings are added and it has room.
pub fn blocks_to_read(blocks: &[BlockMeta], adding: bool, removing: &[i64]) -> Vec<i32> {
    let mut removing = removing.to_vec();
    removing.sort_unstable();
    let last = blocks.iter().max_by_key(|m| m.block);
    let mut out: Vec<i32> = blocks
        .iter()
        .filter(|m| {
            let from = removing.partition_point(|&id| id < m.first_id);
            removing.get(from).is_some_and(|&id| id <= m.last_id)
        })
        .map(|m| m.block)
        .collect();
    if let Some(last) = last.filter(|m| adding && usize::from(m.count) < BLOCK_POSTINGS) {
        out.push(last.block);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// One block to store (insert or replace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockWrite {
    pub meta: BlockMeta,
    pub data: Vec<u8>,
}

/// The changes of one (lexeme, cell): blocks to store and blocks to delete
/// (they became empty), both ascending by block number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergePlan {
    pub writes: Vec<BlockWrite>,
    pub deletes: Vec<i32>,
}

/// Why a merge cannot be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// A block [`blocks_to_read`] names was not given.
    MissingBlock(i32),
    /// A given block is not among the block metadata.
    UnknownBlock(i32),
    /// No block number is left after the highest.
    BlockNumbers,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::MissingBlock(b) => write!(f, "postings block {b} must be read to merge"),
            MergeError::UnknownBlock(b) => write!(f, "postings block {b} is not in the block list"),
            MergeError::BlockNumbers => write!(f, "postings block numbers exhausted"),
        }
    }
}

impl std::error::Error for MergeError {}

/// Plans the changes of one (lexeme, cell): `blocks` is the metadata of all
/// its stored blocks, `read` the decoded blocks [`blocks_to_read`] named
/// (more may be given), `add` the new postings and `remove` the chunk ids
/// whose postings go. Removals apply first (from every given block holding
/// the id), so an updated chunk is removed and added in one merge; then the
/// added postings (one per chunk id, the last given) fill the last block up
/// to [`BLOCK_POSTINGS`], sorted together with its postings, and the rest
/// go to new blocks numbered after the highest. Blocks left empty are
/// deleted; unchanged blocks are not written.
pub fn plan_merge(
    blocks: &[BlockMeta],
    read: Vec<(i32, Vec<Posting>)>,
    add: &[Posting],
    remove: &[i64],
) -> Result<MergePlan, MergeError> {
    let given: HashSet<i32> = read.iter().map(|(b, _)| *b).collect();
    if let Some(&missing) = blocks_to_read(blocks, !add.is_empty(), remove).iter().find(|b| !given.contains(b)) {
        return Err(MergeError::MissingBlock(missing));
    }
    if let Some((unknown, _)) = read.iter().find(|(b, _)| !blocks.iter().any(|m| m.block == *b)) {
        return Err(MergeError::UnknownBlock(*unknown));
    }
    let last = blocks.iter().map(|m| m.block).max();
    let removed: HashSet<i64> = remove.iter().copied().collect();
    let mut changed: Vec<(i32, Vec<Posting>)> = Vec::new();
    let mut last_block: Option<Vec<Posting>> = None;
    for (block, mut postings) in read {
        let before = postings.len();
        postings.retain(|p| !removed.contains(&p.chunk_id));
        if Some(block) == last {
            last_block = Some(postings);
        } else if postings.len() != before {
            changed.push((block, postings));
        }
    }

    // Added postings, one per chunk id (the last given wins), by id.
    let mut adds: Vec<Posting> = add.iter().rev().copied().collect();
    adds.sort_by_key(|p| p.chunk_id);
    adds.dedup_by_key(|p| p.chunk_id);
    let mut next = match last {
        Some(b) => b.checked_add(1),
        None => Some(0),
    };
    // Without the last block (full, or none) the additions go to new blocks.
    if let (Some(b), Some(mut postings)) = (last, last_block) {
        let unchanged = adds.is_empty() && blocks.iter().any(|m| m.block == b && usize::from(m.count) == postings.len());
        if !unchanged {
            let added: HashSet<i64> = adds.iter().map(|p| p.chunk_id).collect();
            postings.retain(|p| !added.contains(&p.chunk_id));
            postings.append(&mut adds);
            postings.sort_by_key(|p| p.chunk_id);
            let rest = postings.split_off(postings.len().min(BLOCK_POSTINGS));
            changed.push((b, postings));
            adds = rest;
        }
    }
    for piece in adds.chunks(BLOCK_POSTINGS) {
        let block = next.ok_or(MergeError::BlockNumbers)?;
        changed.push((block, piece.to_vec()));
        next = block.checked_add(1);
    }

    let mut plan = MergePlan::default();
    changed.sort_by_key(|(b, _)| *b);
    for (block, postings) in changed {
        match BlockMeta::of(block, &postings) {
            Some(meta) => plan.writes.push(BlockWrite { meta, data: encode_block(&postings) }),
            None => plan.deletes.push(block),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemCell as Cell, Rng};
    use std::collections::BTreeMap;

    fn post(chunk_id: i64, tf: u16, dl: u32) -> Posting {
        Posting { chunk_id, tf, dl }
    }

    fn random_postings(rng: &mut Rng, n: usize) -> Vec<Posting> {
        let mut id = if rng.chance(0.1) { i64::MIN + rng.below(1000) as i64 } else { rng.below(1 << 40) as i64 - (1 << 39) };
        (0..n)
            .map(|_| {
                id = id.saturating_add(match rng.below(4) {
                    0 => 1,
                    1 => rng.below(100) as i64 + 1,
                    2 => rng.below(1 << 30) as i64 + 1,
                    _ => rng.below(u64::MAX >> 3) as i64,
                });
                let tf = if rng.chance(0.9) { rng.range(1, 12) } else { rng.range(1, 255) } as u16;
                let dl = if rng.chance(0.9) { rng.range(1, 2000) as u32 } else { rng.next_u64() as u32 };
                post(id, tf, dl)
            })
            .collect()
    }

    #[test]
    fn blocks_round_trip() {
        let mut rng = Rng::new(31);
        for _ in 0..2000 {
            let n = rng.below(BLOCK_POSTINGS as u64 + 1) as usize;
            let postings = random_postings(&mut rng, n);
            let bytes = encode_block(&postings);
            assert_eq!(decode_block(&bytes), Ok(postings.clone()));
            if n > 0 {
                assert!(bytes.len() <= 2 + n * 16);
            }
        }
        // Extremes, unsorted input, tf saturation.
        let edge = vec![post(i64::MAX, 255, u32::MAX), post(i64::MIN, 300, 0), post(0, 1, 1)];
        let want = vec![post(i64::MIN, 255, 0), post(0, 1, 1), post(i64::MAX, 255, u32::MAX)];
        assert_eq!(decode_block(&encode_block(&edge)), Ok(want));
        assert_eq!(decode_block(&encode_block(&[])), Ok(vec![]));
    }

    #[test]
    fn blocks_are_compact() {
        // 256 consecutive-ish ids, small tf and dl: about 3 bytes a posting.
        let postings: Vec<Posting> = (0..256).map(|i| post(1_000_000 + 3 * i, 1 + (i % 3) as u16, 40 + i as u32 % 80)).collect();
        let bytes = encode_block(&postings);
        assert!(bytes.len() <= 3 * 256 + 8, "{}", bytes.len());
    }

    #[test]
    fn corrupted_blocks_are_errors_not_panics() {
        let mut rng = Rng::new(32);
        assert_eq!(decode_block(&[]), Err(BlockError::Version(None)));
        assert_eq!(decode_block(&[2, 0]), Err(BlockError::Version(Some(2))));
        assert_eq!(decode_block(&[1]), Err(BlockError::Truncated));
        assert_eq!(decode_block(&[1, 0, 0]), Err(BlockError::Trailing(1)));
        // A count far beyond the bytes does not allocate.
        assert_eq!(decode_block(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]), Err(BlockError::Truncated));
        // An 11-byte varint, and a delta that overflows the id.
        assert_eq!(decode_block(&[1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), Err(BlockError::Overflow));
        let mut over = encode_block(&[post(i64::MAX - 1, 1, 1), post(i64::MAX, 1, 1)]);
        over[12] = 2; // first id i64::MAX - 1 takes 10 bytes (at 2..12), then delta 1 → 2
        assert_eq!(decode_block(&over), Err(BlockError::Overflow));
        let mut errors = 0;
        for _ in 0..20000 {
            let n = rng.below(40) as usize;
            let bytes = encode_block(&random_postings(&mut rng, n));
            // Every strict prefix is an error.
            let cut = rng.below(bytes.len() as u64) as usize;
            assert!(decode_block(&bytes[..cut]).is_err(), "prefix {cut} of {bytes:?}");
            // Flipped bytes decode to something or fail, never panic.
            let mut noisy = bytes.clone();
            for _ in 0..rng.range(1, 4) {
                let at = rng.below(noisy.len() as u64) as usize;
                noisy[at] ^= 1 << rng.below(8);
            }
            errors += decode_block(&noisy).is_err() as usize;
            // Random bytes.
            let junk: Vec<u8> = (0..rng.below(64)).map(|i| if i == 0 { 1 } else { rng.next_u64() as u8 }).collect();
            let _ = decode_block(&junk);
        }
        assert!(errors > 5000, "{errors}");
    }

    #[test]
    fn merges_keep_blocks_bounded_sorted_and_complete() {
        let mut rng = Rng::new(33);
        for case in 0..300 {
            let mut cell = Cell::default();
            let mut want: BTreeMap<i64, Posting> = BTreeMap::new();
            let mut next_id = 1000i64;
            for _ in 0..rng.range(1, 25) {
                // New chunks, some committed late with lower ids, some updates.
                let mut add = Vec::new();
                let adds = if rng.chance(0.2) { 700 } else { 60 };
                for _ in 0..rng.below(adds) {
                    let id = if rng.chance(0.15) {
                        rng.below(next_id as u64) as i64
                    } else {
                        next_id += rng.range(1, 3) as i64;
                        next_id
                    };
                    add.push(post(id, rng.range(1, 9) as u16, rng.range(1, 600) as u32));
                }
                let existing: Vec<i64> = want.keys().copied().collect();
                // Adding a stored id is an update: the shell removes it too.
                let mut remove: Vec<i64> = add.iter().map(|p| p.chunk_id).filter(|id| want.contains_key(id)).collect();
                let removes = if rng.chance(0.2) { 400 } else { 30 };
                for _ in 0..rng.below(removes) {
                    if let Some(&id) = existing.get(rng.below(existing.len() as u64) as usize) {
                        remove.push(id);
                    }
                }
                remove.push(-5); // not stored: ignored
                let plan = cell.merge(&add, &remove);
                for id in &remove {
                    want.remove(id);
                }
                for p in &add {
                    want.insert(p.chunk_id, *p);
                }
                // The writes describe themselves.
                for w in &plan.writes {
                    assert_eq!(BlockMeta::of(w.meta.block, &decode_block(&w.data).unwrap()), Some(w.meta));
                }
                assert_eq!(cell.all(), want.values().copied().collect::<Vec<_>>(), "case {case}");
                for postings in cell.0.values() {
                    assert!(!postings.is_empty() && postings.len() <= BLOCK_POSTINGS);
                    assert!(postings.windows(2).all(|w| w[0].chunk_id < w[1].chunk_id));
                }
            }
        }
    }

    #[test]
    fn appends_fill_the_last_block_then_open_new_ones() {
        let mut cell = Cell::default();
        let first: Vec<Posting> = (0..300).map(|i| post(i, 1, 10)).collect();
        let plan = cell.merge(&first, &[]);
        assert_eq!(plan.writes.iter().map(|w| (w.meta.block, w.meta.count)).collect::<Vec<_>>(), vec![(0, 256), (1, 44)]);
        // A late id below everything goes to the last block.
        let plan = cell.merge(&[post(-1, 2, 3)], &[]);
        assert_eq!(plan.writes.len(), 1);
        assert_eq!((plan.writes[0].meta.block, plan.writes[0].meta.first_id, plan.writes[0].meta.count), (1, -1, 45));
        // Removing an id reads only the blocks whose range holds it.
        let metas = cell.metas();
        assert_eq!(blocks_to_read(&metas, false, &[5]), vec![0, 1], "block 1 spans -1..=299");
        assert_eq!(blocks_to_read(&metas, false, &[1000]), Vec::<i32>::new());
        assert_eq!(blocks_to_read(&metas, true, &[]), vec![1]);
        let plan = cell.merge(&[], &[5]);
        assert_eq!(plan.writes.iter().map(|w| (w.meta.block, w.meta.count)).collect::<Vec<_>>(), vec![(0, 255)]);
        // A full last block is not read: appends open a new block.
        cell.merge(&(1000..1211).map(|i| post(i, 1, 10)).collect::<Vec<_>>(), &[]);
        assert_eq!(cell.metas().last().map(|m| (m.block, m.count)), Some((1, 256)));
        assert_eq!(blocks_to_read(&cell.metas(), true, &[]), Vec::<i32>::new());
        let plan = cell.merge(&[post(5000, 1, 1)], &[]);
        assert_eq!(plan.writes.iter().map(|w| (w.meta.block, w.meta.count)).collect::<Vec<_>>(), vec![(2, 1)]);
        // Emptied blocks are deleted.
        assert_eq!(blocks_to_read(&cell.metas(), false, &[5000]), vec![2]);
        let plan = cell.merge(&[], &[5000]);
        assert_eq!((plan.writes.len(), plan.deletes.clone()), (0, vec![2]));
        let all: Vec<i64> = cell.all().iter().map(|p| p.chunk_id).collect();
        let plan = cell.merge(&[], &all);
        assert_eq!(plan.deletes, vec![0, 1]);
        assert!(cell.0.is_empty());
        // An update is a removal and an addition in one merge.
        cell.merge(&[post(1, 1, 1)], &[]);
        cell.merge(&[post(1, 2, 2)], &[1]);
        assert_eq!(cell.all(), vec![post(1, 2, 2)]);
    }

    #[test]
    fn merge_refuses_missing_or_unknown_blocks() {
        let metas = [BlockMeta { block: 0, first_id: 1, last_id: 9, count: 3 }, BlockMeta { block: 4, first_id: 5, last_id: 20, count: 2 }];
        let b0 = vec![post(1, 1, 1), post(5, 1, 1), post(9, 1, 1)];
        assert_eq!(plan_merge(&metas, vec![], &[post(30, 1, 1)], &[]), Err(MergeError::MissingBlock(4)));
        assert_eq!(plan_merge(&metas, vec![(4, vec![])], &[], &[5]), Err(MergeError::MissingBlock(0)));
        assert_eq!(plan_merge(&metas, vec![(7, vec![])], &[], &[]), Err(MergeError::UnknownBlock(7)));
        // Nothing to do: nothing to read, nothing written.
        assert_eq!(plan_merge(&metas, vec![], &[], &[100]), Ok(MergePlan::default()));
        // A given block that does not change is not written.
        assert_eq!(plan_merge(&metas, vec![(0, b0)], &[], &[]), Ok(MergePlan::default()));
        let full = [BlockMeta { block: i32::MAX, first_id: 1, last_id: 300, count: BLOCK_POSTINGS as u16 }];
        assert_eq!(plan_merge(&full, vec![], &[post(400, 1, 1)], &[]), Err(MergeError::BlockNumbers));
    }
}
