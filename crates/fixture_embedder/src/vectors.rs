//! Deterministic vectors and their compact JSON form.
//!
//! Each component is a multiple of 1/10000 in [-1, 1] (never 0), so it is
//! written with at most 4 decimals and formatted with integer arithmetic: the
//! server stays cheap enough for benchmarks. The f32 a client parses from
//! "-0.1234" is exactly `(-1234f64 / 10000.0) as f32`, which is how
//! [`raw_vector`] computes it, so tests can compare stored vectors exactly.

use sha2::{Digest, Sha256};

const SCALE: i32 = 10_000;

/// 64-bit seed from sha256 of the text (all 32 bytes folded in).
fn seed(text: &str) -> u64 {
    let h = Sha256::digest(text.as_bytes());
    let mut s = 0u64;
    for chunk in h.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        s ^= u64::from_le_bytes(b);
    }
    s
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Component `i` as an integer in [-10000, 10000] \ {0} (counter mode).
fn component(seed: u64, i: usize) -> i32 {
    let x = splitmix64(seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    // Multiply-shift maps the top 32 bits onto 0..=20000 without a division.
    let q = (((x >> 32) * (2 * SCALE as u64 + 1)) >> 32) as i32 - SCALE;
    // No zeros, so even a 1-dimensional vector can be normalised.
    if q == 0 {
        1
    } else {
        q
    }
}

fn to_f32(q: i32) -> f32 {
    (q as f64 / SCALE as f64) as f32
}

/// The vector the server returns for `text` at `native_dim`, as a client
/// parses it (before any truncation or normalisation).
pub fn raw_vector(text: &str, native_dim: usize) -> Vec<f32> {
    let s = seed(text);
    (0..native_dim).map(|i| to_f32(component(s, i))).collect()
}

/// What a client should store for `text`: the first `dim` components of the
/// native vector, L2-normalised. `dim` is clamped to `native_dim`.
///
/// The arithmetic (f64 sum of squares in order, f64 division, cast to f32)
/// matches `rag_core::embed::fit_dimension`, so results are bit-identical.
pub fn expected_vector(text: &str, native_dim: usize, dim: usize) -> Vec<f32> {
    let mut v = raw_vector(text, native_dim.min(dim));
    normalize(&mut v);
    v
}

fn normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// Appends `[c0,c1,...]` for the native vector of `text`.
pub(crate) fn push_raw_json(out: &mut Vec<u8>, text: &str, native_dim: usize) {
    let s = seed(text);
    out.push(b'[');
    for i in 0..native_dim {
        if i > 0 {
            out.push(b',');
        }
        push_quantized(out, component(s, i));
    }
    out.push(b']');
}

/// Appends the vector truncated to `dim` and normalised, as servers that
/// honour a `dimensions` request field do. Rare path: plain float formatting.
pub(crate) fn push_expected_json(out: &mut Vec<u8>, text: &str, native_dim: usize, dim: usize) {
    push_f32_json(out, &expected_vector(text, native_dim, dim));
}

pub(crate) fn push_f32_json(out: &mut Vec<u8>, v: &[f32]) {
    use std::io::Write;
    out.push(b'[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail; `{}` is the shortest round-trip form.
        let _ = write!(out, "{x}");
    }
    out.push(b']');
}

/// Formats q/10000 with at most 4 decimals, trailing zeros trimmed.
fn push_quantized(out: &mut Vec<u8>, q: i32) {
    if q < 0 {
        out.push(b'-');
    }
    let a = q.unsigned_abs();
    if a >= SCALE as u32 {
        out.push(b'1');
        return;
    }
    if a == 0 {
        out.push(b'0');
        return;
    }
    let digits = [
        b'0' + (a / 1000) as u8,
        b'0' + (a / 100 % 10) as u8,
        b'0' + (a / 10 % 10) as u8,
        b'0' + (a % 10) as u8,
    ];
    let mut len = 4;
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    out.extend_from_slice(b"0.");
    out.extend_from_slice(&digits[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(q: i32) -> String {
        let mut v = Vec::new();
        push_quantized(&mut v, q);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn quantized_formatting() {
        assert_eq!(fmt(1234), "0.1234");
        assert_eq!(fmt(-1234), "-0.1234");
        assert_eq!(fmt(500), "0.05");
        assert_eq!(fmt(1), "0.0001");
        assert_eq!(fmt(-10000), "-1");
        assert_eq!(fmt(10000), "1");
        assert_eq!(fmt(9990), "0.999");
    }

    #[test]
    fn json_parses_back_to_raw_vector_exactly() {
        for text in ["hello", "안녕하세요 세계", "", "a longer text with words"] {
            let mut out = Vec::new();
            push_raw_json(&mut out, text, 4096);
            let parsed: Vec<f32> = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, raw_vector(text, 4096));
        }
    }

    #[test]
    fn deterministic_distinct_and_in_range() {
        let a = raw_vector("alpha", 64);
        assert_eq!(a, raw_vector("alpha", 64));
        assert_ne!(a, raw_vector("beta", 64));
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x) && *x != 0.0));
        // A shorter native vector is a prefix of a longer one.
        assert_eq!(&raw_vector("alpha", 4096)[..64], &a[..]);
    }

    #[test]
    fn expected_vector_is_unit_prefix() {
        let e = expected_vector("alpha", 4096, 1024);
        assert_eq!(e.len(), 1024);
        let n: f64 = e.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((n - 1.0).abs() < 1e-5);
        let raw = raw_vector("alpha", 4096);
        // Same direction as the raw prefix.
        let ratio = raw[0] / e[0];
        assert!((raw[7] / e[7] - ratio).abs() < 1e-3);
        assert_eq!(expected_vector("alpha", 16, 1024).len(), 16);
    }

    #[test]
    fn expected_json_parses() {
        let mut out = Vec::new();
        push_expected_json(&mut out, "x", 4096, 8);
        let parsed: Vec<f32> = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, expected_vector("x", 4096, 8));
    }
}
