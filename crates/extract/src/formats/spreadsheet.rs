//! Excel workbooks (`.xlsx`, `.xls`) through calamine: one page per sheet labelled with its
//! name, each row one line whose cells carry their column headers (the first non-empty row).

use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{
    open_workbook_from_rs, Data, ExcelDateTime, Reader, Xls, XlsError, Xlsx, XlsxError,
};
use quick_xml::events::Event;

use super::zipped::{self, attr, Archive, OleContent, Table, OLE_MAGIC};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Format, Source};

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let is_zip = src.bytes.starts_with(b"PK");
    let is_ole = src.bytes.starts_with(&OLE_MAGIC);
    if is_ole && zipped::ole_content(src.bytes) == OleContent::Encrypted {
        // An encrypted .xlsx is an OLE2 file; so is an .xls whose cfb cannot be parsed,
        // which calamine will then report as damaged.
        if src.format == Format::Xlsx || has_encryption_streams(src.bytes) {
            return Err(ExtractError::Encrypted {
                path: src.path.to_owned(),
            });
        }
    }
    // The content decides the reader: `.xls` files that are really .xlsx (and the reverse)
    // are common, since many tools save one under the other's name.
    let (builder, title) = if is_zip || (src.format == Format::Xlsx && !is_ole) {
        let title = check_xlsx(src)?;
        (guarded(src, || read_xlsx(src))?, title)
    } else {
        guarded(src, || check_xls(src))?;
        (guarded(src, || read_xls(src))?, None)
    };
    let mut extracted = src.extracted(builder);
    extracted.title = title;
    Ok(extracted)
}

fn has_encryption_streams(bytes: &[u8]) -> bool {
    catch_unwind(|| {
        cfb::CompoundFile::open(Cursor::new(bytes))
            .map(|f| f.exists("/EncryptionInfo") || f.exists("/EncryptedPackage"))
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Runs a calamine (or cfb) read, turning a panic inside the library (calamine indexes record
/// data freely) into a `Corrupt` error: hostile files must not take the app down.
fn guarded<T>(
    src: &Source<'_>,
    read: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    catch_unwind(AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err(src.corrupt("malformed spreadsheet data (the reader failed)")))
}

/// The zip-bomb checks of every zip-based reader, plus a shared-string count that would make
/// calamine reserve more memory than the part could ever need. Returns the core title.
fn check_xlsx(src: &Source<'_>) -> Result<Option<String>, ExtractError> {
    let mut archive = Archive::open(src)?;
    let shared_strings = archive
        .names()
        .into_iter()
        .filter(|n| n.to_ascii_lowercase().ends_with("sharedstrings.xml"));
    for part in shared_strings.collect::<Vec<_>>() {
        let size = archive.declared_size(&part).unwrap_or(0);
        let Some(head) = archive.read_head(&part, 4096)? else {
            continue;
        };
        if let Some(count) = declared_string_count(&zipped::decode_xml(head)) {
            // Each string takes at least `<si/>`, five bytes of the part.
            if count > size / 5 + 1 {
                return Err(src.corrupt(format!("{part} declares {count} strings in {size} bytes")));
            }
        }
    }
    zipped::core_title(&mut archive)
}

/// The `uniqueCount` of the `sst` element at the start of a shared-strings part.
fn declared_string_count(head: &str) -> Option<u64> {
    let mut reader = zipped::xml_reader(head, true);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sst" => {
                return attr(&e, "uniqueCount").and_then(|v| v.trim().parse().ok());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn read_xlsx(src: &Source<'_>) -> Result<TextBuilder, ExtractError> {
    let corrupt = |e: XlsxError| match e {
        XlsxError::Password => ExtractError::Encrypted {
            path: src.path.to_owned(),
        },
        e => src.corrupt(e),
    };
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(src.bytes)).map_err(corrupt)?;
    let mut out = TextBuilder::new();
    for (index, name) in workbook.sheet_names().into_iter().enumerate() {
        out.begin_page(page_number(index), Some(name.clone()));
        let mut cells = Vec::new();
        match workbook.worksheet_cells_reader(&name) {
            Ok(mut reader) => {
                // Streamed cell by cell: a sheet's declared dimensions never size anything.
                while let Some(cell) = reader.next_cell().map_err(corrupt)? {
                    let (row, col) = cell.get_position();
                    let text = cell_text(&Data::from(cell.get_value().clone()));
                    if !text.trim().is_empty() {
                        cells.push((row, col, text));
                    }
                }
            }
            // Chart sheets have no cells.
            Err(XlsxError::NotAWorksheet(_)) => {}
            Err(e) => return Err(corrupt(e)),
        }
        sheet_table(cells).render(&mut out);
    }
    Ok(out)
}

fn read_xls(src: &Source<'_>) -> Result<TextBuilder, ExtractError> {
    let corrupt = |e: XlsError| match e {
        XlsError::Password => ExtractError::Encrypted {
            path: src.path.to_owned(),
        },
        e => src.corrupt(e),
    };
    let mut workbook: Xls<_> = open_workbook_from_rs(Cursor::new(src.bytes)).map_err(corrupt)?;
    let mut out = TextBuilder::new();
    for (index, name) in workbook.sheet_names().into_iter().enumerate() {
        out.begin_page(page_number(index), Some(name.clone()));
        let range = workbook.worksheet_range(&name).map_err(corrupt)?;
        let cells = range
            .used_cells()
            .map(|(row, col, value)| (row_u32(row), row_u32(col), cell_text(value)))
            .filter(|(_, _, text)| !text.trim().is_empty())
            .collect();
        sheet_table(cells).render(&mut out);
    }
    Ok(out)
}

fn page_number(index: usize) -> u32 {
    u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX)
}

fn row_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A sheet's non-empty cells, in any order, as a table in row order.
fn sheet_table(mut cells: Vec<(u32, u32, String)>) -> Table {
    cells.sort_by_key(|(row, col, _)| (*row, *col));
    let mut table = Table::default();
    let mut current_row = None;
    for (row, col, text) in cells {
        if current_row != Some(row) {
            table.start_row();
            current_row = Some(row);
        }
        table.push_cell_at(col, text);
    }
    table
}

/// A cell as a person reads it: numbers without float noise or a trailing `.0`, dates as
/// ISO dates, booleans and errors as Excel shows them.
fn cell_text(value: &Data) -> String {
    match value {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Float(f) => format_number(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(true) => "TRUE".to_owned(),
        Data::Bool(false) => "FALSE".to_owned(),
        Data::DateTime(dt) => format_datetime(dt),
        Data::Error(e) => e.to_string(),
    }
}

/// Excel keeps 15 significant digits; printing more shows binary noise (0.30000000000000004).
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor();
    if !(-15.0..=15.0).contains(&magnitude) {
        return value.to_string();
    }
    // In range -15..=15, so the cast is exact.
    let decimals = usize::try_from((14 - magnitude as i32).max(0)).unwrap_or(0);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match text {
        "-0" => "0".to_owned(),
        t => t.to_owned(),
    }
}

/// `2023-08-15`, `2023-08-15 09:30`, `09:30:15` for a time of day, `36:00:00` for a duration.
fn format_datetime(dt: &ExcelDateTime) -> String {
    let serial = dt.as_f64();
    if dt.is_duration() {
        let seconds = (serial * 86_400.0).round();
        if !seconds.is_finite() || seconds.abs() > 1e15 {
            return serial.to_string();
        }
        // Bounded above, so the cast is exact.
        let seconds = seconds as i64;
        let sign = if seconds < 0 { "-" } else { "" };
        let s = seconds.unsigned_abs();
        return format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    }
    let (year, month, day, hour, minute, second, _) = dt.to_ymd_hms_milli();
    let time = match (hour, minute, second) {
        (0, 0, 0) => None,
        (h, m, 0) => Some(format!("{h:02}:{m:02}")),
        (h, m, s) => Some(format!("{h:02}:{m:02}:{s:02}")),
    };
    match time {
        Some(time) if (0.0..1.0).contains(&serial) => time,
        Some(time) => format!("{year:04}-{month:02}-{day:02} {time}"),
        None => format!("{year:04}-{month:02}-{day:02}"),
    }
}

/// Bytes calamine may hold per cell of a sheet's bounding box (a `Data` value plus a formula
/// string) while it builds an `.xls` sheet.
const XLS_BYTES_PER_CELL: u64 = 64;

/// calamine reads every `.xls` sheet into a dense grid spanning its used cells, and reserves
/// what a sheet's DIMENSIONS record declares: a few hostile records could ask for terabytes.
/// This walks the BIFF records first and refuses a workbook whose grids would exceed
/// [`crate::Limits::max_inflated_bytes`].
fn check_xls(src: &Source<'_>) -> Result<(), ExtractError> {
    // calamine's own compound-file reader follows damaged sector chains without bound (a 6 KB
    // file made it allocate 2 GiB under fuzzing); the cfb crate validates the structure, so a
    // file it cannot open never reaches calamine.
    let mut file = cfb::CompoundFile::open(Cursor::new(src.bytes))
        .map_err(|e| src.corrupt(format!("not a valid Excel 97-2003 file: {e}")))?;
    let stream = ["/Workbook", "/Book"].iter().find_map(|name| {
        let mut bytes = Vec::new();
        let mut stream = file.open_stream(name).ok()?;
        (&mut stream)
            .take(src.limits.max_file_bytes)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    });
    let Some(stream) = stream else {
        return Err(src.corrupt("no Workbook stream (not an Excel workbook)"));
    };
    let mut grid = GridEstimate::default();
    let mut pos = 0usize;
    while let (Some(typ), Some(len)) = (read_u16(&stream, pos), read_u16(&stream, pos + 2)) {
        let start = pos + 4;
        let Some(data) = stream.get(start..start + usize::from(len)) else {
            break;
        };
        pos = start + usize::from(len);
        match typ {
            // BOF, EOF: a substream (sheet) begins or ends.
            0x0809 | 0x000A => grid.end_sheet(),
            0x0200 => {
                let reserved = declared_area(data).saturating_mul(XLS_BYTES_PER_CELL);
                grid.bytes = grid.bytes.saturating_add(reserved);
            }
            // Number, Label, RString, BoolErr, RK, LabelSst, Formula: row and column first.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                if let (Some(row), Some(col)) = (read_u16(data, 0), read_u16(data, 2)) {
                    grid.cell(row, col);
                }
            }
            // MulRk: row, first column, ..., last column.
            0x00BD => {
                let last = data.len().checked_sub(2).and_then(|at| read_u16(data, at));
                if let (Some(row), Some(first), Some(last)) =
                    (read_u16(data, 0), read_u16(data, 2), last)
                {
                    grid.cell(row, first);
                    grid.cell(row, last);
                }
            }
            _ => {}
        }
        if grid.total() > src.limits.max_inflated_bytes {
            return Err(ExtractError::Inflation {
                path: src.path.to_owned(),
                member: "Workbook".to_owned(),
                limit: src.limits.max_inflated_bytes,
            });
        }
    }
    Ok(())
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*pair.first()?, *pair.get(1)?]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let quad = bytes.get(at..at.checked_add(4)?)?;
    let mut le = [0u8; 4];
    le.copy_from_slice(quad);
    Some(u32::from_le_bytes(le))
}

/// The cell count a DIMENSIONS record makes calamine reserve, computed the way calamine does
/// (xls.rs, `parse_dimensions`): reversed bounds wrap around to billions of rows there, so
/// they must count as such here.
fn declared_area(data: &[u8]) -> u64 {
    let fields = match data.len() {
        10 => (
            read_u16(data, 0).map(u32::from),
            read_u16(data, 2).map(u32::from),
            read_u16(data, 4).map(u32::from),
            read_u16(data, 6).map(u32::from),
        ),
        14 | 16 => (
            read_u32(data, 0),
            read_u32(data, 4),
            read_u16(data, 8).map(u32::from),
            read_u16(data, 10).map(u32::from),
        ),
        // calamine rejects other lengths.
        _ => return 0,
    };
    let (Some(first_row), Some(last_row), Some(mut first_col), Some(last_col)) = fields else {
        return 0;
    };
    if first_col > 0xFF || last_col < first_col {
        first_col = 0;
    }
    if last_row == 0 || last_col == 0 {
        return 0;
    }
    let rows = (last_row - 1).wrapping_sub(first_row).wrapping_add(1);
    let cols = (last_col - 1).wrapping_sub(first_col).wrapping_add(1);
    u64::from(rows) * u64::from(cols)
}

/// Running estimate of the memory calamine's dense sheet grids will take.
#[derive(Default)]
struct GridEstimate {
    /// Bytes of sheets already finished, plus reservations.
    bytes: u64,
    /// The bounding box of the current sheet's cells.
    rows: Option<(u16, u16)>,
    cols: Option<(u16, u16)>,
}

impl GridEstimate {
    fn cell(&mut self, row: u16, col: u16) {
        let widen = |span: Option<(u16, u16)>, v: u16| match span {
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            None => Some((v, v)),
        };
        self.rows = widen(self.rows, row);
        self.cols = widen(self.cols, col);
    }

    fn current(&self) -> u64 {
        match (self.rows, self.cols) {
            (Some((r0, r1)), Some((c0, c1))) => {
                let area = (u64::from(r1 - r0) + 1) * (u64::from(c1 - c0) + 1);
                area.saturating_mul(XLS_BYTES_PER_CELL)
            }
            _ => 0,
        }
    }

    fn end_sheet(&mut self) {
        self.bytes = self.bytes.saturating_add(self.current());
        self.rows = None;
        self.cols = None;
    }

    fn total(&self) -> u64 {
        self.bytes.saturating_add(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(format_number(1280.5), "1280.5");
        assert_eq!(format_number(964.0), "964");
        assert_eq!(format_number(731.25), "731.25");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(-2.1), "-2.1");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(1e20), "100000000000000000000");
        assert_eq!(format_number(123456789012.0), "123456789012");
        assert_eq!(format_number(1.5e-7), "0.00000015");
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    #[test]
    fn dates_times_and_durations() {
        let dt = |v, kind| ExcelDateTime::new(v, kind, false);
        assert_eq!(
            format_datetime(&dt(45153.0, ExcelDateTimeType::DateTime)),
            "2023-08-15"
        );
        assert_eq!(
            format_datetime(&dt(45153.395833333336, ExcelDateTimeType::DateTime)),
            "2023-08-15 09:30"
        );
        assert_eq!(
            format_datetime(&dt(0.5, ExcelDateTimeType::DateTime)),
            "12:00"
        );
        assert_eq!(
            format_datetime(&dt(1.5, ExcelDateTimeType::TimeDelta)),
            "36:00:00"
        );
        assert_eq!(
            format_datetime(&dt(f64::NAN, ExcelDateTimeType::DateTime)),
            "1899-12-31"
        );
        assert_eq!(
            format_datetime(&dt(f64::INFINITY, ExcelDateTimeType::TimeDelta)),
            "inf"
        );
    }

    #[test]
    fn cells_become_rows_under_their_headers() {
        let cells = vec![
            (3, 1, "x".to_owned()),
            (1, 0, "Name".to_owned()),
            (1, 2, "Note".to_owned()),
            (3, 2, "y".to_owned()),
            (1, 1, "Value".to_owned()),
        ];
        let mut out = TextBuilder::new();
        sheet_table(cells).render(&mut out);
        let (text, _, _) = out.finish();
        assert_eq!(text, "Name | Value | Note\nValue: x | Note: y");
    }

    #[test]
    fn inconsistent_or_huge_dimensions_are_caught() {
        let dims = |rf: u32, rl: u32, cf: u16, cl: u16| {
            let mut d = Vec::new();
            d.extend_from_slice(&rf.to_le_bytes());
            d.extend_from_slice(&rl.to_le_bytes());
            d.extend_from_slice(&cf.to_le_bytes());
            d.extend_from_slice(&cl.to_le_bytes());
            d.extend_from_slice(&[0, 0]);
            d
        };
        assert_eq!(declared_area(&dims(0, 4, 0, 4)), 16);
        assert_eq!(declared_area(&dims(0, 0, 0, 0)), 0);
        assert_eq!(declared_area(&dims(4, 4, 0, 4)), 0);
        assert_eq!(
            declared_area(&dims(9, 4, 0, 4)),
            (u64::from(u32::MAX) - 4) * 4
        );
        assert_eq!(
            declared_area(&dims(0, u32::MAX, 0, 255)),
            u64::from(u32::MAX) * 255
        );
        assert_eq!(declared_area(&[1, 2, 3]), 0);
    }

    #[test]
    fn shared_string_count_is_read_from_the_head() {
        let head =
            r#"<?xml version="1.0"?><sst xmlns="x" count="9" uniqueCount="99999999999"><si>"#;
        assert_eq!(declared_string_count(head), Some(99_999_999_999));
        assert_eq!(declared_string_count("<sst>"), None);
    }
}
