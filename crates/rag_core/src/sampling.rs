//! Work done now and then by whoever passes by (compactions, trims), so no
//! maintenance job is needed.

/// True about once in `n` calls. The low bits of the clock are random
/// enough for spreading maintenance; `n` of 0 or 1 is always true.
pub fn one_in(n: u32) -> bool {
    if n <= 1 {
        return true;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Microseconds: the lowest nanosecond digits are often constant.
    (nanos / 1000).is_multiple_of(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_one_is_always_true_and_one_in_many_is_rare() {
        assert!(one_in(0) && one_in(1));
        let hits = (0..20_000).filter(|_| one_in(1_000_000)).count();
        assert!(hits < 20_000, "sampling never says no");
    }
}
