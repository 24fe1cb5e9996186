//! 公示台账 and the publish form, for officers: `/publications`, every notice
//! this node and (rolled up) its subtree published, what, when and by whom
//! (ReadLedger); `/publications/{id}`, one notice with the records it made
//! public as it copied them; `/publications/new`, the form that publishes
//! (Permission::Publish: the lead office and the allocation desk): choose
//! what (allocation results or projects), narrow the candidates (dates,
//! township), tick the records, give the notice's 文号, title and date. The
//! form offers only this node's own records that are not classified (涉密)
//! and ticks those no notice has published yet; the ledger checks it all
//! again (`results_published`). A refused form says why by the field, in
//! Chinese, and records nothing; the same notice sent twice records once
//! (its 文号 is the natural key).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::NaiveDate;
use fundsync_protocol::body::{
    PublicationScope, ResultsPublished, CODE_CHARS_MAX, PUBLISHED_RECORDS_MAX, TEXT_CHARS_MAX,
};
use fundsync_protocol::{Body, EntryId, ErrorCode, NodeCode};
use maud::{html, Markup};

use super::form::{field, filter_form, hidden, post_form, submit, Field, FieldError, InputKind};
use super::html::{url, url_encode};
use super::layout::{page, Chrome, Nav};
use super::lists::actor;
use super::projects::status_label;
use super::public::scope_label;
use super::text::{datetime, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::http::auth::see_other;
use crate::http::{Acting, AppState, Routes};
use crate::ledger::query::{
    CandidateFilter, Page, Paged, PublicAllocation, PublicAllocationFilter, PublicProject,
    PublicProjectFilter, PublicationFilter, PublicationView, PublishCandidate, PAGE_SIZE_MAX,
};
use crate::ledger::{LedgerError, Outcome};

type S = State<Arc<AppState>>;

/// The 公示台账 and the publish form.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/publications", P::ReadLedger, list_page)
        .get("/publications/new", P::Publish, new_page)
        .post("/publications/new", P::Publish, new_submit)
        .get("/publications/{id}", P::ReadLedger, detail_page)
}

fn scope_options(l: Lang) -> Vec<(&'static str, &'static str)> {
    PublicationScope::ALL
        .iter()
        .map(|s| (s.as_str(), scope_label(l, s.as_str())))
        .collect()
}

fn name<'a>(names: &'a HashMap<String, String>, code: &'a str) -> &'a str {
    names.get(code).map_or(code, String::as_str)
}

fn detail_href(id: &str) -> String {
    format!("/publications/{}", url_encode(id))
}

// ---------------------------------------------------------------- list

/// `/publications`' data.
#[derive(Debug)]
pub struct ListPage {
    pub got: Paged<PublicationView>,
    pub filters: Vec<(String, String)>,
    pub names: HashMap<String, String>,
    /// The reader may publish.
    pub may_publish: bool,
}

fn param<'a>(filters: &'a [(String, String)], key: &str) -> &'a str {
    filters
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// `/publications`.
pub fn list_render(c: &Chrome, p: &ListPage) -> Markup {
    let l = c.lang;
    let scopes: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(scope_options(l))
        .collect();
    let mut nodes: Vec<(&str, &str)> = p
        .names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    nodes.sort_unstable();
    let nodes: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(nodes)
        .collect();
    let link = |page: u32| {
        let mut q: Vec<(&str, String)> = p
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.push(("page", page.to_string()));
        q.push(("page_size", p.got.page_size.to_string()));
        url("/publications", &q)
    };
    let body = html! {
        p {
            @if p.may_publish {
                a class="button" href="/publications/new" { (l.t("发布公示", "Publish")) } " "
            }
            a href="/public" { (l.t("查看公开页面", "The public pages")) }
        }
        p class="sub" {
            (l.t("公示台账：本级及下级发布的每一次公告公示，公示了什么、何时、由谁发布。",
                 "Every notice this node and the nodes below it published: what, when and by whom."))
        }
        div class="card" {
            (filter_form("/publications", html! {
                (field(l, &Field::select("origin", l.t("发布单位", "Published by"), &nodes).value(param(&p.filters, "origin"))))
                (field(l, &Field::select("scope", l.t("公示内容", "Contents"), &scopes).value(param(&p.filters, "scope"))))
                div { (submit(l.t("筛选", "Filter"))) " " a href="/publications" { (l.t("清除筛选", "clear")) } }
            }))
        }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("公示日期", "Published on")) }
                    th { (l.t("公示文号", "Notice no.")) }
                    th { (l.t("标题", "Title")) }
                    th { (l.t("公示内容", "Contents")) }
                    th class="num" { (l.t("条数", "Records")) }
                    th { (l.t("发布单位", "Published by")) }
                    th { (l.t("发布人", "Recorded by")) }
                    th { (l.t("登记时间", "Recorded at")) }
                } }
                tbody {
                    @for v in &p.got.items {
                        @let n = &v.notice;
                        tr {
                            td class="nowrap" { (n.published_on) }
                            td class="nowrap" { a href=(detail_href(&n.id)) { (n.doc_no) } }
                            td { (n.title) }
                            td class="nowrap" { (scope_label(l, &n.scope)) }
                            td class="num" { (n.records) }
                            td class="nowrap" { (name(&p.names, &n.origin)) }
                            td class="nowrap" { (actor(l, v.actor.as_ref())) }
                            td class="nowrap" { (datetime(v.recorded_ms)) }
                        }
                    }
                    @if p.got.items.is_empty() {
                        tr { td colspan="8" class="muted" { (l.t("暂无公示", "Nothing published yet")) } }
                    }
                }
            }
        }
        div class="pager" {
            @if p.got.page > 1 {
                a href=(link(p.got.page - 1)) { "← " (l.t("上一页", "Previous")) }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (p.got.page) " " (l.t("页", "")) " · "
                (p.got.items.len()) " " (l.t("条", "rows"))
            }
            @if p.got.has_more {
                a href=(link(p.got.page + 1)) { (l.t("下一页", "Next")) " →" }
            }
        }
    };
    page(
        c,
        Nav::Publications,
        l.t("公示台账", "Disclosure register"),
        body,
    )
}

async fn list_page(ctx: Ctx, State(s): S) -> Response {
    let r = list_data(&ctx, &s)
        .await
        .map(|p| list_render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn list_data(ctx: &Ctx, s: &AppState) -> Result<ListPage, WebError> {
    let scope = match ctx.param("scope") {
        Some(v) => Some(
            v.parse::<PublicationScope>()
                .map_err(|_| WebError::bad_param("scope", v))?,
        ),
        None => None,
    };
    let filter = PublicationFilter {
        origin: ctx.parsed::<NodeCode>("origin")?,
        scope,
    };
    let got = s.ledger.publications(filter, ctx.page()?).await?;
    Ok(ListPage {
        got,
        filters: ctx.filters(&["origin", "scope"]),
        names: super::node_names(&s.ledger).await?,
        may_publish: ctx
            .chrome
            .who
            .as_ref()
            .is_some_and(|w| w.may(Permission::Publish)),
    })
}

// ---------------------------------------------------------------- detail

/// One notice with its records.
#[derive(Debug)]
pub struct DetailPage {
    pub publication: PublicationView,
    pub allocations: Vec<PublicAllocation>,
    pub projects: Vec<PublicProject>,
    pub names: HashMap<String, String>,
    /// Just published (after the form's redirect): new, or the same notice
    /// again.
    pub done: Option<(&'static str, &'static str)>,
}

/// `/publications/{id}`.
pub fn detail_render(c: &Chrome, d: &DetailPage) -> Markup {
    let l = c.lang;
    let v = &d.publication;
    let n = &v.notice;
    let public = if n.scope == PublicationScope::Projects.as_str() {
        "/public/projects"
    } else {
        "/public/allocations"
    };
    let body = html! {
        @if let Some((zh, en)) = d.done {
            div class="note" { (l.t(zh, en)) }
        }
        div class="card" {
            dl class="grid" {
                dt { (l.t("公示文号", "Notice no.")) } dd { (n.doc_no) }
                dt { (l.t("公示日期", "Published on")) } dd { (n.published_on) }
                dt { (l.t("公示内容", "Contents")) } dd { (scope_label(l, &n.scope)) }
                dt { (l.t("条数", "Records")) } dd { (n.records) }
                dt { (l.t("发布单位", "Published by")) } dd { (name(&d.names, &n.origin)) " (" (n.origin) ")" }
                dt { (l.t("发布人", "Recorded by")) } dd { (actor(l, v.actor.as_ref())) }
                dt { (l.t("登记时间", "Recorded at")) } dd { (datetime(v.recorded_ms)) }
                dt { (l.t("公开页面", "Public page")) }
                dd { a href=(url(public, &[("publication", n.id.clone())])) { (l.t("查看", "Open")) } }
            }
        }
        h2 { (l.t("公示的记录", "What it made public")) }
        div class="scroll" {
            @if n.scope == PublicationScope::Projects.as_str() {
                table {
                    thead { tr {
                        th { (l.t("乡镇", "Township")) }
                        th { (l.t("村", "Village")) }
                        th { (l.t("项目编码", "Code")) }
                        th { (l.t("项目名称", "Project")) }
                        th class="num" { (l.t("项目资金（元）", "Funds (yuan)")) }
                        th class="num" { (l.t("已使用（元）", "Paid (yuan)")) }
                        th { (l.t("状态", "Status")) }
                    } }
                    tbody {
                        @for p in &d.projects {
                            tr {
                                td { (p.township) }
                                td { (p.village) }
                                td class="nowrap" { a href=(super::projects::detail_href(&p.node, &p.code)) { (p.code) } }
                                td { (p.name) }
                                td class="num" { (yuan(p.budget)) }
                                td class="num" { (yuan(p.paid)) }
                                td class="nowrap" { (status_label(l, &p.status)) }
                            }
                        }
                    }
                }
            } @else {
                table {
                    thead { tr {
                        th { (l.t("下达日期", "Date")) }
                        th { (l.t("指标文号", "Document no.")) }
                        th { (l.t("资金类别", "Fund category")) }
                        th { (l.t("接收单位", "Recipient")) }
                        th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                        th { (l.t("资金用途", "Purpose")) }
                    } }
                    tbody {
                        @for a in &d.allocations {
                            tr {
                                td class="nowrap" { (a.dated) }
                                td class="nowrap" { a href=(url("/allocations", &[("source", a.allocation.clone())])) { (a.doc_no) } }
                                td { (a.category_name) }
                                td class="nowrap" { (a.recipient_name) }
                                td class="num" { (yuan(a.amount)) }
                                td { (a.purpose) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(c, Nav::Publications, &n.title, body)
}

async fn detail_page(ctx: Ctx, State(s): S, Path(id): Path<String>) -> Response {
    let r = detail_data(&ctx, &s, &id)
        .await
        .map(|d| detail_render(&ctx.chrome, &d));
    ctx.respond(r)
}

async fn detail_data(ctx: &Ctx, s: &AppState, id: &str) -> Result<DetailPage, WebError> {
    let not_found = || WebError::not_found("没有这条公示", "No such notice", id);
    let id: EntryId = id.parse().map_err(|_| not_found())?;
    let publication = s.ledger.publication(id).await?.ok_or_else(not_found)?;
    let all = Page {
        page: 1,
        page_size: PAGE_SIZE_MAX,
    };
    let (allocations, projects) = if publication.notice.scope == PublicationScope::Projects.as_str()
    {
        let f = PublicProjectFilter {
            publication: Some(id),
            ..PublicProjectFilter::default()
        };
        (Vec::new(), s.ledger.public_projects(f, all).await?.items)
    } else {
        let f = PublicAllocationFilter {
            publication: Some(id),
            ..PublicAllocationFilter::default()
        };
        (s.ledger.public_allocations(f, all).await?.items, Vec::new())
    };
    let done = match ctx.param("done") {
        Some("published") => Some(("公示已发布。", "The notice is published.")),
        Some("existing") => Some((
            "该公示文号此前已发布，内容相同，未重复记录。",
            "This notice was published before with the same contents; nothing was recorded again.",
        )),
        _ => None,
    };
    Ok(DetailPage {
        publication,
        allocations,
        projects,
        names: super::node_names(&s.ledger).await?,
        done,
    })
}

// ---------------------------------------------------------------- publish

/// The publish form as typed, the candidates it offers, and why it was
/// refused (by field name).
#[derive(Debug, Clone)]
pub struct PublishForm {
    pub scope: PublicationScope,
    /// Candidate filters, carried through the POST.
    pub from: String,
    pub to: String,
    pub township: String,
    /// Offer records already published too.
    pub all: bool,
    pub doc_no: String,
    pub title: String,
    pub published_on: String,
    /// The ticked records; `None`: as offered (the unpublished ones).
    pub ticked: Option<Vec<String>>,
    pub candidates: Vec<PublishCandidate>,
    /// More candidates than one notice takes.
    pub more: bool,
    pub names: HashMap<String, String>,
    pub errors: HashMap<&'static str, FieldError>,
}

impl PublishForm {
    fn error(&self, k: &str) -> Option<&FieldError> {
        self.errors.get(k)
    }

    fn is_ticked(&self, c: &PublishCandidate) -> bool {
        match &self.ticked {
            Some(t) => t.contains(&c.id),
            None => !c.published,
        }
    }
}

/// `/publications/new`.
pub fn new_render(c: &Chrome, f: &PublishForm) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let scopes = scope_options(l);
    let projects = f.scope == PublicationScope::Projects;
    let body = html! {
        p class="sub" {
            (l.t("依照“两个一律”，本级下达的资金分配结果和本级项目库的项目安排、资金使用情况予以公示。只能公示本节点的记录；涉密资金不能公示，此处也不列出。",
                 "Under the \"two alls\", the allocation results this node issued and the projects of its library with their fund use are published. Only this node's own records; classified funds cannot be published and are not offered."))
        }
        div class="card" {
            (filter_form("/publications/new", html! {
                (field(l, &Field::select("scope", l.t("公示内容", "Contents"), &scopes).value(f.scope.as_str())))
                @if projects {
                    (field(l, &Field::input("township", l.t("乡镇", "Township"), InputKind::Text).value(&f.township)))
                } @else {
                    (field(l, &Field::input("from", l.t("下达日期自", "Dated from"), InputKind::Date).value(&f.from)))
                    (field(l, &Field::input("to", l.t("至", "to"), InputKind::Date).value(&f.to)))
                }
                label { (l.t("含已公示", "Include published")) input type="checkbox" name="all" value="1" checked[f.all]; }
                div { (submit(l.t("列出", "List"))) }
            }))
        }
        @if let Some(e) = f.error("form") {
            div class="note bad" { (e.text(l)) }
        }
        (post_form("/publications/new", csrf, html! {
            (hidden("scope", f.scope.as_str()))
            (hidden("from", &f.from))
            (hidden("to", &f.to))
            (hidden("township", &f.township))
            @if f.all { (hidden("all", "1")) }
            div class="card" {
                h2 { (l.t("公示信息", "The notice")) }
                div class="grid-form" {
                    (field(l, &Field::input("doc_no", l.t("公示文号", "Notice no."), InputKind::Text).value(&f.doc_no).required().error(f.error("doc_no"))))
                    (field(l, &Field::input("title", l.t("公示标题", "Title"), InputKind::Text).value(&f.title).required().error(f.error("title"))))
                    (field(l, &Field::input("published_on", l.t("公示日期", "Published on"), InputKind::Date).value(&f.published_on).required().error(f.error("published_on"))))
                }
            }
            div class="card" {
                h2 { (l.t("公示的记录", "Records to publish")) }
                @if let Some(e) = f.error("records") {
                    p class="field-error" id="f-records-error" { (e.text(l)) }
                }
                @if f.more {
                    p class="note" { (l.t("可公示的记录超过一次公示的上限，只列出前 1000 条；请缩小日期或乡镇范围。",
                                          "More records than one notice takes; only the first 1000 are listed. Narrow the dates or the township.")) }
                }
                div class="scroll" {
                    table {
                        thead { tr {
                            th { (l.t("公示", "Publish")) }
                            @if projects {
                                th { (l.t("项目编码", "Code")) }
                                th { (l.t("项目名称", "Project")) }
                                th { (l.t("乡镇/村", "Township/village")) }
                                th { (l.t("状态", "Status")) }
                                th class="num" { (l.t("项目资金（元）", "Funds (yuan)")) }
                            } @else {
                                th { (l.t("指标文号", "Document no.")) }
                                th { (l.t("下达日期", "Date")) }
                                th { (l.t("资金类别", "Fund category")) }
                                th { (l.t("接收单位", "Recipient")) }
                                th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                                th { (l.t("用途", "Purpose")) }
                            }
                            th { (l.t("已公示", "Published")) }
                        } }
                        tbody {
                            @for c in &f.candidates {
                                @let id = format!("r-{}", c.id);
                                tr {
                                    td { input type="checkbox" id=(id) name="record" value=(c.id) checked[f.is_ticked(c)]; }
                                    @if projects {
                                        td class="nowrap" { label for=(id) { (c.key) } }
                                        td { (c.label) }
                                        td { (c.detail) }
                                        td class="nowrap" { (status_label(l, &c.category)) }
                                        td class="num" { (yuan(c.amount)) }
                                    } @else {
                                        td class="nowrap" { label for=(id) { (c.key) } }
                                        td class="nowrap" { (c.detail) }
                                        td { (c.category) }
                                        td class="nowrap" { (name(&f.names, &c.recipient)) }
                                        td class="num" { (yuan(c.amount)) }
                                        td { (c.label) }
                                    }
                                    td { @if c.published { (l.t("是", "yes")) } }
                                }
                            }
                            @if f.candidates.is_empty() {
                                tr { td colspan="7" class="muted" { (l.t("没有可公示的记录", "Nothing to publish")) } }
                            }
                        }
                    }
                }
            }
            div { button type="submit" { (l.t("发布公示", "Publish")) } }
        }))
    };
    page(
        c,
        Nav::Publications,
        l.t("发布公示", "Publish a notice"),
        body,
    )
}

/// The form's scope and candidate filters from `get` (the query or the
/// form), with its candidates.
async fn candidates(
    s: &AppState,
    get: impl Fn(&str) -> Option<String>,
) -> Result<PublishForm, WebError> {
    let scope = match get("scope") {
        Some(v) => v
            .parse::<PublicationScope>()
            .map_err(|_| WebError::bad_param("scope", &v))?,
        None => PublicationScope::Allocations,
    };
    let date = |k: &str| -> Result<Option<NaiveDate>, WebError> {
        get(k)
            .map(|v| {
                NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| WebError::bad_param(k, &v))
            })
            .transpose()
    };
    let (from, to) = (date("from")?, date("to")?);
    let township = get("township").unwrap_or_default();
    let all = get("all").is_some();
    let limit = u32::try_from(PUBLISHED_RECORDS_MAX).unwrap_or(u32::MAX);
    let (candidates, more) = s
        .ledger
        .publish_candidates(
            CandidateFilter {
                scope,
                from,
                to,
                township: (!township.is_empty()).then(|| township.clone()),
                unpublished: !all,
            },
            limit,
        )
        .await?;
    Ok(PublishForm {
        scope,
        from: from.map(|d| d.to_string()).unwrap_or_default(),
        to: to.map(|d| d.to_string()).unwrap_or_default(),
        township,
        all,
        doc_no: String::new(),
        title: String::new(),
        published_on: s.ledger.clock().today().to_string(),
        ticked: None,
        candidates,
        more,
        names: super::node_names(&s.ledger).await?,
        errors: HashMap::new(),
    })
}

async fn new_page(ctx: Ctx, State(s): S) -> Response {
    let r = candidates(&s, |k| ctx.param(k).map(str::to_owned))
        .await
        .map(|f| new_render(&ctx.chrome, &f));
    ctx.respond(r)
}

/// What the ledger refused, in Chinese, by the field it is about.
fn ledger_error(e: &LedgerError) -> Option<(&'static str, FieldError)> {
    let en = e.to_string();
    let (k, zh) = match e {
        LedgerError::Conflict { .. } => (
            "doc_no",
            "该公示文号已发布过，且内容与本次不同；请核对或换用新的文号".to_owned(),
        ),
        LedgerError::NotPublishable { record, .. } => (
            "records",
            format!(
                "记录 {record} 不能公示：只能公示本节点下达的指标或本节点项目库的项目，涉密资金不能公示，且公示日期不能早于指标下达日期"
            ),
        ),
        LedgerError::DateOutOfRange { from, to, .. } => {
            ("published_on", format!("日期须在 {from} 至 {to} 之间"))
        }
        LedgerError::Body(_) => ("form", format!("内容有误：{en}")),
        LedgerError::Restored(r) => ("form", r.zh()),
        e if e.code() == ErrorCode::Internal => return None,
        _ => ("form", format!("无法发布：{en}")),
    };
    Some((k, FieldError::new(zh, en)))
}

async fn new_submit(
    ctx: Ctx,
    State(s): S,
    Acting(who): Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut f = match candidates(&s, get).await {
        Ok(f) => f,
        Err(e) => return ctx.respond(Err(e)),
    };
    f.doc_no = get("doc_no").unwrap_or_default();
    f.title = get("title").unwrap_or_default();
    f.published_on = get("published_on").unwrap_or_default();
    let ticked: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "record")
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    f.ticked = Some(ticked.clone());
    let bad = |v: &str, max: usize| v.chars().count() > max || v.chars().any(char::is_control);
    if f.doc_no.is_empty() {
        f.errors.insert(
            "doc_no",
            FieldError::new("请填写公示文号", "Enter the notice's number"),
        );
    } else if bad(&f.doc_no, CODE_CHARS_MAX) {
        f.errors.insert("doc_no", too_long(CODE_CHARS_MAX));
    }
    if f.title.is_empty() {
        f.errors.insert(
            "title",
            FieldError::new("请填写公示标题", "Enter the notice's title"),
        );
    } else if bad(&f.title, TEXT_CHARS_MAX) {
        f.errors.insert("title", too_long(TEXT_CHARS_MAX));
    }
    let on = NaiveDate::parse_from_str(&f.published_on, "%Y-%m-%d").ok();
    if on.is_none() {
        f.errors.insert(
            "published_on",
            FieldError::new("请填写日期，格式为 年-月-日", "Enter a date as YYYY-MM-DD"),
        );
    }
    let records: Option<Vec<EntryId>> = ticked.iter().map(|r| r.parse().ok()).collect();
    match &records {
        None => {
            f.errors.insert(
                "records",
                FieldError::new("所选记录有误，请重新选择", "A ticked record is not valid"),
            );
        }
        Some(r) if r.is_empty() => {
            f.errors.insert(
                "records",
                FieldError::new(
                    "请至少选择一条要公示的记录",
                    "Tick at least one record to publish",
                ),
            );
        }
        Some(r) if r.len() > PUBLISHED_RECORDS_MAX => {
            f.errors.insert(
                "records",
                FieldError::new(
                    format!("一次公示最多 {PUBLISHED_RECORDS_MAX} 条记录"),
                    format!("A notice holds at most {PUBLISHED_RECORDS_MAX} records"),
                ),
            );
        }
        Some(_) => {}
    }
    let (Some(on), Some(records), true) = (on, records, f.errors.is_empty()) else {
        return refused(ctx, &f);
    };
    let body = Body::ResultsPublished(ResultsPublished {
        doc_no: f.doc_no.clone(),
        title: f.title.clone(),
        scope: f.scope,
        published_on: on,
        records,
    });
    match s.ledger.submit_one(body, &who).await {
        Ok(Outcome::Created(id)) => {
            see_other(&format!("{}?done=published", detail_href(&id.to_string())))
        }
        Ok(Outcome::Existing(id)) => {
            see_other(&format!("{}?done=existing", detail_href(&id.to_string())))
        }
        Err(e) => match ledger_error(&e) {
            Some((k, err)) => {
                f.errors.insert(k, err);
                refused(ctx, &f)
            }
            None => {
                tracing::error!(error = %e, "a notice could not be published");
                ctx.respond(Err(e.into()))
            }
        },
    }
}

fn too_long(max: usize) -> FieldError {
    FieldError::new(
        format!("最多 {max} 个字，且不能含控制字符"),
        format!("At most {max} characters, no control characters"),
    )
}

/// The form again with why it was refused, 422.
fn refused(ctx: Ctx, f: &PublishForm) -> Response {
    let page = new_render(&ctx.chrome, f);
    let mut r = ctx.respond(Ok(page));
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn form() -> PublishForm {
        PublishForm {
            scope: PublicationScope::Allocations,
            from: String::new(),
            to: String::new(),
            township: String::new(),
            all: false,
            doc_no: "巴财公〔2020〕3号".into(),
            title: String::new(),
            published_on: "2020-05-06".into(),
            ticked: None,
            candidates: vec![
                PublishCandidate {
                    id: "652800-17".into(),
                    key: "巴财农〔2020〕12号".into(),
                    label: "地方政府债券".into(),
                    detail: "2020-04-29".into(),
                    category: "中央财政专项扶贫资金".into(),
                    recipient: "652822".into(),
                    amount: Decimal::from(62_000_000),
                    published: false,
                },
                PublishCandidate {
                    id: "652800-18".into(),
                    key: "巴财农〔2020〕13号".into(),
                    label: String::new(),
                    detail: "2020-04-29".into(),
                    category: "中央财政专项扶贫资金".into(),
                    recipient: "652823".into(),
                    amount: Decimal::from(40_000_000),
                    published: true,
                },
            ],
            more: false,
            names: [("652822".to_owned(), "轮台县".to_owned())].into(),
            errors: [(
                "title",
                FieldError::new("请填写公示标题", "Enter the title"),
            )]
            .into(),
        }
    }

    #[test]
    fn the_form_ticks_what_is_not_published_and_says_why_by_the_field() {
        let c = super::super::layout::test_chrome(Lang::Zh);
        let s = new_render(&c, &form()).into_string();
        assert!(s.contains("name=\"csrf_token\" value=\"t\""), "{s}");
        assert!(
            s.contains("value=\"652800-17\" checked") && !s.contains("value=\"652800-18\" checked"),
            "{s}"
        );
        assert!(s.contains("请填写公示标题") && s.contains("轮台县"), "{s}");
        let mut f = form();
        f.ticked = Some(vec!["652800-18".into()]);
        let s = new_render(&c, &f).into_string();
        assert!(
            !s.contains("value=\"652800-17\" checked") && s.contains("value=\"652800-18\" checked")
        );
    }
}
