//! 公告公示, the public pages (no sign-in, `Permission::Public`): `/public`,
//! the notices this node and its subtree published; `/public/allocations`,
//! the allocation results (文号, date, fund category, issuing and receiving
//! node, amount, purpose); `/public/projects`, the projects by township and
//! village with their funds, what was paid and their status. Chinese first,
//! printable (the style sheet's print rules drop the header's controls, the
//! filters and the pager), and both lists as files (`.csv`, `.xlsx`,
//! `super::export`).
//!
//! What a public page shows is what a `results_published` entry made
//! public, as that notice copied it (see `ledger::query` `publications`),
//! which is what 公示 means: nothing the node has not published, never a
//! classified (涉密) category (asking for one answers 404, as for a category
//! that does not exist), and nothing of a payment (no payee, no account),
//! of a person, or of who recorded what. The frame is the same for every
//! reader: a signed-in officer sees the public page as the public does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use fundsync_protocol::body::PublicationScope;
use fundsync_protocol::EntryId;
use maud::{html, Markup};

use super::form::{field, filter_form, submit, Field};
use super::html::url;
use super::layout::{export_links, page, Chrome, Nav};
use super::projects::status_label;
use super::text::{percent, wan2, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::http::{AppState, Routes};
use crate::ledger::query::{
    Page, Paged, PublicAllocation, PublicAllocationFilter, PublicNotice, PublicProject,
    PublicProjectFilter, PublicTotals, PublicationFilter,
};

type S = State<Arc<AppState>>;

/// Notices the index lists (the newest; the rest through the lists).
const INDEX_NOTICES_MAX: u32 = 100;

/// The public pages; their files are `super::export`'s.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/public", P::Public, index_page)
        .get("/public/allocations", P::Public, allocations_page)
        .get("/public/projects", P::Public, projects_page)
}

/// The public allocation list's filters, as query keys.
pub(super) const ALLOCATION_FILTERS: &[&str] = &["node", "category", "recipient", "publication"];
/// The public project list's filters, as query keys.
pub(super) const PROJECT_FILTERS: &[&str] = &["node", "township", "village", "publication"];

/// The frame of a public page: the same for every reader, signed in or
/// not (no name, no menu), so what the public sees is what is checked.
pub fn public_chrome(c: &Chrome) -> Chrome {
    Chrome {
        who: None,
        ..c.clone()
    }
}

/// A category the public may not ask for: classified, or unknown here;
/// both answer the same, so a classified category's existence is not told.
fn no_such_category() -> WebError {
    WebError::not_found(
        "没有该资金类别的公示",
        "No published results of that fund category",
        "no published results of that fund category",
    )
}

/// The public allocation list's filters from the query (the page and its
/// files); a classified or unknown category is refused (404).
pub(super) async fn allocation_filter(
    ctx: &Ctx,
    s: &AppState,
) -> Result<PublicAllocationFilter, WebError> {
    let category = ctx.param("category").map(str::to_owned);
    if let Some(c) = &category {
        if !s.ledger.publicly_listed_category(c).await? {
            return Err(no_such_category());
        }
    }
    Ok(PublicAllocationFilter {
        node: ctx.parsed("node")?,
        recipient: ctx.parsed("recipient")?,
        category,
        publication: ctx.parsed::<EntryId>("publication")?,
    })
}

/// The public project list's filters from the query (the page and its files).
pub(super) fn project_filter(ctx: &Ctx) -> Result<PublicProjectFilter, WebError> {
    Ok(PublicProjectFilter {
        node: ctx.parsed("node")?,
        township: ctx.param("township").map(str::to_owned),
        village: ctx.param("village").map(str::to_owned),
        publication: ctx.parsed::<EntryId>("publication")?,
    })
}

/// A scope as the bureaus say it.
pub fn scope_label(l: Lang, scope: &str) -> &'static str {
    match scope {
        "allocations" => l.t("资金分配结果", "Allocation results"),
        "projects" => l.t("项目安排和资金使用", "Projects and fund use"),
        _ => "?",
    }
}

/// The links between the public pages, and the way in for officers.
fn public_nav(l: Lang, current: &str) -> Markup {
    let items = [
        ("/public", l.t("公示首页", "Notices")),
        (
            "/public/allocations",
            l.t("资金分配结果", "Allocation results"),
        ),
        ("/public/projects", l.t("项目公示", "Projects")),
    ];
    html! {
        p class="quick public-nav" {
            @for (href, label) in items {
                @if href == current {
                    b { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
            a href="/login" class="muted" { (l.t("工作人员登录", "Officers sign in")) }
        }
    }
}

/// What every public page says about itself.
fn public_note(l: Lang) -> Markup {
    html! {
        p class="sub" {
            (l.t("依照“两个一律”：自治区、地州、县市扶贫资金分配结果一律公开，乡、村两级扶贫项目安排和资金使用情况一律公告公示。本页只列出本级及下级已发布公示的内容，涉密资金不予公开。",
                 "Under the \"two alls\": the allocation results of region, prefectures and counties are all public, and township and village projects and their fund use are all announced. Only what this node and the nodes below it have published is listed; classified funds are never published."))
        }
        p class="sub print-only" { (l.t("打印：使用浏览器的打印功能（Ctrl+P）。", "To print, use the browser's print command (Ctrl+P).")) }
    }
}

fn pager<T>(l: Lang, base: &str, filters: &[(String, String)], got: &Paged<T>) -> Markup {
    let link = |page: u32| {
        let mut q: Vec<(&str, String)> = filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.push(("page", page.to_string()));
        q.push(("page_size", got.page_size.to_string()));
        url(base, &q)
    };
    html! {
        div class="pager" {
            @if got.page > 1 {
                a href=(link(got.page - 1)) { "← " (l.t("上一页", "Previous")) }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (got.page) " " (l.t("页", "")) " · "
                (got.items.len()) " " (l.t("条", "rows"))
            }
            @if got.has_more {
                a href=(link(got.page + 1)) { (l.t("下一页", "Next")) " →" }
            }
        }
    }
}

fn name<'a>(names: &'a HashMap<String, String>, code: &'a str) -> &'a str {
    names.get(code).map_or(code, String::as_str)
}

// ---------------------------------------------------------------- index

/// `/public`'s data.
#[derive(Debug)]
pub struct IndexPage {
    pub totals: PublicTotals,
    pub notices: Paged<PublicNotice>,
    /// Node code → name.
    pub names: HashMap<String, String>,
}

/// `/public`.
pub fn index_render(c: &Chrome, p: &IndexPage) -> Markup {
    let c = &public_chrome(c);
    let l = c.lang;
    let body = html! {
        (public_nav(l, "/public"))
        (public_note(l))
        div class="cards" {
            div class="card" {
                div class="k" { (l.t("已公示资金分配结果", "Allocation results published")) }
                div class="v" { (p.totals.allocations) " " (l.t("条", "")) }
                div class="k" { (l.t("金额 ", "Amount ")) (wan2(p.totals.allocated)) " " (l.t("万元", "10k yuan")) }
            }
            div class="card" {
                div class="k" { (l.t("已公示项目", "Projects published")) }
                div class="v" { (p.totals.projects) " " (l.t("个", "")) }
                div class="k" { (l.t("项目资金 ", "Funds ")) (wan2(p.totals.project_funds)) " " (l.t("万元", "10k yuan")) }
            }
        }
        h2 { (l.t("公示公告", "Notices")) }
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("公示日期", "Published on")) }
                    th { (l.t("公示文号", "Notice no.")) }
                    th { (l.t("标题", "Title")) }
                    th { (l.t("公示内容", "Contents")) }
                    th { (l.t("发布单位", "Published by")) }
                    th class="num" { (l.t("条数", "Records")) }
                } }
                tbody {
                    @for n in &p.notices.items {
                        @let base = if n.scope == PublicationScope::Projects.as_str() { "/public/projects" } else { "/public/allocations" };
                        tr {
                            td class="nowrap" { (n.published_on) }
                            td class="nowrap" { a href=(url(base, &[("publication", n.id.clone())])) { (n.doc_no) } }
                            td { (n.title) }
                            td class="nowrap" { (scope_label(l, &n.scope)) }
                            td class="nowrap" { (name(&p.names, &n.origin)) }
                            td class="num" { (n.records) }
                        }
                    }
                    @if p.notices.items.is_empty() {
                        tr { td colspan="6" class="muted" { (l.t("暂无公示", "Nothing published yet")) } }
                    }
                }
            }
        }
        @if p.notices.has_more {
            p class="sub" { (l.t("仅列出最近的公示；全部内容见资金分配结果和项目公示。",
                                 "Only the latest notices are listed; see the two lists for everything.")) }
        }
    };
    page(
        c,
        Nav::None,
        l.t("扶贫资金公告公示", "Public disclosure"),
        body,
    )
}

async fn index_page(ctx: Ctx, State(s): S) -> Response {
    let r = index_data(&s).await.map(|p| index_render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn index_data(s: &AppState) -> Result<IndexPage, WebError> {
    Ok(IndexPage {
        totals: s.ledger.public_totals().await?,
        notices: s
            .ledger
            .public_notices(
                PublicationFilter::default(),
                Page {
                    page: 1,
                    page_size: INDEX_NOTICES_MAX,
                },
            )
            .await?,
        names: super::node_names(&s.ledger).await?,
    })
}

// ---------------------------------------------------------------- allocations

/// `/public/allocations`' data.
#[derive(Debug)]
pub struct AllocationsPage {
    pub got: Paged<PublicAllocation>,
    pub filters: Vec<(String, String)>,
    /// The categories of what is published: code, name.
    pub categories: Vec<(String, String)>,
    /// The nodes that published: code, name.
    pub publishers: Vec<(String, String)>,
}

fn param<'a>(filters: &'a [(String, String)], key: &str) -> &'a str {
    filters
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// `/public/allocations`.
pub fn allocations_render(c: &Chrome, p: &AllocationsPage) -> Markup {
    let c = &public_chrome(c);
    let l = c.lang;
    let nodes: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(p.publishers.iter().map(|(k, n)| (k.as_str(), n.as_str())))
        .collect();
    let cats: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(p.categories.iter().map(|(k, n)| (k.as_str(), n.as_str())))
        .collect();
    let body = html! {
        (public_nav(l, "/public/allocations"))
        (public_note(l))
        div class="card no-print" {
            (filter_form("/public/allocations", html! {
                (field(l, &Field::select("node", l.t("下达单位", "Issued by"), &nodes).value(param(&p.filters, "node"))))
                (field(l, &Field::select("category", l.t("资金类别", "Fund category"), &cats).value(param(&p.filters, "category"))))
                div { (submit(l.t("筛选", "Filter"))) " " a href="/public/allocations" { (l.t("清除筛选", "clear")) } }
            }))
        }
        @if let Some(n) = p.got.items.first().filter(|_| !param(&p.filters, "publication").is_empty()) {
            p { (l.t("公示文号：", "Notice: ")) b { (n.notice_doc_no) } " · " (l.t("公示日期：", "published on ")) (n.published_on) }
        }
        (export_links(c, "/public/allocations"))
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("下达日期", "Date")) }
                    th { (l.t("指标文号", "Document no.")) }
                    th { (l.t("资金类别", "Fund category")) }
                    th { (l.t("下达单位", "Issued by")) }
                    th { (l.t("接收单位", "Recipient")) }
                    th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                    th { (l.t("资金用途", "Purpose")) }
                    th { (l.t("公示文号", "Notice")) }
                } }
                tbody {
                    @for a in &p.got.items {
                        tr {
                            td class="nowrap" { (a.dated) }
                            td class="nowrap" { (a.doc_no) }
                            td { (a.category_name) }
                            td class="nowrap" { (a.publisher_name) }
                            td class="nowrap" { (a.recipient_name) }
                            td class="num" { (yuan(a.amount)) }
                            td { (a.purpose) }
                            td class="nowrap" { (a.notice_doc_no) " · " (a.published_on) }
                        }
                    }
                    @if p.got.items.is_empty() {
                        tr { td colspan="8" class="muted" { (l.t("暂无公示", "Nothing published yet")) } }
                    }
                }
            }
        }
        (pager(l, "/public/allocations", &p.filters, &p.got))
    };
    page(
        c,
        Nav::None,
        l.t("扶贫资金分配结果公示", "Allocation results"),
        body,
    )
}

async fn allocations_page(ctx: Ctx, State(s): S) -> Response {
    let r = allocations_data(&ctx, &s)
        .await
        .map(|p| allocations_render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn allocations_data(ctx: &Ctx, s: &AppState) -> Result<AllocationsPage, WebError> {
    let filter = allocation_filter(ctx, s).await?;
    let got = s.ledger.public_allocations(filter, ctx.page()?).await?;
    let names = super::node_names(&s.ledger).await?;
    let publishers = publishers(s, &names, PublicationScope::Allocations).await?;
    Ok(AllocationsPage {
        got,
        filters: ctx.filters(ALLOCATION_FILTERS),
        categories: s.ledger.public_categories().await?,
        publishers,
    })
}

/// The nodes that published notices of `scope`, with their names.
async fn publishers(
    s: &AppState,
    names: &HashMap<String, String>,
    scope: PublicationScope,
) -> Result<Vec<(String, String)>, WebError> {
    let mut codes: Vec<String> = s
        .ledger
        .public_notices(
            PublicationFilter {
                origin: None,
                scope: Some(scope),
            },
            Page {
                page: 1,
                page_size: crate::ledger::query::PAGE_SIZE_MAX,
            },
        )
        .await?
        .items
        .into_iter()
        .map(|n| n.origin)
        .collect();
    codes.sort();
    codes.dedup();
    Ok(codes
        .into_iter()
        .map(|c| {
            let n = name(names, &c).to_owned();
            (c, n)
        })
        .collect())
}

// ---------------------------------------------------------------- projects

/// `/public/projects`' data.
#[derive(Debug)]
pub struct ProjectsPage {
    pub got: Paged<PublicProject>,
    pub filters: Vec<(String, String)>,
    /// The townships and villages of what is published.
    pub places: Vec<(String, String)>,
    /// The nodes that published: code, name.
    pub publishers: Vec<(String, String)>,
}

/// `/public/projects`: by township and village, a heading row for each.
pub fn projects_render(c: &Chrome, p: &ProjectsPage) -> Markup {
    let c = &public_chrome(c);
    let l = c.lang;
    let nodes: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(p.publishers.iter().map(|(k, n)| (k.as_str(), n.as_str())))
        .collect();
    let mut townships: Vec<&str> = p.places.iter().map(|(t, _)| t.as_str()).collect();
    townships.dedup();
    let townships: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(townships.into_iter().map(|t| (t, t)))
        .collect();
    let township = param(&p.filters, "township");
    let mut villages: Vec<&str> = p
        .places
        .iter()
        .filter(|(t, _)| township.is_empty() || t == township)
        .map(|(_, v)| v.as_str())
        .collect();
    villages.sort_unstable();
    villages.dedup();
    let villages: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(villages.into_iter().map(|v| (v, v)))
        .collect();
    let mut groups: Vec<(&str, &str, Vec<&PublicProject>)> = Vec::new();
    for pr in &p.got.items {
        match groups.last_mut() {
            Some((t, v, items)) if *t == pr.township && *v == pr.village => items.push(pr),
            _ => groups.push((&pr.township, &pr.village, vec![pr])),
        }
    }
    let body = html! {
        (public_nav(l, "/public/projects"))
        (public_note(l))
        div class="card no-print" {
            (filter_form("/public/projects", html! {
                (field(l, &Field::select("node", l.t("实施单位", "Node"), &nodes).value(param(&p.filters, "node"))))
                (field(l, &Field::select("township", l.t("乡镇", "Township"), &townships).value(township)))
                (field(l, &Field::select("village", l.t("村", "Village"), &villages).value(param(&p.filters, "village"))))
                div { (submit(l.t("筛选", "Filter"))) " " a href="/public/projects" { (l.t("清除筛选", "clear")) } }
            }))
        }
        p class="sub" { (l.t("项目资金、已使用资金和状态为公示时的数据。", "Funds, paid and status as of each notice.")) }
        (export_links(c, "/public/projects"))
        div class="scroll" {
            table {
                thead { tr {
                    th { (l.t("项目名称", "Project")) }
                    th { (l.t("项目编码", "Code")) }
                    th { (l.t("实施单位", "Node")) }
                    th { (l.t("建设期限", "Runs")) }
                    th class="num" { (l.t("项目资金（元）", "Funds (yuan)")) }
                    th class="num" { (l.t("已使用（元）", "Paid (yuan)")) }
                    th class="num" { (l.t("资金使用进度", "Progress")) }
                    th { (l.t("状态", "Status")) }
                    th { (l.t("公示文号", "Notice")) }
                } }
                tbody {
                    @for (township, village, items) in &groups {
                        tr class="group" {
                            td colspan="9" {
                                b { (if township.is_empty() { l.t("（未填乡镇）", "(no township)") } else { township }) }
                                " · " (if village.is_empty() { l.t("（未填村）", "(no village)") } else { village })
                            }
                        }
                        @for pr in items {
                            tr {
                                td { (pr.name) }
                                td class="nowrap" { (pr.code) }
                                td class="nowrap" { (pr.node_name) }
                                td class="nowrap" { (pr.starts_on) " — " (pr.ends_on) }
                                td class="num" { (yuan(pr.budget)) }
                                td class="num" { (yuan(pr.paid)) }
                                td class="num" { (percent(pr.paid, pr.budget).unwrap_or_else(|| "—".into())) }
                                td class="nowrap" { (status_label(l, &pr.status)) }
                                td class="nowrap" { (pr.notice_doc_no) " · " (pr.published_on) }
                            }
                        }
                    }
                    @if p.got.items.is_empty() {
                        tr { td colspan="9" class="muted" { (l.t("暂无公示", "Nothing published yet")) } }
                    }
                }
            }
        }
        (pager(l, "/public/projects", &p.filters, &p.got))
    };
    page(
        c,
        Nav::None,
        l.t("扶贫项目安排和资金使用公示", "Projects and their funds"),
        body,
    )
}

async fn projects_page(ctx: Ctx, State(s): S) -> Response {
    let r = projects_data(&ctx, &s)
        .await
        .map(|p| projects_render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn projects_data(ctx: &Ctx, s: &AppState) -> Result<ProjectsPage, WebError> {
    let filter = project_filter(ctx)?;
    let got = s.ledger.public_projects(filter, ctx.page()?).await?;
    let names = super::node_names(&s.ledger).await?;
    Ok(ProjectsPage {
        got,
        filters: ctx.filters(PROJECT_FILTERS),
        places: s.ledger.public_places().await?,
        publishers: publishers(s, &names, PublicationScope::Projects).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn allocation() -> PublicAllocation {
        PublicAllocation {
            allocation: "652800-17".into(),
            publisher: "652800".into(),
            publisher_name: "巴音郭楞蒙古自治州".into(),
            doc_no: "巴财农〔2020〕12号".into(),
            dated: "2020-04-29".into(),
            category: "C-01".into(),
            category_name: "中央财政专项扶贫资金".into(),
            recipient: "652822".into(),
            recipient_name: "轮台县".into(),
            amount: Decimal::from(62_000_000),
            purpose: "<b>地方政府债券</b>".into(),
            notice: "652800-30".into(),
            notice_doc_no: "巴财公〔2020〕3号".into(),
            published_on: "2020-05-06".into(),
        }
    }

    #[test]
    fn the_public_list_has_the_results_escaped_and_no_officer_frame() {
        let mut c = super::super::layout::test_chrome(Lang::Zh);
        c.path = "/public/allocations".into();
        let p = AllocationsPage {
            got: Paged {
                items: vec![allocation()],
                page: 1,
                page_size: 50,
                has_more: false,
            },
            filters: vec![],
            categories: vec![("C-01".into(), "中央财政专项扶贫资金".into())],
            publishers: vec![("652800".into(), "巴音郭楞蒙古自治州".into())],
        };
        let s = allocations_render(&c, &p).into_string();
        for want in [
            "扶贫资金分配结果公示",
            "巴财农〔2020〕12号",
            "轮台县",
            "62,000,000.00",
            "巴财公〔2020〕3号",
            "/public/allocations.xlsx",
            "/public/allocations.csv",
            "工作人员登录",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
        assert!(!s.contains("<b>地方") && s.contains("&lt;b&gt;地方"));
        // The signed-in officer's name and menu are not on a public page.
        assert!(!s.contains("张三") && !s.contains("退出") && !s.contains(">总台账</a>"));
    }

    #[test]
    fn projects_are_grouped_by_township_and_village() {
        let c = super::super::layout::test_chrome(Lang::Zh);
        let pr = |code: &str, village: &str| PublicProject {
            project: format!("652822-{}", code.len()),
            node: "652822".into(),
            node_name: "轮台县".into(),
            code: code.into(),
            name: "村道硬化".into(),
            township: "轮台镇".into(),
            village: village.into(),
            starts_on: "2020-03-01".into(),
            ends_on: "2020-10-31".into(),
            budget: Decimal::from(100_000),
            paid: Decimal::from(25_000),
            status: "in_progress".into(),
            notice: "652822-40".into(),
            notice_doc_no: "轮财公〔2020〕1号".into(),
            published_on: "2020-06-01".into(),
        };
        let p = ProjectsPage {
            got: Paged {
                items: vec![pr("LT-1", "一村"), pr("LT-2", "一村"), pr("LT-3", "二村")],
                page: 1,
                page_size: 50,
                has_more: false,
            },
            filters: vec![],
            places: vec![
                ("轮台镇".into(), "一村".into()),
                ("轮台镇".into(), "二村".into()),
            ],
            publishers: vec![],
        };
        let s = projects_render(&c, &p).into_string();
        assert_eq!(s.matches("class=\"group\"").count(), 2, "{s}");
        assert!(s.contains("25.0%") && s.contains("实施中"), "{s}");
        let en = projects_render(
            &Chrome {
                lang: Lang::En,
                ..c
            },
            &p,
        )
        .into_string();
        assert!(en.contains("Projects and their funds") && en.contains("In progress"));
    }
}
