//! Year-end self-evaluation (绩效自评), compiled reports, spot checks (抽查),
//! their findings and rectifications (整改), as the `/evaluation` page and
//! its API read them: per node and year, over this node's subtree.
//!
//! - [`Ledger::evaluation_year`]: the subtree's projects of the year with
//!   or without a self-evaluation, the compiled reports (every version,
//!   the current one of each marked) and the spot checks with their
//!   samples, findings and rectifications.
//! - [`Ledger::report_draft`]: what a report this node compiles now would
//!   name and state (the ledger checks the same when it is recorded).
//! - [`Ledger::spot_check_candidates`]: the evaluations below this node a
//!   spot check may sample, and [`draw`], the seeded random draw.

use std::collections::{BTreeMap, BTreeSet};

use fundsync_protocol::body::ReportScope;
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{EntryId, NodeCode};
use rust_decimal::Decimal;
use serde::Serialize;

use super::records::subtree;
use crate::ledger::{Ledger, LedgerError};

/// One indicator of an evaluation.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct IndicatorView {
    /// The entry that set the target.
    pub target: String,
    pub indicator: String,
    pub op: String,
    pub value: String,
    pub unit: String,
    pub actual: String,
    /// 完成率, %.
    pub completion: String,
    /// 1: the target is met; 0: not.
    pub met: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct EvaluationRow {
    id: String,
    origin: String,
    project: String,
    year: i64,
    department: String,
    budget_fen: i64,
    indicators: i64,
    met: i64,
    shortfall: String,
    measures: String,
    evaluated_on: String,
}

const EVALUATION_COLS: &str = "SELECT id, origin, project, year, department, budget_fen, \
     indicators, met, shortfall, measures, evaluated_on FROM self_evaluations";

/// A project's self-evaluation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvaluationView {
    /// The entry that recorded it.
    pub id: String,
    pub origin: String,
    pub project: String,
    pub year: i64,
    pub department: String,
    /// The project's funds (项目资金), yuan.
    pub budget: Decimal,
    pub indicators: i64,
    pub met: i64,
    /// 未完成原因.
    pub shortfall: String,
    /// 改进措施.
    pub measures: String,
    pub evaluated_on: String,
    /// Indicator by indicator (the detail only; empty in lists).
    pub items: Vec<IndicatorView>,
}

impl From<EvaluationRow> for EvaluationView {
    fn from(r: EvaluationRow) -> Self {
        EvaluationView {
            id: r.id,
            origin: r.origin,
            project: r.project,
            year: r.year,
            department: r.department,
            budget: fen_to_yuan(r.budget_fen),
            indicators: r.indicators,
            met: r.met,
            shortfall: r.shortfall,
            measures: r.measures,
            evaluated_on: r.evaluated_on,
            items: Vec::new(),
        }
    }
}

/// A project of the year, with its evaluation if it has one.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvaluationProject {
    pub node: String,
    pub node_name: String,
    pub code: String,
    pub name: String,
    pub department: String,
    pub budget: Decimal,
    pub status: String,
    pub evaluation: Option<EvaluationView>,
}

#[derive(Debug, sqlx::FromRow)]
struct ProjectRow {
    origin: String,
    code: String,
    name: String,
    department: String,
    budget_fen: i64,
    status: String,
}

#[derive(Debug, sqlx::FromRow)]
struct ReportRow {
    id: String,
    origin: String,
    seq: i64,
    year: i64,
    scope: String,
    department: String,
    evaluations: i64,
    reports: i64,
    indicators: i64,
    met: i64,
    funds_fen: i64,
    summary: String,
    compiled_on: String,
}

/// A compiled self-evaluation report (绩效自评报告).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReportView {
    pub id: String,
    pub origin: String,
    pub node_name: String,
    pub year: i64,
    /// `department` or `node`.
    pub scope: String,
    pub department: String,
    /// How many evaluations it covers and reports it builds on.
    pub evaluations: i64,
    pub reports: i64,
    pub indicators: i64,
    pub met: i64,
    /// The evaluated projects' funds, yuan.
    pub funds: Decimal,
    pub summary: String,
    pub compiled_on: String,
    /// The newest of its origin, year, scope and department.
    pub current: bool,
    /// The evaluations it covers and the reports it builds on, by entry id.
    pub items: Vec<String>,
    pub built_on: Vec<String>,
}

/// The rectification (整改) of a 不符合 finding: the follow-up naming it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct RectificationView {
    pub assignee: String,
    pub assignee_name: String,
    pub desk: String,
    pub deadline: String,
    /// `pending` 待核实, `rectifying` 整改中, `rectified` 已整改, `unfounded` 不属实.
    pub status: String,
    pub verification: String,
    pub rectification: String,
    pub updated_on: String,
}

/// What a spot check found of one sampled evaluation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FindingView {
    pub id: String,
    pub origin: String,
    pub spot_check: String,
    pub evaluation: String,
    /// `conforming` 符合 or `non_conforming` 不符合.
    pub verdict: String,
    pub notes: String,
    pub found_on: String,
    pub rectification: Option<RectificationView>,
}

#[derive(Debug, sqlx::FromRow)]
struct FindingRow {
    id: String,
    origin: String,
    spot_check: String,
    evaluation: String,
    verdict: String,
    notes: String,
    found_on: String,
}

/// One sampled evaluation and its finding, if recorded.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SampleView {
    pub evaluation: String,
    pub origin: String,
    pub project: String,
    pub finding: Option<FindingView>,
}

/// A spot check (抽查) with its sample.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SpotCheckView {
    pub id: String,
    pub origin: String,
    pub year: i64,
    pub title: String,
    /// `random` or `chosen`.
    pub method: String,
    pub seed: Option<String>,
    pub checked_on: String,
    pub sample: Vec<SampleView>,
}

#[derive(Debug, sqlx::FromRow)]
struct SpotCheckRow {
    id: String,
    origin: String,
    year: i64,
    title: String,
    method: String,
    seed: Option<String>,
    checked_on: String,
}

/// A year's self-evaluation at a node and its subtree.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvaluationYear {
    pub node: String,
    pub year: i32,
    /// Projects of the year (running at some time in it, or evaluated for
    /// it), evaluated first.
    pub projects: Vec<EvaluationProject>,
    pub evaluated: usize,
    pub not_evaluated: usize,
    /// Every version, the current one of each marked, by node.
    pub reports: Vec<ReportView>,
    pub spot_checks: Vec<SpotCheckView>,
}

/// What a report compiled now would name and state.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReportDraft {
    pub year: i32,
    pub scope: ReportScope,
    pub department: String,
    pub evaluations: Vec<EntryId>,
    pub reports: Vec<EntryId>,
    pub indicators: u32,
    pub met: u32,
    pub funds: Decimal,
}

/// `size` of `candidates` drawn at random from `seed`, the same every time
/// (splitmix64 driving a partial Fisher–Yates shuffle), in the order drawn.
pub fn draw(candidates: &[EntryId], seed: u64, size: usize) -> Vec<EntryId> {
    let mut pool = candidates.to_vec();
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = size.min(pool.len());
    for i in 0..n {
        let left = u64::try_from(pool.len() - i).unwrap_or(u64::MAX);
        let j = i + usize::try_from(next() % left).unwrap_or(0);
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

impl Ledger {
    /// The year's self-evaluation at `under` (this node when `None`) and
    /// its subtree; projects and evaluations of `department` only when
    /// given (a department officer's scope).
    pub async fn evaluation_year(
        &self,
        under: Option<NodeCode>,
        year: i32,
        department: Option<&str>,
    ) -> Result<EvaluationYear, LedgerError> {
        let nodes = self.nodes().await?;
        let root = under.unwrap_or(self.identity().code);
        let inside = subtree(&nodes, root.as_str());
        let names: BTreeMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.code.as_str(), n.name.as_str()))
            .collect();
        let name_of = |c: &str| names.get(c).copied().unwrap_or_default().to_owned();
        let y = i64::from(year);
        let evals: Vec<EvaluationRow> = sqlx::query_as(&format!(
            "{EVALUATION_COLS} WHERE year = $1 ORDER BY origin, project"
        ))
        .bind(y)
        .fetch_all(self.db().read())
        .await?;
        let mut by_project: BTreeMap<(String, String), EvaluationView> = evals
            .into_iter()
            .filter(|e| inside.contains(&e.origin))
            .filter(|e| department.is_none_or(|d| d == e.department))
            .map(|e| ((e.origin.clone(), e.project.clone()), e.into()))
            .collect();
        let (from, to) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
        let rows: Vec<ProjectRow> = sqlx::query_as(
            "SELECT origin, code, name, department, budget_fen, status FROM projects \
             WHERE starts_on <= $1 AND ends_on >= $2 ORDER BY origin, code",
        )
        .bind(&to)
        .bind(&from)
        .fetch_all(self.db().read())
        .await?;
        let mut projects = Vec::new();
        let mut seen = BTreeSet::new();
        for p in rows {
            if !inside.contains(&p.origin) || department.is_some_and(|d| d != p.department) {
                continue;
            }
            seen.insert((p.origin.clone(), p.code.clone()));
            let evaluation = by_project.remove(&(p.origin.clone(), p.code.clone()));
            projects.push(EvaluationProject {
                node_name: name_of(&p.origin),
                node: p.origin,
                code: p.code,
                name: p.name,
                department: p.department,
                budget: fen_to_yuan(p.budget_fen),
                status: p.status,
                evaluation,
            });
        }
        // Evaluated projects that ran outside the year's dates.
        for ((origin, code), e) in by_project {
            let p: Option<ProjectRow> = sqlx::query_as(
                "SELECT origin, code, name, department, budget_fen, status FROM projects \
                 WHERE origin = $1 AND code = $2",
            )
            .bind(&origin)
            .bind(&code)
            .fetch_optional(self.db().read())
            .await?;
            projects.push(EvaluationProject {
                node_name: name_of(&origin),
                name: p.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                status: p.as_ref().map(|p| p.status.clone()).unwrap_or_default(),
                department: e.department.clone(),
                budget: e.budget,
                node: origin,
                code,
                evaluation: Some(e),
            });
        }
        projects.sort_by(|a, b| {
            (a.evaluation.is_none(), &a.node, &a.code).cmp(&(
                b.evaluation.is_none(),
                &b.node,
                &b.code,
            ))
        });
        let evaluated = projects.iter().filter(|p| p.evaluation.is_some()).count();
        let reports = self
            .reports_of_year(year)
            .await?
            .into_iter()
            .filter(|r| inside.contains(&r.origin))
            .filter(|r| department.is_none_or(|d| r.scope == "node" || r.department == d))
            .map(|mut r| {
                r.node_name = name_of(&r.origin);
                r
            })
            .collect();
        let checks: Vec<SpotCheckRow> = sqlx::query_as(
            "SELECT id, origin, year, title, method, seed, checked_on FROM spot_checks \
             WHERE year = $1 ORDER BY checked_on DESC, origin, seq DESC",
        )
        .bind(y)
        .fetch_all(self.db().read())
        .await?;
        let mut spot_checks = Vec::new();
        for c in checks.into_iter().filter(|c| inside.contains(&c.origin)) {
            let sample = self.sample_of(&c.id).await?;
            spot_checks.push(SpotCheckView {
                id: c.id,
                origin: c.origin,
                year: c.year,
                title: c.title,
                method: c.method,
                seed: c.seed,
                checked_on: c.checked_on,
                sample,
            });
        }
        Ok(EvaluationYear {
            node: root.to_string(),
            year,
            not_evaluated: projects.len() - evaluated,
            evaluated,
            projects,
            reports,
            spot_checks,
        })
    }

    /// Every compiled report of `year` held here, the current version of
    /// each origin, scope and department marked.
    async fn reports_of_year(&self, year: i32) -> Result<Vec<ReportView>, LedgerError> {
        let rows: Vec<ReportRow> = sqlx::query_as(
            "SELECT id, origin, seq, year, scope, department, evaluations, reports, indicators, \
             met, funds_fen, summary, compiled_on FROM evaluation_reports WHERE year = $1 \
             ORDER BY origin, scope DESC, department, seq DESC",
        )
        .bind(i64::from(year))
        .fetch_all(self.db().read())
        .await?;
        let mut out = Vec::new();
        let mut keys = BTreeSet::new();
        for r in rows {
            let current = keys.insert((r.origin.clone(), r.scope.clone(), r.department.clone()));
            let _ = r.seq;
            let items: Vec<(String, String)> = sqlx::query_as(
                "SELECT item, kind FROM evaluation_report_items WHERE report = $1 ORDER BY kind, item",
            )
            .bind(&r.id)
            .fetch_all(self.db().read())
            .await?;
            let (ev, rep): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|(_, k)| k == "evaluation");
            out.push(ReportView {
                id: r.id,
                origin: r.origin,
                node_name: String::new(),
                year: r.year,
                scope: r.scope,
                department: r.department,
                evaluations: r.evaluations,
                reports: r.reports,
                indicators: r.indicators,
                met: r.met,
                funds: fen_to_yuan(r.funds_fen),
                summary: r.summary,
                compiled_on: r.compiled_on,
                current,
                items: ev.into_iter().map(|(i, _)| i).collect(),
                built_on: rep.into_iter().map(|(i, _)| i).collect(),
            });
        }
        Ok(out)
    }

    async fn sample_of(&self, spot_check: &str) -> Result<Vec<SampleView>, LedgerError> {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT s.evaluation, e.origin, e.project FROM spot_check_samples s \
             LEFT JOIN self_evaluations e ON e.id = s.evaluation \
             WHERE s.spot_check = $1 ORDER BY s.evaluation",
        )
        .bind(spot_check)
        .fetch_all(self.db().read())
        .await?;
        let mut out = Vec::new();
        for (evaluation, origin, project) in rows {
            let f: Option<FindingRow> = sqlx::query_as(
                "SELECT id, origin, spot_check, evaluation, verdict, notes, found_on \
                 FROM spot_check_findings WHERE spot_check = $1 AND evaluation = $2",
            )
            .bind(spot_check)
            .bind(&evaluation)
            .fetch_optional(self.db().read())
            .await?;
            let finding = match f {
                Some(f) => Some(self.finding_view(f).await?),
                None => None,
            };
            out.push(SampleView {
                origin: origin
                    .unwrap_or_else(|| evaluation.split('-').next().unwrap_or_default().to_owned()),
                project: project.unwrap_or_default(),
                evaluation,
                finding,
            });
        }
        Ok(out)
    }

    async fn finding_view(&self, f: FindingRow) -> Result<FindingView, LedgerError> {
        let rectification: Option<RectificationView> = sqlx::query_as(
            "SELECT assignee, assignee_name, desk, deadline, status, verification, \
             rectification, updated_on FROM follow_ups WHERE warning = $1",
        )
        .bind(&f.id)
        .fetch_optional(self.db().read())
        .await?;
        Ok(FindingView {
            id: f.id,
            origin: f.origin,
            spot_check: f.spot_check,
            evaluation: f.evaluation,
            verdict: f.verdict,
            notes: f.notes,
            found_on: f.found_on,
            rectification,
        })
    }

    /// A spot check's finding, with its rectification.
    pub async fn finding(&self, id: EntryId) -> Result<Option<FindingView>, LedgerError> {
        let f: Option<FindingRow> = sqlx::query_as(
            "SELECT id, origin, spot_check, evaluation, verdict, notes, found_on \
             FROM spot_check_findings WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.db().read())
        .await?;
        match f {
            Some(f) => Ok(Some(self.finding_view(f).await?)),
            None => Ok(None),
        }
    }

    /// One self-evaluation with its indicators.
    pub async fn evaluation(&self, id: EntryId) -> Result<Option<EvaluationView>, LedgerError> {
        let row: Option<EvaluationRow> =
            sqlx::query_as(&format!("{EVALUATION_COLS} WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(self.db().read())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let mut v: EvaluationView = row.into();
        v.items = sqlx::query_as(
            "SELECT target, indicator, op, value, unit, actual, completion, met \
             FROM self_evaluation_indicators WHERE evaluation = $1 ORDER BY target",
        )
        .bind(id.to_string())
        .fetch_all(self.db().read())
        .await?;
        Ok(Some(v))
    }

    /// The evaluations of `year` below this node (its descendants'), which
    /// a spot check may sample, in entry-id order.
    pub async fn spot_check_candidates(&self, year: i32) -> Result<Vec<EntryId>, LedgerError> {
        let me = self.identity().code.to_string();
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM self_evaluations WHERE year = $1 AND origin <> $2")
                .bind(i64::from(year))
                .bind(&me)
                .fetch_all(self.db().read())
                .await?;
        let mut ids: Vec<EntryId> = ids
            .iter()
            .map(|s| crate::ledger::rows::parse_id(s))
            .collect::<Result<_, _>>()?;
        ids.sort();
        Ok(ids)
    }

    /// What a report of this node for `year` compiled now would name and
    /// state: a department's, its own evaluations of the department; the
    /// node's, its own evaluations and those of the current reports it
    /// builds on (its departments' and its children's node reports).
    pub async fn report_draft(
        &self,
        year: i32,
        scope: ReportScope,
        department: &str,
    ) -> Result<ReportDraft, LedgerError> {
        let me = self.identity().code.to_string();
        let nodes = self.nodes().await?;
        let children: BTreeSet<&str> = nodes
            .iter()
            .filter(|n| n.parent.as_deref() == Some(me.as_str()))
            .map(|n| n.code.as_str())
            .collect();
        let y = i64::from(year);
        let own: Vec<EvaluationRow> = sqlx::query_as(&format!(
            "{EVALUATION_COLS} WHERE year = $1 AND origin = $2 ORDER BY id"
        ))
        .bind(y)
        .bind(&me)
        .fetch_all(self.db().read())
        .await?;
        let mut evaluations: BTreeSet<String> = own
            .iter()
            .filter(|e| scope == ReportScope::Node || e.department == department)
            .map(|e| e.id.clone())
            .collect();
        let mut reports = BTreeSet::new();
        if scope == ReportScope::Node {
            for r in self
                .reports_of_year(year)
                .await?
                .into_iter()
                .filter(|r| r.current)
            {
                let fits = (r.origin == me && r.scope == ReportScope::Department.as_str())
                    || (children.contains(r.origin.as_str())
                        && r.scope == ReportScope::Node.as_str());
                if fits {
                    evaluations.extend(r.items.iter().cloned());
                    reports.insert(r.id);
                }
            }
        }
        let ids: Vec<EntryId> = evaluations
            .iter()
            .map(|s| crate::ledger::rows::parse_id(s))
            .collect::<Result<_, _>>()?;
        let (indicators, met, funds) = self.evaluation_figures(&ids).await?;
        let parse = |s: &String| crate::ledger::rows::parse_id(s);
        Ok(ReportDraft {
            year,
            scope,
            department: department.to_owned(),
            evaluations: ids,
            reports: reports.iter().map(parse).collect::<Result<_, _>>()?,
            indicators,
            met,
            funds,
        })
    }

    /// Indicators, indicators met and the projects' funds over these
    /// evaluations, as a report states them. One not held counts nothing
    /// (the ledger refuses a report naming it).
    pub async fn evaluation_figures(
        &self,
        evaluations: &[EntryId],
    ) -> Result<(u32, u32, Decimal), LedgerError> {
        let (mut indicators, mut met, mut fen) = (0i64, 0i64, 0i64);
        for id in evaluations {
            let e: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT indicators, met, budget_fen FROM self_evaluations WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(self.db().read())
            .await?;
            if let Some((i, m, f)) = e {
                indicators = indicators.checked_add(i).ok_or(LedgerError::Overflow)?;
                met = met.checked_add(m).ok_or(LedgerError::Overflow)?;
                fen = fen.checked_add(f).ok_or(LedgerError::Overflow)?;
            }
        }
        Ok((
            u32::try_from(indicators).map_err(|_| LedgerError::Overflow)?,
            u32::try_from(met).map_err(|_| LedgerError::Overflow)?,
            fen_to_yuan(fen),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draw_is_repeatable_distinct_and_bounded() {
        let ids: Vec<EntryId> = (1..=20)
            .map(|i| format!("652822-{i}").parse().expect("id"))
            .collect();
        let a = draw(&ids, 2020, 5);
        assert_eq!(a, draw(&ids, 2020, 5));
        assert_eq!(a.len(), 5);
        assert_eq!(a.iter().collect::<BTreeSet<_>>().len(), 5);
        assert_ne!(a, draw(&ids, 2021, 5));
        assert_eq!(draw(&ids, 1, 50).len(), 20);
    }
}
