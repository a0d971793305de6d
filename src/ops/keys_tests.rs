//! The key file in a scratch directory: creation, reload, mode, refusals, and that the secret
//! shows up nowhere it should not.

use super::*;
use crate::wire::sv2::noise::{certificate_digest, respond, Initiator};
use crate::wire::sv2::secp::xorshift_source;

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hashmux-keys-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self) -> PathBuf {
        self.0.join("sv2-authority.key")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hex(b: &[u8]) -> String {
    let mut out = Vec::new();
    hex_push(&mut out, b);
    String::from_utf8(out).unwrap()
}

#[test]
fn test_missing_file_created_mode_600_then_reload_gives_same_key() {
    let dir = Scratch::new("create");
    let path = dir.file();
    let (key, created) = AuthorityKey::load_or_create(&path).unwrap();
    assert!(created);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{}\n", hex(&key.secret)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(permissions_warning(&path), None);
    let (again, created) = AuthorityKey::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!((again.secret, again.public), (key.secret, key.public));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not rewritten"
    );
    // Only the key file is left in the directory (no temp file).
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
}

#[test]
fn test_existing_key_with_whitespace_or_uppercase_loads() {
    let dir = Scratch::new("lenient");
    let path = dir.file();
    let secret = [0x42u8; 32];
    std::fs::write(&path, format!("  {}\r\n\n", hex(&secret).to_uppercase())).unwrap();
    let (key, created) = AuthorityKey::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(key.public(), secp::xonly_public(&secret));
}

#[test]
fn test_malformed_file_refused_naming_path_never_quoting_it() {
    let dir = Scratch::new("malformed");
    let path = dir.file();
    let good = hex(&[0x3cu8; 32]);
    let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("\n \n".into(), "empty"),
        (good[..63].into(), "63 hex digits"),
        (format!("{good}0"), "65 hex digits"),
        (format!("{}g", &good[..63]), "character 64"),
        (format!("{good}\n{good}\n"), "more than one line"),
        (format!("0x{good}"), "character 2"),
        ("0".repeat(64), "not a valid secp256k1 secret"),
        (order.into(), "not a valid secp256k1 secret"),
        ("a".repeat(2000), "longer than 1024 bytes"),
    ];
    for (content, why) in cases {
        std::fs::write(&path, &content).unwrap();
        let err = AuthorityKey::load_or_create(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, KeyError::Malformed { .. }), "{msg}");
        assert!(msg.contains(why), "{why:?} not in {msg:?}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains(&good[..16]), "secret quoted: {msg}");
        assert!(!format!("{err:?}").contains(&good[..16]));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            content,
            "not repaired"
        );
    }
}

#[test]
fn test_missing_directory_is_io_error_naming_path() {
    let dir = Scratch::new("nodir");
    let path = dir.0.join("no/such/dir/key");
    let err = AuthorityKey::load_or_create(&path).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir/key"), "{err}");
}

#[cfg(unix)]
#[test]
fn test_group_readable_file_gets_permissions_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("perm");
    let path = dir.file();
    AuthorityKey::load_or_create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let w = permissions_warning(&path).expect("warning");
    assert!(w.contains("640") && w.contains("chmod 600"), "{w}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(permissions_warning(&path), None);
}

#[test]
fn test_debug_shows_public_key_only() {
    let key = AuthorityKey::from_secret([0x11; 32]).unwrap();
    let dbg = format!("{key:?}");
    assert!(dbg.contains(&key.public_text()), "{dbg}");
    assert!(!dbg.contains("1111111111"), "{dbg}");
    assert!(!dbg.contains("17, 17, 17"), "{dbg}");
}

#[test]
fn test_public_text_reads_back_as_config_authority_key() {
    let key = AuthorityKey::generate().unwrap();
    assert_eq!(base58::authority_key(&key.public_text()), Ok(key.public()));
    assert!(AuthorityKey::from_secret([0; 32]).is_none());
}

#[test]
fn test_signed_certificate_verifies_and_completes_a_handshake() {
    let key = AuthorityKey::generate().unwrap();
    let static_key = Keypair::from_random(xorshift_source(4));
    let x = secp::ellswift_decode(&static_key.ellswift);
    let sig = key.sign_certificate(&x, 100, 2_000_000_000);
    let digest = certificate_digest(CERT_VERSION, 100, 2_000_000_000, &x);
    assert!(secp::schnorr_verify(&key.public(), &digest, &sig));

    let cert = key.certificate(&static_key, 1_700_000_000, 2_000_000_000);
    let (init, act1) = Initiator::start(key.public(), Keypair::from_random(xorshift_source(5)));
    let e = Keypair::from_random(xorshift_source(6));
    let (_, act2) = respond(&act1, &static_key, e, &cert).unwrap();
    let (_, got) = init.finish(&act2, 1_800_000_000).unwrap();
    assert_eq!((got.server_key, got.valid_from), (x, 1_700_000_000));
}
