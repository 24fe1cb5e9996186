//! `/warnings`: the early warnings (预警) this node holds, its own and its
//! subtree's, that the reader may see (department, 涉密), open by default,
//! with counts by rule and their follow-up (整改): status, assignee,
//! deadline, overdue. `/warnings/{id}`: one warning with its follow-up's
//! history and the forms to assign it (the lead office) and to answer it
//! (the assignee or their desk), each a signed entry of the warning's node.
//!
//! Texts are rendered from the rule and its values in the reader's
//! language (`crate::warnings::render`), old English entries included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use fundsync_protocol::body::FollowUpStatus;
use fundsync_protocol::{EntryId, NodeCode};
use maud::{html, Markup};
use serde::Deserialize;

use super::form::{field, post_form, submit, Field, FieldError, InputKind};
use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::text::{datetime, wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::{Permission, Role};
use crate::accounts::User;
use crate::http::auth::see_other;
use crate::http::{Acting, AppState, Routes};
use crate::ledger::query::Page;
use crate::warnings::follow_up::{self, status_label, FollowUpError};
use crate::warnings::http::follow_up_filter;
use crate::warnings::render as text_of;
use crate::warnings::store::{
    scope_of, FollowUpFilter, FollowUpStep, WarningFilter, WarningScope, WarningShown,
};
use crate::warnings::Rule;

type S = State<Arc<AppState>>;

/// The warnings' pages, added to the other pages.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/warnings", P::ReadLedger, warnings_page)
        .get("/warnings/{id}", P::ReadLedger, warning_page)
        .post("/warnings/{id}/assign", P::ManageWarnings, assign_submit)
        .post("/warnings/{id}/follow-up", P::FollowUp, record_submit)
}

fn lang(l: Lang) -> text_of::Lang {
    match l {
        Lang::Zh => text_of::Lang::Zh,
        Lang::En => text_of::Lang::En,
    }
}

/// What the list shows.
#[derive(Debug, Default)]
pub struct WarningsPage {
    pub items: Vec<WarningShown>,
    /// Open warnings by rule, of those the reader may see.
    pub open_by_rule: BTreeMap<String, i64>,
    /// Node names by code.
    pub names: HashMap<String, String>,
    /// Showing open warnings (true) or resolved ones (false).
    pub open: bool,
    /// The follow-up filter as given (`follow_up=`), if any.
    pub follow_up: Option<String>,
    pub has_more: bool,
}

fn rule_label(c: &Chrome, rule: &str) -> String {
    match rule.parse::<Rule>() {
        Ok(r) => {
            let (zh, en) = r.label();
            c.lang.t(zh, en).to_owned()
        }
        Err(_) => rule.to_owned(),
    }
}

/// The follow-up filters: (value of `follow_up=`, Chinese, English).
const FOLLOW_UP_FILTERS: &[(&str, &str, &str)] = &[
    ("unassigned", "未指派", "unassigned"),
    ("pending", "待核实", "to verify"),
    ("rectifying", "整改中", "being rectified"),
    ("rectified", "已整改", "rectified"),
    ("unfounded", "不属实", "unfounded"),
    ("overdue", "逾期", "overdue"),
];

fn status_text(l: Lang, status: &str) -> &'static str {
    let (zh, en) = status_label(status);
    l.t(zh, en)
}

/// A follow-up in one cell: status, assignee, deadline, overdue.
fn follow_up_cell(l: Lang, w: &WarningShown) -> Markup {
    html! {
        @match &w.view.follow_up {
            None => { span class="muted" { (l.t("未指派", "unassigned")) } }
            Some(f) => {
                (status_text(l, &f.status)) " · " (f.assignee_name) " "
                span class="muted" { (f.assignee) }
                br;
                (l.t("期限 ", "due ")) (f.deadline)
                @if f.overdue {
                    " " strong class="overdue" { (l.t("逾期", "overdue")) }
                }
            }
        }
    }
}

/// The list's body: counts by rule, the filters, then the warnings.
pub fn warnings_body(c: &Chrome, p: &WarningsPage) -> Markup {
    let l = c.lang;
    let open_param = if p.open { None } else { Some("false") };
    let filter_url = |f: Option<&str>| {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(o) = open_param {
            q.push(("open", o.to_owned()));
        }
        if let Some(f) = f {
            q.push(("follow_up", f.to_owned()));
        }
        url("/warnings", &q)
    };
    html! {
        div class="card" {
            p {
                @if p.open_by_rule.is_empty() {
                    b { (l.t("暂无未处理的预警。", "No open warnings.")) }
                } @else {
                    b { (l.t("未处理预警：", "Open warnings:")) } " "
                    @for (i, (rule, n)) in p.open_by_rule.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href=(url("/warnings", &[("rule", rule.clone())])) {
                            (rule_label(c, rule)) " " (n)
                        }
                    }
                }
            }
            p class="sub" {
                a href="/warnings" { (l.t("未处理", "open")) }
                " · "
                a href="/warnings?open=false" { (l.t("已解除", "resolved")) }
            }
            (super::layout::export_links(c, "/warnings"))
            p class="sub" {
                (l.t("整改：", "Follow-up: "))
                @if p.follow_up.is_none() {
                    b { (l.t("全部", "all")) }
                } @else {
                    a href=(filter_url(None)) { (l.t("全部", "all")) }
                }
                @for &(v, zh, en) in FOLLOW_UP_FILTERS {
                    " · "
                    @if p.follow_up.as_deref() == Some(v) {
                        b { (l.t(zh, en)) }
                    } @else {
                        a href=(filter_url(Some(v))) { (l.t(zh, en)) }
                    }
                }
            }
        }
        @if p.items.is_empty() {
            p class="muted" { (l.t("暂无", "None")) }
        } @else {
            table {
                thead {
                    tr {
                        th { (l.t("规则", "Rule")) }
                        th { (l.t("单位", "Node")) }
                        th { (l.t("说明", "What")) }
                        th class="num" { (l.t("金额（万元）", "Amount (万元)")) }
                        th { (l.t("截至", "As of")) }
                        th { (l.t("整改", "Follow-up")) }
                        th { (l.t("状态", "State")) }
                    }
                }
                tbody {
                    @for w in &p.items {
                        tr {
                            td {
                                a href=(format!("/warnings/{}", w.view.id)) { (rule_label(c, &w.view.rule)) }
                            }
                            td {
                                (p.names.get(&w.view.node).map(String::as_str).unwrap_or_default())
                                " " span class="muted" { (w.view.node) }
                            }
                            td { (w.text_in(lang(l))) }
                            @match w.view.amount {
                                Some(a) => { td class="num" title={ (yuan(a)) " 元" } { (wan2(a)) } }
                                None => { td class="num muted" { "—" } }
                            }
                            td { (w.view.as_of) }
                            td { (follow_up_cell(l, w)) }
                            @if w.view.open {
                                td { b { (l.t("未处理", "open")) } }
                            } @else {
                                td class="muted" {
                                    (l.t("已解除", "resolved")) " "
                                    (w.view.resolved_as_of.as_deref().unwrap_or_default())
                                    @if let Some(r) = w.resolution_in(lang(l)) {
                                        br; (r)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if p.has_more {
                p class="sub" { (l.t("仅显示前 200 条。", "The first 200 are shown.")) }
            }
        }
    }
}

pub fn render(c: &Chrome, p: &WarningsPage) -> Markup {
    page(
        c,
        Nav::Warnings,
        c.lang.t("预警", "Warnings"),
        warnings_body(c, p),
    )
}

/// The reader's scope; nobody signed in sees nothing.
async fn reader_scope(ctx: &Ctx, s: &AppState) -> Result<Option<WarningScope>, WebError> {
    Ok(match &ctx.user {
        Some(u) => scope_of(u, &s.ledger).await?,
        None => Some(WarningScope::default()),
    })
}

async fn warnings_page(ctx: Ctx, State(s): S) -> Response {
    let r = warnings_data(&ctx, &s)
        .await
        .map(|p| render(&ctx.chrome, &p));
    ctx.respond(r)
}

/// The warning list's filters from the query, in the reader's scope (the
/// page and its exports).
pub(super) async fn warning_filter(ctx: &Ctx, s: &AppState) -> Result<WarningFilter, WebError> {
    let open = match ctx.param("open") {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => return Err(WebError::bad_param("open", v)),
    };
    let rule = match ctx.param("rule") {
        None => None,
        Some(r) => match r.parse::<Rule>() {
            Ok(_) => Some(r.to_owned()),
            Err(_) => return Err(WebError::bad_param("rule", r)),
        },
    };
    let follow_up: Option<FollowUpFilter> = match ctx.param("follow_up") {
        None => None,
        Some(f) => Some(follow_up_filter(f).ok_or_else(|| WebError::bad_param("follow_up", f))?),
    };
    Ok(WarningFilter {
        node: ctx.parsed::<NodeCode>("node")?,
        origin: None,
        rule,
        open: Some(open),
        follow_up,
        scope: reader_scope(ctx, s).await?,
    })
}

async fn warnings_data(ctx: &Ctx, s: &AppState) -> Result<WarningsPage, WebError> {
    let filter = warning_filter(ctx, s).await?;
    let open = filter.open.unwrap_or(true);
    let scope = filter.scope.clone();
    let got = s
        .ledger
        .warnings(
            &filter,
            Page {
                page: 1,
                page_size: 200,
            },
        )
        .await?;
    Ok(WarningsPage {
        items: got.items.into_iter().map(WarningShown::of).collect(),
        open_by_rule: s.ledger.open_warnings_by_rule(scope.as_ref()).await?,
        names: s
            .ledger
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.code, n.name))
            .collect(),
        open,
        follow_up: ctx.param("follow_up").map(str::to_owned),
        has_more: got.has_more,
    })
}

// ---- one warning ----

/// The assignment form as typed, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct AssignView {
    pub assignee: String,
    pub deadline: String,
    pub note: String,
    pub assignee_error: Option<FieldError>,
    pub deadline_error: Option<FieldError>,
    pub note_error: Option<FieldError>,
    pub error: Option<FieldError>,
}

/// The answer form as typed, and why it was refused.
#[derive(Debug, Default, Clone)]
pub struct RecordView {
    pub status: String,
    pub verification: String,
    pub rectification: String,
    pub status_error: Option<FieldError>,
    pub verification_error: Option<FieldError>,
    pub rectification_error: Option<FieldError>,
    pub error: Option<FieldError>,
}

/// What the warning's page shows.
#[derive(Debug)]
pub struct WarningPage {
    pub warning: WarningShown,
    pub steps: Vec<FollowUpStep>,
    pub node_name: String,
    /// Whether this node raised it (only it follows it up).
    pub ours: bool,
    /// Who may be assigned: (login, "name（desk）").
    pub assignees: Vec<(String, String)>,
    /// The signed-in person may answer (the assignee or their desk).
    pub may_answer: bool,
    pub assign: AssignView,
    pub record: RecordView,
}

fn step_kind(l: Lang, s: &FollowUpStep) -> String {
    match s.kind.as_str() {
        "assigned" => l.t("指派", "assigned").to_owned(),
        _ => s
            .status
            .as_deref()
            .map(|st| status_text(l, st).to_owned())
            .unwrap_or_default(),
    }
}

/// The warning's page.
pub fn warning_render(c: &Chrome, p: &WarningPage) -> Markup {
    let l = c.lang;
    let w = &p.warning;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let may = |perm| c.who.as_ref().is_some_and(|w| w.may(perm));
    let action = |what: &str| format!("/warnings/{}/{what}", w.view.id);
    let statuses: Vec<(&str, &str)> = FollowUpStatus::ALL
        .iter()
        .map(|s| (s.as_str(), status_text(l, s.as_str())))
        .collect();
    let assignees: Vec<(&str, &str)> = p
        .assignees
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let body = html! {
        div class="card" {
            dl class="grid" {
                dt { (l.t("规则", "Rule")) } dd { (rule_label(c, &w.view.rule)) " " span class="muted" { (w.view.rule) } }
                dt { (l.t("单位", "Node")) } dd { (p.node_name) " " span class="muted" { (w.view.node) } }
                dt { (l.t("说明", "What")) } dd { (w.text_in(lang(l))) }
                dt { (l.t("金额（元）", "Amount (yuan)")) }
                dd { (w.view.amount.map(|a| a.to_string()).unwrap_or_else(|| "—".to_owned())) }
                dt { (l.t("截至", "As of")) } dd { (w.view.as_of) }
                dt { (l.t("发出", "Raised")) } dd { (w.view.origin) " · " (datetime(w.view.raised_ms)) }
                dt { (l.t("状态", "State")) }
                dd {
                    @if w.view.open {
                        b { (l.t("未处理", "open")) }
                    } @else {
                        (l.t("已解除", "resolved")) " " (w.view.resolved_as_of.as_deref().unwrap_or_default())
                        @if let Some(r) = w.resolution_in(lang(l)) {
                            "：" (r)
                        }
                    }
                }
                dt { (l.t("整改", "Follow-up")) } dd { (follow_up_cell(l, w)) }
                @if let Some(f) = &w.view.follow_up {
                    dt { (l.t("核实情况", "Verification")) } dd { (if f.verification.is_empty() { "—" } else { f.verification.as_str() }) }
                    dt { (l.t("整改措施", "Rectification")) } dd { (if f.rectification.is_empty() { "—" } else { f.rectification.as_str() }) }
                }
            }
        }
        h2 { (l.t("整改记录", "Follow-up history")) }
        @if p.steps.is_empty() {
            p class="muted" { (l.t("暂无", "None")) }
        } @else {
            table {
                thead { tr {
                    th { (l.t("时间", "When")) }
                    th { (l.t("经办人", "By")) }
                    th { (l.t("事项", "Step")) }
                    th { (l.t("内容", "Detail")) }
                } }
                tbody {
                    @for s in &p.steps {
                        tr {
                            td { (s.dated) br; span class="muted" { (datetime(s.at_ms)) } }
                            td { (s.actor_name) " " span class="muted" { (s.actor_login) } }
                            td { (step_kind(l, s)) }
                            td {
                                @if s.kind == "assigned" {
                                    (l.t("责任人 ", "to ")) (s.assignee_name) " (" (s.assignee) ")"
                                    (l.t("，期限 ", ", due ")) (s.deadline.as_deref().unwrap_or_default())
                                    @if !s.note.is_empty() { br; (s.note) }
                                } @else {
                                    @if !s.verification.is_empty() {
                                        (l.t("核实情况：", "Verified: ")) (s.verification) br;
                                    }
                                    @if !s.rectification.is_empty() {
                                        (l.t("整改措施：", "Rectification: ")) (s.rectification)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if p.ours && w.view.open && may(Permission::ManageWarnings) {
            h2 { (l.t("指派整改", "Assign the follow-up")) }
            div class="card" {
                @if let Some(e) = &p.assign.error { p class="field-error" { (e.text(l)) } }
                (post_form(&action("assign"), csrf, html! {
                    div class="stack" {
                        (field(l, &Field::select("assignee", l.t("责任人", "Assignee"), &assignees)
                            .value(&p.assign.assignee).required().error(p.assign.assignee_error.as_ref())))
                        (field(l, &Field::input("deadline", l.t("整改期限", "Deadline"), InputKind::Date)
                            .value(&p.assign.deadline).required().error(p.assign.deadline_error.as_ref())))
                        (field(l, &Field::input("note", l.t("要求", "Note"), InputKind::Text)
                            .value(&p.assign.note).error(p.assign.note_error.as_ref())))
                        div { (submit(l.t("指派", "Assign"))) }
                    }
                }))
            }
        }
        @if p.ours && w.view.open && w.view.follow_up.is_some() && p.may_answer {
            h2 { (l.t("填报整改情况", "Record the follow-up")) }
            div class="card" {
                @if let Some(e) = &p.record.error { p class="field-error" { (e.text(l)) } }
                (post_form(&action("follow-up"), csrf, html! {
                    div class="stack" {
                        (field(l, &Field::select("status", l.t("整改状态", "Status"), &statuses)
                            .value(&p.record.status).required().error(p.record.status_error.as_ref())))
                        (field(l, &Field::textarea("verification", l.t("核实情况", "Verification"), 4)
                            .value(&p.record.verification).error(p.record.verification_error.as_ref())))
                        (field(l, &Field::textarea("rectification", l.t("整改措施", "Rectification"), 4)
                            .value(&p.record.rectification).error(p.record.rectification_error.as_ref())))
                        div { (submit(l.t("提交", "Submit"))) }
                    }
                }))
            }
        }
        p class="sub" { a href="/warnings" { (l.t("返回预警列表", "Back to the warnings")) } }
    };
    page(c, Nav::Warnings, l.t("预警详情", "Warning"), body)
}

fn parse_id(ctx: &Ctx, id: &str) -> Result<EntryId, WebError> {
    let _ = ctx;
    id.parse()
        .map_err(|_| WebError::not_found("没有这条预警", "No such warning", id))
}

async fn warning_data(
    ctx: &Ctx,
    s: &AppState,
    id: EntryId,
    assign: AssignView,
    record: RecordView,
) -> Result<WarningPage, WebError> {
    let scope = reader_scope(ctx, s).await?;
    let w =
        s.ledger.warning(id, scope.as_ref()).await?.ok_or_else(|| {
            WebError::not_found("没有这条预警", "No such warning", &id.to_string())
        })?;
    let me = s.ledger.identity().code;
    let ours = id.origin == me;
    let mut assignees = Vec::new();
    if ours
        && ctx
            .chrome
            .who
            .as_ref()
            .is_some_and(|w| w.may(Permission::ManageWarnings))
    {
        let users = s.accounts.users().await.map_err(|e| {
            tracing::error!(error = %e, "cannot list the users");
            WebError {
                error: crate::http::ApiError::internal(),
                zh: "内部错误，请查看节点日志",
                en: "Internal error; see the node's log",
            }
        })?;
        for u in users.into_iter().filter(|u| !u.disabled) {
            if let Some(d) = follow_up::desk_of(&u) {
                let desk = match ctx.chrome.lang {
                    Lang::Zh => d.zh(),
                    Lang::En => d.as_str(),
                };
                assignees.push((u.login.clone(), format!("{}（{desk}）", u.name)));
            }
        }
    }
    let may_answer = match (&w.follow_up, &ctx.user) {
        (Some(f), Some(u)) => {
            Permission::FollowUp.granted_by(&u.roles)
                && (u.login == f.assignee || f.desk.parse::<Role>().is_ok_and(|d| u.has(d)))
        }
        _ => false,
    };
    let node_name = s
        .ledger
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.code == w.node)
        .map(|n| n.name)
        .unwrap_or_default();
    let mut record = record;
    if record.status.is_empty() {
        if let Some(f) = &w.follow_up {
            record.status = f.status.clone();
        }
    }
    Ok(WarningPage {
        steps: s.ledger.follow_up_steps(id).await?,
        warning: WarningShown::of(w),
        node_name,
        ours,
        assignees,
        may_answer,
        assign,
        record,
    })
}

async fn warning_page(ctx: Ctx, State(s): S, Path(id): Path<String>) -> Response {
    let r = match parse_id(&ctx, &id) {
        Ok(id) => warning_data(&ctx, &s, id, AssignView::default(), RecordView::default())
            .await
            .map(|p| warning_render(&ctx.chrome, &p)),
        Err(e) => Err(e),
    };
    ctx.respond(r)
}

/// Shows the warning's page again with the refusal (422): nothing was
/// recorded.
async fn refused_form(
    ctx: Ctx,
    s: &AppState,
    id: EntryId,
    assign: AssignView,
    record: RecordView,
) -> Response {
    let r = warning_data(&ctx, s, id, assign, record)
        .await
        .map(|p| warning_render(&ctx.chrome, &p));
    let ok = r.is_ok();
    let mut res = ctx.respond(r);
    if ok {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

fn field_error(e: &FollowUpError) -> FieldError {
    FieldError::new(e.zh(), e.to_string())
}

#[derive(Debug, Deserialize)]
struct AssignForm {
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    note: String,
}

async fn assign_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Response {
    let id = match parse_id(&ctx, &id) {
        Ok(id) => id,
        Err(e) => return ctx.respond(Err(e)),
    };
    let mut v = AssignView {
        assignee: f.assignee.trim().to_owned(),
        deadline: f.deadline.trim().to_owned(),
        note: f.note.clone(),
        ..AssignView::default()
    };
    if v.assignee.is_empty() {
        v.assignee_error = Some(FieldError::new("请选择责任人", "Choose an assignee"));
    }
    let deadline = v.deadline.parse::<chrono::NaiveDate>().ok();
    if deadline.is_none() {
        v.deadline_error = Some(FieldError::new(
            "请输入有效日期，如 2026-12-31",
            "Enter a date such as 2026-12-31",
        ));
    }
    let Some(deadline) = deadline.filter(|_| v.assignee_error.is_none()) else {
        return refused_form(ctx, &s, id, v, RecordView::default()).await;
    };
    match follow_up::assign(
        &s.ledger,
        &s.accounts,
        &who,
        id,
        &v.assignee,
        deadline,
        &f.note,
    )
    .await
    {
        Ok(_) => see_other(&format!("/warnings/{id}")),
        Err(e) => {
            if let FollowUpError::Ledger(l) = &e {
                tracing::warn!(error = %l, "follow-up assignment refused");
            }
            let fe = field_error(&e);
            match e.field() {
                Some("assignee") => v.assignee_error = Some(fe),
                Some("deadline") => v.deadline_error = Some(fe),
                Some("note") => v.note_error = Some(fe),
                _ => v.error = Some(fe),
            }
            refused_form(ctx, &s, id, v, RecordView::default()).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct RecordForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    rectification: String,
}

async fn record_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Extension(u): Extension<User>,
    Path(id): Path<String>,
    Form(f): Form<RecordForm>,
) -> Response {
    let id = match parse_id(&ctx, &id) {
        Ok(id) => id,
        Err(e) => return ctx.respond(Err(e)),
    };
    let mut v = RecordView {
        status: f.status.trim().to_owned(),
        verification: f.verification.clone(),
        rectification: f.rectification.clone(),
        ..RecordView::default()
    };
    let Ok(status) = v.status.parse::<FollowUpStatus>() else {
        v.status_error = Some(FieldError::new(
            "请选择整改状态：待核实、整改中、已整改或不属实",
            "Choose a status: to verify, being rectified, rectified or unfounded",
        ));
        return refused_form(ctx, &s, id, AssignView::default(), v).await;
    };
    match follow_up::record(
        &s.ledger,
        &u,
        &who,
        id,
        status,
        &f.verification,
        &f.rectification,
    )
    .await
    {
        Ok(_) => see_other(&format!("/warnings/{id}")),
        Err(e) => {
            let fe = field_error(&e);
            match e.field() {
                Some("verification") => v.verification_error = Some(fe),
                Some("rectification") => v.rectification_error = Some(fe),
                Some("status") => v.status_error = Some(fe),
                _ => v.error = Some(fe),
            }
            let mut res = refused_form(ctx, &s, id, AssignView::default(), v).await;
            if matches!(e, FollowUpError::NotYours { .. }) {
                *res.status_mut() = StatusCode::FORBIDDEN;
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::query::{FollowUpView, WarningView};
    use crate::web::layout::test_chrome as chrome;

    fn view(rule: &str, message: &str) -> WarningView {
        WarningView {
            id: "652822-9".into(),
            origin: "652822".into(),
            rule: rule.into(),
            subject: "allocation:652800-3".into(),
            node: "652822".into(),
            message: message.into(),
            stored_params: None,
            amount: Some("53994.60".parse().expect("amount")),
            as_of: "2020-07-01".into(),
            raised_ms: 0,
            open: true,
            resolved_by: None,
            resolved_ms: None,
            resolved_as_of: None,
            resolution: None,
            follow_up: None,
        }
    }

    const IDLE: &str = "巴财农〔2020〕3号 (C-01): 53994.60 yuan idle: no payment or issue since 2020-04-02 (91 days)";

    #[test]
    fn counts_are_separated_without_a_trailing_dot_and_an_empty_list_says_none() {
        let p = WarningsPage {
            open_by_rule: BTreeMap::from([("idle_funds".to_owned(), 3), ("x<y".to_owned(), 1)]),
            open: true,
            ..WarningsPage::default()
        };
        let s = warnings_body(&chrome(Lang::Zh), &p).into_string();
        assert!(
            s.contains(">资金闲置 3</a> · <a href=\"/warnings?rule=x%3Cy\">x&lt;y 1</a></p>"),
            "{s}"
        );
        assert!(s.contains("<p class=\"muted\">暂无</p>"), "{s}");
        let none = warnings_body(
            &chrome(Lang::Zh),
            &WarningsPage {
                open: true,
                ..WarningsPage::default()
            },
        )
        .into_string();
        assert!(none.contains("暂无未处理的预警") && none.contains(">暂无</p>"));
    }

    #[test]
    fn old_english_warnings_show_in_chinese_with_their_follow_up() {
        let mut v = view("idle_funds", IDLE);
        v.follow_up = Some(FollowUpView {
            assignee: "li".into(),
            assignee_name: "李四".into(),
            desk: "treasury".into(),
            deadline: "2026-12-01".into(),
            status: "rectifying".into(),
            verification: "属实".into(),
            rectification: String::new(),
            updated_on: "2026-11-01".into(),
            overdue: true,
        });
        let p = WarningsPage {
            items: vec![WarningShown::of(v)],
            open: true,
            ..WarningsPage::default()
        };
        let s = warnings_body(&chrome(Lang::Zh), &p).into_string();
        assert!(
            s.contains(
                "巴财农〔2020〕3号（C-01）53994.60 元闲置：自 2020-04-02 起 91 天无支付或下达"
            ),
            "{s}"
        );
        assert!(!s.contains("yuan idle"), "{s}");
        assert!(s.contains("整改中 · 李四"), "{s}");
        assert!(s.contains("期限 2026-12-01"), "{s}");
        assert!(s.contains("逾期"), "{s}");
        assert!(s.contains("href=\"/warnings/652822-9\""), "{s}");
        let en = warnings_body(&chrome(Lang::En), &p).into_string();
        assert!(en.contains(IDLE), "{en}");
        assert!(en.contains("overdue"), "{en}");
    }

    #[test]
    fn a_resolved_warning_shows_why_in_chinese() {
        let mut v = view("idle_funds", IDLE);
        v.open = false;
        v.resolved_as_of = Some("2020-08-01".into());
        v.resolution =
            Some("the balance is spent, passed on or moving again (as of 2020-08-01)".into());
        let p = WarningsPage {
            items: vec![WarningShown::of(v)],
            open: false,
            ..WarningsPage::default()
        };
        let s = warnings_body(&chrome(Lang::Zh), &p).into_string();
        assert!(
            s.contains("资金已支出、下达或恢复使用（截至 2020-08-01）"),
            "{s}"
        );
    }

    #[test]
    fn the_detail_page_has_both_forms_with_the_csrf_field_and_errors_by_their_field() {
        let mut v = view("idle_funds", IDLE);
        v.follow_up = Some(FollowUpView {
            assignee: "zhang".into(),
            assignee_name: "张三".into(),
            desk: "treasury".into(),
            deadline: "2026-12-01".into(),
            status: "pending".into(),
            verification: String::new(),
            rectification: String::new(),
            updated_on: "2026-11-01".into(),
            overdue: false,
        });
        let p = WarningPage {
            warning: WarningShown::of(v),
            steps: vec![],
            node_name: "轮台县".into(),
            ours: true,
            assignees: vec![("zhang".into(), "张三（国库支付）".into())],
            may_answer: true,
            assign: AssignView {
                deadline_error: Some(FieldError::new("整改期限不能早于今天", "past")),
                ..AssignView::default()
            },
            record: RecordView::default(),
        };
        let s = warning_render(&chrome(Lang::Zh), &p).into_string();
        assert!(s.contains("action=\"/warnings/652822-9/assign\""), "{s}");
        assert!(s.contains("action=\"/warnings/652822-9/follow-up\""), "{s}");
        assert_eq!(
            s.matches("name=\"csrf_token\" value=\"t\"").count(),
            3,
            "logout, assign, answer: {s}"
        );
        assert!(
            s.contains("id=\"f-deadline-error\">整改期限不能早于今天"),
            "{s}"
        );
        assert!(
            s.contains("<option value=\"rectified\">已整改</option>"),
            "{s}"
        );
        assert!(s.contains("张三（国库支付）"), "{s}");
        assert!(s.contains("暂无"), "{s}");
    }
}
