//! The proxy's own Stratum V2 authority key pair, on disk. Its public half is what SV2 miners
//! put in their pool URL (base58check, like any pool's authority key); its secret half signs
//! the certificate of the static key hashmux's SV2 server presents in the Noise handshake.
//!
//! File format: one line, the 32-byte secret as 64 hex digits (written lowercase), then `\n`.
//! Whitespace around it is ignored when reading; anything else makes the file malformed.
//! A missing file is created with mode 0600 through a temp file in the same directory
//! (create-new, write, fsync, rename, fsync of the directory), so a crash leaves either no key
//! or a whole one.
//!
//! Invariants: an [`AuthorityKey`] always holds a valid secp256k1 secret (1 ≤ d < n); the
//! secret never appears in `Debug` output or in an error message; an existing file that is not
//! exactly one key is refused, never repaired or overwritten (miners trust its public key).

use crate::ops::config::base58;
use crate::wire::sv1::{hex_decode, hex_push};
use crate::wire::sv2::noise::{self, CertificateFields, CERT_VERSION};
use crate::wire::sv2::secp::{self, Keypair, OsRandom};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A key file longer than this is not one key.
const MAX_FILE: u64 = 1024;

/// Why the key file could not be read, created or used.
#[derive(Debug)]
pub enum KeyError {
    /// The file system refused (`action` says what we were doing).
    Io {
        path: PathBuf,
        action: &'static str,
        err: std::io::Error,
    },
    /// The file exists but does not hold one valid key (`why` never quotes the content).
    Malformed { path: PathBuf, why: String },
    /// The operating system's random source could not be read.
    Random(std::io::Error),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io { path, action, err } => {
                write!(f, "authority key file {}: cannot {action}: {err}", path.display())
            }
            KeyError::Malformed { path, why } => write!(
                f,
                "authority key file {} is malformed: {why} (expected one line of 64 hex digits; \
                 restore it from a backup, or remove it to generate a new key, which miners must then be given)",
                path.display()
            ),
            KeyError::Random(err) => write!(f, "cannot read the OS random source: {err}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The proxy's SV2 authority key pair.
pub struct AuthorityKey {
    secret: [u8; 32],
    public: [u8; 32],
}

impl fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityKey")
            .field("public", &self.public_text())
            .finish_non_exhaustive()
    }
}

impl AuthorityKey {
    /// The key pair of `secret`, if it is a valid secret key.
    pub fn from_secret(secret: [u8; 32]) -> Option<AuthorityKey> {
        secp::valid_secret(&secret).then(|| AuthorityKey {
            public: secp::xonly_public(&secret),
            secret,
        })
    }

    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<AuthorityKey, KeyError> {
        let mut src = OsRandom::open().map_err(KeyError::Random)?;
        loop {
            let secret = src.bytes32().map_err(KeyError::Random)?;
            if let Some(key) = AuthorityKey::from_secret(secret) {
                return Ok(key);
            }
        }
    }

    /// Read the key at `path`, or create the file with a fresh key if there is none. The flag
    /// says whether it was created (its public key is new: miners need to be given it).
    pub fn load_or_create(path: &Path) -> Result<(AuthorityKey, bool), KeyError> {
        match read_limited(path) {
            Ok(text) => Ok((parse(&text).map_err(|why| malformed(path, why))?, false)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = AuthorityKey::generate()?;
                write_new(path, &key.secret)?;
                Ok((key, true))
            }
            Err(err) => Err(KeyError::Io {
                path: path.to_path_buf(),
                action: "read it",
                err,
            }),
        }
    }

    /// The x-only public key.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The public key as miners configure it (base58check, sv2-spec §4.7).
    pub fn public_text(&self) -> String {
        base58::authority_key_text(&self.public)
    }

    /// Signature of a certificate for the x-only static key `static_xonly`, valid from
    /// `valid_from` to `not_valid_after` (unix seconds), with fresh aux randomness (zeros if
    /// the OS source fails, which BIP340 still allows).
    pub fn sign_certificate(
        &self,
        static_xonly: &[u8; 32],
        valid_from: u32,
        not_valid_after: u32,
    ) -> [u8; 64] {
        let aux = OsRandom::open()
            .and_then(|mut r| r.bytes32())
            .unwrap_or([0; 32]);
        noise::sign_certificate(
            &self.secret,
            CERT_VERSION,
            valid_from,
            not_valid_after,
            static_xonly,
            &aux,
        )
    }

    /// The whole certificate for `static_key`, ready for [`noise::respond`].
    pub fn certificate(
        &self,
        static_key: &Keypair,
        valid_from: u32,
        not_valid_after: u32,
    ) -> CertificateFields {
        let x = secp::ellswift_decode(&static_key.ellswift);
        CertificateFields {
            version: CERT_VERSION,
            valid_from,
            not_valid_after,
            signature: self.sign_certificate(&x, valid_from, not_valid_after),
        }
    }
}

/// A warning if the key file can be read or written by anyone but its owner.
pub fn permissions_warning(path: &Path) -> Option<String> {
    super::mode_warning(
        path,
        0o077,
        "open to group or others",
        "the secret that signs this proxy's SV2 certificate",
    )
}

fn malformed(path: &Path, why: String) -> KeyError {
    KeyError::Malformed {
        path: path.to_path_buf(),
        why,
    }
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut text)?;
    Ok(text)
}

/// The key in a file's bytes; the error says what is wrong without quoting any of it.
fn parse(text: &[u8]) -> Result<AuthorityKey, String> {
    if text.len() as u64 > MAX_FILE {
        return Err(format!("longer than {MAX_FILE} bytes"));
    }
    let line = text.trim_ascii();
    if line.is_empty() {
        return Err("the file is empty".into());
    }
    if line.contains(&b'\n') {
        return Err("more than one line".into());
    }
    if let Some(at) = line.iter().position(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("character {} is not a hex digit", at + 1));
    }
    if line.len() != 64 {
        return Err(format!("{} hex digits", line.len()));
    }
    let mut secret = [0u8; 32];
    let hex = std::str::from_utf8(line).map_err(|_| "not text".to_string())?;
    if hex_decode(hex, &mut secret) != Some(32) {
        return Err("not hex".into());
    }
    AuthorityKey::from_secret(secret).ok_or_else(|| {
        "not a valid secp256k1 secret key (zero, or not below the group order)".to_string()
    })
}

/// Create `path` holding `secret`, readable by its owner only, atomically.
fn write_new(path: &Path, secret: &[u8; 32]) -> Result<(), KeyError> {
    let io = |action: &'static str| {
        move |err| KeyError::Io {
            path: path.to_path_buf(),
            action,
            err,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| KeyError::Io {
        path: path.to_path_buf(),
        action: "create it",
        err: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // A leftover of a crash at an earlier boot may hold our pid's name (routers reuse pids).
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(&tmp)
        .map_err(io("create a temporary file next to it"))?;
    let mut line = Vec::with_capacity(65);
    hex_push(&mut line, secret);
    line.push(b'\n');
    let written = file
        .write_all(&line)
        .and_then(|()| file.sync_all())
        .map_err(io("write it"))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io("move it into place")));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // Make the new directory entry durable; some file systems cannot sync a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
