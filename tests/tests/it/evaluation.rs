//! Year-end self-evaluation (绩效自评), compiled reports, spot checks (抽查)
//! and rectification (整改), protocol version 5, on both engines.
//!
//! - The ledger: a prefecture and two counties as separate ledgers joined
//!   by signed bundles (as sync carries them). Each county evaluates its
//!   project and compiles its department's and its own report; the
//!   prefecture compiles its report over theirs, spot-checks a sample,
//!   records findings and rectifies a 不符合 one through the follow-up.
//!   Every refusal with its code and the ledger unchanged: an evaluation of
//!   another node's or an unknown project, of a year outside the window, a
//!   target of another project, a shortfall without reasons, a conflicting
//!   second evaluation; a report naming an evaluation not held (not of the
//!   subtree), of another year, another department, or stating figures
//!   that are not the ledger's; a node report built on a report that is not
//!   its departments' or its children's; a spot check sampling another
//!   year; a finding for an evaluation not in the sample, not held, of an
//!   unknown spot check; a rectification of a 符合 finding.
//! - The API on a running prefecture and county: who may evaluate,
//!   compile, spot-check and rectify (403 and the journal unchanged
//!   otherwise), the page, its print view and the workbook.
//! - `fundsync verify` finds a report's funds altered behind the ledger.
//! - Over real nodes: a county's reports reach its prefecture and the
//!   region, each held once, and the reports above state the funds once.

use anyhow::{ensure, Context as _, Result};
use fundsync_node::ledger::{Ledger, LedgerError, Outcome};
use fundsync_node::sync::{bundle, SyncLimits};
use fundsync_protocol::body::*;
use fundsync_protocol::{Body, EntryId, ErrorCode, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{small_tree, Cluster};
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine, TestLedger, TestNode};
use rust_decimal::Decimal;

fundsync_tests::on_both!(
    evaluations_reports_and_spot_checks_roll_up_and_refuse_what_does_not_fit,
    the_api_lets_each_desk_do_its_part_and_no_more,
);

fundsync_tests::on_both!(
    workers = 4;
    a_county_report_reaches_the_region_once_over_sync,
);

const COUNTIES: [(&str, &str); 2] = [("652822", "轮台县"), ("652823", "尉犁县")];

/// A prefecture and its counties, each a ledger with its signing key; each
/// county with project P1 (交通局) and its target (≥ 12 公里).
struct Tree {
    p: TestLedger,
    pk: NodeKey,
    c: Vec<(TestLedger, NodeKey, EntryId)>,
}

impl Tree {
    async fn new(engine: Engine) -> Result<Tree> {
        let p = fixtures::ledger(engine, &prefecture()).await?;
        let pk = NodeKey::from_seed(&[28; 32]);
        let mut c = Vec::new();
        for (i, (cc, name)) in COUNTIES.iter().enumerate() {
            let k = NodeKey::from_seed(&[40 + u8::try_from(i)?; 32]);
            p.ledger
                .submit(
                    &[
                        child(cc, name),
                        Body::KeyRegistered(KeyRegistered::of(code(cc), &k.verifying_key())),
                    ],
                    &clerk(),
                )
                .await?;
            let l = fixtures::ledger(engine, &county(cc, name)).await?;
            l.ledger.trust_parent_keys(&[pk.verifying_key()]).await?;
            let out = l
                .ledger
                .submit(&[project("P1", "800000"), target("P1")], &clerk())
                .await?;
            let t = out[1].id();
            c.push((l, k, t));
        }
        Ok(Tree { p, pk, c })
    }

    fn county(&self, i: usize) -> &Ledger {
        &self.c[i].0.ledger
    }

    /// County `i`'s chain, applied at the prefecture.
    async fn up(&self, i: usize) -> Result<()> {
        up_into(&self.c[i].0.ledger, &self.c[i].1, &self.p.ledger, &self.pk).await
    }
}

pub(super) async fn up_into(from: &Ledger, k: &NodeKey, to: &Ledger, tk: &NodeKey) -> Result<()> {
    let limits = SyncLimits::default();
    let mut bytes = Vec::new();
    bundle::export_up(from, k, &limits, None, &mut bytes).await?;
    bundle::import(to, tk.key_id(), &limits, &mut bytes.as_slice()).await?;
    Ok(())
}

pub(super) fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

pub(super) fn evaluation(
    project: &str,
    year: i32,
    target: EntryId,
    actual: &str,
    shortfall: &str,
) -> Body {
    Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
        project: project.into(),
        year,
        indicators: vec![IndicatorEvaluation {
            target,
            actual: dec(actual),
            completion: dec("100"),
        }],
        shortfall: shortfall.into(),
        measures: "加强项目调度".into(),
        evaluated_on: day("2020-12-20"),
    })
}

#[allow(clippy::too_many_arguments)]
fn report(
    year: i32,
    scope: ReportScope,
    department: &str,
    evaluations: &[EntryId],
    reports: &[EntryId],
    (indicators, met, funds): (u32, u32, &str),
) -> Body {
    Body::EvaluationReportCompiled(EvaluationReportCompiled {
        year,
        scope,
        department: department.into(),
        evaluations: evaluations.to_vec(),
        reports: reports.to_vec(),
        indicators,
        met,
        funds: dec(funds),
        summary: "本年度项目绩效目标基本完成。".into(),
        compiled_on: day("2020-12-25"),
    })
}

fn finding(spot_check: EntryId, evaluation: EntryId, ok: bool, notes: &str) -> Body {
    Body::SpotCheckFinding(SpotCheckFinding {
        spot_check,
        evaluation,
        verdict: if ok {
            FindingVerdict::Conforming
        } else {
            FindingVerdict::NonConforming
        },
        notes: notes.into(),
        found_on: day("2021-01-10"),
    })
}

pub(super) async fn created(l: &Ledger, b: Body) -> Result<EntryId> {
    match l.submit_one(b, &clerk()).await? {
        Outcome::Created(id) => Ok(id),
        Outcome::Existing(id) => anyhow::bail!("{id} was recorded already"),
    }
}

/// Refused with `code`, and the journal as it was.
async fn refused(l: &Ledger, b: Body, code: ErrorCode) -> Result<()> {
    let before = format!("{:?}", l.heads().await?);
    let e: LedgerError = match l.submit_one(b.clone(), &clerk()).await {
        Ok(o) => anyhow::bail!("{b:?} was recorded: {o:?}"),
        Err(e) => e,
    };
    ensure!(
        e.code() == code,
        "{b:?}: {e} ({:?}), not {code:?}",
        e.code()
    );
    ensure!(
        format!("{:?}", l.heads().await?) == before,
        "a refusal changed the journal"
    );
    Ok(())
}

async fn evaluations_reports_and_spot_checks_roll_up_and_refuse_what_does_not_fit(
    engine: Engine,
) -> Result<()> {
    let t = Tree::new(engine).await?;
    let (c0, c1) = (t.county(0), t.county(1));
    let (t0, t1) = (t.c[0].2, t.c[1].2);

    // 绩效自评 at each county, a retry, every refusal.
    let e0 = created(c0, evaluation("P1", 2020, t0, "13", "")).await?;
    ensure!(
        matches!(c0.submit_one(evaluation("P1", 2020, t0, "13", ""), &clerk()).await?, Outcome::Existing(id) if id == e0),
        "a retry"
    );
    refused(
        c0,
        evaluation("P1", 2020, t0, "14", ""),
        ErrorCode::Conflict,
    )
    .await?;
    refused(
        c0,
        evaluation("NOPE", 2020, t0, "13", ""),
        ErrorCode::UnknownProject,
    )
    .await?;
    refused(
        c0,
        evaluation("P1", 1999, t0, "13", ""),
        ErrorCode::DateOutOfRange,
    )
    .await?;
    // Short of 12 km without a reason.
    c0.submit(&[project("P2", "100000"), target("P2")], &clerk())
        .await?;
    let t0b = c0
        .project(code("652822"), "P2")
        .await?
        .and_then(|p| p.targets)
        .and_then(|t| t.first().map(|t| t.id.clone()))
        .context("P2's target")?
        .parse()?;
    refused(
        c0,
        evaluation("P2", 2020, t0b, "9", ""),
        ErrorCode::InvalidInput,
    )
    .await?;
    // A target of another project, of another node's project.
    refused(
        c0,
        evaluation("P2", 2020, t0, "13", ""),
        ErrorCode::UnknownTarget,
    )
    .await?;
    refused(
        c0,
        evaluation("P2", 2020, t1, "13", ""),
        ErrorCode::UnknownTarget,
    )
    .await?;
    let e0_2019 = created(c0, evaluation("P1", 2019, t0, "12", "")).await?;
    let e1 = created(c1, evaluation("P1", 2020, t1, "9", "征地延误，工期推迟")).await?;

    // Reports at the first county: the department's, then its own.
    refused(
        c0,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[e0, e1],
            &[],
            (2, 1, "1600000"),
        ),
        ErrorCode::UnknownEvaluation,
    )
    .await?;
    refused(
        c0,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[t0],
            &[],
            (1, 1, "800000"),
        ),
        ErrorCode::UnknownEvaluation,
    )
    .await?;
    refused(
        c0,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[e0, e0_2019],
            &[],
            (2, 2, "1600000"),
        ),
        ErrorCode::NotIncludable,
    )
    .await?;
    refused(
        c0,
        report(
            2020,
            ReportScope::Department,
            "农业局",
            &[e0],
            &[],
            (1, 1, "800000"),
        ),
        ErrorCode::NotIncludable,
    )
    .await?;
    refused(
        c0,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[e0],
            &[],
            (1, 1, "800001"),
        ),
        ErrorCode::ReportFigures,
    )
    .await?;
    let d0 = created(
        c0,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[e0],
            &[],
            (1, 1, "800000"),
        ),
    )
    .await?;
    // The ledger draws up what the API would submit.
    let draft = c0.report_draft(2020, ReportScope::Node, "").await?;
    ensure!(
        draft.evaluations == vec![e0] && draft.reports == vec![d0] && draft.funds == dec("800000"),
        "{draft:?}"
    );
    let n0 = created(
        c0,
        report(2020, ReportScope::Node, "", &[e0], &[d0], (1, 1, "800000")),
    )
    .await?;
    let n1 = created(
        c1,
        report(2020, ReportScope::Node, "", &[e1], &[], (1, 0, "800000")),
    )
    .await?;

    // Rolled up: the prefecture's report over its counties'.
    t.up(0).await?;
    t.up(1).await?;
    let p = &t.p.ledger;
    // Its own library has no P1: another node's project.
    refused(
        p,
        evaluation("P1", 2020, t0, "13", ""),
        ErrorCode::UnknownProject,
    )
    .await?;
    refused(
        p,
        report(
            2020,
            ReportScope::Node,
            "",
            &[e0, e1],
            &[n0, n1, d0],
            (2, 1, "1600000"),
        ),
        ErrorCode::NotIncludable,
    )
    .await?;
    refused(
        p,
        report(
            2020,
            ReportScope::Node,
            "",
            &[e0],
            &[n0, n1],
            (1, 1, "800000"),
        ),
        ErrorCode::ReportFigures,
    )
    .await?;
    let pr = created(
        p,
        report(
            2020,
            ReportScope::Node,
            "",
            &[e0, e1],
            &[n0, n1],
            (2, 1, "1600000"),
        ),
    )
    .await?;
    let y = p.evaluation_year(None, 2020, None).await?;
    // P2 of the first county is not evaluated (its shortfall was refused).
    ensure!(y.evaluated == 2 && y.not_evaluated == 1, "{y:?}");
    ensure!(y.reports.len() == 4, "{:?}", y.reports);
    let mine = y
        .reports
        .iter()
        .find(|r| r.id == pr.to_string())
        .context("own report")?;
    ensure!(
        mine.current && mine.funds == dec("1600000") && mine.met == 1,
        "{mine:?}"
    );
    let e = p.evaluation(e1).await?.context("e1 at the prefecture")?;
    ensure!(
        e.met == 0 && e.items.len() == 1 && e.items[0].met == 0,
        "{e:?}"
    );

    // 抽查 at the prefecture: the sample, the findings, the rectification.
    let sc = |sample: Vec<EntryId>, year: i32, title: &str| {
        Body::SpotCheckRecorded(SpotCheckRecorded {
            year,
            title: title.into(),
            method: SampleMethod::Chosen,
            seed: None,
            sample,
            checked_on: day("2021-01-05"),
        })
    };
    refused(
        p,
        sc(vec![e0, e0_2019], 2020, "2020 年度抽查"),
        ErrorCode::NotIncludable,
    )
    .await?;
    refused(
        p,
        sc(vec!["653100-3".parse()?], 2020, "2020 年度抽查"),
        ErrorCode::UnknownEvaluation,
    )
    .await?;
    let s = created(p, sc(vec![e0, e1], 2020, "2020 年度抽查")).await?;
    refused(p, sc(vec![e0], 2020, "2020 年度抽查"), ErrorCode::Conflict).await?;
    let f0 = created(p, finding(s, e0, true, "")).await?;
    refused(p, finding(s, e1, false, ""), ErrorCode::InvalidInput).await?;
    let f1 = created(p, finding(s, e1, false, "未完成原因与施工日志不符")).await?;
    refused(p, finding(s, e0_2019, true, ""), ErrorCode::NotInSample).await?;
    refused(
        p,
        finding(s, "652822-999".parse()?, true, ""),
        ErrorCode::UnknownEvaluation,
    )
    .await?;
    refused(p, finding(e0, e0, true, ""), ErrorCode::UnknownSpotCheck).await?;
    refused(p, finding(s, e0, false, "改了"), ErrorCode::Conflict).await?;
    // A county cannot record a finding of the prefecture's spot check.
    refused(c0, finding(s, e0, true, ""), ErrorCode::UnknownSpotCheck).await?;

    let assign = |subject: EntryId| {
        Body::FollowUpAssigned(FollowUpAssigned {
            warning: subject,
            assignee: "zhao".into(),
            assignee_name: "赵六".into(),
            desk: "lead".into(),
            deadline: day("2021-03-31"),
            assigned_on: day("2021-01-10"),
            note: "限期整改".into(),
        })
    };
    refused(p, assign(f0), ErrorCode::InvalidInput).await?;
    refused(c1, assign(f1), ErrorCode::UnknownWarning).await?;
    created(p, assign(f1)).await?;
    created(
        p,
        Body::FollowUpRecorded(FollowUpRecorded {
            warning: f1,
            status: FollowUpStatus::Rectified,
            verification: "核实属实".into(),
            rectification: "尉犁县已补充未完成原因并重新报送".into(),
            recorded_on: day("2021-02-01"),
        }),
    )
    .await?;
    let y = p.evaluation_year(None, 2020, None).await?;
    let check = y.spot_checks.first().context("the spot check")?;
    let s1 = check
        .sample
        .iter()
        .find(|x| x.evaluation == e1.to_string())
        .context("e1 sampled")?;
    let f = s1.finding.as_ref().context("e1's finding")?;
    ensure!(f.verdict == "non_conforming", "{f:?}");
    ensure!(
        f.rectification
            .as_ref()
            .is_some_and(|r| r.status == "rectified"),
        "{f:?}"
    );
    // A department's view: its own projects and reports only.
    let y = p.evaluation_year(None, 2020, Some("农业局")).await?;
    ensure!(y.projects.is_empty(), "{:?}", y.projects);
    ensure!(
        y.reports.iter().all(|r| r.scope == "node"),
        "{:?}",
        y.reports
    );
    // The county's view is its own subtree.
    let y = c1.evaluation_year(None, 2020, None).await?;
    ensure!(y.evaluated == 1 && y.spot_checks.is_empty(), "{y:?}");

    // `fundsync verify` knows the reports' money: a row altered behind the
    // ledger's back is reported.
    use fundsync_node::ledger::verify::Check;
    let r = p.verify().await?;
    ensure!(r.ok(), "{:?}", r.problems);
    sqlx::query(&format!(
        "UPDATE evaluation_reports SET funds_fen = funds_fen + 1 WHERE id = '{pr}'"
    ))
    .execute(p.db().read())
    .await?;
    let r = p.verify().await?;
    ensure!(
        r.problems.len() == 1
            && r.problems[0].check == Check::Evaluation
            && r.problems[0].subject == pr.to_string(),
        "{:?}",
        r.problems
    );
    Ok(())
}

async fn the_api_lets_each_desk_do_its_part_and_no_more(engine: Engine) -> Result<()> {
    use fundsync_node::access::Role;
    use reqwest::StatusCode;
    use serde_json::{json, Value};

    // The prefecture a running node, the county a ledger whose chain is
    // carried up in a bundle.
    let (cc, name) = COUNTIES[0];
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let p = node.ledger.ledger.clone();
    let pk = NodeKey::from_seed(&[28; 32]);
    let ck = NodeKey::from_seed(&[40; 32]);
    // The prefecture's ledger signs with its own key in tests' bundles.
    p.submit(
        &[
            child(cc, name),
            Body::KeyRegistered(KeyRegistered::of(code(cc), &ck.verifying_key())),
        ],
        &clerk(),
    )
    .await?;
    let c = fixtures::ledger(engine, &county(cc, name)).await?;
    c.ledger.trust_parent_keys(&[pk.verifying_key()]).await?;
    let out = c
        .ledger
        .submit(
            &[
                project("P1", "800000"),
                target("P1"),
                project("P2", "200000"),
                target("P2"),
            ],
            &clerk(),
        )
        .await?;
    for (project, t) in [("P1", out[1].id()), ("P2", out[3].id())] {
        created(&c.ledger, evaluation(project, 2020, t, "12", "")).await?;
    }
    up_into(&c.ledger, &ck, &p, &pk).await?;

    let acc = super::access::accounts(&node);
    let mut tok = std::collections::BTreeMap::new();
    for (login, role, dept) in [
        ("li", Role::Lead, None),
        ("zhao", Role::Treasury, None),
        ("sun", Role::Auditor, None),
        ("wang", Role::Department, Some("交通局")),
    ] {
        let u = super::access::add_user(&acc, login, &[role], dept, false).await?;
        tok.insert(login, super::access::token(&acc, &u).await?);
    }
    let http = reqwest::Client::new();
    let post = |who: &str, path: &str, body: Value| {
        http.post(node.url(path))
            .bearer_auth(&tok[who])
            .json(&body)
            .send()
    };
    let heads = || async { anyhow::Ok(format!("{:?}", p.heads().await?)) };

    // 抽查: a random sample of one from a seed, by the lead office only.
    let before = heads().await?;
    for who in ["zhao", "sun", "wang"] {
        let r = post(
            who,
            "/api/v1/evaluation/spot-checks",
            json!({"year": 2020, "title": "抽查", "seed": 7, "size": 1}),
        )
        .await?;
        ensure!(r.status() == StatusCode::FORBIDDEN, "{who}: {}", r.status());
    }
    ensure!(
        heads().await? == before,
        "a refused spot check changed the journal"
    );
    let r = post(
        "li",
        "/api/v1/evaluation/spot-checks",
        json!({"year": 2020, "title": "2020 年度抽查", "seed": 7, "size": 1}),
    )
    .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let sc: Value = r.json().await?;
    let sc = sc["id"].as_str().context("id")?.to_owned();
    let y: Value = http
        .get(node.url("/api/v1/evaluation?year=2020"))
        .bearer_auth(&tok["sun"])
        .send()
        .await?
        .json()
        .await?;
    ensure!(y["evaluated"] == 2, "{y}");
    let sampled = y["spot_checks"][0]["sample"][0]["evaluation"]
        .as_str()
        .context("sampled")?
        .to_owned();
    let other = y["projects"]
        .as_array()
        .context("projects")?
        .iter()
        .filter_map(|p| p["evaluation"]["id"].as_str())
        .find(|id| *id != sampled)
        .context("the other evaluation")?
        .to_owned();

    // Findings: not in the sample is refused; 不符合 needs notes.
    let before = heads().await?;
    for (who, body, status, code) in [
        (
            "li",
            json!({"spot_check": sc, "evaluation": other, "verdict": "conforming"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_in_sample",
        ),
        (
            "li",
            json!({"spot_check": sc, "evaluation": sampled, "verdict": "non_conforming"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "sun",
            json!({"spot_check": sc, "evaluation": sampled, "verdict": "conforming"}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ] {
        let r = post(who, "/api/v1/evaluation/findings", body.clone()).await?;
        ensure!(r.status() == status, "{body}: {}", r.status());
        let v: Value = r.json().await?;
        ensure!(
            v["error"] == code && v["message"].is_string(),
            "{body}: {v}"
        );
    }
    ensure!(
        heads().await? == before,
        "a refused finding changed the journal"
    );
    let r = post("li", "/api/v1/evaluation/findings", json!({"spot_check": sc, "evaluation": sampled, "verdict": "non_conforming", "notes": "佐证材料不全"})).await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let f: Value = r.json().await?;
    let f = f["id"].as_str().context("id")?.to_owned();

    // 整改: assigned by the lead office, answered by the assignee.
    let before = heads().await?;
    let assign = json!({"assignee": "zhao", "deadline": "2020-09-30", "note": "限期补充材料"});
    for who in ["zhao", "sun", "wang"] {
        let r = post(
            who,
            &format!("/api/v1/evaluation/findings/{f}/assign"),
            assign.clone(),
        )
        .await?;
        ensure!(r.status() == StatusCode::FORBIDDEN, "{who}: {}", r.status());
    }
    ensure!(
        heads().await? == before,
        "a refused assignment changed the journal"
    );
    let r = post(
        "li",
        &format!("/api/v1/evaluation/findings/{f}/assign"),
        assign,
    )
    .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let answer = json!({"status": "rectified", "rectification": "已补充佐证材料"});
    let before = heads().await?;
    for who in ["wang", "sun"] {
        let r = post(
            who,
            &format!("/api/v1/evaluation/findings/{f}/follow-up"),
            answer.clone(),
        )
        .await?;
        ensure!(r.status() == StatusCode::FORBIDDEN, "{who}: {}", r.status());
    }
    ensure!(
        heads().await? == before,
        "a refused answer changed the journal"
    );
    let r = post(
        "zhao",
        &format!("/api/v1/evaluation/findings/{f}/follow-up"),
        answer,
    )
    .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());

    // The prefecture's report over the county's evaluations (no county
    // report here: the draft names the evaluations it holds of its own
    // node only, so the lead names them).
    let r = post(
        "wang",
        "/api/v1/evaluation/reports",
        json!({"year": 2020, "scope": "node", "summary": "汇总"}),
    )
    .await?;
    ensure!(r.status() == StatusCode::FORBIDDEN, "{}", r.status());
    let r = post("li", "/api/v1/evaluation/reports", json!({"year": 2020, "scope": "node", "summary": "全州项目绩效目标基本完成", "evaluations": [sampled, other]})).await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());

    // The page, its print view and the workbook.
    for path in ["/evaluation?year=2020", "/evaluation?year=2020&print=1"] {
        let r = http
            .get(node.url(path))
            .bearer_auth(&tok["sun"])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::OK, "{path}: {}", r.status());
        let text = r.text().await?;
        ensure!(
            text.contains("绩效自评") && text.contains("不符合") && text.contains("已整改"),
            "{path}"
        );
    }
    let r = http
        .get(node.url("/evaluation.xlsx?year=2020"))
        .bearer_auth(&tok["sun"])
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    ensure!(r.bytes().await?.starts_with(b"PK"), "not a workbook");

    // At the county (a running node): the department officer evaluates,
    // another department's officer and the treasury may not.
    let cnode = TestNode::start_on(engine, &county(cc, name)).await?;
    let cl = cnode.ledger.ledger.clone();
    let out = cl
        .submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;
    cl.submit_one(
        Body::TargetActualRecorded(TargetActualRecorded {
            target: out[1].id(),
            actual: dec("12.5"),
            recorded_on: day("2020-06-20"),
            note: String::new(),
            evidence: String::new(),
        }),
        &clerk(),
    )
    .await?;
    let acc = super::access::accounts(&cnode);
    let mut ctok = std::collections::BTreeMap::new();
    for (login, role, dept) in [
        ("wang", Role::Department, Some("交通局")),
        ("liu", Role::Department, Some("农业局")),
        ("zhao", Role::Treasury, None),
        ("li", Role::Lead, None),
    ] {
        let u = super::access::add_user(&acc, login, &[role], dept, false).await?;
        ctok.insert(login, super::access::token(&acc, &u).await?);
    }
    let cpost = |who: &str, path: &str, body: Value| {
        http.post(cnode.url(path))
            .bearer_auth(&ctok[who])
            .json(&body)
            .send()
    };
    let cheads = || async { anyhow::Ok(format!("{:?}", cl.heads().await?)) };
    let before = cheads().await?;
    let ask = json!({"project": "P1", "year": 2020, "measures": "加强管护"});
    for (who, status, code) in [
        ("liu", StatusCode::FORBIDDEN, "forbidden"),
        ("zhao", StatusCode::FORBIDDEN, "forbidden"),
        ("li", StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let r = cpost(who, "/api/v1/evaluation", ask.clone()).await?;
        ensure!(r.status() == status, "{who}: {}", r.status());
        let v: Value = r.json().await?;
        ensure!(v["error"] == code, "{who}: {v}");
    }
    let r = cpost(
        "wang",
        "/api/v1/evaluation",
        json!({"project": "P9", "year": 2020}),
    )
    .await?;
    ensure!(
        r.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.status()
    );
    let r = cpost(
        "wang",
        "/api/v1/evaluation",
        json!({"project": "P1", "year": 1999}),
    )
    .await?;
    let v: Value = r.json().await?;
    ensure!(v["error"] == "date_out_of_range", "{v}");
    ensure!(
        cheads().await? == before,
        "a refused evaluation changed the journal"
    );
    let r = cpost("wang", "/api/v1/evaluation", ask).await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let e: Value = r.json().await?;
    let e = e["id"].as_str().context("id")?.to_owned();
    let v: Value = http
        .get(cnode.url(&format!("/api/v1/evaluation/{e}")))
        .bearer_auth(&ctok["wang"])
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        v["items"][0]["actual"] == "12.5"
            && v["items"][0]["completion"] == "104.17"
            && v["met"] == 1,
        "filled in from the ledger: {v}"
    );
    // Reports: the officer their department's, the lead office the node's.
    let r = cpost(
        "wang",
        "/api/v1/evaluation/reports",
        json!({"year": 2020, "scope": "department", "department": "农业局", "summary": "x"}),
    )
    .await?;
    ensure!(r.status() == StatusCode::FORBIDDEN, "{}", r.status());
    let r = cpost(
        "wang",
        "/api/v1/evaluation/reports",
        json!({"year": 2020, "scope": "department", "summary": "交通局项目全部完成"}),
    )
    .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let r = cpost(
        "li",
        "/api/v1/evaluation/reports",
        json!({"year": 2020, "scope": "node", "summary": "本县项目全部完成"}),
    )
    .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let v: Value = http
        .get(cnode.url("/api/v1/evaluation?year=2020"))
        .bearer_auth(&ctok["li"])
        .send()
        .await?
        .json()
        .await?;
    let node_report = v["reports"]
        .as_array()
        .context("reports")?
        .iter()
        .find(|r| r["scope"] == "node")
        .context("the node report")?;
    ensure!(
        node_report["evaluations"] == 1
            && node_report["reports"] == 1
            && node_report["funds"] == "800000.00",
        "{node_report}"
    );
    Ok(())
}

/// The origins whose reports `l` holds for 2020, one per version held
/// (scope, department), sorted; and how many evaluations of 2020 it holds.
async fn held_reports(l: &Ledger) -> Result<(Vec<(String, String, String)>, usize)> {
    let y = l.evaluation_year(None, 2020, None).await?;
    let mut r: Vec<_> = y
        .reports
        .iter()
        .map(|r| {
            (
                r.origin.clone(),
                r.scope.clone(),
                r.funds.normalize().to_string(),
            )
        })
        .collect();
    r.sort();
    Ok((r, y.evaluated))
}

/// A county's reports over real nodes (issue 16): compiled at 652822, they
/// reach its prefecture and, relayed by it, the region, each held once;
/// the prefecture's report over the county's, then the region's over the
/// prefecture's, state the project's funds once (800000, not doubled by
/// the county's department and node reports both naming the evaluation,
/// nor by the hop through the prefecture), and the ledgers take them.
async fn a_county_report_reaches_the_region_once_over_sync(engine: Engine) -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start(engine, &tree).await?;
    let wait = std::time::Duration::from_secs(30);
    let county = c.ledger("652822");
    let out = county
        .submit(&[project("P1", "800000"), target("P1")], &clerk())
        .await?;
    let e = created(county, evaluation("P1", 2020, out[1].id(), "13", "")).await?;
    let d = created(
        county,
        report(
            2020,
            ReportScope::Department,
            "交通局",
            &[e],
            &[],
            (1, 1, "800000"),
        ),
    )
    .await?;
    let n = created(
        county,
        report(2020, ReportScope::Node, "", &[e], &[d], (1, 1, "800000")),
    )
    .await?;
    c.converged(wait).await?;
    let county_reports = vec![
        (
            "652822".to_owned(),
            "department".to_owned(),
            "800000".to_owned(),
        ),
        ("652822".to_owned(), "node".to_owned(), "800000".to_owned()),
    ];
    for at in ["652822", "652800", "650000"] {
        let got = held_reports(c.ledger(at)).await?;
        ensure!(got == (county_reports.clone(), 1), "{at}: {got:?}");
    }

    // The prefecture compiles over the county's node report: the funds once.
    let pref = c.ledger("652800");
    let draft = pref.report_draft(2020, ReportScope::Node, "").await?;
    ensure!(
        draft.evaluations == vec![e]
            && draft.reports == vec![n]
            && (draft.indicators, draft.met, draft.funds) == (1, 1, dec("800000")),
        "{draft:?}"
    );
    let p = created(
        pref,
        report(2020, ReportScope::Node, "", &[e], &[n], (1, 1, "800000")),
    )
    .await?;
    c.converged(wait).await?;

    // The region holds each of the three reports once, and its own report
    // over the prefecture's states the project's funds once.
    let mut all = county_reports.clone();
    all.push(("652800".to_owned(), "node".to_owned(), "800000".to_owned()));
    all.sort();
    let region = c.ledger("650000");
    let got = held_reports(region).await?;
    ensure!(got == (all.clone(), 1), "650000: {got:?}");
    let draft = region.report_draft(2020, ReportScope::Node, "").await?;
    ensure!(
        draft.evaluations == vec![e]
            && draft.reports == vec![p]
            && (draft.indicators, draft.met, draft.funds) == (1, 1, dec("800000")),
        "{draft:?}"
    );
    // A report stating the funds twice is not the ledger's.
    refused(
        region,
        report(2020, ReportScope::Node, "", &[e], &[p], (1, 1, "1600000")),
        ErrorCode::ReportFigures,
    )
    .await?;
    created(
        region,
        report(2020, ReportScope::Node, "", &[e], &[p], (1, 1, "800000")),
    )
    .await?;
    all.push(("650000".to_owned(), "node".to_owned(), "800000".to_owned()));
    all.sort();
    ensure!(held_reports(region).await? == (all, 1));
    for at in ["650000", "652800", "652822"] {
        let r = c.ledger(at).verify().await?;
        ensure!(r.ok(), "{at}'s books: {:?}", r.problems);
    }
    c.shutdown().await
}
