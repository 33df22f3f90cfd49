//! Maintenance of the postings (sql/postings.sql): merging pending chunks
//! into blocks and removing deleted chunks from them.
//!
//! The decisions — cells, block layout, what to rewrite — are
//! rag_core::postings and rag_core::blocks; this module reads and writes
//! the rows. Everything runs as the extension's owner (the postings are its
//! bookkeeping and the chunks must be read whatever row-level security
//! says).

use std::collections::{HashMap, HashSet};

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rag_core::blocks::{decode_block, plan_merge, BlockMeta, MergePlan, BLOCK_POSTINGS};
use rag_core::postings::{cell_of, lexeme_postings, promotion_groups, Posting};

use crate::error::{raise, OrRaise};
use crate::security::as_extension_owner;
use crate::sql_types::TsVectorBytes;
use crate::queries;

/// A merge is due once this many chunks are pending (or deleted chunks
/// wait): searches score pending chunks one by one, merging costs about one
/// block write per touched (lexeme, cell).
pub const MERGE_DUE_CHUNKS: i64 = 256;
/// Most pending chunks one batch of a merge takes (bounds its memory: ~80
/// postings a chunk).
const MERGE_MAX_CHUNKS: i64 = 20_000;
/// Lexemes found in more chunks than this get postings; searches take the
/// chunks of rarer ones from the tsvector GIN index.
pub const INDEXED_MIN_DF: i64 = 64;
/// Blocks one merge examines when removing deleted chunks.
const REMOVAL_SLICE_BLOCKS: i64 = 4096;

#[pg_schema]
mod rag_search {
    use pgrx::prelude::*;

    /// Merges every pending chunk into the postings (in batches of 20,000)
    /// and removes a slice of deleted chunks from the blocks per batch.
    /// With `due_only`, does nothing until enough is pending. Returns the
    /// number of chunks merged; 0 also when another transaction is
    /// merging. Run by the statement triggers on the chunks; callable by the
    /// extension's owner.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn postings_merge(due_only: default!(bool, "false")) -> i64 {
        crate::security::require_writable("rag_search.postings_merge()");
        super::merge(due_only)
    }
}

/// See `rag_search.postings_merge`.
pub fn merge(due_only: bool) -> i64 {
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let locked = client
                .select(queries::POSTINGS_MERGE_LOCK, None, &[])
                .or_raise("lock postings")
                .first()
                .get_one::<bool>()
                .or_raise("lock postings")
                .unwrap_or(false);
            if !locked {
                return 0;
            }
            // Batches of at most MERGE_MAX_CHUNKS, until nothing is due.
            let mut merged = 0i64;
            loop {
                let args: [DatumWithOid; 2] = [MERGE_MAX_CHUNKS.into(), MERGE_DUE_CHUNKS.into()];
                let row =
                    client.select(queries::POSTINGS_PENDING_BATCH, None, &args).or_raise("read pending chunks").first();
                let batch = row.get_by_name::<Vec<i64>, _>("batch").or_raise("read pending chunks").unwrap_or_default();
                let pending = row.get_by_name::<i64, _>("pending").or_raise("read pending chunks").unwrap_or(0);
                let removal_due =
                    row.get_by_name::<bool, _>("removal_due").or_raise("read pending chunks").unwrap_or(false);
                let merge_due = !batch.is_empty() && (!due_only || pending >= MERGE_DUE_CHUNKS);
                if !merge_due && !removal_due {
                    return merged;
                }
                if merge_due {
                    merge_batch(client, &batch);
                    merged += batch.len() as i64;
                }
                if removal_due {
                    remove_deleted_slice(client);
                }
                // Another round only after a full batch: more may be pending.
                if !merge_due || (batch.len() as i64) < MERGE_MAX_CHUNKS {
                    return merged;
                }
            }
        })
    })
}

/// Chunks `(id, tsvector payload)` fetched by `sql` with `args`.
fn chunk_tsvectors(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid]) -> Vec<(i64, Vec<u8>)> {
    let rows = client.select(sql, None, args).or_raise("read chunk tsvectors");
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.get_by_name::<i64, _>("id").or_raise("read chunk tsvectors");
        let tsv = row.get_by_name::<TsVectorBytes, _>("tsv").or_raise("read chunk tsvectors");
        if let (Some(id), Some(tsv)) = (id, tsv) {
            out.push((id, tsv.0));
        }
    }
    out
}

type CellKey = (String, u16);

/// Adds the postings of the chunks of `batch` to the blocks of the
/// indexed lexemes (and of lexemes that become indexed now, with the
/// postings of every merged chunk containing them), then marks the batch
/// merged.
fn merge_batch(client: &mut SpiClient<'_>, batch: &[i64]) {
    let args: [DatumWithOid; 1] = [batch.to_vec().into()];
    let chunks = chunk_tsvectors(client, queries::POSTINGS_CHUNK_TSVECTORS, &args);
    let groups = lexeme_postings(chunks.iter().map(|(id, tsv)| (*id, tsv.as_slice())), None);

    // Lexemes of the batch: indexed already, to index now, or left to the
    // GIN index.
    let lexemes: Vec<String> = groups.iter().map(|(l, _)| String::from_utf8_lossy(l).into_owned()).collect();
    let args: [DatumWithOid; 1] = [lexemes.clone().into()];
    let mut indexed: HashSet<String> = HashSet::new();
    let mut df_of: HashMap<String, i64> = HashMap::new();
    for row in client.select(queries::POSTINGS_LEXEME_STATE, None, &args).or_raise("read lexeme state") {
        let lexeme = row.get_by_name::<String, _>("lexeme").or_raise("read lexeme state").unwrap_or_default();
        if row.get_by_name::<bool, _>("indexed").or_raise("read lexeme state").unwrap_or(false) {
            indexed.insert(lexeme);
        } else {
            let df = row.get_by_name::<i64, _>("df").or_raise("read lexeme state").unwrap_or(0);
            df_of.insert(lexeme, df);
        }
    }
    let mut adds: HashMap<CellKey, Vec<Posting>> = HashMap::new();
    let mut promote: Vec<&[u8]> = Vec::new();
    let mut promote_df: Vec<i64> = Vec::new();
    for ((lexeme_bytes, postings), lexeme) in groups.iter().zip(lexemes) {
        let keep = if indexed.contains(&lexeme) {
            true
        } else {
            // The folded statistics may or may not count this batch yet:
            // promoting a little early costs nothing but a few rows.
            let df = df_of.get(&lexeme).copied().unwrap_or(0);
            let promoted = df + postings.len() as i64 > INDEXED_MIN_DF;
            if promoted {
                promote.push(lexeme_bytes);
                promote_df.push(df);
            }
            promoted
        };
        if keep {
            add_by_cell(&mut adds, &lexeme, postings);
        }
    }
    // `groups` is in lexeme order, so `promote` and each group of it are too.
    for range in promotion_groups(&promote_df) {
        let group = &promote[range];
        let tsq = group
            .iter()
            .map(|l| crate::search::retrieve::tsquery_literal(&String::from_utf8_lossy(l)))
            .collect::<Vec<_>>()
            .join(" | ");
        let args: [DatumWithOid; 2] = [tsq.into(), batch.to_vec().into()];
        let merged = chunk_tsvectors(client, queries::POSTINGS_PROMOTION_CHUNKS, &args);
        for (lexeme, postings) in lexeme_postings(merged.iter().map(|(id, tsv)| (*id, tsv.as_slice())), Some(group)) {
            add_by_cell(&mut adds, &String::from_utf8_lossy(lexeme), &postings);
        }
    }
    append(client, adds);
    let args: [DatumWithOid; 1] = [batch.to_vec().into()];
    client.update(queries::POSTINGS_PENDING_DONE, None, &args).or_raise("mark chunks merged");
}

/// Adds `postings` of `lexeme` to the cells they belong to.
fn add_by_cell(adds: &mut HashMap<CellKey, Vec<Posting>>, lexeme: &str, postings: &[Posting]) {
    let mut by_cell: HashMap<u16, Vec<Posting>> = HashMap::new();
    for p in postings {
        by_cell.entry(cell_of(p.tf, p.dl)).or_default().push(*p);
    }
    for (cell, postings) in by_cell {
        adds.entry((lexeme.to_string(), cell)).or_default().extend(postings);
    }
}

/// A stored block as read with its metadata.
struct StoredBlock {
    key: CellKey,
    meta: BlockMeta,
    data: Vec<u8>,
}

fn read_blocks(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid]) -> Vec<StoredBlock> {
    let ctx = "read postings blocks";
    let rows = client.select(sql, None, args).or_raise(ctx);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let lexeme = row.get_by_name::<String, _>("lexeme").or_raise(ctx).unwrap_or_default();
        let cell = row.get_by_name::<i16, _>("cell").or_raise(ctx).unwrap_or(0);
        let block = row.get_by_name::<i32, _>("block").or_raise(ctx).unwrap_or(0);
        let first_id = row.get_by_name::<i64, _>("first_id").or_raise(ctx).unwrap_or(0);
        let last_id = row.get_by_name::<i64, _>("last_id").or_raise(ctx).unwrap_or(0);
        let n = row.get_by_name::<i32, _>("n").or_raise(ctx).unwrap_or(0);
        let data = row.get_by_name::<Vec<u8>, _>("data").or_raise(ctx).unwrap_or_default();
        let count = u16::try_from(n.max(0)).unwrap_or(u16::MAX);
        out.push(StoredBlock {
            key: (lexeme, cell.max(0) as u16),
            meta: BlockMeta { block, first_id, last_id, count },
            data,
        });
    }
    out
}

fn decoded(block: &StoredBlock) -> Vec<Posting> {
    match decode_block(&block.data) {
        Ok(p) => p,
        Err(e) => raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("postings of \"{}\" (cell {}, block {}): {e}", block.key.0, block.key.1, block.meta.block),
            "Rebuild them: SELECT rag_search.postings_rebuild();",
        ),
    }
}

/// Appends postings to the last block of each (lexeme, cell), opening new
/// blocks as they fill.
fn append(client: &mut SpiClient<'_>, adds: HashMap<CellKey, Vec<Posting>>) {
    if adds.is_empty() {
        return;
    }
    let (lexemes, cells): (Vec<String>, Vec<i16>) = adds.keys().map(|(l, c)| (l.clone(), *c as i16)).unzip();
    let args: [DatumWithOid; 2] = [lexemes.into(), cells.into()];
    let mut last: HashMap<CellKey, StoredBlock> =
        read_blocks(client, queries::POSTINGS_LAST_BLOCKS, &args).into_iter().map(|b| (b.key.clone(), b)).collect();
    let mut writes = Writes::default();
    for (key, postings) in adds {
        // A full last block is left as it is: new blocks follow it.
        let plan = match last.remove(&key) {
            Some(block) if usize::from(block.meta.count) < BLOCK_POSTINGS => {
                let read = vec![(block.meta.block, decoded(&block))];
                plan_merge(&[block.meta], read, &postings, &[])
            }
            Some(block) => plan_merge(&[block.meta], Vec::new(), &postings, &[]),
            None => plan_merge(&[], Vec::new(), &postings, &[]),
        };
        match plan {
            Ok(plan) => writes.add(&key, plan),
            Err(e) => crate::error::internal(format!("rag_search: postings merge: {e}")),
        }
    }
    writes.execute(client);
}

/// Block writes and deletions of one merge, executed as two statements.
#[derive(Default)]
struct Writes {
    lexemes: Vec<String>,
    cells: Vec<i16>,
    blocks: Vec<i32>,
    first_ids: Vec<i64>,
    last_ids: Vec<i64>,
    counts: Vec<i32>,
    data: Vec<Vec<u8>>,
    deleted: Vec<(String, i16, i32)>,
}

impl Writes {
    fn add(&mut self, key: &CellKey, plan: MergePlan) {
        for w in plan.writes {
            self.lexemes.push(key.0.clone());
            self.cells.push(key.1 as i16);
            self.blocks.push(w.meta.block);
            self.first_ids.push(w.meta.first_id);
            self.last_ids.push(w.meta.last_id);
            self.counts.push(i32::from(w.meta.count));
            self.data.push(w.data);
        }
        for block in plan.deletes {
            self.deleted.push((key.0.clone(), key.1 as i16, block));
        }
    }

    fn execute(self, client: &mut SpiClient<'_>) {
        if !self.lexemes.is_empty() {
            let args: [DatumWithOid; 7] = [
                self.lexemes.into(),
                self.cells.into(),
                self.blocks.into(),
                self.first_ids.into(),
                self.last_ids.into(),
                self.counts.into(),
                self.data.into(),
            ];
            client.update(queries::POSTINGS_WRITE, None, &args).or_raise("write postings");
        }
        if !self.deleted.is_empty() {
            let lexemes: Vec<String> = self.deleted.iter().map(|d| d.0.clone()).collect();
            let cells: Vec<i16> = self.deleted.iter().map(|d| d.1).collect();
            let blocks: Vec<i32> = self.deleted.iter().map(|d| d.2).collect();
            let args: [DatumWithOid; 3] = [lexemes.into(), cells.into(), blocks.into()];
            client.update(queries::POSTINGS_DELETE_BLOCKS, None, &args).or_raise("delete postings blocks");
        }
    }
}

/// Removes deleted chunks from the next slice of blocks of the current
/// removal pass (starting one if none is under way); the deleted chunks a
/// pass covers are forgotten when it has walked every block.
fn remove_deleted_slice(client: &mut SpiClient<'_>) {
    let ctx = "remove deleted chunks from postings";
    let row = client.update(queries::POSTINGS_REMOVAL_START, None, &[]).or_raise(ctx).first();
    let cursor_lexeme = row.get_by_name::<String, _>("gc_lexeme").or_raise(ctx);
    let cursor_cell = row.get_by_name::<i16, _>("gc_cell").or_raise(ctx);
    let cursor_block = row.get_by_name::<i32, _>("gc_block").or_raise(ctx);
    let mut dead = row.get_by_name::<Vec<i64>, _>("dead").or_raise(ctx).unwrap_or_default();
    dead.sort_unstable();
    let args: [DatumWithOid; 4] =
        [cursor_lexeme.into(), cursor_cell.into(), cursor_block.into(), REMOVAL_SLICE_BLOCKS.into()];
    let slice = read_blocks(client, queries::POSTINGS_REMOVAL_SLICE, &args);
    let complete = (slice.len() as i64) < REMOVAL_SLICE_BLOCKS;
    let next = slice.last().map(|b| (b.key.0.clone(), b.key.1 as i16, b.meta.block));
    let mut writes = Writes::default();
    for block in &slice {
        let from = dead.partition_point(|&id| id < block.meta.first_id);
        let in_range: Vec<i64> =
            dead[from..].iter().copied().take_while(|&id| id <= block.meta.last_id).collect();
        if in_range.is_empty() {
            continue;
        }
        let read = vec![(block.meta.block, decoded(block))];
        match plan_merge(&[block.meta], read, &[], &in_range) {
            Ok(plan) => writes.add(&block.key, plan),
            Err(e) => crate::error::internal(format!("rag_search: postings removal: {e}")),
        }
    }
    writes.execute(client);
    let (lexeme, cell, block) = match next {
        Some((l, c, b)) => (Some(l), Some(c), Some(b)),
        None => (None, None, None),
    };
    let args: [DatumWithOid; 4] = [lexeme.into(), cell.into(), block.into(), complete.into()];
    client.update(queries::POSTINGS_REMOVAL_PROGRESS, None, &args).or_raise(ctx);
}
