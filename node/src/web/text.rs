//! Language and the formatting of figures, dates and labels.
//!
//! Money is formatted from `Decimal` by moving the decimal point (yuan to
//! 万元 is a change of scale, not a division), so what a page shows is exact;
//! no figure ever passes through a float.

use chrono::{DateTime, Utc};
use fundsync_protocol::Level;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The page language: Chinese unless the reader chose English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// From `?lang=` or the `lang` cookie; anything else is not a choice.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The value of `?lang=` and of the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `<html lang>` attribute.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The Chinese or the English text.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn level(self, level: Level) -> &'static str {
        match level {
            Level::Region => self.t("自治区", "Region"),
            Level::Prefecture => self.t("地州", "Prefecture"),
            Level::County => self.t("县", "County"),
        }
    }

    /// A level as stored in the ledger's text columns.
    pub fn level_str(self, level: &str) -> &'static str {
        match level.parse::<Level>() {
            Ok(l) => self.level(l),
            Err(_) => "?",
        }
    }

    pub fn fund_origin(self, origin: &str) -> &'static str {
        match origin {
            "central" => self.t("中央", "Central"),
            "region" => self.t("自治区", "Region"),
            "prefecture" => self.t("地州本级", "Prefecture"),
            "county" => self.t("县本级", "County"),
            "bond" => self.t("地方政府债券", "Government bonds"),
            _ => self.t("未知", "Unknown"),
        }
    }

    /// How an allocation came to its holder.
    pub fn allocation_kind(self, kind: &str) -> &'static str {
        match kind {
            "received" => self.t("上级来源", "Received"),
            "own_budget" => self.t("本级安排", "Own budget"),
            "issued" => self.t("上级下达", "Issued from above"),
            _ => "?",
        }
    }
}

/// 1 万元 = 10⁴ 元.
const WAN_SCALE: u32 = 4;

/// An amount of yuan in 万元, exact: thousands separators, at least two
/// decimals and as many more (up to six, the fen) as the amount needs.
/// `1079410000.00` → `"107,941.00"`, `1429223.02` → `"142.922302"`.
pub fn wan(yuan: Decimal) -> String {
    let scaled = yuan
        .scale()
        .checked_add(WAN_SCALE)
        .and_then(|s| Decimal::try_from_i128_with_scale(yuan.mantissa(), s).ok());
    match scaled {
        Some(w) => grouped(w),
        // Only a yuan figure with more than 24 decimals could get here, and
        // the ledger never holds one; show it unconverted rather than guess.
        None => format!("{} 元", grouped(yuan)),
    }
}

/// An amount of yuan in 万元 rounded to two decimals (half away from zero),
/// with separators, as summary pages show it: `1429223.02` → `"142.92"`.
/// Detail pages and exports show the exact [`yuan`].
pub fn wan2(yuan: Decimal) -> String {
    let w = yuan
        .checked_div(Decimal::from(10_000))
        .map(|w| w.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero));
    match w {
        Some(w) => {
            let mut w = w;
            w.rescale(2);
            grouped(w)
        }
        None => format!("{} 元", grouped(yuan)),
    }
}

/// How many decimals [`wan`] shows for an amount (2 to 6).
pub fn wan_decimals(yuan: Decimal) -> usize {
    wan(yuan).split_once('.').map_or(0, |(_, f)| f.len())
}

/// [`wan`] padded with figure spaces (U+2007, as wide as a digit) to
/// `decimals` places, so a right-aligned column lines up on the decimal point.
pub fn wan_aligned(yuan: Decimal, decimals: usize) -> String {
    let mut s = wan(yuan);
    let have = s.split_once('.').map_or(0, |(_, f)| f.len());
    for _ in have..decimals {
        s.push('\u{2007}');
    }
    s
}

/// An amount of yuan with separators and two decimals: `"1,079,410,000.00"`.
pub fn yuan(yuan: Decimal) -> String {
    grouped(yuan)
}

/// Thousands separators, at least two decimals, trailing zeros beyond them
/// dropped.
fn grouped(d: Decimal) -> String {
    let mut d = d.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    let text = d.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `part ÷ whole` as a percentage with one decimal, or `None` when `whole`
/// is not positive.
pub fn percent(part: Decimal, whole: Decimal) -> Option<String> {
    if whole <= Decimal::ZERO {
        return None;
    }
    let p = part
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(whole)?
        .round_dp(1);
    Some(format!("{p:.1}%"))
}

/// `value × width ÷ max`, rounded to whole units, for drawing bars.
pub fn scale_to(value: Decimal, max: Decimal, width: i64) -> i64 {
    if max <= Decimal::ZERO || value <= Decimal::ZERO {
        return 0;
    }
    value
        .checked_mul(Decimal::from(width))
        .and_then(|v| v.checked_div(max))
        .and_then(|v| v.round().to_i64())
        .unwrap_or(0)
        .clamp(0, width)
}

/// Milliseconds since the epoch as China Standard Time, to the second.
pub fn datetime(ms: i64) -> String {
    let cst = ms.saturating_add(8 * 3_600_000);
    DateTime::<Utc>::from_timestamp_millis(cst)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "—".into())
}

/// How long ago `then_ms` was, in the largest whole unit.
pub fn ago(lang: Lang, then_ms: i64, now_ms: i64) -> String {
    let s = now_ms.saturating_sub(then_ms).max(0) / 1000;
    let (n, zh, en) = if s < 60 {
        (s, "秒前", "s ago")
    } else if s < 3600 {
        (s / 60, "分钟前", "min ago")
    } else if s < 86_400 {
        (s / 3600, "小时前", "h ago")
    } else {
        (s / 86_400, "天前", "d ago")
    };
    match lang {
        Lang::Zh => format!("{n} {zh}"),
        Lang::En => format!("{n} {en}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn wan2_rounds_to_two_decimals() {
        assert_eq!(wan2(d("1079410000.00")), "107,941.00");
        assert_eq!(wan2(d("1429223.02")), "142.92");
        assert_eq!(wan2(d("50")), "0.01");
        assert_eq!(wan2(d("49.99")), "0.00");
        assert_eq!(wan2(d("-123456789")), "-12,345.68");
    }

    #[test]
    fn wan_is_exact_with_separators() {
        assert_eq!(wan(d("1079410000.00")), "107,941.00");
        assert_eq!(wan(d("1079410000")), "107,941.00");
        assert_eq!(wan(d("1429223.02")), "142.922302");
        assert_eq!(wan(d("6915300")), "691.53");
        assert_eq!(wan(d("0.01")), "0.000001");
        assert_eq!(wan(d("0")), "0.00");
        assert_eq!(wan(d("-12345678.90")), "-1,234.56789");
        assert_eq!(wan(d("999999999999.99")), "99,999,999.999999");
        // The largest sums the ledger can hold (i64 fen) stay exact.
        let max = Decimal::new(i64::MAX, 2);
        assert_eq!(wan(max), "9,223,372,036,854.775807");
    }

    #[test]
    fn aligned_wan_pads_with_figure_spaces() {
        assert_eq!(wan_decimals(d("1429223.02")), 6);
        assert_eq!(wan_decimals(d("100")), 2);
        assert_eq!(wan_aligned(d("100"), 5), "0.01\u{2007}\u{2007}\u{2007}");
        assert_eq!(wan_aligned(d("1429223.02"), 2), "142.922302");
    }

    #[test]
    fn yuan_has_two_decimals_and_separators() {
        assert_eq!(yuan(d("1079410000")), "1,079,410,000.00");
        assert_eq!(yuan(d("12.5")), "12.50");
        assert_eq!(yuan(d("100")), "100.00");
        assert_eq!(yuan(d("-1000.01")), "-1,000.01");
    }

    #[test]
    fn percent_and_bar_scale() {
        assert_eq!(percent(d("1"), d("3")).as_deref(), Some("33.3%"));
        assert_eq!(percent(d("2"), d("3")).as_deref(), Some("66.7%"));
        assert_eq!(percent(d("1"), d("0")), None);
        assert_eq!(scale_to(d("50"), d("100"), 700), 350);
        assert_eq!(scale_to(d("1"), d("3"), 100), 33);
        assert_eq!(scale_to(d("5"), d("0"), 100), 0);
        assert_eq!(scale_to(d("500"), d("100"), 100), 100);
    }

    #[test]
    fn times_are_china_standard_time() {
        // 2020-09-25 00:00 UTC is 08:00 in Beijing.
        assert_eq!(datetime(1_600_992_000_000), "2020-09-25 08:00:00");
        assert_eq!(ago(Lang::Zh, 0, 90_000), "1 分钟前");
        assert_eq!(ago(Lang::En, 0, 2 * 86_400_000), "2 d ago");
    }

    #[test]
    fn languages() {
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::default().html_lang(), "zh-CN");
        assert_eq!(Lang::En.level(Level::County), "County");
        assert_eq!(Lang::Zh.level_str("prefecture"), "地州");
    }
}
