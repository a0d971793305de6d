//! Base58check, for Stratum V2 pool authority keys (sv2-spec §4.7): the text decodes to the
//! version prefix `[1, 0]`, the 32-byte x-only public key, and 4 checksum bytes (the first 4
//! of sha256d of the rest).

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
    fn test_authority_key_typo_is_checksum_error() {
        let e = authority_key("9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXj").unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        assert!(authority_key("0OIl").unwrap_err().contains("base58"));
        assert!(authority_key("9bXi").unwrap_err().contains("expected 38"));
    }
}
