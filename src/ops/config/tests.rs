use super::*;

const EXAMPLE: &str = r#"{"listen": "0.0.0.0:3333", "http": "0.0.0.0:8080", "log_level": "debug",
 "pools": [{"name": "a", "url": "stratum+tcp://host:3333", "user": "acct.worker", "password": "x", "weight": 70, "priority": 1}],
 "miners": {"max": 64, "shares_per_min": 20, "min_difficulty": 0.0001, "max_difficulty": 4096, "start_difficulty": 1, "idle_timeout_secs": 600},
 "failover": {"job_timeout_secs": 180, "backoff_min_ms": 1000, "backoff_max_ms": 60000}}"#;

const POOL: &str = r#"{"url": "stratum+tcp://h.example:3333", "user": "u"}"#;

fn diff(text: &str) -> Difficulty {
    Difficulty::parse(text).unwrap()
}

/// A config with one minimal pool plus `extra` top-level fields (each with a leading comma).
fn with_top(extra: &str) -> String {
    format!(r#"{{"pools": [{POOL}]{extra}}}"#)
}

/// A config with one pool made of the minimal fields plus `extra` (leading comma included).
fn with_pool(extra: &str) -> String {
    format!(r#"{{"pools": [{{"url": "stratum+tcp://h.example:3333", "user": "u"{extra}}}]}}"#)
}

fn url(url: &str) -> Result<Config, ConfigError> {
    parse(format!(r#"{{"pools": [{{"url": "{url}", "user": "u"}}]}}"#).as_bytes())
}

#[track_caller]
fn refused(json: &str) -> String {
    match parse(json.as_bytes()) {
        Ok(config) => panic!("accepted {json}: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_refused(json: &str, expected: &str) {
    let msg = refused(json);
    assert!(msg.contains(expected), "message {msg:?} lacks {expected:?}");
}

#[test]
fn test_example_parses_every_field() {
    let c = parse(EXAMPLE.as_bytes()).unwrap();
    assert_eq!(c.listen, "0.0.0.0:3333".parse().unwrap());
    assert_eq!(c.http, Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(c.log_level.as_deref(), Some("debug"));
    let p = &c.pools[0];
    assert_eq!(c.pools.len(), 1);
    assert_eq!(
        (p.name.as_str(), p.host.as_str(), p.port),
        ("a", "host", 3333)
    );
    assert_eq!(
        (p.user.as_str(), p.password.as_str(), p.weight, p.priority),
        ("acct.worker", "x", 70, 1)
    );
    let m = &c.miners;
    assert_eq!(
        (m.max, m.shares_per_min, m.idle_timeout_secs),
        (64, 20, 600)
    );
    assert_eq!(
        (m.min_difficulty, m.max_difficulty, m.start_difficulty),
        (diff("0.0001"), diff("4096"), Difficulty::ONE)
    );
    assert_eq!(
        c.failover,
        FailoverSettings {
            job_timeout_secs: 180,
            backoff_min_ms: 1000,
            backoff_max_ms: 60000
        }
    );
}

#[test]
fn test_minimal_config_gets_defaults() {
    let c = parse(format!(r#"{{"pools": [{POOL}, {POOL}]}}"#).as_bytes()).unwrap();
    assert_eq!(c.listen, "0.0.0.0:3333".parse().unwrap());
    assert_eq!(c.http, Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(c.log_level, None);
    assert_eq!(c.miners, MinerSettings::default());
    assert_eq!(c.failover, FailoverSettings::default());
    for (i, p) in c.pools.iter().enumerate() {
        assert_eq!(p.name, format!("pool{i}").as_str());
        assert_eq!(
            (p.password.as_str(), p.weight, p.priority),
            ("x", 1, i as u32)
        );
    }
}

#[test]
fn test_defaults_match_documented_values() {
    let m = MinerSettings::default();
    assert_eq!(
        (m.max, m.shares_per_min, m.idle_timeout_secs),
        (64, 20, 600)
    );
    assert_eq!(
        (m.min_difficulty, m.max_difficulty, m.start_difficulty),
        (diff("0.0001"), diff("4096"), Difficulty::ONE)
    );
    let f = FailoverSettings::default();
    assert_eq!(
        (f.job_timeout_secs, f.backoff_min_ms, f.backoff_max_ms),
        (180, 1000, 60000)
    );
}

#[test]
fn test_start_difficulty_default_is_clamped() {
    let c =
        parse(with_top(r#", "miners": {"min_difficulty": 8, "max_difficulty": 64}"#).as_bytes())
            .unwrap();
    assert_eq!(c.miners.start_difficulty, diff("8"));
    let c = parse(with_top(r#", "miners": {"max_difficulty": 0.5}"#).as_bytes()).unwrap();
    assert_eq!(c.miners.start_difficulty, diff("0.5"));
}

#[test]
fn test_fractional_difficulty_accepted() {
    let json = with_top(
        r#", "miners": {"min_difficulty": 1e-5, "start_difficulty": 0.0001, "max_difficulty": 2.5}"#,
    );
    let m = parse(json.as_bytes()).unwrap().miners;
    assert_eq!(
        (m.min_difficulty, m.start_difficulty, m.max_difficulty),
        (diff("1e-5"), diff("0.0001"), diff("2.5"))
    );
}

#[test]
fn test_difficulty_text_parsed_without_floats() {
    let json = with_top(
        r#", "miners": {"min_difficulty": 1e-5, "start_difficulty": 16384.0, "max_difficulty": 1.6384E+4}"#,
    );
    let m = parse(json.as_bytes()).unwrap().miners;
    assert_eq!(
        (m.min_difficulty, m.start_difficulty, m.max_difficulty),
        (diff("1e-5"), diff("16384.0"), diff("16384"))
    );
    assert_eq!(m.min_difficulty, diff("0.00001"));
    // The text is found by the walker's (unescaped) path, whatever the spacing around it.
    let json = with_top(r#", "miners": {"\u006din_difficulty" :  2.5e0 , "max_difficulty":8}"#);
    let m = parse(json.as_bytes()).unwrap().miners;
    assert_eq!(
        (m.min_difficulty, m.max_difficulty),
        (diff("2.5"), diff("8"))
    );
    // The limit is inclusive; anything above it, however little, is refused.
    let json = with_top(r#", "miners": {"max_difficulty": 4294967295}"#);
    assert_eq!(
        parse(json.as_bytes()).unwrap().miners.max_difficulty,
        diff("4294967295")
    );
    assert_refused(
        &with_top(r#", "miners": {"max_difficulty": 4294967295.5}"#),
        "miners.max_difficulty: must be at most 4294967295 (found 4294967295.5)",
    );
    // Messages quote the value as written, with its position.
    assert_eq!(
        refused(&format!(
            "{{\"pools\": [{POOL}],\n \"miners\": {{\n  \"min_difficulty\": -1}}}}"
        )),
        "miners.min_difficulty: must be greater than 0 (found -1) (line 3, column 21)"
    );
}

#[test]
fn test_http_empty_disables_and_addresses_parse() {
    assert_eq!(
        parse(with_top(r#", "http": """#).as_bytes()).unwrap().http,
        None
    );
    let c =
        parse(with_top(r#", "listen": "[::]:3333", "http": "127.0.0.1:0""#).as_bytes()).unwrap();
    assert_eq!(
        (c.listen, c.http),
        (
            "[::]:3333".parse().unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        )
    );
}

#[test]
fn test_socket_addr_refused_names_field() {
    assert_refused(
        &with_top(r#", "listen": "3333""#),
        r#"listen: "3333" is not an address with a port"#,
    );
    assert_refused(&with_top(r#", "listen": """#), "listen: ");
    assert_refused(
        &with_top(r#", "http": "localhost:80""#),
        "http: \"localhost:80\" is not",
    );
    assert_refused(
        &with_top(r#", "http": "0.0.0.0:3333""#),
        "http: 0.0.0.0:3333 would bind the same port as listen",
    );
}

#[test]
fn test_log_level_checked() {
    assert_refused(
        &with_top(r#", "log_level": "verbose""#),
        r#"log_level: unknown level "verbose"; expected one of error, warn"#,
    );
    assert_refused(
        &with_top(r#", "log_level": 3"#),
        "log_level: expected a string, found a number",
    );
}

#[test]
fn test_wrong_type_names_field_and_position() {
    let json = "{\n  \"pools\": [\n    {\"url\": \"stratum+tcp://a:1\", \"user\": \"u\"},\n    {\n      \"url\": \"stratum+tcp://b:1\",\n      \"user\": \"u\",\n         \"weight\": \"70\"\n    }\n  ]\n}";
    assert_eq!(
        refused(json),
        "pools[1].weight: expected an unsigned integer, found a string (line 7, column 20)"
    );
    assert_refused(
        &with_top(r#", "miners": []"#),
        "miners: expected an object, found an array (line 1, column ",
    );
    assert_refused(
        &with_top(r#", "miners": {"min_difficulty": "1"}"#),
        "miners.min_difficulty: expected a number, found a string",
    );
    assert_refused(
        r#"{"pools": {}}"#,
        "pools: expected an array, found an object (line 1, column 11)",
    );
    assert_refused(
        &with_pool(r#", "priority": true"#),
        "pools[0].priority: expected an unsigned integer, found a boolean",
    );
    assert_refused(
        &with_pool(r#", "password": null"#),
        "pools[0].password: expected a string, found null",
    );
    assert_refused(
        "[1]",
        "expected an object, found an array (line 1, column 1)",
    );
}

#[test]
fn test_integer_field_refuses_negative_fraction_and_overflow() {
    assert_refused(
        &with_pool(r#", "weight": -1"#),
        "pools[0].weight: expected an unsigned integer, found a negative number",
    );
    assert_refused(
        &with_pool(r#", "weight": 1.5"#),
        "pools[0].weight: expected an unsigned integer, found a number with a fraction",
    );
    assert_refused(
        &with_pool(r#", "priority": 4294967296"#),
        "pools[0].priority: too large (at most 4294967295)",
    );
    assert_refused(
        &with_top(r#", "miners": {"max_difficulty": 1e999}"#),
        "miners.max_difficulty: must be at most 4294967295 (found 1e999)",
    );
}

#[test]
fn test_unknown_field_named_with_path_and_position() {
    assert_eq!(
        refused("{\n  \"listne\": \"0.0.0.0:3333\"}"),
        "unknown field \"listne\" (line 2, column 3); did you mean `listen`?"
    );
    assert_refused(
        &with_top(r#", "miners": {"foo": 1}"#),
        "miners.foo: unknown field (line 1, column ",
    );
    assert_refused(
        &with_pool(r#", "wieght": 1"#),
        "pools[0].wieght: unknown field",
    );
    assert_refused(
        &with_top(r#", "failover": {"job_timeout": 1}"#),
        "failover.job_timeout: unknown field",
    );
}

#[test]
fn test_duplicate_field_refused() {
    assert_refused(
        &with_pool(r#", "user": "v""#),
        "pools[0].user: field appears more than once (line 1, column 65)",
    );
}

#[test]
fn test_missing_required_fields_refused() {
    assert_refused("{}", "pools: required field is missing (line 1, column 1)");
    assert_refused(
        r#"{"pools": [{"user": "u"}]}"#,
        "pools[0].url: required field is missing (line 1, column 12)",
    );
    assert_refused(
        r#"{"pools": [{"url": "stratum+tcp://h:1"}]}"#,
        "pools[0].user: required field is missing",
    );
}

#[test]
fn test_syntax_errors_have_position() {
    assert_refused(
        "{\"pools\": [] \"listen\": \"\"}",
        "invalid JSON: expected ',' or '}' after the field, found '\"' (line 1, column 14)",
    );
    assert_refused(
        "{\n\"listen\": \"0.0.0.0:3333}",
        "listen: invalid JSON: unterminated string (line 2, column 11)",
    );
    assert_refused(&format!("{}\n x", with_top("")), "invalid JSON: expected the end of the file after the top-level object, found 'x' (line 2, column 2)");
    assert_refused(
        &with_top(r#", "http": "a","#),
        "invalid JSON: trailing comma: JSON allows no comma before a closing bracket",
    );
    assert_refused(
        &format!(r#"{{"pools": [{POOL},]}}"#),
        "pools: invalid JSON: trailing comma: JSON allows no comma",
    );
    assert_refused(
        "",
        "invalid JSON: expected a JSON object, found the end of the file",
    );
    assert_refused(
        "{\"pools\": [",
        "pools[0]: invalid JSON: expected a value, found the end of the file (line 1, column 12)",
    );
    assert_refused(
        &with_pool(r#", "weight": 01"#),
        "invalid JSON: expected ',' or '}' after the field, found '1'",
    );
    assert_refused(
        &with_pool(r#", "password": "a\qb""#),
        "pools[0].password: invalid JSON: invalid escape sequence",
    );
    assert_refused(
        &with_pool(", \"password\": \"a\tb\""),
        "pools[0].password: invalid JSON: control character in string",
    );
}

#[test]
fn test_escapes_and_bom_accepted() {
    let json = format!(
        "\u{FEFF}{}",
        with_pool(r#", "password": "p\"w\\\u00e9", "name": "\u0041""#)
    );
    let c = parse(json.as_bytes()).unwrap();
    assert_eq!(
        (c.pools[0].password.as_str(), c.pools[0].name.as_str()),
        ("p\"w\\é", "A")
    );
}

#[test]
fn test_string_too_long_says_limit() {
    let name = "n".repeat(33);
    assert_refused(
        &with_pool(&format!(r#", "name": "{name}""#)),
        "pools[0].name: too long: 33 bytes, at most 32 (line 1, column",
    );
    let password = "p".repeat(129);
    assert_refused(
        &with_pool(&format!(r#", "password": "{password}""#)),
        "pools[0].password: too long: 129 bytes, at most 128",
    );
    assert!(parse(with_pool(&format!(r#", "name": "{}""#, "n".repeat(32))).as_bytes()).is_ok());
}

#[test]
fn test_url_forms_accepted() {
    let host_port = |u: &str| {
        url(u)
            .map(|c| (c.pools[0].host.to_string(), c.pools[0].port))
            .unwrap()
    };
    assert_eq!(
        host_port("stratum+tcp://pool.example.com:3333"),
        ("pool.example.com".into(), 3333)
    );
    assert_eq!(
        host_port("STRATUM+TCP://10.0.0.1:1/"),
        ("10.0.0.1".into(), 1)
    );
    assert_eq!(
        host_port("stratum+tcp://[2001:db8::1]:65535"),
        ("2001:db8::1".into(), 65535)
    );
}

#[test]
fn test_sv2_url_carries_authority_key() {
    const KEY: &str = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh";
    let c = url(&format!("stratum2+tcp://pool.example:3336/{KEY}")).unwrap();
    assert_eq!(
        (c.pools[0].host.as_str(), c.pools[0].port),
        ("pool.example", 3336)
    );
    assert_eq!(c.pools[0].authority.unwrap()[..4], [118, 99, 112, 0]);
    let json = format!(
        r#"{{"pools": [{{"url": "stratum2+tcp://h:1", "user": "u", "authority_pubkey": "{KEY}"}}]}}"#
    );
    assert!(parse(json.as_bytes()).unwrap().pools[0].authority.is_some());
    assert!(url("stratum+tcp://h:1").unwrap().pools[0]
        .authority
        .is_none());
    let json = format!(
        r#"{{"pools": [{{"url": "stratum+tcp://h:1", "user": "u", "authority_pubkey": "{KEY}"}}]}}"#
    );
    assert_refused(
        &json,
        "pools[0].authority_pubkey: only stratum2+tcp:// pools have an authority key",
    );
}

#[test]
fn test_url_refusals_name_field() {
    let cases = [
        ("http://h:1", "pools[0].url: unsupported scheme \"http\"; expected stratum+tcp://host:port (line 1, column 20)"),
        ("stratum2+tcp://h:1", "pools[0].url: a Stratum V2 pool needs its authority public key"),
        ("stratum2+tcp://h:1/9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXj", "pools[0].url: bad authority key: checksum mismatch"),
        ("stratum2+tcp://h:1/a/b", "pools[0].url: unexpected path"),
        ("h:3333", "pools[0].url: \"h:3333\" is not a URL"),
        ("stratum+tcp://h", "pools[0].url: missing port"),
        ("stratum+tcp://h:", "pools[0].url: missing port"),
        ("stratum+tcp://h:0", "pools[0].url: invalid port \"0\" (must be 1-65535)"),
        ("stratum+tcp://h:65536", "pools[0].url: invalid port \"65536\""),
        ("stratum+tcp://h:+80", "pools[0].url: invalid port \"+80\""),
        ("stratum+tcp://h:1/path", "pools[0].url: unexpected path \"/path\""),
        ("stratum+tcp://:1", "pools[0].url: invalid host \"\""),
        ("stratum+tcp://bad_host-.com:1", "pools[0].url: invalid host"),
        ("stratum+tcp://300.1.1.1:1", "pools[0].url: invalid host \"300.1.1.1\""),
        ("stratum+tcp://::1:3333", "pools[0].url: write IPv6 addresses in brackets"),
        ("stratum+tcp://[::1]", "pools[0].url: missing port"),
        ("stratum+tcp://[zz::1]:1", "pools[0].url: invalid IPv6 address \"zz::1\""),
        ("stratum+tcp://u:p@h:1", "pools[0].url: put credentials in \"user\" and \"password\""),
    ];
    for (u, expected) in cases {
        let msg = url(u).unwrap_err().to_string();
        assert!(msg.contains(expected), "{u}: {msg:?} lacks {expected:?}");
    }
}

#[test]
fn test_duplicate_pool_names_refused() {
    let json = r#"{"pools": [{"name": "a", "url": "stratum+tcp://h:1", "user": "u"},
                  {"name": "a", "url": "stratum+tcp://h:2", "user": "u"}]}"#;
    assert_refused(
        json,
        "pools: duplicate pool name \"a\" (also pools[0]) (line 2, column 28)",
    );
    // An explicit name can collide with a default one.
    let json = format!(
        r#"{{"pools": [{POOL}, {{"name": "pool0", "url": "stratum+tcp://h:2", "user": "u"}}]}}"#
    );
    assert_refused(
        &json,
        "pools: duplicate pool name \"pool0\" (also pools[0])",
    );
}

#[test]
fn test_pool_count_limits() {
    assert_refused(
        r#"{"pools": []}"#,
        "pools: at least one pool is required (line 1, column 11)",
    );
    let nine = [POOL; 9].join(", ");
    assert_refused(
        &format!(r#"{{"pools": [{nine}]}}"#),
        "pools: too many pools: 9, at most 8 (line 1, column ",
    );
    let eight: Vec<String> = (0..8)
        .map(|i| format!(r#"{{"url": "stratum+tcp://h:{}", "user": "u"}}"#, i + 1))
        .collect();
    assert_eq!(
        parse(format!(r#"{{"pools": [{}]}}"#, eight.join(",")).as_bytes())
            .unwrap()
            .pools
            .len(),
        8
    );
}

#[test]
fn test_pool_values_checked() {
    assert_refused(
        &with_pool(r#", "weight": 10001"#),
        "pools[0].weight: must be between 0 and 10000 (found 10001) (line 1",
    );
    assert_refused(
        &with_pool(r#", "name": """#),
        "pools[0].name: must not be empty",
    );
    assert_refused(
        r#"{"pools": [{"url": "stratum+tcp://h:1", "user": ""}]}"#,
        "pools[0].user: must not be empty",
    );
}

#[test]
fn test_shipped_example_account_refused_until_replaced() {
    let shipped = include_str!("../../../openwrt/files/config.json");
    let e = parse(shipped.as_bytes()).unwrap_err();
    assert_eq!(e.path, "pools[0].user");
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "pools[0].user: still the example account \"bc1qyourbitcoinaddress.router\"; put your own payout address (line "
        ),
        "{msg}"
    );
    let mine = shipped.replace(
        "bc1qyourbitcoinaddress",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    );
    let c = parse(mine.as_bytes()).unwrap();
    assert_eq!(
        c.pools[0].user.as_str(),
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.router"
    );
    assert_refused(
        &with_pool(
            r#", "name": "b"}, {"url": "stratum+tcp://h:2", "user": "BC1QYOURBITCOINADDRESS""#,
        ),
        "pools[1].user: still the example account",
    );
}

#[test]
fn test_all_weights_zero_allowed() {
    let json = r#"{"pools": [{"url": "stratum+tcp://h:1", "user": "u", "weight": 0},
                            {"url": "stratum+tcp://h:2", "user": "u", "weight": 0, "priority": 0}]}"#;
    let c = parse(json.as_bytes()).unwrap();
    assert!(c.pools.iter().all(|p| p.weight == 0));
    assert_eq!((c.pools[0].priority, c.pools[1].priority), (0, 0));
}

#[test]
fn test_miner_ranges_checked() {
    let miners = |fields: &str| with_top(&format!(r#", "miners": {{{fields}}}"#));
    assert_refused(
        &miners(r#""max": 0"#),
        "miners.max: must be between 1 and 256 (found 0) (line 1, column",
    );
    assert_refused(
        &miners(r#""max": 257"#),
        "miners.max: must be between 1 and 256 (found 257)",
    );
    assert_refused(
        &miners(r#""shares_per_min": 0"#),
        "miners.shares_per_min: must be between 1 and 600",
    );
    assert_refused(
        &miners(r#""shares_per_min": 601"#),
        "miners.shares_per_min: must be between 1 and 600",
    );
    assert_refused(
        &miners(r#""idle_timeout_secs": 29"#),
        "miners.idle_timeout_secs: must be at least 30 (found 29)",
    );
    assert!(parse(
        miners(r#""max": 256, "shares_per_min": 600, "idle_timeout_secs": 30"#).as_bytes()
    )
    .is_ok());
}

#[test]
fn test_difficulty_rules_checked() {
    let miners = |fields: &str| with_top(&format!(r#", "miners": {{{fields}}}"#));
    assert_refused(
        &miners(r#""min_difficulty": 0"#),
        "miners.min_difficulty: must be greater than 0 (found 0)",
    );
    assert_refused(
        &miners(r#""max_difficulty": -2"#),
        "miners.max_difficulty: must be greater than 0 (found -2)",
    );
    assert_refused(
        &miners(r#""start_difficulty": 1e10"#),
        "miners.start_difficulty: must be at most 4294967295 (found 1e10)",
    );
    assert_refused(
        &miners(r#""min_difficulty": 8, "max_difficulty": 4"#),
        "miners.min_difficulty: 8 is above miners.max_difficulty (4)",
    );
    assert_refused(
        &miners(r#""max_difficulty": 0.00001"#),
        "miners.max_difficulty: 0.00001 is below miners.min_difficulty (0.0001)",
    );
    assert_refused(
        &miners(r#""min_difficulty": 2, "start_difficulty": 1"#),
        "miners.start_difficulty: 1 is below miners.min_difficulty (2)",
    );
    assert_refused(
        &miners(r#""start_difficulty": 5000"#),
        "miners.start_difficulty: 5000 is above miners.max_difficulty (4096)",
    );
}

#[test]
fn test_failover_ranges_checked() {
    let failover = |fields: &str| with_top(&format!(r#", "failover": {{{fields}}}"#));
    assert_refused(
        &failover(r#""job_timeout_secs": 4"#),
        "failover.job_timeout_secs: must be between 5 and 3600 (found 4)",
    );
    assert_refused(
        &failover(r#""job_timeout_secs": 3601"#),
        "failover.job_timeout_secs: must be between 5 and 3600",
    );
    assert_refused(
        &failover(r#""backoff_min_ms": 99"#),
        "failover.backoff_min_ms: must be between 100 and 600000 (found 99)",
    );
    assert_refused(
        &failover(r#""backoff_max_ms": 600001"#),
        "failover.backoff_max_ms: must be between 100 and 600000",
    );
    assert_refused(
        &failover(r#""backoff_min_ms": 5000, "backoff_max_ms": 4000"#),
        "failover.backoff_min_ms: 5000 is above failover.backoff_max_ms (4000)",
    );
    assert_refused(
        &failover(r#""backoff_max_ms": 500"#),
        "failover.backoff_max_ms: 500 is below failover.backoff_min_ms (1000)",
    );
    assert!(parse(
        failover(r#""job_timeout_secs": 5, "backoff_min_ms": 100, "backoff_max_ms": 100"#)
            .as_bytes()
    )
    .is_ok());
}

#[test]
fn test_debug_hides_password() {
    let json = with_pool(r#", "password": "hunter2-secret""#);
    let c = parse(json.as_bytes()).unwrap();
    assert_eq!(c.pools[0].password.as_str(), "hunter2-secret");
    let shown = format!("{c:?} {c:#?} {:?}", c.pools[0]);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("password: \"***\""), "{shown}");
}

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("hashmux-config-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn test_load_reads_file() {
    let path = temp_file("ok.json", EXAMPLE.as_bytes());
    let loaded = load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap(), parse(EXAMPLE.as_bytes()).unwrap());
}

#[test]
fn test_load_missing_file_refused() {
    let e = load(Path::new("/nonexistent/hashmux/config.json")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read /nonexistent/hashmux/config.json: No such file or directory"
    );
    assert!(matches!(e.problem, Problem::Io { .. }));
}

#[test]
fn test_load_large_file_refused() {
    let mut big = with_top("").into_bytes();
    big.extend(std::iter::repeat_n(b' ', MAX_FILE_BYTES));
    let path = temp_file("big.json", &big);
    let loaded = load(&path);
    std::fs::remove_file(&path).unwrap();
    let msg = loaded.unwrap_err().to_string();
    assert!(
        msg.starts_with("cannot read ") && msg.ends_with(": file is larger than 64 KiB"),
        "{msg}"
    );
}

#[test]
fn test_escaped_key_and_unicode_column() {
    let c = parse(format!(r#"{{"\u0070ools": [{POOL}]}}"#).as_bytes()).unwrap();
    assert_eq!(c.pools[0].name.as_str(), "pool0");
    // Columns count characters, not bytes: "é" is one column.
    assert_refused(
        &with_pool(r#", "name": "é", "weight": "1""#),
        "pools[0].weight: expected an unsigned integer, found a string (line 1, column 88)",
    );
    assert_refused(
        &with_pool(r#", "name": "\ud83d\ude00""#),
        "pools[0].name: invalid JSON: invalid escape sequence (\\uXXXX surrogate pairs",
    );
}

#[test]
fn test_split_defaults_are_balanced() {
    let c = parse(with_top("").as_bytes()).unwrap();
    assert_eq!(c.split, crate::core::split::SplitConfig::default());
    assert_eq!(
        c.split.preset,
        Some(crate::core::split::pid::Preset::Balanced)
    );
}

#[test]
fn test_split_custom_gains_and_decimals_without_floats() {
    let c = parse(
        with_top(r#", "split": {"preset": "custom", "kp": 0.75, "ki": 5e-2, "kd": 0, "deadband": 0.25, "max_trim": 15, "min_dwell_secs": 30}"#)
            .as_bytes(),
    )
    .unwrap();
    let s = c.split;
    assert_eq!(s.preset, None);
    assert_eq!((s.gains.kp, s.gains.ki, s.gains.kd), (750, 50, 0));
    assert_eq!(s.deadband_ppm, 2_500);
    assert_eq!(s.max_trim_ppm, 150_000);
    assert_eq!(s.min_dwell_secs, 30);
}

#[test]
fn test_split_named_preset_sets_gains() {
    let c = parse(with_top(r#", "split": {"preset": "aggressive"}"#).as_bytes()).unwrap();
    assert_eq!(
        c.split.gains,
        crate::core::split::pid::Preset::Aggressive.gains()
    );
}

#[test]
fn test_split_refusals_name_the_field() {
    let e = refused(&with_top(r#", "split": {"preset": "fast"}"#));
    assert!(
        e.starts_with("split.preset: unknown preset \"fast\""),
        "{e}"
    );
    let e = refused(&with_top(r#", "split": {"preset": "balanced", "kp": 1}"#));
    assert!(e.starts_with("split.kp: gains come from preset"), "{e}");
    let e = refused(&with_top(r#", "split": {"ki": -1}"#));
    assert!(
        e.starts_with("split.ki: must be a number of 0 or more"),
        "{e}"
    );
    let e = refused(&with_top(r#", "split": {"window_intervals": 500}"#));
    assert!(
        e.starts_with("split.window_intervals: must be between 1 and 120"),
        "{e}"
    );
    let e = refused(&with_top(r#", "split": {"dwell": 5}"#));
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn test_api_token_matches_exactly_and_hides_in_debug() {
    let c = parse(with_top(r#", "api_token": "s3cret-token-123""#).as_bytes()).unwrap();
    let t = c.api_token.clone().unwrap();
    assert!(t.matches(b"s3cret-token-123"));
    assert!(!t.matches(b"s3cret-token-12"));
    assert!(!t.matches(b"s3cret-token-1234"));
    assert!(!t.matches(b""));
    assert!(!format!("{c:?}").contains("s3cret"));
    let e = refused(&with_top(r#", "api_token": "short""#));
    assert!(
        e.starts_with("api_token: must be 12 to 64 printable"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn test_world_readable_config_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("hashmux-perm-{}.json", std::process::id()));
    std::fs::write(&path, b"{}").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let w = super::permissions_warning(&path).expect("0644 is world-readable");
    assert!(w.contains("chmod 600") && w.contains("644"), "{w}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(super::permissions_warning(&path), None);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn test_trailing_comma_points_at_the_comma() {
    let json = format!("{{\"pools\": [{POOL}],\n  \"http\": \"a\",\n}}");
    assert_eq!(
        refused(&json),
        "invalid JSON: trailing comma: JSON allows no comma before a closing bracket (line 2, column 14)"
    );
    let json = format!("{{\"pools\": [{POOL},\n  ]}}");
    let (line, column) = (1, 12 + POOL.len());
    assert_refused(
        &json,
        &format!("pools: invalid JSON: trailing comma: JSON allows no comma before a closing bracket (line {line}, column {column})"),
    );
}

#[test]
fn test_missing_closing_quote_is_named_not_a_control_character() {
    let msg = refused("{\"pools\": [{\"url\": \"stratum+tcp://h:1\",\n \"user\": \"u}]\n}");
    assert_eq!(
        msg,
        "pools[0].user: invalid JSON: string not closed on its line (a missing '\"'?) (line 2, column 10)"
    );
    assert!(!msg.contains("control character"), "{msg}");
    assert_refused(
        &with_pool(r#", "password": x""#),
        "pools[0].password: invalid JSON: expected a value, found 'x'; strings need double quotes",
    );
}

#[test]
fn test_near_miss_key_suggests_the_known_one() {
    assert!(refused(&with_pool(r#", "wieght": 1"#)).ends_with("; did you mean `weight`?"));
    assert!(refused(&with_pool(r#", "Priorty": 1"#)).ends_with("; did you mean `priority`?"));
    assert!(refused(&with_top(r#", "failover": {"job_timeout": 1}"#))
        .ends_with("; did you mean `job_timeout_secs`?"));
    assert!(
        refused(&with_top(r#", "miners": {"shares_per_minute": 1}"#))
            .ends_with("; did you mean `shares_per_min`?")
    );
    let far = refused(&with_top(r#", "miners": {"foo": 1}"#));
    assert!(!far.contains("did you mean"), "{far}");
    assert_eq!(
        json::edit_distance("wieght", "weight"),
        1,
        "a swap is one edit"
    );
    assert_eq!(json::edit_distance("weigth", "weight"), 1);
    assert_eq!(json::edit_distance("wght", "weight"), 2);
}

#[test]
fn test_comment_gets_a_note_that_json_has_none() {
    let json = format!("{{\n  // my pools\n  \"pools\": [{POOL}]}}");
    assert_eq!(
        refused(&json),
        "invalid JSON: expected a field name in double quotes, found '/'; JSON has no comments: remove the `//` or `/* */` text (line 2, column 3)"
    );
    assert_refused(
        &format!("{{\"pools\": [{POOL}] /* backup later */}}"),
        "JSON has no comments",
    );
    assert_refused(
        &with_pool(r#", "weight": /* 70 */ 30"#),
        "pools[0].weight: invalid JSON: expected a value, found '/'; JSON has no comments",
    );
}
