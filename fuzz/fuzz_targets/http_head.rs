//! The HTTP request head parser the status page and control API read requests with.
//!
//! Beyond "never panics": a complete head's body is the bytes after the head (never more than
//! were received), and its announced length respects the body cap.
#![no_main]

use hashmux::http::{parse_head, Head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_head(data) {
        Head::Complete {
            request,
            content_length,
        } => {
            assert!(content_length <= 4 * 1024);
            assert!(request.body.len() <= data.len());
            assert!(data.ends_with(&request.body));
            assert!(!request.path.contains('?'));
            let _ = format!("{request:?}");
        }
        Head::Partial => assert!(data.len() < 8 * 1024),
        Head::Bad | Head::TooLarge => {}
    }
});
