//! Downloadable XLSX templates: the Chinese column names an import reads,
//! required ones marked with `*`, a sample row in grey to show the form of
//! each value, and a sheet of notes. The header row is frozen.

use rust_xlsxwriter::{Color, Format, Workbook, XlsxError};

use super::Kind;

/// A sample value per column (same order as [`Kind::columns`]).
fn sample(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Payments => &[
            "LT2020000001",
            "2020-05-10",
            "轮台县财政局",
            "轮台县某农民专业合作社",
            "6222000012345678",
            "农业银行轮台支行",
            "30,000.00",
            "2130505",
            "巴财农〔2020〕12号",
            "",
            "P001",
            "扶贫产业项目支出",
        ],
        Kind::Allocations => &[
            "巴财农〔2020〕12号",
            "新财农〔2019〕101号",
            "",
            "轮台县",
            "4781",
            "2019-12-06",
            "",
            "2020年中央财政扶贫发展资金（提前下达）",
        ],
    }
}

fn notes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Payments => &[
            "带 * 的列必填；列的顺序不限，列名也可用英文字段名（voucher_no、paid_on …）。",
            "指标用“指标文号”或“指标编号”（如 652822-3）其一即可；文号须唯一对应本节点持有的一条指标。",
            "金额以元为单位，可写千分位（30,000.00）和 ￥；若列名写作“金额(万元)”，则按万元折算，折算后最多 2 位小数。",
            "日期可写 2020-05-10、2020/5/10、2020年5月10日 或 Excel 日期。",
            "CSV 文件可用 UTF-8（含 BOM）或 GBK 编码保存。",
            "第 2 行灰色为示例，导入前请删除。",
            "导入前先预览：有误的行按行号列出，全部无误才能确认导入，确认后一次性全部登记。",
        ],
        Kind::Allocations => &[
            "用于补录本节点已下达给下级的指标（分配下达）。带 * 的列必填。",
            "来源指标用“来源指标文号”或“来源指标编号”其一；资金类别可不填，取来源指标的类别。",
            "下达对象填下级的区划代码（如 652822）或名称（如 轮台县）。",
            "金额以元为单位；列名写作“金额(万元)”时按万元折算。",
            "第 2 行灰色为示例，导入前请删除。",
        ],
    }
}

/// The template of `kind` as XLSX bytes.
pub fn xlsx(kind: Kind) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDEBF7));
    let grey = Format::new().set_font_color(Color::Gray);
    let ws = wb.add_worksheet();
    ws.set_name(kind.zh())?;
    for ((i, c), s) in kind.columns().iter().enumerate().zip(sample(kind)) {
        let col = u16::try_from(i).unwrap_or(u16::MAX);
        let mut name = c.zh.to_owned();
        if c.key == "amount" {
            name.push_str("(元)");
        }
        if c.required {
            name.push('*');
        }
        ws.write_string_with_format(0, col, &name, &head)?;
        ws.write_string_with_format(1, col, *s, &grey)?;
        ws.set_column_width(col, 18)?;
    }
    ws.set_freeze_panes(1, 0)?;
    let help = wb.add_worksheet();
    help.set_name("说明")?;
    help.set_column_width(0, 100)?;
    for (i, n) in notes(kind).iter().enumerate() {
        help.write_string(u32::try_from(i).unwrap_or(u32::MAX), 0, *n)?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::columns::Columns;
    use crate::import::decode;

    #[test]
    fn each_template_reads_back_as_its_own_header() {
        for kind in [Kind::Payments, Kind::Allocations] {
            assert_eq!(sample(kind).len(), kind.columns().len());
            let bytes = xlsx(kind).expect("template");
            let mut rows: Vec<Vec<String>> = Vec::new();
            decode::workbook_rows(bytes, |_, cells| {
                rows.push(cells.iter().map(|c| (*c).to_owned()).collect());
                true
            })
            .expect("readable");
            let header: Vec<&str> = rows[0].iter().map(String::as_str).collect();
            assert!(header[0].ends_with('*'), "{header:?}");
            let c = Columns::find(kind.columns(), &header)
                .expect("a header")
                .expect("every required column");
            assert_eq!(c.width, kind.columns().len());
        }
    }
}
