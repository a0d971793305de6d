//! sha256d, merkle root and the 80-byte block header.
