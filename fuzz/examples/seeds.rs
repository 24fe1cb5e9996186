//! Writes the seed corpus of every fuzz target (`fuzz/corpus/<target>/`):
//! small valid inputs, taken from the bundles of the 2020 demo (real
//! signed batches and bodies of every kind it records) and made here for
//! the rest (bodies of the kinds the demo does not record, CSV and XLSX
//! import files as the import tests have them, configuration files, a
//! token, join requests and answers). `scripts/fuzz.sh --seeds` runs it;
//! the corpus is committed, so this is needed only to start afresh.
//!
//! Usage: seeds OUT_DIR UP_BUNDLE DOWN_BUNDLE TLS_DIR [BUNDLE...]
//! UP_BUNDLE goes from 652822 to 652800, DOWN_BUNDLE from 650000 to
//! 652800 (the `bundle` target's view); further bundles add batches and
//! bodies; TLS_DIR is a joined node's (its chain and the tree's root).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use fundsync_node::config::Config;
use fundsync_node::import::{template, Kind};
use fundsync_node::pki;
use fundsync_node::sync::bundle::MAGIC;
use fundsync_node::sync::enroll::{JoinRequest, JoinResponse, Token};
use fundsync_protocol::{Batch, BatchLimits, Body, DownBatch, Entry, Level, NodeCode, NodeKey};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Entries per batch seed: enough to show the framing repeat, small enough
/// to keep each file to a few KB.
const ENTRIES_PER_SEED: usize = 2;

fn code(s: &str) -> NodeCode {
    s.parse().expect("a node code")
}

/// The batches of a bundle file, undecoded.
fn records(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path)?;
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| format!("{}: not a bundle", path.display()))?;
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = usize::try_from(u32::from_be_bytes(*len))?;
        let (record, tail) = tail.split_at(len);
        out.push(record.to_vec());
        rest = tail;
    }
    Ok(out)
}

fn bundle(batches: &[Vec<u8>]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for b in batches {
        let len = u32::try_from(b.len()).expect("a small batch");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// A copy of `b` keeping `entries` and its first checkpoint.
fn small_up(b: &Batch, entries: Vec<Entry>) -> Vec<u8> {
    let mut b = b.clone();
    b.entries = entries;
    b.checkpoints.truncate(1);
    b.encode()
}

fn small_down(b: &DownBatch, entries: Vec<Entry>) -> Vec<u8> {
    let mut b = b.clone();
    b.entries = entries;
    b.encode()
}

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        Ok(())
    }
}

/// Bodies of the kinds the demo does not record, in both forms (with an
/// actor, as written since protocol version 2, and bare).
const MORE_BODIES: &[(&str, &str)] = &[
    (
        "category_defined",
        r#"{"code":"LT-01","name":"轮台县本级扶贫资金","origin":"county","department":"农业农村局","classified":false}"#,
    ),
    (
        "funds_received",
        r#"{"doc_no":"财农〔2020〕7号","category":"ZY-01","amount":"1000000.00","received_on":"2020-01-15","source":"财政部","title":"中央财政专项扶贫资金"}"#,
    ),
    (
        "target_actual_recorded",
        r#"{"target":"652822-40","actual":"12.5","recorded_on":"2020-08-01","note":"已完成","evidence":"轮财验〔2020〕3号"}"#,
    ),
    (
        "payment_reversed",
        r#"{"voucher_no":"LT2020000001","reversed_on":"2020-06-01","reason":"收款人账号有误，资金退回"}"#,
    ),
    ("child_revoked", r#"{"code":"652822","reason":"证书泄露"}"#),
    (
        "link_reported",
        r#"{"parent":"652800","up":{"last_contact_ms":1590000000000,"entries_behind":3,"seconds_behind":12,"backlog_bytes":4096},"down":{"last_contact_ms":null,"entries_behind":0,"seconds_behind":0,"backlog_bytes":0},"consecutive_failures":1,"last_error":"connection refused","cert_expires_ms":1700000000000,"peer_version":4}"#,
    ),
    (
        "follow_up_assigned",
        r#"{"warning":"652800-90","assignee":"wang","assignee_name":"王五","desk":"lead","deadline":"2020-07-01","assigned_on":"2020-06-01","note":"请核实"}"#,
    ),
    (
        "follow_up_recorded",
        r#"{"warning":"652800-90","status":"rectifying","verification":"情况属实","rectification":"已追回资金","recorded_on":"2020-06-20"}"#,
    ),
];

const ACTOR: &str = r#"{"login":"guoku","name":"郭库","role":"treasury","addr":"10.0.0.7"}"#;

fn bodies(c: &Corpus, entries: &[Entry]) -> Result<()> {
    // The two shortest bodies of each kind the bundles hold.
    let mut by_kind: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    for e in entries {
        by_kind.entry(&e.kind).or_default().push(&e.body);
    }
    let pick = |kind: &str| -> u8 {
        let i = Body::KINDS
            .iter()
            .position(|k| *k == kind)
            .expect("a known kind");
        u8::try_from(i).expect("fewer than 256 kinds")
    };
    for (kind, mut list) in by_kind {
        list.sort_by_key(|b| b.len());
        for (i, body) in list.iter().take(2).enumerate() {
            let mut seed = vec![pick(kind)];
            seed.extend_from_slice(body);
            c.put("body", &format!("{kind}-{i}"), &seed)?;
        }
    }
    for (kind, inner) in MORE_BODIES {
        for (form, body) in [
            ("actor", format!(r#"{{"actor":{ACTOR},"body":{inner}}}"#)),
            ("bare", (*inner).to_owned()),
        ] {
            if let Err(e) = Body::decode(kind, body.as_bytes()) {
                return Err(format!("the {kind} seed does not decode: {e}").into());
            }
            let mut seed = vec![pick(kind)];
            seed.extend_from_slice(body.as_bytes());
            c.put("body", &format!("{kind}-{form}"), &seed)?;
        }
    }
    Ok(())
}

/// For each kind, the first entry of that kind in `entries`.
fn one_per_kind(entries: &[Entry]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for e in entries {
        out.entry(e.kind.clone()).or_insert_with(|| e.clone());
    }
    out
}

fn batches(c: &Corpus, up: &Path, down: &Path, more: &[PathBuf]) -> Result<Vec<Entry>> {
    let limits = BatchLimits::default();
    let mut all = Vec::new();
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for path in std::iter::once(up)
        .chain(std::iter::once(down))
        .chain(more.iter().map(PathBuf::as_path))
    {
        for r in records(path)? {
            if r.starts_with(fundsync_protocol::down::MAGIC) {
                let b = DownBatch::decode(&r, &limits)?;
                all.extend(b.entries.iter().cloned());
                downs.push((path.to_owned(), b));
            } else {
                let b = Batch::decode(&r, &limits)?;
                all.extend(b.entries.iter().cloned());
                ups.push((path.to_owned(), b));
            }
        }
    }
    // Up: the start of each batch, an empty one, and one per kind.
    for (i, (_, b)) in ups.iter().enumerate() {
        let head: Vec<Entry> = b.entries.iter().take(ENTRIES_PER_SEED).cloned().collect();
        c.put("batch_up", &format!("head-{i}"), &small_up(b, head))?;
    }
    if let Some((_, b)) = ups.first() {
        c.put("batch_up", "empty", &small_up(b, Vec::new()))?;
        for (kind, e) in one_per_kind(&all) {
            c.put("batch_up", &format!("kind-{kind}"), &small_up(b, vec![e]))?;
        }
    }
    for (i, (_, b)) in downs.iter().enumerate() {
        let head: Vec<Entry> = b.entries.iter().take(ENTRIES_PER_SEED).cloned().collect();
        c.put("batch_down", &format!("head-{i}"), &small_down(b, head))?;
    }
    if let Some((_, b)) = downs.first() {
        c.put("batch_down", "empty", &small_down(b, Vec::new()))?;
        for (kind, e) in one_per_kind(&b.entries) {
            c.put(
                "batch_down",
                &format!("kind-{kind}"),
                &small_down(b, vec![e]),
            )?;
        }
    }
    // Bundles as the `bundle` target's node 652800 reads them.
    let from_up: Vec<Vec<u8>> = ups
        .iter()
        .filter(|(p, _)| p == up)
        .take(2)
        .map(|(_, b)| {
            small_up(
                b,
                b.entries.iter().take(ENTRIES_PER_SEED).cloned().collect(),
            )
        })
        .collect();
    let from_down: Vec<Vec<u8>> = downs
        .iter()
        .filter(|(p, _)| p == down)
        .take(2)
        .map(|(_, b)| {
            small_down(
                b,
                b.entries.iter().take(ENTRIES_PER_SEED).cloned().collect(),
            )
        })
        .collect();
    c.put("bundle", "empty", &bundle(&[]))?;
    c.put("bundle", "up", &bundle(&from_up))?;
    c.put("bundle", "down", &bundle(&from_down))?;
    let mixed: Vec<Vec<u8>> = from_up.iter().chain(&from_down).cloned().collect();
    c.put("bundle", "mixed", &bundle(&mixed))?;
    if let Some((_, b)) = ups.iter().find(|(p, _)| p == up) {
        let heads: Vec<serde_json::Value> = b
            .checkpoints
            .iter()
            .map(|cp| {
                serde_json::json!({
                    "origin": cp.checkpoint.origin,
                    "seq": cp.checkpoint.seq,
                    "hash": cp.checkpoint.head,
                })
            })
            .collect();
        let position = serde_json::json!({"node": "652800", "heads": heads, "down_seq": 7});
        c.put(
            "bundle",
            "position",
            serde_json::to_string(&position)?.as_bytes(),
        )?;
        c.put("bundle", "heads", serde_json::to_string(&heads)?.as_bytes())?;
    }
    Ok(all)
}

/// The CSV files of the import tests, and XLSX files: the templates and a
/// filled-in workbook.
fn imports(c: &Corpus) -> Result<()> {
    let payments = "凭证号,支付日期,付款人,收款人,金额(元),指标文号,项目编码,用途\n\
        V1,2020-05-10,轮台县财政局,某合作社,\"30,000.00\",巴财农〔2020〕12号,P1,种植\n\
        V2,2020年5月11日,轮台县财政局,某合作社,￥1.50,A1,P1,种植\n\
        V3,2020/5/11,轮台县财政局,某合作社,-5,652800-12,P1,种植\n";
    let english = "voucher_no,paid_on,payer,payee_name,amount_wan,allocation,project,purpose\n\
        V9,20200601,payer,payee,\"1,441.16\",652800-12,P2,x\n";
    let allocations = "指标文号,来源指标文号,下达对象,金额(万元),下达日期,标题\n\
        巴财农〔2020〕2号,巴财农[2020]12号,轮台县,10,2020-02-05,提前下达\n\
        巴财农〔2020〕3号,巴财农〔2020〕12号,652823,\"44.16\",2020-02-05,\n";
    let gbk = |t: &str| -> Vec<u8> { encoding_rs::GBK.encode(t).0.into_owned() };
    let seed = |pick: u8, bytes: &[u8]| -> Vec<u8> {
        let mut s = vec![pick];
        s.extend_from_slice(bytes);
        s
    };
    c.put("import", "payments-utf8.csv", &seed(0, payments.as_bytes()))?;
    c.put("import", "payments-gbk.csv", &seed(2, &gbk(payments)))?;
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(english.as_bytes());
    c.put("import", "payments-bom.csv", &seed(0, &bom))?;
    c.put(
        "import",
        "allocations-utf8.csv",
        &seed(1, allocations.as_bytes()),
    )?;
    c.put("import", "allocations-gbk.csv", &seed(3, &gbk(allocations)))?;

    let filled = |kind: Kind, rows: &str| -> Result<Vec<u8>> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (r, line) in rows.lines().enumerate() {
            for (col, cell) in line.split(',').enumerate() {
                let (r, col) = (u32::try_from(r)?, u16::try_from(col)?);
                match cell.parse::<f64>() {
                    Ok(n) => ws.write_number(r, col, n)?,
                    Err(_) => ws.write_string(r, col, cell)?,
                };
            }
        }
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2020, 5, 10)?;
        let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let date_col = if kind == Kind::Payments { 1 } else { 4 };
        ws.write_datetime_with_format(1, date_col, &date, &fmt)?;
        Ok(wb.save_to_buffer()?)
    };
    let pay_rows = "凭证号,支付日期,付款人,收款人,金额(元),指标文号,项目编码,用途\n\
        V1,2020-05-10,轮台县财政局,某合作社,30000.5,巴财农〔2020〕12号,P1,种植";
    let alloc_rows = "指标文号,来源指标文号,下达对象,金额(万元),下达日期,标题\n\
        巴财农〔2020〕2号,巴财农[2020]12号,轮台县,10.5,2020-02-05,提前下达";
    let pay_xlsx = filled(Kind::Payments, pay_rows)?;
    c.put("import", "payments.xlsx", &seed(0, &pay_xlsx))?;
    c.put(
        "import",
        "allocations.xlsx",
        &seed(1, &filled(Kind::Allocations, alloc_rows)?),
    )?;
    c.put(
        "import",
        "template-payments.xlsx",
        &seed(0, &template::xlsx(Kind::Payments)?),
    )?;

    // The XML parts of the workbooks, for `import_xlsx`.
    for (name, pick, xlsx) in [
        ("payments", 0, pay_xlsx),
        ("allocations", 1, filled(Kind::Allocations, alloc_rows)?),
        (
            "template-allocations",
            1,
            template::xlsx(Kind::Allocations)?,
        ),
    ] {
        let mut zip = zip::ZipArchive::new(Cursor::new(xlsx))?;
        let mut s = vec![pick];
        for (i, part) in fundsync_fuzz::xlsx::PARTS.iter().enumerate() {
            if i > 0 {
                s.push(0xff);
            }
            zip.by_name(part)?.read_to_end(&mut s)?;
        }
        c.put("import_xlsx", name, &s)?;
    }
    Ok(())
}

fn configs(c: &Corpus) -> Result<()> {
    let mut county = Config::new(code("652822"), "轮台县".into(), Level::County);
    county.parent_code = Some(code("652800"));
    county.parent_url = Some("https://652800.example:7443".into());
    c.put(
        "config",
        "county.toml",
        county.to_commented_toml().as_bytes(),
    )?;
    let mut region = Config::new(code("650000"), "新疆维吾尔自治区".into(), Level::Region);
    region.database_url = Some("postgres://fund:s3cret@db/fundsync".into());
    c.put(
        "config",
        "region.toml",
        region.to_commented_toml().as_bytes(),
    )?;
    c.put(
        "config",
        "init-456bc9a.toml",
        include_bytes!("../../node/src/config/testdata/init-456bc9a.toml"),
    )?;
    let minimal = "code = \"652800\"\nname = \"巴音郭楞蒙古自治州\"\nlevel = \"prefecture\"\nparent_code = \"650000\"\n\
        [rules]\ndates_from = \"2015-01-01\"\n[api]\ntls_from_ca = true\ntls_names = [\"localhost\"]\n\
        [warnings]\nnegative_list = [\"某某公司\"]\n\0\
        FUNDSYNC_LISTEN=0.0.0.0:8080\nFUNDSYNC_SYNC_BATCH_ENTRIES_MAX=500\nFUNDSYNC_WARNINGS_ENABLED=false\n";
    c.put("config", "minimal-env.toml", minimal.as_bytes())?;
    Ok(())
}

fn joins(c: &Corpus, tls: &Path) -> Result<()> {
    let token = Token {
        child: code("652822"),
        secret: [0x5a; 32],
        ca_fingerprint: [0xc3; 32],
    };
    c.put("join", "token", token.to_string().as_bytes())?;
    let key = NodeKey::from_seed(&[7; 32]);
    let (_, csr) = pki::key_and_csr(code("652822"))?;
    let county = JoinRequest {
        child: code("652822"),
        secret: hex::encode([0x5a; 32]),
        csr_pem: csr,
        issuer_csr_pem: None,
        sign_public_key: hex::encode(key.verifying_key().as_bytes()),
    };
    c.put("join", "request-county.json", &serde_json::to_vec(&county)?)?;
    let (_, csr) = pki::key_and_csr(code("652800"))?;
    let (_, issuer_csr) = pki::key_and_csr(code("652800"))?;
    let prefecture = JoinRequest {
        child: code("652800"),
        csr_pem: csr,
        issuer_csr_pem: Some(issuer_csr),
        ..county
    };
    c.put(
        "join",
        "request-prefecture.json",
        &serde_json::to_vec(&prefecture)?,
    )?;
    let root_pem = std::fs::read_to_string(tls.join("ca.pem"))?;
    c.put("join", "ca.pem", root_pem.as_bytes())?;
    let answer = JoinResponse {
        chain_pem: std::fs::read_to_string(tls.join("node.chain.pem"))?,
        root_pem,
        issuer_cert_pem: None,
        parent_keys: vec![hex::encode(key.verifying_key().as_bytes())],
    };
    c.put("join", "answer.json", &serde_json::to_vec(&answer)?)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out, up, down, tls, more @ ..] = args.as_slice() else {
        return Err("usage: seeds OUT_DIR UP_BUNDLE DOWN_BUNDLE TLS_DIR [BUNDLE...]".into());
    };
    let c = Corpus { root: out.clone() };
    let entries = batches(&c, up, down, more)?;
    bodies(&c, &entries)?;
    imports(&c)?;
    configs(&c)?;
    joins(&c, tls)?;
    Ok(())
}
