//! `scale`: a whole region as separate `fundsync` processes — 1 region, 14
//! prefectures and 99 counties, each with its own data dir and ports on
//! 127.0.0.1, set up with `init` / `enroll` / `join` / `serve` exactly as
//! the README shows. Money flows down over the API, every county imports
//! vouchers at once, and the region must converge; then each idle process's
//! resident memory is read from /proc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{Body, EntryId};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::common::*;

/// Prefectures of the region 650000 and counties inside each (GB/T 2260
/// codes; the three marked * are valid codes in the division, not real
/// counties, to reach 99).
/// A division: code, name.
type Division = (&'static str, &'static str);
/// A prefecture and its counties.
type Prefecture = (&'static str, &'static str, &'static [Division]);

const TREE: &[Prefecture] = &[
    (
        "652300",
        "昌吉回族自治州",
        &[
            ("652301", "昌吉市"),
            ("652302", "阜康市"),
            ("652323", "呼图壁县"),
            ("652324", "玛纳斯县"),
            ("652325", "奇台县"),
            ("652327", "吉木萨尔县"),
            ("652328", "木垒哈萨克自治县"),
        ],
    ),
    (
        "652700",
        "博尔塔拉蒙古自治州",
        &[
            ("652701", "博乐市"),
            ("652702", "阿拉山口市"),
            ("652722", "精河县"),
            ("652723", "温泉县"),
        ],
    ),
    (
        "652800",
        "巴音郭楞蒙古自治州",
        &[
            ("652801", "库尔勒市"),
            ("652822", "轮台县"),
            ("652823", "尉犁县"),
            ("652824", "若羌县"),
            ("652825", "且末县"),
            ("652826", "焉耆回族自治县"),
            ("652827", "和静县"),
            ("652828", "和硕县"),
            ("652829", "博湖县"),
        ],
    ),
    (
        "652900",
        "阿克苏地区",
        &[
            ("652901", "阿克苏市"),
            ("652902", "库车市"),
            ("652922", "温宿县"),
            ("652924", "沙雅县"),
            ("652925", "新和县"),
            ("652926", "拜城县"),
            ("652927", "乌什县"),
            ("652928", "阿瓦提县"),
            ("652929", "柯坪县"),
        ],
    ),
    (
        "653000",
        "克孜勒苏柯尔克孜自治州",
        &[
            ("653001", "阿图什市"),
            ("653022", "阿克陶县"),
            ("653023", "阿合奇县"),
            ("653024", "乌恰县"),
        ],
    ),
    (
        "653100",
        "喀什地区",
        &[
            ("653101", "喀什市"),
            ("653121", "疏附县"),
            ("653122", "疏勒县"),
            ("653123", "英吉沙县"),
            ("653124", "泽普县"),
            ("653125", "莎车县"),
            ("653126", "叶城县"),
            ("653127", "麦盖提县"),
            ("653128", "岳普湖县"),
            ("653129", "伽师县"),
            ("653130", "巴楚县"),
            ("653131", "塔什库尔干塔吉克自治县"),
            ("653132", "喀什*县"),
        ],
    ),
    (
        "653200",
        "和田地区",
        &[
            ("653201", "和田市"),
            ("653221", "和田县"),
            ("653222", "墨玉县"),
            ("653223", "皮山县"),
            ("653224", "洛浦县"),
            ("653225", "策勒县"),
            ("653226", "于田县"),
            ("653227", "民丰县"),
            ("653228", "和田*县"),
        ],
    ),
    (
        "654000",
        "伊犁哈萨克自治州",
        &[
            ("654002", "伊宁市"),
            ("654003", "奎屯市"),
            ("654004", "霍尔果斯市"),
            ("654021", "伊宁县"),
            ("654022", "察布查尔锡伯自治县"),
            ("654023", "霍城县"),
            ("654024", "巩留县"),
            ("654025", "新源县"),
            ("654026", "昭苏县"),
            ("654027", "特克斯县"),
            ("654028", "尼勒克县"),
            ("654029", "伊犁*县"),
        ],
    ),
    (
        "654200",
        "塔城地区",
        &[
            ("654201", "塔城市"),
            ("654202", "乌苏市"),
            ("654203", "沙湾市"),
            ("654221", "额敏县"),
            ("654224", "托里县"),
            ("654225", "裕民县"),
            ("654226", "和布克赛尔蒙古自治县"),
        ],
    ),
    (
        "654300",
        "阿勒泰地区",
        &[
            ("654301", "阿勒泰市"),
            ("654321", "布尔津县"),
            ("654322", "富蕴县"),
            ("654323", "福海县"),
            ("654324", "哈巴河县"),
            ("654325", "青河县"),
            ("654326", "吉木乃县"),
        ],
    ),
    (
        "650100",
        "乌鲁木齐市",
        &[
            ("650102", "天山区"),
            ("650103", "沙依巴克区"),
            ("650104", "新市区"),
            ("650105", "水磨沟区"),
            ("650106", "头屯河区"),
            ("650107", "达坂城区"),
            ("650109", "米东区"),
            ("650121", "乌鲁木齐县"),
        ],
    ),
    (
        "650200",
        "克拉玛依市",
        &[
            ("650202", "独山子区"),
            ("650203", "克拉玛依区"),
            ("650204", "白碱滩区"),
            ("650205", "乌尔禾区"),
        ],
    ),
    (
        "650400",
        "吐鲁番市",
        &[
            ("650402", "高昌区"),
            ("650421", "鄯善县"),
            ("650422", "托克逊县"),
        ],
    ),
    (
        "650500",
        "哈密市",
        &[
            ("650502", "伊州区"),
            ("650521", "巴里坤哈萨克自治县"),
            ("650522", "伊吾县"),
        ],
    ),
];

/// One running `fundsync serve` process.
#[derive(Debug)]
struct Proc {
    code: String,
    level: &'static str,
    config: PathBuf,
    api: String,
    sync: Option<u16>,
    child: Child,
}

/// A port nothing listens on now and that this run has not handed out
/// before. The port is closed again before the node binds it, so without
/// the second condition two of the 114 nodes could be given the same one
/// (seen under load: the later node failed to bind, while its readiness
/// check was answered by the other node on that port).
fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .map_err(|_| anyhow::anyhow!("port registry poisoned"))?;
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if given.insert(port) {
            return Ok(port);
        }
    }
    bail!("no unused port after 1000 tries")
}

/// Runs a `fundsync` command to completion; its stdout.
async fn fundsync(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("FUNDSYNC_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "fundsync {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct NodeSpec<'a> {
    level: &'static str,
    code: &'a str,
    name: &'a str,
    /// The parent's config and sync port.
    parent: Option<(&'a Path, u16)>,
}

/// init (+ enroll at the parent and join) + serve, until its API answers.
async fn start(bin: &Path, root: &Path, http: &reqwest::Client, n: NodeSpec<'_>) -> Result<Proc> {
    let dir = root.join(n.code);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("fundsync.toml");
    let api_port = free_port()?;
    let listen = format!("127.0.0.1:{api_port}");
    let cfg = config.to_str().context("path")?;
    let data = dir.join("data");
    let data = data.to_str().context("path")?;
    let mut args = vec![
        "init",
        "--level",
        n.level,
        "--code",
        n.code,
        "--name",
        n.name,
        "--listen",
        &listen,
        "--config",
        cfg,
        "--data-dir",
        data,
    ];
    let parent_url;
    let parent_code;
    if let Some((pcfg, psync)) = n.parent {
        parent_url = format!("https://127.0.0.1:{psync}");
        parent_code = format!("{}00", &n.code[..4]);
        let pc = if n.level == "prefecture" {
            "650000"
        } else {
            parent_code.as_str()
        };
        args.extend(["--parent-code", pc, "--parent-url", &parent_url]);
        fundsync(bin, &args).await?;
        let token = fundsync(
            bin,
            &[
                "enroll",
                "--child",
                n.code,
                "--name",
                n.name,
                "--config",
                pcfg.to_str().context("path")?,
            ],
        )
        .await?;
        fundsync(bin, &["join", "--token", token.trim(), "--config", cfg]).await?;
    } else {
        fundsync(bin, &args).await?;
    }
    // Every call needs an account: one holding every desk's role, and its
    // token, made with the node's own command line before it serves.
    fundsync(
        bin,
        &[
            "user",
            "add",
            "bench",
            "--name",
            "基准测试",
            "--role",
            "lead,allocation,department,treasury,operator",
            "--classified",
            "--config",
            cfg,
        ],
    )
    .await?;
    let token = fundsync(
        bin,
        &[
            "token", "create", "--user", "bench", "--name", "bench", "--config", cfg,
        ],
    )
    .await?;
    let token = token
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .context("no token printed")?
        .to_owned();
    let sync = (n.level != "county").then(free_port).transpose()?;
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--config", cfg])
        .env("RUST_LOG", "warn")
        .env_remove("FUNDSYNC_CONFIG")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    if let Some(s) = sync {
        cmd.env("FUNDSYNC_SYNC_LISTEN", format!("127.0.0.1:{s}"));
    }
    let mut child = cmd.spawn().context("starting fundsync serve")?;
    let api = format!("http://{listen}/api/v1");
    remember_token(&api, token);
    let log = dir.join("serve.log");
    let until = Instant::now() + Duration::from_secs(120);
    // Ready when this process is running and the API on its port is this
    // node's (not another process that happens to hold the port).
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}) before its API answered: {}",
                n.code,
                std::fs::read_to_string(&log).unwrap_or_default().trim()
            );
        }
        if let Ok(r) = authed(http.get(format!("{api}/node")), &api).send().await {
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap_or_default();
                ensure!(
                    v["code"] == n.code,
                    "port {api_port} of {} is answered by node {}",
                    n.code,
                    v["code"]
                );
                break;
            }
        }
        ensure!(
            Instant::now() < until,
            "{} did not answer within 120 s (see {})",
            n.code,
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Proc {
        code: n.code.to_owned(),
        level: n.level,
        config,
        api,
        sync,
        child,
    })
}

/// Each node's API base and the bench account's token there.
static TOKENS: std::sync::Mutex<BTreeMap<String, String>> = std::sync::Mutex::new(BTreeMap::new());

fn remember_token(api: &str, token: String) {
    if let Ok(mut t) = TOKENS.lock() {
        t.insert(api.to_owned(), token);
    }
}

/// `r` with the token of the node whose API `url` is under.
fn authed(r: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
    let token = TOKENS.lock().ok().and_then(|t| {
        t.iter()
            .find(|(api, _)| url.starts_with(api.as_str()))
            .map(|(_, tok)| tok.clone())
    });
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<Value> {
    let r = authed(http.post(url), url).json(body).send().await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    ensure!(status.is_success(), "POST {url}: {status} {v}");
    Ok(v)
}

fn id_of(v: &Value) -> Result<EntryId> {
    v["id"]
        .as_str()
        .context("no id in the answer")?
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Waits until `api` holds allocation `a`.
async fn holds(http: &reqwest::Client, api: &str, a: EntryId) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let r = authed(http.get(format!("{api}/allocations/{a}")), api)
            .send()
            .await?;
        if r.status().is_success() {
            return Ok(());
        }
        ensure!(Instant::now() < until, "{a} did not reach {api}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn csv(rows: u64, alloc: EntryId) -> Result<String> {
    use std::fmt::Write as _;
    let mut s = String::from(
        "voucher_no,paid_on,payer,payee_name,payee_account,payee_bank,amount,function_class,allocation,project,purpose\n",
    );
    for i in 0..rows {
        let p = payment(i, alloc)?;
        writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{}",
            p.voucher_no,
            p.paid_on,
            p.payer,
            p.payee_name,
            p.payee_account,
            p.payee_bank,
            p.amount,
            p.function_class,
            p.allocation,
            p.project,
            p.purpose
        )?;
    }
    Ok(s)
}

/// VmRSS and VmHWM of a process, in KiB.
fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} of {pid}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> String {
    format!("{}.{}", kib / 1024, (kib % 1024) * 10 / 1024)
}

/// `bench scale`.
pub async fn scale(bin: &Path, prefectures: usize, per: usize, payments: u64) -> Result<()> {
    ensure!(
        bin.exists(),
        "{} not found: build it with `cargo build --release -p fundsync --bin fundsync` \
         (same target dir) or pass --fundsync PATH",
        bin.display()
    );
    let tree: Vec<(&str, &str, Vec<Division>)> = TREE
        .iter()
        .take(prefectures)
        .map(|(c, n, cs)| (*c, *n, cs.iter().take(per).copied().collect()))
        .collect();
    let county_count: usize = tree.iter().map(|t| t.2.len()).sum();
    println!(
        "\nscenario scale: 1 region, {} prefectures, {county_count} counties, each a separate \
         `fundsync serve` process (SQLite, own data dir, 127.0.0.1 ports, production \
         settings), set up with init/enroll/join; {payments} payments imported at every \
         county at once",
        tree.len()
    );
    // FUNDSYNC_BENCH_KEEP=1 keeps every node's data dir and serve.log.
    let keep = std::env::var_os("FUNDSYNC_BENCH_KEEP").is_some();
    let root = tempfile::Builder::new()
        .prefix("fsb-scale")
        .disable_cleanup(keep)
        .tempdir()?;
    if keep {
        println!(
            "keeping the nodes' directories in {}",
            root.path().display()
        );
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let setup = Instant::now();
    let region = start(
        bin,
        root.path(),
        &http,
        NodeSpec {
            level: "region",
            code: "650000",
            name: "新疆维吾尔自治区",
            parent: None,
        },
    )
    .await?;
    let rsync = region.sync.context("region sync port")?;
    let mut set = tokio::task::JoinSet::new();
    for (pcode, pname, counties) in tree.clone() {
        let (bin, root, http) = (bin.to_owned(), root.path().to_owned(), http.clone());
        let rcfg = region.config.clone();
        let counties: Vec<(String, String)> = counties
            .iter()
            .map(|(c, n)| ((*c).to_owned(), (*n).to_owned()))
            .collect();
        set.spawn(async move {
            let p = start(
                &bin,
                &root,
                &http,
                NodeSpec {
                    level: "prefecture",
                    code: pcode,
                    name: pname,
                    parent: Some((&rcfg, rsync)),
                },
            )
            .await?;
            let psync = p.sync.context("prefecture sync port")?;
            let mut out = vec![];
            for (c, n) in &counties {
                out.push(
                    start(
                        &bin,
                        &root,
                        &http,
                        NodeSpec {
                            level: "county",
                            code: c,
                            name: n,
                            parent: Some((&p.config, psync)),
                        },
                    )
                    .await?,
                );
            }
            out.insert(0, p);
            anyhow::Ok(out)
        });
    }
    let mut procs: BTreeMap<String, Proc> = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        for p in r?? {
            procs.insert(p.code.clone(), p);
        }
    }
    procs.insert(region.code.clone(), region);
    let setup_took = setup.elapsed();
    println!(
        "started {} processes in {} s (init, enroll, join, serve each)",
        procs.len(),
        secs(setup_took)
    );

    // Money down: the region to each prefecture, each prefecture to its counties.
    let rapi = procs["650000"].api.clone();
    let received = id_of(
        &post(
            &http,
            &format!("{rapi}/funds-received"),
            &json!({"doc_no": "财农〔2020〕1号", "category": "X-01", "amount": "1000000000000",
                    "received_on": "2020-04-20", "source": "财政部"}),
        )
        .await?,
    )?;
    let mut county_allocs: BTreeMap<String, EntryId> = BTreeMap::new();
    for (k, (pcode, _, counties)) in tree.iter().enumerate() {
        let to_pref = id_of(
            &post(
                &http,
                &format!("{rapi}/allocations"),
                &json!({"doc_no": format!("新财农〔2020〕{k}号"), "source": received.to_string(),
                        "to": pcode, "amount": "50000000000", "issued_on": "2020-04-26"}),
            )
            .await?,
        )?;
        let papi = procs[*pcode].api.clone();
        holds(&http, &papi, to_pref).await?;
        for (j, (ccode, _)) in counties.iter().enumerate() {
            let a = id_of(
                &post(
                    &http,
                    &format!("{papi}/allocations"),
                    &json!({"doc_no": format!("{pcode}财〔2020〕{j}号"), "source": to_pref.to_string(),
                            "to": ccode, "amount": "1000000000", "issued_on": "2020-04-26"}),
                )
                .await?,
            )?;
            county_allocs.insert((*ccode).to_owned(), a);
        }
    }
    for (ccode, a) in &county_allocs {
        let capi = procs[ccode].api.clone();
        holds(&http, &capi, *a).await?;
        for b in projects()? {
            match b {
                Body::ProjectRegistered(p) => {
                    post(
                        &http,
                        &format!("{capi}/projects"),
                        &serde_json::to_value(&p)?,
                    )
                    .await?;
                }
                Body::TargetSet(t) => {
                    let mut v = serde_json::to_value(&t)?;
                    if let Some(o) = v.as_object_mut() {
                        o.remove("project");
                    }
                    post(&http, &format!("{capi}/projects/{}/targets", t.project), &v).await?;
                }
                _ => {}
            }
        }
    }
    wait_converged(&http, &procs, Duration::from_secs(300)).await?;

    // Every county imports its vouchers at once; the region must show them all.
    let files: Vec<(String, String, String)> = county_allocs
        .iter()
        .map(|(c, a)| Ok((c.clone(), procs[c].api.clone(), csv(payments, *a)?)))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let mut imports = tokio::task::JoinSet::new();
    for (c, api, body) in files {
        let http = http.clone();
        imports.spawn(async move {
            let r = authed(http.post(format!("{api}/payments/import")), &api)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await?;
            let status = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            ensure!(status.is_success(), "import at {c}: {status} {v}");
            anyhow::Ok(())
        });
    }
    while let Some(r) = imports.join_next().await {
        r??;
    }
    let imported = started.elapsed();
    let want = fen_to_yuan(payments_fen(0..payments)).to_string();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let s: Value = authed(
            http.get(format!("{rapi}/ledger/summary?as_of={AS_OF}&group_by=node")),
            &rapi,
        )
        .send()
        .await?
        .json()
        .await?;
        let rows = s["rows"].as_array().cloned().unwrap_or_default();
        let done = county_allocs.keys().all(|c| {
            rows.iter().any(|r| {
                r["group"]["node"] == c.as_str()
                    && r["paid"]
                        .as_str()
                        .and_then(|p| p.parse::<rust_decimal::Decimal>().ok())
                        == want.parse().ok()
            })
        });
        if done {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the region did not show every county's payments within 30 min"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at_region = started.elapsed();
    wait_converged(&http, &procs, Duration::from_secs(300)).await?;
    let converged = started.elapsed();

    // Idle: no writes for a while; then every process's resident memory.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut by_level: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for p in procs.values() {
        let pid = p.child.id().context("a node process has exited")?;
        by_level.entry(p.level).or_default().push(rss_kib(pid)?);
    }
    let load = loadavg();
    // Where the largest node's memory is: anonymous (heap: SQLite page
    // caches, Rust data) or file-backed (the binary), and its database size.
    let mut largest: Vec<(u64, &Proc)> = procs
        .values()
        .filter_map(|p| Some((rss_kib(p.child.id()?).ok()?.0, p)))
        .collect();
    largest.sort_by_key(|x| std::cmp::Reverse(x.0));
    for (rss, p) in largest.iter().take(2) {
        let pid = p.child.id().unwrap_or(0);
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let field = |name: &str| {
            rollup
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let data = p
            .config
            .parent()
            .map(|d| d.join("data"))
            .unwrap_or_default();
        let db: u64 = ["ledger.sqlite", "ledger.sqlite-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(data.join(f)).ok())
            .map(|m| m.len() / 1024)
            .sum();
        let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0);
        println!(
            "{} ({}): RSS {} MiB = anonymous {} MiB + file {} MiB; {threads} threads; ledger + WAL on disk {} MiB",
            p.code,
            p.level,
            mib(*rss),
            mib(field("Anonymous:")),
            mib(field("Rss:").saturating_sub(field("Anonymous:"))),
            mib(db)
        );
    }
    for p in procs.values_mut() {
        let _ = p.child.start_kill();
    }
    for p in procs.values_mut() {
        let _ = p.child.wait().await;
    }

    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>10}",
        "", "processes", "payments", "seconds", "target"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "every county's import answered",
        county_allocs.len(),
        u64::try_from(county_allocs.len())? * payments,
        secs(imported)
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {}",
        "region's summary shows every fen",
        procs.len(),
        u64::try_from(county_allocs.len())? * payments,
        secs(at_region),
        "< 60 s",
        verdict(at_region < Duration::from_secs(60))
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "every chain converged (heads)",
        procs.len(),
        "",
        secs(converged)
    );
    println!(
        "resident memory after 15 s idle (load average {load}), MiB:\n{:<12} {:>6} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "level", "nodes", "min", "median", "max", "peak (HWM)", "target"
    );
    let mut worst = 0;
    let mut total = 0;
    for (level, v) in &by_level {
        let mut rss: Vec<u64> = v.iter().map(|x| x.0).collect();
        rss.sort_unstable();
        let hwm = v.iter().map(|x| x.1).max().unwrap_or(0);
        let max = rss.last().copied().unwrap_or(0);
        worst = worst.max(max);
        total += rss.iter().sum::<u64>();
        println!(
            "{level:<12} {:>6} {:>8} {:>8} {:>8} {:>10} {:>8}",
            rss.len(),
            mib(rss.first().copied().unwrap_or(0)),
            mib(rss[rss.len() / 2]),
            mib(max),
            mib(hwm),
            "< 30"
        );
    }
    println!(
        "largest idle node {} MiB (target < 30 MiB: {}); all {} processes together {} MiB",
        mib(worst),
        verdict(worst < 30 * 1024),
        procs.len(),
        mib(total)
    );
    Ok(())
}

/// Waits until every ancestor holds every node's own chain as the node does.
async fn wait_converged(
    http: &reqwest::Client,
    procs: &BTreeMap<String, Proc>,
    deadline: Duration,
) -> Result<()> {
    let until = Instant::now() + deadline;
    loop {
        let mut heads: BTreeMap<&str, Vec<(String, u64)>> = BTreeMap::new();
        for (c, p) in procs {
            let v: Value = authed(http.get(format!("{}/sync/heads", p.api)), &p.api)
                .send()
                .await?
                .json()
                .await?;
            let hs = v
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|h| Some((h["origin"].as_str()?.to_owned(), h["seq"].as_u64()?)))
                .collect();
            heads.insert(c.as_str(), hs);
        }
        let seq = |at: &str, of: &str| {
            heads
                .get(at)
                .and_then(|v| v.iter().find(|(o, _)| o == of).map(|x| x.1))
        };
        let lagging = procs.keys().filter(|c| c.as_str() != "650000").any(|c| {
            let own = seq(c, c);
            let pref = format!("{}00", &c[..4]);
            own != seq("650000", c) || (pref != *c && own != seq(&pref, c))
        });
        if !lagging {
            return Ok(());
        }
        ensure!(Instant::now() < until, "not converged after {deadline:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
