//! pgrx-free core of rag_search.
//!
//! Everything here is plain Rust with plain unit tests: the PostgreSQL
//! extension crate is a thin shell that moves values between SQL and these
//! functions.

pub mod attach;
pub mod backfill;
pub mod blocks;
pub mod chunk;
pub mod document;
pub mod embed;
pub mod entities;
pub mod evaluate;
pub mod fusion;
pub mod hash;
pub mod json_text;
pub mod postings;
pub mod prune;
pub mod sampling;
pub mod split;
pub mod search;
pub mod text;
pub mod topk;
pub mod tsvector;

#[cfg(test)]
mod testing;
