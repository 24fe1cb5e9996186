//! The two file formats of an export, one table each, written a page of
//! rows at a time so that no export holds all its rows.
//!
//! - **CSV**: UTF-8 with a byte-order mark (without it Excel reads the file
//!   as the system's code page and the Chinese headers turn to noise), the
//!   header line first, amounts as plain numbers with two decimals. A text
//!   cell that Excel would take for a formula (`=`, `+`, `-`, `@`, tab,
//!   carriage return first) is prefixed with `'`.
//! - **XLSX**: a title row, one row per filter, the header row frozen below
//!   them, amounts as numbers formatted `#,##0.00`. The worksheet is in
//!   rust_xlsxwriter's constant-memory mode: each row goes to a temporary
//!   file as it is written, so memory stays flat however many rows there
//!   are. A sheet that reaches Excel's row limit continues on a new sheet
//!   under the same headers.

use std::io::{Seek, SeekFrom};

use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

/// One cell of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Yuan, exact; a number in the file.
    Money(Decimal),
    /// A ratio (0.5 is 50 %); a number in the file.
    Ratio(Decimal),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// `Some` as text, `None` as an empty cell.
    pub fn opt(s: Option<impl Into<String>>) -> Cell {
        s.map_or(Cell::Empty, |s| Cell::Text(s.into()))
    }
}

/// A column: its header and how wide Excel shows it (in characters).
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub width: u16,
}

impl Column {
    pub fn new(header: impl Into<String>, width: u16) -> Column {
        Column {
            header: header.into(),
            width,
        }
    }
}

/// What precedes the rows: the title, the filters as `(label, value)`, the
/// sheet's name and the columns.
#[derive(Debug, Clone)]
pub struct Head {
    pub title: String,
    pub filters: Vec<(String, String)>,
    pub sheet: String,
    pub columns: Vec<Column>,
}

/// The byte-order mark that tells Excel a CSV file is UTF-8.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The start of a CSV export: the byte-order mark and the header line.
pub fn csv_head(h: &Head) -> Vec<u8> {
    let mut out = BOM.to_vec();
    out.extend(csv_lines(std::iter::once(
        h.columns
            .iter()
            .map(|c| Cell::Text(c.header.clone()))
            .collect::<Vec<_>>(),
    )));
    out
}

/// Rows as CSV lines (RFC 4180 quoting, `\r\n` line ends as Excel writes).
pub fn csv_lines<R>(rows: impl IntoIterator<Item = R>) -> Vec<u8>
where
    R: AsRef<[Cell]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        let fields: Vec<String> = r.as_ref().iter().map(csv_field).collect();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&fields);
    }
    w.into_inner().unwrap_or_default()
}

fn csv_field(c: &Cell) -> String {
    match c {
        Cell::Text(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        Cell::Money(d) => format!("{:.2}", d),
        Cell::Ratio(d) => d.normalize().to_string(),
        Cell::Empty => String::new(),
    }
}

/// The largest number of rows an Excel worksheet holds.
const SHEET_ROWS_MAX: u32 = 1_048_576;

/// An XLSX export being written: rows go to the worksheet's temporary file.
pub struct Xlsx {
    book: Workbook,
    head: Head,
    /// Sheets so far; rows go to the last one.
    sheets: usize,
    /// The next row of the current sheet.
    row: u32,
    money: Format,
    ratio: Format,
}

impl std::fmt::Debug for Xlsx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xlsx")
            .field("sheets", &self.sheets)
            .field("row", &self.row)
            .finish()
    }
}

impl Xlsx {
    /// A workbook with the head written on its first sheet.
    pub fn new(head: Head) -> Result<Xlsx, XlsxError> {
        let mut x = Xlsx {
            book: Workbook::new(),
            head,
            sheets: 0,
            row: 0,
            money: Format::new().set_num_format("#,##0.00"),
            ratio: Format::new().set_num_format("0.00%"),
        };
        x.add_sheet()?;
        Ok(x)
    }

    /// Rows above the header row: the title, the filters, a blank line.
    pub fn header_row(&self) -> u32 {
        u32::try_from(self.head.filters.len())
            .unwrap_or(u32::MAX)
            .saturating_add(2)
    }

    fn add_sheet(&mut self) -> Result<(), XlsxError> {
        self.sheets += 1;
        let name = if self.sheets == 1 {
            self.head.sheet.clone()
        } else {
            format!("{} ({})", self.head.sheet, self.sheets)
        };
        let header_row = self.header_row();
        let ws = self.book.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        let bold = Format::new().set_bold();
        let title = Format::new().set_bold().set_font_size(14);
        let label = Format::new().set_font_color("#5D6B7A");
        ws.write_string_with_format(0, 0, &self.head.title, &title)?;
        for (i, (k, v)) in self.head.filters.iter().enumerate() {
            let r = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
            ws.write_string_with_format(r, 0, k, &label)?;
            ws.write_string(r, 1, v)?;
        }
        for (i, c) in self.head.columns.iter().enumerate() {
            let col = u16::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)?;
            ws.set_column_width(col, c.width)?;
            ws.write_string_with_format(header_row, col, &c.header, &bold)?;
        }
        ws.set_freeze_panes(header_row.saturating_add(1), 0)?;
        self.row = header_row.saturating_add(1);
        Ok(())
    }

    fn sheet(&mut self) -> Result<&mut Worksheet, XlsxError> {
        self.book
            .worksheet_from_index(self.sheets.saturating_sub(1))
    }

    /// Appends rows.
    pub fn rows<R>(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), XlsxError>
    where
        R: AsRef<[Cell]>,
    {
        for r in rows {
            if self.row >= SHEET_ROWS_MAX {
                self.add_sheet()?;
            }
            let (row, money, ratio) = (self.row, self.money.clone(), self.ratio.clone());
            let ws = self.sheet()?;
            for (i, c) in r.as_ref().iter().enumerate() {
                let col = u16::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)?;
                match c {
                    Cell::Text(s) => {
                        ws.write_string(row, col, s)?;
                    }
                    Cell::Money(d) => {
                        ws.write_number_with_format(row, col, to_f64(*d), &money)?;
                    }
                    Cell::Ratio(d) => {
                        ws.write_number_with_format(row, col, to_f64(*d), &ratio)?;
                    }
                    Cell::Empty => {}
                }
            }
            self.row = row.saturating_add(1);
        }
        Ok(())
    }

    /// The finished workbook, in an unnamed temporary file (gone once
    /// closed), positioned at its start.
    pub fn finish(mut self) -> Result<std::fs::File, XlsxError> {
        let mut file = tempfile::tempfile()?;
        self.book.save_to_writer(&mut file)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

/// A figure as Excel stores it: the double nearest the decimal (parsed
/// from its text, so correctly rounded). Amounts are whole fen, far inside
/// the 15 significant digits Excel shows, so the file shows exactly the
/// ledger's figure.
fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use calamine::{Data, Reader, Xlsx as XlsxReader};

    use super::*;

    fn head() -> Head {
        Head {
            title: "国库集中支付".into(),
            filters: vec![
                ("支付单位".into(), "轮台县 (652822)".into()),
                ("截至".into(), "2020-12-31".into()),
            ],
            sheet: "支付".into(),
            columns: vec![
                Column::new("凭证号", 14),
                Column::new("收款人", 20),
                Column::new("金额（元）", 16),
                Column::new("支出进度", 10),
            ],
        }
    }

    fn rows() -> Vec<Vec<Cell>> {
        vec![
            vec![
                Cell::text("V-001"),
                Cell::text("=HYPERLINK(\"x\")"),
                Cell::Money(Decimal::new(3_000_000, 2)),
                Cell::Ratio(Decimal::new(5, 1)),
            ],
            vec![
                Cell::text("V,\"2\""),
                Cell::text("尉犁县\n农业局"),
                Cell::Money(Decimal::new(-12_345, 2)),
                Cell::Empty,
            ],
        ]
    }

    #[test]
    fn csv_has_a_bom_chinese_headers_plain_numbers_and_no_formulas() {
        let mut out = csv_head(&head());
        out.extend(csv_lines(rows()));
        assert!(out.starts_with(BOM));
        let text = std::str::from_utf8(&out[3..]).expect("utf-8");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h: Vec<String> = r
            .headers()
            .expect("headers")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(h, ["凭证号", "收款人", "金额（元）", "支出进度"]);
        let recs: Vec<csv::StringRecord> = r.records().map(|x| x.expect("record")).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(&recs[0][1], "'=HYPERLINK(\"x\")");
        assert_eq!(&recs[0][2], "30000.00");
        assert_eq!(&recs[0][3], "0.5");
        assert_eq!(&recs[1][0], "V,\"2\"");
        assert_eq!(&recs[1][1], "尉犁县\n农业局");
        assert_eq!(&recs[1][2], "-123.45");
        assert_eq!(&recs[1][3], "");
        assert!(text.contains("\r\n"));
    }

    fn written(head: Head, rows: &[Vec<Cell>]) -> Vec<u8> {
        let mut x = Xlsx::new(head).expect("workbook");
        x.rows(rows).expect("rows");
        let mut f = x.finish().expect("saved");
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("read");
        bytes
    }

    #[test]
    fn xlsx_has_title_filters_frozen_headers_and_numbers() {
        let bytes = written(head(), &rows());
        let mut book: XlsxReader<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).expect("xlsx");
        assert_eq!(book.sheet_names(), ["支付"]);
        let range = book.worksheet_range("支付").expect("sheet");
        let cell = |r: u32, c: u32| range.get_value((r, c)).cloned().unwrap_or(Data::Empty);
        assert_eq!(cell(0, 0), Data::String("国库集中支付".into()));
        assert_eq!(cell(1, 0), Data::String("支付单位".into()));
        assert_eq!(cell(1, 1), Data::String("轮台县 (652822)".into()));
        assert_eq!(cell(2, 1), Data::String("2020-12-31".into()));
        assert_eq!(cell(3, 0), Data::Empty);
        assert_eq!(cell(4, 0), Data::String("凭证号".into()));
        assert_eq!(cell(4, 2), Data::String("金额（元）".into()));
        assert_eq!(cell(5, 0), Data::String("V-001".into()));
        // Text stays text, never a formula.
        assert_eq!(cell(5, 1), Data::String("=HYPERLINK(\"x\")".into()));
        assert_eq!(cell(5, 2), Data::Float(30000.0));
        assert_eq!(cell(5, 3), Data::Float(0.5));
        assert_eq!(cell(6, 2), Data::Float(-123.45));
        assert_eq!(cell(6, 3), Data::Empty);

        // The sheet's own XML: the pane is frozen under the header row and
        // the amounts carry the two-decimal format.
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .expect("sheet1")
            .read_to_string(&mut sheet)
            .expect("xml");
        assert!(
            sheet.contains("ySplit=\"5\"") && sheet.contains("state=\"frozen\""),
            "{sheet}"
        );
        let mut styles = String::new();
        zip.by_name("xl/styles.xml")
            .expect("styles")
            .read_to_string(&mut styles)
            .expect("xml");
        assert!(styles.contains("formatCode=\"#,##0.00\""), "{styles}");
    }

    #[test]
    fn an_empty_export_still_has_its_headers() {
        let h = Head {
            filters: vec![],
            ..head()
        };
        let bytes = written(h, &[]);
        let mut book: XlsxReader<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("xlsx");
        let range = book.worksheet_range("支付").expect("sheet");
        assert_eq!(
            range.get_value((2, 1)),
            Some(&Data::String("收款人".into()))
        );
        assert_eq!(range.height(), 3);
    }
}
