//! Difficulty in fixed point, and 256-bit targets. No floats here.
//!
//! `Difficulty(d)` holds difficulty × 2^32, i.e. the expected number of hashes per share.
//! Difficulty 1 is `Difficulty(1 << 32)`. Values saturate at `u64::MAX` (difficulty ≈ 4.29e9).
//!
//! Invariants this module keeps:
//! - Every conversion *into* a difficulty from pool text rounds **up**, and every conversion
//!   *out* to text rounds **up**, so a target we derive is never easier than the one we were
//!   given, and a miner reading our text never works to an easier target than ours.
//! - The constructors never build `Difficulty(0)`; code that meets a zero anyway treats it as 1.
//! - Targets are `floor(0xFFFF · 2^240 / d)`: the difficulty-1 target `0xFFFF · 2^208` scaled by
//!   `2^32 / d`. All arithmetic is integer (u64 limbs with u128 intermediates); MIPS32 has no FPU.

use core::fmt;

/// Difficulty × 2^32 (expected hashes per share). Never zero when built by the constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(pub u64);

/// A share target as a 256-bit little-endian integer (byte 0 least significant), compared with
/// the sha256d of the header read as a little-endian integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target(pub [u8; 32]);

/// The fixed-point scale: `Difficulty(FRAC_ONE)` is difficulty 1.
const FRAC_BITS: u32 = 32;

/// Significant mantissa digits `parse` keeps exactly; 10^27 · 2^32 still fits a u128.
const MAX_SIG_DIGITS: u32 = 27;

/// Fractional digits `write_json` emits at most.
const JSON_FRAC_DIGITS: u32 = 10;

/// The numerator of every target: `0xFFFF · 2^240` as little-endian u64 limbs.
const TARGET_NUMERATOR: [u64; 4] = [0, 0, 0, 0xFFFF << 48];

impl Difficulty {
    /// Difficulty 1: 2^32 expected hashes per share.
    pub const ONE: Difficulty = Difficulty(1 << FRAC_BITS);

    /// Parses JSON number text ("65536", "0.001", "1e-5", "1.5E+3", "16384.0").
    ///
    /// Rounds up to the next representable value and saturates at `u64::MAX`; a positive value
    /// below 2^-32 becomes `Difficulty(1)`. Returns `None` for anything that is not a strictly
    /// positive JSON number (empty, '+', '-', hex, NaN, inf, zero, whitespace, "01", ".5", "5.").
    pub fn parse(s: &str) -> Option<Difficulty> {
        let decimal = Decimal::parse(s.as_bytes())?;
        if decimal.mantissa == 0 {
            return None;
        }
        Some(decimal.to_difficulty())
    }

    /// Writes the difficulty as a JSON number: the integer part, then at most 10 fractional
    /// digits without trailing zeros, rounded up at the last digit.
    pub fn write_json(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let (whole, frac) = self.decimal_parts();
        if frac == 0 {
            return write!(out, "{whole}");
        }
        let mut digits = frac;
        let mut width = JSON_FRAC_DIGITS as usize;
        while digits % 10 == 0 {
            digits /= 10;
            width -= 1;
        }
        write!(out, "{whole}.{digits:0width$}")
    }

    /// The integer part and the 10-digit fraction (rounded up, carried into the integer part).
    fn decimal_parts(&self) -> (u64, u64) {
        let frac_unit = 10u64.pow(JSON_FRAC_DIGITS);
        let whole = self.0 >> FRAC_BITS;
        let frac_bits = u128::from(self.0 & ((1 << FRAC_BITS) - 1));
        let frac = div_ceil_u128(frac_bits * u128::from(frac_unit), 1 << FRAC_BITS) as u64;
        if frac == frac_unit {
            (whole + 1, 0)
        } else {
            (whole, frac)
        }
    }

    /// The share target: `floor(0xFFFF · 2^240 / self.0)`, with `self.0 == 0` treated as 1.
    pub fn target(&self) -> Target {
        let limbs = div_u256_by_u64(TARGET_NUMERATOR, self.0.max(1));
        Target(limbs_to_le_bytes(limbs))
    }

    /// The difficulty a hash meets: `floor(0xFFFF · 2^240 / H)` with `H` the hash read as a
    /// little-endian integer, saturating at `u64::MAX` (also for `H == 0`) and at least 1.
    ///
    /// Uses the top 64 significant bits of `H`, so it may overstate by under 2^-63 relative.
    pub fn from_hash(hash: &[u8; 32]) -> Difficulty {
        let limbs = le_bytes_to_limbs(hash);
        let bits = bit_length(&limbs);
        let shift = bits.saturating_sub(64);
        let top = bits_from(&limbs, shift);
        if top == 0 {
            return Difficulty(u64::MAX);
        }
        // H ≈ top · 2^shift, so the quotient is 0xFFFF · 2^(240 - shift) / top. With top < 2^64,
        // an exponent above 112 always exceeds u64::MAX (and would overflow the u128).
        let exponent = 240 - shift;
        if exponent > 112 {
            return Difficulty(u64::MAX);
        }
        let quotient = (0xFFFF_u128 << exponent) / u128::from(top);
        Difficulty(saturate_u64(quotient).max(1))
    }

    /// `self · mul / div` with a u128 intermediate, saturating at `u64::MAX`, at least 1.
    /// `div == 0` saturates.
    pub fn scale(self, mul: u64, div: u64) -> Difficulty {
        if div == 0 {
            return Difficulty(u64::MAX);
        }
        let product = u128::from(self.0) * u128::from(mul);
        Difficulty(saturate_u64(product / u128::from(div)).max(1))
    }

    /// Whole-unit difficulty rounded down, handy for logs.
    pub fn whole(self) -> u64 {
        self.0 >> FRAC_BITS
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_json(f)
    }
}

impl Target {
    /// True if the hash, read as a little-endian 256-bit integer, is <= the target.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        for (h, t) in hash.iter().rev().zip(self.0.iter().rev()) {
            if h != t {
                return h < t;
            }
        }
        true
    }
}

/// A parsed JSON number as `mantissa · 10^exponent`, with `sticky` set when nonzero digits
/// beyond `MAX_SIG_DIGITS` were dropped (the true value is then above `mantissa · 10^exponent`).
struct Decimal {
    mantissa: u128,
    exponent: i64,
    sticky: bool,
}

impl Decimal {
    /// Parses the JSON number grammar, rejecting any sign on the mantissa.
    fn parse(text: &[u8]) -> Option<Decimal> {
        let mut decimal = Decimal {
            mantissa: 0,
            exponent: 0,
            sticky: false,
        };
        let mut significant = 0u32;
        let mut rest = text;

        let int_len = digit_run(rest);
        if int_len == 0 || (int_len > 1 && rest[0] == b'0') {
            return None;
        }
        for &d in &rest[..int_len] {
            decimal.push_digit(d - b'0', false, &mut significant);
        }
        rest = &rest[int_len..];

        if let Some((&b'.', after)) = rest.split_first() {
            let frac_len = digit_run(after);
            if frac_len == 0 {
                return None;
            }
            for &d in &after[..frac_len] {
                decimal.push_digit(d - b'0', true, &mut significant);
            }
            rest = &after[frac_len..];
        }

        if let Some((&(b'e' | b'E'), after)) = rest.split_first() {
            let (exp, after) = parse_exponent(after)?;
            decimal.exponent = decimal.exponent.saturating_add(exp);
            rest = after;
        }

        rest.is_empty().then_some(decimal)
    }

    /// Appends one mantissa digit, keeping at most `MAX_SIG_DIGITS` significant ones.
    fn push_digit(&mut self, digit: u8, fractional: bool, significant: &mut u32) {
        if self.mantissa == 0 && digit == 0 {
            // A leading zero: only its place value matters.
            if fractional {
                self.exponent -= 1;
            }
        } else if *significant < MAX_SIG_DIGITS {
            self.mantissa = self.mantissa * 10 + u128::from(digit);
            *significant += 1;
            if fractional {
                self.exponent -= 1;
            }
        } else {
            self.sticky |= digit != 0;
            if !fractional {
                self.exponent += 1;
            }
        }
    }

    /// `ceil(value · 2^32)`, saturating at `u64::MAX`, at least 1. Dropped digits round the
    /// mantissa up first so the result never falls below the exact value.
    fn to_difficulty(&self) -> Difficulty {
        let mantissa = self.mantissa + u128::from(self.sticky);
        let scaled = mantissa << FRAC_BITS;
        let raw = if self.exponent >= 0 {
            mul_pow10_saturating(scaled, self.exponent)
        } else {
            match pow10_u128(self.exponent.unsigned_abs()) {
                Some(divisor) => saturate_u64(div_ceil_u128(scaled, divisor)),
                // scaled < 10^37 < 10^38 <= divisor: the value is positive but below one unit.
                None => 1,
            }
        };
        Difficulty(raw.max(1))
    }
}

/// Number of leading ASCII digits.
fn digit_run(text: &[u8]) -> usize {
    text.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Parses `[+-]?digits` after an 'e', saturating the magnitude, and returns the rest.
fn parse_exponent(text: &[u8]) -> Option<(i64, &[u8])> {
    let (negative, digits) = match text.split_first() {
        Some((&b'-', rest)) => (true, rest),
        Some((&b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let len = digit_run(digits);
    if len == 0 {
        return None;
    }
    // Any exponent beyond a million saturates or underflows the result just the same.
    let magnitude = digits[..len].iter().fold(0i64, |acc, &d| {
        (acc * 10 + i64::from(d - b'0')).min(1_000_000)
    });
    let exp = if negative { -magnitude } else { magnitude };
    Some((exp, &digits[len..]))
}

/// `value · 10^exp` saturated to u64 (`exp >= 0`).
fn mul_pow10_saturating(value: u128, exp: i64) -> u64 {
    let mut acc = value;
    for _ in 0..exp {
        if acc > u128::from(u64::MAX) {
            break;
        }
        acc *= 10;
    }
    saturate_u64(acc)
}

/// `10^exp` if it fits in a u128.
fn pow10_u128(exp: u64) -> Option<u128> {
    10u128.checked_pow(u32::try_from(exp).ok()?)
}

fn div_ceil_u128(num: u128, den: u128) -> u128 {
    num / den + u128::from(num % den != 0)
}

fn saturate_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Long division of a 256-bit little-endian-limb integer by a nonzero u64, floored.
fn div_u256_by_u64(num: [u64; 4], den: u64) -> [u64; 4] {
    let den = u128::from(den);
    let mut quotient = [0u64; 4];
    let mut rem = 0u128;
    for i in (0..4).rev() {
        let cur = (rem << 64) | u128::from(num[i]);
        // rem < den, so cur / den < 2^64.
        quotient[i] = (cur / den) as u64;
        rem = cur % den;
    }
    quotient
}

fn limbs_to_le_bytes(limbs: [u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, limb) in out.chunks_exact_mut(8).zip(limbs) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    out
}

fn le_bytes_to_limbs(bytes: &[u8; 32]) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(word);
    }
    limbs
}

/// Position of the highest set bit plus one (0 for zero).
fn bit_length(limbs: &[u64; 4]) -> u32 {
    for i in (0..4).rev() {
        if limbs[i] != 0 {
            return 64 * i as u32 + (64 - limbs[i].leading_zeros());
        }
    }
    0
}

/// The 64 bits of the 256-bit value starting at bit `shift`, i.e. `(value >> shift) as u64`.
fn bits_from(limbs: &[u64; 4], shift: u32) -> u64 {
    let idx = (shift / 64) as usize;
    let off = shift % 64;
    let low = limbs[idx] >> off;
    let high = match limbs.get(idx + 1) {
        Some(next) if off > 0 => next << (64 - off),
        _ => 0,
    };
    low | high
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// A fixed-capacity text buffer, so the tests stay allocation-free too.
    struct Buf {
        bytes: [u8; 64],
        len: usize,
    }

    impl Buf {
        fn new() -> Buf {
            Buf {
                bytes: [0; 64],
                len: 0,
            }
        }

        fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap()
        }
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn json(d: Difficulty) -> Buf {
        let mut buf = Buf::new();
        d.write_json(&mut buf).unwrap();
        buf
    }

    fn diff1_target_bytes() -> [u8; 32] {
        let mut t = [0u8; 32];
        t[26] = 0xFF;
        t[27] = 0xFF;
        t
    }

    #[test]
    fn test_parse_integers_and_decimals() {
        assert_eq!(Difficulty::parse("1"), Some(Difficulty::ONE));
        assert_eq!(Difficulty::parse("65536"), Some(Difficulty(65536 << 32)));
        assert_eq!(Difficulty::parse("2.0"), Some(Difficulty(2 << 32)));
        assert_eq!(Difficulty::parse("16384.0"), Some(Difficulty(16384 << 32)));
        assert_eq!(Difficulty::parse("0.5"), Some(Difficulty(1 << 31)));
        assert_eq!(Difficulty::parse("0.25"), Some(Difficulty(1 << 30)));
    }

    #[test]
    fn test_parse_exponents() {
        assert_eq!(Difficulty::parse("1.5E+3"), Some(Difficulty(1500 << 32)));
        assert_eq!(Difficulty::parse("1.5e2"), Some(Difficulty(150 << 32)));
        assert_eq!(Difficulty::parse("25e-1"), Some(Difficulty(5 << 31)));
        assert_eq!(Difficulty::parse("1e-3"), Difficulty::parse("0.001"));
        assert_eq!(Difficulty::parse("1e-5"), Difficulty::parse("0.00001"));
    }

    #[test]
    fn test_parse_rounds_up() {
        // 0.001 · 2^32 = 4294967.296
        assert_eq!(Difficulty::parse("0.001"), Some(Difficulty(4_294_968)));
        // 0.1 · 2^32 = 429496729.6
        assert_eq!(Difficulty::parse("0.1"), Some(Difficulty(429_496_730)));
    }

    #[test]
    fn test_parse_tiny_becomes_one_unit() {
        assert_eq!(Difficulty::parse("1e-10"), Some(Difficulty(1)));
        assert_eq!(Difficulty::parse("1e-999999999999"), Some(Difficulty(1)));
        assert_eq!(
            Difficulty::parse("0.00000000000000000000000000000000000000000001"),
            Some(Difficulty(1))
        );
    }

    #[test]
    fn test_parse_saturates() {
        assert_eq!(Difficulty::parse("1e12"), Some(Difficulty(u64::MAX)));
        assert_eq!(Difficulty::parse("4294967296"), Some(Difficulty(u64::MAX)));
        assert_eq!(
            Difficulty::parse("1e999999999999"),
            Some(Difficulty(u64::MAX))
        );
        // Just below the ceiling stays exact.
        assert_eq!(
            Difficulty::parse("4294967295"),
            Some(Difficulty(4_294_967_295 << 32))
        );
    }

    #[test]
    fn test_parse_long_mantissa_rounds_up() {
        let exact = Difficulty::parse("1.00000000000000000000000000").unwrap();
        assert_eq!(exact, Difficulty::ONE);
        let forty = "1.000000000000000000000000000000000000001";
        let long = Difficulty::parse(forty).unwrap();
        assert!(long > Difficulty::ONE);
        assert!(long.0 - Difficulty::ONE.0 <= 1);
        let big = Difficulty::parse("123456789012345678901234567890123456789e-30").unwrap();
        assert_eq!(big.whole(), 123_456_789);
    }

    #[test]
    fn test_parse_rejects_invalid() {
        let bad = [
            "", "-1", "-0", "0", "0.0", "0e5", "+1", "0x10", "NaN", "nan", "inf", "Infinity", "1.",
            ".5", "01", "1e", "1e+", "1.5.2", " 1", "1 ", "1a", "e5", "--1", "1,5",
        ];
        for text in bad {
            assert_eq!(Difficulty::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn test_write_json_examples() {
        assert_eq!(json(Difficulty::ONE).as_str(), "1");
        assert_eq!(json(Difficulty(1 << 31)).as_str(), "0.5");
        assert_eq!(json(Difficulty(3 << 32)).as_str(), "3");
        assert_eq!(json(Difficulty(1)).as_str(), "0.0000000003");
        assert_eq!(json(Difficulty(65536 << 32)).as_str(), "65536");
        assert_eq!(json(Difficulty(u64::MAX)).as_str(), "4294967295.9999999998");
    }

    #[test]
    fn test_write_json_rounds_up_last_digit() {
        // 4294968 / 2^32 = 0.00100000016...
        assert_eq!(json(Difficulty(4_294_968)).as_str(), "0.0010000002");
    }

    #[test]
    fn test_display_matches_write_json() {
        let d = Difficulty(5 << 30);
        let mut buf = Buf::new();
        write!(buf, "{d}").unwrap();
        assert_eq!(buf.as_str(), "1.25");
    }

    #[test]
    fn test_parse_write_json_round_trip() {
        for text in [
            "0.0001", "1", "65536", "1e-3", "16384.0", "1.5E+2", "0.5", "1024.125",
        ] {
            let d = Difficulty::parse(text).unwrap();
            let written = json(d);
            let again = Difficulty::parse(written.as_str()).unwrap();
            // Rounding up both ways costs at most one unit (10^-10 < 2^-32).
            assert!(again >= d, "{text}");
            assert!(again.0 - d.0 <= 1, "{text}");
        }
        assert_eq!(json(Difficulty::parse("1.5E+2").unwrap()).as_str(), "150");
        assert_eq!(
            json(Difficulty::parse("16384.0").unwrap()).as_str(),
            "16384"
        );
    }

    #[test]
    fn test_write_json_never_rounds_down() {
        let mut d = 1u64;
        while d < u64::MAX / 3 {
            let written = json(Difficulty(d));
            let parsed = Difficulty::parse(written.as_str()).unwrap();
            assert!(parsed.0 >= d, "{d} -> {}", written.as_str());
            d = d * 3 + 7;
        }
    }

    #[test]
    fn test_target_difficulty_one() {
        assert_eq!(Difficulty::ONE.target(), Target(diff1_target_bytes()));
    }

    #[test]
    fn test_target_difficulty_two_is_half() {
        let mut half = [0u8; 32];
        half[26] = 0xFF;
        half[27] = 0x7F;
        half[25] = 0x80;
        assert_eq!(Difficulty(2 << 32).target(), Target(half));
    }

    #[test]
    fn test_target_zero_treated_as_one_unit() {
        assert_eq!(Difficulty(0).target(), Difficulty(1).target());
        let mut max = [0u8; 32];
        max[30] = 0xFF;
        max[31] = 0xFF;
        assert_eq!(Difficulty(1).target(), Target(max));
    }

    #[test]
    fn test_target_is_met_by_boundary() {
        let target = Difficulty::ONE.target();
        let equal = target.0;
        assert!(target.is_met_by(&equal));
        let mut above = equal;
        above[0] = 1;
        assert!(!target.is_met_by(&above));
        let mut below = equal;
        below[26] = 0xFE;
        assert!(target.is_met_by(&below));
        assert!(target.is_met_by(&[0; 32]));
        assert!(!target.is_met_by(&[0xFF; 32]));
    }

    #[test]
    fn test_from_hash_diff1_target_is_one() {
        let d = Difficulty::from_hash(&diff1_target_bytes());
        assert!(d.0.abs_diff(Difficulty::ONE.0) <= 1, "{d:?}");
    }

    #[test]
    fn test_from_hash_inverts_target() {
        for d in [
            1u64,
            12_345,
            1 << 32,
            3 << 32,
            1 << 40,
            999_999_999_999,
            1 << 63,
        ] {
            let got = Difficulty::from_hash(&Difficulty(d).target().0);
            assert!(got.0 >= d, "{d}");
            assert!(got.0 - d <= d / 1_000_000_000 + 1, "{d} -> {got:?}");
        }
    }

    #[test]
    fn test_from_hash_extremes() {
        assert_eq!(Difficulty::from_hash(&[0; 32]), Difficulty(u64::MAX));
        let mut tiny = [0u8; 32];
        tiny[0] = 1;
        assert_eq!(Difficulty::from_hash(&tiny), Difficulty(u64::MAX));
        assert_eq!(Difficulty::from_hash(&[0xFF; 32]), Difficulty(1));
    }

    #[test]
    fn test_scale_basic_and_saturation() {
        assert_eq!(Difficulty::ONE.scale(3, 2), Difficulty(3 << 31));
        assert_eq!(Difficulty(u64::MAX).scale(2, 1), Difficulty(u64::MAX));
        assert_eq!(
            Difficulty(u64::MAX).scale(u64::MAX, u64::MAX),
            Difficulty(u64::MAX)
        );
        assert_eq!(Difficulty::ONE.scale(1, 0), Difficulty(u64::MAX));
        assert_eq!(Difficulty::ONE.scale(0, 5), Difficulty(1));
        assert_eq!(Difficulty(10).scale(1, 100), Difficulty(1));
    }

    #[test]
    fn test_whole_rounds_down() {
        assert_eq!(Difficulty((7 << 32) + 12345).whole(), 7);
        assert_eq!(Difficulty(1).whole(), 0);
    }
}
