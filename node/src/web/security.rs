//! `/security/logins` (登录日志) and `/security/operations` (操作日志): the
//! security log this node holds, its own and its subtree's (rolled up as
//! `security_event` entries), with filters and a CSV export
//! (`?format=csv`) that Excel opens with its Chinese intact.

use std::collections::HashMap;

use fundsync_protocol::body::SecurityEventKind;
use maud::{html, Markup};

use crate::access::Role;
use crate::ledger::query::SecurityRow;

use super::form::{field, filter_form, hidden, submit, Field, InputKind};
use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::text::{datetime, Lang};

/// Which of the two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// 登录日志: signing in and out, and what refused it.
    Logins,
    /// 操作日志: everything else (accounts, roles, tokens, refusals).
    Operations,
}

impl Log {
    pub fn path(self) -> &'static str {
        match self {
            Log::Logins => "/security/logins",
            Log::Operations => "/security/operations",
        }
    }

    pub fn title(self, l: Lang) -> &'static str {
        match self {
            Log::Logins => l.t("登录日志", "Login log"),
            Log::Operations => l.t("操作日志", "Operations log"),
        }
    }

    /// The events this log shows.
    pub fn events(self) -> Vec<SecurityEventKind> {
        SecurityEventKind::ALL
            .into_iter()
            .filter(|k| k.is_login() == (self == Log::Logins))
            .collect()
    }

    /// The name the CSV export is saved as.
    pub fn file_name(self) -> &'static str {
        match self {
            Log::Logins => "login-log.csv",
            Log::Operations => "operations-log.csv",
        }
    }
}

/// An event's name for people.
pub fn event_label(l: Lang, k: SecurityEventKind) -> &'static str {
    use SecurityEventKind::*;
    match k {
        LoginSucceeded => l.t("登录成功", "Signed in"),
        LoginFailed => l.t("登录失败", "Sign-in failed"),
        AccountLocked => l.t("账号锁定", "Account locked"),
        LoggedOut => l.t("退出登录", "Signed out"),
        TokenCreated => l.t("创建令牌", "Token created"),
        TokenRevoked => l.t("吊销令牌", "Token revoked"),
        UserCreated => l.t("新建用户", "User created"),
        UserDisabled => l.t("停用用户", "User disabled"),
        UserEnabled => l.t("启用用户", "User enabled"),
        PasswordReset => l.t("重置密码", "Password reset"),
        PasswordChanged => l.t("修改密码", "Password changed"),
        RoleGranted => l.t("授予角色", "Role granted"),
        RoleRevoked => l.t("收回角色", "Role revoked"),
        PermissionDenied => l.t("越权访问被拒绝", "Permission denied"),
    }
}

fn event_text(l: Lang, event: &str) -> String {
    event
        .parse::<SecurityEventKind>()
        .map_or_else(|_| event.to_owned(), |k| event_label(l, k).to_owned())
}

fn role_text(l: Lang, role: &str) -> String {
    match role.parse::<Role>() {
        Ok(r) => l.t(r.zh(), r.as_str()).to_owned(),
        Err(_) => role.to_owned(),
    }
}

/// What the page shows, and the filters it was asked with (as given).
#[derive(Debug)]
pub struct SecurityPage {
    pub log: Log,
    pub rows: Vec<SecurityRow>,
    pub page: u32,
    pub page_size: u32,
    pub has_more: bool,
    /// `origin`, `event`, `login`, `from`, `to` as given.
    pub filters: Vec<(String, String)>,
    /// Node code → name.
    pub names: HashMap<String, String>,
}

impl SecurityPage {
    fn given(&self, key: &str) -> &str {
        self.filters
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn link(&self, extra: &[(&str, String)]) -> String {
        let mut q: Vec<(&str, String)> = self
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        q.extend(extra.iter().cloned());
        url(self.log.path(), &q)
    }
}

pub fn render(c: &Chrome, p: &SecurityPage) -> Markup {
    let l = c.lang;
    let events = p.log.events();
    let mut options: Vec<(&str, &str)> = vec![("", l.t("全部", "all"))];
    options.extend(events.iter().map(|k| (k.as_str(), event_label(l, *k))));
    let body = html! {
        p class="sub" {
            @for log in [Log::Logins, Log::Operations] {
                @if log == p.log {
                    b { (log.title(l)) }
                } @else {
                    a href=(log.path()) { (log.title(l)) }
                }
                " · "
            }
            (l.t(
                "本级及下级节点的安全事件，随同步上报，不可更改。时间为北京时间。",
                "Security events of this node and the nodes below it, rolled up with sync and unalterable. Times are China Standard Time."
            ))
        }
        div class="card" {
            (filter_form(p.log.path(), html! {
                (field(l, &Field::input("from", l.t("起始日期", "From"), InputKind::Date).value(p.given("from"))))
                (field(l, &Field::input("to", l.t("截止日期", "To"), InputKind::Date).value(p.given("to"))))
                (field(l, &Field::select("event", l.t("事件", "Event"), &options).value(p.given("event"))))
                (field(l, &Field::input("login", l.t("账号", "Login"), InputKind::Text).value(p.given("login"))))
                (field(l, &Field::input("origin", l.t("单位代码", "Node code"), InputKind::Text).value(p.given("origin"))))
                (hidden("lang", l.code()))
                (submit(l.t("查询", "Show")))
                div class="quick" {
                    a href=(p.link(&[("format", "csv".to_owned())])) {
                        (l.t("导出 CSV", "Export CSV"))
                    }
                }
            }))
        }
        div class="scroll" {
            table {
                thead {
                    tr {
                        th { (l.t("时间", "Time")) }
                        th { (l.t("单位", "Node")) }
                        th { (l.t("事件", "Event")) }
                        th { (l.t("操作人", "Actor")) }
                        th { (l.t("客户端地址", "Client address")) }
                        th { (l.t("对象账号", "Subject")) }
                        th { (l.t("说明", "Detail")) }
                    }
                }
                tbody {
                    @for r in &p.rows {
                        tr {
                            td class="nowrap" { (datetime(r.at_ms)) }
                            td class="nowrap" {
                                (p.names.get(&r.origin).map(String::as_str).unwrap_or(""))
                                " " span class="muted" { (r.origin) }
                            }
                            td class="nowrap" { (event_text(l, &r.event)) }
                            td class="nowrap" {
                                (r.actor_name) " "
                                span class="muted" { "(" (r.actor_login) " · " (role_text(l, &r.actor_role)) ")" }
                            }
                            td class="nowrap" { (r.actor_addr) }
                            td class="nowrap" { (r.subject) }
                            td { (r.detail) }
                        }
                    }
                    @if p.rows.is_empty() {
                        tr {
                            td colspan="7" class="muted" {
                                (l.t("没有符合条件的记录。", "No events match."))
                            }
                        }
                    }
                }
            }
        }
        div class="pager" {
            @if p.page > 1 {
                a href=(p.link(&[("page", (p.page - 1).to_string()), ("page_size", p.page_size.to_string())])) {
                    "← " (l.t("上一页", "Previous"))
                }
            }
            span class="muted" {
                (l.t("第", "Page")) " " (p.page) " " (l.t("页", "")) " · "
                (p.rows.len()) " " (l.t("条", "rows"))
            }
            @if p.has_more {
                a href=(p.link(&[("page", (p.page + 1).to_string()), ("page_size", p.page_size.to_string())])) {
                    (l.t("下一页", "Next")) " →"
                }
            }
        }
    };
    page(c, Nav::Security, p.log.title(l), body)
}

/// A cell as a spreadsheet should read it: text that would start a formula
/// (`=`, `+`, `-`, `@`, a tab or a return: a login typed at a failed sign-in
/// is anyone's) is kept as text with a leading `'`.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

/// The rows as CSV, UTF-8 with a byte-order mark (so Excel reads the
/// Chinese), Chinese headers; `None` if writing fails (it writes to memory).
pub fn csv(l: Lang, rows: &[SecurityRow], names: &HashMap<String, String>) -> Option<Vec<u8>> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record([
            l.t("时间", "Time"),
            l.t("单位代码", "Node code"),
            l.t("单位", "Node"),
            l.t("事件", "Event"),
            l.t("账号", "Login"),
            l.t("姓名", "Name"),
            l.t("角色", "Role"),
            l.t("客户端地址", "Client address"),
            l.t("对象账号", "Subject"),
            l.t("说明", "Detail"),
            l.t("条目", "Entry"),
        ])
        .ok()?;
        for r in rows {
            w.write_record([
                datetime(r.at_ms),
                r.origin.clone(),
                names.get(&r.origin).cloned().unwrap_or_default(),
                event_text(l, &r.event),
                cell(&r.actor_login),
                cell(&r.actor_name),
                role_text(l, &r.actor_role),
                cell(&r.actor_addr),
                cell(&r.subject),
                cell(&r.detail),
                format!("{}-{}", r.origin, r.seq),
            ])
            .ok()?;
        }
        w.flush().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;

    fn row(event: &str, subject: &str) -> SecurityRow {
        SecurityRow {
            origin: "652822".into(),
            seq: 7,
            at_ms: 1_600_000_000_000,
            event: event.into(),
            actor_login: "zhangsan".into(),
            actor_name: "张三".into(),
            actor_role: "admin".into(),
            actor_addr: "10.0.0.1".into(),
            subject: subject.into(),
            detail: "<b>treasury</b>".into(),
        }
    }

    #[test]
    fn the_logs_split_the_events_between_them() {
        let logins = Log::Logins.events();
        let ops = Log::Operations.events();
        assert_eq!(logins.len() + ops.len(), SecurityEventKind::ALL.len());
        assert!(logins.contains(&SecurityEventKind::LoginFailed));
        assert!(ops.contains(&SecurityEventKind::PermissionDenied));
        assert!(!ops.contains(&SecurityEventKind::LoggedOut));
    }

    #[test]
    fn the_page_names_events_actors_and_escapes() {
        let p = SecurityPage {
            log: Log::Operations,
            rows: vec![row("role_granted", "lisi")],
            page: 1,
            page_size: 50,
            has_more: true,
            filters: vec![("login".into(), "lisi".into())],
            names: HashMap::from([("652822".to_owned(), "轮台县".to_owned())]),
        };
        let s = render(&chrome(Lang::Zh), &p).into_string();
        assert!(s.contains("<h1>操作日志</h1>"), "{s}");
        assert!(s.contains("授予角色"));
        assert!(s.contains("张三 <span class=\"muted\">(zhangsan · 系统管理员)</span>"));
        assert!(s.contains("轮台县 <span class=\"muted\">652822</span>"));
        assert!(s.contains("&lt;b&gt;treasury&lt;/b&gt;") && !s.contains("<b>treasury"));
        assert!(s.contains("href=\"/security/operations?login=lisi&amp;format=csv\""));
        assert!(s.contains("login=lisi&amp;page=2&amp;page_size=50"));
        assert!(s.contains("2020-09-13 20:26:40"));
    }

    #[test]
    fn the_csv_has_a_bom_chinese_headers_and_no_formulas() {
        let names = HashMap::from([("652822".to_owned(), "轮台县".to_owned())]);
        let bytes = csv(
            Lang::Zh,
            &[row("login_failed", "=HYPERLINK(\"x\")")],
            &names,
        )
        .expect("csv");
        assert!(bytes.starts_with("\u{feff}".as_bytes()));
        let text = String::from_utf8(bytes).expect("utf-8");
        let mut lines = text.trim_start_matches('\u{feff}').lines();
        assert_eq!(
            lines.next(),
            Some("时间,单位代码,单位,事件,账号,姓名,角色,客户端地址,对象账号,说明,条目")
        );
        let line = lines.next().expect("a row");
        assert!(
            line.starts_with(
                "2020-09-13 20:26:40,652822,轮台县,登录失败,zhangsan,张三,系统管理员,10.0.0.1,"
            ),
            "{line}"
        );
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
        assert!(line.ends_with(",652822-7"), "{line}");
    }
}
