//! An SV2 frame from a pool: the 6-byte header, then the payload decoded under it; and the
//! payload field reader on arbitrary bytes.
//!
//! Beyond "never panics": the header round-trips, a decoded message borrows only from the
//! payload, and the reader never hands out more bytes than it was given.
#![no_main]

use hashmux::wire::sv2::msg::{decode, Header, Incoming, Reader, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER_LEN {
        reader(data);
        return;
    }
    let (head, payload) = data.split_at(HEADER_LEN);
    let head: &[u8; HEADER_LEN] = head.try_into().unwrap();
    let h = Header::parse(head);
    assert_eq!(&h.bytes(), head, "header does not round-trip");
    assert!(h.len < 1 << 24);
    match decode(&h, payload) {
        Ok(m) => {
            let _ = format!("{m:?}");
            if let Incoming::Job(j) = &m {
                assert_eq!(j.merkle_path.len() % 32, 0);
                assert_eq!(j.path().count(), j.merkle_path.len() / 32);
                assert!(j.coinbase_prefix.len() + j.coinbase_suffix.len() <= payload.len());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    reader(payload);
});

/// Drive the reader with its own methods, chosen by the bytes it reads.
fn reader(data: &[u8]) {
    let mut r = Reader::new(data);
    let mut taken = 0usize;
    for _ in 0..64 {
        let Ok(op) = r.u8() else {
            break;
        };
        taken += 1;
        let n = match op % 12 {
            0 => r.u8().map(|_| 1),
            1 => r.u16().map(|_| 2),
            2 => r.u32().map(|_| 4),
            3 => r.u64().map(|_| 8),
            4 => r.bool().map(|_| 1),
            5 => r.u256().map(|_| 32),
            6 => r.b0_255().map(|b| 1 + b.len()),
            7 => r.b0_32().map(|b| {
                assert!(b.len() <= 32);
                1 + b.len()
            }),
            8 => r.b0_64k().map(|b| 2 + b.len()),
            9 => r.option_u32().map(|o| if o.is_some() { 5 } else { 1 }),
            10 => r.f32_bits().map(|_| 4),
            _ => {
                let _ = r.end();
                Ok(0)
            }
        };
        match n {
            Ok(n) => {
                taken += n;
                assert!(taken <= data.len(), "reader handed out more than it had");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if taken == data.len() {
        assert!(r.end().is_ok());
    }
}
