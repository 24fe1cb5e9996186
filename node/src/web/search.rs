//! `/search` (检索): one text across allocations (文号, title), projects
//! (code, name, township, village) and payments (voucher, payee, purpose),
//! with a date range, fund category, department and node, paged, each hit
//! linking to its drill-down and (payments) its trace. The search is the
//! ledger's (`Ledger::search`), in the reader's scope, as the API's
//! `GET /api/v1/search` is.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use crate::access::Permission;
use crate::http::{AppState, Routes};
use crate::ledger::query::{
    Page, Paged, SearchFilter, SearchHit, SearchKind, SEARCH_TEXT_CHARS_MAX,
};

use super::form::{field, filter_form, hidden, submit, Field, InputKind};
use super::html::{url, url_encode};
use super::layout::{page, Chrome, Nav};
use super::text::{yuan, Lang};
use super::{Ctx, WebError, S};

pub fn routes(pages: Routes) -> Routes {
    pages.get("/search", Permission::ReadLedger, search_page)
}

/// The query keys of the search form.
const KEYS: &[&str] = &["q", "kind", "from", "to", "category", "department", "node"];

/// What the page shows: the form's choices, and the hits if anything was
/// asked.
#[derive(Debug, Default)]
pub struct SearchPage {
    /// The query as given (the form's values, kept by the pager).
    pub asked: Vec<(String, String)>,
    pub found: Option<Paged<SearchHit>>,
    /// Node code → name (the node filter's choices, the hits' nodes).
    pub names: Vec<(String, String)>,
    /// Fund category code → name, the reader's.
    pub categories: Vec<(String, String)>,
    pub departments: Vec<String>,
}

impl SearchPage {
    fn value(&self, key: &str) -> &str {
        self.asked
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

async fn search_page(ctx: Ctx, State(s): S) -> Response {
    let r = search_data(&ctx, &s).await.map(|p| render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn search_data(ctx: &Ctx, s: &AppState) -> Result<SearchPage, WebError> {
    let asked = ctx.filters(KEYS);
    let text = ctx.param("q").unwrap_or("").to_owned();
    if text.chars().count() > SEARCH_TEXT_CHARS_MAX {
        return Err(WebError::bad_param("q", &text));
    }
    let kind = match ctx.param("kind") {
        None => None,
        Some(k) => Some(
            k.parse::<SearchKind>()
                .map_err(|()| WebError::bad_param("kind", k))?,
        ),
    };
    let seen = super::visible_categories(ctx, s).await?;
    let filter = SearchFilter {
        text,
        kinds: kind.into_iter().collect(),
        from: ctx.parsed("from")?,
        to: ctx.parsed("to")?,
        category: ctx.param("category").map(str::to_owned),
        department: ctx.param("department").map(str::to_owned),
        node: ctx.parsed("node")?,
        categories: seen.clone(),
        project_department: ctx.user.as_ref().and_then(|u| u.scope().department),
    };
    let found = if asked.is_empty() {
        None
    } else {
        let p = ctx.page()?;
        Some(
            s.ledger
                .search(
                    &filter,
                    Page {
                        page: p.page,
                        page_size: p.page_size,
                    },
                )
                .await?,
        )
    };
    let me = s.ledger.identity().code;
    let mut all = s.ledger.categories().await?;
    all.retain(|c| crate::catalog::offered(&me, &c.code, c.defined_by.as_deref()));
    let visible = |code: &str| seen.as_ref().is_none_or(|v| v.iter().any(|c| c == code));
    let departments: BTreeSet<String> = all
        .iter()
        .filter(|c| visible(&c.code))
        .map(|c| c.department.clone())
        .collect();
    Ok(SearchPage {
        asked,
        found,
        names: s
            .ledger
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.code, n.name))
            .collect(),
        categories: all
            .into_iter()
            .filter(|c| visible(&c.code))
            .map(|c| (c.code, c.name))
            .collect(),
        departments: departments.into_iter().collect(),
    })
}

fn kind_label(l: Lang, k: SearchKind) -> &'static str {
    match k {
        SearchKind::Allocation => l.t("指标", "Allocation"),
        SearchKind::Project => l.t("项目", "Project"),
        SearchKind::Payment => l.t("支付", "Payment"),
    }
}

/// Where a hit leads: its drill-down, and a payment's trace.
fn hit_links(l: Lang, h: &SearchHit) -> Markup {
    match h.kind {
        SearchKind::Allocation => html! {
            a href=(url("/allocations", &[("source", h.id.clone())])) { (l.t("下级指标", "Sub-allocations")) }
            " · "
            a href=(url("/payments", &[("allocation", h.id.clone())])) { (l.t("支付", "Payments")) }
        },
        SearchKind::Project => html! {
            a href={ "/projects/" (url_encode(&h.node)) "/" (url_encode(&h.code)) } { (l.t("项目详情", "Project")) }
            " · "
            a href=(url("/payments", &[("origin", h.node.clone()), ("project", h.code.clone())])) {
                (l.t("支付", "Payments"))
            }
        },
        SearchKind::Payment => html! {
            a href={ "/trace/" (url_encode(&h.id)) } { (l.t("资金追溯", "Trace")) }
            " · "
            a href=(url("/payments", &[("origin", h.node.clone()), ("voucher_no", h.code.clone())])) {
                (l.t("支付明细", "Payment"))
            }
        },
    }
}

pub fn render(c: &Chrome, p: &SearchPage) -> Markup {
    let l = c.lang;
    let names: HashMap<&str, &str> = p
        .names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let kinds: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(SearchKind::ALL.map(|k| (k.as_str(), kind_label(l, k))))
        .collect();
    let cats: Vec<(String, String)> =
        std::iter::once((String::new(), l.t("全部", "All").to_owned()))
            .chain(
                p.categories
                    .iter()
                    .map(|(code, name)| (code.clone(), format!("{name} ({code})"))),
            )
            .collect();
    let cats: Vec<(&str, &str)> = cats.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let deps: Vec<(&str, &str)> = std::iter::once(("", l.t("全部", "All")))
        .chain(p.departments.iter().map(|d| (d.as_str(), d.as_str())))
        .collect();
    let nodes: Vec<(String, String)> =
        std::iter::once((String::new(), l.t("全部", "All").to_owned()))
            .chain(
                p.names
                    .iter()
                    .map(|(code, name)| (code.clone(), format!("{name} ({code})"))),
            )
            .collect();
    let nodes: Vec<(&str, &str)> = nodes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let body = html! {
        div class="card" {
            (filter_form("/search", html! {
                (field(l, &Field::input("q", l.t("关键词", "Text"), InputKind::Text).value(p.value("q"))))
                (field(l, &Field::select("kind", l.t("类型", "Kind"), &kinds).value(p.value("kind"))))
                (field(l, &Field::input("from", l.t("起始日期", "From"), InputKind::Date).value(p.value("from"))))
                (field(l, &Field::input("to", l.t("截止日期", "To"), InputKind::Date).value(p.value("to"))))
                (field(l, &Field::select("category", l.t("资金类别", "Fund category"), &cats).value(p.value("category"))))
                (field(l, &Field::select("department", l.t("归口科室", "Department"), &deps).value(p.value("department"))))
                (field(l, &Field::select("node", l.t("单位", "Node"), &nodes).value(p.value("node"))))
                (hidden("lang", l.code()))
                (submit(l.t("检索", "Search")))
            }))
            p class="sub" {
                (l.t(
                    "检索指标（文号、标题）、项目（编码、名称、乡镇、村）和支付（凭证号、收款人、用途）；% 和 _ 按字面匹配。",
                    "Searches allocations (document no., title), projects (code, name, township, village) and payments (voucher, payee, purpose); % and _ match literally."
                ))
            }
        }
        @if let Some(found) = &p.found {
            (results(l, p, found, &names))
        }
    };
    page(c, Nav::Search, l.t("检索", "Search"), body)
}

fn results(
    l: Lang,
    p: &SearchPage,
    found: &Paged<SearchHit>,
    names: &HashMap<&str, &str>,
) -> Markup {
    let link = |page: u32| {
        let mut q: Vec<(&str, String)> = p
            .asked
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.push(("page", page.to_string()));
        q.push(("page_size", found.page_size.to_string()));
        url("/search", &q)
    };
    html! {
        div class="scroll" {
            table id="search-results" {
                thead {
                    tr {
                        th { (l.t("类型", "Kind")) }
                        th { (l.t("日期", "Date")) }
                        th { (l.t("单位", "Node")) }
                        th { (l.t("文号 / 编码 / 凭证号", "Document / code / voucher")) }
                        th { (l.t("标题 / 名称 / 收款人", "Title / name / payee")) }
                        th { (l.t("乡镇村 / 用途", "Place / purpose")) }
                        th class="num" { (l.t("金额（元）", "Amount (yuan)")) }
                        th { (l.t("查看", "Open")) }
                    }
                }
                tbody {
                    @for h in &found.items {
                        tr {
                            td class="nowrap" { (kind_label(l, h.kind)) }
                            td class="nowrap" { (h.date) }
                            td class="nowrap" {
                                (names.get(h.node.as_str()).copied().unwrap_or("")) " "
                                span class="muted" { (h.node) }
                            }
                            td class="nowrap" { (h.code) }
                            td { (h.title) }
                            td { (h.detail) }
                            td class="num" { (yuan(h.amount)) }
                            td class="nowrap" { (hit_links(l, h)) }
                        }
                    }
                    @if found.items.is_empty() {
                        tr { td colspan="8" class="muted" { (l.t("暂无符合条件的结果。", "Nothing found.")) } }
                    }
                }
            }
        }
        div class="pager" {
            @if found.page > 1 {
                a href=(link(found.page - 1)) { "← " (l.t("上一页", "Previous")) }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (found.page) " " (l.t("页", "")) " · "
                (found.items.len()) " " (l.t("条", "results"))
            }
            @if found.has_more {
                a href=(link(found.page + 1)) { (l.t("下一页", "Next")) " →" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;
    use rust_decimal::Decimal;

    fn hit(kind: SearchKind, id: &str, code: &str) -> SearchHit {
        SearchHit {
            kind,
            id: id.into(),
            node: "652822".into(),
            date: "2020-05-01".into(),
            code: code.into(),
            title: "<b>张三</b>".into(),
            detail: "修路".into(),
            amount: Decimal::new(3_000_000, 2),
            category: None,
        }
    }

    #[test]
    fn hits_link_to_their_pages_and_the_pager_keeps_the_query() {
        let p = SearchPage {
            asked: vec![("q".into(), "50%".into())],
            found: Some(Paged {
                items: vec![
                    hit(SearchKind::Allocation, "652800-7", "新财农〔2020〕12号"),
                    hit(SearchKind::Project, "652822-3", "P-1"),
                    hit(SearchKind::Payment, "652822-9", "V1"),
                ],
                page: 1,
                page_size: 50,
                has_more: true,
            }),
            names: vec![("652822".into(), "轮台县".into())],
            ..SearchPage::default()
        };
        let s = render(&chrome(Lang::Zh), &p).into_string();
        assert!(s.contains("href=\"/allocations?source=652800-7\""), "{s}");
        assert!(s.contains("href=\"/projects/652822/P-1\""), "{s}");
        assert!(s.contains("href=\"/trace/652822-9\""), "{s}");
        assert!(
            s.contains("/search?q=50%25&amp;page=2&amp;page_size=50"),
            "{s}"
        );
        assert!(s.contains("30,000.00") && s.contains("轮台县"));
        assert!(!s.contains("<b>张三") && s.contains("&lt;b&gt;张三"));
        assert!(s.contains("value=\"50%\""));
    }

    #[test]
    fn nothing_asked_shows_the_form_only() {
        let s = render(&chrome(Lang::En), &SearchPage::default()).into_string();
        assert!(s.contains("name=\"q\"") && !s.contains("search-results"));
    }
}
