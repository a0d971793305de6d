//! Checks more than one SV1 target makes.

use hashmux::work::Difficulty;

/// Parsing never yields zero; writing rounds up, so text → value → text → value never falls.
pub fn check_difficulty(text: &str) {
    let Some(d) = Difficulty::parse(text) else {
        return;
    };
    assert_ne!(d.0, 0, "difficulty {text} parsed to zero");
    let _ = d.target();
    let written = d.to_string();
    let again = Difficulty::parse(&written)
        .unwrap_or_else(|| panic!("{text} was written as {written}, which does not parse"));
    assert!(
        again >= d,
        "{text} → {d:?} → {written} → {again:?} rounds down"
    );
}
