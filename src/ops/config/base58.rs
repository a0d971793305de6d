//! Base58check, for Stratum V2 pool authority keys (sv2-spec §4.7): the text decodes to the
//! version prefix `[1, 0]`, the 32-byte x-only public key, and 4 checksum bytes (the first 4
//! of sha256d of the rest). Both ways: [`authority_key`] reads a pool's key from the config,
//! [`authority_key_text`] writes our own for miners to configure.

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Decode base58 text into at most `N` bytes (big-endian number, leading '1's are zero bytes).
fn decode<const N: usize>(text: &str) -> Result<heapless::Vec<u8, N>, String> {
    let mut num = [0u8; N]; // big-endian accumulator
    let mut used = 0usize; // significant bytes at the end of `num`
    for c in text.bytes() {
        let Some(d) = ALPHABET.iter().position(|&a| a == c) else {
            return Err(format!("'{}' is not a base58 character", c as char));
        };
        let mut carry = d as u32;
        for i in (N - used..N).rev() {
            carry += num[i] as u32 * 58;
            num[i] = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            if used == N {
                return Err("too long".into());
            }
            used += 1;
            num[N - used] = carry as u8;
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&c| c == b'1').count();
    let mut out = heapless::Vec::new();
    for _ in 0..zeros {
        out.push(0).map_err(|_| "too long".to_string())?;
    }
    out.extend_from_slice(&num[N - used..])
        .map_err(|_| "too long".to_string())?;
    Ok(out)
}

/// Base58 text of `bytes` (big-endian number, leading zero bytes as '1's).
fn encode(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Base-58 digits, least significant first; 138/100 > log(256)/log(58) bounds the count.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &b in &bytes[zeros..] {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut text = String::with_capacity(zeros + digits.len());
    text.extend(std::iter::repeat_n('1', zeros));
    text.extend(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char));
    text
}

/// The base58check text of an x-only authority public key (version `[1, 0]`), as pools
/// publish theirs and as [`authority_key`] reads it back.
pub fn authority_key_text(key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(38);
    raw.extend_from_slice(&[1, 0]);
    raw.extend_from_slice(key);
    let sum = Sha256::digest(Sha256::digest(&raw));
    raw.extend_from_slice(&sum[..4]);
    encode(&raw)
}

/// The 32-byte authority key in `text`, checked.
pub fn authority_key(text: &str) -> Result<[u8; 32], String> {
    let raw = decode::<38>(text)?;
    if raw.len() != 38 {
        return Err(format!("decodes to {} bytes, expected 38", raw.len()));
    }
    let (body, check) = raw.split_at(34);
    let sum = Sha256::digest(Sha256::digest(body));
    if sum[..4] != *check {
        return Err("checksum mismatch (mistyped key?)".into());
    }
    if body[..2] != [1, 0] {
        return Err(format!(
            "unknown key version {}.{} (expected 1.0)",
            body[0], body[1]
        ));
    }
    Ok(body[2..].try_into().expect("32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_authority_key_spec_vector() {
        let key = authority_key("9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh").unwrap();
        assert_eq!(
            key,
            [
                118, 99, 112, 0, 151, 156, 28, 17, 175, 12, 48, 11, 205, 140, 127, 228, 134, 16,
                252, 233, 185, 193, 30, 61, 174, 227, 90, 224, 176, 138, 116, 85
            ]
        );
    }

    #[test]
    fn test_authority_key_text_spec_vector_round_trips() {
        let text = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh";
        let key = authority_key(text).unwrap();
        assert_eq!(authority_key_text(&key), text);
        let counting: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let mut leading_zeros = [0x5au8; 32];
        leading_zeros[..3].fill(0);
        for key in [[0u8; 32], [0xff; 32], counting, leading_zeros] {
            assert_eq!(authority_key(&authority_key_text(&key)), Ok(key));
        }
    }

    #[test]
    fn test_encode_leading_zero_bytes_are_ones() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0, 0, 1]), "112");
        assert_eq!(encode(&[0xff]), "5Q");
        assert_eq!(decode::<3>("112").unwrap().as_slice(), &[0, 0, 1]);
    }

    #[test]
    fn test_authority_key_typo_is_checksum_error() {
        let e = authority_key("9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXj").unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        assert!(authority_key("0OIl").unwrap_err().contains("base58"));
        assert!(authority_key("9bXi").unwrap_err().contains("expected 38"));
    }
}
