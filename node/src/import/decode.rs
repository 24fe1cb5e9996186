//! What a file is and how its bytes become rows of text: CSV in UTF-8
//! (with or without a byte-order mark) or GBK / GB18030 (what treasury
//! systems on Chinese Windows save), and workbooks (XLSX, XLS, ODS).
//!
//! Detection needs no file name: a workbook starts with the zip or OLE
//! signature; anything else is CSV, read as UTF-8 when it has a BOM or is
//! valid UTF-8 throughout, else as GB18030 (a superset of GBK; it maps every
//! byte sequence, so a file is never refused for its encoding).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Sheets, XlsxError};

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

/// The widest sheet read, in columns (Excel 97–2003's limit; the import
/// files have a dozen). Every row is as wide as the sheet's used columns,
/// so a stray cell far to the right would otherwise widen every row.
pub const WORKBOOK_COLUMNS_MAX: u32 = 256;
/// Excel's rows and columns: a cell past them is not of a real workbook.
const SHEET_ROWS_MAX: u32 = 1_048_576;
const SHEET_COLUMNS_MAX: u32 = 16_384;

/// The non-empty cells of a sheet, by (row, column) from 0, as text.
type Cells = BTreeMap<(u32, u32), String>;

/// The first worksheet of a workbook as rows of text, handed in order to
/// `row` with their 1-based row number in the sheet until it returns false.
/// Each row spans the sheet's used columns (the leftmost to the rightmost
/// non-empty cell); rows without text are skipped. Dates become
/// `YYYY-MM-DD`; numbers their shortest exact decimal text (what was typed:
/// 10.5, not 10.499999…), so amounts are then parsed as exact decimals.
///
/// Whatever the bytes, it never panics and holds no more than the file's
/// cells and one row: XLSX and XLSB cells are streamed (calamine's range
/// would allocate every position between the first and the last cell, and
/// a file with just A1 and XFD1048576 asked for 17 billion of them, which
/// aborts the process), a cell past Excel's limits or a sheet wider than
/// [`WORKBOOK_COLUMNS_MAX`] is refused, and a panic inside calamine (its
/// cell references overflow a u32 at ten digits, which panics in a debug
/// build) is a refusal. Both were found by the fuzz target `import_xlsx`.
pub fn workbook_rows(bytes: Vec<u8>, row: impl FnMut(u64, &[&str]) -> bool) -> Result<(), String> {
    let cells = std::panic::catch_unwind(move || sheet_cells(bytes))
        .unwrap_or_else(|_| Err("无法读取 Excel 文件：文件已损坏".to_owned()))?;
    emit_rows(&cells, row)
}

fn sheet_cells(bytes: Vec<u8>) -> Result<Cells, String> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("无法读取 Excel 文件：{e}"))?;
    let Some(name) = wb.sheet_names().first().cloned() else {
        return Err("Excel 文件中没有工作表".to_owned());
    };
    let sheet_err = |e: &dyn std::fmt::Display| format!("无法读取第一个工作表：{e}");
    let mut cells = Cells::new();
    match &mut wb {
        Sheets::Xlsx(x) => {
            let mut r = match x.worksheet_cells_reader(&name) {
                Ok(r) => r,
                // A chart sheet first: no cells, as calamine's range reads it.
                Err(XlsxError::NotAWorksheet(_)) => return Ok(cells),
                Err(e) => return Err(sheet_err(&e)),
            };
            while let Some(c) = r.next_cell().map_err(|e| sheet_err(&e))? {
                put(
                    &mut cells,
                    c.get_position(),
                    Data::from(c.get_value().clone()),
                )?;
            }
        }
        Sheets::Xlsb(x) => {
            let mut r = x.worksheet_cells_reader(&name).map_err(|e| sheet_err(&e))?;
            while let Some(c) = r.next_cell().map_err(|e| sheet_err(&e))? {
                put(
                    &mut cells,
                    c.get_position(),
                    Data::from(c.get_value().clone()),
                )?;
            }
        }
        // XLS and ODS have no cell reader: calamine reads the whole range
        // (within the limits of those formats).
        Sheets::Xls(_) | Sheets::Ods(_) => {
            let range = wb.worksheet_range(&name).map_err(|e| sheet_err(&e))?;
            let (top, left) = range.start().unwrap_or((0, 0));
            for (r, c, d) in range.used_cells() {
                let (Ok(r), Ok(c)) = (u32::try_from(r), u32::try_from(c)) else {
                    return Err(sheet_err(&"单元格位置超出范围"));
                };
                let at = (top.saturating_add(r), left.saturating_add(c));
                put(&mut cells, at, d.clone())?;
            }
        }
    }
    Ok(cells)
}

/// Keeps a cell that holds anything (even blank text: it still widens the
/// sheet, as in calamine's range), refusing one outside Excel's sheet.
fn put(cells: &mut Cells, (row, col): (u32, u32), d: Data) -> Result<(), String> {
    if d == Data::Empty {
        return Ok(());
    }
    if row >= SHEET_ROWS_MAX || col >= SHEET_COLUMNS_MAX {
        return Err(format!(
            "Excel 文件有超出工作表范围的单元格（第 {} 行，第 {} 列）",
            u64::from(row) + 1,
            u64::from(col) + 1
        ));
    }
    cells.insert((row, col), cell_text(&d));
    Ok(())
}

/// Hands `cells` to `row` a row at a time, each as wide as the used columns.
fn emit_rows(cells: &Cells, mut row: impl FnMut(u64, &[&str]) -> bool) -> Result<(), String> {
    let (Some(left), Some(right)) = (
        cells.keys().map(|&(_, c)| c).min(),
        cells.keys().map(|&(_, c)| c).max(),
    ) else {
        return Ok(());
    };
    let width = right - left + 1;
    if width > WORKBOOK_COLUMNS_MAX {
        return Err(format!(
            "Excel 工作表有 {width} 列，超过 {WORKBOOK_COLUMNS_MAX} 列：请只保留要导入的列"
        ));
    }
    let mut texts: Vec<&str> = vec![""; usize::try_from(width).unwrap_or(0)];
    let mut it = cells.iter().peekable();
    while let Some(&(&(r, _), _)) = it.peek() {
        texts.fill("");
        while let Some((&(_, c), text)) = it.next_if(|((row, _), _)| *row == r) {
            if let Some(slot) = usize::try_from(c - left)
                .ok()
                .and_then(|i| texts.get_mut(i))
            {
                *slot = text;
            }
        }
        if texts.iter().all(|t| t.trim().is_empty()) {
            continue;
        }
        if !row(u64::from(r) + 1, &texts) {
            break;
        }
    }
    Ok(())
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
        let rows = table(bytes).expect("test data");
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
        let e = table(b"PK\x03\x04garbage".to_vec()).expect_err("refused");
        assert!(e.contains("Excel"), "{e}");
    }

    /// Every row [`workbook_rows`] hands over.
    fn table(bytes: Vec<u8>) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut rows = Vec::new();
        workbook_rows(bytes, |line, cells| {
            rows.push((line, cells.iter().map(|c| (*c).to_owned()).collect()));
            true
        })?;
        Ok(rows)
    }

    fn workbook(cells: &[(u32, u16, &str)]) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for &(row, col, text) in cells {
            ws.write_string(row, col, text).expect("test data");
        }
        wb.save_to_buffer().expect("test data")
    }

    /// Found by the fuzz target `import_xlsx`: calamine's range of a sheet
    /// holds every position from its first cell to its last, so two cells
    /// far apart asked for billions (a process abort, not an error).
    #[test]
    fn cells_far_apart_are_not_read_as_a_dense_range() {
        let rows = table(workbook(&[(0, 0, "凭证号"), (1_048_575, 0, "V1")])).expect("two rows");
        assert_eq!(
            rows,
            vec![(1, vec!["凭证号".into()]), (1_048_576, vec!["V1".into()])]
        );
        let e = table(workbook(&[(0, 0, "凭证号"), (1_048_575, 16_383, "V1")]))
            .expect_err("16384 columns");
        assert!(e.contains("16384 列") && e.contains("256"), "{e}");
        let rows = table(workbook(&[(0, 2, "a"), (0, 257, "b")])).expect("256 columns");
        assert_eq!(rows[0].1.len(), 256);
        assert_eq!((rows[0].1[0].as_str(), rows[0].1[255].as_str()), ("a", "b"));
    }

    /// Found by the fuzz target `import_xlsx`: a cell reference of ten or
    /// more digits overflows calamine's u32 (a panic in a debug build,
    /// a wrapped row number in a release one); either way it is refused.
    #[test]
    fn a_cell_reference_past_excel_is_refused() {
        use std::io::{Read, Write};
        let good = workbook(&[(0, 0, "凭证号"), (1, 0, "V1")]);
        for reference in ["A99999999999", "A1048577", "XFE1"] {
            let mut zip = zip::ZipArchive::new(Cursor::new(good.clone())).expect("a zip");
            let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).expect("a part");
                let name = f.name().expect("a part name").into_owned();
                let mut text = Vec::new();
                f.read_to_end(&mut text).expect("a part");
                if name == "xl/worksheets/sheet1.xml" {
                    let xml = String::from_utf8(text).expect("xml");
                    assert!(xml.contains(r#"r="A2""#), "{xml}");
                    text = xml
                        .replace(r#"r="A2""#, &format!(r#"r="{reference}""#))
                        .into_bytes();
                }
                out.start_file(name, zip::write::SimpleFileOptions::default())
                    .expect("a part");
                out.write_all(&text).expect("a part");
            }
            let bytes = out.finish().expect("a zip").into_inner();
            let e = table(bytes).expect_err(reference);
            assert!(e.contains("Excel"), "{reference}: {e}");
        }
    }
}
