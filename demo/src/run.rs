//! `fundsync demo`: the region, the prefecture and its nine counties in one
//! process, each a real node (its own SQLite ledger under the data
//! directory, its own API, mutual TLS between them, enrolled with tokens),
//! replaying the 2020 history of [`super::plan`] through the ledger like any
//! client. Started again on the same directory it resumes: enrolment is kept,
//! and every step is idempotent (already recorded steps are found, not
//! recorded again).
//!
//! `--check` then reads the region's API, as an auditor would, and compares
//! every figure of [`super::plan::expected`] with what the region reports;
//! then it reads the region's public lists as a visitor would (no token)
//! and reconciles them with the ledger (the notices the replay recorded:
//! allocation results at the region and the prefecture, each county's
//! projects).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Datelike as _, NaiveDate};
use fundsync_protocol::body::*;
use fundsync_protocol::{Actor, Amount, Body, EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::plan::{self, Action, Expected, Figure, Funds, Published, Step};
use fundsync_cluster::{Cluster, Node};
use fundsync_node::access::Role;
use fundsync_node::config::Config;
use fundsync_node::ledger::query::{AllocationFilter, Page};
use fundsync_node::ledger::Identity;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dir: PathBuf,
    /// The region's API port; the prefecture's is the next, then the
    /// counties'. Sync listeners are at `port_base + 100` and up. 0: any free
    /// ports.
    pub port_base: u16,
    pub host: String,
}

/// The running demo cluster: [`fundsync_cluster`]'s launcher (the one the
/// tests and benchmarks use) on the demo's directory and ports. Derefs to
/// the [`Cluster`] (`nodes`, `region`, `converged`).
#[derive(Debug)]
pub struct Demo {
    cluster: Cluster,
}

impl std::ops::Deref for Demo {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

fn code(s: &str) -> anyhow::Result<NodeCode> {
    s.parse()
        .map_err(|_| anyhow::anyhow!("bad node code {s:?} in the demo plan"))
}

fn port(base: u16, offset: u16) -> u16 {
    if base == 0 {
        0
    } else {
        base.saturating_add(offset)
    }
}

impl Demo {
    /// Starts (or resumes) every node, parents first, enrolling the ones
    /// that have not joined yet.
    pub async fn start(opts: &DemoOptions) -> anyhow::Result<Demo> {
        let mut cluster = Cluster::new();
        for (i, n) in plan::nodes()?.iter().enumerate() {
            let offset = u16::try_from(i).unwrap_or(u16::MAX);
            let id = Identity {
                code: code(n.code)?,
                name: n.name.to_owned(),
                level: n.level,
                parent: n.parent.map(code).transpose()?,
            };
            let mut cfg = Config::new(id.code, id.name.clone(), id.level);
            cfg.parent_code = id.parent;
            cfg.data_dir = opts.dir.join(n.code);
            cfg.retry_base_ms = 100;
            cfg.retry_max_ms = 5_000;
            // 2020 replayed on today's clock: rules take the replay's date as today.
            cfg.warnings.as_of = fundsync_node::warnings::AsOf::Latest;
            let host = opts.host.as_str();
            cfg.listen = listen(host, port(opts.port_base, offset));
            cfg.sync_listen = listen(host, port(opts.port_base, offset.saturating_add(100)));
            cluster.add(&id, cfg, None).await?;
        }
        Ok(Demo { cluster })
    }

    /// Replays the plan, step by step, at the node each step names; waits
    /// for allocations to arrive at a child before it uses them. Returns
    /// how many steps recorded something new.
    pub async fn replay(&self) -> anyhow::Result<usize> {
        let mut new = 0;
        for step in plan::steps()? {
            let node = self
                .nodes
                .get(&code(step.node)?)
                .ok_or_else(|| anyhow::anyhow!("unknown node {} in the plan", step.node))?;
            if let Some(body) = self.body(node, &step).await? {
                let who = demo_actor(desk(&step.action));
                let out =
                    node.ledger.submit_one(body, &who).await.map_err(|e| {
                        anyhow::anyhow!("step at {} on {}: {e}", step.node, step.on)
                    })?;
                if matches!(out, fundsync_node::ledger::Outcome::Created(_)) {
                    new += 1;
                }
            }
        }
        Ok(new)
    }

    /// The body for a step, or `None` if the step is already recorded and
    /// would not be recognised as a retry by the ledger.
    async fn body(&self, node: &Node, step: &Step) -> anyhow::Result<Option<Body>> {
        let on = step.on;
        let amount = |d: Decimal| Amount::new(d).map_err(|e| anyhow::anyhow!("{e}"));
        Ok(Some(match &step.action {
            Action::FundsReceived {
                doc_no,
                category,
                amount: a,
                source,
                title,
            } => Body::FundsReceived(FundsReceived {
                doc_no: doc_no.clone(),
                category: (*category).to_owned(),
                amount: amount(*a)?,
                received_on: on,
                source: source.clone(),
                title: title.clone(),
            }),
            Action::OwnBudget {
                doc_no,
                category,
                amount: a,
                title,
            } => Body::OwnBudgetAdded(OwnBudgetAdded {
                doc_no: doc_no.clone(),
                category: (*category).to_owned(),
                amount: amount(*a)?,
                budgeted_on: on,
                title: title.clone(),
            }),
            Action::Issue {
                doc_no,
                source_doc,
                category,
                to,
                amount: a,
                title,
            } => Body::AllocationIssued(AllocationIssued {
                doc_no: doc_no.clone(),
                source: self.held(node, source_doc, category).await?,
                category: (*category).to_owned(),
                to: code(to)?,
                amount: amount(*a)?,
                issued_on: on,
                title: title.clone(),
            }),
            Action::Project {
                code: c,
                name,
                township,
                village,
                department,
                starts_on,
                ends_on,
                budget,
                status,
            } => Body::ProjectRegistered(ProjectRegistered {
                code: c.clone(),
                name: name.clone(),
                township: township.clone(),
                village: village.clone(),
                department: department.clone(),
                starts_on: *starts_on,
                ends_on: *ends_on,
                budget: amount(*budget)?,
                status: *status,
            }),
            Action::ProjectStatus { project, status } => {
                // At or past it already (a demo resumed: started, then
                // completed), nothing to record.
                let rank = |s: &str| {
                    ["planned", "in_progress", "completed", "cancelled"]
                        .iter()
                        .position(|x| *x == s)
                };
                let p = node.ledger.project(node.code, project).await?;
                if p.is_some_and(|p| rank(&p.status) >= rank(status.as_str())) {
                    return Ok(None);
                }
                Body::ProjectStatusChanged(ProjectStatusChanged {
                    project: project.clone(),
                    status: *status,
                })
            }
            Action::Target {
                project,
                level1,
                level2,
                indicator,
                op,
                value,
                unit,
            } => {
                let p = node.ledger.project(node.code, project).await?;
                let known = p
                    .and_then(|p| p.targets)
                    .unwrap_or_default()
                    .iter()
                    .any(|t| &t.indicator == indicator);
                if known {
                    return Ok(None);
                }
                Body::TargetSet(TargetSet {
                    project: project.clone(),
                    level1: *level1,
                    level2: *level2,
                    indicator: indicator.clone(),
                    op: *op,
                    value: *value,
                    unit: unit.clone(),
                })
            }
            Action::TargetsReviewed { project } => {
                // Every target awaiting review; none left: reviewed already
                // (a demo resumed), nothing to record.
                let submissions = self.submissions(node, project, "submitted").await?;
                if submissions.is_empty() {
                    return Ok(None);
                }
                Body::TargetsReviewed(TargetsReviewed {
                    project: project.clone(),
                    submissions,
                    reviewed_on: on,
                    necessity: true,
                    relevance: true,
                    fit: true,
                    reasons: String::new(),
                })
            }
            Action::TargetsApproved { project, doc_no } => {
                let submissions = self.submissions(node, project, "reviewed").await?;
                if submissions.is_empty() {
                    return Ok(None);
                }
                Body::TargetsApproved(TargetsApproved {
                    project: project.clone(),
                    submissions,
                    doc_no: doc_no.clone(),
                    approved_on: on,
                })
            }
            Action::Payment {
                voucher_no,
                payer,
                payee_name,
                payee_account,
                payee_bank,
                amount: a,
                function_class,
                alloc_doc,
                alloc_category,
                project,
                purpose,
            } => Body::PaymentRecorded(PaymentRecorded {
                voucher_no: voucher_no.clone(),
                paid_on: on,
                payer: payer.clone(),
                payee_name: payee_name.clone(),
                payee_account: payee_account.clone(),
                payee_bank: payee_bank.clone(),
                amount: amount(*a)?,
                function_class: function_class.clone(),
                allocation: self.held(node, alloc_doc, alloc_category).await?,
                project: project.clone(),
                purpose: purpose.clone(),
            }),
            Action::CarryOver {
                alloc_doc,
                alloc_category,
                project,
                reason,
                amount: a,
                planned_on,
                note,
            } => Body::CarryOverExplained(CarryOverExplained {
                allocation: self.held(node, alloc_doc, alloc_category).await?,
                as_of: on,
                reason: *reason,
                amount: amount(*a)?,
                planned_on: *planned_on,
                project: project.clone(),
                note: note.clone(),
            }),
            Action::TargetActual {
                project,
                indicator,
                actual,
                note,
                evidence,
            } => {
                let p = node.ledger.project(node.code, project).await?;
                let t = p
                    .and_then(|p| p.targets)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|t| &t.indicator == indicator)
                    .ok_or_else(|| anyhow::anyhow!("{project} has no target {indicator}"))?;
                // Reported already (a demo resumed): nothing to record.
                if t.actual.as_deref().and_then(|a| a.parse::<Decimal>().ok()) == Some(*actual) {
                    return Ok(None);
                }
                Body::TargetActualRecorded(TargetActualRecorded {
                    target: t
                        .id
                        .parse()
                        .map_err(|_| anyhow::anyhow!("bad target id {}", t.id))?,
                    actual: *actual,
                    recorded_on: on,
                    note: note.clone(),
                    evidence: evidence.clone(),
                })
            }
            Action::SelfEvaluation {
                project,
                year,
                measures,
            } => {
                let p = node
                    .ledger
                    .project(node.code, project)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("{} has no project {project}", node.code))?;
                let mut indicators = Vec::new();
                for t in p.targets.unwrap_or_default() {
                    let actual: Decimal = t
                        .actual
                        .as_deref()
                        .and_then(|a| a.parse().ok())
                        .ok_or_else(|| {
                            anyhow::anyhow!("{project}: no actual of {}", t.indicator)
                        })?;
                    let op = [
                        TargetOp::AtLeast,
                        TargetOp::Above,
                        TargetOp::AtMost,
                        TargetOp::Below,
                        TargetOp::Equal,
                    ]
                    .into_iter()
                    .find(|o| o.as_str() == t.op)
                    .ok_or_else(|| anyhow::anyhow!("{project}: unknown op {}", t.op))?;
                    let value: Decimal = t.value.parse()?;
                    indicators.push(IndicatorEvaluation {
                        target: t
                            .id
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad target id {}", t.id))?,
                        actual,
                        // The plan reaches every target as promised.
                        completion: if op.met(actual, value) {
                            Decimal::ONE_HUNDRED
                        } else {
                            anyhow::bail!("{project}: {} is not met", t.indicator)
                        },
                    });
                }
                Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                    project: project.clone(),
                    year: *year,
                    indicators,
                    shortfall: String::new(),
                    measures: measures.clone(),
                    evaluated_on: on,
                })
            }
            Action::EvaluationReport {
                year,
                scope,
                department,
                summary,
                reports,
            } => {
                let d = self
                    .draft(node, *year, *scope, department, *reports)
                    .await?;
                Body::EvaluationReportCompiled(EvaluationReportCompiled {
                    year: *year,
                    scope: *scope,
                    department: department.clone(),
                    evaluations: d.evaluations,
                    reports: d.reports,
                    indicators: d.indicators,
                    met: d.met,
                    funds: d.funds,
                    summary: summary.clone(),
                    compiled_on: on,
                })
            }
            Action::Publish {
                doc_no,
                title,
                records,
            } => {
                let (scope, records) = match records {
                    Published::Allocations(refs) => (
                        PublicationScope::Allocations,
                        self.issued(node, refs).await?,
                    ),
                    Published::Projects(codes) => {
                        let mut ids = Vec::with_capacity(codes.len());
                        for c in codes {
                            let p = node.ledger.project(node.code, c).await?.ok_or_else(|| {
                                anyhow::anyhow!("{} has no project {c} to publish", node.code)
                            })?;
                            ids.push(
                                p.id.parse()
                                    .map_err(|_| anyhow::anyhow!("bad project id {}", p.id))?,
                            );
                        }
                        (PublicationScope::Projects, ids)
                    }
                };
                Body::ResultsPublished(ResultsPublished {
                    doc_no: doc_no.clone(),
                    title: title.clone(),
                    scope,
                    published_on: on,
                    records,
                })
            }
        }))
    }

    /// The entries of the allocations `node` issued, named by `refs`, in
    /// their order.
    async fn issued(&self, node: &Node, refs: &[plan::IssuedRef]) -> anyhow::Result<Vec<EntryId>> {
        let mut mine = std::collections::HashMap::new();
        for page in 1.. {
            let list = node
                .ledger
                .allocations(
                    AllocationFilter {
                        from_node: Some(node.code),
                        kind: Some("issued".to_owned()),
                        ..AllocationFilter::default()
                    },
                    Page {
                        page,
                        page_size: 1000,
                    },
                )
                .await?;
            for a in list.items {
                mine.insert((a.doc_no, a.category, a.holder), a.id);
            }
            if !list.has_more {
                break;
            }
        }
        refs.iter()
            .map(|r| {
                let key = (r.doc_no.clone(), r.category.to_owned(), r.to.to_owned());
                let id = mine.get(&key).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} issued no {} ({}) to {} to publish",
                        node.code,
                        r.doc_no,
                        r.category,
                        r.to
                    )
                })?;
                id.parse()
                    .map_err(|_| anyhow::anyhow!("bad allocation id {id}"))
            })
            .collect()
    }

    /// The target submissions of `node`'s project standing at `state`
    /// (submitted: awaiting review; reviewed: awaiting approval).
    async fn submissions(
        &self,
        node: &Node,
        project: &str,
        state: &str,
    ) -> anyhow::Result<Vec<EntryId>> {
        Ok(node
            .ledger
            .target_submissions(node.code, project)
            .await?
            .into_iter()
            .filter(|s| s.state == state)
            .filter_map(|s| s.id.parse().ok())
            .collect())
    }

    /// What `node`'s report of `year` covers, as the ledger draws it up,
    /// once `reports` earlier reports (its departments', its children's)
    /// and every evaluation they cover have reached it: waits up to a
    /// minute for the children's to arrive.
    async fn draft(
        &self,
        node: &Node,
        year: i32,
        scope: ReportScope,
        department: &str,
        reports: usize,
    ) -> anyhow::Result<fundsync_node::ledger::query::ReportDraft> {
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        loop {
            let d = node.ledger.report_draft(year, scope, department).await?;
            // A child's report may come before the evaluations it covers
            // (relayed in another origin's chain): wait for those too.
            let mut held = d.reports.len() >= reports;
            for &e in &d.evaluations {
                if !held {
                    break;
                }
                held = node.ledger.evaluation(e).await?.is_some();
            }
            if held {
                return Ok(d);
            }
            if tokio::time::Instant::now() >= until {
                anyhow::bail!(
                    "{}: {} of the {reports} reports its {year} report covers arrived",
                    node.code,
                    d.reports.len()
                );
            }
            poll.tick().await;
        }
    }

    /// The allocation `node` holds as `doc_no` in `category`, waiting (up to
    /// a minute) for it to arrive from the parent.
    async fn held(&self, node: &Node, doc_no: &str, category: &str) -> anyhow::Result<EntryId> {
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        loop {
            let list = node
                .ledger
                .allocations(
                    AllocationFilter {
                        holder: Some(node.code),
                        category: Some(category.to_owned()),
                        ..AllocationFilter::default()
                    },
                    Page {
                        page: 1,
                        page_size: 1000,
                    },
                )
                .await?;
            if let Some(a) = list.items.iter().find(|a| a.doc_no == doc_no) {
                return a
                    .id
                    .parse()
                    .map_err(|_| anyhow::anyhow!("bad allocation id {}", a.id));
            }
            if tokio::time::Instant::now() >= until {
                anyhow::bail!(
                    "{} never received allocation {doc_no} ({category})",
                    node.code
                );
            }
            poll.tick().await;
        }
    }

    /// Stops every node, children first, and waits for them.
    pub async fn stop(self) {
        if let Err(e) = self.cluster.shutdown().await {
            tracing::error!(error = %e, "a demo node stopped with an error");
        }
    }
}

// ---- the demo's accounts ----

/// The file, in the demo directory, that lists the demo's accounts and
/// their passwords.
pub const ACCOUNTS_FILE: &str = "accounts.txt";

/// The department of the demo's department officers at a county: 农财所,
/// the office seed 001 puts in charge of the poverty-alleviation funds
/// (归口) at county level.
const COUNTY_DEPARTMENT: &str = "农财所";

/// One line of [`ACCOUNTS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub node: String,
    pub login: String,
    pub password: String,
}

/// Reads the accounts file (missing: none). Lines are `node login
/// password name`; `#` starts a comment.
pub fn read_accounts(path: &Path) -> anyhow::Result<Vec<DemoAccount>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(DemoAccount {
                node: f.next()?.to_owned(),
                login: f.next()?.to_owned(),
                password: f.next()?.to_owned(),
            })
        })
        .collect())
}

/// Writes `text` to `path` readable by its owner only (0600), replacing it
/// whole.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("txt.new");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The 归口 department most of the categories `node` holds allocations in
/// belong to ([`COUNTY_DEPARTMENT`] at a county, and when it holds none).
async fn department_of(node: &Node) -> anyhow::Result<String> {
    if node.id.level == fundsync_protocol::Level::County {
        return Ok(COUNTY_DEPARTMENT.to_owned());
    }
    let departments: std::collections::HashMap<String, String> = node
        .ledger
        .categories()
        .await?
        .into_iter()
        .map(|c| (c.code, c.department))
        .collect();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for page in 1.. {
        let list = node
            .ledger
            .allocations(
                AllocationFilter {
                    holder: Some(node.code),
                    ..AllocationFilter::default()
                },
                Page {
                    page,
                    page_size: 1000,
                },
            )
            .await?;
        for a in &list.items {
            if let Some(d) = departments.get(&a.category) {
                *counts.entry(d.clone()).or_default() += 1;
            }
        }
        if !list.has_more {
            break;
        }
    }
    Ok(counts
        .into_iter()
        .max_by_key(|(d, n)| (*n, std::cmp::Reverse(d.clone())))
        .map_or_else(|| COUNTY_DEPARTMENT.to_owned(), |(d, _)| d))
}

impl Demo {
    /// Creates, at every node, one account per role (login = the role's
    /// name, e.g. `treasury`; name 演示-国库支付) with a generated password,
    /// and lists them in [`ACCOUNTS_FILE`] in `dir` (0600). Accounts that
    /// exist are kept with their passwords: a second run adds only what is
    /// missing, and never changes a password. Returns the file's path.
    pub async fn create_accounts(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        use fundsync_node::access::Role;
        use fundsync_node::accounts::{password, Accounts, NewUser};
        let path = dir.join(ACCOUNTS_FILE);
        let mut listed = read_accounts(&path)?;
        let mut added = false;
        let mut logs = Vec::new();
        for node in self.nodes.values() {
            // Made from the console: in the journal like any account change.
            let log = fundsync_node::accounts::JournalLog::start(
                node.ledger.clone(),
                fundsync_node::ledger::console_actor(),
            );
            logs.push(log.clone());
            let accounts = Accounts::of_ledger(&node.ledger, node.cfg.accounts.clone())
                .with_security_log(std::sync::Arc::new(log));
            let department = department_of(node).await?;
            for role in Role::ALL {
                if accounts.user(role.as_str()).await?.is_some() {
                    if !listed
                        .iter()
                        .any(|a| a.node == node.code.to_string() && a.login == role.as_str())
                    {
                        tracing::warn!(
                            node = %node.code, login = role.as_str(),
                            "a demo account is not in {}: its password is not known; \
                             reset it with fundsync user reset-password",
                            path.display()
                        );
                    }
                    continue;
                }
                let pw = password::generate();
                accounts
                    .create_user(NewUser {
                        login: role.as_str().to_owned(),
                        name: format!("演示-{}", role.zh()),
                        password: pw.to_string(),
                        department: (role == Role::Department).then(|| department.clone()),
                        roles: vec![role],
                        // The lead office and the auditors see everything,
                        // 涉密 included; the other desks do not.
                        classified: matches!(role, Role::Lead | Role::Auditor),
                    })
                    .await?;
                listed.retain(|a| !(a.node == node.code.to_string() && a.login == role.as_str()));
                listed.push(DemoAccount {
                    node: node.code.to_string(),
                    login: role.as_str().to_owned(),
                    password: pw.to_string(),
                });
                added = true;
            }
        }
        for log in logs {
            log.flush().await;
        }
        if added || !path.exists() {
            let mut text = String::from(
                "# fundsync demo: one account per role at every node (made once, kept on later runs).\n\
                 # node    login       password\n",
            );
            listed.sort_by(|a, b| (&a.node, &a.login).cmp(&(&b.node, &b.login)));
            for a in &listed {
                text.push_str(&format!("{:<9} {:<11} {}\n", a.node, a.login, a.password));
            }
            write_private(&path, &text)?;
        }
        Ok(path)
    }

    /// A token of the region's auditor (valid a day), with which `--check`
    /// reads the region's API as an auditor would.
    pub async fn auditor_token(&self) -> anyhow::Result<String> {
        use fundsync_node::accounts::Accounts;
        let region = self.region().ok_or_else(|| anyhow::anyhow!("no region"))?;
        let accounts = Accounts::of_ledger(&region.ledger, region.cfg.accounts.clone());
        let auditor = accounts
            .user("auditor")
            .await?
            .ok_or_else(|| anyhow::anyhow!("the region has no auditor account"))?;
        let t = accounts
            .create_token(auditor.id, "demo --check", Some(1))
            .await?;
        Ok(t.secret.to_string())
    }
}

/// The desk that takes a step at a bureau: the allocation desk receives
/// funds, sets own budgets, issues allocations and publishes their results;
/// the department officer keeps the project library and its targets; the
/// treasury pays; the lead office (牵头科室) announces the county's projects.
/// Each holds the permission the same step needs through the API.
fn desk(action: &Action) -> Role {
    match action {
        Action::FundsReceived { .. }
        | Action::OwnBudget { .. }
        | Action::Issue { .. }
        | Action::CarryOver { .. }
        | Action::Publish {
            records: Published::Allocations(_),
            ..
        } => Role::AllocationDesk,
        Action::Project { .. }
        | Action::ProjectStatus { .. }
        | Action::Target { .. }
        | Action::TargetActual { .. }
        | Action::SelfEvaluation { .. } => Role::Department,
        // A department's report is its officer's; the node's spans
        // departments, the lead office's (access.rs: CompileEvaluations).
        Action::EvaluationReport {
            scope: ReportScope::Department,
            ..
        } => Role::Department,
        Action::EvaluationReport { .. } => Role::Lead,
        // The finance bureau's lead office reviews and approves (seed 003
        // 第八、九条; access.rs: ReviewTargets, ApproveTargets).
        Action::TargetsReviewed { .. } | Action::TargetsApproved { .. } => Role::Lead,
        Action::Payment { .. } => Role::Treasury,
        Action::Publish {
            records: Published::Projects(_),
            ..
        } => Role::Lead,
    }
}

/// The demo's person at a desk, named in the entries it records: the
/// login is the role's name (the demo's accounts have exactly these
/// logins), the display name `演示-` and the desk's Chinese name.
pub fn demo_actor(role: Role) -> Actor {
    Actor {
        login: role.as_str().to_owned(),
        name: format!("演示-{}", role.zh()),
        role: role.as_str().to_owned(),
        addr: String::new(),
    }
}

/// `host:port`, with brackets around an IPv6 address.
fn listen(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---- the check, through the region's API ----

#[derive(Debug, Deserialize)]
struct Paged<T> {
    items: Vec<T>,
    has_more: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Alloc {
    id: String,
    kind: String,
    doc_no: String,
    category: String,
    fund_origin: String,
    amount: Decimal,
    from_node: Option<String>,
    holder: String,
    source: Option<String>,
    dated: NaiveDate,
}

#[derive(Debug, Clone, Deserialize)]
struct Pay {
    amount: Decimal,
    allocation: String,
    paid_on: NaiveDate,
    reversed_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize)]
struct NodeRow {
    code: String,
    parent: Option<String>,
}

async fn fetch_all<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for page in 1.. {
        let url = format!("{base}{path}?page={page}&page_size=1000");
        let p: Paged<T> = http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        out.extend(p.items);
        if !p.has_more {
            break;
        }
    }
    Ok(out)
}

/// One line of the reconciliation.
#[derive(Debug, Clone)]
pub struct CheckRow {
    /// As seed 002 prints it, in 万元; `None` for a figure the seed does not
    /// print (a county's project funds).
    pub seed_wan: Option<Decimal>,
    pub label_zh: String,
    pub label_en: String,
    pub expected: Decimal,
    pub actual: Decimal,
    /// A figure of the public pages (`actual`, read without signing in)
    /// against the ledger (`expected`), not of the ledger against the seed.
    pub public: bool,
    /// A figure of the generated self-evaluation report
    /// (`/api/v1/report/self-evaluation?year=2020&node=652800`, the twin of
    /// the `/report/self-evaluation` page) against the seed.
    pub report: bool,
}

impl CheckRow {
    pub fn ok(&self) -> bool {
        self.expected == self.actual
    }
}

/// Reads the region's API at `base` (`http://host:port/api/v1`) and
/// computes every expected figure from its allocations and payments, then
/// reconciles the region's public pages with its ledger ([`public_rows`]).
///
/// With a `token` (an auditor's, [`Demo::auditor_token`]), every request
/// but the public pages' carries it as `Authorization: Bearer`; those are
/// read without it, as a visitor would.
pub async fn check(base: &str, token: Option<&str>) -> anyhow::Result<Vec<CheckRow>> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let allocs: Vec<Alloc> = fetch_all(&http, base, "/allocations").await?;
    let pays: Vec<Pay> = fetch_all(&http, base, "/payments").await?;
    let nodes: Vec<NodeRow> = http
        .get(format!("{base}/nodes"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut rows = Vec::new();
    for e in plan::expected()? {
        let (label_zh, label_en) = seed_text_named(&e, e.label_zh.clone(), e.label_en.clone());
        rows.push(CheckRow {
            actual: figure(&e, &allocs, &pays, &nodes)?,
            expected: e.yuan,
            seed_wan: Some(e.seed_wan),
            label_zh,
            label_en,
            public: false,
            report: false,
        });
    }
    let projects: Vec<LibraryProject> = fetch_all(&http, base, "/projects").await?;
    let evaluation: EvaluationYear = http
        .get(format!("{base}/evaluation?year=2020"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    rows.extend(evaluation_rows(&projects, &evaluation)?);
    let categories: Vec<CategoryRow> = http
        .get(format!("{base}/catalog"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let anonymous = reqwest::Client::new();
    let public_allocs: Vec<PublicAlloc> =
        fetch_all(&anonymous, base, "/public/allocations").await?;
    let public_projects: Vec<PublicProject> =
        fetch_all(&anonymous, base, "/public/projects").await?;
    rows.extend(public_rows(
        &Ledgered {
            allocs: &allocs,
            categories: &categories,
            projects: &projects,
        },
        &public_allocs,
        &public_projects,
    )?);
    let report: Report = http
        .get(format!(
            "{base}/report/self-evaluation?year=2020&node={}",
            plan::PREFECTURE
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    rows.extend(report_rows(&report)?);
    Ok(rows)
}

/// A figure's labels, naming how the seed prints it where that is not its
/// figure in 万元 (2017's own budget: "3100 元", a typo for 3100 万元).
fn seed_text_named(e: &Expected, zh: String, en: String) -> (String, String) {
    match &e.seed_text {
        Some(t) => (
            format!(
                "{zh}（种子印作“{t}”，为 {} 万元之误）",
                e.seed_wan.normalize()
            ),
            format!(
                "{en} (the seed prints \"{t}\", a typo for {} 万元)",
                e.seed_wan.normalize()
            ),
        ),
        None => (zh, en),
    }
}

/// The year-end self-evaluation at the region (`/api/v1/evaluation`), as
/// far as `--check` reads it.
#[derive(Debug, Clone, Deserialize)]
struct EvaluationYear {
    projects: Vec<EvaluatedProject>,
    reports: Vec<EvaluationReportRow>,
}

#[derive(Debug, Clone, Deserialize)]
struct EvaluatedProject {
    budget: Decimal,
    evaluation: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
struct EvaluationReportRow {
    origin: String,
    scope: String,
    current: bool,
    funds: Decimal,
}

/// 绩效自评 (seed 003 §13–14; seed 002 prints no figure of it): every 2020
/// project of the library is self-evaluated, and the reports compiled
/// level by level reach the region covering all of their money. `expected`
/// is the library's project funds (`/projects`), `actual` what the
/// evaluations and the reports state.
fn evaluation_rows(
    library: &[LibraryProject],
    y: &EvaluationYear,
) -> anyhow::Result<Vec<CheckRow>> {
    let all = checked_sum(library.iter().filter(|p| p.runs_in(2020)).map(|p| p.budget))?;
    let evaluated = checked_sum(
        y.projects
            .iter()
            .filter(|p| p.evaluation.is_some())
            .map(|p| p.budget),
    )?;
    let report = |node: &str| {
        y.reports
            .iter()
            .find(|r| r.origin == node && r.scope == "node" && r.current)
            .map_or(Decimal::ZERO, |r| r.funds)
    };
    let row = |zh: String, en: String, actual: Decimal| CheckRow {
        seed_wan: None,
        label_zh: zh,
        label_en: en,
        expected: all,
        actual,
        public: false,
        report: false,
    };
    Ok(vec![
        row(
            format!(
                "绩效自评：已自评项目资金（{} 个项目）",
                y.projects.iter().filter(|p| p.evaluation.is_some()).count()
            ),
            "self-evaluation: the funds of the projects evaluated".into(),
            evaluated,
        ),
        row(
            "绩效自评：州本级自评报告汇总项目资金".into(),
            "self-evaluation: the prefecture's report, its projects' funds".into(),
            report(plan::PREFECTURE),
        ),
        row(
            "绩效自评：自治区本级自评报告汇总项目资金".into(),
            "self-evaluation: the region's report, its projects' funds".into(),
            report(plan::REGION),
        ),
    ])
}

/// The generated self-evaluation report (`/report/self-evaluation`), as
/// far as `--check` reads it.
#[derive(Debug, Clone, Deserialize)]
struct Report {
    own_budget: Vec<ReportYear>,
    own_budget_total: Decimal,
    batches: Vec<ReportBatch>,
    batches_total: Decimal,
    carry_over: ReportCarryOver,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportYear {
    year: i32,
    amount: Decimal,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportBatch {
    issued_on: NaiveDate,
    amount: Decimal,
    parts: Vec<ReportPart>,
    within_five_days: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportPart {
    category: String,
    amount: Decimal,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportCarryOver {
    total: ReportFigures,
    by_node: Vec<ReportLine>,
    by_source: Vec<ReportLine>,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportFigures {
    balance: Decimal,
}

#[derive(Debug, Clone, Deserialize)]
struct ReportLine {
    node: String,
    fund_origin: Option<String>,
    balance: Decimal,
}

/// The generated report's figures against seed 002: every figure of the
/// seed's 一 (the prefecture's own budget of each year 2016–2020 and their
/// 16160 万元; 2017's row names the seed's "3100 元" typo), 二
/// (each batch, its parts, its 5-day flag and the total) and 四(一) (the
/// carry-over on 09-25 per county, per fund source and in all) that
/// [`plan::expected`] names, read from the report instead of computed
/// here. `expected` is the seed's exact figure, `actual` the report's;
/// where the seed's printed parts do not add up (尉犁 40.38, 且末 566.33,
/// 若羌 142.92, the 1441.16 in all), the report shows the ledger's figure
/// and the label names the seed's.
fn report_rows(r: &Report) -> anyhow::Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    let batch = |d: NaiveDate| r.batches.iter().find(|b| b.issued_on == d);
    let mut seed_total = Decimal::ZERO;
    for e in plan::expected()? {
        let actual = match (&e.figure, &e.funds, e.node) {
            (Figure::IssuedOn(d), Funds::All, plan::PREFECTURE) => {
                seed_total = seed_total
                    .checked_add(e.yuan)
                    .ok_or_else(|| anyhow::anyhow!("a sum overflows"))?;
                let b = batch(*d);
                rows.push(CheckRow {
                    seed_wan: None,
                    label_zh: format!("自评报告 二：{d} 批次于收到后5日内下达（1=是）"),
                    label_en: format!("report 2: batch of {d} went down within 5 days (1 = yes)"),
                    expected: Decimal::ONE,
                    actual: if b.is_some_and(|b| b.within_five_days) {
                        Decimal::ONE
                    } else {
                        Decimal::ZERO
                    },
                    public: false,
                    report: true,
                });
                b.map_or(Decimal::ZERO, |b| b.amount)
            }
            (Figure::IssuedOn(d), Funds::Categories(cs), plan::PREFECTURE) => checked_sum(
                batch(*d)
                    .into_iter()
                    .flat_map(|b| &b.parts)
                    .filter(|p| cs.contains(&p.category.as_str()))
                    .map(|p| p.amount),
            )?,
            // 一: each year of the five the report shows, and their total
            // (2016–2020: nothing is budgeted before 2016).
            (Figure::OwnBudgetIn(year), Funds::All, plan::PREFECTURE) => r
                .own_budget
                .iter()
                .find(|y| y.year == *year)
                .map_or(Decimal::ZERO, |y| y.amount),
            (Figure::OwnBudgetUpTo(d), Funds::All, plan::PREFECTURE) if d.year() == 2020 => {
                r.own_budget_total
            }
            (Figure::BalanceOn(d), Funds::All, node) if *d == plan::CARRY_OVER_ON => r
                .carry_over
                .by_node
                .iter()
                .find(|l| l.node == node)
                .map_or(Decimal::ZERO, |l| l.balance),
            (Figure::BalanceOn(d), Funds::Origin(o), node) if *d == plan::CARRY_OVER_ON => r
                .carry_over
                .by_source
                .iter()
                .find(|l| l.node == node && l.fund_origin.as_deref() == Some(o.as_str()))
                .map_or(Decimal::ZERO, |l| l.balance),
            (Figure::SubtreeBalanceOn(d), Funds::All, plan::PREFECTURE)
                if *d == plan::CARRY_OVER_ON =>
            {
                r.carry_over.total.balance
            }
            _ => continue,
        };
        let printed = e.seed_wan.normalize();
        let (label_zh, label_en) = if e.yuan == e.seed_wan * Decimal::from(10_000) {
            seed_text_named(
                &e,
                format!("自评报告：{}", e.label_zh),
                format!("report: {}", e.label_en),
            )
        } else {
            (
                format!(
                    "自评报告：{}（报告按账本 {} 万元；种子印 {printed} 万元，其分项不相加）",
                    e.label_zh,
                    wan(e.yuan)
                ),
                format!(
                    "report: {} (the ledger's {}; the seed prints {printed}, its parts do not add up)",
                    e.label_en,
                    wan(e.yuan)
                ),
            )
        };
        rows.push(CheckRow {
            seed_wan: Some(e.seed_wan),
            label_zh,
            label_en,
            expected: e.yuan,
            actual,
            public: false,
            report: true,
        });
    }
    rows.push(CheckRow {
        seed_wan: None,
        label_zh: "自评报告 二：2020年拨付下达各县市合计（种子 107941 万元）".into(),
        label_en: "report 2: issued down in 2020 in all (seed: 107941)".into(),
        expected: seed_total,
        actual: r.batches_total,
        public: false,
        report: true,
    });
    Ok(rows)
}

#[derive(Debug, Clone, Deserialize)]
struct CategoryRow {
    code: String,
    classified: bool,
}

/// A project of a library, as the ledger holds it (`/projects`).
#[derive(Debug, Clone, Deserialize)]
struct LibraryProject {
    origin: String,
    budget: Decimal,
    paid: Decimal,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
}

impl LibraryProject {
    /// Running at some time in `year` (as `/evaluation` counts a year's
    /// projects): not the prefecture's reconstructed 2016–2019 projects.
    fn runs_in(&self, year: i32) -> bool {
        self.starts_on.year() <= year && year <= self.ends_on.year()
    }
}

/// An allocation result on the public pages (`/public/allocations`).
#[derive(Debug, Clone, Deserialize)]
struct PublicAlloc {
    publisher: String,
    amount: Decimal,
}

/// A project on the public pages (`/public/projects`).
#[derive(Debug, Clone, Deserialize)]
struct PublicProject {
    node: String,
    budget: Decimal,
    paid: Decimal,
}

/// What the region's ledger holds, as its auditor reads it.
struct Ledgered<'a> {
    allocs: &'a [Alloc],
    categories: &'a [CategoryRow],
    projects: &'a [LibraryProject],
}

/// The public pages reconciled with the ledger (两个一律): what the region
/// and the prefecture published as allocation results equals what each
/// issued to its children, 涉密 categories left out (the seed's 104041 and
/// 107941 万元); each county's published projects carry the funds and the
/// payments of its project library (its results notice comes after the
/// year's last payment). `expected` is the ledger's figure, `actual` the
/// public pages'.
fn public_rows(
    ledger: &Ledgered<'_>,
    public_allocs: &[PublicAlloc],
    public_projects: &[PublicProject],
) -> anyhow::Result<Vec<CheckRow>> {
    let classified = |c: &str| {
        ledger
            .categories
            .iter()
            .any(|k| k.code == c && k.classified)
    };
    let mut rows = Vec::new();
    let issuers = [
        (
            plan::REGION,
            "104041",
            "自治区：公示的资金分配结果 = 下达自治州（涉密除外）",
            "region: allocation results published = issued to the prefecture (except 涉密)",
        ),
        (
            plan::PREFECTURE,
            "107941",
            "巴州：公示的资金分配结果 = 下达各县市（涉密除外）",
            "Bayingol: allocation results published = issued to the counties (except 涉密)",
        ),
    ];
    for (node, seed, zh, en) in issuers {
        rows.push(CheckRow {
            seed_wan: Some(Decimal::from_str_exact(seed)?),
            label_zh: zh.to_owned(),
            label_en: en.to_owned(),
            expected: checked_sum(
                ledger
                    .allocs
                    .iter()
                    .filter(|a| a.from_node.as_deref() == Some(node) && !classified(&a.category))
                    .map(|a| a.amount),
            )?,
            actual: checked_sum(
                public_allocs
                    .iter()
                    .filter(|a| a.publisher == node)
                    .map(|a| a.amount),
            )?,
            public: true,
            report: false,
        });
    }
    for county in plan::nodes()?
        .into_iter()
        .filter(|n| n.level == fundsync_protocol::Level::County)
    {
        let library = || ledger.projects.iter().filter(|p| p.origin == county.code);
        let public = || public_projects.iter().filter(|p| p.node == county.code);
        rows.push(CheckRow {
            seed_wan: None,
            label_zh: format!("{}：公示的项目资金 = 项目库", county.name),
            label_en: format!(
                "{}: project funds published = the project library's",
                county.code
            ),
            expected: checked_sum(library().map(|p| p.budget))?,
            actual: checked_sum(public().map(|p| p.budget))?,
            public: true,
            report: false,
        });
        rows.push(CheckRow {
            seed_wan: None,
            label_zh: format!("{}：公示的项目已支付 = 项目库", county.name),
            label_en: format!(
                "{}: project payments published = the project library's",
                county.code
            ),
            expected: checked_sum(library().map(|p| p.paid))?,
            actual: checked_sum(public().map(|p| p.paid))?,
            public: true,
            report: false,
        });
    }
    Ok(rows)
}

fn figure(
    e: &Expected,
    allocs: &[Alloc],
    pays: &[Pay],
    nodes: &[NodeRow],
) -> anyhow::Result<Decimal> {
    let node = e.node;
    let wanted = |a: &Alloc| match &e.funds {
        Funds::All => true,
        Funds::Origin(o) => a.fund_origin == o.as_str(),
        Funds::Categories(v) => v.contains(&a.category.as_str()),
        Funds::Allocations(refs) => refs
            .iter()
            .any(|r| r.doc_no == a.doc_no && r.category == a.category),
    };
    let balance_of = |holder: &str, day: NaiveDate| -> anyhow::Result<Decimal> {
        let mut total = Decimal::ZERO;
        for a in allocs
            .iter()
            .filter(|a| a.holder == holder && a.dated <= day && wanted(a))
        {
            let issued = checked_sum(
                allocs
                    .iter()
                    .filter(|c| c.source.as_deref() == Some(a.id.as_str()) && c.dated <= day)
                    .map(|c| c.amount),
            )?;
            let paid = checked_sum(
                pays.iter()
                    .filter(|p| {
                        p.allocation == a.id
                            && p.paid_on <= day
                            && p.reversed_on.is_none_or(|r| r > day)
                    })
                    .map(|p| p.amount),
            )?;
            total = total
                .checked_add(a.amount)
                .and_then(|t| t.checked_sub(issued))
                .and_then(|t| t.checked_sub(paid))
                .ok_or_else(|| anyhow::anyhow!("a sum overflows"))?;
        }
        Ok(total)
    };
    match e.figure {
        Figure::IssuedOn(d) => checked_sum(
            allocs
                .iter()
                .filter(|a| a.from_node.as_deref() == Some(node) && a.dated == d && wanted(a))
                .map(|a| a.amount),
        ),
        Figure::IssuedUpTo(d) => checked_sum(
            allocs
                .iter()
                .filter(|a| a.from_node.as_deref() == Some(node) && a.dated <= d && wanted(a))
                .map(|a| a.amount),
        ),
        Figure::ReceivedUpTo(d) => checked_sum(
            allocs
                .iter()
                .filter(|a| a.holder == node && a.kind != "own_budget" && a.dated <= d && wanted(a))
                .map(|a| a.amount),
        ),
        Figure::OwnBudgetUpTo(d) => checked_sum(
            allocs
                .iter()
                .filter(|a| a.holder == node && a.kind == "own_budget" && a.dated <= d && wanted(a))
                .map(|a| a.amount),
        ),
        Figure::OwnBudgetIn(y) => checked_sum(
            allocs
                .iter()
                .filter(|a| {
                    a.holder == node && a.kind == "own_budget" && a.dated.year() == y && wanted(a)
                })
                .map(|a| a.amount),
        ),
        Figure::BalanceOn(d) => balance_of(node, d),
        Figure::SubtreeBalanceOn(d) => {
            let mut inside = vec![node.to_owned()];
            let mut i = 0;
            while let Some(n) = inside.get(i).cloned() {
                inside.extend(
                    nodes
                        .iter()
                        .filter(|r| r.parent.as_deref() == Some(n.as_str()))
                        .map(|r| r.code.clone()),
                );
                i += 1;
            }
            let mut total = Decimal::ZERO;
            for n in &inside {
                total = total
                    .checked_add(balance_of(n, d)?)
                    .ok_or_else(|| anyhow::anyhow!("a sum overflows"))?;
            }
            Ok(total)
        }
    }
}

fn checked_sum(mut it: impl Iterator<Item = Decimal>) -> anyhow::Result<Decimal> {
    it.try_fold(Decimal::ZERO, |acc, x| acc.checked_add(x))
        .ok_or_else(|| anyhow::anyhow!("a sum overflows"))
}

/// 万元 with up to 6 places, for the table.
pub fn wan(yuan: Decimal) -> String {
    (yuan / Decimal::from(10_000)).normalize().to_string()
}

/// Prints the reconciliation table; true if every figure matches.
pub fn print_check(rows: &[CheckRow]) -> bool {
    println!(
        "{:<4} {:>12} {:>14} {:>14}  figure",
        "", "seed 002 万元", "expected 万元", "region 万元"
    );
    let mut ok = true;
    let mut public = false;
    let mut report = false;
    for r in rows {
        if r.report && !report {
            report = true;
            println!(
                "     自评报告 (the generated self-evaluation report, /report/self-evaluation): \
                 expected = seed 002, region = the report"
            );
        }
        if r.public && !public {
            public = true;
            println!(
                "     公告公示 (public pages, no sign-in): expected = the region's ledger, \
                 region = its /public pages"
            );
        }
        ok &= r.ok();
        println!(
            "{:<4} {:>12} {:>14} {:>14}  {} / {}",
            if r.ok() { "ok" } else { "DIFF" },
            r.seed_wan
                .map_or_else(|| "—".to_owned(), |w| w.normalize().to_string()),
            wan(r.expected),
            wan(r.actual),
            r.label_zh,
            r.label_en
        );
    }
    let good = rows.iter().filter(|r| r.ok()).count();
    println!("{good} of {} figures match", rows.len());
    ok
}

/// A printable list of each node's addresses.
pub fn urls(demo: &Demo) -> Vec<(String, String, String)> {
    demo.nodes
        .values()
        .map(|n| {
            (
                n.code.to_string(),
                n.id.name.clone(),
                format!("http://{}", n.api),
            )
        })
        .collect()
}

/// The region's public pages (公告公示), which list what every node of the
/// tree published; no sign-in.
pub fn public_url(demo: &Demo) -> Option<String> {
    demo.region().map(|r| format!("http://{}/public", r.api))
}

/// Where the region's API lives.
pub fn region_api(demo: &Demo) -> Option<String> {
    demo.region().map(|r| format!("http://{}/api/v1", r.api))
}

/// Counts, for the summary line: nodes and the demo directory.
pub fn describe(dir: &Path, demo: &Demo) -> String {
    format!("{} nodes, data in {}", demo.nodes.len(), dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(from: &str, category: &str, yuan: i64) -> Alloc {
        Alloc {
            id: format!("{from}-1"),
            kind: "issued".into(),
            doc_no: "新财农〔2020〕1号".into(),
            category: category.into(),
            fund_origin: "central".into(),
            amount: Decimal::from(yuan),
            from_node: Some(from.into()),
            holder: plan::PREFECTURE.into(),
            source: None,
            dated: NaiveDate::MIN,
        }
    }

    /// The public figures compare each publisher's results with what it
    /// issued, leave a classified (涉密) category out of what is expected,
    /// and differ when a notice is missing.
    #[test]
    fn public_figures_leave_out_classified_and_catch_what_is_not_published() {
        let allocs = [
            alloc(plan::REGION, "X-01", 100),
            alloc(plan::REGION, "SECRET", 7),
            alloc(plan::PREFECTURE, "X-01", 60),
        ];
        let categories = [
            CategoryRow {
                code: "X-01".into(),
                classified: false,
            },
            CategoryRow {
                code: "SECRET".into(),
                classified: true,
            },
        ];
        let projects = [LibraryProject {
            origin: "652822".into(),
            budget: Decimal::from(50),
            paid: Decimal::from(20),
            starts_on: NaiveDate::from_ymd_opt(2020, 3, 1).expect("a date"),
            ends_on: NaiveDate::from_ymd_opt(2020, 10, 31).expect("a date"),
        }];
        let ledger = Ledgered {
            allocs: &allocs,
            categories: &categories,
            projects: &projects,
        };
        let published = [PublicAlloc {
            publisher: plan::REGION.into(),
            amount: Decimal::from(100),
        }];
        let public_projects = [PublicProject {
            node: "652822".into(),
            budget: Decimal::from(50),
            paid: Decimal::from(20),
        }];
        let rows = public_rows(&ledger, &published, &public_projects).expect("rows");
        assert_eq!(rows.len(), 2 + 9 * 2);
        assert!(rows.iter().all(|r| r.public));
        // The region: 100 expected (the 涉密 7 left out), 100 published.
        assert!(rows[0].ok(), "{:?}", rows[0]);
        assert_eq!(rows[0].expected, Decimal::from(100));
        // The prefecture published nothing: a difference, not a pass.
        assert!(!rows[1].ok());
        // 轮台县 652822, the second county: funds and payments match.
        assert!(rows[4].ok() && rows[5].ok(), "{:?}", &rows[4..6]);
        assert_eq!(rows[4].actual, Decimal::from(50));
        assert_eq!(rows[5].actual, Decimal::from(20));
    }
}
