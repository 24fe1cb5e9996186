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
