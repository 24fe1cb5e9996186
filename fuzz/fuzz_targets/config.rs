//! The configuration file and its `FUNDSYNC_*` overrides: the input is the
//! file's text, then (after a NUL) `NAME=value` lines taken as the
//! environment. `Config::parse` never panics, and the file `fundsync init`
//! writes for a configuration it accepts parses back to the same file.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use fundsync_node::config::{redact_url, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: HashMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let path = Path::new("/etc/fundsync/fundsync.toml");
    let Ok(cfg) = Config::parse(file, path, |k| env.get(k).map(|v| (*v).to_owned())) else {
        return;
    };
    if let Some(url) = &cfg.database_url {
        let _ = redact_url(url);
    }
    let _ = format!("{cfg:?}");
    let _ = cfg.api.tls();
    let _ = cfg.pool_limits();
    let written = cfg.to_commented_toml();
    let back = match Config::load_str(&written, path) {
        Ok(back) => back,
        Err(e) => panic!("the file init writes does not parse: {e}\n{written}"),
    };
    assert_eq!(
        back.to_commented_toml(),
        written,
        "the written file changed"
    );
});
