//! Accounts on the command line: `init --admin-password-file`, `user`,
//! `token`, as an operator runs them (the real binary, a real ledger).

mod common;

use common::{fundsync, text, COUNTY};

const ADMIN_PW: &str = "tarim-poplar-desert-kettle";

fn init(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = COUNTY.to_vec();
    args.extend(["--config", "county.toml"]);
    args.extend(extra);
    fundsync(&args, dir)
}

#[test]
fn init_creates_the_administrator_from_a_password_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin-pw"), format!("{ADMIN_PW}\n")).expect("write");
    let out = init(dir.path(), &["--admin-password-file", "admin-pw"]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("administrator admin"), "{stdout}");
    assert!(!stdout.contains(ADMIN_PW) && !text(&out.stderr).contains(ADMIN_PW));
    assert!(!stdout.contains("shown only this once"), "{stdout}");

    let out = fundsync(&["user", "list", "--config", "county.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    assert!(
        list.lines()
            .any(|l| l.contains(" admin ") && l.contains("系统管理员") && l.contains("active")),
        "{list}"
    );
}

#[test]
fn init_refuses_a_weak_administrator_password_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin-pw"), "password1234\n").expect("write");
    let out = init(dir.path(), &["--admin-password-file", "admin-pw"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("too common"), "{err}");
    assert!(!dir.path().join("county.toml").exists());
    assert!(!dir
        .path()
        .join("fundsync-data")
        .join("ledger.sqlite")
        .exists());
}

#[test]
fn init_without_a_file_prints_a_generated_password_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = init(dir.path(), &[]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    lines
        .by_ref()
        .find(|l| l.contains("shown only this once"))
        .unwrap_or_else(|| panic!("no notice: {stdout}"));
    let pw = lines.next().expect("the password line");
    assert_eq!(pw.len(), 20, "{pw:?}");
    assert!(!text(&out.stderr).contains(pw), "the password is logged");
}

#[test]
fn users_are_added_listed_and_given_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin-pw"), ADMIN_PW).expect("write");
    let out = init(dir.path(), &["--admin-password-file", "admin-pw"]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--config", "county.toml"]);
        fundsync(&a, dir.path())
    };

    let out = run(&[
        "user",
        "add",
        "li.na",
        "--name",
        "李娜",
        "--role",
        "department,treasury",
        "--department",
        "农财所",
        "--classified",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("shown only this once"), "{stdout}");

    // A weak password from a file: refused, nothing added.
    std::fs::write(dir.path().join("weak"), "short\n").expect("write");
    let out = run(&[
        "user",
        "add",
        "zhao",
        "--name",
        "赵",
        "--role",
        "lead",
        "--password-file",
        "weak",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("at least 12"),
        "{}",
        text(&out.stderr)
    );
    // An unknown role: refused by the parser.
    let out = run(&["user", "add", "zhao", "--name", "赵", "--role", "root"]);
    assert!(!out.status.success());

    let out = run(&["user", "grant", "li.na", "auditor"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["user", "revoke", "li.na", "treasury"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["user", "disable", "li.na"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&run(&["user", "list"]).stdout);
    let line = list
        .lines()
        .find(|l| l.contains("li.na"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("department,auditor") && line.contains("农财所") && line.contains("disabled"),
        "{line}"
    );
    assert!(!list.contains("zhao"), "{list}");
    assert!(run(&["user", "enable", "li.na"]).status.success());
    std::fs::write(dir.path().join("new-pw"), "bosten-lake-reed-harvest\n").expect("write");
    let out = run(&[
        "user",
        "reset-password",
        "li.na",
        "--password-file",
        "new-pw",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("shown only this once"));

    // A token: the secret alone on stdout.
    let out = run(&[
        "token", "create", "--user", "li.na", "--name", "nightly", "--days", "7",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let secret = stdout.trim_end();
    assert!(
        secret.starts_with("fst_") && !secret.contains('\n'),
        "{stdout:?}"
    );
    assert!(!text(&out.stderr).contains(secret), "the secret is logged");
    let list = text(&run(&["token", "list", "--user", "li.na"]).stdout);
    assert!(
        list.contains("nightly") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&secret[4..]), "{list}");
    let out = run(&["token", "revoke", "--user", "li.na", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&run(&["token", "list", "--user", "li.na"]).stdout);
    assert!(list.contains("revoked"), "{list}");
    let out = run(&["token", "revoke", "--user", "admin", "1"]);
    assert!(!out.status.success(), "another user's token was revoked");
}

#[test]
fn verify_checks_a_fresh_node_and_reports_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = init(dir.path(), &[]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let out = fundsync(&["verify", "--config", "county.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("entries in 1 chains") && stdout.contains("ok: the books agree"),
        "{stdout}"
    );
    let out = fundsync(&["verify", "--json", "--config", "county.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\"problems_total\": 0") && stdout.contains("\"chains\": 1"),
        "{stdout}"
    );
}
