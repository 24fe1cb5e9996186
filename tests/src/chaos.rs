//! `bench chaos`: randomized faults on a real tree of `fundsync` processes.
//!
//! One run starts 1 region, 2 prefectures and 4 counties, each a separate
//! `fundsync serve` with its own data directory (SQLite; the region on
//! PostgreSQL with `--pg`), on loopback ports chosen at run time, set up
//! with `init` / `enroll` / `join` as the README shows. Every child reaches
//! its parent's sync listener through a TCP proxy of the harness ([`Proxy`])
//! that can cut the link, hold one direction, delay, or drop every
//! connection mid-stream. A seeded RNG then chooses, step by step, writes
//! through the API with a token at every level (funds, own budgets,
//! allocations down, projects with targets, payments, reversals, CSV
//! imports) and faults (kill -9 and restart, SIGSTOP/SIGCONT, partitions,
//! one-way partitions, delays, dropped connections, a backup and a later
//! restore of it, a clock jump through `FUNDSYNC_CLOCK_OFFSET_MS`; with
//! `--dup-reorder`, up-batches sent again and an earlier one after a later
//! one, by a proxy that terminates TLS with the two nodes' own
//! certificates; with `--disk-full`, a node's data directory on a tmpfs of
//! its own filled to the last byte). After
//! the last step every fault is healed and [`check`] asserts, with a
//! deadline: heads converged, no gaps, every acknowledged write present
//! exactly once at its node and every ancestor (an allocation also at its
//! recipient), no write present twice, refused writes absent, money
//! conserved at every node, each ancestor's summary of a node equal to the
//! node's own, and `fundsync verify --json` clean at every node.
//!
//! The schedule is the seed's; the processes' timing is not, so a replay
//! repeats the same steps, not the same interleaving.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use chrono::NaiveDate;
use fundsync_protocol::body::*;
use fundsync_protocol::{Amount, EntryId};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::pg::TestDb;

/// What a chaos session runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `fundsync` binary.
    pub fundsync: PathBuf,
    /// The first run's seed; run `i` uses `seed + i`.
    pub seed: u64,
    pub runs: u64,
    /// Steps (a write or a fault) per run.
    pub steps: u64,
    /// The region on PostgreSQL (a new database in `FUNDSYNC_TEST_PG_URL`).
    pub pg: bool,
    /// How long the healed tree has to converge.
    pub heal_deadline: Duration,
    /// Keep each run's directories (printed).
    pub keep: bool,
    /// Print each step.
    pub verbose: bool,
    /// Also restore the region (the root) from an old backup. Off by
    /// default: the root has no parent to take its lost entries back
    /// from, so a tree whose root lost entries its children hold does not
    /// converge again (seed 13; see BENCHMARKS.md "Randomized faults").
    pub restore_root: bool,
    /// Also duplicate and reorder up-batches: the proxies terminate TLS
    /// (with the child's and the parent's own certificates) and, while
    /// the fault lasts on a link, send each up-batch the child pushes
    /// again, and an earlier one of that link after it.
    pub dup_reorder: bool,
    /// Also fill a node's disk: each SQLite node's data directory is a
    /// tmpfs of [`DISK_MB`] MiB of its own (mounting needs root), which
    /// the fault fills to the last byte while it lasts.
    pub disk_full: bool,
}

/// The size of a node's own filesystem with `--disk-full`.
pub const DISK_MB: u64 = 64;

/// The file that fills a node's filesystem, in its data directory.
const FILLER: &str = ".chaos-disk-full";

impl Options {
    pub fn new(fundsync: PathBuf) -> Self {
        Self {
            fundsync,
            seed: 1,
            runs: 1,
            steps: 60,
            pg: false,
            heal_deadline: Duration::from_secs(120),
            keep: false,
            verbose: false,
            restore_root: false,
            dup_reorder: false,
            disk_full: false,
        }
    }

    /// The command that replays run `seed` alone.
    pub fn replay(&self, seed: u64) -> String {
        format!(
            "cargo run -p fundsync-tests --bin bench -- chaos --seed {seed} --runs 1 --steps {}{}{}{}{}",
            self.steps,
            if self.pg { " --pg" } else { "" },
            if self.restore_root {
                " --restore-root"
            } else {
                ""
            },
            if self.dup_reorder {
                " --dup-reorder"
            } else {
                ""
            },
            if self.disk_full { " --disk-full" } else { "" }
        )
    }
}

/// What a session did and found.
#[derive(Debug, Default)]
pub struct Totals {
    pub runs: u64,
    /// Faults injected, by type.
    pub faults: BTreeMap<&'static str, u64>,
    /// Writes the API acknowledged (200/201), rows of imports counted each.
    pub acked: u64,
    /// Writes that got no answer or a 5xx (may be present, never twice).
    pub unsure: u64,
    /// Writes refused with a 4xx (must be absent).
    pub refused: u64,
    /// Each failed run: its seed and what was violated.
    pub failed: Vec<(u64, Vec<String>)>,
    pub wall: Duration,
    /// Up-batches the proxies sent again (`--dup-reorder`), by the
    /// parent's answer (its HTTP status, 0 for none).
    pub replayed: BTreeMap<u16, u64>,
}

impl Totals {
    pub fn violations(&self) -> usize {
        self.failed.iter().map(|f| f.1.len()).sum()
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let replayed = if self.replayed.is_empty() {
            String::new()
        } else {
            let by: Vec<String> = self
                .replayed
                .iter()
                .map(|(k, v)| format!("{v}× {k}"))
                .collect();
            format!(
                ", up-batches replayed {} (answered {})",
                self.replayed.values().sum::<u64>(),
                by.join(", ")
            )
        };
        format!(
            "chaos: runs {}, faults {} ({}), writes acknowledged {}, unanswered {}, refused {}{replayed}, \
             violations {} in {} run(s), wall time {} s",
            self.runs,
            self.faults.values().sum::<u64>(),
            faults.join(", "),
            self.acked,
            self.unsure,
            self.refused,
            self.violations(),
            self.failed.len(),
            self.wall.as_secs()
        )
    }
}

/// Runs `opts.runs` runs; a run that finds violations is reported with
/// its seed and replay command, and the session goes on.
pub async fn session(opts: &Options) -> Result<Totals> {
    ensure!(
        opts.fundsync.exists(),
        "{} not found: build it with `cargo build -p fundsync --bin fundsync` (same target \
         dir) or pass --fundsync PATH",
        opts.fundsync.display()
    );
    let started = Instant::now();
    let mut totals = Totals::default();
    for i in 0..opts.runs {
        let seed = opts.seed.wrapping_add(i);
        let t = Instant::now();
        // A run that cannot go on (a node that does not start again after
        // a fault, say) is a failure of that run, not of the session.
        let v = match one_run(opts, seed, &mut totals).await {
            Ok(v) => v,
            Err(e) => vec![format!("the run could not go on: {e:#}")],
        };
        totals.runs += 1;
        if v.is_empty() {
            println!("run seed {seed}: ok in {} s", t.elapsed().as_secs());
        } else {
            println!(
                "run seed {seed}: {} VIOLATION(S) in {} s; replay: {}",
                v.len(),
                t.elapsed().as_secs(),
                opts.replay(seed)
            );
            for x in &v {
                println!("  seed {seed}: {x}");
            }
            totals.failed.push((seed, v));
        }
    }
    totals.wall = started.elapsed();
    Ok(totals)
}

// ---------------------------------------------------------------- the RNG

/// SplitMix64: small, seeded, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        let n = u64::try_from(v.len()).ok()?;
        v.get(usize::try_from(self.below(n)).ok()?)
    }
}

// ---------------------------------------------------------------- the proxy

/// What the proxy does to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Every connection closed, new ones closed at once.
    Cut,
    /// Child → parent bytes held (not read), the other way flows.
    HoldUp,
    /// Parent → child bytes held.
    HoldDown,
    /// Each chunk waits this many ms, both ways.
    Delay(u64),
}

/// How a proxy speaks TLS when it terminates it (`--dup-reorder`): to the
/// child as the parent (the parent's certificate and key), to the parent
/// as the child (the child's), so that it sees the requests and can send
/// one again.
#[derive(Clone)]
pub struct ProxyTls {
    pub accept: tokio_rustls::TlsAcceptor,
    pub connect: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for ProxyTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyTls")
    }
}

impl ProxyTls {
    /// From the two nodes' data directories, as `init` / `join` left them.
    pub fn between(child_data: &Path, parent_data: &Path, parent: &str) -> Result<ProxyTls> {
        use fundsync_node::pki;
        let child = pki::TlsFiles::new(child_data.join("tls")).load_node()?;
        let parent_tls = pki::TlsFiles::new(parent_data.join("tls")).load_node()?;
        let server = pki::server_config(&parent_tls, pki::Revoked::default())?;
        let client = pki::client_config(&child, parent.parse()?)?;
        Ok(ProxyTls {
            accept: tokio_rustls::TlsAcceptor::from(server),
            connect: tokio_rustls::TlsConnector::from(client),
        })
    }
}

/// What a TLS-terminating proxy saw and sent again.
#[derive(Debug, Default)]
struct Replays {
    /// The up-batches (whole HTTP requests) the child pushed, oldest first;
    /// the last [`REPLAY_KEPT`].
    seen: std::collections::VecDeque<Vec<u8>>,
    /// The parent's answers to what was sent again, by status (0: none).
    answered: BTreeMap<u16, u64>,
}

const REPLAY_KEPT: usize = 32;

/// A TCP proxy between a child and its parent's sync listener.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped to drop every open connection.
    reset: watch::Sender<u64>,
    /// Duplicating and reordering up-batches now.
    dup: watch::Sender<bool>,
    replays: std::sync::Arc<std::sync::Mutex<Replays>>,
    /// What its connections share, for the replays it starts itself.
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What each connection of a proxy shares.
#[derive(Clone, Debug)]
struct Shared {
    target: u16,
    mode: watch::Receiver<Mode>,
    reset: watch::Receiver<u64>,
    dup: watch::Receiver<bool>,
    tls: Option<ProxyTls>,
    replays: std::sync::Arc<std::sync::Mutex<Replays>>,
    seed: u64,
}

impl Proxy {
    /// Listens on a port of 127.0.0.1 chosen by the system, forwarding to
    /// `target` on 127.0.0.1: bytes as they come, or, with `tls`, the
    /// requests inside the TLS it terminates.
    pub async fn start(target: u16, tls: Option<ProxyTls>, seed: u64) -> Result<Proxy> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let port = l.local_addr()?.port();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (reset, reset_rx) = watch::channel(0u64);
        let (dup, dup_rx) = watch::channel(false);
        let replays = std::sync::Arc::new(std::sync::Mutex::new(Replays::default()));
        let shared = Shared {
            target,
            mode: mode_rx,
            reset: reset_rx,
            dup: dup_rx,
            tls,
            replays: replays.clone(),
            seed,
        };
        let kept = shared.clone();
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let Ok((down, _)) = l.accept().await else {
                    continue;
                };
                if *shared.mode.borrow() == Mode::Cut {
                    drop(down);
                    continue;
                }
                n += 1;
                let sh = shared.clone();
                tokio::spawn(async move {
                    let _ = connection(down, sh, n).await;
                });
            }
        });
        Ok(Proxy {
            port,
            mode,
            reset,
            dup,
            replays,
            shared: kept,
            task,
        })
    }

    pub fn set(&self, m: Mode) {
        self.mode.send_replace(m);
        if m == Mode::Cut {
            self.drop_connections();
        }
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Closes every open connection mid-stream.
    pub fn drop_connections(&self) {
        self.reset.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Starts (or stops) sending up-batches again and out of order. On
    /// starting, up to `older` of the up-batches already seen go to the
    /// parent again at once, oldest last (after every later one, out of
    /// order), whether or not the child pushes anything more meanwhile.
    pub fn duplicate(&self, on: bool, older: usize, rng: &mut Rng) {
        self.dup.send_replace(on);
        if !on {
            return;
        }
        let again: Vec<Vec<u8>> = {
            let Ok(g) = self.replays.lock() else { return };
            let n = u64::try_from(g.seen.len()).unwrap_or(0);
            let mut picks: Vec<usize> = (0..older)
                .filter_map(|_| usize::try_from(rng.below(n)).ok())
                .collect();
            picks.sort_unstable_by(|a, b| b.cmp(a));
            picks
                .iter()
                .filter_map(|&i| g.seen.get(i).cloned())
                .collect()
        };
        if !again.is_empty() {
            tokio::spawn(replay(self.shared.clone(), again, 0));
        }
    }

    /// The parent's answers to the up-batches sent again, by status.
    fn answered(&self) -> BTreeMap<u16, u64> {
        self.replays
            .lock()
            .map(|r| r.answered.clone())
            .unwrap_or_default()
    }
}

/// One connection of a child: to the parent, then both ways until either
/// side closes or the connections are reset.
async fn connection(down: TcpStream, sh: Shared, n: u64) -> Result<()> {
    let up = TcpStream::connect(("127.0.0.1", sh.target)).await?;
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let Some(tls) = sh.tls.clone() else {
        let (dr, dw) = down.into_split();
        let (ur, uw) = up.into_split();
        tokio::select! {
            () = pump(dr, uw, true, sh.clone(), None) => {}
            () = pump(ur, dw, false, sh, None) => {}
        }
        return Ok(());
    };
    let down = tls.accept.accept(down).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(
        std::net::IpAddr::from([127, 0, 0, 1]).into(),
    );
    let up = tls.connect.connect(name, up).await?;
    let (dr, dw) = tokio::io::split(down);
    let (ur, uw) = tokio::io::split(up);
    let tap = Tap {
        buf: vec![],
        broken: false,
        rng: Rng::new(sh.seed ^ n.wrapping_mul(0x9E37_79B9)),
    };
    tokio::select! {
        () = pump(dr, uw, true, sh.clone(), Some(tap)) => {}
        () = pump(ur, dw, false, sh, None) => {}
    }
    Ok(())
}

/// The requests a child sends, cut out of its byte stream (HTTP/1.1 with a
/// `Content-Length`; anything else and the tap stops looking).
struct Tap {
    buf: Vec<u8>,
    broken: bool,
    rng: Rng,
}

impl Tap {
    /// Takes `chunk`; returns the requests it completes.
    fn feed(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![];
        if self.broken {
            return out;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
            if head.contains("transfer-encoding:") {
                self.broken = true;
                self.buf.clear();
                break;
            }
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + len;
            if self.buf.len() < total {
                break;
            }
            out.push(self.buf.drain(..total).collect());
        }
        if self.buf.len() > 64 << 20 {
            self.broken = true;
            self.buf.clear();
        }
        out
    }
}

fn is_up_batch(request: &[u8]) -> bool {
    request.starts_with(format!("POST {} ", fundsync_protocol::wire::UP_PATH).as_bytes())
}

/// Sends `requests` to the parent one after another, each on a connection
/// of its own (as a child that retried would), and counts the answers.
/// `wait_ms` is the fault's own delay (a late duplicate), drawn from the
/// run's seed; nothing waits on it for readiness.
async fn replay(sh: Shared, requests: Vec<Vec<u8>>, wait_ms: u64) {
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    for r in requests {
        // Not through a cut or held link.
        if !matches!(*sh.mode.borrow(), Mode::Pass | Mode::Delay(_)) {
            return;
        }
        let status = replay_one(&sh, &r).await.unwrap_or(0);
        if let Ok(mut g) = sh.replays.lock() {
            *g.answered.entry(status).or_default() += 1;
        }
    }
}

/// One request on a new TLS connection to the parent; its answer's status.
async fn replay_one(sh: &Shared, request: &[u8]) -> Result<u16> {
    let tls = sh.tls.clone().context("no TLS")?;
    let tcp = TcpStream::connect(("127.0.0.1", sh.target)).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(
        std::net::IpAddr::from([127, 0, 0, 1]).into(),
    );
    let mut s = tls.connect.connect(name, tcp).await?;
    s.write_all(request).await?;
    s.flush().await?;
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(buf.get(..n).unwrap_or_default());
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await??;
    let line = String::from_utf8_lossy(&got);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(status)
}

/// Copies `from` to `to` as the mode allows, until either side closes or
/// the connections are reset. With a tap (the child's requests, TLS
/// terminated), each up-batch is kept, and while the link duplicates, sent
/// again after it and followed by an earlier one.
async fn pump<R, W>(mut from: R, mut to: W, up: bool, sh: Shared, mut tap: Option<Tap>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let (mut mode, mut reset) = (sh.mode.clone(), sh.reset.clone());
    let mut buf = vec![0u8; 16 * 1024];
    reset.borrow_and_update();
    loop {
        // Hold: read nothing while this direction is held.
        loop {
            let m = *mode.borrow_and_update();
            let held = (up && m == Mode::HoldUp) || (!up && m == Mode::HoldDown);
            if m == Mode::Cut {
                return;
            }
            if !held {
                break;
            }
            tokio::select! {
                r = mode.changed() => if r.is_err() { return },
                _ = reset.changed() => return,
            }
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = reset.changed() => return,
            // A mode change while waiting for bytes: look again.
            r = mode.changed() => { if r.is_err() { return } continue }
        };
        let m = *mode.borrow();
        if let Mode::Delay(ms) = m {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = reset.changed() => return,
            }
        }
        // Bytes read before a hold began are delivered: the network had
        // them in flight.
        let Some(chunk) = buf.get(..n) else { return };
        tokio::select! {
            r = async { to.write_all(chunk).await?; to.flush().await } => if r.is_err() { return },
            _ = reset.changed() => return,
        }
        if let Some(tap) = tap.as_mut() {
            for request in tap.feed(chunk) {
                if !is_up_batch(&request) {
                    continue;
                }
                let earlier = {
                    let Ok(mut g) = sh.replays.lock() else { return };
                    let n = u64::try_from(g.seen.len()).unwrap_or(0);
                    let pick = usize::try_from(tap.rng.below(n)).unwrap_or(0);
                    let earlier = g.seen.get(pick).cloned();
                    g.seen.push_back(request.clone());
                    if g.seen.len() > REPLAY_KEPT {
                        g.seen.pop_front();
                    }
                    earlier
                };
                if *sh.dup.borrow() {
                    // The same batch again, then an earlier one after it.
                    let mut again = vec![request];
                    again.extend(earlier);
                    let wait = tap.rng.below(400);
                    tokio::spawn(replay(sh.clone(), again, wait));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the tree

/// The tree every run starts: code, name, level, parent.
const TREE: &[(&str, &str, &str, Option<&str>)] = &[
    ("650000", "新疆维吾尔自治区", "region", None),
    ("652800", "巴音郭楞蒙古自治州", "prefecture", Some("650000")),
    ("652900", "阿克苏地区", "prefecture", Some("650000")),
    ("652801", "库尔勒市", "county", Some("652800")),
    ("652822", "轮台县", "county", Some("652800")),
    ("652901", "阿克苏市", "county", Some("652900")),
    ("652922", "温宿县", "county", Some("652900")),
];

/// Sync timings short enough that a healed tree converges in seconds; the
/// request timeout bounds how long a link stays stuck on a held connection.
const TIMINGS: &[(&str, &str)] = &[
    ("FUNDSYNC_RETRY_BASE_MS", "20"),
    ("FUNDSYNC_RETRY_MAX_MS", "500"),
    ("FUNDSYNC_PULL_WAIT_MS", "2000"),
    ("FUNDSYNC_PULL_ANSWER_SLACK_MS", "3000"),
    ("FUNDSYNC_PULL_POLL_MS", "200"),
    ("FUNDSYNC_PUSH_POLL_MS", "200"),
    ("FUNDSYNC_SYNC_CONNECT_TIMEOUT_MS", "2000"),
    ("FUNDSYNC_SYNC_REQUEST_TIMEOUT_MS", "8000"),
    ("FUNDSYNC_SYNC_IDLE_CLOSE_MS", "5000"),
    ("FUNDSYNC_HEALTH_REPORT_MS", "1000"),
    // The harness exercises replication under faults, not the target
    // cycle: its projects start as 实施 with targets that nobody reviews, so
    // "no approved target, no funds" (a local rule, never applied to
    // replicated entries) is off at its nodes. The cycle has its own tests.
    ("FUNDSYNC_RULES_TARGET_APPROVAL_REQUIRED", "false"),
];

/// A node of the run.
#[derive(Debug)]
struct Node {
    code: String,
    level: &'static str,
    parent: Option<String>,
    dir: PathBuf,
    config: PathBuf,
    api: String,
    /// Its sync listener's port (a county's is unused).
    sync_port: u16,
    token: String,
    /// The running `fundsync serve`, if any.
    child: Option<Child>,
    paused: bool,
    /// Through which this node reaches its parent.
    proxy: Option<Proxy>,
    clock_offset_ms: i64,
    /// The region's own database (`--pg`).
    pg: Option<TestDb>,
    /// A backup: a copy of the data directory (or of the PostgreSQL
    /// database), and how many writes had been made when it was taken.
    backup: Option<(Backup, usize)>,
    /// Its data directory's own small filesystem (`--disk-full`).
    disk: Option<Mount>,
}

/// A tmpfs mounted by the harness, unmounted when dropped.
#[derive(Debug)]
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `mb` MiB at `at` (created if need be).
    fn tmpfs(at: &Path, mb: u64) -> Result<Mount> {
        std::fs::create_dir_all(at)?;
        let opts = format!("size={mb}m,mode=0700");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts.as_str(), "tmpfs"])
            .arg(at)
            .output()
            .context("running mount")?;
        ensure!(
            out.status.success(),
            "--disk-full mounts a small filesystem (tmpfs) for each node's data directory, \
             which needs root (CAP_SYS_ADMIN): mount said {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Mount(at.to_owned()))
    }

    /// Fills the filesystem to its last byte; how many bytes that took.
    fn fill(&self) -> Result<u64> {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.0.join(FILLER))?;
        let mut written = 0u64;
        for size in [1 << 20, 4096, 1] {
            let block = vec![0u8; size];
            loop {
                match f.write(&block) {
                    Ok(0) => break,
                    Ok(n) => written += u64::try_from(n)?,
                    Err(e) if e.raw_os_error() == Some(28) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        match f.sync_all() {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(written)
    }

    /// Frees what [`Mount::fill`] took.
    fn free(&self) -> Result<()> {
        match std::fs::remove_file(self.0.join(FILLER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazily: a process killed a moment ago may still hold a file.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[derive(Debug)]
enum Backup {
    Dir(PathBuf),
    Pg(String),
}

impl Node {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    fn up(&self) -> bool {
        self.child.is_some()
    }
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
    /// Whether this node is an ancestor of `other`.
    fn is_ancestor_of(&self, tree: &BTreeMap<String, Node>, other: &str) -> bool {
        let mut at = tree.get(other).and_then(|n| n.parent.clone());
        while let Some(p) = at {
            if p == self.code {
                return true;
            }
            at = tree.get(&p).and_then(|n| n.parent.clone());
        }
        false
    }
}

/// Ancestors of `code`, nearest first.
fn ancestors(tree: &BTreeMap<String, Node>, code: &str) -> Vec<String> {
    let mut out = vec![];
    let mut at = tree.get(code).and_then(|n| n.parent.clone());
    while let Some(p) = at {
        at = tree.get(&p).and_then(|n| n.parent.clone());
        out.push(p);
    }
    out
}

/// A port nothing listens on now and that this process has not handed out
/// before (it is closed again before the node binds it).
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
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "fundsync {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// init (+ enroll at the parent and join), an account with every desk's
/// role and its token; not started.
async fn create(
    bin: &Path,
    root: &Path,
    tree: &BTreeMap<String, Node>,
    (code, name, level, parent): (&str, &str, &'static str, Option<&str>),
    pg: bool,
    disk_full: bool,
) -> Result<Node> {
    let dir = root.join(code);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("fundsync.toml");
    let cfg = config.to_str().context("path")?;
    let data = dir.join("data");
    let disk = if disk_full && !pg {
        Some(Mount::tmpfs(&data, DISK_MB)?)
    } else {
        None
    };
    let data = data.to_str().context("path")?;
    let listen = format!("127.0.0.1:{}", free_port()?);
    let sync_port = free_port()?;
    let sync_listen = format!("127.0.0.1:{sync_port}");
    let mut args = vec![
        "init",
        "--level",
        level,
        "--code",
        code,
        "--name",
        name,
        "--listen",
        &listen,
        "--config",
        cfg,
        "--data-dir",
        data,
    ];
    if level != "county" {
        args.extend(["--sync-listen", &sync_listen]);
    }
    let db = if pg {
        Some(TestDb::create().await?)
    } else {
        None
    };
    if let Some(db) = &db {
        args.extend(["--database-url", &db.url]);
    }
    let parent_url;
    if let Some(p) = parent {
        let pn = tree.get(p).context("parent first")?;
        parent_url = format!("https://127.0.0.1:{}", pn.sync_port);
        args.extend(["--parent-code", p, "--parent-url", &parent_url]);
        fundsync(bin, &args).await?;
        let token = fundsync(
            bin,
            &[
                "enroll",
                "--child",
                code,
                "--name",
                name,
                "--config",
                pn.config.to_str().context("path")?,
            ],
        )
        .await?;
        fundsync(bin, &["join", "--token", token.trim(), "--config", cfg]).await?;
    } else {
        fundsync(bin, &args).await?;
    }
    fundsync(
        bin,
        &[
            "user",
            "add",
            "chaos",
            "--name",
            "故障测试",
            "--role",
            "admin,lead,allocation,department,treasury,operator",
            "--classified",
            "--config",
            cfg,
        ],
    )
    .await?;
    let token = fundsync(
        bin,
        &[
            "token", "create", "--user", "chaos", "--name", "chaos", "--config", cfg,
        ],
    )
    .await?;
    let token = token
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .context("no token printed")?
        .to_owned();
    Ok(Node {
        code: code.to_owned(),
        level,
        parent: parent.map(str::to_owned),
        dir,
        config,
        api: format!("http://{listen}/api/v1"),
        sync_port,
        token,
        child: None,
        paused: false,
        proxy: None,
        clock_offset_ms: 0,
        pg: db,
        backup: None,
        disk,
    })
}

/// Starts `fundsync serve` for `n` and waits until its API answers as `n`.
async fn spawn(bin: &Path, n: &mut Node, http: &reqwest::Client) -> Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.dir.join("serve.log"))?;
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--config", n.config.to_str().context("path")?])
        .env("RUST_LOG", "warn")
        .env_remove("FUNDSYNC_CONFIG")
        .envs(TIMINGS.iter().copied())
        .env(
            fundsync_node::clock::CLOCK_OFFSET_ENV,
            n.clock_offset_ms.to_string(),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    if let Some(p) = &n.proxy {
        cmd.env(
            "FUNDSYNC_PARENT_URL",
            format!("https://127.0.0.1:{}", p.port),
        );
    }
    let mut child = cmd.spawn().context("starting fundsync serve")?;
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}) before its API answered; see {}",
                n.code,
                n.dir.join("serve.log").display()
            );
        }
        if let Ok(r) = http
            .get(format!("{}/node", n.api))
            .bearer_auth(&n.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap_or_default();
                ensure!(
                    v["code"] == n.code.as_str(),
                    "the API port of {} is answered by {}",
                    n.code,
                    v["code"]
                );
                break;
            }
        }
        ensure!(
            Instant::now() < until,
            "{} did not answer within 120 s",
            n.code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n.child = Some(child);
    n.paused = false;
    Ok(())
}

/// kill -9 (a paused process dies too).
async fn kill9(n: &mut Node) -> Result<()> {
    if let Some(mut c) = n.child.take() {
        c.start_kill()?;
        c.wait().await?;
    }
    n.paused = false;
    Ok(())
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill {sig} {pid} failed");
    Ok(())
}

/// A SQLite node's ledger: what a backup restores.
const LEDGER_FILES: [&str; 3] = ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"];

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_name() == FILLER {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- writes

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// 200/201: must be present exactly once at its node and every ancestor.
    Acked,
    /// No answer or 5xx: present at most once.
    Unsure,
    /// 4xx: absent.
    Refused,
}

#[derive(Debug, Clone)]
struct Write {
    step: u64,
    node: String,
    /// The journal kind and the natural key that names the entry.
    kind: &'static str,
    key: String,
    id: Option<String>,
    fate: Fate,
    /// An allocation's recipient, which must hold it too.
    to: Option<String>,
}

/// What the run knows of the tree's money, to make writes that can pass.
#[derive(Debug, Default)]
struct World {
    /// Funds at the region, own budgets, allocations: (id, holder).
    sources: Vec<(String, String)>,
    /// Each county's projects.
    projects: BTreeMap<String, Vec<String>>,
    /// Those of them with a performance target: a payment needs one.
    targeted: BTreeMap<String, Vec<String>>,
    /// Payments acknowledged: (county, voucher), not yet reversed.
    payments: Vec<(String, String)>,
    n: u64,
}

const DAY_ISSUED: &str = "2020-04-26";

fn amount(fen: u64) -> Result<Amount> {
    Amount::from_fen(i64::try_from(fen)?).map_err(|e| anyhow::anyhow!("{e}"))
}

fn date(s: &str) -> Result<NaiveDate> {
    s.parse().with_context(|| format!("date {s}"))
}

/// Sends one write; a request that got no answer is tried once more with
/// the same body (the API is idempotent by natural key).
async fn send(
    http: &reqwest::Client,
    n: &Node,
    path: &str,
    body: Body_,
    retry: bool,
) -> (Fate, Option<String>, String) {
    let mut last = String::new();
    for _ in 0..2 {
        let url = format!("{}{path}", n.api);
        let r = match &body {
            Body_::Json(v) => http.post(&url).json(v),
            Body_::Csv(s) => http
                .post(&url)
                .header("content-type", "text/csv")
                .body(s.clone()),
        };
        match r
            .bearer_auth(&n.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Err(e) => {
                last = format!("no answer: {e}");
                // Tried again only where the API is idempotent by natural
                // key and the node may answer: a target has no key, so a
                // second POST would set a second one.
                if !retry || !n.up() || n.paused {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(r) => {
                let status = r.status();
                let v: Value = r.json().await.unwrap_or_default();
                if status.is_success() {
                    return (
                        Fate::Acked,
                        v["id"].as_str().map(str::to_owned),
                        String::new(),
                    );
                }
                if status.is_client_error() && status.as_u16() != 408 {
                    return (Fate::Refused, None, format!("{status} {v}"));
                }
                return (Fate::Unsure, None, format!("{status} {v}"));
            }
        }
    }
    (Fate::Unsure, None, last)
}

enum Body_ {
    Json(Value),
    Csv(String),
}

fn payment_body(voucher: &str, alloc: &str, project: &str, fen: u64) -> Result<PaymentRecorded> {
    Ok(PaymentRecorded {
        voucher_no: voucher.to_owned(),
        paid_on: date("2020-06-15")?,
        payer: "县财政局".into(),
        payee_name: "收款单位".into(),
        payee_account: "6222000000000001".into(),
        payee_bank: "农业银行".into(),
        amount: amount(fen)?,
        function_class: "2130505".into(),
        allocation: alloc
            .parse::<EntryId>()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        project: project.to_owned(),
        purpose: "故障测试支出".into(),
    })
}

/// Chooses and makes one write at a random node. Returns the writes made
/// (an import makes one per row).
async fn random_write(
    rng: &mut Rng,
    http: &reqwest::Client,
    tree: &BTreeMap<String, Node>,
    world: &mut World,
    step: u64,
) -> Result<Vec<Write>> {
    let codes: Vec<&String> = tree.keys().collect();
    let Some(code) = rng.pick(&codes).map(|c| (*c).clone()) else {
        return Ok(vec![]);
    };
    let n = &tree[&code];
    world.n += 1;
    let k = world.n;
    let mine: Vec<String> = world
        .sources
        .iter()
        .filter(|s| s.1 == code)
        .map(|s| s.0.clone())
        .collect();
    let children: Vec<String> = tree
        .values()
        .filter(|c| c.parent.as_deref() == Some(code.as_str()))
        .map(|c| c.code.clone())
        .collect();
    let mut w = Write {
        step,
        node: code.clone(),
        kind: "",
        key: String::new(),
        id: None,
        fate: Fate::Refused,
        to: None,
    };
    let roll = rng.below(100);
    let (path, body) = if n.level != "county" {
        if roll < 15 || mine.is_empty() {
            if n.level == "region" && roll.is_multiple_of(2) {
                w.kind = "funds_received";
                w.key = format!("财农〔2020〕C{k}号");
                let b = FundsReceived {
                    doc_no: w.key.clone(),
                    category: "X-01".into(),
                    amount: amount(rng.between(1_000_000, 100_000_000))?,
                    received_on: date("2020-04-20")?,
                    source: "财政部".into(),
                    title: String::new(),
                };
                ("/funds-received".to_owned(), serde_json::to_value(b)?)
            } else {
                w.kind = "own_budget_added";
                w.key = format!("{code}本级〔2020〕C{k}号");
                let b = OwnBudgetAdded {
                    doc_no: w.key.clone(),
                    category: format!("CH-{code}"),
                    amount: amount(rng.between(100_000, 10_000_000))?,
                    budgeted_on: date("2020-04-20")?,
                    title: String::new(),
                };
                ("/own-budgets".to_owned(), serde_json::to_value(b)?)
            }
        } else {
            let source = rng.pick(&mine).cloned().unwrap_or_default();
            let to = rng.pick(&children).cloned().unwrap_or_default();
            w.kind = "allocation_issued";
            w.key = format!("{code}财〔2020〕C{k}号");
            w.to = Some(to.clone());
            let fen = rng.between(10_000, 2_000_000);
            (
                "/allocations".to_owned(),
                json!({"doc_no": w.key, "source": source, "to": to,
                       "amount": amount(fen)?.to_string(), "issued_on": DAY_ISSUED}),
            )
        }
    } else {
        let all_projects = world.projects.get(&code).cloned().unwrap_or_default();
        let projects = world.targeted.get(&code).cloned().unwrap_or_default();
        let payments: Vec<String> = world
            .payments
            .iter()
            .filter(|p| p.0 == code)
            .map(|p| p.1.clone())
            .collect();
        if roll < 5 {
            w.kind = "own_budget_added";
            w.key = format!("{code}本级〔2020〕C{k}号");
            let b = OwnBudgetAdded {
                doc_no: w.key.clone(),
                category: format!("CH-{code}"),
                amount: amount(rng.between(100_000, 5_000_000))?,
                budgeted_on: date("2020-04-20")?,
                title: String::new(),
            };
            ("/own-budgets".to_owned(), serde_json::to_value(b)?)
        } else if roll < 13 || all_projects.is_empty() {
            w.kind = "project_registered";
            w.key = format!("C{k:04}");
            let b = ProjectRegistered {
                code: w.key.clone(),
                name: format!("故障测试项目{k}"),
                township: "镇".into(),
                village: String::new(),
                department: String::new(),
                starts_on: date("2020-01-01")?,
                ends_on: date("2020-12-31")?,
                budget: amount(900_000_000_000)?,
                status: ProjectStatus::InProgress,
            };
            ("/projects".to_owned(), serde_json::to_value(b)?)
        } else if roll < 18 || projects.is_empty() {
            let p = rng.pick(&all_projects).cloned().unwrap_or_default();
            w.kind = "target_set";
            w.key = format!("{p}/指标{k}");
            (
                format!("/projects/{p}/targets"),
                json!({"level1": "output", "level2": "quantity", "indicator": format!("指标{k}"),
                       "op": ">=", "value": "1", "unit": "个"}),
            )
        } else if roll < 28 && !payments.is_empty() {
            let v = rng.pick(&payments).cloned().unwrap_or_default();
            w.kind = "payment_reversed";
            w.key = v.clone();
            (
                format!("/payments/{v}/reversal"),
                json!({"reversed_on": "2020-12-20", "reason": "故障测试冲销"}),
            )
        } else if roll < 40 && !mine.is_empty() {
            // An import of 1–4 vouchers.
            let rows = rng.between(1, 4);
            let alloc = rng.pick(&mine).cloned().unwrap_or_default();
            let mut csv = String::from(
                "voucher_no,paid_on,payer,payee_name,payee_account,payee_bank,amount,function_class,allocation,project,purpose\n",
            );
            let mut out = vec![];
            for r in 0..rows {
                let project = rng.pick(&projects).cloned().unwrap_or_default();
                let v = format!("IM{code}C{k}R{r}");
                let p = payment_body(&v, &alloc, &project, rng.between(100, 20_000))?;
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{}\n",
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
                ));
                out.push(v);
            }
            let (fate, _, why) = send(http, n, "/payments/import", Body_::Csv(csv), true).await;
            let mut ws = vec![];
            for v in out {
                if fate == Fate::Acked {
                    world.payments.push((code.clone(), v.clone()));
                }
                ws.push(Write {
                    kind: "payment_recorded",
                    key: v,
                    fate,
                    ..w.clone()
                });
            }
            if !why.is_empty() && fate != Fate::Acked {
                tracing_note(step, &code, "import", &why);
            }
            return Ok(ws);
        } else if let Some(alloc) = rng.pick(&mine).cloned() {
            let project = rng.pick(&projects).cloned().unwrap_or_default();
            w.kind = "payment_recorded";
            w.key = format!("PY{code}C{k}");
            let p = payment_body(&w.key, &alloc, &project, rng.between(100, 20_000))?;
            ("/payments".to_owned(), serde_json::to_value(p)?)
        } else {
            return Ok(vec![]);
        }
    };
    let retry = w.kind != "target_set";
    let (fate, id, why) = send(http, n, &path, Body_::Json(body), retry).await;
    w.fate = fate;
    w.id = id;
    if fate == Fate::Acked {
        match w.kind {
            "funds_received" | "own_budget_added" => {
                if let Some(id) = &w.id {
                    world.sources.push((id.clone(), code.clone()));
                }
            }
            "allocation_issued" => {
                if let (Some(id), Some(to)) = (&w.id, &w.to) {
                    world.sources.push((id.clone(), to.clone()));
                }
            }
            "project_registered" => world
                .projects
                .entry(code.clone())
                .or_default()
                .push(w.key.clone()),
            "payment_recorded" => world.payments.push((code.clone(), w.key.clone())),
            "target_set" => {
                let p = w.key.split('/').next().unwrap_or_default().to_owned();
                let t = world.targeted.entry(code.clone()).or_default();
                if !t.contains(&p) {
                    t.push(p);
                }
            }
            "payment_reversed" => world.payments.retain(|p| p.1 != w.key),
            _ => {}
        }
    } else {
        tracing_note(step, &code, w.kind, &why);
    }
    Ok(vec![w])
}

/// Why a write was not acknowledged, when FUNDSYNC_CHAOS_VERBOSE is set.
fn tracing_note(step: u64, node: &str, what: &str, why: &str) {
    if std::env::var_os("FUNDSYNC_CHAOS_VERBOSE").is_some() {
        println!("    step {step}: {what} at {node} not acknowledged: {why}");
    }
}

// ---------------------------------------------------------------- faults

/// A fault in force, undone at `until` (a step) or at the heal.
#[derive(Debug, Clone)]
enum Active {
    Down(String),
    Paused(String),
    Link(String),
    Clock(String),
    /// Up-batches duplicated and reordered on this node's link.
    Dup(String),
    /// This node's disk full.
    DiskFull(String),
}

struct Run<'a> {
    opts: &'a Options,
    http: reqwest::Client,
    tree: BTreeMap<String, Node>,
    writes: Vec<Write>,
    active: Vec<(u64, Active)>,
    /// Nodes whose process ended by itself (found at the heal), each a
    /// violation: a fault of the harness must not end a node.
    exited: Vec<String>,
}

impl Run<'_> {
    fn bin(&self) -> &Path {
        &self.opts.fundsync
    }

    fn node(&mut self, code: &str) -> Result<&mut Node> {
        self.tree.get_mut(code).context("no such node")
    }

    async fn start(&mut self, code: &str) -> Result<()> {
        let bin = self.opts.fundsync.clone();
        let http = self.http.clone();
        let n = self.node(code)?;
        if !n.up() {
            spawn(&bin, n, &http).await?;
        }
        Ok(())
    }

    /// Undoes a fault.
    async fn undo(&mut self, a: &Active) -> Result<()> {
        match a {
            Active::Down(c) => self.start(c).await?,
            Active::Paused(c) => {
                let n = self.node(c)?;
                if let (true, Some(pid)) = (n.paused, n.pid()) {
                    signal(pid, "-CONT")?;
                }
                n.paused = false;
            }
            Active::Link(c) => {
                if let Some(p) = &self.node(c)?.proxy {
                    p.set(Mode::Pass);
                }
            }
            Active::Clock(c) => {
                let n = self.node(c)?;
                n.clock_offset_ms = 0;
                kill9(n).await?;
                self.start(c).await?;
            }
            Active::Dup(c) => {
                if let Some(p) = &self.node(c)?.proxy {
                    p.duplicate(false, 0, &mut Rng::new(0));
                }
            }
            Active::DiskFull(c) => {
                if let Some(d) = &self.node(c)?.disk {
                    d.free()?;
                }
            }
        }
        Ok(())
    }

    fn busy(&self, code: &str) -> bool {
        self.active.iter().any(|(_, a)| match a {
            Active::Down(c) | Active::Paused(c) | Active::Clock(c) | Active::DiskFull(c) => {
                c == code
            }
            Active::Link(_) | Active::Dup(_) => false,
        })
    }

    /// Injects one random fault; its type, or `None` when none fitted.
    async fn fault(&mut self, rng: &mut Rng, step: u64) -> Result<Option<&'static str>> {
        // The faults of `--dup-reorder` and `--disk-full` draw only when
        // asked for, so that a seed without them runs as it always did.
        if self.opts.dup_reorder || self.opts.disk_full {
            if let Some(t) = self.new_fault(rng, step).await? {
                return Ok(Some(t));
            }
        }
        let lasting = step + rng.between(1, 6);
        let disturbed = self
            .active
            .iter()
            .filter(|(_, a)| matches!(a, Active::Down(_) | Active::Paused(_)))
            .count();
        // The type first (each about as likely as the others), then a node
        // it fits.
        let kind = rng.below(100);
        let on_link = (30..=77).contains(&kind);
        let restore = (86..=91).contains(&kind);
        let codes: Vec<String> = self
            .tree
            .values()
            .filter(|n| {
                if on_link {
                    n.proxy.is_some()
                } else {
                    !self.busy(&n.code)
                        && (!restore
                            || (n.backup.is_some()
                                && (n.parent.is_some() || self.opts.restore_root)))
                }
            })
            .map(|n| n.code.clone())
            .collect();
        let Some(code) = rng.pick(&codes).cloned() else {
            return Ok(None);
        };
        let t = match kind {
            0..=17 if disturbed < 2 => {
                kill9(self.node(&code)?).await?;
                if rng.chance(50) {
                    // Restarted at once: a crash and a reboot.
                    self.start(&code).await?;
                } else {
                    self.active.push((lasting, Active::Down(code)));
                }
                "kill -9"
            }
            18..=29 if disturbed < 2 => {
                let n = self.node(&code)?;
                if let Some(pid) = n.pid() {
                    signal(pid, "-STOP")?;
                    n.paused = true;
                }
                self.active.push((lasting, Active::Paused(code)));
                "SIGSTOP"
            }
            30..=41 => {
                self.link(&code, Mode::Cut, lasting);
                "partition"
            }
            42..=49 => {
                self.link(&code, Mode::HoldUp, lasting);
                "one-way up"
            }
            50..=57 => {
                self.link(&code, Mode::HoldDown, lasting);
                "one-way down"
            }
            58..=67 => {
                let ms = rng.between(20, 800);
                self.link(&code, Mode::Delay(ms), lasting);
                "delay"
            }
            68..=77 => {
                if let Some(p) = &self.node(&code)?.proxy {
                    p.drop_connections();
                }
                "connections dropped"
            }
            78..=85 => {
                self.backup(&code).await?;
                "backup"
            }
            86..=91 => {
                self.restore(&code).await?;
                "restore old backup"
            }
            92..=99 => {
                let hours = i64::try_from(rng.between(1, 72))?;
                let n = self.node(&code)?;
                n.clock_offset_ms = if rng.chance(50) { hours } else { -hours } * 3_600_000;
                kill9(n).await?;
                self.start(&code).await?;
                self.active.push((lasting, Active::Clock(code)));
                "clock jump"
            }
            _ => return Ok(None),
        };
        Ok(Some(t))
    }

    /// One of the faults the flags add, about one fault in four; `None`
    /// when none was drawn or none fitted.
    async fn new_fault(&mut self, rng: &mut Rng, step: u64) -> Result<Option<&'static str>> {
        let draw = rng.below(100);
        let lasting = step + rng.between(2, 8);
        let dup = self.opts.dup_reorder && draw < 13;
        let disk = self.opts.disk_full && (13..26).contains(&draw);
        if dup {
            let codes: Vec<String> = self
                .tree
                .values()
                .filter(|n| n.proxy.is_some())
                .filter(|n| {
                    !self
                        .active
                        .iter()
                        .any(|(_, a)| matches!(a, Active::Dup(c) if *c == n.code))
                })
                .map(|n| n.code.clone())
                .collect();
            let Some(code) = rng.pick(&codes).cloned() else {
                return Ok(None);
            };
            if let Some(p) = &self.node(&code)?.proxy {
                p.duplicate(true, 2, rng);
            }
            if self.opts.verbose {
                println!("  step {step}: {code}'s up-batches duplicated and reordered");
            }
            self.active.push((lasting, Active::Dup(code)));
            return Ok(Some("duplicate and reorder"));
        }
        if disk {
            let codes: Vec<String> = self
                .tree
                .values()
                .filter(|n| n.disk.is_some() && n.up() && !n.paused && !self.busy(&n.code))
                .map(|n| n.code.clone())
                .collect();
            let Some(code) = rng.pick(&codes).cloned() else {
                return Ok(None);
            };
            let verbose = self.opts.verbose;
            if let Some(d) = &self.node(&code)?.disk {
                let bytes = d.fill()?;
                if verbose {
                    println!("  step {step}: {code}'s disk filled with {bytes} bytes");
                }
            }
            self.active.push((lasting, Active::DiskFull(code)));
            return Ok(Some("disk full"));
        }
        Ok(None)
    }

    fn link(&mut self, code: &str, m: Mode, until: u64) {
        if let Some(p) = self.tree.get(code).and_then(|n| n.proxy.as_ref()) {
            p.set(m);
            self.active.push((until, Active::Link(code.to_owned())));
        }
    }

    /// A backup taken as an operator's copy of a running node would be:
    /// the process stopped (SIGSTOP) while its directory is copied, so the
    /// copy is what a crash would leave. The region on PostgreSQL is
    /// stopped and its database copied.
    async fn backup(&mut self, code: &str) -> Result<()> {
        let writes = self.writes.len();
        let root = self
            .tree
            .get(code)
            .context("node")?
            .dir
            .join(format!("backup-{writes}"));
        let n = self.node(code)?;
        if let Some(db) = n.pg.take() {
            kill9(n).await?;
            let copy = db.copy().await;
            n.pg = Some(db);
            n.backup = Some((Backup::Pg(copy?), writes));
            self.start(code).await?;
            return Ok(());
        }
        let pid = n.pid();
        if let Some(pid) = pid {
            signal(pid, "-STOP")?;
        }
        let r = copy_dir(&n.data(), &root);
        if let Some(pid) = pid {
            signal(pid, "-CONT")?;
        }
        r?;
        n.backup = Some((Backup::Dir(root), writes));
        Ok(())
    }

    /// Puts a node's old backup back: kill -9, its ledger (the SQLite files
    /// or the PostgreSQL database, as deploy/backup restores them; the rest
    /// of the data directory stays) replaced, started again. Its writes acknowledged after
    /// the backup may be lost (unless its parent had them), so they become
    /// unsure.
    async fn restore(&mut self, code: &str) -> Result<()> {
        let n = self.node(code)?;
        let Some((b, at)) = n.backup.take() else {
            return Ok(());
        };
        kill9(n).await?;
        match &b {
            Backup::Pg(copy) => {
                if let Some(db) = &n.pg {
                    db.restore(copy).await?;
                }
            }
            // What `deploy/backup/sqlite-restore.sh` replaces: the ledger
            // and its stale `-wal`/`-shm`; the rest of the data directory
            // (keys, certificates, the acknowledgement mark) stays.
            Backup::Dir(d) => {
                let data = n.data();
                for f in LEDGER_FILES {
                    let _ = std::fs::remove_file(data.join(f));
                    if d.join(f).exists() {
                        std::fs::copy(d.join(f), data.join(f))
                            .with_context(|| format!("restoring {f}"))?;
                    }
                }
            }
        }
        n.backup = Some((b, at));
        for w in self.writes.iter_mut().skip(at) {
            if w.node == code && w.fate == Fate::Acked {
                w.fate = Fate::Unsure;
            }
        }
        self.start(code).await
    }

    /// Undoes every fault whose time has come (all of them with `heal`).
    async fn expire(&mut self, step: u64, heal: bool) -> Result<()> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|(until, _)| heal || *until <= step);
        self.active = keep;
        for (_, a) in due {
            self.undo(&a).await?;
        }
        if heal {
            let codes: Vec<String> = self.tree.keys().cloned().collect();
            for c in codes {
                let n = self.node(&c)?;
                if let Some(child) = n.child.as_mut() {
                    if let Some(status) = child.try_wait()? {
                        n.child = None;
                        n.paused = false;
                        let log = n.dir.join("serve.log");
                        self.exited.push(format!(
                            "{c} exited by itself ({status}) during the faults; see {}",
                            log.display()
                        ));
                    }
                }
                let n = self.node(&c)?;
                if let Some(p) = &n.proxy {
                    p.set(Mode::Pass);
                }
                if n.paused {
                    if let Some(pid) = n.pid() {
                        signal(pid, "-CONT")?;
                    }
                    n.paused = false;
                }
                self.start(&c).await?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- a run

async fn one_run(opts: &Options, seed: u64, totals: &mut Totals) -> Result<Vec<String>> {
    let mut rng = Rng::new(seed);
    let keep = opts.keep;
    let root = tempfile::Builder::new()
        .prefix(&format!("fsb-chaos-{seed}-"))
        .disable_cleanup(keep)
        .tempdir()?;
    if keep || opts.verbose {
        println!("run seed {seed}: nodes in {}", root.path().display());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut run = Run {
        opts,
        http: http.clone(),
        tree: BTreeMap::new(),
        writes: vec![],
        active: vec![],
        exited: vec![],
    };
    // The tree, each node started before its children enrol.
    for &(code, name, level, parent) in TREE {
        let pg = opts.pg && level == "region";
        let mut n = create(
            run.bin(),
            root.path(),
            &run.tree,
            (code, name, level, parent),
            pg,
            opts.disk_full,
        )
        .await?;
        if let Some(p) = parent {
            let tls = if opts.dup_reorder {
                Some(ProxyTls::between(&n.data(), &run.tree[p].data(), p)?)
            } else {
                None
            };
            n.proxy = Some(Proxy::start(run.tree[p].sync_port, tls, seed).await?);
        }
        spawn(&opts.fundsync, &mut n, &http).await?;
        run.tree.insert(code.to_owned(), n);
    }
    let mut world = World::default();
    bootstrap(&mut run, &mut world).await?;

    for step in 0..opts.steps {
        run.expire(step, false).await?;
        if rng.chance(30) {
            if let Some(t) = run.fault(&mut rng, step).await? {
                *totals.faults.entry(t).or_default() += 1;
                if opts.verbose {
                    println!("  step {step}: fault {t}");
                }
                continue;
            }
        }
        let ws = random_write(&mut rng, &http, &run.tree, &mut world, step).await?;
        if opts.verbose {
            for w in &ws {
                println!(
                    "  step {step}: {} {} at {}: {:?}",
                    w.kind, w.key, w.node, w.fate
                );
            }
        }
        run.writes.extend(ws);
    }
    run.expire(opts.steps, true).await?;
    for w in &run.writes {
        match w.fate {
            Fate::Acked => totals.acked += 1,
            Fate::Unsure => totals.unsure += 1,
            Fate::Refused => totals.refused += 1,
        }
    }
    let mut violations = run.exited.clone();
    violations.extend(check(&run, opts.heal_deadline).await?);
    for n in run.tree.values() {
        if let Some(p) = &n.proxy {
            for (status, k) in p.answered() {
                *totals.replayed.entry(status).or_default() += k;
            }
        }
    }
    if !violations.is_empty() {
        // Keep the evidence.
        let kept = root.keep();
        println!("run seed {seed}: nodes and logs kept in {}", kept.display());
    }
    for n in run.tree.values_mut() {
        kill9(n).await?;
    }
    for n in run.tree.values_mut() {
        if let Some(db) = n.pg.take() {
            if let Some((Backup::Pg(copy), _)) = n.backup.take() {
                let _ = drop_database(&copy).await;
            }
            db.drop_db().await?;
        }
    }
    Ok(violations)
}

/// Drops a database of the test server (a backup's copy).
async fn drop_database(name: &str) -> Result<()> {
    let admin = crate::pg::server_url().await?;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Money down the tree before the first fault: funds at the region, an
/// allocation to each prefecture and from it to each county, a project
/// with a target at each county; waits until each county holds its money.
async fn bootstrap(run: &mut Run<'_>, world: &mut World) -> Result<()> {
    let http = run.http.clone();
    let ok = |f: (Fate, Option<String>, String), what: &str| -> Result<String> {
        ensure!(f.0 == Fate::Acked, "bootstrap {what}: {}", f.2);
        f.1.with_context(|| format!("bootstrap {what}: no id"))
    };
    let region = &run.tree["650000"];
    let key = "财农〔2020〕1号".to_owned();
    let funds = ok(
        send(
            &http,
            region,
            "/funds-received",
            Body_::Json(serde_json::to_value(FundsReceived {
                doc_no: key.clone(),
                category: "X-01".into(),
                amount: amount(10_000_000_000)?,
                received_on: date("2020-04-20")?,
                source: "财政部".into(),
                title: String::new(),
            })?),
            true,
        )
        .await,
        "funds",
    )?;
    let mut writes = vec![boot("650000", "funds_received", &key, &funds, None)];
    // Each node's own category, for its own budgets (本级安排).
    for n in run.tree.values() {
        let level: fundsync_protocol::Level =
            n.level.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let code = format!("CH-{}", n.code);
        let id = ok(
            send(
                &http,
                n,
                "/catalog",
                Body_::Json(serde_json::to_value(CategoryDefined {
                    code: code.clone(),
                    name: "故障测试本级资金".into(),
                    origin: level.own_origin(),
                    department: String::new(),
                    classified: false,
                })?),
                true,
            )
            .await,
            "category",
        )?;
        writes.push(boot(&n.code, "category_defined", &code, &id, None));
    }
    world.sources.push((funds.clone(), "650000".into()));
    let mut county_allocs = vec![];
    for p in ["652800", "652900"] {
        let key = format!("新财农〔2020〕{p}号");
        let a = ok(
            send(
                &http,
                &run.tree["650000"],
                "/allocations",
                Body_::Json(json!({"doc_no": key, "source": funds, "to": p,
                    "amount": "20000000.00", "issued_on": DAY_ISSUED})),
                true,
            )
            .await,
            "allocation",
        )?;
        writes.push(boot("650000", "allocation_issued", &key, &a, Some(p)));
        world.sources.push((a.clone(), p.into()));
        holds(&http, &run.tree[p], &a).await?;
        let counties: Vec<String> = run
            .tree
            .values()
            .filter(|c| c.parent.as_deref() == Some(p))
            .map(|c| c.code.clone())
            .collect();
        for c in counties {
            let key = format!("{p}财〔2020〕{c}号");
            let b = ok(
                send(
                    &http,
                    &run.tree[p],
                    "/allocations",
                    Body_::Json(json!({"doc_no": key, "source": a, "to": c,
                        "amount": "5000000.00", "issued_on": DAY_ISSUED})),
                    true,
                )
                .await,
                "allocation",
            )?;
            writes.push(boot(p, "allocation_issued", &key, &b, Some(&c)));
            world.sources.push((b.clone(), c.clone()));
            county_allocs.push((c, b));
        }
    }
    for (c, a) in county_allocs {
        let n = &run.tree[&c];
        holds(&http, n, &a).await?;
        let code = "C0000".to_owned();
        let b = ProjectRegistered {
            code: code.clone(),
            name: "故障测试项目".into(),
            township: "镇".into(),
            village: String::new(),
            department: String::new(),
            starts_on: date("2020-01-01")?,
            ends_on: date("2020-12-31")?,
            budget: amount(900_000_000_000)?,
            status: ProjectStatus::InProgress,
        };
        let id = ok(
            send(
                &http,
                n,
                "/projects",
                Body_::Json(serde_json::to_value(b)?),
                true,
            )
            .await,
            "project",
        )?;
        writes.push(boot(&c, "project_registered", &code, &id, None));
        let t = send(
            &http,
            n,
            &format!("/projects/{code}/targets"),
            Body_::Json(json!({"level1": "output", "level2": "quantity",
                "indicator": "指标0", "op": ">=", "value": "1", "unit": "个"})),
            false,
        )
        .await;
        let tid = ok(t, "target")?;
        writes.push(boot(&c, "target_set", &format!("{code}/指标0"), &tid, None));
        world
            .projects
            .entry(c.clone())
            .or_default()
            .push(code.clone());
        world.targeted.entry(c.clone()).or_default().push(code);
    }
    run.writes.extend(writes);
    Ok(())
}

fn boot(node: &str, kind: &'static str, key: &str, id: &str, to: Option<&str>) -> Write {
    Write {
        step: 0,
        node: node.into(),
        kind,
        key: key.into(),
        id: Some(id.into()),
        fate: Fate::Acked,
        to: to.map(str::to_owned),
    }
}

async fn get(http: &reqwest::Client, n: &Node, path: &str) -> Result<Value> {
    let r = http
        .get(format!("{}{path}", n.api))
        .bearer_auth(&n.token)
        .send()
        .await
        .with_context(|| format!("GET {path} at {}", n.code))?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    ensure!(
        status.is_success(),
        "GET {path} at {}: {status} {v}",
        n.code
    );
    Ok(v)
}

/// Waits until `n` holds allocation `a`.
async fn holds(http: &reqwest::Client, n: &Node, a: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if get(http, n, &format!("/allocations/{a}")).await.is_ok() {
            return Ok(());
        }
        ensure!(Instant::now() < until, "{a} did not reach {}", n.code);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- checks

/// The natural key of a journal entry of the kinds the harness writes.
fn key_of(kind: &str, body: &Value) -> Option<String> {
    let s = |f: &str| body[f].as_str().map(str::to_owned);
    match kind {
        "funds_received" | "own_budget_added" | "allocation_issued" => s("doc_no"),
        "project_registered" | "category_defined" => s("code"),
        "target_set" => Some(format!("{}/{}", s("project")?, s("indicator")?)),
        "payment_recorded" | "payment_reversed" => s("voucher_no"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    seq: u64,
    hash: String,
    prev: String,
    kind: String,
    key: Option<String>,
}

/// Every entry of `origin`'s chain at `n`.
async fn chain(http: &reqwest::Client, n: &Node, origin: &str) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = vec![];
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let v = get(
            http,
            n,
            &format!("/journal?origin={origin}&after={after}&limit=1000"),
        )
        .await?;
        let page = v.as_array().cloned().unwrap_or_default();
        let len = page.len();
        for e in page {
            let kind = e["kind"].as_str().unwrap_or_default().to_owned();
            out.push(Entry {
                seq: e["seq"].as_u64().unwrap_or(0),
                hash: e["hash"].as_str().unwrap_or_default().to_owned(),
                prev: e["prev_hash"].as_str().unwrap_or_default().to_owned(),
                key: key_of(&kind, &e["body"]),
                kind,
            });
        }
        if len < 1000 {
            return Ok(out);
        }
    }
}

/// (origin → (seq, hash)) of every chain `n` holds.
async fn heads(http: &reqwest::Client, n: &Node) -> Result<BTreeMap<String, (u64, String)>> {
    let v = get(http, n, "/sync/heads").await?;
    Ok(v.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|h| {
            Some((
                h["origin"].as_str()?.to_owned(),
                (h["seq"].as_u64()?, h["hash"].as_str()?.to_owned()),
            ))
        })
        .collect())
}

/// Everything the harness asserts after the heal, each violation a line:
/// the checks of [`check_once`] are repeated until they all hold or
/// `deadline` has passed (replication takes its time), then `fundsync
/// verify --json` runs at every node.
async fn check(run: &Run<'_>, deadline: Duration) -> Result<Vec<String>> {
    let started = Instant::now();
    let until = started + deadline;
    let mut v;
    loop {
        v = match check_once(run).await {
            Ok(v) => v,
            Err(e) => vec![format!("could not read the tree: {e:#}")],
        };
        if v.is_empty() || Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if run.opts.verbose {
        println!(
            "  checks {} after {} ms",
            if v.is_empty() { "held" } else { "failed" },
            started.elapsed().as_millis()
        );
    }
    let mut v: Vec<String> = v
        .into_iter()
        .map(|x| format!("after {} s: {x}", deadline.as_secs()))
        .collect();
    v.extend(verify_all(run).await?);
    Ok(v)
}

/// One pass of the checks on the healed tree.
async fn check_once(run: &Run<'_>) -> Result<Vec<String>> {
    let http = &run.http;
    let mut v = vec![];
    // Heads converged: every ancestor holds every node's own chain as the
    // node does.
    let mut all = BTreeMap::new();
    for (c, n) in &run.tree {
        all.insert(c.clone(), heads(http, n).await?);
    }
    for c in run.tree.keys() {
        let own = all[c].get(c);
        for a in ancestors(&run.tree, c) {
            let theirs = all[&a].get(c);
            if theirs != own {
                v.push(format!(
                    "heads not converged: {a} holds {c}@{:?}, {c} itself @{:?}",
                    theirs.map(|h| h.0),
                    own.map(|h| h.0)
                ));
            }
        }
    }
    // The chains: at each node, its own and every descendant's.
    let mut chains: BTreeMap<(String, String), Vec<Entry>> = BTreeMap::new();
    for (at, n) in &run.tree {
        for origin in run.tree.keys() {
            if origin == at || n.is_ancestor_of(&run.tree, origin) {
                chains.insert((at.clone(), origin.clone()), chain(http, n, origin).await?);
            }
        }
    }
    for ((at, origin), es) in &chains {
        // No gaps, each entry chained to the one before.
        let mut prev: Option<&Entry> = None;
        for (i, e) in es.iter().enumerate() {
            let want = u64::try_from(i)? + 1;
            if e.seq != want {
                v.push(format!(
                    "{at} holds {origin}'s chain with a gap: seq {} where {want} was due",
                    e.seq
                ));
                break;
            }
            if let Some(p) = prev {
                if e.prev != p.hash {
                    v.push(format!(
                        "{at}: {origin}@{} does not chain to @{}",
                        e.seq, p.seq
                    ));
                    break;
                }
            }
            prev = Some(e);
        }
        // Nothing the harness wrote is there twice.
        let mut seen: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for e in es {
            if let Some(k) = &e.key {
                *seen.entry((e.kind.as_str(), k.as_str())).or_default() += 1;
            }
        }
        for ((kind, key), count) in seen {
            if count > 1 {
                v.push(format!("{at} holds {kind} {key} of {origin} {count} times"));
            }
        }
        // The same chain as the origin's own.
        if at != origin {
            if let Some(own) = chains.get(&(origin.clone(), origin.clone())) {
                let diverged = es.iter().zip(own.iter()).find(|(a, b)| a.hash != b.hash);
                if let Some((a, _)) = diverged {
                    v.push(format!(
                        "{at}'s copy of {origin}'s chain differs from {origin}'s at seq {}",
                        a.seq
                    ));
                }
            }
        }
    }
    // Writes: acknowledged present exactly once at the node and every
    // ancestor (under the id the API gave); refused absent.
    for w in &run.writes {
        let mut holders = vec![w.node.clone()];
        holders.extend(ancestors(&run.tree, &w.node));
        for h in &holders {
            let Some(es) = chains.get(&(h.clone(), w.node.clone())) else {
                continue;
            };
            let found: Vec<&Entry> = es
                .iter()
                .filter(|e| e.kind == w.kind && e.key.as_deref() == Some(w.key.as_str()))
                .collect();
            let what = format!(
                "{} {} written at {} (step {}, {:?})",
                w.kind, w.key, w.node, w.step, w.fate
            );
            match w.fate {
                Fate::Acked if found.len() != 1 => {
                    v.push(format!("{what}: held {} times at {h}", found.len()));
                }
                Fate::Acked => {
                    if let Some(id) = &w.id {
                        let seq = id.rsplit('-').next().and_then(|s| s.parse::<u64>().ok());
                        if found.first().map(|e| e.seq) != seq {
                            v.push(format!(
                                "{what}: acknowledged as {id}, held at {h} as seq {:?}",
                                found.first().map(|e| e.seq)
                            ));
                        }
                    }
                }
                Fate::Refused if !found.is_empty() => {
                    v.push(format!("{what}: refused, yet held at {h}"));
                }
                _ => {}
            }
        }
        if let (Fate::Acked, Some(to), Some(id)) = (w.fate, &w.to, &w.id) {
            if let Some(n) = run.tree.get(to) {
                if get(http, n, &format!("/allocations/{id}")).await.is_err() {
                    v.push(format!(
                        "allocation {id} ({}) acknowledged at {} never reached its recipient {to}",
                        w.key, w.node
                    ));
                }
            }
        }
    }
    // Money: each node's summary balances, what it issued is what its
    // children received, and each ancestor shows a node's subtree as the
    // node itself does.
    let q = "/ledger/summary?as_of=2020-12-31&group_by=node";
    let mut own: BTreeMap<String, Value> = BTreeMap::new();
    for (c, n) in &run.tree {
        own.insert(c.clone(), get(http, n, q).await?);
    }
    for (c, s) in &own {
        let rows = s["rows"].as_array().cloned().unwrap_or_default();
        let row = |code: &str| rows.iter().find(|r| r["group"]["node"] == code).cloned();
        for r in &rows {
            let d = |f: &str| -> Decimal {
                r[f].as_str()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or_default()
            };
            let node = r["group"]["node"].as_str().unwrap_or("?");
            let want = d("received") + d("own_budget") - d("issued_down") - d("paid");
            if d("balance") != want || d("balance") < Decimal::ZERO {
                v.push(format!("{c}'s summary: {node}'s balance {} (received {} + own {} − issued {} − paid {} = {want})",
                    d("balance"), d("received"), d("own_budget"), d("issued_down"), d("paid")));
            }
            let children: Vec<&String> = run
                .tree
                .values()
                .filter(|x| x.parent.as_deref() == Some(node))
                .map(|x| &x.code)
                .collect();
            if !children.is_empty() {
                let got: Decimal = children
                    .iter()
                    .filter_map(|k| row(k))
                    .map(|x| {
                        x["received"]
                            .as_str()
                            .and_then(|y| y.parse::<Decimal>().ok())
                            .unwrap_or_default()
                    })
                    .sum();
                if got != d("issued_down") {
                    v.push(format!(
                        "{c}'s summary: {node} issued {} but its children received {got}",
                        d("issued_down")
                    ));
                }
            }
        }
        for a in ancestors(&run.tree, c) {
            let theirs = get(http, &run.tree[&a], &format!("{q}&node={c}")).await?;
            if theirs["rows"] != s["rows"] {
                v.push(format!(
                    "{a}'s summary of {c}'s subtree differs from {c}'s own: {} vs {}",
                    theirs["rows"], s["rows"]
                ));
            }
        }
    }
    Ok(v)
}

/// `fundsync verify --json` at every node: exit 0 and no problems.
async fn verify_all(run: &Run<'_>) -> Result<Vec<String>> {
    let mut v = vec![];
    for (c, n) in &run.tree {
        let out = Command::new(run.bin())
            .args([
                "verify",
                "--json",
                "--config",
                n.config.to_str().context("path")?,
            ])
            .env("RUST_LOG", "error")
            .env_remove("FUNDSYNC_CONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await?;
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if !out.status.success() || report["problems_total"] != 0 {
            v.push(format!(
                "fundsync verify at {c}: exit {}, problems {}: {}{}",
                out.status,
                report["problems_total"],
                report["problems"],
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(v)
}
