//! Follow-up (整改) of warnings end to end: the checks of every step on both
//! engines (each refusal leaves the journal as it was), follow-ups rolling
//! up in signed batches beside warnings written in the old English form
//! (which still verify and render in Chinese), and a running tree (county →
//! prefecture → region) where the county's lead office assigns a warning
//! through the API and the page, the assignee answers, and the region sees
//! the follow-up and, past the deadline, the overdue flag.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, AccountsConfig, NewUser, User};
use fundsync_node::ledger::query::{FollowUpFilter, Page};
use fundsync_node::ledger::replica::ReplicaError;
use fundsync_node::ledger::{Ledger, LedgerError, Outcome};
use fundsync_node::warnings::follow_up::{self, FollowUpError};
use fundsync_node::warnings::store::WarningShown;
use fundsync_node::warnings::WarningFilter;
use fundsync_protocol::body::*;
use fundsync_protocol::{checkpoint_for, Actor, Batch, Body, Entry, EntryId, Hash, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine};
use serde_json::{json, Value};

fundsync_tests::on_both!(
    every_follow_up_step_is_checked_and_a_refusal_records_nothing,
    follow_ups_roll_up_beside_old_english_warnings,
);

const PASSWORD: &str = "Tarim-Poplar-2020-river";
const DAY_MS: i64 = 24 * 3_600_000;
const WAIT: Duration = Duration::from_secs(60);

/// An idle-funds warning as releases before protocol version 3 wrote it:
/// English text, no values.
const OLD_IDLE: &str =
    "轮财〔2020〕1号 (LT-01): 50000.00 yuan idle: no payment or issue since 2020-01-10 (172 days)";

fn all() -> Page {
    Page {
        page: 1,
        page_size: 1000,
    }
}

fn old_warning(node: &str, subject: &str) -> Body {
    Body::WarningRaised(WarningRaised {
        rule: "idle_funds".into(),
        subject: subject.into(),
        node: code(node),
        message: OLD_IDLE.into(),
        as_of: day("2020-06-30"),
        amount: Some(amount("50000")),
        params: None,
    })
}

async fn add_user(a: &Accounts, login: &str, name: &str, roles: &[Role]) -> Result<User> {
    Ok(a.create_user(NewUser {
        login: login.into(),
        name: name.into(),
        password: PASSWORD.into(),
        department: None,
        roles: roles.to_vec(),
        classified: true,
    })
    .await?)
}

fn actor_of(u: &User, role: Role) -> Actor {
    u.actor(role, "127.0.0.1")
}

async fn journal_len(l: &Ledger) -> Result<usize> {
    Ok(l.journal(l.identity().code, 0, 1000).await?.len())
}

/// Runs a follow-up step that must be refused, and checks the journal did
/// not move.
async fn refused<F, Fut>(l: &Ledger, step: F) -> Result<FollowUpError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, FollowUpError>>,
{
    let before = journal_len(l).await?;
    let e = match step().await {
        Ok(o) => anyhow::bail!("accepted {o:?}, expected a refusal"),
        Err(e) => e,
    };
    ensure!(
        journal_len(l).await? == before,
        "a refused step changed the journal: {e}"
    );
    Ok(e)
}

async fn every_follow_up_step_is_checked_and_a_refusal_records_nothing(
    engine: Engine,
) -> Result<()> {
    // The clock stands at 2020-06-30 (China Standard Time).
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    let acc = Accounts::new(l.db().clone(), l.clock().clone(), AccountsConfig::default());
    let lead = add_user(&acc, "wang", "王五", &[Role::Lead]).await?;
    let li = add_user(&acc, "li", "李四", &[Role::Treasury]).await?;
    let other = add_user(&acc, "zhao", "赵六", &[Role::Department]).await?;
    let desk = add_user(&acc, "qian", "钱七", &[Role::Treasury]).await?;
    add_user(&acc, "sun", "孙八", &[Role::Auditor]).await?;
    let by_lead = actor_of(&lead, Role::Lead);
    let by_li = actor_of(&li, Role::Treasury);
    let by_other = actor_of(&other, Role::Department);
    let w = l
        .submit_one(old_warning("652822", "allocation:652800-9"), &clerk())
        .await?
        .id();
    let due = day("2020-07-10");

    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, w, "nobody", due, "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::UnknownAssignee(_)), "{e}");
    // An auditor writes nothing, so answers no follow-up either.
    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, w, "sun", due, "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::UnknownAssignee(_)), "{e}");
    ensure!(
        e.zh().contains("孙八") || e.zh().contains("sun"),
        "{}",
        e.zh()
    );
    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, w, "li", day("2020-06-29"), "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::DeadlinePast { .. }), "{e}");
    ensure!(e.zh().contains("整改期限不能早于今天"), "{}", e.zh());
    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, w, "li", day("2021-12-31"), "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::DeadlineTooFar { .. }), "{e}");
    let unknown: EntryId = "652822-99".parse()?;
    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, unknown, "li", due, "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::UnknownWarning(_)), "{e}");
    let e = refused(l, || {
        follow_up::record(l, &li, &by_li, w, FollowUpStatus::Rectifying, "属实", "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::NotAssigned(_)), "{e}");
    // The ledger itself refuses an answer before an assignment, and a
    // deadline before the day of the assignment.
    let before = journal_len(l).await?;
    let raw = Body::FollowUpRecorded(FollowUpRecorded {
        warning: w,
        status: FollowUpStatus::Pending,
        verification: String::new(),
        rectification: String::new(),
        recorded_on: day("2020-06-30"),
    });
    let e = l.submit_one(raw, &clerk()).await.expect_err("not assigned");
    ensure!(matches!(e, LedgerError::NotAssigned(_)), "{e}");
    let raw = Body::FollowUpAssigned(FollowUpAssigned {
        warning: w,
        assignee: "li".into(),
        assignee_name: "李四".into(),
        desk: "treasury".into(),
        deadline: day("2020-06-01"),
        assigned_on: day("2020-06-30"),
        note: String::new(),
    });
    let e = l.submit_one(raw, &clerk()).await.expect_err("deadline");
    ensure!(matches!(e, LedgerError::Body(BodyError::Invalid(_))), "{e}");
    ensure!(journal_len(l).await? == before);

    // Assigned: the assignee answers; another desk may not.
    let a = follow_up::assign(l, &acc, &by_lead, w, "li", due, "请十日内核实").await?;
    ensure!(matches!(a, Outcome::Created(_)));
    let e = refused(l, || {
        follow_up::record(
            l,
            &other,
            &by_other,
            w,
            FollowUpStatus::Unfounded,
            "不属实",
            "",
        )
    })
    .await?;
    ensure!(matches!(e, FollowUpError::NotYours { .. }), "{e}");
    let e = refused(l, || {
        follow_up::record(l, &li, &by_li, w, FollowUpStatus::Rectified, "属实", " ")
    })
    .await?;
    ensure!(
        matches!(
            e,
            FollowUpError::Missing {
                field: "rectification",
                ..
            }
        ),
        "{e}"
    );
    follow_up::record(
        l,
        &li,
        &actor_of(&li, Role::Treasury),
        w,
        FollowUpStatus::Rectifying,
        "资金确实闲置，已督促项目单位",
        "",
    )
    .await?;
    let v = l.warning(w, None).await?.context("the warning")?;
    let f = v.follow_up.clone().context("its follow-up")?;
    ensure!(
        f.status == "rectifying" && f.assignee_name == "李四" && f.deadline == "2020-07-10",
        "{f:?}"
    );
    ensure!(!f.overdue);
    // The old English text is shown in Chinese, from the values read back.
    let shown = WarningShown::of(v);
    ensure!(
        shown.text
            == "轮财〔2020〕1号（LT-01）50000.00 元闲置：自 2020-01-10 起 172 天无支付或下达",
        "{}",
        shown.text
    );
    ensure!(
        shown
            .params
            .as_ref()
            .and_then(|p| p.get("amount"))
            .map(String::as_str)
            == Some("50000.00")
    );

    // Past the deadline, still being rectified: overdue.
    t.clock.advance(11 * DAY_MS);
    let today = l.clock().today();
    ensure!(today == day("2020-07-11"), "{today}");
    let v = l.warning(w, None).await?.context("the warning")?;
    ensure!(v.follow_up.as_ref().is_some_and(|f| f.overdue), "{v:?}");
    let overdue = l
        .warnings(
            &WarningFilter {
                follow_up: Some(FollowUpFilter::Overdue),
                ..WarningFilter::default()
            },
            all(),
        )
        .await?;
    ensure!(overdue.items.len() == 1);
    let by_node = l.overdue_follow_ups_by_node(today).await?;
    ensure!(by_node.get("652822") == Some(&1), "{by_node:?}");
    // An officer of the assignee's desk may answer for them.
    follow_up::record(
        l,
        &desk,
        &actor_of(&desk, Role::Treasury),
        w,
        FollowUpStatus::Rectified,
        "资金确实闲置",
        "已于7月支付完毕",
    )
    .await?;
    ensure!(l.overdue_follow_ups_by_node(today).await?.is_empty());
    let steps = l.follow_up_steps(w).await?;
    let kinds: Vec<(&str, Option<&str>, &str)> = steps
        .iter()
        .map(|s| (s.kind.as_str(), s.status.as_deref(), s.actor_login.as_str()))
        .collect();
    ensure!(
        kinds
            == vec![
                ("assigned", None, "wang"),
                ("recorded", Some("rectifying"), "li"),
                ("recorded", Some("rectified"), "qian"),
            ],
        "{kinds:?}"
    );
    let rectified = l
        .warnings(
            &WarningFilter {
                follow_up: Some(FollowUpFilter::Status(FollowUpStatus::Rectified)),
                ..WarningFilter::default()
            },
            all(),
        )
        .await?;
    ensure!(rectified.items.len() == 1);

    // A resolved warning is not followed up.
    l.submit_one(
        Body::WarningResolved(WarningResolved {
            warning: w,
            reason: "the balance is spent, passed on or moving again (as of 2020-07-11)".into(),
            as_of: day("2020-07-11"),
        }),
        &clerk(),
    )
    .await?;
    let e = refused(l, || {
        follow_up::assign(l, &acc, &by_lead, w, "li", day("2020-07-20"), "")
    })
    .await?;
    ensure!(matches!(e, FollowUpError::Resolved(_)), "{e}");
    let shown = WarningShown::of(l.warning(w, None).await?.context("warning")?);
    ensure!(
        shown.resolution_text.as_deref() == Some("资金已支出、下达或恢复使用（截至 2020-07-11）"),
        "{shown:?}"
    );
    Ok(())
}

async fn push_up(
    l: &Ledger,
    key: &NodeKey,
    from: &str,
    entries: Vec<Entry>,
) -> Result<(), ReplicaError> {
    let cp = checkpoint_for(key, &entries, fixtures::NOW_MS).expect("entries");
    let batch = Batch::new(code(from), l.identity().code, entries, vec![cp]);
    l.receive_up(code(from), &batch).await.map(|_| ())
}

async fn follow_ups_roll_up_beside_old_english_warnings(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let l = &t.ledger;
    let key = NodeKey::from_seed(&[22; 32]);
    l.submit(
        &[
            child("652822", "轮台县"),
            Body::KeyRegistered(KeyRegistered::of(code("652822"), &key.verifying_key())),
        ],
        &clerk(),
    )
    .await?;
    let own = l
        .submit_one(old_warning("652800", "allocation:650000-3"), &clerk())
        .await?
        .id();
    // The county's entries: a warning of the old form, its assignment and
    // an answer, signed by the county.
    let w1 = Entry::new(
        code("652822"),
        1,
        fixtures::NOW_MS,
        Hash::ZERO,
        &old_warning("652822", "allocation:652800-9"),
        &clerk(),
    );
    let a2 = Entry::new(
        code("652822"),
        2,
        fixtures::NOW_MS,
        w1.hash(),
        &Body::FollowUpAssigned(FollowUpAssigned {
            warning: w1.id(),
            assignee: "li".into(),
            assignee_name: "李四".into(),
            desk: "treasury".into(),
            deadline: day("2020-07-10"),
            assigned_on: day("2020-06-30"),
            note: String::new(),
        }),
        &clerk(),
    );
    let r3 = Entry::new(
        code("652822"),
        3,
        fixtures::NOW_MS,
        a2.hash(),
        &Body::FollowUpRecorded(FollowUpRecorded {
            warning: w1.id(),
            status: FollowUpStatus::Pending,
            verification: String::new(),
            rectification: String::new(),
            recorded_on: day("2020-06-30"),
        }),
        &clerk(),
    );
    push_up(l, &key, "652822", vec![w1.clone(), a2, r3.clone()]).await?;
    let v = l.warning(w1.id(), None).await?.context("county warning")?;
    let f = v.follow_up.clone().context("its follow-up")?;
    ensure!(f.assignee == "li" && f.status == "pending", "{f:?}");
    ensure!(WarningShown::of(v)
        .text
        .contains("元闲置：自 2020-01-10 起"));
    ensure!(l.follow_up_steps(w1.id()).await?.len() == 2);
    // Past the deadline the prefecture sees the county's follow-up overdue.
    let by_node = l.overdue_follow_ups_by_node(day("2020-07-11")).await?;
    ensure!(by_node.get("652822") == Some(&1), "{by_node:?}");

    // A county follows up its own warnings only: an entry about the
    // prefecture's is refused, and nothing of the batch is applied.
    let bad = Entry::new(
        code("652822"),
        4,
        fixtures::NOW_MS,
        r3.hash(),
        &Body::FollowUpAssigned(FollowUpAssigned {
            warning: own,
            assignee: "li".into(),
            assignee_name: "李四".into(),
            desk: "treasury".into(),
            deadline: day("2020-07-10"),
            assigned_on: day("2020-06-30"),
            note: String::new(),
        }),
        &clerk(),
    );
    let before = l.journal(code("652822"), 0, 1000).await?.len();
    let e = push_up(l, &key, "652822", vec![bad]).await;
    ensure!(
        matches!(
            e,
            Err(ReplicaError::Ledger(LedgerError::Misdirected { .. }))
        ),
        "{e:?}"
    );
    ensure!(l.journal(code("652822"), 0, 1000).await?.len() == before);
    ensure!(l
        .warning(own, None)
        .await?
        .context("own")?
        .follow_up
        .is_none());
    Ok(())
}

// ---- a running tree ----

/// A signed-in browser session without a cookie jar: the session cookie
/// kept by hand.
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Session {
    async fn login(base: &str, login: &str) -> Result<Session> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let res = http
            .post(format!("{base}/login"))
            .form(&[("login", login), ("password", PASSWORD), ("next", "/")])
            .send()
            .await?;
        ensure!(res.status() == 303, "login: {}", res.status());
        let cookie = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("fundsync_session="))
            .and_then(|v| v.split(';').next())
            .context("session cookie")?
            .to_owned();
        Ok(Session {
            http,
            base: base.to_owned(),
            cookie,
        })
    }

    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        Ok((res.status().as_u16(), res.text().await?))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, String)> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(form)
            .send()
            .await?;
        Ok((res.status().as_u16(), res.text().await?))
    }
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// The node's own follow-up entries: what a refused step must leave as it
/// was (the node's security log does record the refusal, by design, and
/// its evaluator may raise warnings meanwhile).
async fn heads(l: &Ledger) -> Result<Vec<(u64, String)>> {
    Ok(l.journal(l.identity().code, 0, 10_000)
        .await?
        .into_iter()
        .filter(|e| e.kind.starts_with("follow_up"))
        .map(|e| (u64::try_from(e.seq).unwrap_or_default(), e.kind))
        .collect())
}

async fn bearer(a: &Accounts, u: &User) -> Result<reqwest::Client> {
    let t = a.create_token(u.id, "test", Some(30)).await?;
    fundsync_cluster::bearer_client(t.secret.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_countys_follow_up_reaches_the_region_with_its_overdue_flag() -> Result<()> {
    let c = Cluster::start(Engine::Sqlite, &small_tree()).await?;
    let county = c.ledger("652822");
    let node = c.node("652822");
    let acc = Accounts::new(
        county.db().clone(),
        county.clock().clone(),
        node.cfg.accounts.clone(),
    );
    let lead = add_user(&acc, "wang", "王五", &[Role::Lead]).await?;
    let li = add_user(&acc, "li", "李四", &[Role::Treasury]).await?;
    let aud = add_user(&acc, "sun", "孙八", &[Role::Auditor]).await?;
    let other = add_user(&acc, "zhao", "赵六", &[Role::AllocationDesk]).await?;
    county
        .submit(
            &[
                Body::CategoryDefined(CategoryDefined {
                    code: "LT-01".into(),
                    name: "县级配套".into(),
                    origin: fundsync_protocol::FundOrigin::County,
                    department: String::new(),
                    classified: false,
                }),
                // On the real clock, money of 2020 untouched since is idle.
                Body::OwnBudgetAdded(OwnBudgetAdded {
                    doc_no: "轮财〔2020〕1号".into(),
                    category: "LT-01".into(),
                    amount: amount("50000"),
                    budgeted_on: day("2020-01-10"),
                    title: String::new(),
                }),
            ],
            &clerk(),
        )
        .await?;
    let api = |p: &str| node.api_url(p);
    let lead_http = bearer(&acc, &lead).await?;
    let w: Value = eventually(WAIT, "the county's idle-funds warning", || {
        let (http, url) = (
            lead_http.clone(),
            api("/warnings?rule=idle_funds&open=true"),
        );
        async move {
            let v: Value = http.get(url).send().await?.json().await?;
            Ok(v["items"].as_array().and_then(|a| a.first().cloned()))
        }
    })
    .await?;
    let id = w["id"].as_str().context("id")?.to_owned();
    // New warnings carry their values and render in both languages.
    ensure!(w["params"]["amount"] == "50000.00", "{w}");
    ensure!(
        w["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("轮财〔2020〕1号（LT-01）50000.00 元闲置")),
        "{w}"
    );
    ensure!(
        w["text_en"]
            .as_str()
            .is_some_and(|t| t.contains("yuan idle")),
        "{w}"
    );
    ensure!(w["follow_up"].is_null(), "{w}");

    let today = county.clock().today();
    let due = today + chrono::Days::new(10);
    let assign_url = api(&format!("/warnings/{id}/assign"));
    let record_url = api(&format!("/warnings/{id}/follow-up"));
    // Refusals, each leaving the county's journal as it was.
    let aud_http = bearer(&acc, &aud).await?;
    let other_http = bearer(&acc, &other).await?;
    let li_http = bearer(&acc, &li).await?;
    let cases: Vec<(&reqwest::Client, &str, Value, u16, &str)> = vec![
        // An auditor assigns nothing.
        (
            &aud_http,
            &assign_url,
            json!({"assignee": "li", "deadline": due}),
            403,
            "forbidden",
        ),
        (
            &lead_http,
            &assign_url,
            json!({"assignee": "li", "deadline": today.pred_opt()}),
            422,
            "invalid_input",
        ),
        (
            &lead_http,
            &assign_url,
            json!({"assignee": "li", "deadline": "2099-01-01"}),
            422,
            "invalid_input",
        ),
        (
            &lead_http,
            &assign_url,
            json!({"assignee": "sun", "deadline": due}),
            422,
            "invalid_input",
        ),
        // Nothing to answer yet.
        (
            &li_http,
            &record_url,
            json!({"status": "rectifying", "verification": "属实"}),
            409,
            "not_assigned",
        ),
    ];
    for (http, url, body, status, code_) in cases {
        let before = heads(county).await?;
        let res = http.post(url).json(&body).send().await?;
        let got = res.status().as_u16();
        let v: Value = res.json().await?;
        ensure!(
            got == status && v["error"] == code_,
            "{url} {body}: {got} {v}"
        );
        ensure!(
            heads(county).await? == before,
            "{url} {body} changed the journal"
        );
    }

    // The lead office assigns on the page: without the form's CSRF token it
    // is refused; with it, recorded.
    let page = Session::login(&format!("http://{}", node.api), "wang").await?;
    let (status, html) = page.get(&format!("/warnings/{id}")).await?;
    ensure!(
        status == 200 && html.contains("指派整改"),
        "{status} {html}"
    );
    ensure!(html.contains("李四（国库支付）"), "{html}");
    let token = csrf_of(&html).context("csrf token")?;
    let due_s = due.to_string();
    let before = heads(county).await?;
    let (status, _) = page
        .post(
            &format!("/warnings/{id}/assign"),
            &[("assignee", "li"), ("deadline", &due_s)],
        )
        .await?;
    ensure!(status == 403, "without CSRF: {status}");
    ensure!(heads(county).await? == before);
    // A deadline in the past: the Chinese error by its field, nothing kept.
    let past = today.pred_opt().context("yesterday")?.to_string();
    let (status, html) = page
        .post(
            &format!("/warnings/{id}/assign"),
            &[
                ("csrf_token", &token),
                ("assignee", "li"),
                ("deadline", &past),
            ],
        )
        .await?;
    ensure!(
        status == 422 && html.contains("id=\"f-deadline-error\">整改期限不能早于今天"),
        "{status} {html}"
    );
    ensure!(heads(county).await? == before);
    let (status, _) = page
        .post(
            &format!("/warnings/{id}/assign"),
            &[
                ("csrf_token", &token),
                ("assignee", "li"),
                ("deadline", &due_s),
                ("note", "请核实后整改"),
            ],
        )
        .await?;
    ensure!(status == 303, "assign: {status}");

    // The assignee answers through the API; another desk may not, and a
    // bad status is refused.
    let before = heads(county).await?;
    let res = other_http
        .post(&record_url)
        .json(&json!({"status": "unfounded", "verification": "不属实"}))
        .send()
        .await?;
    ensure!(res.status() == 403, "{}", res.status());
    let res = li_http
        .post(&record_url)
        .json(&json!({"status": "done", "verification": "x"}))
        .send()
        .await?;
    ensure!(res.status().is_client_error(), "{}", res.status());
    ensure!(heads(county).await? == before);
    let res = li_http
        .post(&record_url)
        .json(&json!({"status": "rectifying", "verification": "资金确实闲置"}))
        .send()
        .await?;
    ensure!(res.status() == 201, "{}", res.status());

    // The region sees the county's follow-up, and past its deadline the
    // overdue count for the county.
    let region = c.node("650000");
    let url = format!(
        "{}?node=652822&follow_up=rectifying",
        region.api_url("/warnings")
    );
    let at_region = eventually(WAIT, "the county's follow-up at the region", || {
        let (http, url) = (region.http(), url.clone());
        async move {
            let v: Value = http.get(url).send().await?.json().await?;
            Ok(v["items"].as_array().and_then(|a| a.first().cloned()))
        }
    })
    .await?;
    ensure!(
        at_region["id"] == id.as_str()
            && at_region["follow_up"]["assignee_name"] == "李四"
            && at_region["follow_up"]["deadline"] == due_s.as_str()
            && at_region["follow_up"]["overdue"] == false,
        "{at_region}"
    );
    let r = c.ledger("650000");
    let later = due + chrono::Days::new(1);
    let overdue = r.overdue_follow_ups_by_node(later).await?;
    ensure!(overdue.get("652822") == Some(&1), "{overdue:?}");
    ensure!(r.overdue_follow_ups_by_node(today).await?.is_empty());
    let detail: Value = region
        .http()
        .get(region.api_url(&format!("/warnings/{id}")))
        .send()
        .await?
        .json()
        .await?;
    let steps = detail["follow_up_steps"].as_array().context("steps")?;
    ensure!(
        steps.len() == 2 && steps[0]["actor_name"] == "王五" && steps[1]["actor_name"] == "李四",
        "{detail}"
    );
    // The region's page shows it in Chinese.
    let page_url = format!("http://{}/warnings?node=652822", region.api);
    let html = region.http().get(page_url).send().await?.text().await?;
    ensure!(
        html.contains("元闲置") && html.contains("整改中 · 李四") && !html.contains("yuan idle"),
        "{html}"
    );

    // Rectified: no longer overdue anywhere.
    let res = li_http
        .post(&record_url)
        .json(&json!({"status": "rectified", "verification": "资金确实闲置", "rectification": "已支付"}))
        .send()
        .await?;
    ensure!(res.status() == 201, "{}", res.status());
    eventually(WAIT, "the rectification at the region", || async move {
        Ok(r.overdue_follow_ups_by_node(later)
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    c.shutdown().await?;
    Ok(())
}
