//! Retrieval inside the database: rag_hybrid_search (hybrid_search.rs) and
//! rag_candidate_pages (candidate_pages.rs).

pub mod candidate_pages;
mod entities;
pub mod fts;
pub mod hybrid_search;
pub mod options;
mod query_embedding;
pub mod retrieve;

#[cfg(any(test, feature = "pg_test"))]
mod tests;
#[cfg(any(test, feature = "pg_test"))]
mod diversity_tests;
