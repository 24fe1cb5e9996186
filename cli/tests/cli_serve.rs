//! `fundsync serve` as an operator starts it: the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{fundsync, text, COUNTY};

/// Initialises a county in `dir` whose API listens on a port of the
/// system's choosing.
fn init(dir: &Path) {
    let mut args = COUNTY.to_vec();
    args.extend(["--listen", "127.0.0.1:0", "--config", "county.toml"]);
    let out = fundsync(&args, dir);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
}

/// Starts `serve`, waits for its "listening" line and returns the
/// environment the running process has.
fn serving_environment(dir: &Path, tunables: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fundsync"));
    cmd.args(["serve", "--config", "county.toml"])
        .current_dir(dir)
        .env_remove("FUNDSYNC_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match tunables {
        Some(t) => cmd.env("GLIBC_TUNABLES", t),
        None => cmd.env_remove("GLIBC_TUNABLES"),
    };
    let mut child = cmd.spawn().expect("starts fundsync serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads serve's first line");
    // Read while it runs: the restart keeps the process id.
    let environ = std::fs::read(format!("/proc/{}/environ", child.id()));
    child.kill().expect("stops serve");
    child.wait().expect("serve exits");
    assert!(line.contains("listening on http://127.0.0.1:"), "{line:?}");
    environ
        .expect("reads the process environment")
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_runs_with_the_malloc_tunables_unless_the_operator_set_some() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());

    let env = serving_environment(dir.path(), None);
    assert!(
        env.iter()
            .any(|v| v == "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=16384"),
        "{env:?}"
    );

    let env = serving_environment(dir.path(), Some("glibc.malloc.arena_max=4"));
    let set: Vec<&String> = env
        .iter()
        .filter(|v| v.starts_with("GLIBC_TUNABLES="))
        .collect();
    assert_eq!(set, ["GLIBC_TUNABLES=glibc.malloc.arena_max=4"]);
}

/// A running `serve` of the county in `dir`: its API address; killed on drop.
struct Serving {
    child: std::process::Child,
    addr: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fundsync"))
        .args(["serve", "--config", "county.toml"])
        .current_dir(dir)
        .env_remove("FUNDSYNC_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts fundsync serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads serve's first line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Serving { child, addr }
}

/// A GET with a bearer token over plain HTTP/1.0: status line and body.
fn get(addr: &str, path: &str, token: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("writes");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("reads");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn token(dir: &Path, user: &str) -> String {
    let out = fundsync(
        &[
            "token",
            "create",
            "--user",
            user,
            "--name",
            "t",
            "--config",
            "county.toml",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("a token")
        .to_owned()
}

#[test]
fn status_sends_the_token_and_says_when_one_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let admin = token(dir.path(), "admin");
    std::fs::write(dir.path().join("token"), format!("{admin}\n")).expect("token file");
    let node = serve(dir.path());
    let url = format!("http://{}", node.addr);

    let out = fundsync(
        &[
            "status",
            "--url",
            &url,
            "--token-file",
            "token",
            "--config",
            "county.toml",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("652822"),
        "{}",
        text(&out.stdout)
    );

    let out = fundsync(
        &[
            "status",
            "--json",
            "--url",
            &url,
            "--token-file",
            "token",
            "--config",
            "county.toml",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).trim_start().starts_with('{'),
        "{}",
        text(&out.stdout)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_fundsync"))
        .args(["status", "--url", &url, "--config", "county.toml"])
        .current_dir(dir.path())
        .env_remove("FUNDSYNC_CONFIG")
        .env_remove("FUNDSYNC_TOKEN")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("asks for a token"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_first_administrator_and_console_changes_are_in_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let out = fundsync(
        &[
            "user",
            "add",
            "shenji",
            "--name",
            "审计",
            "--role",
            "auditor",
            "--classified",
            "--config",
            "county.toml",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let auditor = token(dir.path(), "shenji");
    let node = serve(dir.path());
    let (status, body) = get(&node.addr, "/api/v1/journal?limit=1000", &auditor);
    assert!(status.contains("200"), "{status} {body}");
    let created: Vec<&str> = body
        .split("user_created")
        .skip(1)
        .map(|rest| rest.get(..200).unwrap_or(rest))
        .collect();
    assert!(
        created.iter().any(|c| c.contains("admin")),
        "the administrator made at init is in the journal: {body}"
    );
    assert!(
        created.iter().any(|c| c.contains("shenji")),
        "the auditor made at the console is in the journal: {body}"
    );
}

#[test]
fn a_relative_data_dir_is_where_the_shell_user_means() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("d")).expect("mkdir");
    let mut args = COUNTY.to_vec();
    args.extend(["--config", "d/fundsync.toml", "--data-dir", "d/data"]);
    let out = fundsync(&args, dir.path());
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    assert!(dir.path().join("d/data/ledger.sqlite").exists());
    assert!(
        !dir.path().join("d/d").exists(),
        "not under the config's folder"
    );
    let cfg = std::fs::read_to_string(dir.path().join("d/fundsync.toml")).expect("config");
    let abs = std::path::absolute(dir.path().join("d/data")).expect("absolute");
    assert!(
        cfg.contains(&format!("data_dir = \"{}\"", abs.display())),
        "{cfg}"
    );
}
