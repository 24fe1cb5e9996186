//! `fundsync init` as an operator runs it: the real binary, a real ledger.

mod common;

use common::{fundsync, text, COUNTY};

#[test]
fn init_takes_the_database_url_from_a_file_and_the_sync_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("elsewhere").join("ledger.sqlite");
    std::fs::create_dir_all(ledger.parent().expect("parent")).expect("mkdir");
    // A relative path: the configuration must name it absolutely, so that
    // `serve` finds it from any directory.
    std::fs::write(
        dir.path().join("db-url"),
        format!("sqlite://{}?mode=rwc\n", ledger.display()),
    )
    .expect("write url file");
    let mut args = COUNTY.to_vec();
    args.extend([
        "--database-url-file",
        "db-url",
        "--sync-listen",
        "127.0.0.1:7555",
        "--config",
        "county.toml",
    ]);
    let out = fundsync(&args, dir.path());
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));

    assert!(ledger.exists(), "the ledger is where the file says");
    let cfg = std::fs::read_to_string(dir.path().join("county.toml")).expect("config");
    let url_file = dir.path().join("db-url");
    assert!(
        cfg.contains(&format!("database_url_file = \"{}\"", url_file.display())),
        "{cfg}"
    );
    assert!(
        cfg.contains("# database_url = \"\""),
        "no URL in the file: {cfg}"
    );
    assert!(cfg.contains("sync_listen = \"127.0.0.1:7555\""), "{cfg}");
}

#[test]
fn init_refuses_both_url_flags_and_an_unreadable_url_file() {
    let dir = tempfile::tempdir().expect("tempdir");

    let mut both = COUNTY.to_vec();
    both.extend([
        "--database-url",
        "sqlite://x.sqlite?mode=rwc",
        "--database-url-file",
        "db-url",
        "--config",
        "a.toml",
    ]);
    let out = fundsync(&both, dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );

    let mut missing = COUNTY.to_vec();
    missing.extend(["--database-url-file", "no-such-file", "--config", "b.toml"]);
    let out = fundsync(&missing, dir.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-file"),
        "the error names the file: {err}"
    );

    for f in ["a.toml", "b.toml", "x.sqlite"] {
        assert!(
            !dir.path().join(f).exists(),
            "{f} was written by a refused init"
        );
    }
}
