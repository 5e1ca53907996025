//! PDF: one page of text per PDF page with lopdf. Pages without a usable text layer (scans,
//! garbage from broken fonts) are recognized by OCR when the tools exist, else listed for it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, LoadOptions, Object};

use super::ocr::{is_cjk, OcrEngine};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

/// OCR is slow (seconds a page): a long scan beyond this many pages stays listed as needing OCR.
const MAX_OCR_PAGES: usize = 100;
/// A line at least this share of the page's widest line is full: it broke for the layout only.
const FULL_LINE_SHARE: f64 = 0.8;
/// A page whose non-space characters are more than this share unreadable is garbage.
const MAX_GARBAGE_SHARE: f64 = 0.3;

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    extract_with(src, OcrEngine::probe)
}

/// The reader with the OCR probe passed in, so tests can take the no-OCR path.
fn extract_with(
    src: &Source<'_>,
    probe_ocr: impl FnOnce() -> Option<OcrEngine>,
) -> Result<Extracted, ExtractError> {
    let doc = guarded(src, || load(src))?;
    let page_numbers: Vec<u32> = guarded(src, || Ok(doc.get_pages().into_keys().collect()))?;
    if page_numbers.is_empty() {
        return Err(src.corrupt("the document has no pages"));
    }
    let limit = usize::try_from(src.limits.max_entry_bytes).unwrap_or(usize::MAX);

    let mut warnings = Vec::new();
    let mut pages: Vec<(u32, String)> = Vec::with_capacity(page_numbers.len());
    let mut needing_ocr = Vec::new();
    for &number in &page_numbers {
        let raw = catch_unwind(AssertUnwindSafe(|| {
            doc.extract_text_with_limit(&[number], limit)
        }));
        let text = match raw {
            Ok(Ok(raw)) if !is_garbage(&raw) => clean(&raw),
            Ok(Ok(_)) => String::new(),
            Ok(Err(e)) => {
                warnings.push(format!("page {number}: text could not be read: {e}"));
                String::new()
            }
            Err(panic) => {
                warnings.push(format!(
                    "page {number}: text could not be read: {}",
                    panic_message(&panic)
                ));
                String::new()
            }
        };
        if text.is_empty() {
            needing_ocr.push(number);
        }
        pages.push((number, text));
    }

    if !needing_ocr.is_empty() {
        needing_ocr = recognize(src, probe_ocr, &mut pages, needing_ocr, &mut warnings);
    }

    let mut b = TextBuilder::new();
    for (number, text) in &pages {
        b.begin_page(*number, None);
        b.push_block(text);
    }
    let mut x = src.extracted(b);
    x.title = catch_unwind(AssertUnwindSafe(|| info_title(&doc)))
        .ok()
        .flatten();
    x.pages_needing_ocr = needing_ocr;
    x.warnings = warnings;
    Ok(x)
}

/// Parses the file; encrypted files are refused, since text behind a password is unreadable.
fn load(src: &Source<'_>) -> Result<Document, ExtractError> {
    let limit = usize::try_from(src.limits.max_entry_bytes).unwrap_or(usize::MAX);
    let doc = match Document::load_mem_with_options(
        src.bytes,
        LoadOptions::with_max_decompressed_size(limit),
    ) {
        Ok(doc) => doc,
        Err(e) if is_encryption_error(&e) => return Err(encrypted(src)),
        Err(e) => return Err(src.corrupt(e)),
    };
    // lopdf opens a file whose user password is not empty without error but with no pages; the
    // /Encrypt entry then stays in the trailer (an empty user password is removed on load).
    if doc.is_encrypted() || doc.trailer.has(b"Encrypt") {
        return Err(encrypted(src));
    }
    Ok(doc)
}

fn is_encryption_error(e: &lopdf::Error) -> bool {
    if matches!(
        e,
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_)
    ) {
        return true;
    }
    let message = e.to_string().to_lowercase();
    ["encrypt", "decrypt", "password"]
        .iter()
        .any(|w| message.contains(w))
}

fn encrypted(src: &Source<'_>) -> ExtractError {
    ExtractError::Encrypted {
        path: src.path.to_owned(),
    }
}

/// Runs a lopdf call so that a panic inside it (hostile input) becomes `Corrupt`.
fn guarded<T>(
    src: &Source<'_>,
    f: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(src.corrupt(format!("parser failed: {}", panic_message(&panic))))
    })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// True when a page's text is no text: empty, or mostly replacement, private-use or control
/// characters (fonts without a usable Unicode map). lopdf's U+0000 for glyph-less characters
/// counts as unreadable here; a few of them on a real page stay well under the share.
fn is_garbage(raw: &str) -> bool {
    let (mut total, mut bad) = (0usize, 0usize);
    for c in raw.chars().filter(|c| !c.is_whitespace()) {
        total += 1;
        if c == '\u{FFFD}' || c.is_control() || is_private_use(c) {
            bad += 1;
        }
    }
    total == 0 || bad as f64 > total as f64 * MAX_GARBAGE_SHARE
}

fn is_private_use(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// Page text for indexing: U+0000 (lopdf's glyph-less characters) and other controls removed,
/// line ends normalized, trailing spaces dropped, runs of blank lines collapsed to one.
fn clean(raw: &str) -> String {
    let text: String = raw
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    join_wrapped_lines(&out)
}

/// Joins lines that the PDF broke inside a Chinese word or a number (`公司于202` / `3年`), so
/// that keyword search finds the word: only full-width lines, and only between two CJK
/// characters or two digits; other breaks stay (spaces do for Latin words).
fn join_wrapped_lines(text: &str) -> String {
    let width = |line: &str| {
        line.chars()
            .map(|c| if is_cjk(c) { 2 } else { 1 })
            .sum::<usize>()
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let widest = lines.iter().map(|l| width(l)).max().unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        let Some(next) = lines.get(i + 1) else { break };
        let full = widest >= 20 && width(line) as f64 >= widest as f64 * FULL_LINE_SHARE;
        let continues = match (line.chars().last(), next.chars().next()) {
            (Some(a), Some(b)) => {
                (is_cjk(a) && is_cjk(b)) || (a.is_ascii_digit() && b.is_ascii_digit())
            }
            _ => false,
        };
        if !(full && continues) {
            out.push('\n');
        }
    }
    out
}

/// OCR for the pages in `needing`; returns the pages that still need it, with a warning for
/// each page recognized, each failure, and the missing tools.
fn recognize(
    src: &Source<'_>,
    probe_ocr: impl FnOnce() -> Option<OcrEngine>,
    pages: &mut [(u32, String)],
    needing: Vec<u32>,
    warnings: &mut Vec<String>,
) -> Vec<u32> {
    let Some(engine) = probe_ocr() else {
        warnings.push(no_text_layer_warning(&needing));
        return needing;
    };
    // The tools read a file, and the bytes may not come from one (or it may have changed).
    let workdir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            warnings.push(format!(
                "OCR skipped: cannot create a temporary folder: {e}"
            ));
            return needing;
        }
    };
    let pdf = workdir.path().join("document.pdf");
    if let Err(e) = std::fs::write(&pdf, src.bytes) {
        warnings.push(format!("OCR skipped: cannot write a temporary copy: {e}"));
        return needing;
    }
    let mut still = Vec::new();
    for (i, &number) in needing.iter().enumerate() {
        if i >= MAX_OCR_PAGES {
            still.extend_from_slice(&needing[i..]);
            warnings.push(format!(
                "OCR stopped after {MAX_OCR_PAGES} pages; {} pages still need it",
                needing.len() - i
            ));
            break;
        }
        match engine.recognize_pdf_page(&pdf, number, workdir.path()) {
            Ok(text) if !text.trim().is_empty() => {
                if let Some(page) = pages.iter_mut().find(|(n, _)| *n == number) {
                    page.1 = text;
                }
                warnings.push(format!("page {number}: text recognized by OCR"));
            }
            Ok(_) => still.push(number),
            Err(e) => {
                warnings.push(format!("page {number}: OCR failed: {e}"));
                still.push(number);
            }
        }
    }
    still
}

fn no_text_layer_warning(pages: &[u32]) -> String {
    let list = pages
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if pages.len() == 1 {
        format!("page {list} has no text layer; install tesseract (chi_sim) and poppler-utils to recognize it")
    } else {
        format!("pages {list} have no text layer; install tesseract (chi_sim) and poppler-utils to recognize them")
    }
}

/// `/Title` of the document information dictionary, if present and not blank.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(d) => d,
        _ => return None,
    };
    let (_, title) = doc.dereference(info.get(b"Title").ok()?).ok()?;
    let title = lopdf::decode_text_string(title).ok()?;
    let title: String = title.chars().filter(|c| !c.is_control()).collect();
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::{Format, Limits};

    #[test]
    fn garbage_and_empty_text_need_ocr() {
        assert!(is_garbage(" \n\u{c} "));
        assert!(is_garbage("\u{0}\u{0}\u{0}ab"));
        assert!(is_garbage("\u{E001}\u{E002}\u{FFFD}a b"));
        assert!(!is_garbage("第1页 / 共3页\u{0}"));
        assert!(!is_garbage("Revenue grew 59.2%"));
    }

    #[test]
    fn wrapped_chinese_lines_and_numbers_are_joined() {
        let page = "标题\n7月27日下午，百润股份发布2023年半年度报告。当中披露，公司于202\n3年上半年实现营业收入约16.51亿元，同比增长59.2%；实现归属净利\n润约4.39亿元，同比增长98.85%；基本每股收益0.42元。\nEnglish: Revenue grew.\n第 1 页";
        assert_eq!(
            join_wrapped_lines(page),
            "标题\n7月27日下午，百润股份发布2023年半年度报告。当中披露，公司于2023年上半年实现营业收入约16.51亿元，同比增长59.2%；实现归属净利润约4.39亿元，同比增长98.85%；基本每股收益0.42元。\nEnglish: Revenue grew.\n第 1 页"
        );
        assert_eq!(join_wrapped_lines("短\n行"), "短\n行");
    }

    #[test]
    fn clean_strips_nul_and_collapses_blank_lines() {
        assert_eq!(clean("a\u{0}b  \r\n\r\n\r\n\nc\n"), "ab\n\nc");
    }

    #[test]
    fn scanned_page_without_ocr_is_listed_with_a_warning() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/samples/scanned_image_only.pdf");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipped: {} not found", path.display());
            return;
        };
        let limits = Limits::default();
        let src = Source {
            path: Path::new("scanned_image_only.pdf"),
            bytes: &bytes,
            limits: &limits,
            format: Format::Pdf,
        };
        let x = extract_with(&src, || None).expect("scanned PDF extracts");
        assert_eq!(x.pages_needing_ocr, vec![1]);
        assert_eq!(x.pages.len(), 1);
        assert!(x.text.trim().is_empty(), "{:?}", x.text);
        assert!(
            x.warnings
                .iter()
                .any(|w| w.contains("page 1 has no text layer") && w.contains("tesseract")),
            "{:?}",
            x.warnings
        );
    }
}
