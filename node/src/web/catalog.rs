//! `/catalog` (资金目录): the fund categories offered to this node (the
//! shipped lists of its province, `catalog::offered`, and the categories
//! nodes defined), one table, narrowed by a plain GET form (works without
//! JavaScript, bookmarkable): text in the code or name, the level (来源
//! level: 中央, 自治区/省, 地州/市, 县, 债券), the department, and whether
//! to show the other provinces' lists too. The same rows as
//! `GET /api/v1/catalog`.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use crate::access::Permission;
use crate::catalog::{offered, Province};
use crate::http::{AppState, Routes};
use crate::ledger::query::CategoryView;

use super::form::{field, filter_form, hidden, submit, Field, InputKind};
use super::layout::{page, Chrome, Nav};
use super::text::Lang;
use super::{Ctx, WebError, S};

pub fn routes(pages: Routes) -> Routes {
    pages.get("/catalog", Permission::SignedIn, catalog_page)
}

/// The query keys of the filter form.
const KEYS: &[&str] = &["q", "origin", "department", "lists"];

/// The longest text searched for.
const TEXT_CHARS_MAX: usize = 100;

/// The levels a category's money comes from, as stored, with their names.
const ORIGINS: [(&str, &str, &str); 5] = [
    ("central", "中央", "Central"),
    ("region", "自治区（省）", "Region (province)"),
    ("prefecture", "地州（市）", "Prefecture (city)"),
    ("county", "县（市）", "County"),
    ("bond", "地方政府债券", "Local government bonds"),
];

/// What the page shows.
#[derive(Debug, Default)]
pub struct CatalogPage {
    /// The filters as given.
    pub asked: Vec<(String, String)>,
    /// The rows that match, in code order.
    pub rows: Vec<CategoryView>,
    /// How many categories are offered to this node before the filters.
    pub offered: usize,
    /// Every department of the offered categories (the filter's choices).
    pub departments: Vec<String>,
    /// This node's province, if a shipped list is written for it.
    pub province: Option<Province>,
}

impl CatalogPage {
    fn value(&self, key: &str) -> &str {
        self.asked
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Whether `c` matches the text `q`: the code ignoring case, or the name.
pub fn matches_text(c: &CategoryView, q: &str) -> bool {
    c.code.to_lowercase().contains(&q.to_lowercase()) || c.name.contains(q)
}

async fn catalog_page(ctx: Ctx, State(s): S) -> Response {
    let r = catalog_data(&ctx, &s)
        .await
        .map(|p| render(&ctx.chrome, &p));
    ctx.respond(r)
}

async fn catalog_data(ctx: &Ctx, s: &AppState) -> Result<CatalogPage, WebError> {
    let asked = ctx.filters(KEYS);
    let text = ctx.param("q").unwrap_or("");
    if text.chars().count() > TEXT_CHARS_MAX {
        return Err(WebError::bad_param("q", text));
    }
    let origin = ctx.param("origin");
    if let Some(o) = origin {
        if !ORIGINS.iter().any(|(v, _, _)| *v == o) {
            return Err(WebError::bad_param("origin", o));
        }
    }
    let all_lists = match ctx.param("lists") {
        None | Some("offered") => false,
        Some("all") => true,
        Some(v) => return Err(WebError::bad_param("lists", v)),
    };
    let department = ctx.param("department");
    let me = s.ledger.identity().code;
    let cats = s.ledger.categories().await?;
    let offered_here: Vec<CategoryView> = cats
        .into_iter()
        .filter(|c| all_lists || offered(&me, &c.code, c.defined_by.as_deref()))
        .collect();
    let departments: BTreeSet<String> = offered_here
        .iter()
        .filter(|c| !c.department.is_empty())
        .map(|c| c.department.clone())
        .collect();
    let n = offered_here.len();
    let rows = offered_here
        .into_iter()
        .filter(|c| text.is_empty() || matches_text(c, text))
        .filter(|c| origin.is_none_or(|o| c.origin == o))
        .filter(|c| department.is_none_or(|d| c.department == d))
        .collect();
    Ok(CatalogPage {
        asked,
        rows,
        offered: n,
        departments: departments.into_iter().collect(),
        province: Province::of_node(&me),
    })
}

fn origin_name(l: Lang, origin: &str) -> &str {
    ORIGINS
        .iter()
        .find(|(v, _, _)| *v == origin)
        .map_or(origin, |(_, zh, en)| l.t(zh, en))
}

/// The list a row comes from: the province of a shipped list, or the node
/// that defined it.
fn list_name(l: Lang, c: &CategoryView) -> String {
    match &c.defined_by {
        Some(node) => format!("{} {node}", l.t("节点自定", "defined by")),
        None if c.code.starts_with("X-") => l
            .t("新疆（2020 巴州演示）", "Xinjiang (the 2020 Bayingol demo)")
            .to_owned(),
        None => match Province::of_category(&c.code) {
            Province::Xinjiang => l.t("新疆（新财办〔2018〕31号）", "Xinjiang (seed 000)"),
            Province::Shaanxi => l.t("陕西某县（2018）", "A Shaanxi county (seed 001)"),
        }
        .to_owned(),
    }
}

pub fn render(c: &Chrome, p: &CatalogPage) -> Markup {
    let l = c.lang;
    let all = l.t("全部", "All");
    let origins: Vec<(&str, &str)> = std::iter::once(("", all))
        .chain(ORIGINS.iter().map(|(v, zh, en)| (*v, l.t(zh, en))))
        .collect();
    let deps: Vec<(&str, &str)> = std::iter::once(("", all))
        .chain(p.departments.iter().map(|d| (d.as_str(), d.as_str())))
        .collect();
    let lists = [
        (
            "offered",
            l.t("本节点适用的清单", "The lists for this node"),
        ),
        (
            "all",
            l.t("全部清单（含其他省区）", "Every list (other provinces too)"),
        ),
    ];
    let where_from = match p.province {
        Some(pr) => format!(
            "{}{}{}",
            l.t("本节点属", "This node is in "),
            match l {
                Lang::Zh => pr.zh(),
                Lang::En => match pr {
                    Province::Xinjiang => "Xinjiang",
                    Province::Shaanxi => "Shaanxi",
                },
            },
            l.t(
                "，默认只列出为该省（区）制定的清单和各节点自定的类别。",
                ": only the lists written for it and the categories nodes defined are shown by default."
            )
        ),
        None => l
            .t(
                "没有为本节点所在省（区）制定的内置清单，列出全部清单。",
                "No shipped list is written for this node's province: every list is shown.",
            )
            .to_owned(),
    };
    let body = html! {
        div class="card" {
            (filter_form("/catalog", html! {
                (field(l, &Field::input("q", l.t("编码或名称", "Code or name"), InputKind::Text).value(p.value("q"))))
                (field(l, &Field::select("origin", l.t("资金层级", "Level"), &origins).value(p.value("origin"))))
                (field(l, &Field::select("department", l.t("归口科室", "Department"), &deps).value(p.value("department"))))
                (field(l, &Field::select("lists", l.t("清单", "Lists"), &lists).value(p.value("lists"))))
                (hidden("lang", l.code()))
                (submit(l.t("筛选", "Filter")))
            }))
            p class="sub" { (where_from) }
        }
        p id="catalog-count" {
            @match l {
                Lang::Zh => { "共 " (p.rows.len()) " 项（本节点适用 " (p.offered) " 项）" }
                Lang::En => { (p.rows.len()) " of " (p.offered) " categories" }
            }
        }
        @if p.rows.is_empty() {
            p class="muted" { (l.t("暂无", "None")) }
        } @else {
            div class="scroll" {
                table id="catalog" {
                    thead { tr {
                        th { (l.t("编码", "Code")) }
                        th { (l.t("名称", "Name")) }
                        th { (l.t("资金层级", "Level")) }
                        th { (l.t("归口科室", "Department")) }
                        th { (l.t("清单", "List")) }
                    } }
                    tbody {
                        @for r in &p.rows {
                            tr {
                                td class="nowrap" { code { (r.code) } }
                                td {
                                    (r.name)
                                    @if r.classified { " " span class="muted" { (l.t("涉密", "classified")) } }
                                }
                                td class="nowrap" { (origin_name(l, &r.origin)) }
                                td class="nowrap" { (r.department) }
                                td class="nowrap" { (list_name(l, r)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(c, Nav::Catalog, l.t("资金目录", "Fund catalog"), body)
}
