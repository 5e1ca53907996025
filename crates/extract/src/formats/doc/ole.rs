//! OLE2 compound files (the container of .doc and .ppt) through the cfb crate: opening with
//! clear errors, bounded stream reads, panic containment, and the SummaryInformation title.

use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use cfb::CompoundFile;

use crate::{ExtractError, Source};

pub(crate) type OleFile<'a> = CompoundFile<Cursor<&'a [u8]>>;

const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Runs a parser so that a panic inside it (hostile input) becomes `Corrupt`.
pub(crate) fn guarded<T>(
    src: &Source<'_>,
    f: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Err(src.corrupt(format!("parser failed: {message}")))
    })
}

/// Opens the compound file, explaining the usual impostors (a renamed .docx/.pptx, RTF).
pub(crate) fn open<'a>(src: &Source<'a>) -> Result<OleFile<'a>, ExtractError> {
    if !src.bytes.starts_with(&OLE_SIGNATURE) {
        let reason = if src.bytes.starts_with(b"PK\x03\x04") {
            "this is a ZIP file (probably a newer Office file with an old extension)"
        } else if src.bytes.starts_with(b"{\\rtf") {
            "this is an RTF file, not an OLE2 (97-2003) file"
        } else {
            "not an OLE2 compound file (Office 97-2003)"
        };
        return Err(src.corrupt(reason));
    }
    CompoundFile::open(Cursor::new(src.bytes))
        .map_err(|e| src.corrupt(format!("broken OLE2 container: {e}")))
}

/// The whole stream `name`, `None` if the file has no such stream. Streams longer than the
/// per-member limit are refused.
pub(crate) fn read_stream(
    src: &Source<'_>,
    ole: &mut OleFile<'_>,
    name: &str,
) -> Result<Option<Vec<u8>>, ExtractError> {
    if !ole.is_stream(name) {
        return Ok(None);
    }
    let mut stream = ole
        .open_stream(name)
        .map_err(|e| src.corrupt(format!("cannot open stream {name}: {e}")))?;
    let limit = src.limits.max_entry_bytes;
    if stream.len() > limit {
        return Err(ExtractError::Inflation {
            path: src.path.to_owned(),
            member: name.to_owned(),
            limit,
        });
    }
    let mut data = Vec::new();
    stream
        .by_ref()
        .take(limit)
        .read_to_end(&mut data)
        .map_err(|e| src.corrupt(format!("cannot read stream {name}: {e}")))?;
    Ok(Some(data))
}

/// The title in the `\u{5}SummaryInformation` property set, if there is a non-blank one.
/// Failures are ignored: a title is a nicety.
pub(crate) fn summary_title(src: &Source<'_>, ole: &mut OleFile<'_>) -> Option<String> {
    let data = read_stream(src, ole, "\u{5}SummaryInformation").ok()??;
    property_set_title(&data)
}

const PID_CODEPAGE: u32 = 1;
const PID_TITLE: u32 = 2;
const VT_LPSTR: u16 = 0x001E;
const VT_LPWSTR: u16 = 0x001F;

/// The title property of a property-set stream ([MS-OLEPS]): the first property set, its
/// code page (property 1) and its title (property 2, an 8-bit or a UTF-16 string).
fn property_set_title(data: &[u8]) -> Option<String> {
    if u16_at(data, 0)? != 0xFFFE {
        return None;
    }
    let set = usize::try_from(u32_at(data, 44)?).ok()?;
    let count = u32_at(data, set + 4)?.min(1024) as usize;
    let mut codepage = 1252u16;
    let mut title_at = None;
    for i in 0..count {
        let id = u32_at(data, set + 8 + i * 8)?;
        let at = set.checked_add(usize::try_from(u32_at(data, set + 12 + i * 8)?).ok()?)?;
        match id {
            // VT_I2, stored in 4 bytes after the type.
            PID_CODEPAGE => codepage = u16_at(data, at + 4)?,
            PID_TITLE => title_at = Some(at),
            _ => {}
        }
    }
    let at = title_at?;
    let kind = u16_at(data, at)?;
    let len = usize::try_from(u32_at(data, at + 4)?).ok()?;
    let body = at + 8;
    let title = match kind {
        VT_LPWSTR => utf16le(data.get(body..body.checked_add(len.checked_mul(2)?)?)?),
        VT_LPSTR if codepage == 1200 => utf16le(data.get(body..body.checked_add(len)?)?),
        VT_LPSTR => {
            let bytes = data.get(body..body.checked_add(len)?)?;
            codepage_encoding(codepage)
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
        }
        _ => return None,
    };
    let title = title.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!title.is_empty()).then(|| title.to_owned())
}

/// The encoding of a Windows code page, as property sets and Word's FIB name them.
pub(crate) fn codepage_encoding(codepage: u16) -> &'static encoding_rs::Encoding {
    use encoding_rs::*;
    match codepage {
        65001 => UTF_8,
        936 => GBK,
        54936 => GB18030,
        950 => BIG5,
        932 => SHIFT_JIS,
        949 => EUC_KR,
        874 => WINDOWS_874,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        10000 => MACINTOSH,
        _ => WINDOWS_1252,
    }
}

pub(crate) fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

pub(crate) fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

pub(crate) fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal SummaryInformation stream with a code page and a title.
    fn summary(codepage: u16, title: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 48];
        d[0..2].copy_from_slice(&0xFFFEu16.to_le_bytes());
        d[24..28].copy_from_slice(&1u32.to_le_bytes());
        d[44..48].copy_from_slice(&48u32.to_le_bytes());
        let mut set = Vec::new();
        set.extend_from_slice(&0u32.to_le_bytes()); // size, unused here
        set.extend_from_slice(&2u32.to_le_bytes());
        set.extend_from_slice(&PID_CODEPAGE.to_le_bytes());
        set.extend_from_slice(&24u32.to_le_bytes());
        set.extend_from_slice(&PID_TITLE.to_le_bytes());
        set.extend_from_slice(&32u32.to_le_bytes());
        set.extend_from_slice(&2u16.to_le_bytes());
        set.extend_from_slice(&[0, 0]);
        set.extend_from_slice(&codepage.to_le_bytes());
        set.extend_from_slice(&[0, 0]);
        set.extend_from_slice(&VT_LPSTR.to_le_bytes());
        set.extend_from_slice(&[0, 0]);
        set.extend_from_slice(&(title.len() as u32 + 1).to_le_bytes());
        set.extend_from_slice(title);
        set.push(0);
        d.extend_from_slice(&set);
        d
    }

    #[test]
    fn title_in_utf8_and_gbk() {
        assert_eq!(
            property_set_title(&summary(65001, "年报".as_bytes())).as_deref(),
            Some("年报")
        );
        assert_eq!(
            property_set_title(&summary(936, b"\xc4\xea\xb1\xa8")).as_deref(),
            Some("年报")
        );
        assert_eq!(property_set_title(&summary(1252, b"  ")), None);
        let mut short = summary(65001, b"abc");
        short.truncate(70);
        assert_eq!(property_set_title(&short), None);
    }
}
