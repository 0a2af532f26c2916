//! The `missive` binary as a user runs it: subcommands, zero-configuration start-up, and the
//! one-line errors that stop start-up on a bad setting.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_missive");

/// Runs the binary in `dir` with exactly `vars` as its environment (nothing leaks in from
/// the test runner's, such as a DATABASE_URL).
fn missive(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run the missive binary")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_and_help_describe_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let version = missive(dir.path(), &["--version"], &[]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("missive "));
    let help = missive(dir.path(), &["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for expected in [
        "serve",
        "migrate",
        "DATABASE_URL",
        "MISSIVE_BIND",
        "SECRET_KEY",
    ] {
        assert!(text.contains(expected), "--help lacks {expected}:\n{text}");
    }
}

#[test]
fn migrate_creates_the_database_and_a_private_key_file_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = missive(dir.path(), &["migrate"], &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(dir.path().join("missive.db").exists());
    let key = dir.path().join("missive.db.secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The key is kept: a second start reuses it rather than invalidating every token.
    let first = std::fs::read_to_string(&key).unwrap();
    assert!(missive(dir.path(), &["migrate"], &[]).status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first);
}

#[test]
fn bad_settings_stop_start_up_with_a_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s".repeat(40);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("DATABASE_URL", "mysql://db/x")], "DATABASE_URL"),
        (
            &[("MISSIVE_MAX_MESSAGE_CHARS", "many")],
            "MISSIVE_MAX_MESSAGE_CHARS",
        ),
        (&[("MISSIVE_BIND", "not-an-address")], "MISSIVE_BIND"),
        (
            &[("ACCESS_TOKEN_EXPIRE_MINUTES", "-5")],
            "ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (&[("MISSIVE_CORS_ORIGINS", "nope")], "MISSIVE_CORS_ORIGINS"),
        (&[("SECRET_KEY", "too-short")], "SECRET_KEY"),
        (
            &[("DATABASE_URL", "postgres://u@127.0.0.1:1/db")],
            "SECRET_KEY",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db"),
                ("SECRET_KEY", &secret),
            ],
            "DATABASE_URL",
        ),
    ];
    for (vars, setting) in cases {
        let output = missive(dir.path(), &["migrate"], vars);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(
            stderr.contains(setting),
            "{vars:?}: error does not name {setting}:\n{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "a password leaked:\n{stderr}");
        assert!(!stderr.contains(&secret), "the secret leaked:\n{stderr}");
    }
}

#[test]
fn serve_with_no_configuration_answers_on_the_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(BINARY)
        .current_dir(dir.path())
        .env_clear()
        .env("MISSIVE_BIND", &bind)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = false;
    while Instant::now() < deadline && !answered {
        answered = std::net::TcpStream::connect(&bind).is_ok_and(|mut stream| {
            use std::io::{Read, Write};
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            reply.starts_with("HTTP/1.1 200") && reply.contains(r#"{"status":"ok"}"#)
        });
        if !answered {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(answered, "no answer on {bind}; log:\n{log}");
    assert!(dir.path().join("missive.db").exists());
    assert_eq!(
        log.matches("sqlite://missive.db").count(),
        1,
        "the database is named once:\n{log}"
    );
    assert!(log.contains("rate limits and events: in-process"), "{log}");
    assert!(log.contains("SECRET_KEY is not set"), "{log}");
}
