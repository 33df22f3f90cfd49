//! rag_search.bm25: BM25 of a stored tsvector against a query blob built by
//! the search functions (rag_core::tsvector::Bm25Query::to_blob).

#[pgrx::pg_schema]
pub mod rag_search {
    use pgrx::prelude::*;

    use crate::sql_types::TsVectorArg;

    /// BM25 score of `tsv` for the query encoded in `query` (lexemes with
    /// their IDF, k1, b and the corpus average length). 0 when nothing
    /// matches or the blob is malformed.
    #[pg_extern(immutable, strict, parallel_safe, cost = 5)]
    fn bm25(tsv: TsVectorArg, query: &[u8]) -> f64 {
        rag_core::tsvector::bm25_from_blob(tsv.as_bytes(), query)
    }
}
