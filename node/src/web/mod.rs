//! The node's web pages, for officers, auditors and operators: server-rendered
//! HTML on the API listener, Chinese by default (`?lang=en` switches to English
//! and a `lang` cookie remembers it), no JavaScript.
//!
//! Handlers are thin: they read the ledger and hand plain data to the
//! rendering functions (`overview`, `operations`, `ledger`, `lists`, `trace`,
//! `warnings`),
//! which are unit-tested without a server. Every page is a `maud` template
//! (see [`html`] for how values are escaped), framed by [`layout::page`];
//! forms are built from the helpers of [`form`].

pub mod account;
pub mod carryover;
pub mod catalog;
pub mod desk;
pub mod evaluation;
pub mod export;
pub mod form;
pub mod html;
pub mod import;
pub mod layout;
pub mod ledger;
pub mod lists;
pub mod operations;
pub mod overview;
pub mod projects;
pub mod public;
pub mod publications;
pub mod report;
pub mod search;
pub mod security;
pub mod targets;
pub mod text;
pub mod trace;
pub mod warnings;

use std::collections::HashMap;
use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use fundsync_protocol::{EntryId, ErrorCode, NodeCode};

use crate::access::Permission;
use crate::http::auth::{client_addr, Authn, Via};
use crate::http::{ApiError, AppState, Routes};
use crate::ledger::query::{AllocationFilter, GroupBy, Page, PaymentFilter};
use crate::ledger::{Ledger, LedgerError};

use layout::{page, Chrome, Nav, Who};
use maud::{html, Markup};
use text::Lang;

/// Rows per list page unless `page_size` says otherwise (the ledger caps it).
pub const PAGE_SIZE_DEFAULT: u32 = 50;

/// The pages, each with the permission it needs; `crate::server` merges
/// them with the API's routes.
pub fn router() -> Routes {
    use Permission as P;
    let pages = Routes::pages(refused)
        .get("/", P::SignedIn, overview_page)
        .get("/operations", P::ReadHealth, operations_page)
        .get("/ledger", P::ReadLedger, ledger_page)
        .get("/allocations", P::ReadLedger, allocations_page)
        .get("/payments", P::ReadLedger, payments_page)
        .get("/trace/{id}", P::ReadLedger, trace_page)
        .get("/security/logins", P::ReadSecurityLog, security_logins_page)
        .get(
            "/security/operations",
            P::ReadSecurityLog,
            security_operations_page,
        );
    let pages = projects::routes(pages);
    let pages = desk::routes(pages);
    let pages = export::routes(pages);
    let pages = search::routes(pages);
    let pages = warnings::routes(pages);
    let pages = account::routes(pages);
    let pages = import::routes(pages);
    let pages = public::routes(pages);
    let pages = publications::routes(pages);
    let pages = carryover::routes(pages);
    let pages = catalog::routes(pages);
    let pages = targets::routes(pages);
    let pages = report::routes(pages);
    evaluation::routes(pages)
}

/// What a signed-in reader sees when a page refuses them (403: their roles
/// do not open it; CSRF: the form was stale or forged), in Chinese first.
pub(crate) fn refused(parts: &Parts, s: &AppState, e: &ApiError) -> Response {
    let (zh, en) = match e.code() {
        ErrorCode::Forbidden => ("您的角色无权访问此页", "Your roles do not open this page"),
        ErrorCode::CsrfFailed => (
            "表单已过期或来源不明，请刷新页面后重试",
            "The form is stale or was not sent from this site; reload and try again",
        ),
        _ => ("无法完成请求", "The request cannot be completed"),
    };
    let ctx = Ctx::of(parts, s);
    ctx.respond(Err(WebError {
        error: ApiError::new(e.status(), e.code(), e.message()),
        zh,
        en,
    }))
}

type S = State<Arc<AppState>>;

/// Why a page could not be shown: the node's one HTTP error ([`ApiError`]:
/// status, code, message) and a headline in both languages.
#[derive(Debug)]
pub struct WebError {
    error: ApiError,
    zh: &'static str,
    en: &'static str,
}

impl WebError {
    fn bad_param(name: &str, value: &str) -> WebError {
        WebError {
            error: ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                format!("{name} = {value:?}"),
            ),
            zh: "参数有误",
            en: "Bad parameter",
        }
    }
    fn not_found(zh: &'static str, en: &'static str, what: &str) -> WebError {
        WebError {
            error: ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, what),
            zh,
            en,
        }
    }
    /// What the page shows under the headline: nothing for the node's own
    /// failures, whose cause is in its log.
    fn detail(&self) -> &str {
        match self.error.code() {
            ErrorCode::Internal => "",
            _ => self.error.message(),
        }
    }
}

/// A page never answers 409 or 400 for what the ledger refused: any query
/// it cannot answer is 422, the node's own failure 500.
impl From<LedgerError> for WebError {
    fn from(e: LedgerError) -> WebError {
        let error = ApiError::from(e);
        if error.code() == ErrorCode::LedgerRestored {
            return WebError {
                error,
                zh: crate::ledger::restored::RESTORED_ZH,
                en: "This node's ledger was restored from a backup; nothing is recorded until it has taken its entries back",
            };
        }
        if error.code() == ErrorCode::Internal {
            return WebError {
                error,
                zh: "内部错误，请查看节点日志",
                en: "Internal error; see the node's log",
            };
        }
        WebError {
            error: ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                error.code(),
                error.message(),
            ),
            zh: "无法完成查询",
            en: "The query cannot be answered",
        }
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> WebError {
        LedgerError::from(e).into()
    }
}

/// The error page.
pub fn error_page(c: &Chrome, e: &WebError) -> Markup {
    let l = c.lang;
    let body = html! {
        div class="note bad" {
            p {
                b { (e.error.status().as_u16()) " " (e.error.status().canonical_reason().unwrap_or("")) }
                " · " (l.t(e.zh, e.en))
            }
            @if !e.detail().is_empty() {
                p { code { (e.detail()) } }
            }
        }
        p { a href="/" { (l.t("返回概览", "Back to the overview")) } }
    };
    page(
        c,
        Nav::None,
        l.t("无法显示此页", "This page cannot be shown"),
        body,
    )
}

/// The request as the pages see it: the language, the query and the frame.
#[derive(Debug)]
pub struct Ctx {
    pub chrome: Chrome,
    /// `?lang=` was given: remember it in the cookie.
    remember: Option<Lang>,
    /// The query could not be read as `key=value` pairs.
    bad_query: Option<String>,
    /// The client's address (the socket peer).
    pub addr: std::net::IpAddr,
    /// The signed-in reader, for narrowing lists to their scope.
    pub user: Option<crate::accounts::User>,
}

impl Ctx {
    /// A query parameter; empty values (an empty form field) count as absent.
    fn param(&self, key: &str) -> Option<&str> {
        self.chrome
            .query
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    fn parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, WebError> {
        self.param(key)
            .map(|v| v.parse().map_err(|_| WebError::bad_param(key, v)))
            .transpose()
    }

    /// The filters among the given keys, as given.
    fn filters(&self, keys: &[&str]) -> Vec<(String, String)> {
        keys.iter()
            .filter_map(|k| self.param(k).map(|v| ((*k).to_owned(), v.to_owned())))
            .collect()
    }

    fn page(&self) -> Result<Page, WebError> {
        Ok(Page {
            page: self.parsed("page")?.unwrap_or(1),
            page_size: self.parsed("page_size")?.unwrap_or(PAGE_SIZE_DEFAULT),
        })
    }

    /// The page, or the error page, as an HTTP response.
    pub(crate) fn respond(self, r: Result<Markup, WebError>) -> Response {
        let r = match self.bad_query.clone() {
            Some(q) => Err(WebError::bad_param("query", &q)),
            None => r,
        };
        let (status, body) = match r {
            Ok(h) => (StatusCode::OK, h),
            Err(e) => (e.error.status(), error_page(&self.chrome, &e)),
        };
        let mut res = (status, body.into_string()).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // No script at all; styles are inline.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
        if let Some(lang) = self.remember {
            let cookie = match lang {
                Lang::Zh => "lang=zh; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
                Lang::En => "lang=en; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            };
            h.insert(header::SET_COOKIE, HeaderValue::from_static(cookie));
        }
        res
    }
}

/// The language: `?lang=` first, then the `lang` cookie, else Chinese.
pub fn choose_lang(
    query: &[(String, String)],
    cookie_header: Option<&str>,
) -> (Lang, Option<Lang>) {
    let asked = query
        .iter()
        .rev()
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(v));
    if let Some(l) = asked {
        return (l, Some(l));
    }
    let from_cookie = cookie_header.and_then(|c| {
        c.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .filter(|(k, _)| *k == "lang")
            .find_map(|(_, v)| Lang::parse(v.trim()))
    });
    (from_cookie.unwrap_or_default(), None)
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx::of(parts, state))
    }
}

impl Ctx {
    /// The request's language, query, reader and frame.
    pub fn of(parts: &Parts, state: &AppState) -> Ctx {
        let (query, bad_query) =
            match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
                Ok(q) => (q.0, None),
                Err(_) => (Vec::new(), Some(parts.uri.query().unwrap_or("").to_owned())),
            };
        let cookie = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok());
        let (lang, remember) = choose_lang(&query, cookie);
        let me = state.ledger.identity();
        let user = parts
            .extensions
            .get::<Authn>()
            .and_then(Authn::caller)
            .map(|c| c.user.clone());
        let who = parts
            .extensions
            .get::<Authn>()
            .and_then(Authn::caller)
            .map(|c| Who {
                login: c.user.login.clone(),
                name: c.user.name.clone(),
                roles: c.user.roles.clone(),
                csrf: match c.via {
                    Via::Session => c.csrf.clone().unwrap_or_default(),
                    Via::Token => String::new(),
                },
            });
        Ctx {
            chrome: Chrome {
                lang,
                node_code: me.code.to_string(),
                node_name: me.name.clone(),
                level: me.level,
                path: parts.uri.path().to_owned(),
                query: query.into_iter().filter(|(k, _)| k != "lang").collect(),
                who,
            },
            remember,
            bad_query,
            addr: client_addr(parts),
            user,
        }
    }
}

async fn overview_page(ctx: Ctx, State(s): S) -> Response {
    let r = overview_data(&ctx, &s)
        .await
        .map(|o| overview::render(&ctx.chrome, &o));
    ctx.respond(r)
}

async fn overview_data(ctx: &Ctx, s: &AppState) -> Result<overview::Overview, WebError> {
    let may = |p: Permission| ctx.user.as_ref().is_some_and(|u| p.granted_by(&u.roles));
    let as_of = ctx
        .parsed::<NaiveDate>("as_of")?
        .unwrap_or_else(|| s.ledger.clock().today());
    let nodes = s.ledger.nodes().await?;
    let me = s.ledger.identity().code.to_string();
    // A reader without the ledger (an operator, an administrator) sees no
    // money, only the replication line.
    let seen = if may(Permission::ReadLedger) {
        visible_categories(ctx, s).await?
    } else {
        Some(Vec::new())
    };
    let summary = s
        .ledger
        .summary_in(as_of, &[GroupBy::Node], None, seen.as_deref())
        .await?;
    // Warnings are counted only for readers who see everything; a narrower
    // reader follows the link to the warnings page, which applies the scope.
    let everything = may(Permission::ReadLedger) && seen.is_none();
    let (by_rule, by_node) = if everything {
        let mut by_rule = std::collections::BTreeMap::new();
        let mut by_node: HashMap<String, i64> = HashMap::new();
        for (node, rule, n) in s.ledger.open_warning_counts_by_node().await? {
            *by_rule.entry(rule).or_insert(0) += n;
            *by_node.entry(node).or_insert(0) += n;
        }
        (Some(by_rule), by_node)
    } else {
        (None, HashMap::new())
    };
    let overdue: HashMap<String, i64> = if everything {
        s.ledger
            .overdue_follow_ups_by_node(s.ledger.clock().today())
            .await?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let (mut total, mut levels, mut children) =
        overview::lines(&me, &summary.rows, &nodes, &by_node, &overdue);
    if !everything {
        for l in std::iter::once(&mut total)
            .chain(levels.iter_mut())
            .chain(children.iter_mut())
        {
            l.warnings = None;
            l.overdue = None;
        }
    }
    let ops = operations_data(s).await?;
    let mut links: Vec<(operations::Replication, Vec<String>)> = operations::STATES
        .iter()
        .map(|st| (*st, Vec::new()))
        .collect();
    for n in ops.nodes.iter().filter(|n| n.code != me) {
        let st = n.replication(ops.now_ms).0;
        if let Some((_, names)) = links.iter_mut().find(|(s, _)| *s == st) {
            names.push(n.name.clone());
        }
    }
    Ok(overview::Overview {
        as_of,
        total,
        levels,
        children,
        warnings_by_rule: by_rule,
        links,
        may_operate: may(Permission::ReadHealth),
        money: may(Permission::ReadLedger),
    })
}

async fn operations_page(ctx: Ctx, State(s): S) -> Response {
    let r = operations_data(&s)
        .await
        .map(|o| operations::render(&ctx.chrome, &o));
    ctx.respond(r)
}

async fn operations_data(s: &AppState) -> Result<operations::Operations, WebError> {
    let ledger = &s.ledger;
    let heads: HashMap<String, u64> = ledger
        .heads()
        .await?
        .into_iter()
        .map(|h| (h.origin.to_string(), h.seq))
        .collect();
    let last = newest_entry_times(ledger).await?;
    let links = crate::sync::health::tree(ledger, None, crate::api::judging(s))
        .await?
        .links;
    let revoked: std::collections::HashSet<String> = links
        .iter()
        .filter(|v| v.state == crate::sync::LinkState::Revoked)
        .map(|v| v.node.clone())
        .collect();
    let mut reports: HashMap<String, operations::LinkReport> = links
        .into_iter()
        .filter_map(|v| {
            let r = v.report?;
            Some((
                v.node,
                operations::LinkReport {
                    state: v.state.as_str().to_owned(),
                    age_seconds: v.report_age_seconds.unwrap_or(0),
                    up_behind: r.up.entries_behind,
                    down_behind: r.down.entries_behind,
                    failures: r.consecutive_failures,
                },
            ))
        })
        .collect();
    let nodes = ledger
        .nodes()
        .await?
        .into_iter()
        .map(|n| operations::TreeNode {
            head_seq: heads.get(&n.code).copied(),
            last_ms: last.get(&n.code).copied(),
            report: reports.remove(&n.code),
            revoked: revoked.contains(&n.code),
            code: n.code,
            name: n.name,
            level: n.level,
            parent: n.parent,
        })
        .collect();
    let me = ledger.identity();
    let alarms = ledger
        .sync_alarms(crate::ledger::query::Page {
            page: 1,
            page_size: operations::ALARMS_SHOWN,
        })
        .await?
        .items;
    Ok(operations::Operations {
        me: me.code.to_string(),
        nodes,
        alarms,
        parent: me.parent.map(|p| p.to_string()),
        link: s.link.as_ref().map(|l| l.get()),
        restored: ledger.restored(),
        now_ms: ledger.clock().now_ms(),
    })
}

/// When each origin's newest entry held here was made. The head entry is
/// the newest (an origin stamps its entries in order), so this reads one row
/// per origin by primary key rather than `MAX(at_ms)` over the whole journal.
async fn newest_entry_times(ledger: &Ledger) -> Result<HashMap<String, i64>, WebError> {
    Ok(ledger.newest_entry_times().await?)
}

async fn ledger_page(ctx: Ctx, State(s): S) -> Response {
    let r = ledger_data(&ctx, &s)
        .await
        .map(|p| ledger::render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn ledger_data(ctx: &Ctx, s: &AppState) -> Result<ledger::LedgerPage, WebError> {
    let today = s.ledger.clock().today();
    let as_of = ctx.parsed::<NaiveDate>("as_of")?.unwrap_or(today);
    let group_by = match ctx.param("group_by") {
        Some(g) => ledger::parse_group_by(g).ok_or_else(|| WebError::bad_param("group_by", g))?,
        None => vec![GroupBy::Node],
    };
    let under = ctx.parsed::<NodeCode>("node")?;
    let nodes = s.ledger.nodes().await?;
    if let Some(u) = under {
        if !nodes.iter().any(|n| n.code == u.as_str()) {
            return Err(WebError::not_found(
                "该节点不在本辖区",
                "That node is not in this node's tree",
                u.as_str(),
            ));
        }
    }
    // Narrowed to the reader's categories (department, 涉密).
    let seen = visible_categories(ctx, s).await?;
    let summary = s
        .ledger
        .summary_in(as_of, &group_by, under, seen.as_deref())
        .await?;
    let chart = s
        .ledger
        .summary_in(
            as_of,
            &[GroupBy::Node, GroupBy::FundOrigin],
            under,
            seen.as_deref(),
        )
        .await?;
    Ok(ledger::LedgerPage {
        as_of,
        today,
        under: under.map(|u| u.to_string()),
        summary,
        chart,
        nodes,
        categories: categories(&s.ledger).await?,
    })
}

async fn categories(ledger: &Ledger) -> Result<HashMap<String, String>, WebError> {
    Ok(ledger
        .categories()
        .await?
        .into_iter()
        .map(|c| (c.code, c.name))
        .collect())
}

async fn node_names(ledger: &Ledger) -> Result<HashMap<String, String>, WebError> {
    Ok(ledger
        .nodes()
        .await?
        .into_iter()
        .map(|n| (n.code, n.name))
        .collect())
}

async fn allocations_page(ctx: Ctx, State(s): S) -> Response {
    let r = allocations_data(&ctx, &s)
        .await
        .map(|l| lists::allocations(&ctx.chrome, &l));
    ctx.respond(r)
}

async fn allocations_data(
    ctx: &Ctx,
    s: &AppState,
) -> Result<lists::Listing<crate::ledger::query::AllocationView>, WebError> {
    let filter = allocation_filter(ctx, s).await?;
    let page = ctx.page()?;
    let got = s.ledger.allocations(filter, page).await?;
    Ok(lists::Listing {
        items: got.items,
        page: got.page,
        has_more: got.has_more,
        page_size: got.page_size,
        filters: ctx.filters(ALLOCATION_FILTERS),
        names: node_names(&s.ledger).await?,
        categories: categories(&s.ledger).await?,
    })
}

/// The allocation list's filters, as query keys.
const ALLOCATION_FILTERS: &[&str] = &[
    "holder",
    "from_node",
    "kind",
    "category",
    "fund_origin",
    "source",
    "as_of",
];

/// The allocation list's filters from the query, in the reader's scope
/// (the page and its exports).
async fn allocation_filter(ctx: &Ctx, s: &AppState) -> Result<AllocationFilter, WebError> {
    Ok(AllocationFilter {
        holder: ctx.parsed("holder")?,
        from_node: ctx.parsed("from_node")?,
        kind: ctx.param("kind").map(str::to_owned),
        category: ctx.param("category").map(str::to_owned),
        fund_origin: ctx.param("fund_origin").map(str::to_owned),
        source: ctx.parsed::<EntryId>("source")?,
        as_of: ctx.parsed("as_of")?,
        categories: visible_categories(ctx, s).await?,
    })
}

/// The categories the reader may see (`None`: all); no reader, none.
async fn visible_categories(ctx: &Ctx, s: &AppState) -> Result<Option<Vec<String>>, WebError> {
    Ok(match &ctx.user {
        Some(u) => u.visible_categories(&s.ledger).await?,
        None => Some(Vec::new()),
    })
}

async fn payments_page(ctx: Ctx, State(s): S) -> Response {
    let r = payments_data(&ctx, &s)
        .await
        .map(|l| lists::payments(&ctx.chrome, &l));
    ctx.respond(r)
}

async fn payments_data(
    ctx: &Ctx,
    s: &AppState,
) -> Result<lists::Listing<crate::ledger::query::PaymentView>, WebError> {
    let filter = payment_filter(ctx, s).await?;
    let page = ctx.page()?;
    let got = s.ledger.payments(filter, page).await?;
    Ok(lists::Listing {
        items: got.items,
        page: got.page,
        has_more: got.has_more,
        page_size: got.page_size,
        filters: ctx.filters(PAYMENT_FILTERS),
        names: node_names(&s.ledger).await?,
        categories: HashMap::new(),
    })
}

/// The payment list's filters, as query keys.
const PAYMENT_FILTERS: &[&str] = &["origin", "allocation", "project", "voucher_no", "as_of"];

/// The payment list's filters from the query, in the reader's scope (the
/// page and its exports).
async fn payment_filter(ctx: &Ctx, s: &AppState) -> Result<PaymentFilter, WebError> {
    Ok(PaymentFilter {
        origin: ctx.parsed("origin")?,
        allocation: ctx.parsed::<EntryId>("allocation")?,
        project: ctx.param("project").map(str::to_owned),
        voucher_no: ctx.param("voucher_no").map(str::to_owned),
        as_of: ctx.parsed("as_of")?,
        categories: visible_categories(ctx, s).await?,
    })
}

async fn trace_page(ctx: Ctx, State(s): S, Path(id): Path<String>) -> Response {
    let r = trace_data(&ctx, &s, &id)
        .await
        .map(|t| trace::render(&ctx.chrome, &t));
    ctx.respond(r)
}

async fn trace_data(ctx: &Ctx, s: &AppState, id: &str) -> Result<trace::TracePage, WebError> {
    let id: EntryId = id.parse().map_err(|_| WebError::bad_param("payment", id))?;
    let trace = s.ledger.trace_payment(id).await?.ok_or_else(|| {
        WebError::not_found(
            "本节点没有这笔支付",
            "No such payment at this node",
            &id.to_string(),
        )
    })?;
    // The reader's scope (department, 涉密), as the payments list applies it.
    if let Some(seen) = visible_categories(ctx, s).await? {
        let category = trace.allocations.first().map(|a| &a.allocation.category);
        if !category.is_some_and(|c| seen.contains(c)) {
            return Err(WebError {
                error: ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Forbidden,
                    "the payment's fund category is outside your account's scope",
                ),
                zh: "这笔支付的资金类别不在您的职责范围内",
                en: "This payment's fund category is outside your scope",
            });
        }
    }
    let nodes = s
        .ledger
        .nodes()
        .await?
        .into_iter()
        .map(|n| (n.code, (n.name, n.level)))
        .collect();
    Ok(trace::TracePage {
        trace,
        nodes,
        categories: categories(&s.ledger).await?,
    })
}

async fn security_logins_page(ctx: Ctx, State(s): S) -> Response {
    security_page(ctx, &s, security::Log::Logins).await
}

async fn security_operations_page(ctx: Ctx, State(s): S) -> Response {
    security_page(ctx, &s, security::Log::Operations).await
}

/// Rows one CSV export holds at most; narrow the dates for more.
const SECURITY_CSV_ROWS_MAX: u32 = 100_000;

/// A date as the start of that day in China Standard Time, in ms.
fn cst_day_start_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
        .saturating_sub(8 * 3_600_000)
}

/// One of the two logs, as a page or (`format=csv`) a file.
async fn security_page(ctx: Ctx, s: &AppState, log: security::Log) -> Response {
    let csv = match ctx.param("format") {
        None | Some("html") => false,
        Some("csv") => true,
        Some(v) => {
            let e = WebError::bad_param("format", v);
            return ctx.respond(Err(e));
        }
    };
    let r = security_data(&ctx, s, log, csv).await;
    match r {
        Ok(p) if csv => match security::csv(ctx.chrome.lang, &p.rows, &p.names) {
            Some(bytes) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}\"", log.file_name()),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                bytes,
            )
                .into_response(),
            None => ctx.respond(Err(LedgerError::Overflow.into())),
        },
        r => {
            let page = r.map(|p| security::render(&ctx.chrome, &p));
            ctx.respond(page)
        }
    }
}

async fn security_data(
    ctx: &Ctx,
    s: &AppState,
    log: security::Log,
    all: bool,
) -> Result<security::SecurityPage, WebError> {
    let in_log = log.events();
    let events = match ctx.param("event") {
        None => in_log,
        Some(e) => match e.parse::<fundsync_protocol::body::SecurityEventKind>() {
            Ok(k) if in_log.contains(&k) => vec![k],
            _ => return Err(WebError::bad_param("event", e)),
        },
    };
    let from: Option<NaiveDate> = ctx.parsed("from")?;
    let to: Option<NaiveDate> = ctx.parsed("to")?;
    let page = ctx.page()?;
    let size = page.page_size.clamp(1, crate::ledger::query::PAGE_SIZE_MAX);
    let mut filter = crate::ledger::query::SecurityFilter {
        origin: ctx.parsed("origin")?,
        events,
        login: ctx.param("login").map(str::to_owned),
        from_ms: from.map(cst_day_start_ms),
        to_ms: to.and_then(|d| d.succ_opt()).map(cst_day_start_ms),
        limit: size.saturating_add(1),
        offset: (page.page.max(1) - 1).saturating_mul(size),
    };
    let (rows, has_more) = if all {
        // The whole selection, a page at a time.
        filter.limit = crate::ledger::query::PAGE_SIZE_MAX;
        filter.offset = 0;
        let mut rows = Vec::new();
        loop {
            let got = s.ledger.security_log(&filter).await?;
            let n = u32::try_from(got.len()).unwrap_or(u32::MAX);
            rows.extend(got);
            if n < filter.limit || filter.offset.saturating_add(n) >= SECURITY_CSV_ROWS_MAX {
                break;
            }
            filter.offset = filter.offset.saturating_add(n);
        }
        (rows, false)
    } else {
        let mut rows = s.ledger.security_log(&filter).await?;
        let more = rows.len() > usize::try_from(size).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        (rows, more)
    };
    Ok(security::SecurityPage {
        log,
        rows,
        page: page.page.max(1),
        page_size: size,
        has_more,
        filters: ctx.filters(&["from", "to", "event", "login", "origin"]),
        names: node_names(&s.ledger).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundsync_protocol::Level;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn language_comes_from_the_query_then_the_cookie() {
        assert_eq!(choose_lang(&[], None), (Lang::Zh, None));
        assert_eq!(
            choose_lang(&pairs(&[("lang", "en")]), None),
            (Lang::En, Some(Lang::En))
        );
        assert_eq!(choose_lang(&[], Some("a=b; lang=en")), (Lang::En, None));
        assert_eq!(
            choose_lang(&pairs(&[("lang", "zh")]), Some("lang=en")),
            (Lang::Zh, Some(Lang::Zh))
        );
        assert_eq!(
            choose_lang(&pairs(&[("lang", "xx")]), Some("lang=fr")),
            (Lang::Zh, None)
        );
    }

    #[test]
    fn the_switch_keeps_the_query_and_the_page_is_labelled() {
        let c = Chrome {
            lang: Lang::Zh,
            node_code: "650000".into(),
            node_name: "新疆维吾尔自治区".into(),
            level: Level::Region,
            path: "/ledger".into(),
            query: pairs(&[("as_of", "2020-12-31")]),
            who: layout::test_chrome(Lang::Zh).who,
        };
        let none = warnings::WarningsPage::default();
        let zh = warnings::render(&c, &none).into_string();
        assert!(zh.contains("<html lang=\"zh-CN\">"));
        assert!(zh.contains("暂无未处理的预警"));
        assert!(
            zh.contains("href=\"/ledger?as_of=2020-12-31&amp;lang=en\""),
            "{zh}"
        );
        assert!(
            zh.contains(">总台账</a>")
                && zh.contains(&format!(
                    "同步协议版本 {}",
                    fundsync_protocol::PROTOCOL_VERSION
                ))
        );
        let en = warnings::render(
            &Chrome {
                lang: Lang::En,
                ..c
            },
            &none,
        )
        .into_string();
        assert!(en.contains("<html lang=\"en\">"));
        assert!(en.contains("No open warnings") && en.contains(">Master ledger</a>"));
        assert!(en.contains("href=\"/ledger?as_of=2020-12-31&amp;lang=zh\""));
    }

    #[test]
    fn error_pages_escape_the_detail() {
        let c = Chrome {
            lang: Lang::En,
            node_code: "650000".into(),
            node_name: "x".into(),
            level: Level::Region,
            path: "/".into(),
            query: vec![],
            who: None,
        };
        let s = error_page(&c, &WebError::bad_param("as_of", "<script>")).into_string();
        assert!(s.contains("400 Bad Request") && s.contains("Bad parameter"));
        assert!(!s.contains("<script>") && s.contains("&lt;script&gt;"));
    }
}
