//! Reconnect delay: exponential from `min` to `max` with ±25 % jitter, so a fleet of proxies
//! (or our own pools) do not reconnect in lockstep. Integer-only.

/// Delay before attempt number `failures` (1 = first retry).
pub fn delay_ms(failures: u32, min_ms: u32, max_ms: u32, seed: u64) -> u64 {
    let exp = failures.saturating_sub(1).min(20);
    let base = ((min_ms as u64) << exp).min(max_ms as u64);
    // xorshift64* on the seed gives the jitter; ±25 % of base.
    let mut x = seed | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
    let span = base / 2;
    let jitter = if span == 0 { 0 } else { r % (span + 1) };
    (base - base / 4 + jitter).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_backoff_grows_then_caps() {
        let a = delay_ms(1, 1000, 60_000, 7);
        let b = delay_ms(4, 1000, 60_000, 7);
        let c = delay_ms(30, 1000, 60_000, 7);
        assert!((750..=1250).contains(&a), "{a}");
        assert!((6000..=10_000).contains(&b), "{b}");
        assert!((45_000..=75_000).contains(&c), "{c}");
    }

    #[test]
    fn test_backoff_jitter_varies_with_seed() {
        let set: std::collections::BTreeSet<u64> = (0..32)
            .map(|s| delay_ms(3, 1000, 60_000, s * 7919))
            .collect();
        assert!(set.len() > 8);
    }
}
