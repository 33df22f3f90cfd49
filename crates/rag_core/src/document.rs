//! What a document's external key (`doc_id`) may be.

/// Longest doc_id, in bytes of UTF-8. The unique index on
/// `rag_search.documents.doc_id` takes keys of up to about 2,700 bytes (a
/// third of a page); a bound well below keeps every accepted id indexable
/// and the error about it clear.
pub const MAX_DOC_ID_BYTES: usize = 1024;

/// Why a doc_id is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocIdProblem {
    /// Empty or only whitespace.
    Blank,
    /// Longer than [`MAX_DOC_ID_BYTES`] (its length in bytes).
    TooLong(usize),
}

pub fn doc_id_problem(doc_id: &str) -> Option<DocIdProblem> {
    if doc_id.trim().is_empty() {
        Some(DocIdProblem::Blank)
    } else if doc_id.len() > MAX_DOC_ID_BYTES {
        Some(DocIdProblem::TooLong(doc_id.len()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_are_non_blank_and_bounded_in_bytes() {
        assert_eq!(doc_id_problem("board_post:12"), None);
        assert_eq!(doc_id_problem(" \t\u{3000}"), Some(DocIdProblem::Blank));
        assert_eq!(doc_id_problem(""), Some(DocIdProblem::Blank));
        assert_eq!(doc_id_problem(&"a".repeat(MAX_DOC_ID_BYTES)), None);
        // 342 Hangul syllables are 1,026 bytes.
        assert_eq!(doc_id_problem(&"가".repeat(342)), Some(DocIdProblem::TooLong(1026)));
    }
}
