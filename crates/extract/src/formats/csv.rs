//! CSV (and tab-, semicolon- or pipe-separated files named `.csv`): decoded like plain text,
//! parsed per RFC 4180, and written one record a line with each cell labelled by its column.

use crate::builder::{table_row_text, TextBuilder};
use crate::{text, ExtractError, Extracted, Source};

/// Delimiters the sniffer chooses from, in order of preference when they score the same.
/// A tab present in every line is a stronger sign than commas, which prose and numbers contain.
const DELIMITERS: [u8; 4] = [b'\t', b',', b';', b'|'];

/// How many records, and how many bytes at most, the delimiter sniffer looks at.
const SNIFF_RECORDS: usize = 20;
const SNIFF_BYTES: usize = 64 * 1024;

/// A CSV file: no pages (one sheet); the first record names the columns.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let decoded = text::decode(src.path, src.bytes)?;
    let mut builder = TextBuilder::new();
    let mut warnings = decoded.warnings;
    warnings.extend(csv_to_builder(&decoded.text, &mut builder).map_err(|e| src.corrupt(e))?);
    let mut extracted = src.extracted(builder);
    extracted.encoding = Some(decoded.encoding);
    extracted.warnings = warnings;
    Ok(extracted)
}

/// Writes CSV text into `builder`: the header record as `a | b | c`, then each record as one
/// line of `column: value` pairs. Returns warnings; fails (naming the line) only if the parser
/// does.
pub(crate) fn csv_to_builder(text: &str, builder: &mut TextBuilder) -> Result<Vec<String>, String> {
    let delimiter = sniff_delimiter(text);
    let mut warnings = Vec::new();
    // An odd number of quotes means one is never closed, and RFC 4180 parsing would swallow
    // the rest of the file into one cell: read such a file with quotes as ordinary characters.
    let balanced = text.bytes().filter(|&b| b == b'"').count() % 2 == 0;
    if !balanced {
        warnings.push("unbalanced quotes; the file was read without quote handling".to_owned());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(balanced)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        match &header {
            None => {
                builder.push_block(&table_row_text(&[], &cells));
                header = Some(cells);
            }
            Some(names) => builder.table_row(names, &cells),
        }
    }
    Ok(warnings)
}

/// The delimiter that splits the first records into the same number of fields most often.
fn sniff_delimiter(text: &str) -> u8 {
    let sample = &text.as_bytes()[..text.len().min(SNIFF_BYTES)];
    let counts = count_per_record(sample);
    let mut best = (0usize, b',');
    for (i, &delimiter) in DELIMITERS.iter().enumerate() {
        let per_record: Vec<usize> = counts.iter().map(|c| c[i]).collect();
        let agreeing = most_common_nonzero(&per_record);
        if agreeing > best.0 {
            best = (agreeing, delimiter);
        }
    }
    best.1
}

/// For each of the first records, how often each candidate delimiter occurs outside quotes.
fn count_per_record(sample: &[u8]) -> Vec<[usize; DELIMITERS.len()]> {
    let mut records = Vec::new();
    let mut current = [0usize; DELIMITERS.len()];
    let mut in_quotes = false;
    let mut empty = true;
    for &b in sample {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => {
                if !empty {
                    records.push(current);
                    if records.len() == SNIFF_RECORDS {
                        return records;
                    }
                }
                current = [0; DELIMITERS.len()];
                empty = true;
                continue;
            }
            _ if !in_quotes => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
                    current[i] += 1;
                }
            }
            _ => {}
        }
        empty = false;
    }
    if !empty {
        records.push(current);
    }
    records
}

/// How many records share the most common non-zero count.
fn most_common_nonzero(counts: &[usize]) -> usize {
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| counts.iter().filter(|&&o| o == c).count())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> (String, Vec<String>) {
        let mut builder = TextBuilder::new();
        let warnings = csv_to_builder(text, &mut builder).expect("parses");
        (builder.finish().0, warnings)
    }

    #[test]
    fn records_are_labelled_lines() {
        let (text, warnings) =
            convert("名称,数量,备注\r\n苹果,3,\"红, 甜\"\r\n梨,,\"两\r\n行\"\r\n");
        assert_eq!(
            text,
            "名称 | 数量 | 备注\n名称: 苹果 | 数量: 3 | 备注: 红, 甜\n名称: 梨 | 备注: 两 行"
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter("a\tb\tc\n1,5\t2\t3\n"), b'\t');
        assert_eq!(sniff_delimiter("a;b;c\n1,5;2;3,25\n4;5;6\n"), b';');
        assert_eq!(sniff_delimiter("a|b\n1|2\n"), b'|');
        assert_eq!(sniff_delimiter("\"x;y\",b\n1,2\n"), b',');
        assert_eq!(sniff_delimiter("single column\nvalue\n"), b',');
    }

    #[test]
    fn unbalanced_quotes_do_not_swallow_the_file() {
        let (text, warnings) = convert("a,b\n\"1,2\n3,4\n5,6\n");
        assert!(text.contains("a: 5 | b: 6"), "{text}");
        assert_eq!(warnings.len(), 1);
    }
}
