//! The layers of `node/src` and `protocol/src` point one way: a module
//! imports only from its own layer or from one below (ARCHITECTURE.md,
//! "Layers"), and no two modules of a layer import each other in a ring.
//!
//! A plain text scan of the sources, not a parse: every `crate::a::b` (in a
//! `use` or in a path, comments excluded) and every `super::a` outside a
//! file's trailing `mod tests` is resolved to the module it names, and that
//! module's layer is compared with the importing file's. A new module must
//! be given a layer here, in ARCHITECTURE.md and in `lib.rs`'s docs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `node/src`, bottom up. An entry names a module and everything under it,
/// unless a longer entry names a submodule: `sync::server` and
/// `warnings::http` are HTTP surfaces, above the plumbing in `http`, while
/// the rest of `sync` and `warnings` is below it.
const NODE: &[&[&str]] = &[
    &[
        "clock",
        "store",
        "catalog",
        "pki",
        "telemetry",
        "settings",
        "net",
        "link",
        "access",
    ],
    &["ledger"],
    &["warnings", "import", "accounts"],
    &["config"],
    &["sync"],
    &["http"],
    &["api", "web", "sync::server", "warnings::http"],
    &["openapi"],
    &["server"],
];

/// `protocol/src`, bottom up.
const PROTOCOL: &[&[&str]] = &[
    // `schema`: JSON Schemas of the leaf types (optional feature).
    &["ids", "money", "hash", "version", "actor", "schema"],
    &["body"],
    &["entry"],
    &["sign"],
    &["batch"],
    &["down"],
    &["wire"],
];

/// Imports that are allowed to point up, each with the change that will
/// remove it. The test fails when one of them is gone, so that the list
/// only shrinks: delete the line then. Empty: keep it so.
const KNOWN: &[(&str, &str, &str)] = &[];

#[test]
fn node_modules_import_only_their_own_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_imports(&src, NODE, &["main.rs"]);
    let mut unexpected = Vec::new();
    for v in &found {
        if !KNOWN.iter().any(|(f, to, _)| v.file == *f && v.to == *to) {
            unexpected.push(v.to_string());
        }
    }
    assert!(
        unexpected.is_empty(),
        "imports that point up the layers (see ARCHITECTURE.md, \"Layers\"):\n{}",
        unexpected.join("\n")
    );
    for (file, to, why) in KNOWN {
        assert!(
            found.iter().any(|v| v.file == *file && v.to == *to),
            "{file} no longer imports {to} ({why}): remove it from KNOWN in {}",
            file!()
        );
    }
}

/// Only `store/` and `ledger/` run SQL (ARCHITECTURE.md, "Invariants"):
/// no other file of `node/src` builds a statement with `sqlx::query…` (or
/// the bare `query…` functions imported from sqlx).
#[test]
fn only_the_store_and_the_ledger_run_sql() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for path in rust_files(&src) {
        let rel = path
            .strip_prefix(&src)
            .unwrap_or_else(|_| unreachable!("under src"))
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("store/") || rel.starts_with("ledger/") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("sqlx::query") || code.contains("use sqlx::{query") {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside store/ and ledger/ (move it behind the store):\n{}",
        found.join("\n")
    );
}

#[test]
fn protocol_modules_import_only_their_own_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/src");
    let found = upward_imports(&src, PROTOCOL, &[]);
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(list.is_empty(), "{}", list.join("\n"));
}

#[test]
fn the_scan_sees_what_it_must() {
    let file = "use crate::ledger::Ledger;\n\
                use crate::{http::AppState, sync::LinkHealth};\n\
                use super::link::LinkState;\n\
                // use crate::demo::plan;\n\
                fn f() { crate::server::run(); }\n\
                #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::demo::x;\n}\n";
    let got = imports(file, &["sync".to_owned(), "client".to_owned()]);
    let want: BTreeSet<Vec<String>> = [
        vec!["ledger", "Ledger"],
        vec!["http", "AppState"],
        vec!["sync", "LinkHealth"],
        vec!["sync", "link"],
        vec!["server", "run"],
        vec!["demo", "x"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_owned).collect())
    .collect();
    assert_eq!(got, want);
}

/// An import of `to` (a layer entry) by `file`, from a layer below it.
#[derive(Debug)]
struct Upward {
    file: String,
    from: String,
    to: String,
}

impl std::fmt::Display for Upward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) imports {}", self.file, self.from, self.to)
    }
}

/// Every import that points up in `layers` among the `.rs` files under
/// `src`; panics on a module that has no layer and on a ring of imports
/// inside a layer.
fn upward_imports(src: &Path, layers: &[&[&str]], skip: &[&str]) -> Vec<Upward> {
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect();
    let mut out = Vec::new();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for path in rust_files(src) {
        let rel = path
            .strip_prefix(src)
            .unwrap_or_else(|_| unreachable!("under src"))
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || skip.contains(&rel.as_str()) {
            continue;
        }
        let module = module_of(&rel);
        let from = entry_of(&module, &rank)
            .unwrap_or_else(|| panic!("{rel}: module {module:?} has no layer; add it to the test"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for target in imports(&text, &module) {
            let Some(to) = entry_of(&target, &rank) else {
                // An item of the crate root (a re-export), not a module.
                continue;
            };
            if to == from {
                continue;
            }
            // A ring across layers has an upward import, reported below;
            // within a layer it is looked for here.
            if rank[to] == rank[from] {
                edges.entry(from).or_default().insert(to);
            }
            if rank[to] > rank[from] {
                out.push(Upward {
                    file: rel.clone(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                });
            }
        }
    }
    if let Some(ring) = find_ring(&edges) {
        panic!("modules import each other in a ring: {}", ring.join(" -> "));
    }
    out.sort_by(|a, b| (&a.file, &a.to).cmp(&(&b.file, &b.to)));
    out.dedup_by(|a, b| a.file == b.file && a.to == b.to);
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `sync/client.rs` → `[sync, client]`; `sync/mod.rs` → `[sync]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The longest layer entry that `path` lies in.
fn entry_of<'a>(path: &[String], rank: &BTreeMap<&'a str, usize>) -> Option<&'a str> {
    (1..=path.len().min(2))
        .rev()
        .map(|n| path[..n].join("::"))
        .find_map(|p| rank.get_key_value(p.as_str()).map(|(k, _)| *k))
}

/// The module paths (first two segments) that `text`, the source of
/// `module`, names through `crate::` or a top-level `super::`.
fn imports(text: &str, module: &[String]) -> BTreeSet<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for path in paths_after(&code, "crate::") {
        out.insert(path);
    }
    // `super::` inside the trailing `mod tests` names the file's own module.
    let body = code.split("\nmod tests {").next().unwrap_or(&code);
    // From `a/b.rs` (module a::b) `super` is `a`; from `a/mod.rs` (module
    // a) it is the crate root.
    let parent = &module[..module.len().saturating_sub(1)];
    for path in paths_after(body, "super::") {
        let mut full: Vec<String> = parent.to_vec();
        full.extend(path);
        full.truncate(2);
        out.insert(full);
    }
    out
}

/// The first two segments of every path after `prefix`, expanding one level
/// of `{a::x, b}` groups.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        // `super::` in `super::super::` or part of a longer identifier.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top(&group[..end]) {
                let segs = segments(item.trim());
                if !segs.is_empty() {
                    out.push(segs);
                }
            }
        } else {
            let segs = segments(rest);
            if !segs.is_empty() {
                out.push(segs);
            }
        }
    }
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Up to two `::`-separated identifiers at the start of `s`.
fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while out.len() < 2 {
        let n = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        out.push(rest[..n].to_owned());
        match rest[n..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    out
}

/// A cycle in `edges`, if there is one.
fn find_ring<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut ring = stack[i..].to_vec();
            ring.push(n);
            return Some(ring);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for next in edges.get(n).into_iter().flatten() {
            if let Some(r) = visit(next, edges, stack, done) {
                return Some(r);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        if let Some(r) = visit(n, edges, &mut Vec::new(), &mut done) {
            return Some(r);
        }
    }
    None
}
