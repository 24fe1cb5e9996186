//! Columns and cells: which header names mean which field (the English
//! field names and the Chinese names treasury systems and bureaus use),
//! and how a cell's text becomes an amount, a date, an allocation or a
//! child node, with every refusal in Chinese.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use fundsync_protocol::money::AmountError;
use fundsync_protocol::{Amount, EntryId, NodeCode};
use rust_decimal::Decimal;

/// One field of a row and the header names that mean it.
#[derive(Debug)]
pub struct Col {
    /// The field's English name (also accepted as a header).
    pub key: &'static str,
    /// The name the templates and messages use.
    pub zh: &'static str,
    /// Other header names accepted, after [`normalise`].
    pub names: &'static [&'static str],
    pub required: bool,
}

const fn col(
    key: &'static str,
    zh: &'static str,
    names: &'static [&'static str],
    required: bool,
) -> Col {
    Col {
        key,
        zh,
        names,
        required,
    }
}

/// A payment voucher's columns. `allocation` (the entry id) or
/// `allocation_doc_no` (指标文号) names the allocation; one of them is
/// required, which [`Columns::find`] checks.
pub const PAYMENT: &[Col] = &[
    col(
        "voucher_no",
        "凭证号",
        &["凭证号", "支付凭证号", "凭证编号"],
        true,
    ),
    col(
        "paid_on",
        "支付日期",
        &["支付日期", "日期", "凭证日期"],
        true,
    ),
    col(
        "payer",
        "付款人",
        &["付款人", "付款单位", "付款人名称"],
        true,
    ),
    col(
        "payee_name",
        "收款人",
        &["收款人", "收款人名称", "收款单位"],
        true,
    ),
    col(
        "payee_account",
        "收款人账号",
        &["收款人账号", "收款账号"],
        false,
    ),
    col(
        "payee_bank",
        "收款人开户行",
        &["收款人开户行", "收款银行", "开户行", "开户银行"],
        false,
    ),
    col("amount", "金额", &["金额", "支付金额"], true),
    col(
        "function_class",
        "功能分类",
        &["功能分类", "支出功能分类", "功能科目"],
        false,
    ),
    col(
        "allocation_doc_no",
        "指标文号",
        &["指标文号", "文号"],
        false,
    ),
    col(
        "allocation",
        "指标编号",
        &["指标", "指标编号", "指标id"],
        false,
    ),
    col(
        "project",
        "项目编码",
        &["项目", "项目编码", "项目代码"],
        true,
    ),
    col("purpose", "用途", &["用途", "摘要"], false),
];

/// A back-entered allocation (补录下达指标): issued by this node to one of
/// its children from an allocation it holds, named by 文号 or id.
pub const ALLOCATION: &[Col] = &[
    col(
        "doc_no",
        "指标文号",
        &["指标文号", "文号", "下达文号"],
        true,
    ),
    col(
        "source_doc_no",
        "来源指标文号",
        &["来源指标文号", "上级指标文号", "源指标文号"],
        false,
    ),
    col(
        "source",
        "来源指标编号",
        &["来源指标编号", "来源指标", "源指标"],
        false,
    ),
    col(
        "to",
        "下达对象",
        &["下达对象", "下达单位", "接收单位", "下级"],
        true,
    ),
    col("amount", "金额", &["金额", "下达金额"], true),
    col(
        "issued_on",
        "下达日期",
        &["下达日期", "日期", "发文日期"],
        true,
    ),
    col("category", "资金类别", &["资金类别", "类别"], false),
    col(
        "title",
        "标题",
        &["标题", "指标名称", "名称", "摘要"],
        false,
    ),
];

/// A header cell made comparable: no spaces or BOM, full-width brackets as
/// ASCII, ASCII lowercased, a trailing `*` (a required mark) dropped.
pub fn normalise(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{feff}' && *c != '*')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The money unit an amount column's header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Yuan,
    /// 万元: values are multiplied by 10,000 exactly.
    Wan,
}

/// A header name without its unit, and the unit: `金额(万元)` → (`金额`, 万元).
fn split_unit(h: &str) -> (&str, Option<Unit>) {
    for (suffix, unit) in [
        ("(万元)", Unit::Wan),
        ("万元", Unit::Wan),
        ("_wan", Unit::Wan),
        ("(元)", Unit::Yuan),
        ("_yuan", Unit::Yuan),
    ] {
        if let Some(base) = h.strip_suffix(suffix) {
            return (base, Some(unit));
        }
    }
    (h, None)
}

/// Where each field is in the rows, found from a header row.
#[derive(Debug, Clone)]
pub struct Columns {
    index: HashMap<&'static str, usize>,
    pub width: usize,
    pub unit: Unit,
}

impl Columns {
    /// The columns of `spec` in `header`, or why the row is not that
    /// file's header (a missing required column; `None` when the row has
    /// none of the fields, so it is a title row rather than the header).
    pub fn find(spec: &[Col], header: &[&str]) -> Option<Result<Columns, String>> {
        let mut index = HashMap::new();
        let mut unit = Unit::Yuan;
        for (i, h) in header.iter().enumerate() {
            let n = normalise(h);
            let (base, u) = split_unit(&n);
            let found = spec
                .iter()
                .find(|c| c.key == base || c.names.contains(&base))
                .or_else(|| {
                    spec.iter()
                        .find(|c| c.key == n || c.names.contains(&n.as_str()))
                });
            if let Some(c) = found {
                if c.key == "amount" {
                    unit = u.unwrap_or(Unit::Yuan);
                }
                index.entry(c.key).or_insert(i);
            }
        }
        if index.is_empty() {
            return None;
        }
        let mut missing: Vec<&str> = spec
            .iter()
            .filter(|c| c.required && !index.contains_key(c.key))
            .map(|c| c.zh)
            .collect();
        let either = |a: &str, b: &str| index.contains_key(a) || index.contains_key(b);
        if spec.iter().any(|c| c.key == "allocation") && !either("allocation", "allocation_doc_no")
        {
            missing.push("指标文号（或指标编号）");
        }
        if spec.iter().any(|c| c.key == "source") && !either("source", "source_doc_no") {
            missing.push("来源指标文号（或来源指标编号）");
        }
        if !missing.is_empty() {
            return Some(Err(format!(
                "表头缺少列：{}（可下载模板对照列名）",
                missing.join("、")
            )));
        }
        Some(Ok(Columns {
            index,
            width: header.len(),
            unit,
        }))
    }

    /// The cell of `key` in `row`, trimmed; empty when the column or the
    /// cell is absent.
    pub fn get<'r>(&self, row: &'r [&'r str], key: &str) -> &'r str {
        self.index
            .get(key)
            .and_then(|&i| row.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    }
}

/// An amount as bureaus write it: `30,000.00`, `￥30,000.00`, `30000元`,
/// full-width digits; in 万元 when the column says so (exactly ×10,000, then
/// the 2-decimal rule applies to the yuan). Negative, zero, sloppy
/// thousands separators and more than 2 decimals (in yuan) are refused.
pub fn parse_amount(cell: &str, unit: Unit) -> Result<Amount, String> {
    let raw = cell.trim();
    if raw.is_empty() {
        return Err("金额为空".to_owned());
    }
    let mut t: String = raw
        .chars()
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            '．' => '.',
            '，' => ',',
            '－' | '—' | '−' => '-',
            c => c,
        })
        .filter(|c| !c.is_whitespace())
        .collect();
    for prefix in ["￥", "¥", "RMB", "rmb"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.to_owned();
        }
    }
    let unit_text = match unit {
        Unit::Yuan => "元",
        Unit::Wan => "万元",
    };
    if let Some(rest) = t.strip_suffix(unit_text) {
        t = rest.to_owned();
    }
    if t.starts_with('-') || (t.starts_with('(') && t.ends_with(')')) {
        return Err(format!(
            "金额 “{raw}” 为负数；金额必须大于零（冲销请用退回登记）"
        ));
    }
    let digits = strip_thousands(&t)
        .ok_or_else(|| format!("金额 “{raw}” 的千分位逗号位置不对（应如 30,000.00）"))?;
    let well_formed = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    if !well_formed {
        return Err(format!("金额 “{raw}” 不是数字"));
    }
    let d = Decimal::from_str_exact(&digits).map_err(|_| format!("金额 “{raw}” 不是数字"))?;
    let yuan = match unit {
        Unit::Yuan => d,
        Unit::Wan => d
            .checked_mul(Decimal::from(10_000))
            .ok_or_else(|| format!("金额 “{raw}” 万元超过上限"))?,
    };
    Amount::new(yuan.normalize()).map_err(|e| match e {
        AmountError::NotPositive(_) => format!("金额 “{raw}” 必须大于零"),
        AmountError::TooPrecise(y) => match unit {
            Unit::Yuan => format!("金额 “{raw}” 超过 2 位小数（最小单位为分）"),
            Unit::Wan => format!(
                "金额 “{raw}” 万元即 {y} 元，超过 2 位小数（最小单位为分；万元最多 6 位小数）"
            ),
        },
        AmountError::TooLarge(_) => format!("金额 “{raw}” 超过上限"),
        AmountError::NotANumber(_) | AmountError::Overflow => format!("金额 “{raw}” 不是数字"),
    })
}

/// `30,000.00` → `30000.00`; `None` when the commas are not every third
/// digit of the whole part (`1,5` is a decimal comma, not a thousands one).
fn strip_thousands(t: &str) -> Option<String> {
    if !t.contains(',') {
        return Some(t.to_owned());
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (t, None),
    };
    if frac.is_some_and(|f| f.contains(',')) {
        return None;
    }
    let mut groups = whole.split(',');
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    let mut out = first.to_owned();
    for g in groups {
        if g.len() != 3 {
            return None;
        }
        out.push_str(g);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// A date as bureaus write it: 2020-05-01, 2020/5/1, 2020.5.1, 20200501,
/// 2020年5月1日, or a date and time (the time is dropped).
pub fn parse_date(cell: &str, what: &str) -> Result<NaiveDate, String> {
    let t = cell.trim();
    let day = t.split([' ', 'T']).next().unwrap_or(t);
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"] {
        if let Ok(d) = NaiveDate::parse_from_str(day, f) {
            return Ok(d);
        }
    }
    if t.is_empty() {
        return Err(format!("{what}为空"));
    }
    Err(format!("{what} “{t}” 不是日期（应如 2020-05-01）"))
}

/// A 文号 made comparable: no spaces, the year's brackets as 〔〕 whatever
/// was typed ([], ［］, 【】, ()).
pub fn doc_key(doc_no: &str) -> String {
    doc_no
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '[' | '［' | '【' | '(' | '（' | '〔' => '〔',
            ']' | '］' | '】' | ')' | '）' | '〕' => '〕',
            c => c,
        })
        .collect()
}

/// The allocations this node holds, by 文号, for naming one in a file.
#[derive(Debug, Default, Clone)]
pub struct DocIndex {
    by_doc: HashMap<String, Vec<(EntryId, String)>>,
    category: HashMap<EntryId, String>,
}

impl DocIndex {
    pub fn add(&mut self, doc_no: &str, id: EntryId, category: &str) {
        self.by_doc
            .entry(doc_key(doc_no))
            .or_default()
            .push((id, category.to_owned()));
        self.category.insert(id, category.to_owned());
    }

    /// The allocation a row names: by id (`652800-12`) when given, else by
    /// 文号, which must name exactly one allocation held here. A value in
    /// the id column that is no id is tried as a 文号.
    pub fn resolve(&self, id_cell: &str, doc_cell: &str, what: &str) -> Result<EntryId, String> {
        if !id_cell.is_empty() {
            if let Ok(id) = EntryId::from_str(id_cell) {
                return Ok(id);
            }
            return self.by_doc_no(id_cell, what);
        }
        if doc_cell.is_empty() {
            return Err(format!("缺少{what}文号（或{what}编号）"));
        }
        self.by_doc_no(doc_cell, what)
    }

    fn by_doc_no(&self, doc_no: &str, what: &str) -> Result<EntryId, String> {
        match self.by_doc.get(&doc_key(doc_no)).map(Vec::as_slice) {
            None | Some([]) => Err(format!("{what}文号 “{doc_no}” 在本节点持有的指标中找不到")),
            Some([(id, _)]) => Ok(*id),
            Some(many) => Err(format!(
                "{what}文号 “{doc_no}” 对应 {} 条指标（{}），请改用{what}编号",
                many.len(),
                many.iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join("、")
            )),
        }
    }

    /// The category of an allocation held here.
    pub fn category(&self, id: EntryId) -> Option<&str> {
        self.category.get(&id).map(String::as_str)
    }
}

/// This node's children, by code and by name, for naming the node an
/// allocation goes to.
#[derive(Debug, Default, Clone)]
pub struct Children {
    by_name: HashMap<String, NodeCode>,
    codes: Vec<NodeCode>,
}

impl Children {
    pub fn add(&mut self, code: NodeCode, name: &str) {
        self.by_name.insert(name.trim().to_owned(), code);
        self.codes.push(code);
    }

    pub fn resolve(&self, cell: &str) -> Result<NodeCode, String> {
        if let Ok(code) = NodeCode::from_str(cell) {
            if self.codes.contains(&code) {
                return Ok(code);
            }
        }
        self.by_name
            .get(cell)
            .copied()
            .ok_or_else(|| format!("下达对象 “{cell}” 不是本节点的下级（填区划代码或名称）"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(s: &str) -> Result<String, String> {
        parse_amount(s, Unit::Yuan).map(|a| a.to_string())
    }
    fn wan(s: &str) -> Result<String, String> {
        parse_amount(s, Unit::Wan).map(|a| a.to_string())
    }

    #[test]
    fn amounts_as_bureaus_write_them() {
        assert_eq!(yuan("30,000.00"), Ok("30000.00".into()));
        assert_eq!(yuan("￥30,000.00"), Ok("30000.00".into()));
        assert_eq!(yuan("¥1,234,567.8"), Ok("1234567.80".into()));
        assert_eq!(yuan("３０，０００．５"), Ok("30000.50".into()));
        assert_eq!(yuan("30000元"), Ok("30000.00".into()));
        assert_eq!(yuan(" 10.5 "), Ok("10.50".into()));
        assert_eq!(wan("3.5"), Ok("35000.00".into()));
        assert_eq!(wan("142.922302"), Ok("1429223.02".into()));
        assert_eq!(wan("1,441.16"), Ok("14411600.00".into()));
    }

    #[test]
    fn bad_amounts_are_refused_in_chinese() {
        for (s, why) in [
            ("1.001", "2 位小数"),
            ("-5", "负数"),
            ("-30,000.00", "负数"),
            ("(100.00)", "负数"),
            ("0", "大于零"),
            ("0.00", "大于零"),
            ("", "为空"),
            ("abc", "不是数字"),
            ("2017年3100元", "不是数字"),
            ("1e5", "不是数字"),
            ("1,5", "千分位"),
            ("30,00.00", "千分位"),
            ("1.2.3", "不是数字"),
        ] {
            let e = yuan(s).expect_err(s);
            assert!(e.contains(why), "{s:?}: {e}");
        }
        let e = wan("0.0000001").expect_err("too precise");
        assert!(e.contains("万元") && e.contains("2 位小数"), "{e}");
        assert!(wan("-3.5").expect_err("negative").contains("负数"));
    }

    #[test]
    fn dates_in_the_usual_spellings() {
        let d = NaiveDate::from_ymd_opt(2020, 5, 1).expect("date");
        for s in [
            "2020-05-01",
            "2020/5/1",
            "2020.05.01",
            "20200501",
            "2020年5月1日",
            "2020-05-01 00:00:00",
        ] {
            assert_eq!(parse_date(s, "支付日期"), Ok(d), "{s}");
        }
        let e = parse_date("2020-13-01", "支付日期").expect_err("month 13");
        assert!(e.contains("支付日期") && e.contains("不是日期"), "{e}");
    }

    #[test]
    fn headers_in_chinese_english_and_with_units() {
        let h = [
            "凭证号",
            "支付日期",
            "付款人",
            "收款人",
            "金额（万元）",
            "指标文号",
            "项目编码",
            "用途",
        ];
        let c = Columns::find(PAYMENT, &h)
            .expect("a header")
            .expect("complete");
        assert_eq!(c.unit, Unit::Wan);
        let row = [
            "V1",
            "2020-05-01",
            "a",
            "b",
            "3.5",
            "新财农〔2020〕12号",
            "P1",
            "x",
        ];
        assert_eq!(c.get(&row, "allocation_doc_no"), "新财农〔2020〕12号");
        assert_eq!(c.get(&row, "allocation"), "");
        let h = [
            "voucher_no",
            "paid_on",
            "payer",
            "payee_name",
            "金额(元)",
            "allocation",
            "project",
        ];
        let c = Columns::find(PAYMENT, &h)
            .expect("a header")
            .expect("complete");
        assert_eq!(c.unit, Unit::Yuan);
        // A title row is not a header; a header without an allocation column is refused.
        assert!(Columns::find(PAYMENT, &["2020年国库支付明细"]).is_none());
        let e = Columns::find(
            PAYMENT,
            &["凭证号", "支付日期", "付款人", "收款人", "金额", "项目"],
        )
        .expect("a header")
        .expect_err("no allocation");
        assert!(e.contains("指标文号"), "{e}");
    }

    #[test]
    fn doc_numbers_resolve_to_one_allocation_or_say_why_not() {
        let id = |s: &str| EntryId::from_str(s).expect("id");
        let mut ix = DocIndex::default();
        ix.add("巴财农〔2020〕12号", id("652800-12"), "FP");
        ix.add("新财农〔2020〕3号", id("650000-3"), "FP");
        ix.add("新财农〔2020〕3号", id("650000-4"), "SM");
        assert_eq!(
            ix.resolve("", "巴财农〔2020〕12号", "指标"),
            Ok(id("652800-12"))
        );
        // Other brackets, spaces, and a 文号 typed into the id column.
        assert_eq!(
            ix.resolve("", "巴财农[2020] 12号", "指标"),
            Ok(id("652800-12"))
        );
        assert_eq!(
            ix.resolve("巴财农（2020）12号", "", "指标"),
            Ok(id("652800-12"))
        );
        assert_eq!(
            ix.resolve("652800-99", "whatever", "指标"),
            Ok(id("652800-99"))
        );
        let e = ix
            .resolve("", "新财农〔2020〕3号", "指标")
            .expect_err("ambiguous");
        assert!(
            e.contains("2 条") && e.contains("650000-3") && e.contains("650000-4"),
            "{e}"
        );
        let e = ix
            .resolve("", "新财农〔2099〕1号", "指标")
            .expect_err("unknown");
        assert!(e.contains("找不到"), "{e}");
        assert!(ix
            .resolve("", "", "指标")
            .expect_err("none")
            .contains("缺少"));
        assert_eq!(ix.category(id("650000-4")), Some("SM"));
    }

    #[test]
    fn children_by_code_or_name() {
        let mut c = Children::default();
        let lt = NodeCode::from_str("652822").expect("code");
        c.add(lt, "轮台县");
        assert_eq!(c.resolve("652822"), Ok(lt));
        assert_eq!(c.resolve("轮台县"), Ok(lt));
        assert!(c
            .resolve("652823")
            .expect_err("not a child")
            .contains("不是本节点的下级"));
    }
}
