//! Dimension fitting (Matryoshka truncation + L2 normalisation).

use std::fmt;

/// HNSW over pgvector's `vector` type indexes at most this many dimensions:
/// the bound of every configured embedding dimension.
pub const MAX_INDEXED_DIMENSION: i32 = 2000;

/// Why a returned vector cannot be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VectorError {
    /// Fewer components than the configured dimension.
    TooShort { expected: usize, got: usize },
    /// NaN or ±inf at this position.
    NonFinite { position: usize },
    /// All kept components are zero: no direction to normalise.
    Zero,
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VectorError::TooShort { expected, got } => {
                write!(
                    f,
                    "vector has {got} components, expected at least {expected}"
                )
            }
            VectorError::NonFinite { position } => {
                write!(f, "non-finite value at component {position}")
            }
            VectorError::Zero => f.write_str("zero vector"),
        }
    }
}

impl std::error::Error for VectorError {}

/// Keeps the first `dim` components and L2-normalises them.
///
/// Every component (kept or not) must be finite. Sums in f64 so large f32
/// values cannot overflow; `fixture_embedder::expected_vector` mirrors this
/// arithmetic exactly, so keep the two in step.
pub fn fit_dimension(mut v: Vec<f32>, dim: usize) -> Result<Vec<f32>, VectorError> {
    if v.len() < dim {
        return Err(VectorError::TooShort {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(position) = v.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NonFinite { position });
    }
    v.truncate(dim);
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(VectorError::Zero);
    }
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn embed_fit_dimension_matryoshka() {
        let v = fit_dimension(vec![3.0, 4.0, 100.0, -7.0], 2).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
        let e = fit_dimension(vec![2.0, 0.0, 0.0], 3).unwrap();
        assert_eq!(e, vec![1.0, 0.0, 0.0]);
        let big = fit_dimension(vec![3e38, 3e38], 2).unwrap();
        assert!((norm(&big) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn embed_fit_dimension_errors() {
        assert_eq!(
            fit_dimension(vec![1.0; 3], 4),
            Err(VectorError::TooShort {
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            fit_dimension(vec![1.0, 1.0, f32::NAN], 2),
            Err(VectorError::NonFinite { position: 2 })
        );
        assert_eq!(
            fit_dimension(vec![f32::INFINITY, 1.0], 2),
            Err(VectorError::NonFinite { position: 0 })
        );
        assert_eq!(
            fit_dimension(vec![0.0, 0.0, 5.0], 2),
            Err(VectorError::Zero)
        );
        assert_eq!(fit_dimension(vec![1.0], 0), Err(VectorError::Zero));
    }
}
