//! Pool URLs: `stratum+tcp://HOST:PORT` (Stratum V1) with an optional trailing `/`, and
//! `stratum2+tcp://HOST:PORT/AUTHORITY_KEY` (Stratum V2; the key may instead be given in the
//! pool's `authority_pubkey` field).

use std::net::{Ipv4Addr, Ipv6Addr};

const EXPECTED: &str = "expected stratum+tcp://host:port";

/// A parsed pool URL.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PoolUrl<'a> {
    pub host: &'a str,
    pub port: u16,
    /// Stratum V2, with the authority key text from the path if there was one.
    pub v2: Option<Option<&'a str>>,
}

/// Splits a pool URL into host, port and protocol. The host is a DNS name, an IPv4 address,
/// or an IPv6 address (written in brackets in the URL, returned without them); the port is
/// never 0.
pub(super) fn parse(url: &str) -> Result<PoolUrl<'_>, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("\"{url}\" is not a URL; {EXPECTED}"));
    };
    let v2 = scheme.eq_ignore_ascii_case("stratum2+tcp");
    if !v2 && !scheme.eq_ignore_ascii_case("stratum+tcp") {
        return Err(format!("unsupported scheme \"{scheme}\"; {EXPECTED}"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let key = path.trim_start_matches('/');
    if !v2 && !key.is_empty() {
        return Err(format!("unexpected path \"{path}\"; {EXPECTED}"));
    }
    if key.contains('/') {
        return Err(format!(
            "unexpected path \"{path}\"; expected stratum2+tcp://host:port/AUTHORITY_KEY"
        ));
    }
    let v2 = v2.then_some((!key.is_empty()).then_some(key));
    if authority.contains('@') {
        return Err("put credentials in \"user\" and \"password\", not in the URL".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((host, after)) = bracketed.split_once(']') else {
                return Err("missing ']' after the IPv6 address".into());
            };
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(format!("invalid IPv6 address \"{host}\""));
            }
            match after.strip_prefix(':') {
                Some(port) => (host, port),
                None if after.is_empty() => (host, ""),
                None => {
                    return Err(format!(
                        "unexpected \"{after}\" after the IPv6 address; {EXPECTED}"
                    ))
                }
            }
        }
        None => {
            let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
            if host.contains(':') {
                return Err(
                    "write IPv6 addresses in brackets, e.g. stratum+tcp://[2001:db8::1]:3333"
                        .into(),
                );
            }
            if !is_host(host) {
                return Err(format!(
                    "invalid host \"{host}\"; expected a DNS name or an IP address"
                ));
            }
            (host, port)
        }
    };
    if port.is_empty() {
        return Err(format!("missing port; {EXPECTED}"));
    }
    match port.parse::<u16>() {
        Ok(n) if n != 0 && port.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(PoolUrl { host, port: n, v2 })
        }
        _ => Err(format!("invalid port \"{port}\" (must be 1-65535)")),
    }
}

/// A DNS name (labels of 1-63 letters, digits, `-` or `_`, not starting or ending with `-`;
/// 253 bytes at most) or a dotted-quad IPv4 address.
fn is_host(host: &str) -> bool {
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    host.len() <= 253 && host.split('.').all(label_ok)
}
