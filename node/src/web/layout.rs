//! The frame every page shares, in one place: the head, the header with the
//! node, the navigation, the language switch, the footer, and the style sheet.

use fundsync_protocol::{Level, PROTOCOL_VERSION};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::form::post_form;
use super::html::url;
use super::text::Lang;
use crate::access::{Permission, Role};

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Ledger,
    Allocations,
    Payments,
    /// The project library (项目库).
    Projects,
    Warnings,
    /// Replication health (运行监控), for operators.
    Operations,
    /// 办理: the forms that record money.
    Desk,
    /// 检索.
    Search,
    /// 资金目录: the fund categories this node is offered.
    Catalog,
    /// The security log (登录日志, 操作日志).
    Security,
    /// The signed-in user's own account.
    Account,
    /// 公示台账: what this node and its subtree published.
    Publications,
    /// A page outside the navigation (a trace, an error).
    None,
}

/// What the frame needs to know about the request and the node.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub node_code: String,
    pub node_name: String,
    pub level: Level,
    /// This page's path and query (without `lang`), for the language switch.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Who is signed in, if anyone.
    pub who: Option<Who>,
}

/// The signed-in user, as the frame shows them: name and roles in the
/// header, the menu items their roles open, the sign-out button.
#[derive(Debug, Clone)]
pub struct Who {
    pub login: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The session's CSRF token, for the forms of the page (empty when
    /// signed in with a bearer token, which needs none).
    pub csrf: String,
}

impl Who {
    pub fn may(&self, p: Permission) -> bool {
        p.granted_by(&self.roles)
    }
}

impl Chrome {
    /// This page in another language.
    pub fn switch_url(&self, lang: Lang) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "lang")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("lang", lang.code().to_owned()));
        url(&self.path, &pairs)
    }
}

/// A whole page: `title` in the head and as the heading, `body` below it.
pub fn page(c: &Chrome, current: Nav, title: &str, body: Markup) -> Markup {
    let l = c.lang;
    // Only what the reader may open (the routes' own permissions, checked
    // against `server::route_table` by a test).
    let items: Vec<_> = NAV
        .iter()
        .filter(|(which, _, p, _)| {
            c.who.as_ref().is_some_and(|w| {
                w.may(*p) && (*which != Nav::Desk || DESK_PERMISSIONS.iter().any(|d| w.may(*d)))
            })
        })
        .map(|(which, href, _, (zh, en))| (*which, *href, l.t(zh, en)))
        .collect();
    html! {
        (DOCTYPE) "\n"
        html lang=(l.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (c.node_name) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header class="top" {
                    div class="wrap bar" {
                        div class="brand" {
                            span class="sys" { (l.t("扶贫资金动态监控", "Poverty fund monitoring")) }
                            span class="node" { (c.node_name) }
                            span class="code" { (c.node_code) " · " (l.level(c.level)) }
                        }
                        nav {
                            @for (which, href, label) in items {
                                @if which == current {
                                    a href=(href) class="on" aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        @if let Some(w) = &c.who {
                            div class="who" {
                                a href="/account" title=(w.login) { (w.name) }
                                span class="roles" {
                                    @for (i, r) in w.roles.iter().enumerate() {
                                        @if i > 0 { "、" }
                                        (r.zh())
                                    }
                                }
                                (post_form("/logout", &w.csrf, html! {
                                    button type="submit" class="out" { (l.t("退出", "Sign out")) }
                                }))
                            }
                        }
                        div class="langs" {
                            @for (lang, label) in [(Lang::Zh, "中文"), (Lang::En, "English")] {
                                @if lang == l {
                                    b { (label) }
                                } @else {
                                    a href=(c.switch_url(lang)) hreflang=(lang.html_lang()) { (label) }
                                }
                            }
                        }
                    }
                }
                main class="wrap" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    div class="wrap" {
                        (l.t("节点", "Node")) " " (c.node_code) " · "
                        (l.t("同步协议版本", "Sync protocol version")) " " (PROTOCOL_VERSION)
                        " · fundsync " (env!("CARGO_PKG_VERSION"))
                    }
                }
            }
        }
        "\n"
    }
}

/// The permissions of the forms of 办理 (`super::desk`): the navigation
/// shows 办理 only to holders of one.
pub const DESK_PERMISSIONS: [Permission; 4] = [
    Permission::RecordFunds,
    Permission::Allocate,
    Permission::Pay,
    Permission::ManageNodes,
];

/// The links "导出 Excel · 导出 CSV" of the list page at `base` (the files
/// are `super::export`'s, ), carrying its filters (its query, without the pager's keys).
pub fn export_links(c: &Chrome, base: &str) -> Markup {
    let l = c.lang;
    let mut q: Vec<(&str, String)> = c
        .query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "page" | "page_size" | "lang"))
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if l == Lang::En {
        q.push(("lang", "en".to_owned()));
    }
    html! {
        p class="sub export" {
            a href=(url(&format!("{base}.xlsx"), &q)) download { (l.t("导出 Excel", "Export Excel")) }
            " · "
            a href=(url(&format!("{base}.csv"), &q)) download { (l.t("导出 CSV", "Export CSV")) }
        }
    }
}

/// The navigation: section, path, the permission its route needs, label.
pub const NAV: [(Nav, &str, Permission, (&str, &str)); 12] = [
    (
        Nav::Overview,
        "/",
        Permission::SignedIn,
        ("总览", "Overview"),
    ),
    (
        Nav::Ledger,
        "/ledger",
        Permission::ReadLedger,
        ("总台账", "Master ledger"),
    ),
    (
        Nav::Allocations,
        "/allocations",
        Permission::ReadLedger,
        ("指标", "Allocations"),
    ),
    (
        Nav::Payments,
        "/payments",
        Permission::ReadLedger,
        ("支付", "Payments"),
    ),
    (
        Nav::Projects,
        "/projects",
        Permission::ReadLedger,
        ("项目库", "Projects"),
    ),
    (
        Nav::Warnings,
        "/warnings",
        Permission::ReadLedger,
        ("预警", "Warnings"),
    ),
    // Shown only to a reader whose roles open one of its forms.
    (Nav::Desk, "/desk", Permission::SignedIn, ("办理", "Desk")),
    (
        Nav::Operations,
        "/operations",
        Permission::ReadHealth,
        ("运行监控", "Operations"),
    ),
    (
        Nav::Search,
        "/search",
        Permission::ReadLedger,
        ("检索", "Search"),
    ),
    (
        Nav::Catalog,
        "/catalog",
        Permission::SignedIn,
        ("资金目录", "Catalog"),
    ),
    (
        Nav::Security,
        "/security/logins",
        Permission::ReadSecurityLog,
        ("安全日志", "Security log"),
    ),
    (
        Nav::Publications,
        "/publications",
        Permission::ReadLedger,
        ("公示", "Disclosure"),
    ),
];

/// The style sheet, inline so a page is one request and works offline.
/// Figures use tabular digits and align right, so columns of amounts line up.
const CSS: &str = r#"
:root{--ink:#1f2733;--mute:#5d6b7a;--line:#d9dee5;--bg:#f4f6f9;--card:#fff;--brand:#9b1c1c;
--ok:#1e8a4c;--lag:#c98a00;--silent:#c0392b;--none:#8a94a0;--link:#1d5fa8}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 -apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",sans-serif}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
.wrap{max-width:1320px;margin:0 auto;padding:0 24px}
header.top{background:var(--brand);color:#fff}
.bar{display:flex;align-items:center;gap:28px;min-height:56px;flex-wrap:wrap}
.brand{display:flex;align-items:baseline;gap:10px}
.brand .sys{font-size:13px;opacity:.85;border-right:1px solid rgba(255,255,255,.4);padding-right:10px}
.brand .node{font-size:18px;font-weight:600}
.brand .code{font-size:13px;opacity:.85}
nav{display:flex;gap:4px;flex:1}
nav a{color:#fff;padding:16px 14px;opacity:.9}
nav a.on{opacity:1;font-weight:600;box-shadow:inset 0 -3px 0 #f6c343}
nav a:hover{background:rgba(255,255,255,.1);text-decoration:none}
.who{display:flex;gap:10px;align-items:center;font-size:13px}.who a{color:#fff;font-weight:600}
.who .roles{opacity:.85}.who form{margin:0}
.who button.out{background:transparent;border:1px solid rgba(255,255,255,.6);padding:2px 10px;font-size:13px}
form.stack{display:flex;flex-direction:column;gap:12px;max-width:360px}
form.stack label{display:flex;flex-direction:column;font-size:13px;color:var(--mute);gap:4px}
.secret{font-family:monospace;font-size:15px;background:#fff;border:1px dashed var(--brand);padding:8px 12px;word-break:break-all}
.langs{display:flex;gap:10px;font-size:13px}.langs a{color:#fff;opacity:.8}.langs b{font-weight:600}
h1{font-size:22px;margin:24px 0 14px}
h2{font-size:17px;margin:26px 0 10px}
.sub{color:var(--mute);font-size:13px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:16px 18px;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:14px;margin-bottom:16px}
.cards .card{margin:0}
.k{color:var(--mute);font-size:13px}.v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:13px;color:#3a4654;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
tr:hover td{background:#fafbfd}
tr.total td{font-weight:600;background:#f2f4f7;border-top:2px solid #b8c0cb}
tr.subtotal td{background:#f8f9fb;color:#3a4654}
tr.group td{border-top:2px solid #c3cbd5}
.scroll{overflow-x:auto;margin-bottom:8px}
.muted{color:var(--mute)}.nowrap{white-space:nowrap}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:baseline}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;white-space:nowrap}
.ok{background:var(--ok)}.lagging{background:var(--lag)}.silent{background:var(--silent)}.broken{background:#7a1010}.none{background:var(--none)}.self{background:var(--link)}
.branch{display:inline-block;width:16px;margin-left:-16px;color:#a8b1bc}
form.filters{display:flex;gap:14px;align-items:end;flex-wrap:wrap}
form.filters label{display:flex;flex-direction:column;font-size:13px;color:var(--mute);gap:4px}
input,select,textarea,button{font:inherit;padding:5px 8px;border:1px solid #b8c0cb;border-radius:4px;background:#fff}
button{background:var(--brand);color:#fff;border-color:var(--brand);padding:5px 16px;cursor:pointer}
.quick a{margin-right:12px}
.pager{display:flex;gap:16px;align-items:center;margin:12px 0}
.chain{position:relative;margin-left:12px;padding-left:28px;border-left:3px solid #c9d1db}
.step{position:relative;margin:0 0 18px}
.step:before{content:"";position:absolute;left:-37px;top:18px;width:15px;height:15px;border-radius:50%;background:var(--brand);border:3px solid var(--bg)}
.step .card{margin:0}
.step .label{font-size:13px;font-weight:600;color:var(--brand);letter-spacing:.05em}
.step .title{display:flex;justify-content:space-between;align-items:baseline;gap:16px;font-size:17px;font-weight:600;margin:2px 0 8px}
.step .title .amount{font-size:18px;white-space:nowrap}
dl.grid{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 16px;margin:0}
dl.grid dt{color:var(--mute);font-size:13px;padding-top:2px}dl.grid dd{margin:0}
.amount{font-variant-numeric:tabular-nums;font-weight:600}
.note{border-left:4px solid var(--lag);background:#fff8e6;padding:10px 14px;margin:12px 0}
.bad{border-left-color:var(--silent);background:#fdecea}
.legend{margin-bottom:14px}
.legend span{margin-right:16px;white-space:nowrap;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px;border-radius:2px}
svg text{font-family:inherit}
.rev td{color:#98a2ad;text-decoration:line-through}.rev td.keep{text-decoration:none}
.field-error{color:var(--silent);font-size:13px}
.progress{white-space:nowrap}.progress .bar{display:inline-block;width:60px;height:8px;background:#e3e7ec;border-radius:4px;vertical-align:middle;overflow:hidden}.progress .bar i{display:block;height:100%;background:var(--ok)}
.grid-form{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.grid-form label,table.form-rows label,.inline label{display:flex;flex-direction:column;font-size:13px;color:var(--mute);gap:4px}
.inline{display:flex;gap:12px;align-items:end}
button.minor{background:#fff;color:var(--ink);border-color:#b8c0cb}
a.button{display:inline-block;background:var(--brand);color:#fff;padding:5px 16px;border-radius:4px}
[aria-invalid=true]{border-color:var(--silent)}
footer{color:var(--mute);font-size:12px;margin-top:32px;padding:12px 0 24px;border-top:1px solid var(--line)}
.public-nav a,.public-nav b{margin-right:16px}.print-only{display:none}
@media print{body{background:#fff;font-size:11px}header.top{background:#fff;color:#000;border-bottom:2px solid #000}
header.top nav,.langs,.who,form,.export,.pager,.quick,.no-print{display:none!important}
.brand .sys,.brand .code{opacity:1;border-color:#000}.wrap{max-width:none;padding:0}
.scroll{overflow:visible}table{border:1px solid #000}th,td{border:1px solid #888;padding:3px 5px}
th{background:#eee}thead{display:table-header-group}tr{page-break-inside:avoid}a{color:#000}
.card{border:1px solid #888}.print-only{display:block}footer{border-top:1px solid #000}}
"#;

/// A frame for the rendering tests: the prefecture, at `/`.
#[cfg(test)]
pub(crate) fn test_chrome(lang: Lang) -> Chrome {
    Chrome {
        lang,
        node_code: "652800".into(),
        node_name: "巴音郭楞蒙古自治州".into(),
        level: Level::Prefecture,
        path: "/".into(),
        query: vec![],
        who: Some(Who {
            login: "zhang".into(),
            name: "张三".into(),
            roles: Role::ALL.to_vec(),
            csrf: "t".into(),
        }),
    }
}
