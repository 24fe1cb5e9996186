//! `/operations` (运行监控), for operators: this node, the tree below it and
//! how recently each node was heard from, and the link to the parent. The
//! officers' home page is [`super::overview`]; it shows one line of this.

use std::collections::HashMap;

use crate::ledger::query::SyncAlarm;
use crate::sync::LinkStatus;

use maud::{html, Markup};

use super::html::url;
use super::layout::{page, Chrome, Nav};
use super::text::{ago, datetime, Lang};

/// A node with no link report here yet (`sync::health`: its link reports
/// roll up as entries) is judged by the age of its newest entry held here.
/// Younger than this: up to date. This is only an estimate until the node's
/// first link report arrives; the real link health (entries and seconds
/// behind, failures) comes from those reports.
pub const OK_WITHIN_MS: i64 = 60 * 60 * 1000;
/// Younger than this (and older than [`OK_WITHIN_MS`]): lagging. Older:
/// silent. The same estimate as above.
pub const LAGGING_WITHIN_MS: i64 = 24 * 60 * 60 * 1000;

/// How a node's replication looks from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    Ok,
    Lagging,
    Silent,
    /// Its link reports failing again and again.
    Broken,
    /// Nothing from it held here.
    Never,
    /// Cut off by its parent (`child_revoked`).
    Revoked,
}

impl Replication {
    /// From a link report's state (`sync::LinkState::as_str`).
    pub fn from_report(state: &str) -> Replication {
        match state {
            "ok" => Replication::Ok,
            "lagging" => Replication::Lagging,
            "broken" => Replication::Broken,
            "revoked" => Replication::Revoked,
            _ => Replication::Silent,
        }
    }

    /// The estimate from the age of the newest entry (see [`OK_WITHIN_MS`]).
    pub fn of(last_ms: Option<i64>, now_ms: i64) -> Replication {
        let Some(last) = last_ms else {
            return Replication::Never;
        };
        let age = now_ms.saturating_sub(last);
        if age < OK_WITHIN_MS {
            Replication::Ok
        } else if age < LAGGING_WITHIN_MS {
            Replication::Lagging
        } else {
            Replication::Silent
        }
    }

    fn class(self) -> &'static str {
        match self {
            Replication::Ok => "ok",
            Replication::Lagging => "lagging",
            Replication::Silent => "silent",
            Replication::Broken => "broken",
            Replication::Never => "none",
            // Cut off, as a broken link is: the same colour.
            Replication::Revoked => "broken",
        }
    }

    pub fn label(self, l: Lang) -> &'static str {
        match self {
            Replication::Ok => l.t("正常", "OK"),
            Replication::Lagging => l.t("滞后", "Lagging"),
            Replication::Silent => l.t("失联", "Silent"),
            Replication::Broken => l.t("中断", "Broken"),
            Replication::Never => l.t("无数据", "No data"),
            Replication::Revoked => l.t("已吊销", "Revoked"),
        }
    }
}

/// A node of the tree with what this node holds of its journal.
#[derive(Debug, Clone)]
pub struct TreeNode {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
    /// The head of its chain held here.
    pub head_seq: Option<u64>,
    /// When its newest entry held here was made (ms since the epoch).
    pub last_ms: Option<i64>,
    /// Its latest link report, if one has arrived.
    pub report: Option<LinkReport>,
    /// Revoked (the health tree's judgement): shown so at once, whatever
    /// its last report said.
    pub revoked: bool,
}

/// What a node last reported about its link to its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// `ok`, `lagging`, `silent` (the report is too old) or `broken`.
    pub state: String,
    pub age_seconds: u64,
    pub up_behind: u64,
    pub down_behind: u64,
    pub failures: u32,
}

impl TreeNode {
    /// The state shown, and whether it is only the estimate from the age of
    /// the newest entry (no link report yet).
    pub fn replication(&self, now_ms: i64) -> (Replication, bool) {
        if self.revoked {
            return (Replication::Revoked, false);
        }
        match &self.report {
            Some(r) => (Replication::from_report(&r.state), false),
            None => (Replication::of(self.last_ms, now_ms), true),
        }
    }
}

/// How many of the newest sync alarms the page shows (the rest:
/// `GET /api/v1/sync/alarms`).
pub const ALARMS_SHOWN: u32 = 20;

/// Everything the operations page shows.
#[derive(Debug, Clone)]
pub struct Operations {
    pub me: String,
    pub nodes: Vec<TreeNode>,
    /// The newest sync alarms raised here, newest first.
    pub alarms: Vec<SyncAlarm>,
    pub parent: Option<String>,
    pub link: Option<LinkStatus>,
    /// Restored from a backup behind its acknowledgement mark: local writes
    /// refused until the own chain is taken back.
    pub restored: Option<crate::ledger::restored::Restored>,
    pub now_ms: i64,
}

/// One line of the tree: the node and its depth below the root.
struct Line<'a> {
    node: &'a TreeNode,
    depth: usize,
}

/// The nodes below `root` in depth-first order, children by code. Nodes not
/// reachable from `root` are left out.
fn tree_lines<'a>(nodes: &'a [TreeNode], root: &str) -> Vec<Line<'a>> {
    let mut children: HashMap<&str, Vec<&TreeNode>> = HashMap::new();
    for n in nodes {
        if let Some(p) = &n.parent {
            children.entry(p.as_str()).or_default().push(n);
        }
    }
    for v in children.values_mut() {
        v.sort_by(|a, b| a.code.cmp(&b.code));
    }
    let mut out = Vec::new();
    let Some(top) = nodes.iter().find(|n| n.code == root) else {
        return out;
    };
    // An explicit stack; the tree is at most three levels deep, the depth
    // bound only guards against a corrupt cycle.
    let mut stack = vec![(top, 0usize)];
    while let Some((n, depth)) = stack.pop() {
        out.push(Line { node: n, depth });
        if depth < 8 {
            if let Some(kids) = children.get(n.code.as_str()) {
                stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
            }
        }
    }
    out
}

/// The states in the order the cards count them.
pub const STATES: [Replication; 6] = [
    Replication::Ok,
    Replication::Lagging,
    Replication::Silent,
    Replication::Broken,
    Replication::Never,
    Replication::Revoked,
];

pub fn render(c: &Chrome, o: &Operations) -> Markup {
    let l = c.lang;
    let lines = tree_lines(&o.nodes, &o.me);

    // Counts by state, for the cards.
    let mut counts = [0usize; STATES.len()];
    for line in lines.iter().filter(|x| x.node.code != o.me) {
        let st = line.node.replication(o.now_ms).0;
        if let Some(i) = STATES.iter().position(|s| *s == st) {
            counts[i] += 1;
        }
    }
    let below = lines.len().saturating_sub(1);

    let body = html! {
        div class="cards" {
            div class="card" {
                div class="k" { (l.t("本节点", "This node")) }
                div class="v" { (c.node_name) }
                div class="sub" { (l.t("代码", "Code")) " " (c.node_code) " · " (l.level(c.level)) }
            }
            div class="card" {
                div class="k" { (l.t("下级节点", "Nodes below")) }
                div class="v" { (below) }
                div class="sub" {
                    @for (n, st) in counts.into_iter().zip(STATES) {
                        @if n > 0 || !matches!(st, Replication::Never | Replication::Broken | Replication::Revoked) {
                            span class={ "dot " (st.class()) } {}
                            (st.label(l)) " " (n) "\u{a0}\u{a0} "
                        }
                    }
                }
            }
            (link_card(l, o))
        }
        @if let Some(r) = &o.restored {
            p class="st broken" id="restored" {
                @match l {
                    Lang::Zh => (r.zh()),
                    Lang::En => (format!(
                        "This node's ledger was restored from a backup: it is taking back its own entries (held up to seq {} of {} acknowledged); nothing is recorded here until then",
                        r.own_head, r.acknowledged)),
                }
            }
        }
        h2 { (l.t("辖区节点与同步状态", "Nodes and replication")) }
        p class="sub" {
            (l.t(
                "状态来自各节点逐级上报的链路报告（上行/下行落后的条目数、连续失败次数）。尚无报告的节点按本节点所持其最新条目的时间估计：1 小时内为正常，24 小时内为滞后，更久为失联。",
                "State comes from the link reports each node sends up (entries behind in each direction, failures in a row). A node with no report yet is estimated from the age of its newest entry held here: under 1 hour OK, under 24 hours lagging, older silent."
            ))
        }
        div class="scroll" {
            table class="tree" {
                thead {
                    tr {
                        th { (l.t("节点", "Node")) }
                        th { (l.t("代码", "Code")) }
                        th { (l.t("层级", "Level")) }
                        th { (l.t("状态", "State")) }
                        th { (l.t("链路报告", "Link report")) }
                        th class="num" { (l.t("最新序号", "Head seq")) }
                        th { (l.t("最新条目", "Newest entry")) }
                        th { (l.t("查看", "View")) }
                    }
                }
                tbody {
                    @for line in &lines {
                        (tree_row(l, o, line))
                    }
                }
            }
        }
        (alarms(l, o))
    };
    page(c, Nav::Operations, l.t("运行监控", "Operations"), body)
}

fn tree_row(l: Lang, o: &Operations, line: &Line<'_>) -> Markup {
    let n = line.node;
    let (st, estimated) = n.replication(o.now_ms);
    let me = n.code == o.me;
    html! {
        tr {
            td style={ "padding-left:" (10 + 26 * line.depth) "px" } {
                span class="branch" { @if line.depth > 0 { "└" } }
                span class={ "dot " (if me { "self" } else { st.class() }) } {}
                (n.name)
            }
            td { (n.code) }
            td { (l.level_str(&n.level)) }
            @if me {
                td { span class="st self" { (l.t("本节点", "This node")) } }
                td class="muted" { "—" }
            } @else {
                td {
                    span class={ "st " (st.class()) } {
                        (st.label(l))
                        @if estimated { (l.t("（估）", " (est.)")) }
                    }
                }
                @match &n.report {
                    Some(r) => {
                        td class="nowrap" {
                            (l.t("上行落后", "up behind")) " " (r.up_behind) " · "
                            (l.t("下行落后", "down behind")) " " (r.down_behind)
                            @if r.failures > 0 {
                                " · " (l.t("连续失败", "failures")) " " (r.failures)
                            }
                            " "
                            span class="sub" {
                                "· " (l.t("报告于", "reported")) " "
                                (ago(l, 0, i64::try_from(r.age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)))
                            }
                        }
                    }
                    None => { td class="muted" { (l.t("尚无报告", "none yet")) } }
                }
            }
            @match n.head_seq {
                Some(s) => { td class="num" { (s) } }
                None => { td class="num muted" { "—" } }
            }
            @match n.last_ms {
                Some(ms) => {
                    td class="nowrap" { (datetime(ms)) " " span class="sub" { "· " (ago(l, ms, o.now_ms)) } }
                }
                None => { td class="muted" { "—" } }
            }
            td class="nowrap" {
                a href=(url("/ledger", &[("node", n.code.clone())])) { (l.t("台账", "Ledger")) }
                " · "
                a href=(url("/allocations", &[("holder", n.code.clone())])) { (l.t("指标", "Allocations")) }
                " · "
                a href=(url("/payments", &[("origin", n.code.clone())])) { (l.t("支付", "Payments")) }
            }
        }
    }
}

/// What an alarm's code means, for people.
fn alarm_kind(l: Lang, kind: &str) -> &'static str {
    match kind {
        "fork" => l.t("分叉：同一序号两条不同条目", "Fork: two entries at one seq"),
        "bad_checkpoint" => l.t(
            "检查点不符：条目在转发中被改动",
            "Bad checkpoint: entries altered on the way",
        ),
        "broken_chain" => l.t(
            "链断裂：条目在转发中被改动、删除或调换",
            "Broken chain: entries altered, dropped or swapped on the way",
        ),
        "bad_signature" => l.t("签名无效", "Bad signature"),
        "foreign_key" => l.t("上级登记了他人的密钥", "The parent registered another key"),
        "digest_mismatch" => l.t("下行摘要不符", "Down stream digest mismatch"),
        "parent_copy_wrong" => l.t(
            "上级所存本节点账链有误：与本节点签名不符",
            "The parent's copy of this node's chain is wrong: it does not match this node's signature",
        ),
        "summary_mismatch" => l.t(
            "资金数据摘要不符：某一方的派生数据被改动",
            "Money rows differ from the child's: one copy altered behind its ledger",
        ),
        _ => l.t("其他", "Other"),
    }
}

/// The newest sync alarms: who sent what was refused (the relay caught
/// lying, when the refusal proves it) and whose chain it was about.
fn alarms(l: Lang, o: &Operations) -> Markup {
    html! {
        h2 { (l.t("同步告警", "Sync alarms")) }
        p class="sub" {
            (l.t(
                "本节点拒收并能证明发送方有误的数据：发送节点为转发或发送该数据的节点，涉及节点为其账本被改动的节点。完整列表：GET /api/v1/sync/alarms。",
                "Data this node refused that proves its sender wrong: the sender is the node that sent or relayed it, the origin the node whose books it was about. All of them: GET /api/v1/sync/alarms."
            ))
        }
        @if o.alarms.is_empty() {
            p class="muted" { (l.t("无告警", "No alarms")) }
        } @else {
            div class="scroll" {
                table class="alarms" {
                    thead {
                        tr {
                            th { (l.t("时间", "When")) }
                            th { (l.t("发送节点", "Sender")) }
                            th { (l.t("涉及节点", "Origin")) }
                            th { (l.t("类型", "Kind")) }
                            th { (l.t("说明", "Message")) }
                        }
                    }
                    tbody {
                        @for a in &o.alarms {
                            tr {
                                td class="nowrap" { (datetime(a.at_ms)) " " span class="sub" { "· " (ago(l, a.at_ms, o.now_ms)) } }
                                td { (a.peer) }
                                td { (a.origin.as_deref().unwrap_or("—")) }
                                td { span class="st broken" { (alarm_kind(l, &a.kind)) } " " code { (a.kind) } }
                                td { (a.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn link_card(l: Lang, o: &Operations) -> Markup {
    let label = l.t("上级链路", "Link to the parent");
    let Some(s) = &o.link else {
        let why = match &o.parent {
            None => l.t(
                "本节点为最高层级，无上级。",
                "Top node: there is no parent.",
            ),
            Some(_) => l.t(
                "未与上级同步（尚未注册或未配置上级地址）。",
                "Not syncing with the parent (not enrolled, or no parent URL).",
            ),
        };
        return html! {
            div class="card" {
                div class="k" { (label) }
                div class="v" { "—" }
                div class="sub" { (why) }
            }
        };
    };
    let parent = s
        .parent
        .map(|p| p.to_string())
        .or_else(|| o.parent.clone())
        .unwrap_or_default();
    let (class, state) = if s.push_failures > 0 || s.pull_failures > 0 {
        ("silent", l.t("连接失败", "Failing"))
    } else if s.last_up_ms.is_some() || s.last_down_ms.is_some() {
        ("ok", l.t("已连接", "Connected"))
    } else {
        ("none", l.t("连接中", "Connecting"))
    };
    let when = |ms: Option<i64>| match ms {
        Some(ms) => format!("{} ({})", datetime(ms), ago(l, ms, o.now_ms)),
        None => "—".into(),
    };
    html! {
        div class="card" {
            div class="k" { (label) }
            div class="v" { (parent) " " span class={ "st " (class) } { (state) } }
            div class="sub" {
                (l.t("最近上行", "Last push")) "：" (when(s.last_up_ms)) br;
                (l.t("最近下行", "Last pull")) "：" (when(s.last_down_ms)) br;
                (l.t("已发送", "Sent")) " " (s.entries_sent) " · "
                (l.t("已接收", "Received")) " " (s.entries_received)
                // Each direction's failures and error apart: a pull that
                // works does not hide a push that keeps failing.
                @if s.push_failures > 0 {
                    br; (l.t("上行连续失败", "Push failures in a row")) " " (s.push_failures)
                }
                @if let Some(e) = &s.push_error {
                    br; (l.t("上行错误", "Push error")) "：" (e)
                }
                @if s.pull_failures > 0 {
                    br; (l.t("下行连续失败", "Pull failures in a row")) " " (s.pull_failures)
                }
                @if let Some(e) = &s.pull_error {
                    br; (l.t("下行错误", "Pull error")) "：" (e)
                }
                @match s.divergence {
                    Some(crate::link::Divergence::ParentCopyWrong) => {
                        br; span class="st broken" {
                            (l.t("上级所存本节点账链有误（与本节点签名不符），非本节点从备份恢复",
                                 "The parent's copy of this node's chain is wrong (it does not match this node's signature); this node was not restored from a backup"))
                        }
                    }
                    Some(crate::link::Divergence::Diverged) => {
                        br; span class="st broken" {
                            (l.t("本节点账链与上级所存不一致（从旧备份恢复后又有写入？）",
                                 "This node's chain differs from the parent's copy (restored from an old backup and written to since?)"))
                        }
                    }
                    None => {}
                }
                @for h in &s.held_back {
                    br; (l.t("上级拒收其账链，暂缓发送", "Refused by the parent, held back")) "："
                    (h.origin) " " code { (h.error) } " ×" (h.refusals)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome as chrome;

    fn node(
        code: &str,
        name: &str,
        level: &str,
        parent: Option<&str>,
        last: Option<i64>,
    ) -> TreeNode {
        TreeNode {
            code: code.into(),
            name: name.into(),
            level: level.into(),
            parent: parent.map(Into::into),
            head_seq: last.map(|_| 7),
            last_ms: last,
            report: None,
            revoked: false,
        }
    }

    #[test]
    fn states_follow_the_age_of_the_newest_entry() {
        let now = 100 * LAGGING_WITHIN_MS;
        assert_eq!(Replication::of(Some(now - 1), now), Replication::Ok);
        assert_eq!(
            Replication::of(Some(now - OK_WITHIN_MS), now),
            Replication::Lagging
        );
        assert_eq!(
            Replication::of(Some(now - LAGGING_WITHIN_MS), now),
            Replication::Silent
        );
        assert_eq!(Replication::of(None, now), Replication::Never);
    }

    #[test]
    fn the_tree_is_drawn_in_order_with_states_and_escaped_names() {
        let now = 10 * LAGGING_WITHIN_MS;
        let o = Operations {
            me: "652800".into(),
            nodes: vec![
                node(
                    "652822",
                    "轮台县",
                    "county",
                    Some("652800"),
                    Some(now - 2 * OK_WITHIN_MS),
                ),
                node(
                    "652800",
                    "巴音郭楞蒙古自治州",
                    "prefecture",
                    Some("650000"),
                    Some(now),
                ),
                node(
                    "652801",
                    "<script>alert(1)</script>",
                    "county",
                    Some("652800"),
                    None,
                ),
                node(
                    "652829",
                    "博湖县",
                    "county",
                    Some("652800"),
                    Some(now - 2 * LAGGING_WITHIN_MS),
                ),
                TreeNode {
                    // A report outranks the age of the newest entry.
                    report: Some(LinkReport {
                        state: "broken".into(),
                        age_seconds: 120,
                        up_behind: 12,
                        down_behind: 0,
                        failures: 5,
                    }),
                    ..node("652828", "和硕县", "county", Some("652800"), Some(now))
                },
                TreeNode {
                    // Revoked outranks a report that said "ok".
                    report: Some(LinkReport {
                        state: "ok".into(),
                        age_seconds: 5,
                        up_behind: 0,
                        down_behind: 0,
                        failures: 0,
                    }),
                    revoked: true,
                    ..node("652827", "和静县", "county", Some("652800"), Some(now))
                },
            ],
            alarms: vec![SyncAlarm {
                id: 1,
                at_ms: now - 60_000,
                peer: "652800".into(),
                origin: Some("652822".into()),
                kind: "broken_chain".into(),
                message: "<i>broken chain</i> in the batch: 652822-7".into(),
            }],
            parent: Some("650000".into()),
            link: Some(LinkStatus {
                push_failures: 3,
                push_error: Some("<b>refused</b>".into()),
                pull_failures: 0,
                pull_error: None,
                divergence: Some(crate::link::Divergence::ParentCopyWrong),
                held_back: vec![crate::link::HeldOrigin {
                    origin: fundsync_protocol::NodeCode::from_bytes(*b"652823").expect("a code"),
                    error: "bad_checkpoint".into(),
                    message: "checkpoint 652823-4 names a different head".into(),
                    since_ms: now - 5_000,
                    refusals: 4,
                }],
                ..LinkStatus::default()
            }),
            restored: Some(crate::ledger::restored::Restored {
                own_head: 7,
                acknowledged: 12,
            }),
            now_ms: now,
        };
        let shown = render(&chrome(Lang::Zh), &o).into_string();
        assert!(
            shown.contains("本节点账本已从备份恢复") && shown.contains("已取回至 7 / 上级持有 12"),
            "{shown}"
        );
        let s = render(&chrome(Lang::Zh), &o).into_string();
        assert!(!s.contains("<script>alert"), "{s}");
        assert!(!s.contains("<b>refused"));
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let pos = |x: &str| s.find(x).unwrap_or_else(|| panic!("{x} missing"));
        assert!(pos("&lt;script&gt;") < pos("轮台县") && pos("轮台县") < pos("博湖县"));
        assert!(s.contains("padding-left:36px\"><span class=\"branch\">└"));
        assert!(s.contains("st lagging") && s.contains("st silent") && s.contains("st none"));
        assert!(s.contains("上行连续失败 3"), "{s}");
        assert!(s.contains("上级所存本节点账链有误"), "{s}");
        assert!(
            s.contains("暂缓发送：652823 <code>bad_checkpoint</code> ×4"),
            "{s}"
        );
        assert!(s.contains("链断裂：条目在转发中被改动、删除或调换"), "{s}");
        assert!(s.contains("<td>652800</td><td>652822</td>"), "{s}");
        assert!(!s.contains("<i>broken"), "escaped: {s}");
        assert!(!s.contains("下行连续失败"), "the pull did not fail: {s}");
        assert!(s.contains("st broken\">已吊销</span>"), "{s}");
        assert!(s.contains("st broken\">中断</span>"), "{s}");
        assert!(s.contains("上行落后 12 · 下行落后 0 · 连续失败 5"));
        assert!(s.contains("报告于 2 分钟前"));
        assert!(s.contains("st lagging\">滞后（估）"));
        assert!(s.contains("<html lang=\"zh-CN\">"));
    }
}
