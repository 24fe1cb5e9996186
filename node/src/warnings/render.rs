//! A warning's text for people, rendered when it is shown: from its rule and
//! its named values ([`Params`]), in Chinese or English.
//!
//! Warnings written since protocol version 3 carry their values
//! (`WarningRaised::params`); those written before carry only the English
//! message the rules wrote, signed into the journal, so [`parse_legacy`]
//! reads the values back from it (the English rendering here reproduces
//! those messages exactly, which the tests check). Only a message that does
//! not parse (cut short, or of a rule this release does not know) is shown
//! as it was stored. Resolutions are fixed English phrases (`Rule::cleared`,
//! the "passed on in full" of a late issue) and are translated by [`reason`].

use super::Rule;

pub use fundsync_protocol::body::WarningParams as Params;

/// The language a warning is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// Builds [`Params`] from pairs (empty values are left out).
pub fn params<const N: usize>(pairs: [(&str, String); N]) -> Params {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// The text of a warning of `rule` with these values, or `None` if the
/// rule is unknown or a value it needs is missing.
pub fn render(rule: &str, p: &Params, lang: Lang) -> Option<String> {
    let rule: Rule = rule.parse().ok()?;
    let g = |k: &str| p.get(k).map(String::as_str);
    let v = |k: &str| g(k).ok_or(());
    let zh = lang == Lang::Zh;
    let out: Result<String, ()> = (|| {
        Ok(match rule {
            Rule::IssueDeadline => {
                let (doc, cat, received, amount, n, deadline) = (
                    v("doc_no")?,
                    v("category")?,
                    v("received")?,
                    v("amount")?,
                    v("deadline_days")?,
                    v("deadline")?,
                );
                match (g("days"), zh) {
                    (Some(days), false) => format!(
                        "{doc} ({cat}), received {received}: {amount} yuan not passed on \
                         {days} days after receipt (deadline: {n} days, {deadline})"
                    ),
                    (Some(days), true) => format!(
                        "{doc}（{cat}）{received} 收到，{amount} 元收到 {days} 天后仍未分配下达\
                         （时限 {n} 天，{deadline}）"
                    ),
                    (None, false) => format!(
                        "{doc} ({cat}), received {received}: {amount} yuan not passed on \
                         within {n} days (deadline {deadline})"
                    ),
                    (None, true) => format!(
                        "{doc}（{cat}）{received} 收到，{amount} 元未在 {n} 天内分配下达\
                         （时限 {deadline}）"
                    ),
                }
            }
            Rule::IdleFunds => {
                let (doc, cat, amount) = (v("doc_no")?, v("category")?, v("amount")?);
                let mut why = Vec::new();
                if let (Some(since), Some(days)) = (g("since"), g("idle_days")) {
                    why.push(if zh {
                        format!("自 {since} 起 {days} 天无支付或下达")
                    } else {
                        format!("no payment or issue since {since} ({days} days)")
                    });
                }
                if let Some(k) = g("year_end_days") {
                    why.push(if zh {
                        format!("距年末 {k} 天仍未使用")
                    } else {
                        format!("still held {k} days before the year end")
                    });
                }
                if why.is_empty() {
                    return Err(());
                }
                if zh {
                    format!("{doc}（{cat}）{amount} 元闲置：{}", why.join("；"))
                } else {
                    format!("{doc} ({cat}): {amount} yuan idle: {}", why.join("; "))
                }
            }
            Rule::SlowSpending => {
                let (doc, cat, progress, gap, elapsed, allowed, amount) = (
                    v("doc_no")?,
                    v("category")?,
                    v("progress")?,
                    v("gap")?,
                    v("elapsed")?,
                    v("allowed")?,
                    v("amount")?,
                );
                if zh {
                    format!(
                        "{doc}（{cat}）支出进度 {progress}%，落后序时进度 {elapsed}% \
                         {gap} 个百分点（允许 {allowed} 个）；{amount} 元未支出"
                    )
                } else {
                    format!(
                        "{doc} ({cat}): spending progress {progress}% is {gap} points behind \
                         time-elapsed progress {elapsed}% (allowed: {allowed}); {amount} yuan unspent"
                    )
                }
            }
            Rule::Overspend => match g("project") {
                Some(code) => {
                    let (name, paid, amount, budget) =
                        (v("name")?, v("paid")?, v("amount")?, v("budget")?);
                    if zh {
                        format!(
                            "项目 {code} {name}：已支付 {paid} 元，超出预算 {budget} 元 {amount} 元"
                        )
                    } else {
                        format!(
                            "project {code} {name}: paid {paid} yuan, {amount} yuan above its \
                             budget of {budget}"
                        )
                    }
                }
                None => {
                    let (doc, cat, amount, allocated) =
                        (v("doc_no")?, v("category")?, v("amount")?, v("allocated")?);
                    if zh {
                        format!("{doc}（{cat}）下达和支付超出指标金额 {allocated} 元 {amount} 元")
                    } else {
                        format!(
                            "{doc} ({cat}): issued and paid {amount} yuan more than its amount \
                             of {allocated}"
                        )
                    }
                }
            },
            Rule::UnmatchedPayment => {
                let (voucher, on, amount, payee) =
                    (v("voucher")?, v("paid_on")?, v("amount")?, v("payee")?);
                let mut why = Vec::new();
                if let Some(a) = g("unknown_allocation") {
                    why.push(if zh {
                        format!("指标 {a} 不是本单位持有的指标")
                    } else {
                        format!("allocation {a} is not one this node holds")
                    });
                }
                if let (Some(doc), Some(d)) = (g("allocation_doc"), g("allocation_dated")) {
                    why.push(if zh {
                        format!("支付日期早于指标 {doc} 的日期（{d}）")
                    } else {
                        format!("paid before allocation {doc} is dated ({d})")
                    });
                }
                if let Some(p) = g("unknown_project") {
                    why.push(if zh {
                        format!("项目 {p} 不在项目库中")
                    } else {
                        format!("project {p} is not in the library")
                    });
                }
                if let Some(p) = g("cancelled_project") {
                    why.push(if zh {
                        format!("项目 {p} 已取消")
                    } else {
                        format!("project {p} is cancelled")
                    });
                }
                if let (Some(p), Some(d)) = (g("late_project"), g("project_starts_on")) {
                    why.push(if zh {
                        format!("支付日期早于项目 {p} 开工日期（{d}）")
                    } else {
                        format!("paid before project {p} starts ({d})")
                    });
                }
                if why.is_empty() {
                    return Err(());
                }
                if zh {
                    format!(
                        "凭证 {voucher}（{on}，{amount} 元，收款人 {payee}）：{}",
                        why.join("；")
                    )
                } else {
                    format!(
                        "voucher {voucher} of {on} ({amount} yuan to {payee}): {}",
                        why.join("; ")
                    )
                }
            }
            Rule::DuplicatePayment => {
                let (count, each, payee, on) =
                    (v("count")?, v("each")?, v("payee")?, v("paid_on")?);
                let vouchers = vouchers(g("vouchers").ok_or(())?, g("vouchers_more"), zh);
                if zh {
                    format!("{on} 向 {payee} 同额支付 {count} 笔，每笔 {each} 元：凭证 {vouchers}")
                } else {
                    format!(
                        "{count} payments of {each} yuan to {payee} on {on}: vouchers {vouchers}"
                    )
                }
            }
            Rule::SplitPayments => {
                let (count, payee, from, to, limit, amount) = (
                    v("count")?,
                    v("payee")?,
                    v("from")?,
                    v("to")?,
                    v("limit")?,
                    v("amount")?,
                );
                let vouchers = vouchers(g("vouchers").ok_or(())?, g("vouchers_more"), zh);
                if zh {
                    format!(
                        "{from} 至 {to} 向 {payee} 支付 {count} 笔，每笔略低于 {limit} 元限额，\
                         合计 {amount} 元：凭证 {vouchers}"
                    )
                } else {
                    format!(
                        "{count} payments to {payee} from {from} to {to}, each just under the \
                         {limit} yuan limit, {amount} yuan in all: vouchers {vouchers}"
                    )
                }
            }
            Rule::NegativeList => {
                let (voucher, on, amount, payee, listed) = (
                    v("voucher")?,
                    v("paid_on")?,
                    v("amount")?,
                    v("payee")?,
                    v("listed")?,
                );
                if zh {
                    format!(
                        "凭证 {voucher}（{on}）：向 {payee} 支付 {amount} 元，\
                         收款人在负面清单中（{listed}）"
                    )
                } else {
                    format!(
                        "voucher {voucher} of {on}: {amount} yuan to {payee}, on the negative \
                         list as {listed:?}"
                    )
                }
            }
            Rule::MissingTarget => {
                let (code, name, starts, days) =
                    (v("project")?, v("name")?, v("starts_on")?, v("days")?);
                if zh {
                    format!("项目 {code} {name} 于 {starts} 开工，{days} 天后仍无绩效目标")
                } else {
                    format!(
                        "project {code} {name} started on {starts} and has no performance \
                         target after {days} days"
                    )
                }
            }
            Rule::NodeSilent => {
                let (node, name, hours, since, allowed) = (
                    v("node")?,
                    v("name")?,
                    v("hours")?,
                    v("since")?,
                    v("allowed")?,
                );
                if zh {
                    format!(
                        "{node} {name}：已 {hours} 小时未收到任何数据（最后一条写于 {since}；\
                         允许 {allowed} 小时）"
                    )
                } else {
                    format!(
                        "{node} {name}: nothing received for {hours} hours (last entry \
                         written {since}; allowed: {allowed} hours)"
                    )
                }
            }
            Rule::TargetDeviation => {
                let (code, name, indicator, op, target) = (
                    v("project")?,
                    v("name")?,
                    v("indicator")?,
                    v("op")?,
                    v("target")?,
                );
                let unit = g("unit").unwrap_or("");
                if g("case") == Some("missing") {
                    let due = v("due")?;
                    return Ok(if zh {
                        format!(
                            "项目 {code} {name}：{indicator}（目标 {op} {target}{unit}）\
                             截至 {due} 仍未填报实际值"
                        )
                    } else {
                        format!(
                            "project {code} {name}: no actual of {indicator} (target {op} \
                             {target}{unit}) reported by {due}"
                        )
                    });
                }
                let actual = v("actual")?;
                if g("case") == Some("ceiling") {
                    return Ok(if zh {
                        format!(
                            "项目 {code} {name}：{indicator} 实际 {actual}{unit}，\
                             已超出目标上限 {op} {target}{unit}"
                        )
                    } else {
                        format!(
                            "project {code} {name}: {indicator} at {actual}{unit} is past \
                             its ceiling {op} {target}{unit}"
                        )
                    });
                }
                match (g("elapsed"), zh) {
                    (None, true) => format!(
                        "项目 {code} {name} 已完工：{indicator} 实际 {actual}{unit}，\
                         未达到目标 {op} {target}{unit}"
                    ),
                    (None, false) => format!(
                        "project {code} {name} is completed: {indicator} reached \
                         {actual}{unit}, short of its target {op} {target}{unit}"
                    ),
                    (Some(elapsed), zh) => {
                        let (progress, gap, allowed) = (v("progress")?, v("gap")?, v("allowed")?);
                        if zh {
                            format!(
                                "项目 {code} {name}：{indicator} 实际 {actual}{unit}，\
                                 完成目标 {target}{unit} 的 {progress}%，落后序时进度 \
                                 {elapsed}% {gap} 个百分点（允许 {allowed} 个）"
                            )
                        } else {
                            format!(
                                "project {code} {name}: {indicator} at {actual}{unit} is \
                                 {progress}% of its target {target}{unit}, {gap} points \
                                 behind time-elapsed progress {elapsed}% (allowed: {allowed})"
                            )
                        }
                    }
                }
            }
        })
    })();
    out.ok()
}

/// The vouchers a warning names: the first few (`a, b, c` in `shown`) and
/// how many more.
fn vouchers(shown: &str, more: Option<&str>, zh: bool) -> String {
    match (more, zh) {
        (None, false) => shown.to_owned(),
        (Some(n), false) => format!("{shown} and {n} more"),
        (None, true) => shown.split(", ").collect::<Vec<_>>().join("、"),
        (Some(n), true) => format!(
            "{} 等（另 {n} 张）",
            shown.split(", ").collect::<Vec<_>>().join("、")
        ),
    }
}

/// A warning's text: from its values, or from the values read back from
/// the English message of a warning written before they were kept, or,
/// failing both, the message as stored.
pub fn text(rule: &str, params: Option<&Params>, message: &str, lang: Lang) -> String {
    let parsed;
    let p = match params {
        Some(p) => Some(p),
        None => {
            parsed = parse_legacy(rule, message);
            parsed.as_ref()
        }
    };
    p.and_then(|p| render(rule, p, lang))
        .unwrap_or_else(|| message.to_owned())
}

/// The values of a warning written before they were kept, read back from
/// its English message; `None` if it does not have the rule's shape.
pub fn parse_legacy(rule: &str, m: &str) -> Option<Params> {
    let rule: Rule = rule.parse().ok()?;
    let s = |x: &str| x.to_owned();
    let p = match rule {
        Rule::IssueDeadline => {
            let (label, rest) = m.split_once(", received ")?;
            let (doc, cat) = label_parts(label)?;
            let (received, rest) = rest.split_once(": ")?;
            let (amount, rest) = rest.split_once(" yuan not passed on ")?;
            if let Some(rest) = rest.strip_prefix("within ") {
                let (n, rest) = rest.split_once(" days (deadline ")?;
                let deadline = rest.strip_suffix(')')?;
                params([
                    ("doc_no", s(doc)),
                    ("category", s(cat)),
                    ("received", s(received)),
                    ("amount", s(amount)),
                    ("deadline_days", s(n)),
                    ("deadline", s(deadline)),
                ])
            } else {
                let (days, rest) = rest.split_once(" days after receipt (deadline: ")?;
                let (n, rest) = rest.split_once(" days, ")?;
                let deadline = rest.strip_suffix(')')?;
                params([
                    ("doc_no", s(doc)),
                    ("category", s(cat)),
                    ("received", s(received)),
                    ("amount", s(amount)),
                    ("days", s(days)),
                    ("deadline_days", s(n)),
                    ("deadline", s(deadline)),
                ])
            }
        }
        Rule::IdleFunds => {
            let (head, why) = m.split_once(" yuan idle: ")?;
            let (label, amount) = head.rsplit_once(": ")?;
            let (doc, cat) = label_parts(label)?;
            let mut p = params([
                ("doc_no", s(doc)),
                ("category", s(cat)),
                ("amount", s(amount)),
            ]);
            for part in why.split("; ") {
                if let Some(r) = part.strip_prefix("no payment or issue since ") {
                    let (since, r) = r.split_once(" (")?;
                    let days = r.strip_suffix(" days)")?;
                    p.insert(s("since"), s(since));
                    p.insert(s("idle_days"), s(days));
                } else if let Some(r) = part.strip_prefix("still held ") {
                    p.insert(
                        s("year_end_days"),
                        s(r.strip_suffix(" days before the year end")?),
                    );
                } else {
                    return None;
                }
            }
            p
        }
        Rule::SlowSpending => {
            let (label, rest) = m.split_once(": spending progress ")?;
            let (doc, cat) = label_parts(label)?;
            let (progress, rest) = rest.split_once("% is ")?;
            let (gap, rest) = rest.split_once(" points behind time-elapsed progress ")?;
            let (elapsed, rest) = rest.split_once("% (allowed: ")?;
            let (allowed, rest) = rest.split_once("); ")?;
            let amount = rest.strip_suffix(" yuan unspent")?;
            params([
                ("doc_no", s(doc)),
                ("category", s(cat)),
                ("progress", s(progress)),
                ("gap", s(gap)),
                ("elapsed", s(elapsed)),
                ("allowed", s(allowed)),
                ("amount", s(amount)),
            ])
        }
        Rule::Overspend => {
            if let Some(rest) = m.strip_prefix("project ") {
                let (code, rest) = rest.split_once(' ')?;
                let (name, rest) = rest.rsplit_once(": paid ")?;
                let (paid, rest) = rest.split_once(" yuan, ")?;
                let (amount, budget) = rest.split_once(" yuan above its budget of ")?;
                params([
                    ("project", s(code)),
                    ("name", s(name)),
                    ("paid", s(paid)),
                    ("amount", s(amount)),
                    ("budget", s(budget)),
                ])
            } else {
                let (label, rest) = m.rsplit_once(": issued and paid ")?;
                let (doc, cat) = label_parts(label)?;
                let (amount, allocated) = rest.split_once(" yuan more than its amount of ")?;
                params([
                    ("doc_no", s(doc)),
                    ("category", s(cat)),
                    ("amount", s(amount)),
                    ("allocated", s(allocated)),
                ])
            }
        }
        Rule::UnmatchedPayment => {
            let rest = m.strip_prefix("voucher ")?;
            let (voucher, rest) = rest.split_once(" of ")?;
            let (on, rest) = rest.split_once(" (")?;
            let (amount, rest) = rest.split_once(" yuan to ")?;
            let (payee, why) = rest.split_once("): ")?;
            let mut p = params([
                ("voucher", s(voucher)),
                ("paid_on", s(on)),
                ("amount", s(amount)),
                ("payee", s(payee)),
            ]);
            for part in why.split("; ") {
                if let Some(r) = part.strip_prefix("allocation ") {
                    p.insert(
                        s("unknown_allocation"),
                        s(r.strip_suffix(" is not one this node holds")?),
                    );
                } else if let Some(r) = part.strip_prefix("paid before allocation ") {
                    let (doc, r) = r.split_once(" is dated (")?;
                    p.insert(s("allocation_doc"), s(doc));
                    p.insert(s("allocation_dated"), s(r.strip_suffix(')')?));
                } else if let Some(r) = part.strip_prefix("paid before project ") {
                    let (code, r) = r.split_once(" starts (")?;
                    p.insert(s("late_project"), s(code));
                    p.insert(s("project_starts_on"), s(r.strip_suffix(')')?));
                } else if let Some(r) = part.strip_prefix("project ") {
                    if let Some(code) = r.strip_suffix(" is not in the library") {
                        p.insert(s("unknown_project"), s(code));
                    } else {
                        p.insert(s("cancelled_project"), s(r.strip_suffix(" is cancelled")?));
                    }
                } else {
                    return None;
                }
            }
            p
        }
        Rule::DuplicatePayment => {
            let (count, rest) = m.split_once(" payments of ")?;
            let (each, rest) = rest.split_once(" yuan to ")?;
            let (head, vs) = rest.split_once(": vouchers ")?;
            let (payee, on) = head.rsplit_once(" on ")?;
            let mut p = params([
                ("count", s(count)),
                ("each", s(each)),
                ("payee", s(payee)),
                ("paid_on", s(on)),
            ]);
            legacy_vouchers(&mut p, vs);
            p
        }
        Rule::SplitPayments => {
            let (count, rest) = m.split_once(" payments to ")?;
            let (head, vs) = rest.split_once(": vouchers ")?;
            let (head, amount) = head.rsplit_once(", ")?;
            let amount = amount.strip_suffix(" yuan in all")?;
            let (head, limit) = head.rsplit_once(", each just under the ")?;
            let limit = limit.strip_suffix(" yuan limit")?;
            let (head, to) = head.rsplit_once(" to ")?;
            let (payee, from) = head.rsplit_once(" from ")?;
            let mut p = params([
                ("count", s(count)),
                ("payee", s(payee)),
                ("from", s(from)),
                ("to", s(to)),
                ("limit", s(limit)),
                ("amount", s(amount)),
            ]);
            legacy_vouchers(&mut p, vs);
            p
        }
        Rule::NegativeList => {
            let rest = m.strip_prefix("voucher ")?;
            let (voucher, rest) = rest.split_once(" of ")?;
            let (on, rest) = rest.split_once(": ")?;
            let (amount, rest) = rest.split_once(" yuan to ")?;
            let (payee, listed) = rest.rsplit_once(", on the negative list as ")?;
            // Written with `{:?}`: a quoted string with Rust's escapes, which
            // for the names and accounts of a list are JSON's too.
            let listed: String = serde_json::from_str(listed).ok()?;
            params([
                ("voucher", s(voucher)),
                ("paid_on", s(on)),
                ("amount", s(amount)),
                ("payee", s(payee)),
                ("listed", listed),
            ])
        }
        Rule::MissingTarget => {
            let rest = m.strip_prefix("project ")?;
            let (code, rest) = rest.split_once(' ')?;
            let (name, rest) = rest.rsplit_once(" started on ")?;
            let (starts, rest) = rest.split_once(" and has no performance target after ")?;
            let days = rest.strip_suffix(" days")?;
            params([
                ("project", s(code)),
                ("name", s(name)),
                ("starts_on", s(starts)),
                ("days", s(days)),
            ])
        }
        Rule::NodeSilent => {
            let (node, rest) = m.split_once(' ')?;
            let (name, rest) = rest.rsplit_once(": nothing received for ")?;
            let (hours, rest) = rest.split_once(" hours (last entry written ")?;
            let (since, rest) = rest.split_once("; allowed: ")?;
            let allowed = rest.strip_suffix(" hours)")?;
            params([
                ("node", s(node)),
                ("name", s(name)),
                ("hours", s(hours)),
                ("since", s(since)),
                ("allowed", s(allowed)),
            ])
        }
        // Written with its values from the start (protocol version 5): no
        // message of an earlier release to read back.
        Rule::TargetDeviation => return None,
    };
    // Only values that render back to the very message: anything else (a
    // message cut short, a name holding one of the separators) is shown as
    // stored rather than rendered wrong.
    (render(rule.as_str(), &p, Lang::En).as_deref() == Some(m)).then_some(p)
}

/// `doc_no (category)` → (doc_no, category).
fn label_parts(label: &str) -> Option<(&str, &str)> {
    let (doc, cat) = label.rsplit_once(" (")?;
    Some((doc, cat.strip_suffix(')')?))
}

/// `a, b, c` or `a, b, c, d, e and 2 more` → `vouchers`, `vouchers_more`.
fn legacy_vouchers(p: &mut Params, vs: &str) {
    let more = vs
        .rsplit_once(" and ")
        .and_then(|(shown, n)| Some((shown, n.strip_suffix(" more")?)))
        .filter(|(_, n)| n.parse::<u32>().is_ok());
    match more {
        Some((shown, n)) => {
            p.insert("vouchers".to_owned(), shown.to_owned());
            p.insert("vouchers_more".to_owned(), n.to_owned());
        }
        None => {
            p.insert("vouchers".to_owned(), vs.to_owned());
        }
    }
}

/// Why a warning was resolved, in `lang`: the rules write fixed English
/// phrases (`Rule::cleared`, "passed on in full on …"), each followed by
/// " (as of DATE)"; anything else is shown as stored.
pub fn reason(rule: &str, reason: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return reason.to_owned();
    }
    let (head, as_of) = match reason
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" (as of "))
    {
        Some((h, d)) => (h, Some(d)),
        None => (reason, None),
    };
    let zh = match rule.parse::<Rule>() {
        Ok(r) if head == r.cleared() => Some(cleared_zh(r).to_owned()),
        Ok(Rule::IssueDeadline) => head
            .strip_prefix("passed on in full on ")
            .and_then(|r| r.split_once(", "))
            .and_then(|(d, r)| Some((d, r.strip_suffix(" days after receipt")?)))
            .map(|(d, n)| format!("已于 {d} 全部分配下达，收到后第 {n} 天")),
        _ => None,
    };
    match (zh, as_of) {
        (Some(z), Some(d)) => format!("{z}（截至 {d}）"),
        (Some(z), None) => z,
        (None, _) => reason.to_owned(),
    }
}

/// [`Rule::cleared`] in Chinese.
fn cleared_zh(r: Rule) -> &'static str {
    match r {
        Rule::IssueDeadline => "已全部分配下达",
        Rule::IdleFunds => "资金已支出、下达或恢复使用",
        Rule::SlowSpending => "支出进度已赶上序时进度",
        Rule::Overspend => "支付已回到预算以内",
        Rule::UnmatchedPayment => "该笔支付已冲销或已匹配",
        Rule::DuplicatePayment => "重复支付已冲销",
        Rule::SplitPayments => "支付已不构成拆分",
        Rule::NegativeList => "该笔支付已冲销或收款人已移出负面清单",
        Rule::MissingTarget => "项目已设绩效目标或已取消",
        Rule::NodeSilent => "已恢复联系（或已吊销）",
        Rule::TargetDeviation => "实际值已填报并达到目标或赶上序时进度，或目标已调整",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages as the rules of earlier releases wrote them, one or more
    /// shapes per rule, with a phrase the Chinese rendering must hold.
    const LEGACY: &[(&str, &str, &str)] = &[
        (
            "issue_deadline",
            "新财农〔2020〕27号 (R-01), received 2020-04-20: 9547.00 yuan not passed on 6 days after receipt (deadline: 5 days, 2020-04-25)",
            "新财农〔2020〕27号（R-01）2020-04-20 收到，9547.00 元收到 6 天后仍未分配下达（时限 5 天，2020-04-25）",
        ),
        (
            "issue_deadline",
            "新财农〔2020〕27号 (R-01), received 2020-04-20: 100.00 yuan not passed on within 5 days (deadline 2020-04-25)",
            "100.00 元未在 5 天内分配下达（时限 2020-04-25）",
        ),
        (
            "idle_funds",
            "巴财农〔2020〕3号 (C-01): 53994.60 yuan idle: no payment or issue since 2020-04-02 (91 days); still held 30 days before the year end",
            "巴财农〔2020〕3号（C-01）53994.60 元闲置：自 2020-04-02 起 91 天无支付或下达；距年末 30 天仍未使用",
        ),
        (
            "idle_funds",
            "X1 (C-01): 5.00 yuan idle: still held 12 days before the year end",
            "距年末 12 天仍未使用",
        ),
        (
            "slow_spending",
            "X1 (C-01): spending progress 30.00% is 20.41 points behind time-elapsed progress 50.41% (allowed: 20); 700.00 yuan unspent",
            "支出进度 30.00%，落后序时进度 50.41% 20.41 个百分点（允许 20 个）；700.00 元未支出",
        ),
        (
            "overspend",
            "project LT2020-001 村道 硬化: paid 120.00 yuan, 20.00 yuan above its budget of 100.00",
            "项目 LT2020-001 村道 硬化：已支付 120.00 元，超出预算 100.00 元 20.00 元",
        ),
        (
            "overspend",
            "X1 (C-01): issued and paid 5.00 yuan more than its amount of 100.00",
            "超出指标金额 100.00 元 5.00 元",
        ),
        (
            "unmatched_payment",
            "voucher V1 of 2020-01-02 (10.00 yuan to 丙公司 (6222)): allocation 650000-9 is not one this node holds; project P9 is not in the library",
            "凭证 V1（2020-01-02，10.00 元，收款人 丙公司 (6222)）：指标 650000-9 不是本单位持有的指标；项目 P9 不在项目库中",
        ),
        (
            "unmatched_payment",
            "voucher V2 of 2020-01-02 (10.00 yuan to 丙公司): paid before allocation 新财农〔2020〕1号 is dated (2020-02-01); project P1 is cancelled; paid before project P1 starts (2020-03-01)",
            "项目 P1 已取消；支付日期早于项目 P1 开工日期（2020-03-01）",
        ),
        (
            "duplicate_payment",
            "2 payments of 500.00 yuan to 丁 on 2020-05-01: vouchers V1, V2",
            "凭证 V1、V2",
        ),
        (
            "duplicate_payment",
            "7 payments of 500.00 yuan to 丁 on 2020-05-01: vouchers V1, V2, V3, V4, V5 and 2 more",
            "凭证 V1、V2、V3、V4、V5 等（另 2 张）",
        ),
        (
            "split_payments",
            "3 payments to 丙公司 (6222) from 2020-05-01 to 2020-05-09, each just under the 50000.00 yuan limit, 147000.00 yuan in all: vouchers V1, V2, V3",
            "2020-05-01 至 2020-05-09 向 丙公司 (6222) 支付 3 笔，每笔略低于 50000.00 元限额，合计 147000.00 元",
        ),
        (
            "negative_list",
            "voucher V3 of 2020-05-01: 10.00 yuan to 某某公司, on the negative list as \"某某公司\"",
            "收款人在负面清单中（某某公司）",
        ),
        (
            "missing_target",
            "project P1 村道 started on 2020-01-01 and has no performance target after 45 days",
            "项目 P1 村道 于 2020-01-01 开工，45 天后仍无绩效目标",
        ),
        (
            "node_silent",
            "652822 轮台县: nothing received for 30 hours (last entry written 2026-12-01 10:00 UTC; allowed: 24 hours)",
            "652822 轮台县：已 30 小时未收到任何数据（最后一条写于 2026-12-01 10:00 UTC；允许 24 小时）",
        ),
    ];

    #[test]
    fn every_rule_renders_old_english_messages_in_both_languages() {
        let mut rules = std::collections::HashSet::new();
        for (rule, m, zh) in LEGACY {
            let p = parse_legacy(rule, m).unwrap_or_else(|| panic!("{rule}: {m}"));
            assert_eq!(render(rule, &p, Lang::En).as_deref(), Some(*m), "{rule}");
            let z = render(rule, &p, Lang::Zh).expect("zh");
            assert!(z.contains(zh), "{rule}: {z}");
            assert!(!z.contains("yuan"), "{z}");
            assert_eq!(text(rule, None, m, Lang::Zh), z);
            assert_eq!(text(rule, None, m, Lang::En), *m);
            rules.insert(*rule);
        }
        // Every rule but target_deviation, which came after warnings kept
        // their values (it never wrote a bare message).
        assert_eq!(
            rules.len(),
            Rule::ALL.len() - 1,
            "a legacy message per rule"
        );
    }

    #[test]
    fn amounts_stay_decimal_strings() {
        let p = parse_legacy("idle_funds", LEGACY[2].1).expect("parses");
        assert_eq!(p.get("amount").map(String::as_str), Some("53994.60"));
        assert_eq!(p.get("since").map(String::as_str), Some("2020-04-02"));
        assert_eq!(
            p.get("doc_no").map(String::as_str),
            Some("巴财农〔2020〕3号")
        );
    }

    #[test]
    fn what_does_not_parse_is_shown_as_stored() {
        let cut = "X1 (C-01): 5.00 yuan idle: no payment or issue since 2020-…";
        assert_eq!(parse_legacy("idle_funds", cut), None);
        assert_eq!(text("idle_funds", None, cut, Lang::Zh), cut);
        assert_eq!(
            text("future_rule", None, "as stored", Lang::Zh),
            "as stored"
        );
        assert_eq!(parse_legacy("idle_funds", "nothing like it"), None);
        // Values missing a key the rule needs: the stored text too.
        let p = params([("doc_no", "X".to_owned())]);
        assert_eq!(render("idle_funds", &p, Lang::Zh), None);
        assert_eq!(text("idle_funds", Some(&p), "stored", Lang::Zh), "stored");
    }

    #[test]
    fn reasons_are_translated() {
        assert_eq!(
            reason(
                "issue_deadline",
                "passed on in full (as of 2020-06-01)",
                Lang::Zh
            ),
            "已全部分配下达（截至 2020-06-01）"
        );
        assert_eq!(
            reason(
                "issue_deadline",
                "passed on in full on 2020-04-28, 8 days after receipt",
                Lang::Zh
            ),
            "已于 2020-04-28 全部分配下达，收到后第 8 天"
        );
        for r in Rule::ALL {
            let en = format!("{} (as of 2020-12-31)", r.cleared());
            let zh = reason(r.as_str(), &en, Lang::Zh);
            assert!(
                zh.ends_with("（截至 2020-12-31）") && zh.is_char_boundary(3),
                "{zh}"
            );
            assert!(!zh.contains("as of"), "{zh}");
            assert_eq!(reason(r.as_str(), &en, Lang::En), en);
        }
        assert_eq!(reason("idle_funds", "by hand", Lang::Zh), "by hand");
    }
}
