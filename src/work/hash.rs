//! sha256d, merkle root and the 80-byte block header.
//!
//! This module owns the byte orders between Stratum V1 and the block header:
//! - `version`, `ntime`, `nbits` and `nonce` are plain u32 values (already parsed from
//!   Stratum's big-endian hex) and are written little-endian.
//! - `prevhash` arrives in Stratum's form (internal byte order with every 4-byte word's bytes
//!   reversed) and [`header`] reverses each word back.
//! - The merkle root is in internal byte order, exactly as [`merkle_root`] produces it.
//!
//! Hashes are returned in internal byte order; read them as little-endian integers to compare
//! with a [`Target`](super::Target). Nothing here allocates.

use sha2::{Digest, Sha256};

/// Length of a serialized block header.
pub const HEADER_LEN: usize = 80;

/// sha256(sha256(data)).
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256d_parts(&[data])
}

/// sha256d over the concatenation of `parts`, fed incrementally (no allocation).
pub fn sha256d_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut inner = Sha256::new();
    for part in parts {
        inner.update(part);
    }
    Sha256::digest(inner.finalize()).into()
}

/// Folds a merkle branch: `root = coinbase_hash`, then `root = sha256d(root ‖ b)` for each `b`.
pub fn merkle_root(coinbase_hash: &[u8; 32], branches: &[[u8; 32]]) -> [u8; 32] {
    branches.iter().fold(*coinbase_hash, |root, branch| {
        sha256d_parts(&[&root, branch])
    })
}

/// Builds the 80-byte header from Stratum V1 notify fields (see the module docs for byte
/// orders): `prevhash` is in Stratum's form, `merkle_root` as [`merkle_root`] produced it.
pub fn header(
    version: u32,
    prevhash: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..4].copy_from_slice(&version.to_le_bytes());
    out[4..36].copy_from_slice(&swap_words(prevhash));
    out[36..68].copy_from_slice(merkle_root);
    out[68..72].copy_from_slice(&ntime.to_le_bytes());
    out[72..76].copy_from_slice(&nbits.to_le_bytes());
    out[76..80].copy_from_slice(&nonce.to_le_bytes());
    out
}

/// Rolled version (BIP 310): the job's bits outside `mask`, the miner's bits inside it.
pub fn rolled_version(job_version: u32, version_bits: u32, mask: u32) -> u32 {
    (job_version & !mask) | (version_bits & mask)
}

/// Reverses the bytes of every 4-byte word (its own inverse).
pub fn swap_words(bytes: &[u8; 32]) -> [u8; 32] {
    let mut out = *bytes;
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::{Difficulty, Target};

    fn hex_nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit {c}"),
        }
    }

    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let text = text.as_bytes();
        assert_eq!(text.len(), 2 * N);
        let mut out = [0u8; N];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            *byte = hex_nibble(pair[0]) << 4 | hex_nibble(pair[1]);
        }
        out
    }

    /// A hash as displayed by explorers (big-endian) to internal byte order.
    fn from_display(text: &str) -> [u8; 32] {
        let mut bytes = hex::<32>(text);
        bytes.reverse();
        bytes
    }

    /// The compact `nbits` encoding as a little-endian 256-bit target.
    fn nbits_target(nbits: u32) -> Target {
        let exponent = (nbits >> 24) as usize;
        let mantissa = (nbits & 0x00FF_FFFF).to_le_bytes();
        let mut target = [0u8; 32];
        target[exponent - 3..exponent].copy_from_slice(&mantissa[..3]);
        Target(target)
    }

    // Bitcoin block 125552.
    const PREV_DISPLAY: &str = "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81";
    const MERKLE_DISPLAY: &str = "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3";
    const HASH_DISPLAY: &str = "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d";
    const HEADER_HEX: &str = concat!(
        "01000000",
        "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
        "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
        "c7f5d74d",
        "f2b9441a",
        "42a14695",
    );
    const TIME: u32 = 1_305_998_791;
    const BITS: u32 = 0x1a44_b9f2;
    const NONCE: u32 = 2_504_433_986;

    fn block_125552_header(nonce: u32) -> [u8; 80] {
        // Stratum's prevhash: internal byte order with each 4-byte word reversed.
        let stratum_prevhash = swap_words(&from_display(PREV_DISPLAY));
        let merkle = from_display(MERKLE_DISPLAY);
        header(1, &stratum_prevhash, &merkle, TIME, BITS, nonce)
    }

    #[test]
    fn test_header_block_125552_bytes() {
        assert_eq!(block_125552_header(NONCE), hex::<80>(HEADER_HEX));
    }

    #[test]
    fn test_header_block_125552_hash() {
        let hash = sha256d(&block_125552_header(NONCE));
        assert_eq!(hash, from_display(HASH_DISPLAY));
    }

    #[test]
    fn test_header_block_125552_meets_targets() {
        let hash = sha256d(&block_125552_header(NONCE));
        assert!(nbits_target(BITS).is_met_by(&hash));
        let network = Difficulty::parse("244112").unwrap();
        assert!(network.target().is_met_by(&hash));
        // The hash is worth ~3.6e10, above the largest representable difficulty (~4.29e9).
        assert_eq!(Difficulty::from_hash(&hash), Difficulty(u64::MAX));
        assert!(Difficulty(u64::MAX).target().is_met_by(&hash));
    }

    #[test]
    fn test_header_block_125552_wrong_nonce_fails() {
        let hash = sha256d(&block_125552_header(NONCE.wrapping_add(1)));
        assert!(!nbits_target(BITS).is_met_by(&hash));
        assert!(!Difficulty::parse("244112")
            .unwrap()
            .target()
            .is_met_by(&hash));
    }

    #[test]
    fn test_sha256d_hello_vector() {
        let expected =
            hex::<32>("9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50");
        assert_eq!(sha256d(b"hello"), expected);
    }

    #[test]
    fn test_sha256d_parts_matches_concatenation() {
        assert_eq!(sha256d_parts(&[b"he", b"", b"llo"]), sha256d(b"hello"));
        assert_eq!(sha256d_parts(&[]), sha256d(b""));
        let long = [0xA5u8; 200];
        assert_eq!(sha256d_parts(&[&long[..63], &long[63..]]), sha256d(&long));
    }

    #[test]
    fn test_merkle_root_two_branches() {
        let coinbase = sha256d(b"coinbase");
        let branches = [sha256d(b"tx1"), sha256d(b"tx2")];
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&coinbase);
        buf[32..].copy_from_slice(&branches[0]);
        let level1 = sha256d(&buf);
        buf[..32].copy_from_slice(&level1);
        buf[32..].copy_from_slice(&branches[1]);
        let expected = sha256d(&buf);
        assert_eq!(merkle_root(&coinbase, &branches), expected);
    }

    #[test]
    fn test_merkle_root_no_branches_is_coinbase() {
        let coinbase = sha256d(b"coinbase");
        assert_eq!(merkle_root(&coinbase, &[]), coinbase);
    }

    #[test]
    fn test_rolled_version_takes_masked_bits() {
        assert_eq!(
            rolled_version(0x2000_0000, 0x1fff_e000, 0x1fff_e000),
            0x3fff_e000
        );
        assert_eq!(
            rolled_version(0x2000_0004, 0xffff_ffff, 0x1fff_e000),
            0x3fff_e004
        );
        assert_eq!(rolled_version(0x2000_0000, 0x0000_2000, 0), 0x2000_0000);
        assert_eq!(
            rolled_version(0x3fff_e000, 0x0000_0000, 0x1fff_e000),
            0x2000_0000
        );
    }

    #[test]
    fn test_swap_words_reverses_each_word() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let swapped = swap_words(&bytes);
        assert_eq!(&swapped[..8], &[3, 2, 1, 0, 7, 6, 5, 4]);
        assert_eq!(swap_words(&swapped), bytes);
    }
}
