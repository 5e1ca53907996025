//! Byte-to-text decoding for text-like formats: BOMs, UTF-8, then a statistical guess
//! (GBK, GB18030, Big5, ...) with a warning when the guess is not trustworthy.

use std::path::Path;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

use crate::{ExtractError, Extracted, Source};

/// Plain text: decoded, line ends normalized, no pages.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let decoded = decode(src.path, src.bytes)?;
    Ok(decoded.into_extracted(src, normalize_newlines))
}

pub(crate) struct Decoded {
    pub text: String,
    pub encoding: String,
    pub warnings: Vec<String>,
}

impl Decoded {
    /// An `Extracted` whose text is `convert` applied to the decoded text, without pages.
    pub(crate) fn into_extracted(
        self,
        src: &Source<'_>,
        convert: impl FnOnce(&str) -> String,
    ) -> Extracted {
        Extracted {
            format: src.format,
            encoding: Some(self.encoding),
            text: convert(&self.text),
            pages: Vec::new(),
            headings: Vec::new(),
            table_rows: Vec::new(),
            title: None,
            pages_needing_ocr: Vec::new(),
            warnings: self.warnings,
        }
    }
}

/// How many leading bytes are inspected for NUL bytes (binary content).
const SNIFF_BYTES: usize = 8192;

pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded, ExtractError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return Ok(finish(text.into_owned(), encoding, had_errors, Vec::new()));
    }
    if bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0) {
        return Err(ExtractError::Binary {
            path: path.to_owned(),
        });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(finish(
            text.to_owned(),
            encoding_rs::UTF_8,
            false,
            Vec::new(),
        ));
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, Utf8Detection::Deny);
    // GB18030 is a superset of GBK: decoding GBK-guessed text with it loses nothing and
    // keeps the characters only GB18030 can encode.
    let encoding = if encoding == encoding_rs::GBK {
        encoding_rs::GB18030
    } else {
        encoding
    };
    let (text, _, had_errors) = encoding.decode(bytes);
    let mut warnings = Vec::new();
    if !had_errors && suspicious_ratio(&text) > 0.02 {
        warnings.push(format!(
            "encoding guessed as {} with low confidence; text may be garbled",
            encoding.name()
        ));
    }
    Ok(finish(text.into_owned(), encoding, had_errors, warnings))
}

fn finish(
    text: String,
    encoding: &'static Encoding,
    had_errors: bool,
    mut warnings: Vec<String>,
) -> Decoded {
    if had_errors {
        warnings.push(format!(
            "some bytes are not valid {}; they were replaced with U+FFFD",
            encoding.name()
        ));
    }
    Decoded {
        text,
        encoding: encoding.name().to_owned(),
        warnings,
    }
}

/// Share of characters that rarely occur in real text: controls, private use, replacement.
/// A wrong encoding guess shows up as a high ratio.
fn suspicious_ratio(text: &str) -> f64 {
    let mut total = 0usize;
    let mut odd = 0usize;
    for c in text.chars() {
        total += 1;
        let private_use = matches!(c, '\u{E000}'..='\u{F8FF}');
        if (c.is_control() && !c.is_whitespace()) || private_use || c == '\u{FFFD}' {
            odd += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        odd as f64 / total as f64
    }
}

/// Turns CRLF and lone CR into LF so offsets are the same on every platform.
pub(crate) fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_is_stripped() {
        let d = decode(Path::new("a.txt"), "\u{feff}你好".as_bytes()).expect("decodes");
        assert_eq!(d.text, "你好");
        assert_eq!(d.encoding, "UTF-8");
    }

    #[test]
    fn gbk_is_detected() {
        let (bytes, _, _) =
            encoding_rs::GBK.encode("营业收入同比增长百分之十二，净利润创历史新高。");
        let d = decode(Path::new("a.txt"), &bytes).expect("decodes");
        assert_eq!(d.text, "营业收入同比增长百分之十二，净利润创历史新高。");
        assert_eq!(d.encoding, "gb18030");
    }

    #[test]
    fn utf16le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "中文 text".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let d = decode(Path::new("a.txt"), &bytes).expect("decodes");
        assert_eq!(d.text, "中文 text");
    }

    #[test]
    fn nul_bytes_mean_binary() {
        let err = decode(Path::new("x.txt"), b"\x89PNG\r\n\x1a\n\0\0\0").err();
        assert!(matches!(err, Some(ExtractError::Binary { .. })));
    }

    #[test]
    fn newlines_are_normalized() {
        assert_eq!(normalize_newlines("a\r\nb\rc"), "a\nb\nc");
    }
}
