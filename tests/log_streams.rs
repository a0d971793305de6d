//! Which stream each log line goes to, read from the real binary: info lines on stdout (procd
//! logs them as `daemon.info`), warnings on stderr (`daemon.err`), plain and JSON.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// Everything `child` has written to stderr, read to its end.
fn rest_of_stderr(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    err
}

/// What the binary wrote to stdout and stderr by the time it said it was listening for miners.
fn run_until_listening(format: &str) -> (Vec<String>, String) {
    let dir = std::env::temp_dir().join(format!(
        "hashmux-log-streams-{}-{format}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"listen": "127.0.0.1:0", "http": "",
            "pools": [{"url": "stratum+tcp://127.0.0.1:1", "user": "u"}]}"#,
    )
    .unwrap();
    // Readable by every user: hashmux warns about it before it starts listening.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hashmux"))
        .arg("--config")
        .arg(&config)
        .args(["--log-level", "info", "--log-format", format])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let err = rest_of_stderr(&mut child);
            panic!("stdout closed before the listening line; stdout {lines:?}, stderr {err}");
        }
        let done = line.contains("listening for miners");
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let err = rest_of_stderr(&mut child);
    let _ = std::fs::remove_dir_all(&dir);
    (lines, err)
}

#[test]
fn test_plain_info_on_stdout_warning_on_stderr() {
    let (out, err) = run_until_listening("plain");
    assert!(
        out.iter().all(|l| l.starts_with("INFO ")),
        "stdout has a line that is not info: {out:?}"
    );
    assert!(out.last().unwrap().contains("listening for miners"));
    assert!(
        err.lines()
            .any(|l| l.starts_with("WARN  [config_permissions]")),
        "no permissions warning on stderr: {err}"
    );
    assert!(
        err.lines()
            .all(|l| l.starts_with("WARN ") || l.starts_with("ERROR ")),
        "stderr has a line below warn: {err}"
    );
}

#[test]
fn test_json_lines_carry_a_timestamp_and_split_by_level() {
    let (out, err) = run_until_listening("json");
    let stamped = |l: &str| {
        // {"ts":"2026-12-02T16:10:04.123Z",...
        let ts = l.strip_prefix("{\"ts\":\"").map(|r| &r[..24]).unwrap_or("");
        ts.len() == 24 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z')
    };
    for l in &out {
        assert!(stamped(l), "no timestamp: {l}");
        assert!(l.contains("\"level\":\"info\""), "not info on stdout: {l}");
    }
    let err: Vec<&str> = err.lines().collect();
    assert!(
        err.iter()
            .any(|l| l.contains("\"event\":\"config_permissions\"")),
        "{err:?}"
    );
    for l in &err {
        assert!(stamped(l), "no timestamp: {l}");
        assert!(
            l.contains("\"level\":\"warn\"") || l.contains("\"level\":\"error\""),
            "below warn on stderr: {l}"
        );
    }
}
