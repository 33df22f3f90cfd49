//! rag_search.bm25: BM25 of a stored tsvector against a query blob built by
//! the search functions (rag_core::tsvector::Bm25Query::to_blob), and
//! rag_search.document_frequencies, which the statistics triggers use to
//! keep BM25's document frequencies (sql/search.sql).

#[pgrx::pg_schema]
pub mod rag_search {
    use pgrx::prelude::*;

    use rag_core::tsvector::ParsedBlob;

    use crate::sql_types::TsVectorArg;

    /// BM25 score of `tsv` for the query encoded in `query` (lexemes with
    /// their IDF, k1, b and the corpus average length). 0 when nothing
    /// matches or the blob is malformed. The blob is decoded once per
    /// statement (kept with the call site), not once per row.
    #[pg_extern(immutable, strict, parallel_safe, cost = 5)]
    fn bm25(tsv: TsVectorArg, query: &[u8], fcinfo: pg_sys::FunctionCallInfo) -> f64 {
        // SAFETY: this call's fcinfo; the value lives in the call site's
        // memory context and is dropped with it.
        let mut parsed = unsafe { pgrx::fcinfo::pg_func_extra(fcinfo, ParsedBlob::default) };
        if !parsed.is_for(query) {
            *parsed = ParsedBlob::parse(query);
        }
        parsed.score(tsv.as_bytes())
    }

    /// Lexemes of `tsvs` with the number of tsvectors containing each,
    /// multiplied by `sign` (+1 for added chunks, -1 for removed ones), as
    /// two parallel arrays sorted by lexeme. NULL elements count nothing.
    #[pg_extern(immutable, strict, parallel_safe)]
    fn document_frequencies(
        tsvs: Array<'_, TsVectorArg>,
        sign: i64,
    ) -> TableIterator<'static, (name!(lexemes, Vec<String>), name!(dfs, Vec<i64>))> {
        if sign != 1 && sign != -1 {
            crate::error::invalid_parameter(
                format!("sign must be 1 or -1, not {sign}"),
                "Pass 1 for chunks added and -1 for chunks removed (the statistics triggers do).",
            );
        }
        let docs: Vec<TsVectorArg> = tsvs.iter().flatten().collect();
        let counts = rag_core::tsvector::document_frequencies(docs.iter().map(TsVectorArg::as_bytes));
        let mut lexemes = Vec::with_capacity(counts.len());
        let mut dfs = Vec::with_capacity(counts.len());
        for (lexeme, df) in counts {
            // Lexemes come from PostgreSQL tsvectors of a UTF-8 database.
            lexemes.push(String::from_utf8_lossy(lexeme).into_owned());
            dfs.push(df * sign);
        }
        TableIterator::once((lexemes, dfs))
    }
}
