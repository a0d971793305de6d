//! Configuration: JSON → fixed-capacity structs (serde-json-core), validated.
//!
//! API contract:
//!   pub fn parse(json: &[u8]) -> Result<Config, ConfigError>;
//!   pub fn load(path: &std::path::Path) -> Result<Config, ConfigError>;
