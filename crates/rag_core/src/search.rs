//! Search requests: the bounds that keep one search's work and memory
//! within what the operator allows.

/// A request's size that a bound refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// `top_k × oversample` candidates above `max_candidates`.
    Candidates { top_k: i64, oversample: i64, max: i64 },
    /// `top_k × (2 × window + 1)` chunks of text above `max_context_chunks`.
    ContextChunks { top_k: i64, window: i64, max: i64 },
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::Candidates { top_k, oversample, max } => write!(
                f,
                "{top_k} results × oversample {oversample} = {} candidates exceeds rag_search.max_candidates ({max})",
                top_k.saturating_mul(*oversample)
            ),
            LimitError::ContextChunks { top_k, window, max } => write!(
                f,
                "{top_k} results with window {window} return {} chunks of text, more than \
                 rag_search.max_context_chunks ({max})",
                context_chunks(*top_k, *window)
            ),
        }
    }
}

/// Chunks whose text a search returns: each result with `window`
/// neighbours on each side.
pub fn context_chunks(top_k: i64, window: i64) -> i64 {
    top_k.saturating_mul(window.max(0).saturating_mul(2).saturating_add(1))
}

/// Checks a request against the operator's bounds.
pub fn check_limits(
    top_k: i64,
    oversample: i64,
    window: i64,
    max_candidates: i64,
    max_context_chunks: i64,
) -> Result<(), LimitError> {
    if top_k.saturating_mul(oversample.max(1)) > max_candidates {
        return Err(LimitError::Candidates { top_k, oversample, max: max_candidates });
    }
    if context_chunks(top_k, window) > max_context_chunks {
        return Err(LimitError::ContextChunks { top_k, window, max: max_context_chunks });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_what_exceeds_them() {
        assert_eq!(check_limits(8, 10, 1, 10_000, 2_000), Ok(()));
        assert_eq!(check_limits(1000, 10, 0, 10_000, 2_000), Ok(()));
        assert_eq!(
            check_limits(1000, 1000, 0, 10_000, 2_000),
            Err(LimitError::Candidates { top_k: 1000, oversample: 1000, max: 10_000 })
        );
        assert_eq!(
            check_limits(1000, 1, 20, 10_000, 2_000),
            Err(LimitError::ContextChunks { top_k: 1000, window: 20, max: 2_000 })
        );
        assert_eq!(context_chunks(10, 2), 50);
        assert_eq!(context_chunks(i64::MAX, 20), i64::MAX);
        let msg = LimitError::ContextChunks { top_k: 1000, window: 20, max: 2_000 }.to_string();
        assert!(msg.contains("41000"), "{msg}");
    }
}
