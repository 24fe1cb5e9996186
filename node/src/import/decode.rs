//! What a file is and how its bytes become rows of text: CSV in UTF-8
//! (with or without a byte-order mark) or GBK / GB18030 (what treasury
//! systems on Chinese Windows save), and workbooks (XLSX, XLS, ODS).
//!
//! Detection needs no file name: a workbook starts with the zip or OLE
//! signature; anything else is CSV, read as UTF-8 when it has a BOM or is
//! valid UTF-8 throughout, else as GB18030 (a superset of GBK; it maps every
//! byte sequence, so a file is never refused for its encoding).

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, Reader};

/// What the bytes of an uploaded or named file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// XLSX, XLS or ODS (calamine tells them apart by content).
    Workbook,
}

/// The format of `bytes`, by their first bytes.
pub fn sniff(bytes: &[u8]) -> Format {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
    if bytes.starts_with(ZIP) || bytes.starts_with(OLE) {
        Format::Workbook
    } else {
        Format::Csv
    }
}

/// The encoding a CSV file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Gb18030,
}

/// CSV bytes as UTF-8 text: a BOM means UTF-8 (and is dropped); valid
/// UTF-8 stays as it is (no copy); anything else is GB18030.
pub fn decode_text(bytes: &[u8]) -> (Cow<'_, [u8]>, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        // A BOM says UTF-8; bytes that are not are replaced (U+FFFD)
        // rather than guessed at.
        return match std::str::from_utf8(rest) {
            Ok(_) => (Cow::Borrowed(rest), Encoding::Utf8Bom),
            Err(_) => (
                Cow::Owned(String::from_utf8_lossy(rest).into_owned().into_bytes()),
                Encoding::Utf8Bom,
            ),
        };
    }
    if std::str::from_utf8(bytes).is_ok() {
        return (Cow::Borrowed(bytes), Encoding::Utf8);
    }
    let (text, _, _) = encoding_rs::GB18030.decode(bytes);
    (
        Cow::Owned(text.into_owned().into_bytes()),
        Encoding::Gb18030,
    )
}

/// The first worksheet of a workbook as rows of text, each with its
/// 1-based row number in the sheet. Dates become `YYYY-MM-DD`; numbers
/// their shortest exact decimal text (what was typed: 10.5, not
/// 10.499999…), so amounts are then parsed as exact decimals.
pub fn workbook_rows(bytes: Vec<u8>) -> Result<Vec<(u64, Vec<String>)>, String> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("无法读取 Excel 文件：{e}"))?;
    let range = match wb.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(format!("无法读取第一个工作表：{e}")),
        None => return Err("Excel 文件中没有工作表".to_owned()),
    };
    let first = range.start().map(|(r, _)| u64::from(r)).unwrap_or(0);
    let mut rows = Vec::with_capacity(range.height());
    for (i, row) in range.rows().enumerate() {
        let cells: Vec<String> = row.iter().map(cell_text).collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = first + u64::try_from(i).unwrap_or(u64::MAX - first - 1) + 1;
        rows.push((line, cells));
    }
    Ok(rows)
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        // Display of f64 is the shortest text that reads back as the same
        // number: 10.5 stays "10.5", 12345.0 is "12345".
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) => t.date().format("%Y-%m-%d").to_string(),
            None => dt.to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_and_gbk_all_read_as_the_same_text() {
        let text = "凭证号,收款人\nV1,某合作社\n";
        let (t, e) = decode_text(text.as_bytes());
        assert_eq!((&*t, e), (text.as_bytes(), Encoding::Utf8));
        assert!(matches!(t, Cow::Borrowed(_)), "valid UTF-8 is not copied");

        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let (t, e) = decode_text(&bom);
        assert_eq!((&*t, e), (text.as_bytes(), Encoding::Utf8Bom));

        let (gbk, _, bad) = encoding_rs::GBK.encode(text);
        assert!(!bad);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "the GBK bytes are not UTF-8"
        );
        let (t, e) = decode_text(&gbk);
        assert_eq!((&*t, e), (text.as_bytes(), Encoding::Gb18030));
        // 中文 in GBK, as a treasury export has it.
        let (t, _) = decode_text(b"\xd6\xd0\xce\xc4");
        assert_eq!(&*t, "中文".as_bytes());
    }

    #[test]
    fn workbooks_are_told_from_csv_by_their_first_bytes() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Workbook);
        assert_eq!(sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), Format::Workbook);
        assert_eq!(sniff("凭证号,金额".as_bytes()), Format::Csv);
        assert_eq!(sniff(b""), Format::Csv);
    }

    #[test]
    fn an_xlsx_reads_as_text_rows_with_exact_numbers_and_dates() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "凭证号").expect("test data");
        ws.write_string(0, 1, "金额(元)").expect("test data");
        ws.write_string(0, 2, "支付日期").expect("test data");
        ws.write_string(1, 0, "V1").expect("test data");
        ws.write_number(1, 1, 10.5).expect("test data");
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2020, 5, 10).expect("test data");
        let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        ws.write_datetime_with_format(1, 2, &date, &fmt)
            .expect("test data");
        ws.write_number(3, 0, 12345.0).expect("test data");
        ws.write_number(3, 1, 0.1).expect("test data");
        let bytes = wb.save_to_buffer().expect("test data");
        assert_eq!(sniff(&bytes), Format::Workbook);
        let rows = workbook_rows(bytes).expect("test data");
        assert_eq!(rows.len(), 3, "the empty row 3 is skipped: {rows:?}");
        assert_eq!(
            rows[0],
            (
                1,
                vec!["凭证号".into(), "金额(元)".into(), "支付日期".into()]
            )
        );
        assert_eq!(
            rows[1],
            (2, vec!["V1".into(), "10.5".into(), "2020-05-10".into()])
        );
        assert_eq!(
            rows[2],
            (4, vec!["12345".into(), "0.1".into(), String::new()])
        );
    }

    #[test]
    fn a_broken_workbook_is_a_chinese_error() {
        let e = workbook_rows(b"PK\x03\x04garbage".to_vec()).expect_err("refused");
        assert!(e.contains("Excel"), "{e}");
    }
}
