//! What the tests of the `fundsync` binary share.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the real `fundsync` binary in `cwd` to completion.
pub fn fundsync(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fundsync"))
        .args(args)
        .current_dir(cwd)
        .env_remove("FUNDSYNC_CONFIG")
        .output()
        .expect("runs the fundsync binary")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `init` of county 轮台县 under prefecture 652800; callers add the rest.
pub const COUNTY: &[&str] = &[
    "init",
    "--level",
    "county",
    "--code",
    "652822",
    "--name",
    "轮台县",
    "--parent-code",
    "652800",
    "--parent-url",
    "https://127.0.0.1:7443",
];
